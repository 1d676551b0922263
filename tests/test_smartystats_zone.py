"""Every smartystats window, bucket and label in the operator's local time, against brute force.

Operators in UTC, Europe/Moscow, America/New_York (on both 2024 DST days:
10 March has 23 hours, 3 November 25 with two 01:00), Asia/Kolkata (+05:30)
and Asia/Kathmandu (+05:45). The expected buckets are found without the
code under test: UTC time is walked minute by minute, and a new local day
starts whenever the operator's clock shows another date, a new local hour
whenever it shows another hour or another UTC offset. Values come from the
brute force of test_smartystats_dynamics (bf_bucket, bf_peak), which reads
the generated world directly. The data add subscribers, payments and
sessions exactly at local midnights and local hour starts, and one second
before, to the random world.
"""
import functools
import random
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import override_settings

from smartystats import fill
from smartystats.models import Count, FillState, MaxOnline
from smartystats.series import MAX_ONLINE, STATS
from tests.test_smartystats_dynamics import bf_bucket, bf_peak
from tvmiddleware import models as tv
from tvmiddleware.fixtures import generate
from viewstats import caching, store

UTC = timezone.utc
SEC, MINUTE, HOUR, DAY = (timedelta(seconds=1), timedelta(minutes=1), timedelta(hours=1),
                          timedelta(days=1))
TIMEOUT = timedelta(seconds=180)  # VIEWSTATS_PUSH_SESSION_TIMEOUT
API = "/smartystats/api/dynamics"

# (zone, the day whose edges the data sit on)
CASES = [("UTC", date(2024, 3, 10)), ("Europe/Moscow", date(2024, 3, 10)),
         ("America/New_York", date(2024, 3, 10)), ("America/New_York", date(2024, 11, 3)),
         ("Asia/Kolkata", date(2024, 3, 10)), ("Asia/Kathmandu", date(2024, 11, 3))]
IDS = [f"{z}-{d}" for z, d in CASES]


@pytest.fixture(autouse=True)
def isolated_locks():
    with override_settings(SMARTYSTATS_LOCK_PREFIX=f"test-smartystats-zone-{uuid.uuid4().hex}:"):
        yield


def in_zone(operator, zone):
    operator.client.time_zone = zone
    operator.client.save()
    caching.clear_all()
    return operator


# --- the operator's clock, minute by minute -------------------------------------

def bf_day_starts(zone, first, last):
    """{local date: the first UTC minute its clock shows that date} for first..last."""
    return dict(_day_starts(zone, first, last))


@functools.lru_cache(maxsize=None)
def _day_starts(zone, first, last):
    # The walk is the same for the same arguments: tests that ask again get a copy of the first answer.
    z, starts = ZoneInfo(zone), {}
    t = datetime(first.year, first.month, first.day, tzinfo=UTC) - 2 * DAY
    end = datetime(last.year, last.month, last.day, tzinfo=UTC) + 2 * DAY
    while t < end:
        d = t.astimezone(z).date()
        if first <= d <= last and d not in starts:
            starts[d] = t
        t += MINUTE
    return starts


def bf_hour_starts(zone, t0, t1):
    """The instants in [t0, t1) where the clock shows a new hour or a new UTC offset (t0 included)."""
    return list(_hour_starts(zone, t0, t1))


@functools.lru_cache(maxsize=None)
def _hour_starts(zone, t0, t1):
    z, starts, shown, t = ZoneInfo(zone), [], None, t0
    while t < t1:
        local = t.astimezone(z)
        key = (local.date(), local.hour, local.utcoffset())
        if key != shown:
            starts.append(t)
            shown = key
        t += MINUTE
    return starts


def offset_text(offset):
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def bf_label(t, zone):
    """The instant as the operator's clock shows it, with the offset: 2024-11-03T01:00:00-04:00."""
    local = t.astimezone(ZoneInfo(zone))
    return f"{local:%Y-%m-%dT%H:%M:%S}{offset_text(local.utcoffset())}"


