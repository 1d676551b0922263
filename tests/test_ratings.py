"""Audience ratings (viewstats/ratings.py) against brute force, and their API, CSV, page and command.

The reference here is deliberately naive and independent of the code under
test: the band is found by walking the period minute by minute and asking
the time zone what the operator's clock shows (so DST days come out of
zoneinfo, not out of ratings.py's offset segments), every session is
clipped to every band interval in plain Python, and the universe is what
the test built (who was active when). Figures are compared exactly: watch
time to the millisecond, counts exactly, and the derived figures after the
rounding the module documents (4 decimals for audiences and percentages,
0.1 s for time spent).
"""
import csv
import io
import json
import random
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from tests.factories import current_builder
from viewstats import ratings, store
from viewstats.documents import session_document
from viewstats.reports.filters import FilterError

UTC = timezone.utc
HOST_KINDS = ("reference", "toy")  # the brute-force test runs on both hosts


# ------------------------------------------------------------------ the world

def build(zone, first, last, name="Gamma TV", channels=4):
    """An operator in `zone` with accounts whose activity around the period is known.

    Returns the operator with `universe` (the ids active at some time of
    first..last), `outside` (ids that are not) and the period's UTC bounds.
    """
    b = current_builder()
    tz = ZoneInfo(zone)
    p0 = datetime.combine(first, datetime.min.time(), tzinfo=tz).astimezone(UTC)
    p1 = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=tz).astimezone(UTC)
    client_id = b.operator(name, time_zone=zone)
    for system_name in ("mag", "android_stb"):
        b.device_type(client_id, system_name, True)
    tariffs = [b.tariff(client_id, f"{name} Basic"), b.tariff(client_id, f"{name} Premium")]
    chans = [SimpleNamespace(id=b.channel(client_id, f"{name} ch{i + 1}", i + 1), name=f"{name} ch{i + 1}")
             for i in range(channels)]
    long_ago = p0 - timedelta(days=400)
    accounts, universe, outside = [], set(), set()

    def account(created, until=None):
        customer = b.customer(client_id, created)
        # An account that stopped being active is not ACTIVE now (the toy host needs the status).
        account_id = b.account(client_id, customer, created, [tariffs[len(accounts) % 2]], active_until=until,
                               status="INACTIVE" if until else "ACTIVE")
        accounts.append(SimpleNamespace(id=account_id, customer_id=customer or account_id,
                                        tariff=tariffs[len(accounts) % 2]))
        return account_id

    for _ in range(6):
        universe.add(account(long_ago))                                  # active all along
    universe.add(account(p0 + (p1 - p0) / 2, p0 + (p1 - p0) / 2 + timedelta(hours=3)))  # a few hours inside
    universe.add(account(long_ago, p0 + timedelta(seconds=1)))           # its last second is inside
    outside.add(account(long_ago, p0))                                   # ended exactly at the start
    outside.add(account(p1))                                             # starts exactly at the end
    # Programmes for by=programme labels.
    programmes = [b.programme(client_id, c.id, p0, p0 + timedelta(hours=6), f"{c.name} morning")
                  for c in chans]
    return SimpleNamespace(client_id=client_id, zone=zone, tz=tz, first=first, last=last, p0=p0, p1=p1,
                           channels=chans, accounts=accounts, universe=universe, outside=outside,
                           tariffs=tariffs, programmes=programmes, name=name)


def session(op, i, account, channel_id, start, seconds, **extra):
    login = None
    if account is not None:
        login = SimpleNamespace(account_id=account.id, customer_id=account.customer_id,
                                device_type=extra.pop("device_type", "mag"), device_id=f"d{account.id}")
    doc = session_document(_id=f"r:{op.client_id}:{i}", client_id=op.client_id, source="device",
                           protocol="push", start=start, end=start + timedelta(seconds=seconds),
                           channel_id=channel_id, login=login,
                           tariff_ids=[account.tariff] if account is not None else [],
                           ip="10.0.0.1", user_agent="MAG250", **extra)
    return doc


