"""Chart series and max-online caches against brute force over random worlds."""
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.core.management import call_command

from smartystats import fill, online
from tvmiddleware.fixtures import generate
from smartystats.models import Count, FillState, MaxOnline
from smartystats.series import MAX_ONLINE, STATS

NOW = datetime(2024, 3, 10, 14, 37, 21, tzinfo=timezone.utc)
FILL_TO = datetime(2024, 3, 10, 14, tzinfo=timezone.utc)  # NOW minus the 180 s timeout, floored
HOUR, DAY = timedelta(hours=1), timedelta(days=1)


@pytest.fixture(autouse=True)
def isolated_locks():
    """Other test runs may share this Redis: every test gets lock names of its own."""
    import uuid

    from django.test import override_settings

    with override_settings(SMARTYSTATS_LOCK_PREFIX=f"test-smartystats-{uuid.uuid4().hex}:"):
        yield


# --- brute force, written from the definitions in smartystats.host/online ----

def bf_active_account(a, t):
    begin = a.activation_date or a.created_at
    return begin <= t and (a.deactivation_date is None or a.deactivation_date > t)


def bf_bucket(world, name, start, end):
    """{subgroup: value} of series `name` for the bucket [start, end)."""
    accs, custs = world.accounts, world.customers
    if name == "accounts_active":
        return {None: sum(bf_active_account(a, end) for a in accs)}
    if name == "customers_active":
        return {None: len({a.customer_id for a in accs if bf_active_account(a, end)})}
    if name == "accounts_new":
        return {None: sum(start <= a.created_at < end for a in accs)}
    if name == "customers_new":
        return {None: sum(start <= c.created_at < end for c in custs)}
    if name == "accounts_deactivated":
        return {None: sum(a.deactivation_date is not None and start <= a.deactivation_date < end
                          for a in accs)}
    if name == "customers_deactivated":
        by_customer = defaultdict(list)
        for a in accs:
            by_customer[a.customer_id].append(a)
        n = 0
        for c in custs:
            mine = by_customer[c.id]
            if mine and all(a.deactivation_date for a in mine):
                n += start <= max(a.deactivation_date for a in mine) < end
        return {None: n}
    pays = [p for p in world.payments if p.processed and start <= p.created_at < end]
    if name == "paying_customers":
        return {None: len({p.customer_id for p in pays})}
    out = defaultdict(Decimal)
    for p in pays:
        out[p.currency] += p.amount if name == "payments_sum" else 1
    return dict(out)


def bf_online_at(sessions, t):
    """Online at instant t: a session is online during [start, end), so never at its end."""
    live = [s for s in sessions if s["account_id"] is not None and s["start"] <= t < s["end"]]
    return len({s["account_id"] for s in live}), len({s["customer_id"] for s in live})


def bf_peak(sessions, start, end):
    """Max over every instant where the count can change: the bucket start and session starts and ends."""
    # Only a session overlapping the bucket is online at an instant in it.
    sessions = [s for s in sessions if s["start"] < end and s["end"] > start]
    instants = {start} | {t for s in sessions for t in (s["start"], s["end"]) if start <= t < end}
    best = (0, 0)
    for t in instants:
        a, c = bf_online_at(sessions, t)
        best = (max(best[0], a), max(best[1], c))
    return best


def stored(client_id, series):
    rows = defaultdict(dict)
    for r in Count.objects.filter(client_id=client_id, series=series):
        rows[r.end_time][r.subgroup] = r.value
    return rows


def check_series(world, series_names=None):
    for series in series_names or STATS:
        stat = STATS[series]
        done = fill.last_successful_fill(world.client_id, series)
        inc = HOUR if stat.frequency == "hour" else DAY
        first = fill.initial_fill_start(series, FILL_TO)
        rows = stored(world.client_id, series)
        assert set(rows) <= {first + inc * i for i in range(1, 10000)}
        t = first + inc
        checked = 0
        while t <= done:
            expected = {k: v for k, v in bf_bucket(world, stat.name, t - inc, t).items() if v}
            assert rows.get(t, {}) == expected, (series, t)
            t += inc
            checked += 1
        assert checked > 0