def local_date(t, zone):
    return t.astimezone(ZoneInfo(zone)).date()


def previous_month_first(d):
    return (d.replace(day=1) - DAY).replace(day=1)


# --- data on the local edges ------------------------------------------------------

def session(client_id, key, account, start, end):
    return {"_id": f"edge-{client_id}-{key}", "client_id": client_id, "source": "device", "protocol": "push",
            "account_id": account.id, "customer_id": account.customer_id, "tariff_ids": [],
            "device_type": "mag", "channel_id": 1, "program_id": None, "kind": "live",
            "timeshift_offset": 0, "archive_offset": None, "start": start, "end": end,
            "duration": int((end - start).total_seconds()), "received_at": end, "updated_at": end}


def add_edges(world, client, zone, day, seed):
    """Subscribers, payments and sessions on the local midnights around `day` and on
    its local hour starts (both 01:00 of a 25-hour day), and one second before them."""
    rnd = random.Random(seed)
    days = bf_day_starts(zone, day - 2 * DAY, day + 2 * DAY)
    midnights = [days[d] for d in sorted(days)]
    hours = bf_hour_starts(zone, days[day], days[day + DAY])
    edges = midnights + hours[1:]
    for i, edge in enumerate(edges):
        for j, at in enumerate((edge, edge - SEC)):
            customer = tv.Customer.objects.create(client=client, first_name=f"edge{i}-{j}", created_at=at)
            world.customers.append(customer)
            later = rnd.choice(edges)
            account = tv.Account.objects.create(
                client=client, customer=customer, abonement=f"edge-{client.id}-{seed}-{i}-{j}", password="pw",
                created_at=at, activation_date=rnd.choice([None, at]),
                deactivation_date=later if later > at else None, active=later <= at,
                status_reason="ACTIVE" if later <= at else "BLOCK")
            world.accounts.append(account)
            world.tariffs[account.id], world.devices[account.id] = set(), set()
            world.payments.append(tv.Payment.objects.create(
                client=client, customer=customer, amount=Decimal(rnd.randrange(100, 900)) / 100,
                currency=rnd.choice(["EUR", "USD"]), created_at=rnd.choice([edge, edge - SEC])))
    docs = []
    for i, h in enumerate(hours + midnights):
        account = rnd.choice(world.accounts)
        docs += [session(client.id, f"{seed}-{i}-ends", account, h - 30 * MINUTE, h),      # not in the hour at h
                 session(client.id, f"{seed}-{i}-starts", rnd.choice(world.accounts), h, h + 20 * MINUTE),
                 session(client.id, f"{seed}-{i}-zero", rnd.choice(world.accounts), h, h),
                 session(client.id, f"{seed}-{i}-across", rnd.choice(world.accounts), h - 10 * MINUTE,
                         h + rnd.randrange(1, 90) * MINUTE)]
    store.sessions().insert_many([dict(d) for d in docs])
    world.sessions += docs
    return world


def make_world(operator, zone, day, seed, now, **sizes):
    in_zone(operator, zone)
    world = generate(operator.client, now=now, seed=seed, **{"days": 40, "sessions": 300, **sizes})
    return add_edges(world, operator.client, zone, day, seed)


def case_now(zone, day):
    """The day after `day`, 14:37:21 on the operator's clock: the DST day is in the hourly window."""
    after = day + DAY
    return datetime(after.year, after.month, after.day, 14, 37, 21, tzinfo=ZoneInfo(zone)).astimezone(UTC)


# --- the caches against brute force ---------------------------------------------------

def expected_windows(zone, now, first=None):
    """Brute-force day starts, hour starts and fill targets of a run at `now` whose
    daily series begin on local day `first` (a first run's: the previous month's first)."""
    today = local_date(now, zone)
    first = first or previous_month_first(today)
    days = bf_day_starts(zone, first - 40 * DAY, today + DAY)
    hours = bf_hour_starts(zone, days[first - 40 * DAY], now)
    fill_to = max(h for h in hours if h <= now - TIMEOUT)
    return today, first, days, [h for h in hours if h <= fill_to], fill_to