def make_world(op, seed, n=220):
    """Random sessions around the period, and the edge cases written out."""
    rnd = random.Random(seed)
    docs = []
    span = (op.p1 - op.p0) + timedelta(days=2)
    lengths = [0, 30, 59, 60, 61, 300, 1800, 3600, 3 * 3600, 7 * 3600]
    for i in range(n):
        start = op.p0 - timedelta(days=1) + timedelta(seconds=rnd.randrange(int(span.total_seconds())))
        account = rnd.choice(op.accounts + [None])
        channel = rnd.choice(op.channels)
        docs.append(session(op, i, account, channel.id, start, rnd.choice(lengths),
                            device_type=rnd.choice(["mag", "android_stb"]),
                            country=rnd.choice(["DE", "FR"]), kind=rnd.choice(["live", "live", "archive"]),
                            program_id=rnd.choice([None] + op.programmes)))
    a, b = op.accounts[0], op.accounts[1]
    ch = op.channels[0]
    edge = [
        # Long sessions (over a day) ending more than a day after the period: the second index range.
        (a, ch.id, op.p1 - timedelta(hours=5), 40 * 3600),
        (b, ch.id, op.p1 - timedelta(hours=2), 30 * 3600),
        (op.accounts[2], op.channels[1].id, op.p0 - timedelta(hours=30), 3 * 86400),
        # ... and the same accounts in the first range on the same channel.
        (a, ch.id, op.p0 + timedelta(hours=20), 7200),
        (b, ch.id, op.p0 + timedelta(hours=1), 20),
        # A stream no channel plays (channel None) with an account.
        (a, None, op.p0 + timedelta(hours=21), 3600),
    ]
    for j, (account, channel_id, start, seconds) in enumerate(edge):
        extra = {"media": "unmapped-stream"} if channel_id is None else {}
        docs.append(session(op, n + j, account, channel_id, start, seconds, country="DE", kind="live",
                            **extra))
    store.sessions().insert_many([dict(d) for d in docs])
    return docs


# ------------------------------------------------------------- brute force

def brute_band(op, band_text):
    """UTC intervals where the operator's clock shows a time inside the band, minute by minute."""
    if band_text in ("", None):
        return [(op.p0, op.p1)]
    lo, hi = band_text.split("-")
    a = int(lo[:2]) * 60 + int(lo[3:])
    b = int(hi[:2]) * 60 + int(hi[3:])

    def inside(minute):
        return a <= minute < b if a < b else (minute >= a or minute < b)
    intervals, t = [], op.p0
    while t < op.p1:
        wall = t.astimezone(op.tz)
        if inside(wall.hour * 60 + wall.minute):
            if intervals and intervals[-1][1] == t:
                intervals[-1] = (intervals[-1][0], t + timedelta(minutes=1))
            else:
                intervals.append((t, t + timedelta(minutes=1)))
        t += timedelta(minutes=1)
    return intervals