def check_max_online(world, until=FILL_TO):
    start = fill.initial_fill_start(MAX_ONLINE, FILL_TO)
    hours = {r.bucket_start: (r.accounts, r.customers)
             for r in MaxOnline.objects.filter(client_id=world.client_id, frequency="hour")}
    days = {r.bucket_start: (r.accounts, r.customers, r.complete)
            for r in MaxOnline.objects.filter(client_id=world.client_id, frequency="day")}
    t = start
    while t < until:
        assert hours.get(t, (0, 0)) == bf_peak(world.sessions, t, t + HOUR), t
        t += HOUR
    d = start
    while d < until:
        end = min(d + DAY, until)
        assert days[d] == (*bf_peak(world.sessions, d, end), end == d + DAY), d
        d += DAY


@pytest.fixture
def worlds(operator, other_operator, request):
    seed = getattr(request, "param", 1)
    return (generate(operator.client, now=NOW, seed=seed),
            generate(other_operator.client, now=NOW, seed=seed + 100, customers=12, sessions=150))


@pytest.mark.django_db
@pytest.mark.parametrize("worlds", [1, 2, 3], indirect=True)
def test_every_series_matches_brute_force(worlds):
    mine, theirs = worlds
    call_command("cache_customers_dynamic", time=NOW.isoformat(), stdout=None)
    for world in worlds:  # each tenant's numbers come from its own data only
        check_series(world)
        check_max_online(world)
    assert FillState.objects.filter(client_id=mine.client_id, state=FillState.STARTED).count() == 0


@pytest.mark.django_db
def test_second_run_computes_only_new_buckets(operator):
    world = generate(operator.client, now=NOW, seed=7)
    first = fill.fill_client(world.client_id, FILL_TO)
    assert first["accounts_active::day"] == 38  # Feb 1 .. Mar 9, the whole previous month on
    assert first["accounts_active::hour"] == 3 * 24 + 14
    assert first[MAX_ONLINE] == 38 * 24 + 14
    ids = set(Count.objects.values_list("id", flat=True))
    assert fill.fill_client(world.client_id, FILL_TO) == {s: 0 for s in first}
    later = fill.fill_client(world.client_id, FILL_TO + 2 * HOUR)
    assert {s: n for s, n in later.items() if n} == {
        **{s: 2 for s in STATS if s.endswith(":hour")}, MAX_ONLINE: 2}
    assert ids <= set(Count.objects.values_list("id", flat=True))  # old rows untouched
    check_series(world)
    check_max_online(world, until=FILL_TO + 2 * HOUR)


@pytest.mark.django_db
def test_a_bucket_interrupted_mid_fill_is_redone_without_double_counting(operator, monkeypatch):
    world = generate(operator.client, now=NOW, seed=11)
    real_write = fill.write_bucket
    calls = {"n": 0}

    def dying_write(client_id, stat, end_time):
        real_write(client_id, stat, end_time)  # the rows are written ...
        if stat.name == "payments_sum":
            calls["n"] += 1
            if calls["n"] == fill.BUCKETS_PER_COMMIT + 5:
                raise KeyboardInterrupt("worker killed")  # ... but the batch never commits

    monkeypatch.setattr(fill, "write_bucket", dying_write)
    with pytest.raises(KeyboardInterrupt):
        call_command("cache_customers_dynamic", time=NOW.isoformat())
    state = FillState.objects.get(client_id=world.client_id, series="payments_sum:currency:day")
    # The first batch is final; the second, five buckets of which had been written, is gone whole.
    assert state.state == FillState.DONE
    rows = Count.objects.filter(client_id=world.client_id, series="payments_sum:currency:day")
    assert rows.exists() and not rows.filter(end_time__gt=state.end_time).exists()
    monkeypatch.setattr(fill, "write_bucket", real_write)
    call_command("cache_customers_dynamic", time=NOW.isoformat())
    check_series(world)


@pytest.mark.django_db
def test_an_interrupted_max_online_chunk_is_redone(operator, monkeypatch):
    world = generate(operator.client, now=NOW, seed=12)
    real_chunk = fill.fill_max_online_chunk
    calls = {"n": 0}

    def dying_chunk(client_id, start, end, **kwargs):
        real_chunk(client_id, start, end, **kwargs)
        calls["n"] += 1
        if calls["n"] == 20:
            raise SystemExit("killed")

    monkeypatch.setattr(fill, "fill_max_online_chunk", dying_chunk)
    with pytest.raises(SystemExit):
        fill.process_max_online(world.client_id, FILL_TO)
    assert FillState.objects.get(client_id=world.client_id, series=MAX_ONLINE).state == FillState.STARTED
    monkeypatch.setattr(fill, "fill_max_online_chunk", real_chunk)
    fill.process_max_online(world.client_id, FILL_TO)
    check_max_online(world)