def check_count_series(world, zone, now, first=None, hourly_first=None):
    today, first, days, hours, fill_to = expected_windows(zone, now, first)
    hourly_first = days[hourly_first or today - 3 * DAY]  # SMARTYSTATS_HOURLY_DAYS
    for series, stat in STATS.items():
        fs = FillState.objects.get(client_id=world.client_id, series=series)
        assert fs.zone == zone and fs.state == FillState.DONE, series
        if stat.frequency == "day":
            n = (today - first).days
            edges = [days[first + i * DAY] for i in range(n + 1)]
        else:
            edges = [h for h in hours if h >= hourly_first]
        assert fs.start_time == edges[0] and fs.end_time == edges[-1], series
        rows = {}
        for r in Count.objects.filter(client_id=world.client_id, series=series):
            rows.setdefault(r.end_time, {})[r.subgroup] = r.value
        assert set(rows) <= set(edges[1:]), series  # every row ends on a local boundary
        for a, b in zip(edges, edges[1:]):
            want = {k: v for k, v in bf_bucket(world, stat.name, a, b).items() if v}
            assert rows.get(b, {}) == want, (series, bf_label(a, zone))


def check_max_online(world, zone, now, first=None):
    today, first, days, hours, fill_to = expected_windows(zone, now, first)
    hours = [h for h in hours if h >= days[first]]
    stored = {r.bucket_start: (r.accounts, r.customers)
              for r in MaxOnline.objects.filter(client_id=world.client_id, frequency="hour")}
    assert set(stored) <= set(hours)
    for a, b in zip(hours, hours[1:]):
        assert stored.get(a, (0, 0)) == bf_peak(world.sessions, a, b), bf_label(a, zone)
    day_rows = {r.bucket_start: (r.accounts, r.customers, r.complete)
                for r in MaxOnline.objects.filter(client_id=world.client_id, frequency="day")}
    expected = {}
    for i in range((today - first).days + 1):
        start, end = days[first + i * DAY], days[first + (i + 1) * DAY]
        expected[start] = (*bf_peak(world.sessions, start, min(end, fill_to)), end <= fill_to)
    assert day_rows == expected
    fs = FillState.objects.get(client_id=world.client_id, series=MAX_ONLINE)
    assert (fs.zone, fs.end_time) == (zone, fill_to)


@pytest.mark.django_db
@pytest.mark.parametrize("zone, day", CASES, ids=IDS)
def test_caches_are_cut_in_local_days_and_hours(operator, zone, day):
    now = case_now(zone, day)
    world = make_world(operator, zone, day, seed=len(zone) * 13 + day.month, now=now)
    call_command("cache_customers_dynamic", time=now.isoformat(), stdout=None)
    check_count_series(world, zone, now)
    check_max_online(world, zone, now)
    # The DST day has as many hourly buckets as its clock has hours.
    days = bf_day_starts(zone, day, day + DAY)
    in_day = MaxOnline.objects.filter(client_id=world.client_id, frequency="hour",
                                      bucket_start__gte=days[day], bucket_start__lt=days[day + DAY])
    hours_of_day = len(bf_hour_starts(zone, days[day], days[day + DAY]))
    assert hours_of_day == {("America/New_York", date(2024, 3, 10)): 23,
                            ("America/New_York", date(2024, 11, 3)): 25}.get((zone, day), 24)
    assert in_day.count() <= hours_of_day
    rows = Count.objects.filter(client_id=world.client_id, series="accounts_active::hour",
                                end_time__gt=days[day], end_time__lte=days[day + DAY])
    assert rows.count() == hours_of_day  # active accounts exist all day: one row per local hour


# --- the page's JSON ---------------------------------------------------------------------

def superuser_client(client):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    return client


def num(v):
    return int(v) if v == int(v) else float(v)