def clip_ms(doc, a, b):
    return max(0, (min(doc["end"], b) - max(doc["start"], a)) // timedelta(milliseconds=1))


def brute_ratings(op, docs, band_text, threshold_s, by="channel", keep=lambda d: True):
    intervals = brute_band(op, band_text)
    band_ms = sum((b - a) // timedelta(milliseconds=1) for a, b in intervals)
    rows = defaultdict(lambda: {"w": 0, "viewers": set(), "reach": set()})
    accounts = {"w": 0, "viewers": set(), "reach": set()}
    for d in docs:
        if d["client_id"] != op.client_id or d["account_id"] is None or not keep(d):
            continue
        parts = [clip_ms(d, a, b) for a, b in intervals]
        total = sum(parts)
        if not total:
            continue
        if by == "channel":
            key = (d["channel_id"], d.get("media") if d["channel_id"] is None else None)
        else:
            key = (d["channel_id"], d.get("program_id"))
        reached = max(parts) >= threshold_s * 1000
        for target in (rows[key], accounts):
            target["w"] += total
            target["viewers"].add(d["account_id"])
            if reached:
                target["reach"].add(d["account_id"])
    return band_ms, rows, accounts


def expected_figures(w, viewers, reach, band_ms, universe, all_w):
    return {
        "watch_time": w / 1000,
        "average_audience": round(w / band_ms, 4),
        "rating": round(100 * w / (band_ms * universe), 4),
        "share": round(100 * w / all_w, 4) if all_w else None,
        "reach": reach,
        "reach_percent": round(100 * reach / universe, 4),
        "ats": round(w / (reach * 1000), 1) if reach else None,
        "viewers": viewers,
    }


def check(op, docs, band, threshold_s=60, by="channel", keep=lambda d: True, **params):
    params = {"date_from": op.first.isoformat(), "date_to": op.last.isoformat(), "band": band or "",
              "threshold": f"{threshold_s}s", "by": by, **params}
    data = ratings.compute(ratings.parse(params, [op.client_id]))
    band_ms, rows, totals = brute_ratings(op, docs, band, threshold_s, by, keep)
    universe = len(op.universe)
    assert data["universe"]["size"] == universe and data["universe"]["kind"] == "active"
    assert data["band"]["seconds"] == band_ms / 1000
    keys = ratings.ROW_KEYS[by]
    got = {tuple(r[k] for k in keys): r for r in data["rows"]}
    watched = {k: r for k, r in got.items() if r["watch_time"]}
    assert set(watched) == set(rows), (band, by)
    for key, want in rows.items():
        figures = {f: got[key][f] for f in expected_figures(0, 0, 0, 1, 1, 1)}
        assert figures == expected_figures(want["w"], len(want["viewers"]), len(want["reach"]), band_ms,
                                           universe, totals["w"]), (key, band, by)
    assert data["totals"] == expected_figures(totals["w"], len(totals["viewers"]), len(totals["reach"]),
                                              band_ms, universe, totals["w"])
    return data, rows, totals


# ----------------------------------------------------------------- figures

BANDS = ["19:00-23:00", "22:00-02:00", "01:00-03:00", "02:30-02:45", "00:00-24:00", ""]


@pytest.mark.django_db
@pytest.mark.parametrize("zone, first, last", [
    ("America/New_York", date(2024, 3, 9), date(2024, 3, 11)),   # the clocks go forward on the 10th
    ("America/New_York", date(2024, 11, 3), date(2024, 11, 3)),  # ... and back: a 25-hour day
    ("Asia/Kolkata", date(2024, 3, 9), date(2024, 3, 10)),        # +05:30
])
def test_ratings_match_brute_force(host_kind, zone, first, last):
    op = build(zone, first, last)
    other = build("UTC", first, last, name="Delta Net")
    docs = make_world(op, seed=first.toordinal() + len(zone))
    make_world(other, seed=7)  # another operator's sessions must never count
    for band in BANDS:
        for threshold in (60, 1, 3600):
            check(op, docs, band, threshold)
    check(op, docs, "19:00-23:00", 60, by="programme")


@pytest.mark.django_db
def test_dst_band_lengths_are_real_elapsed_time():
    tz = ZoneInfo("America/New_York")
    def seconds(band, day):
        return sum((b - a).total_seconds()
                   for a, b in ratings.band_intervals(ratings.parse_band(band), tz, day, day))
    assert seconds("01:00-03:00", date(2024, 3, 10)) == 3600       # 02:xx never happens
    assert seconds("01:00-03:00", date(2024, 11, 3)) == 3 * 3600   # 01:xx happens twice
    assert seconds("02:00-03:00", date(2024, 3, 10)) == 0
    assert seconds("19:00-23:00", date(2024, 3, 10)) == 4 * 3600
    night = ratings.band_intervals(ratings.parse_band("22:00-02:00"), ZoneInfo("Asia/Kolkata"),
                                   date(2024, 3, 9), date(2024, 3, 9))
    # The night of the 8th runs into the 9th until 02:00; the 9th's night is cut at the period's end.
    assert [(a.isoformat(), b.isoformat()) for a, b in night] == [
        ("2024-03-08T18:30:00+00:00", "2024-03-08T20:30:00+00:00"),
        ("2024-03-09T16:30:00+00:00", "2024-03-09T18:30:00+00:00")]


@pytest.mark.django_db
def test_long_sessions_are_reconciled_with_the_first_index_range():
    """A session over a day ending after the range is read apart; its account still counts once."""
    first = last = date(2024, 5, 2)
    op = build("UTC", first, last)
    a, b, c = op.accounts[:3]
    ch = op.channels[0].id
    docs = [
        session(op, 1, a, ch, op.p0 + timedelta(hours=20), 3600),        # reached in the first range
        session(op, 2, a, ch, op.p1 - timedelta(hours=1), 50 * 3600),    # and in the long one
        session(op, 3, b, ch, op.p0 + timedelta(hours=20), 20),          # too short to reach ...
        session(op, 4, b, ch, op.p1 - timedelta(minutes=30), 49 * 3600),  # ... reached by the long one
        session(op, 5, c, ch, op.p1 - timedelta(minutes=30), 49 * 3600),  # only long
    ]
    store.sessions().insert_many([dict(d) for d in docs])
    (_, _), (long_match, _) = store.ending_after(op.client_id, op.p0, op.p1, start={"$lt": op.p1})
    assert store.sessions().count_documents(long_match) == 3  # the second range is exercised
    data, rows, totals = check(op, docs, "", 60)
    row = next(r for r in data["rows"] if r["channel_id"] == ch)
    assert (row["viewers"], row["reach"]) == (3, 3)
    assert row["watch_time"] == 3600 + 3600 + 20 + 1800 + 1800
    assert (data["totals"]["viewers"], data["totals"]["reach"]) == (3, 3)
    # Band 20:00-21:00: b's first session is inside but short; its long one is outside the band.
    data, _, _ = check(op, docs, "20:00-21:00", 60)
    row = next(r for r in data["rows"] if r["channel_id"] == ch)
    assert (row["viewers"], row["reach"]) == (2, 1)


def brute_hourly(op, docs, channel_id, keep=lambda d: True):
    out = []
    for h in range(24):
        intervals = brute_band(op, f"{h:02}:00-{(h + 1):02}:00" if h < 23 else "23:00-24:00")
        length = sum((b - a) // timedelta(milliseconds=1) for a, b in intervals)
        w = sum(clip_ms(d, a, b) for d in docs for a, b in intervals
                if d["client_id"] == op.client_id and d["account_id"] is not None
                and d["channel_id"] == channel_id and keep(d))
        out.append((length, w))
    return out


@pytest.mark.django_db
@pytest.mark.parametrize("zone, first, last", [
    ("America/New_York", date(2024, 3, 10), date(2024, 3, 10)),
    ("America/New_York", date(2024, 11, 2), date(2024, 11, 3)),
    ("Asia/Kolkata", date(2024, 3, 9), date(2024, 3, 10)),
    ("Asia/Kathmandu", date(2024, 3, 9), date(2024, 3, 9)),  # +05:45
])
def test_rating_by_hour_of_day_matches_brute_force(zone, first, last):
    op = build(zone, first, last)
    docs = make_world(op, seed=first.toordinal())
    channel = op.channels[0].id
    query = ratings.parse({"date_from": first.isoformat(), "date_to": last.isoformat(),
                           "device_type": "mag"}, [op.client_id])
    profile = ratings.hourly(query, channel)
    universe = len(op.universe)
    assert profile["universe"] == universe and len(profile["points"]) == 24
    for p, (length, w) in zip(profile["points"], brute_hourly(op, docs, channel,
                                                                lambda d: d["device_type"] == "mag")):
        assert p["seconds"] == length / 1000 and p["watch_time"] == w / 1000, p
        assert p["rating"] == (round(100 * w / (length * universe), 4) if length else None), p
    if (zone, first) == ("America/New_York", date(2024, 3, 10)):
        assert profile["points"][2]["seconds"] == 0 and profile["points"][2]["rating"] is None
    if first == date(2024, 11, 2):
        assert profile["points"][1]["seconds"] == 3 * 3600  # 01:xx twice on the 3rd, once on the 2nd


@pytest.mark.django_db
def test_filters_narrow_the_viewing_not_the_universe():
    first, last = date(2024, 3, 9), date(2024, 3, 10)
    op = build("Asia/Kolkata", first, last)
    docs = make_world(op, seed=3)
    tariff = op.tariffs[1]
    cases = [({"device_type": "mag"}, lambda d: d["device_type"] == "mag"),
             ({"tariff": str(tariff)}, lambda d: tariff in d["tariff_ids"]),
             ({"country": "fr"}, lambda d: d.get("country") == "FR"),
             ({"kind": "live"}, lambda d: d["kind"] == "live"),
             ({"device_type": "android_stb", "kind": "archive"},
              lambda d: d["device_type"] == "android_stb" and d["kind"] == "archive")]
    for params, keep in cases:
        data, _, _ = check(op, docs, "19:00-23:00", 60, keep=keep, **params)
        assert data["universe"]["size"] == len(op.universe)
        assert any("not the universe" in n for n in data["notes"])
    # Shares add up to 100 % (to the rounding).
    data, _, _ = check(op, docs, "19:00-23:00", 60)
    assert abs(sum(r["share"] for r in data["rows"] if r["share"]) - 100) < 0.001 * len(data["rows"])


@pytest.mark.django_db
def test_documents_examined_follow_the_window_not_the_history():
    """Both index ranges stop a day past the band: history before or after does not add to the read."""
    first, last = date(2024, 3, 9), date(2024, 3, 10)
    op = build("America/New_York", first, last)
    make_world(op, seed=9)
    params = {"date_from": first.isoformat(), "date_to": last.isoformat(), "band": "19:00-23:00"}

    def examined():
        with store.examined() as meter:
            data = ratings.compute(ratings.parse(params, [op.client_id]))
            ratings.hourly(ratings.parse(params, [op.client_id]), op.channels[0].id)
        return meter, data
    before, data = examined()
    far = [session(op, 10_000 + i, op.accounts[i % 6], op.channels[i % 4].id,
                   op.p0 - timedelta(days=30 + i % 60, hours=i % 24), 3600) for i in range(300)]
    far += [session(op, 20_000 + i, op.accounts[i % 6], op.channels[0].id,
                    op.p1 + timedelta(days=3 + i % 30), 7200) for i in range(300)]
    store.sessions().insert_many(far)
    after, again = examined()
    assert after.total == before.total and after.worst_total == before.worst_total
    assert again["totals"] == data["totals"]
    assert all(c.index != "COLLSCAN" for c in after.calls if c.collection == store.SESSIONS)


# ------------------------------------------------------------ parameters

@pytest.mark.django_db
def test_bad_parameters_name_themselves(operator):
    cid = [operator.client.id]
    for params, name in (({"band": "7pm-11pm"}, "band"), ({"band": "19:00-19:00"}, "band"),
                         ({"band": "25:00-26:00"}, "band"), ({"threshold": "0"}, "threshold"),
                         ({"threshold": "abc"}, "threshold"), ({"threshold": "2000"}, "threshold"),
                         ({"universe": "tariff"}, "universe"), ({"universe": "all"}, "universe"),
                         ({"by": "device"}, "by"), ({"kind": "vod"}, "kind"),
                         ({"date_from": "2024-02-30"}, "date_from"),
                         ({"date_from": "2024-03-02", "date_to": "2024-03-01"}, "date_from"),
                         ({"from": "2024-03-01T00:00:00Z"}, "from"), ({"source": "device"}, "source"),
                         ({"channel": "x"}, "channel")):
        with pytest.raises(FilterError) as info:
            ratings.parse(params, cid)
        assert str(info.value).startswith(f"{name}:"), (params, str(info.value))
    with pytest.raises(ratings.RatingsError, match="channel-to-tariff"):
        ratings.parse({"universe": "tariff"}, cid)
    assert ratings.parse_threshold("90s") == 90_000 and ratings.parse_threshold("0.5") == 30_000
    assert ratings.parse_band("22:00-02:00").crosses_midnight
    assert ratings.parse_band("19:00-24:00") == ratings.Band(19 * 60, 1440)
    assert ratings.parse_band("00:00-24:00").whole_day and ratings.parse_band("").whole_day
    assert ratings.parse_band("19-23") == ratings.parse_band("19:00-23:00")
    assert ratings.parse_band("22-2") == ratings.Band(22 * 60, 2 * 60)


# -------------------------------------------------------- API, CSV, page

def world_params(op, **extra):
    return {"client": op.client_id, "date_from": op.first.isoformat(), "date_to": op.last.isoformat(),
            "band": "19:00-23:00", **extra}


@pytest.fixture
def world(db, host_kind):
    op = build("America/New_York", date(2024, 3, 9), date(2024, 3, 11))
    other = build("Europe/Berlin", date(2024, 3, 9), date(2024, 3, 11), name="Beta Net")
    docs = make_world(op, seed=5)
    make_world(other, seed=6)
    return SimpleNamespace(op=op, other=other, docs=docs)


@pytest.fixture
def root(client, db):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    return client


def test_api_answers_the_computed_ratings_with_definitions(root, world):
    op = world.op
    r = root.get("/viewstats/api/ratings", world_params(op, channel=op.channels[0].id))
    assert r.status_code == 200
    body = r.json()
    direct = ratings.compute(ratings.parse({k: str(v) for k, v in world_params(op).items()}, [op.client_id]))
    assert body["rows"] == json.loads(json.dumps(direct["rows"], default=str))
    assert body["totals"] == direct["totals"]
    assert body["universe"]["size"] == len(op.universe) and "channel-to-tariff" in body["universe"]["tariff"]
    assert body["band"]["band"] == "19:00-23:00" and body["zone"] == "America/New_York"
    assert set(body["definitions"]) >= {"average_audience", "rating", "share", "reach", "ats", "universe",
                                        "accounts_only"}
    assert [p["label"] for p in body["hourly"]["points"]] == [f"{h:02}:00" for h in range(24)]
    assert body["hourly"]["channel"] == op.channels[0].name
    # Every channel of the operator has a row, with its name; none of the other operator's.
    names = {r["channel"] for r in body["rows"]}
    assert {c.name for c in op.channels} <= names and not any(n.startswith("Beta Net") for n in names)


def test_api_refuses_bad_parameters_with_400(root, world):
    op = world.op
    for params, name in (({"band": "evening"}, "band"), ({"universe": "tariff"}, "universe"),
                         ({"threshold": "-1"}, "threshold"), ({"by": "x"}, "by"),
                         ({"channel": "999999"}, "channel"), ({"from": "2024-03-09T00:00:00Z"}, "from")):
        r = root.get("/viewstats/api/ratings", world_params(op, **params))
        assert r.status_code == 400 and r.json()["error"].startswith(f"{name}:"), (params, r.content)
    # A superuser naming no client has several operators: ratings are per operator.
    r = root.get("/viewstats/api/ratings", {"date_from": "2024-03-09", "date_to": "2024-03-09"})
    assert r.status_code == 400 and r.json()["error"].startswith("client:")


def test_csv_has_every_row_and_the_totals(root, world):
    op = world.op
    r = root.get("/viewstats/api/ratings.csv", world_params(op, by="programme"))
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(r.content.decode())))
    data = ratings.compute(ratings.parse({k: str(v) for k, v in world_params(op, by="programme").items()},
                                         [op.client_id]))
    assert len(lines) == len(data["rows"]) + 1
    assert lines[-1]["channel"] == "all channels" and float(lines[-1]["rating"]) == data["totals"]["rating"]
    assert {line["universe_size"] for line in lines} == {str(len(op.universe))}
    first = data["rows"][0]
    assert lines[0]["programme"] == first["programme"] and float(lines[0]["average_audience"]) == \
        first["average_audience"]


def text_of(response):
    import re
    html = response.content.decode()
    html = re.sub(r"<script.*?</script>", "", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_page_shows_names_units_charts_and_the_legend(root, world):
    op = world.op
    r = root.get("/viewstats/reports/ratings/", world_params(op))
    assert r.status_code == 200
    html, text = r.content.decode(), text_of(r)
    assert 'id="header"' in html and "errornote" not in html
    data = ratings.compute(ratings.parse({k: str(v) for k, v in world_params(op).items()}, [op.client_id]))
    top = data["rows"][0]
    assert top["channel"] in text and "Time zone: America/New_York" in text
    assert f"{len(op.universe)} accounts" in text
    for label in ("Average audience", "Rating", "Share", "Reach", "Reach %", "Time per viewer", "Watch time",
                  "Universe", "Band", "Threshold", "Accounts only"):
        assert f"<dt>{label}</dt>" in html, label
    for preset in ("Today", "Yesterday", "Last 7 days", "Last 30 days", "This month", "Prime time 19–23"):
        assert preset in text
    charts = json.loads(html.split('id="vs-chart-data" type="application/json">')[1].split("</script>")[0])
    assert [c["id"] for c in charts] == ["bars", "hourly"]
    assert charts[0]["labels"][0] == top["channel"] and charts[0]["datasets"][0]["data"][0] == top["share"]
    assert len(charts[1]["labels"]) == 24 and top["channel"] in charts[1]["title"]
    # Figures in units, exact ones on hover; no raw field names or dicts.
    assert f'data-key="rating" data-value="{data["totals"]["rating"]}"' in html
    assert "{'" not in text and ">average_audience<" not in html and ">watch_time<" not in html
    # The chart channel can be chosen, and programmes shown.
    other = op.channels[-1]
    r = root.get("/viewstats/reports/ratings/", world_params(op, channel=other.id, by="programme"))
    charts = json.loads(r.content.decode().split('id="vs-chart-data" type="application/json">')[1]
                        .split("</script>")[0])
    assert other.name in charts[1]["title"] and "morning" in text_of(r)


def test_page_explains_bad_parameters_and_empty_periods(root, world):
    op = world.op
    r = root.get("/viewstats/reports/ratings/", world_params(op, band="nonsense"))
    assert r.status_code == 200 and "errornote" in r.content.decode() and "band:" in text_of(r)
    r = root.get("/viewstats/reports/ratings/",
                 world_params(op, date_from="2023-01-01", date_to="2023-01-02"))
    assert r.status_code == 200 and "No account watched anything" in text_of(r)
    r = root.get("/viewstats/reports/ratings/", world_params(op, date_from="2024-13-01"))
    assert r.status_code == 200 and "date_from" in text_of(r)


def test_staff_of_another_operator_get_403(client, world):
    op, other = world.op, world.other
    user = User.objects.create_user("bob", password="pw", is_staff=True)
    current_builder().staff(user, other.client_id)
    client.force_login(user)
    for path in ("/viewstats/api/ratings", "/viewstats/api/ratings.csv", "/viewstats/reports/ratings/"):
        assert client.get(path, world_params(op)).status_code == 403, path
    # Their own operator is fine, and shows nothing of the other.
    r = client.get("/viewstats/api/ratings", world_params(other))
    assert r.status_code == 200 and not any(n["channel"].startswith("Gamma") for n in r.json()["rows"])
    page = client.get("/viewstats/reports/ratings/", {"band": "19:00-23:00"})
    assert page.status_code == 200 and b"Gamma TV" not in page.content
    client.logout()
    assert client.get("/viewstats/api/ratings", world_params(op)).status_code == 401
    assert client.get("/viewstats/reports/ratings/").status_code == 302  # to the admin login


# ----------------------------------------------------------------- command

def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("viewstats_ratings", *args, stdout=out, stderr=err)
    return out.getvalue()


def test_command_prints_table_json_and_csv(world):
    op = world.op
    base = [f"--client={op.client_id}", "--date_from=2024-03-09", "--date_to=2024-03-11",
            "--band=19:00-23:00"]
    data = ratings.compute(ratings.parse({"date_from": "2024-03-09", "date_to": "2024-03-11",
                                          "band": "19:00-23:00"}, [op.client_id]))
    table = run(*base, f"--hourly={op.channels[0].id}")
    assert "Gamma TV" in table and "America/New_York" in table and "All channels" in table
    assert f"Universe: {len(op.universe)} accounts" in table and "channel-to-tariff" in table
    assert data["rows"][0]["channel"] in table and "23:00" in table
    body = json.loads(run(*base, "--format=json"))
    assert body["totals"] == data["totals"] and body["rows"][0]["channel"] == data["rows"][0]["channel"]
    lines = list(csv.DictReader(io.StringIO(run(*base, "--format=csv", "--device_type=mag"))))
    assert lines[-1]["channel"] == "all channels"
    assert "Filters: device_type=mag" in run(*base, "--device_type=mag")


@pytest.mark.parametrize("option, name", [
    ("--band=7pm-11pm", "--band"), ("--threshold=0", "--threshold"), ("--universe=tariff", "--universe"),
    ("--by=device", "--by"), ("--date_from=2024-02-30", "--date_from"), ("--format=xml", "--format"),
    ("--kind=vod", "--kind"), ("--hourly=abc", "--hourly"), ("--client=987654", "--client"),
    ("--date_to=2024-13-01", "--date_to"),
])
def test_command_bad_options_exit_non_zero_naming_them(world, option, name):
    args = [option] if option.startswith("--client") else [f"--client={world.op.client_id}", option]
    with pytest.raises(CommandError) as info:
        run(*args)
    assert str(info.value).startswith(name + ":"), str(info.value)
    assert info.value.returncode == 1


def test_command_help_reads_like_docs(capsys):
    from viewstats.management.commands.viewstats_ratings import Command
    parser = Command().create_parser("manage.py", "viewstats_ratings")
    text = parser.format_help()
    for words in ("AVERAGE AUDIENCE", "RATING %", "SHARE %", "REACH", "universe", "--band", "19:00-23:00",
                  "crosses midnight", "--threshold", "Exit status"):
        assert words in text, words