@pytest.mark.django_db
def test_rebuild_recomputes_a_range_on_purpose(operator):
    from tvmiddleware.models import Payment

    world = generate(operator.client, now=NOW, seed=13)
    call_command("cache_customers_dynamic", time=NOW.isoformat())
    late = Payment.objects.create(client=operator.client, customer=world.customers[0], amount=Decimal("9.99"),
                                  currency="EUR", created_at=datetime(2024, 3, 5, 10, tzinfo=timezone.utc))
    world.payments.append(late)
    call_command("cache_customers_dynamic", time=NOW.isoformat())  # cached buckets stay as they were
    with pytest.raises(AssertionError):
        check_series(world, ["payments_sum:currency:day"])
    call_command("cache_customers_dynamic", time=NOW.isoformat(), rebuild_from="2024-03-05",
                 rebuild_to="2024-03-05", series="payments_sum:currency:day,payments_count:currency:day")
    check_series(world, ["payments_sum:currency:day", "payments_count:currency:day"])


# --- the sweep itself, second by second ------------------------------------------

def per_second_peak(sessions, start, end):
    best, t = (0, 0), start
    while t < end:
        a, c = bf_online_at(sessions, t)
        best = (max(best[0], a), max(best[1], c))
        t += timedelta(seconds=1)
    return best


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_sweep_equals_a_per_second_count(seed):
    import random

    rng = random.Random(seed)
    t0 = datetime(2024, 1, 1, 23, 50, tzinfo=timezone.utc)
    sessions = []
    for _ in range(40):
        start = t0 + timedelta(seconds=rng.randrange(-300, 1500))
        end = start + timedelta(seconds=rng.choice([0, 0, 1, rng.randrange(1, 900)]))
        acc = rng.randrange(8)
        sessions.append({"start": start, "end": end, "account_id": acc, "customer_id": acc // 3})
    sessions.sort(key=lambda s: s["start"])
    boundaries = [t0 + timedelta(minutes=5 * i) for i in range(6)]  # crosses midnight
    window = [s for s in sessions if s["start"] < boundaries[-1] and s["end"] >= boundaries[0]]
    got = online.sweep_peaks(window, boundaries)
    assert got == [per_second_peak(sessions, a, b) for a, b in zip(boundaries, boundaries[1:])]


def test_sweep_edges():
    t = datetime(2024, 1, 1, tzinfo=timezone.utc)
    s = timedelta(seconds=1)
    sessions = [  # one account on two devices at once counts once
        {"start": t, "end": t + 10 * s, "account_id": 1, "customer_id": 1},
        {"start": t + 2 * s, "end": t + 5 * s, "account_id": 1, "customer_id": 1},
        # hand-over at instant 10: the first is online during [0, 10), the second from 10
        {"start": t + 10 * s, "end": t + 20 * s, "account_id": 2, "customer_id": 1},
        {"start": t + 30 * s, "end": t + 30 * s, "account_id": 3, "customer_id": 3},  # zero length: never
        {"start": t + 35 * s, "end": t + 40 * s, "account_id": 4, "customer_id": 4},  # ends on the edge
    ]
    assert online.sweep_peaks(sessions, [t, t + 10 * s, t + 11 * s, t + 30 * s, t + 40 * s, t + 50 * s]) == [
        (1, 1), (1, 1), (1, 1), (1, 1), (0, 0)]


@pytest.mark.django_db
def test_online_now_matches_brute_force(operator, other_operator):
    world = generate(operator.client, now=NOW, seed=21)
    generate(other_operator.client, now=NOW, seed=22)
    # Online now: [start, end + timeout) holds NOW.
    live = [s for s in world.sessions if s["account_id"] is not None
            and s["start"] <= NOW < s["end"] + timedelta(seconds=180)]
    expected = {"accounts": len({s["account_id"] for s in live}),
                "customers": len({s["customer_id"] for s in live})}
    assert expected["accounts"] > 0
    assert online.online_now(world.client_id, NOW) == expected