@pytest.mark.django_db
@pytest.mark.parametrize("zone, day", CASES, ids=IDS)
def test_json_hours_days_labels_and_comparisons(client, operator, zone, day, settings):
    settings.SMARTYSTATS_HOURLY_DAYS = 8  # the hours compared with are cached too
    now = case_now(zone, day)
    world = make_world(operator, zone, day, seed=7 + day.month, now=now, sessions=200)
    call_command("cache_customers_dynamic", time=now.isoformat(), stdout=None)
    superuser_client(client)
    cid = world.client_id
    today, first, days, hours, fill_to = expected_windows(zone, now)

    # By hour, over the DST day and the days around it, up to the last filled hour.
    data = client.get(API, {"client_id": cid, "from": day - DAY, "to": day + DAY, "frequency": "hour"}).json()
    starts = [h for h in hours if days[day - DAY] <= h < fill_to]
    ends = starts[1:] + [fill_to]
    assert data["time_zone"] == zone and data["cache_state"]["status"] == "ok"
    assert data["bucket_starts"] == [bf_label(h, zone) for h in starts]
    assert data["end_times"] == [bf_label(e, zone) for e in ends]
    assert data["filled_to"] == bf_label(fill_to, zone)
    assert len(data["labels"]) == len(set(data["labels"])) == len(starts)  # a repeated hour is told apart
    if (zone, day) == ("America/New_York", date(2024, 11, 3)):
        assert "2024-11-03T01:00:00-04:00" in data["bucket_starts"]
        assert "2024-11-03T01:00:00-05:00" in data["bucket_starts"]
        assert "2024-11-03 01:00 (UTC-04:00)" in data["labels"]
    if (zone, day) == ("America/New_York", date(2024, 3, 10)):
        assert not any(b.startswith("2024-03-10T02:") for b in data["bucket_starts"])
    minutes = {datetime.fromisoformat(b).astimezone(UTC).minute for b in data["bucket_starts"]}
    assert minutes == {"Asia/Kolkata": {30}, "Asia/Kathmandu": {15}}.get(zone, {0})
    assert data["series"]["accounts_active"] == [
        bf_bucket(world, "accounts_active", a, b)[None] for a, b in zip(starts, ends)]
    assert data["series"]["customers_new"] == [
        bf_bucket(world, "customers_new", a, b)[None] for a, b in zip(starts, ends)]
    assert data["series"]["online_peak_accounts"] == [bf_peak(world.sessions, a, b)[0]
                                                      for a, b in zip(starts, ends)]
    # Compared with as many local hours just before.
    before = [h for h in hours if h < starts[0]][-len(starts):]
    before_ends = before[1:] + [starts[0]]
    w = data["widgets"]["customers_new"]
    assert (w["value"], w["previous"]) == (
        sum(bf_bucket(world, "customers_new", a, b)[None] for a, b in zip(starts, ends)),
        sum(bf_bucket(world, "customers_new", a, b)[None] for a, b in zip(before, before_ends)))
    w = data["widgets"]["accounts_active"]
    assert (w["value"], w["previous"]) == (bf_bucket(world, "accounts_active", starts[-1], ends[-1])[None],
                                           bf_bucket(world, "accounts_active", before[-1], starts[0])[None])
    w = data["widgets"]["online_peak"]
    assert w["previous"] == max(bf_peak(world.sessions, a, b)[0] for a, b in zip(before, before_ends))

    # By day: ten local days up to the DST day, and "today" (not over) left out.
    data = client.get(API, {"client_id": cid, "from": day - 9 * DAY, "to": day + DAY}).json()
    range_days = [day - (9 - i) * DAY for i in range(10)]
    assert data["labels"] == [d.isoformat() for d in range_days]
    assert data["bucket_starts"] == [bf_label(days[d], zone) for d in range_days]
    assert data["end_times"] == [bf_label(days[d + DAY], zone) for d in range_days]
    for name in ("customers_new", "accounts_new", "accounts_deactivated", "customers_deactivated",
                 "paying_customers", "customers_active"):
        assert data["series"][name] == [bf_bucket(world, name, days[d], days[d + DAY])[None]
                                        for d in range_days], name
    for cur, values in data["series"]["payments_sum"].items():
        assert values == [num(bf_bucket(world, "payments_sum", days[d], days[d + DAY]).get(cur, 0))
                          for d in range_days]
    assert data["series"]["online_peak_accounts"] == [bf_peak(world.sessions, days[d], days[d + DAY])[0]
                                                      for d in range_days]
    previous_days = [d - 10 * DAY for d in range_days]
    w = data["widgets"]["accounts_new"]
    assert (w["value"], w["previous"]) == (
        sum(bf_bucket(world, "accounts_new", days[d], days[d + DAY])[None] for d in range_days),
        sum(bf_bucket(world, "accounts_new", days[d], days[d + DAY])[None] for d in previous_days))
    w = data["widgets"]["paying_customers"]  # the last bucket of each period
    assert w["previous"] == bf_bucket(world, "paying_customers", days[day - 10 * DAY], days[day - 9 * DAY])[None]

    # The default range ends with the operator's yesterday; the index widgets show it.
    data = client.get(API, {"client_id": cid}).json()
    assert (data["range"]["from"], data["range"]["to"]) == ((today - 30 * DAY).isoformat(),
                                                             (today - DAY).isoformat())
    index = client.get("/admin/").content.decode()
    assert f"{today - 30 * DAY} – {today - DAY}" in index


# --- save_stats: "today" and "this month" ---------------------------------------------------

def bf_snapshot_counts(world, at, day_start, month_start):
    def since(t, start):
        return t is not None and start <= t <= at

    gone = []
    for c in world.customers:
        mine = [a for a in world.accounts if a.customer_id == c.id]
        if mine and all(a.deactivation_date for a in mine):
            gone.append(max(a.deactivation_date for a in mine))
    return {
        "customers_new": (sum(since(c.created_at, day_start) for c in world.customers),
                          sum(since(c.created_at, month_start) for c in world.customers)),
        "accounts_new": (sum(since(a.created_at, day_start) for a in world.accounts),
                         sum(since(a.created_at, month_start) for a in world.accounts)),
        "accounts_deactivated": (sum(since(a.deactivation_date, day_start) for a in world.accounts),
                                 sum(since(a.deactivation_date, month_start) for a in world.accounts)),
        "customers_deactivated": (sum(since(t, day_start) for t in gone),
                                  sum(since(t, month_start) for t in gone)),
        "peak_today": bf_peak(world.sessions, day_start, at + SEC),
    }


# Instants where the operator's date (and month) is not the UTC one, and New York's 25-hour day.
SNAPSHOT_CASES = [
    ("UTC", datetime(2024, 4, 1, 0, 20, tzinfo=UTC)),
    ("Europe/Moscow", datetime(2024, 3, 31, 21, 20, tzinfo=UTC)),      # 1 April 00:20 there
    ("America/New_York", datetime(2024, 4, 1, 3, 20, tzinfo=UTC)),     # 31 March 23:20 there
    ("America/New_York", datetime(2024, 11, 3, 12, 0, tzinfo=UTC)),    # 07:00 of the 25-hour day
    ("Asia/Kolkata", datetime(2024, 3, 31, 19, 0, tzinfo=UTC)),        # 1 April 00:30 there
    ("Asia/Kathmandu", datetime(2024, 3, 31, 18, 30, tzinfo=UTC)),     # 1 April 00:15 there
]


@pytest.mark.django_db
@pytest.mark.parametrize("zone, now", SNAPSHOT_CASES, ids=[f"{z}-{t:%m%d%H%M}" for z, t in SNAPSHOT_CASES])
def test_save_stats_today_and_this_month_are_local(client, operator, zone, now):
    here = local_date(now, zone)
    world = make_world(operator, zone, here, seed=now.hour + now.day, now=now, sessions=250)
    call_command("save_stats", time=now.isoformat(), stdout=None)
    starts = bf_day_starts(zone, here.replace(day=1), here)
    want = bf_snapshot_counts(world, now, starts[here], starts[here.replace(day=1)])
    superuser_client(client)
    data = client.get(API, {"client_id": world.client_id}).json()
    snap = data["snapshot"]
    assert snap["taken_at"] == bf_label(now, zone)
    got = {"customers_new": (snap["customers"]["new_today"], snap["customers"]["new_month"]),
           "accounts_new": (snap["accounts"]["new_today"], snap["accounts"]["new_month"]),
           "accounts_deactivated": (snap["accounts"]["deactivated_today"], snap["accounts"]["deactivated_month"]),
           "customers_deactivated": (snap["customers"]["deactivated_today"],
                                     snap["customers"]["deactivated_month"]),
           "peak_today": (snap["peak_today"]["accounts"], snap["peak_today"]["customers"])}
    assert got == want
    assert want["customers_new"][0] > 0  # the local midnight's arrivals are today's


# --- collect_daily_stats: the day that ended, per operator ----------------------------------

def bf_daily(world, start, end):
    pays = [p for p in world.payments if p.processed and start <= p.created_at < end]
    per = {}
    for p in pays:
        total, n, payers = per.get(p.currency, (Decimal(0), 0, set()))
        per[p.currency] = (total + p.amount, n + 1, payers | {p.customer_id})
    return ({c: (t, n, len(payers)) for c, (t, n, payers) in per.items()},
            {"new_customers": sum(start <= c.created_at < end for c in world.customers),
             "new_accounts": sum(start <= a.created_at < end for a in world.accounts),
             "deactivated_accounts": sum(a.deactivation_date is not None and start <= a.deactivation_date < end
                                         for a in world.accounts),
             "paying_customers": len({p.customer_id for p in pays}), "payments_count": len(pays)})


def stored_daily(client_id, day):
    from smartystats.models import DailyPayments, DailyStats

    pays = {r.currency: (r.payments_sum, r.payments_count, r.paying_customers)
            for r in DailyPayments.objects.filter(client_id=client_id, day=day)}
    row = DailyStats.objects.get(client_id=client_id, day=day)
    return pays, {k: getattr(row, k) for k in ("new_customers", "new_accounts", "deactivated_accounts",
                                               "paying_customers", "payments_count")}


@pytest.mark.django_db
def test_the_day_that_ended_is_each_operators_own(operator, other_operator):
    from smartystats.models import DailyStats

    spring = date(2024, 3, 10)
    now = datetime(2024, 3, 11, 2, 30, tzinfo=UTC)  # Moscow: 11 March 05:30; New York: 10 March 22:30
    moscow = make_world(operator, "Europe/Moscow", spring, seed=3, now=now, sessions=50)
    new_york = make_world(other_operator, "America/New_York", spring, seed=4, now=now, sessions=50)
    call_command("collect_daily_stats", time=now.isoformat(), stdout=None)
    assert list(DailyStats.objects.filter(client_id=moscow.client_id).values_list("day", "zone")) == [
        (spring, "Europe/Moscow")]
    assert list(DailyStats.objects.filter(client_id=new_york.client_id).values_list("day", "zone")) == [
        (spring - DAY, "America/New_York")]
    for world, zone, d in ((moscow, "Europe/Moscow", spring), (new_york, "America/New_York", spring - DAY)):
        starts = bf_day_starts(zone, d, d + DAY)
        assert stored_daily(world.client_id, d) == bf_daily(world, starts[d], starts[d + DAY])
    # 10 March is not over in New York yet: refused while New York is among the clients.
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="2024-03-10 has not ended yet for client .* America/New_York"):
        call_command("collect_daily_stats", time=now.isoformat(), day="2024-03-10", stdout=None)
    # Later New York's run catches up on its 23-hour day; its November 25-hour day on demand.
    call_command("collect_daily_stats", time="2024-03-11T05:30:00Z", client_id=str(new_york.client_id),
                 stdout=None)
    starts = bf_day_starts("America/New_York", spring, spring + DAY)
    assert starts[spring + DAY] - starts[spring] == 23 * HOUR
    assert stored_daily(new_york.client_id, spring) == bf_daily(new_york, starts[spring], starts[spring + DAY])
    autumn = date(2024, 11, 3)
    add_edges(new_york, other_operator.client, "America/New_York", autumn, seed=5)
    call_command("collect_daily_stats", time="2024-11-05T12:00:00Z", client_id=str(new_york.client_id),
                 day="2024-11-03", stdout=None)
    starts = bf_day_starts("America/New_York", autumn, autumn + DAY)
    assert starts[autumn + DAY] - starts[autumn] == 25 * HOUR
    assert stored_daily(new_york.client_id, autumn) == bf_daily(new_york, starts[autumn], starts[autumn + DAY])


# --- [start, end) on local hours ------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["Asia/Kolkata", "Asia/Kathmandu", "America/New_York"])
def test_a_session_ending_on_the_local_hour_is_not_in_that_hour(operator, zone):
    from smartystats import online

    in_zone(operator, zone)
    cid = operator.client.id
    day = date(2024, 11, 3)
    noon = bf_day_starts(zone, day, day)[day] + 12 * HOUR  # no DST change before noon in these cases
    if zone == "America/New_York":
        noon += HOUR  # 3 November has a 25th hour before noon
    assert bf_label(noon, zone)[11:19] == "12:00:00"
    acc = [type("A", (), {"id": 100 + i, "customer_id": 200 + i}) for i in range(3)]
    store.sessions().insert_many([
        session(cid, "a", acc[0], noon - HOUR, noon),               # ends as 12:00 begins
        session(cid, "b", acc[1], noon + HOUR, noon + 2 * HOUR),   # starts as 13:00 begins
        session(cid, "c", acc[2], noon + 30 * SEC, noon + 30 * SEC),  # zero length: never online
    ])
    fill.process_max_online(cid, noon + 2 * HOUR + 5 * MINUTE)
    hours = {r.bucket_start: r.accounts for r in MaxOnline.objects.filter(client_id=cid, frequency="hour")}
    assert hours == {noon - HOUR: 1, noon + HOUR: 1}
    # Online now: [start, end + timeout). "a" until its last heartbeat is exactly
    # the timeout old; the one push of "c" likewise.
    assert online.online_now(cid, noon + TIMEOUT - SEC)["accounts"] == 2
    assert online.online_now(cid, noon + TIMEOUT)["accounts"] == 1
    assert online.online_now(cid, noon + 30 * SEC + TIMEOUT)["accounts"] == 0


# --- SMARTYSTATS_USE_UTC --------------------------------------------------------------------

@pytest.mark.django_db
def test_use_utc_keeps_smartys_utc_buckets_for_a_zoned_operator(client, operator, settings):
    settings.SMARTYSTATS_USE_UTC = True
    zone, day = "America/New_York", date(2024, 11, 3)
    now = case_now(zone, day)
    world = make_world(operator, zone, day, seed=17, now=now, sessions=200)
    call_command("cache_customers_dynamic", time=now.isoformat(), stdout=None)
    check_count_series(world, "UTC", now)
    check_max_online(world, "UTC", now)
    superuser_client(client)
    data = client.get(API, {"client_id": world.client_id, "from": day, "to": day, "frequency": "hour"}).json()
    assert data["time_zone"] == "UTC" and len(data["labels"]) == 24
    assert data["bucket_starts"][0] == "2024-11-03T00:00:00+00:00"
    page = client.get("/admin/smartystats/dynamics/", {"client_id": world.client_id}).content.decode()
    assert "SMARTYSTATS_USE_UTC" in page
