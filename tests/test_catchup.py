"""Catch-up depth (viewstats/catchup.py) against brute force, and its API, CSV, page and command.

The reference here is naive and independent of the code under test: the
programmes' air times are what the test gave the host's EPG, every session
of the period is walked in plain Python, its age is start - air begin in
seconds, its bucket is found by comparing with the edges written out below
(not catchup.py's), "lost at N days" is `age > N * 86400` per session, and
timeshift buckets come from their own table of edges. Counts and seconds are
compared exactly, shares after the documented rounding (percent, 4 decimals).
"""
import csv
import io
import json
import math
import random
import re
from collections import defaultdict
from datetime import date, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from tests.factories import current_builder
from tests.test_reports_browser import admin, check_charts, check_layout, load  # noqa: F401
from viewstats import catchup, store
from viewstats.documents import session_document

HOST_KINDS = ("reference", "toy")  # the brute-force test runs on both hosts
H, D = 3600, 86400

# Air begins of each channel's programmes, in hours from the period's first local midnight.
AIR_HOURS = [-30 * 24 - 7, -29 * 24 - 1, -14 * 24 - 5, -12 * 24 - 20, -7 * 24, -6 * 24 - 5, -3 * 24 + 2,
             -2 * 24, -26, -5, 0, 2, 10, 40]
# Ages (seconds) on and around every bucket edge and lost-at-N edge.
EDGE_AGES = [-60, 0, 1, H - 1, H, H + 1, 3 * H - 1, 3 * H, 6 * H - 1, 6 * H, 12 * H - 1, 12 * H,
             D - 1, D, D + 1, 2 * D - 1, 2 * D, 2 * D + 1, 3 * D, 7 * D - 1, 7 * D, 7 * D + 1,
             13 * D + 5, 14 * D, 14 * D + 1, 30 * D + 3 * H]
TIMESHIFTS = [0, 0, 0, 1, 1, 2, 3, 5, 6, 11, 12, 23, 24, 47, 48, 100, 167]
DURATIONS = [0, 30, 600, 3600, 7200]


# ------------------------------------------------------------------ the world

def build(zone="Asia/Kolkata", first=date(2024, 3, 10), last=date(2024, 3, 12), name="Gamma TV", channels=3):
    b = current_builder()
    tz = ZoneInfo(zone)
    p0 = datetime.combine(first, datetime.min.time(), tzinfo=tz).astimezone(ZoneInfo("UTC"))
    p1 = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=tz).astimezone(ZoneInfo("UTC"))
    client_id = b.operator(name, time_zone=zone)
    for system_name in ("mag", "android_stb"):
        b.device_type(client_id, system_name, True)
    chans = [SimpleNamespace(id=b.channel(client_id, f"{name} ch{i + 1}", i + 1), name=f"{name} ch{i + 1}")
             for i in range(channels)]
    epg = {}  # programme id -> (channel id, begin)
    for c in chans:
        for hours in AIR_HOURS:
            begin = p0 + timedelta(hours=hours)
            pid = b.programme(client_id, c.id, begin, begin + timedelta(hours=1), f"{c.name} at {hours:+} h")
            epg[pid] = (c.id, begin)
    return SimpleNamespace(client_id=client_id, zone=zone, tz=tz, first=first, last=last, p0=p0, p1=p1,
                           channels=chans, epg=epg, name=name)


def session(op, i, channel_id, start, seconds, kind="live", program_id=None, timeshift=0, **extra):
    return session_document(_id=f"c:{op.client_id}:{i}", client_id=op.client_id, source="device",
                            protocol="push", start=start, end=start + timedelta(seconds=seconds),
                            channel_id=channel_id, program_id=program_id, kind=kind,
                            timeshift_offset=timeshift, ip="10.0.0.1", user_agent="MAG250", **extra)


def make_world(op, seed, n=160, foreign_programme=None):
    """Archive sessions of known ages (every edge, then random), unknown programmes, timeshift, live."""
    rnd = random.Random(seed)
    docs, i = [], 0
    programmes = sorted(op.epg.items())

    def add(doc):
        nonlocal i
        docs.append(doc)
        i += 1

    # Every edge age lands in the period on every channel, through a programme that makes it so.
    for age in EDGE_AGES:
        for c in op.channels:
            fits = [pid for pid, (cid, begin) in programmes
                    if cid == c.id and op.p0 <= begin + timedelta(seconds=age) < op.p1]
            assert fits, age
            pid = rnd.choice(fits)
            add(session(op, i, c.id, op.epg[pid][1] + timedelta(seconds=age), rnd.choice(DURATIONS),
                        kind="archive", program_id=pid))
    # The period's bounds: a start exactly at p0 counts, one a second before or exactly at p1 does not.
    pid = next(p for p, (cid, begin) in programmes if begin == op.p0 - timedelta(days=7))
    cid = op.epg[pid][0]
    for start in (op.p0, op.p0 - timedelta(seconds=1), op.p1, op.p1 - timedelta(seconds=1)):
        add(session(op, i, cid, start, 900, kind="archive", program_id=pid))
    # Random archive viewing, some of it outside the period.
    for _ in range(n):
        pid = rnd.choice(programmes)[0]
        cid, begin = op.epg[pid]
        age = rnd.choice([rnd.randrange(-120, 40 * D), rnd.choice(EDGE_AGES)])
        add(session(op, i, cid, begin + timedelta(seconds=age), rnd.choice(DURATIONS), kind="archive",
                    program_id=pid))
    # Archive viewing of programmes the EPG does not have (for this operator), or without one.
    middle = op.p0 + (op.p1 - op.p0) / 2
    unknown = [10 ** 12, 10 ** 12 + 7] + ([foreign_programme] if foreign_programme else [])
    for j, pid in enumerate(unknown * 2):
        add(session(op, i, op.channels[j % len(op.channels)].id, middle + timedelta(minutes=j), 1200,
                    kind="archive", program_id=pid))
    for j in range(3):
        add(session(op, i, op.channels[0].id, middle + timedelta(hours=j), 300, kind="archive"))
    # A media server's archive of a stream no channel plays: no channel, no programme.
    add(session(op, i, None, middle, 450, kind="archive", media="unmapped-stream"))
    docs[-1]["source"] = "media_server"
    # Live viewing, at the live edge or behind it.
    for _ in range(n // 2):
        c = rnd.choice(op.channels)
        start = op.p0 - timedelta(hours=6) + timedelta(seconds=rnd.randrange(int((op.p1 - op.p0).total_seconds())
                                                                               + 12 * H))
        add(session(op, i, c.id, start, rnd.choice(DURATIONS), timeshift=rnd.choice(TIMESHIFTS)))
    store.sessions().insert_many([dict(d) for d in docs])
    return docs


# ------------------------------------------------------------- brute force

def bucket_of(age):
    if age < 0:
        return "before_air"
    for a, b in ((0, 1), (1, 3), (3, 6), (6, 12), (12, 24)):
        if age < b * H:
            return f"{a}-{b}h"
    d = age // D
    return f"{d}-{d + 1}d"


def ts_bucket_of(hours):
    for a, b in ((1, 2), (2, 3), (3, 6), (6, 12), (12, 24)):
        if hours < b:
            return f"{a}-{b}h"
    d = hours // 24
    return f"{d}-{d + 1}d"


def pct(part, whole):
    return round(100 * part / whole, 4) if whole else None


class Brute:
    def __init__(self, op, docs, keep=lambda d: True):
        self.sessions = self.watch = 0
        self.arch = [0, 0]
        self.none, self.unknown = [0, 0], [0, 0]
        self.ages = []             # (age seconds, duration)
        self.live = [0, 0]
        self.shift = []            # (hours, duration)
        for d in docs:
            if d["client_id"] != op.client_id or not (op.p0 <= d["start"] < op.p1) or not keep(d):
                continue
            self.sessions += 1
            self.watch += d["duration"]
            if d["kind"] == "archive":
                self.arch[0] += 1
                self.arch[1] += d["duration"]
                if d["program_id"] is None:
                    self.none[0] += 1
                    self.none[1] += d["duration"]
                elif d["program_id"] not in op.epg:
                    self.unknown[0] += 1
                    self.unknown[1] += d["duration"]
                else:
                    age = int((d["start"] - op.epg[d["program_id"]][1]).total_seconds())
                    self.ages.append((age, d["duration"]))
            else:
                self.live[0] += 1
                self.live[1] += d["duration"]
                if d["timeshift_offset"] > 0:
                    self.shift.append((d["timeshift_offset"], d["duration"]))

    def buckets(self):
        out = defaultdict(lambda: [0, 0])
        for age, w in self.ages:
            out[bucket_of(age)][0] += 1
            out[bucket_of(age)][1] += w
        return out

    def max_age(self):
        return max((a for a, _ in self.ages), default=None)

    def depth(self):
        m = self.max_age()
        return math.ceil(m / D) if m and m > 0 else 0

    def lost(self, days):
        chosen = [w for a, w in self.ages if a > days * D]
        return len(chosen), sum(chosen)


def check_archive(got, brute, depth):
    known_n, known_w = len(brute.ages), sum(w for _, w in brute.ages)
    assert (got["sessions"], got["watch_time"]) == tuple(brute.arch)
    assert (got["with_age"]["sessions"], got["with_age"]["watch_time"]) == (known_n, known_w)
    ne = got["not_in_epg"]
    assert (ne["no_programme"]["sessions"], ne["no_programme"]["watch_time"]) == tuple(brute.none)
    assert (ne["unknown_programme"]["sessions"], ne["unknown_programme"]["watch_time"]) == tuple(brute.unknown)
    assert ne["sessions"] == brute.none[0] + brute.unknown[0]
    buckets = brute.buckets()
    before = buckets.pop("before_air", [0, 0])
    assert (got["before_air"]["sessions"], got["before_air"]["watch_time"]) == tuple(before)
    seen = {d["bucket"]: d for d in got["distribution"]}
    assert set(buckets) <= set(seen)
    for key, d in seen.items():
        n, w = buckets.get(key, [0, 0])
        assert (d["sessions"], d["watch_time"]) == (n, w), key
        assert d["share_sessions"] == pct(n, known_n) and d["share_watch_time"] == pct(w, known_w), key
    m = brute.max_age()
    assert got["max_age_seconds"] == (m if m is None else float(m))
    assert [x["days"] for x in got["lost"]] == list(range(1, depth + 1))
    for x in got["lost"]:
        n, w = brute.lost(x["days"])
        assert (x["sessions"], x["watch_time"]) == (n, w), x["days"]
        assert x["share_watch_time"] == pct(w, known_w) and x["share_sessions"] == pct(n, known_n)
        assert x["share_of_all_archive_watch_time"] == pct(w, brute.arch[1])
    n1, w1 = brute.lost(1)
    assert got["within_1_day"]["share_watch_time"] == pct(known_w - w1, known_w)
    assert got["share_of_all_watch_time"] == pct(brute.arch[1], brute.watch)


def check_timeshift(got, brute):
    assert (got["sessions"], got["watch_time"]) == (len(brute.shift), sum(w for _, w in brute.shift))
    assert (got["live_sessions"], got["live_watch_time"]) == tuple(brute.live)
    out = defaultdict(lambda: [0, 0])
    for h, w in brute.shift:
        out[ts_bucket_of(h)][0] += 1
        out[ts_bucket_of(h)][1] += w
    seen = {d["bucket"]: d for d in got["distribution"]}
    assert set(out) <= set(seen)
    for key, d in seen.items():
        assert (d["sessions"], d["watch_time"]) == tuple(out.get(key, [0, 0])), key
    by_hour = defaultdict(lambda: [0, 0])
    for h, w in brute.shift:
        by_hour[h][0] += 1
        by_hour[h][1] += w
    assert [(x["hours"], x["sessions"], x["watch_time"]) for x in got["by_hour"]] == \
        [(h, v[0], v[1]) for h, v in sorted(by_hour.items())]
    assert got["share_of_live_watch_time"] == pct(sum(w for _, w in brute.shift), brute.live[1])


def check(op, docs, **params):
    query = {"date_from": op.first.isoformat(), "date_to": op.last.isoformat(), **params}
    data = catchup.compute(catchup.parse(query, [op.client_id]))
    wanted = {int(c) for c in params.get("channel", "").split(",") if c}
    keep = (lambda d: d["channel_id"] in wanted) if wanted else (lambda d: True)
    overall = Brute(op, docs, keep)
    depth = overall.depth()
    assert data["archive"]["depth_days"] == depth
    check_archive(data["archive"], overall, depth)
    check_timeshift(data["timeshift"], overall)
    assert (data["sessions"], data["watch_time"]) == (overall.sessions, overall.watch)
    # Every channel with archive or timeshift viewing has a row, and its own figures.
    channels = {d["channel_id"] for d in docs if d["client_id"] == op.client_id and keep(d)
                and op.p0 <= d["start"] < op.p1 and (d["kind"] == "archive" or d["timeshift_offset"] > 0)}
    assert {r["channel_id"] for r in data["channels"]} == channels
    for r in data["channels"]:
        brute = Brute(op, docs, lambda d, c=r["channel_id"]: keep(d) and d["channel_id"] == c)
        check_archive(r["archive"], brute, depth)
        check_timeshift(r["timeshift"], brute)
    # Rows by archive watch time, largest first; the media server's stream row has no channel name.
    assert [r["archive"]["watch_time"] for r in data["channels"]] == \
        sorted((r["archive"]["watch_time"] for r in data["channels"]), reverse=True)
    return data


# ----------------------------------------------------------------- figures

@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["Asia/Kolkata", "America/New_York"])
def test_catchup_matches_brute_force(host_kind, zone):
    # New York: the clocks go forward on 2024-03-10, inside the period (a 23-hour day).
    op = build(zone)
    other = build("UTC", name="Delta Net")
    foreign = next(iter(other.epg))
    docs = make_world(op, seed=len(zone), foreign_programme=foreign)
    make_world(other, seed=9)  # another operator's sessions must never count
    data = check(op, docs)
    arch = data["archive"]
    # The world reaches every kind of figure.
    assert arch["before_air"]["sessions"] and arch["not_in_epg"]["unknown_programme"]["sessions"] >= 6
    assert arch["not_in_epg"]["no_programme"]["sessions"] == 4 and arch["depth_days"] >= 31
    assert data["timeshift"]["max_hours"] == 167 and data["timeshift"]["distribution"][-1]["bucket"] == "6-7d"
    assert [d["bucket"] for d in arch["distribution"][:7]] == ["0-1h", "1-3h", "3-6h", "6-12h", "12-24h",
                                                              "1-2d", "2-3d"]
    assert any(r["channel_id"] is None and r["channel"] == "streams no channel plays" for r in data["channels"])
    # One channel, and two.
    check(op, docs, channel=str(op.channels[1].id))
    check(op, docs, channel=f"{op.channels[0].id},{op.channels[2].id}")


@pytest.mark.django_db
def test_bucket_and_lost_edges_exactly():
    """Ages written out against their bucket and the depths they are lost at."""
    op = build("UTC", first=date(2024, 5, 1), last=date(2024, 5, 1), channels=1)
    c = op.channels[0].id
    begin_of = {pid: begin for pid, (_, begin) in op.epg.items()}
    old = next(pid for pid, b in begin_of.items() if b == op.p0 - timedelta(days=7))      # 7 days before
    fresh = next(pid for pid, b in begin_of.items() if b == op.p0)                        # at midnight
    cases = [  # (programme, age seconds, bucket, largest N it is lost at)
        (fresh, 0, "0-1h", None), (fresh, 3599, "0-1h", 0), (fresh, 3600, "1-3h", 0),
        (fresh, 86399, "12-24h", 0),
        (old, 7 * D, "7-8d", 6), (old, 7 * D + 1, "7-8d", 7), (old, 8 * D - 1, "7-8d", 7),
        (old, 7 * D + 3600, "7-8d", 7),
    ]
    docs = [session(op, i, c, begin_of[pid] + timedelta(seconds=age), 100 + i, kind="archive", program_id=pid)
            for i, (pid, age, _, _) in enumerate(cases)]
    docs.append(session(op, 99, c, op.p0 + timedelta(hours=3), 50, kind="archive",
                        program_id=next(pid for pid, b in begin_of.items() if b == op.p0 + timedelta(hours=10))))
    store.sessions().insert_many([dict(d) for d in docs])
    data = check(op, docs)
    arch = data["archive"]
    by = {d["bucket"]: d for d in arch["distribution"]}
    assert by["7-8d"]["sessions"] == 4 and by["0-1h"]["sessions"] == 2 and by["12-24h"]["sessions"] == 1
    assert arch["before_air"]["sessions"] == 1 and arch["before_air"]["watch_time"] == 50
    assert arch["depth_days"] == 8 and arch["max_age_seconds"] == 8 * D - 1
    lost = {x["days"]: x["sessions"] for x in arch["lost"]}
    assert lost == {1: 4, 2: 4, 3: 4, 4: 4, 5: 4, 6: 4, 7: 3, 8: 0}
    assert [d["bucket"] for d in arch["distribution"]][-1] == "7-8d"
    assert catchup.age_bucket_of(7 * D * 1000) == catchup.age_bucket_of((8 * D - 1) * 1000)


@pytest.mark.django_db
def test_programmes_split_over_several_pipelines_give_the_same_figures(monkeypatch):
    op = build("Asia/Kolkata")
    docs = make_world(op, seed=4)
    whole = catchup.compute(catchup.parse({"date_from": "2024-03-10", "date_to": "2024-03-12"}, [op.client_id]))
    monkeypatch.setattr(catchup, "PROGRAMME_CHUNK", 3)
    with store.examined() as meter:
        split = check(op, docs)
    assert split == whole
    in_period = sum(1 for d in docs if op.p0 <= d["start"] < op.p1)
    chunks = -(-whole["programmes_looked_up"] // 3)
    assert chunks > 3 and meter.total == in_period * (1 + chunks)


@pytest.mark.django_db
def test_documents_examined_are_the_periods_whatever_the_history():
    """Two passes over the period's index range; history outside it is never read."""
    op = build("Asia/Kolkata")
    docs = make_world(op, seed=11)
    params = {"date_from": "2024-03-10", "date_to": "2024-03-12"}
    in_period = sum(1 for d in docs if op.p0 <= d["start"] < op.p1)
    with store.examined() as meter:
        before = catchup.compute(catchup.parse(params, [op.client_id]))
    assert meter.total == 2 * in_period and not meter.ambiguous
    assert {c.index for c in meter.calls} == {"client_start_id"}
    # Double the history: sessions a year before and after the period.
    extra = [dict(d, _id=f"{d['_id']}:{shift}", start=d["start"] + timedelta(days=shift),
                  end=d["end"] + timedelta(days=shift)) for d in docs for shift in (-365, 365)]
    store.sessions().insert_many(extra)
    with store.examined() as meter:
        after = catchup.compute(catchup.parse(params, [op.client_id]))
    assert meter.total == 2 * in_period and after == before
    # A channel filter reads that channel's range only.
    channel = op.channels[0].id
    with store.examined() as meter:
        catchup.compute(catchup.parse({**params, "channel": str(channel)}, [op.client_id]))
    assert {c.index for c in meter.calls} == {"client_channel_start"}
    assert meter.total == 2 * sum(1 for d in docs if op.p0 <= d["start"] < op.p1 and d["channel_id"] == channel)


@pytest.mark.django_db
def test_nothing_to_report():
    op = build("UTC", channels=1)
    data = catchup.compute(catchup.parse({"date_from": "2024-03-10", "date_to": "2024-03-12"}, [op.client_id]))
    assert data["sessions"] == 0 and data["archive"]["sessions"] == 0 and data["channels"] == []
    assert data["archive"]["lost"] == [] and data["archive"]["depth_days"] == 0
    assert data["archive"]["within_1_day"]["share_watch_time"] is None
    assert [d["bucket"] for d in data["archive"]["distribution"]] == ["0-1h", "1-3h", "3-6h", "6-12h", "12-24h"]
    assert data["timeshift"]["distribution"] == [] and data["timeshift"]["max_hours"] is None


# ------------------------------------------------------------ parameters

@pytest.mark.django_db
def test_bad_parameters_name_themselves(operator, other_operator):
    cid = [operator.client.id]
    for params, name in (({"date_from": "2024-02-30"}, "date_from"), ({"date_to": "x"}, "date_to"),
                         ({"date_from": "2024-03-02", "date_to": "2024-03-01"}, "date_from"),
                         ({"date_from": "2022-01-01", "date_to": "2024-01-01"}, "date_from"),
                         ({"channel": "abc"}, "channel"), ({"channel": str(other_operator.channels[0].id)}, "channel"),
                         ({"from": "2024-03-01T00:00:00Z"}, "from"), ({"kind": "live"}, "kind"),
                         ({"device_type": "mag"}, "device_type")):
        with pytest.raises(catchup.FilterError) as info:
            catchup.parse(params, cid)
        assert str(info.value).startswith(f"{name}:"), (params, str(info.value))
    with pytest.raises(catchup.CatchupError, match="^client:"):
        catchup.parse({}, [operator.client.id, other_operator.client.id])


# -------------------------------------------------------- API, CSV, page

@pytest.fixture
def world(db, host_kind):
    op = build("Asia/Kolkata")
    other = build("Europe/Berlin", name="Beta Net")
    docs = make_world(op, seed=5, foreign_programme=next(iter(other.epg)))
    make_world(other, seed=6)
    return SimpleNamespace(op=op, other=other, docs=docs)


def world_params(op, **extra):
    return {"client": op.client_id, "date_from": op.first.isoformat(), "date_to": op.last.isoformat(), **extra}


def direct(op, **extra):
    return catchup.compute(catchup.parse({k: str(v) for k, v in world_params(op, **extra).items()},
                                         [op.client_id]))


@pytest.fixture
def root(client, db):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    return client


def test_api_answers_the_computed_figures_with_definitions(root, world):
    op = world.op
    r = root.get("/viewstats/api/catchup", world_params(op))
    assert r.status_code == 200
    body = r.json()
    assert body == json.loads(json.dumps(direct(op), default=str))
    assert body["zone"] == "Asia/Kolkata" and body["period"]["start"] == "2024-03-09T18:30:00+00:00"
    assert set(body["definitions"]) >= {"age", "lost", "not_in_epg", "timeshift", "depth", "before_air"}
    names = {r["channel"] for r in body["channels"]}
    assert {c.name for c in op.channels} <= names and not any(n.startswith("Beta Net") for n in names)
    one = root.get("/viewstats/api/catchup", world_params(op, channel=op.channels[0].id)).json()
    assert [r["channel_id"] for r in one["channels"]] == [op.channels[0].id]
    assert one["filters"] == {"channel": [op.channels[0].id]}


def test_api_refuses_bad_parameters_with_400(root, world):
    op = world.op
    for params, name in (({"channel": "x"}, "channel"), ({"channel": "999999"}, "channel"),
                         ({"date_from": "2024-13-01"}, "date_from"), ({"kind": "archive"}, "kind"),
                         ({"from": "2024-03-09T00:00:00Z"}, "from")):
        r = root.get("/viewstats/api/catchup", world_params(op, **params))
        assert r.status_code == 400 and r.json()["error"].startswith(f"{name}:"), (params, r.content)
    # A superuser naming no client has several operators: the report is per operator.
    r = root.get("/viewstats/api/catchup", {"date_from": "2024-03-10", "date_to": "2024-03-10"})
    assert r.status_code == 400 and r.json()["error"].startswith("client:")
    assert root.get("/viewstats/api/catchup.csv", world_params(op, channel="x")).status_code == 400


def test_csv_has_every_bucket_of_every_channel(root, world):
    op = world.op
    r = root.get("/viewstats/api/catchup.csv", world_params(op))
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(r.content.decode())))
    data = direct(op)
    assert list(lines[0]) == catchup.CSV_HEADER
    scopes = {line["channel"] for line in lines}
    assert scopes == {"all channels"} | {c["channel"] for c in data["channels"]}
    everything = [line for line in lines if line["channel"] == "all channels"]
    ages = [line for line in everything if line["section"] == "archive_age"]
    assert [line["bucket"] for line in ages] == [d["bucket"] for d in data["archive"]["distribution"]]
    assert sum(int(line["watch_time"]) for line in ages) + int(
        next(line for line in everything if line["section"] == "archive_before_air")["watch_time"]) == \
        data["archive"]["with_age"]["watch_time"]
    lost = [line for line in everything if line["section"] == "archive_lost"]
    assert len(lost) == data["archive"]["depth_days"]
    assert float(lost[6]["share_watch_time"]) == data["archive"]["lost"][6]["share_watch_time"]
    assert {line["section"] for line in everything} == {"archive", "archive_before_air", "archive_age",
                                                        "archive_not_in_epg", "archive_lost", "timeshift"}
    # A stream name could start a spreadsheet formula: nothing here does, but the writer guards it.
    assert not any(line["channel"].startswith("=") for line in lines)


def text_of(response):
    html = response.content.decode()
    html = re.sub(r"<script.*?</script>", "", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def chart_specs(response):
    html = response.content.decode()
    return json.loads(html.split('id="vs-chart-data" type="application/json">')[1].split("</script>")[0])


def test_page_shows_charts_tables_units_and_the_legend(root, world):
    op = world.op
    r = root.get("/viewstats/reports/catchup/", world_params(op))
    assert r.status_code == 200
    html, text = r.content.decode(), text_of(r)
    assert 'id="header"' in html and "errornote" not in html and "Time zone: Asia/Kolkata" in text
    data = direct(op)
    charts = chart_specs(r)
    assert [c["id"] for c in charts] == ["age", "lost", "timeshift"]
    age = charts[0]
    assert age["type"] == "bar" and age["labels"][:3] == ["before air time", "0–1 h", "1–3 h"]
    assert age["datasets"][0]["data"][1] == round(data["archive"]["distribution"][0]["watch_time"] / 3600, 2)
    assert charts[1]["labels"][0] == "1 day" and len(charts[1]["labels"]) == data["archive"]["depth_days"]
    assert charts[1]["datasets"][0]["data"] == [d["share_watch_time"] for d in data["archive"]["lost"]]
    # The per-channel table: names, hours, shares; a total row; links to the channel's own page.
    top = data["channels"][0]
    assert top["channel"] in text and f"?client={op.client_id}" in html and "All channels" in text
    for label in ("Archive sessions", "Archive watch time", "Share of archive", "Within 1 day", "Lost at 3 days",
                  "Lost at 7 days", "Deepest", "Not in the EPG", "Timeshift sessions", "Age when watched",
                  "Behind live", "Lost at N days", "Programme not in the EPG", "Before air time", "Depth",
                  "Timeshift", "Shares"):
        assert f"<dt>{label}</dt>" in html, label
    for preset in ("Today", "Yesterday", "Last 7 days", "Last 30 days", "This month", "Last month"):
        assert preset in text
    assert " h<" in html and " %<" in html and "days<" in html
    assert "{'" not in text and ">watch_time<" not in html and ">share_watch_time<" not in html
    assert 'href="/viewstats/api/catchup.csv?' in html and "Download CSV" in text
    # Every table cell is filled in: no None leaks into the page.
    assert ">None<" not in html
    # One channel's own page.
    r = root.get("/viewstats/reports/catchup/", world_params(op, channel=op.channels[2].id))
    assert f"Channel: {op.channels[2].name}" in text_of(r)
    assert op.channels[0].name not in re.sub(r"<select.*?</select>", "", r.content.decode(), flags=re.S)


def test_page_explains_bad_parameters_and_empty_periods(root, world):
    op = world.op
    r = root.get("/viewstats/reports/catchup/", world_params(op, channel="nonsense"))
    assert r.status_code == 200 and "errornote" in r.content.decode() and "channel:" in text_of(r)
    r = root.get("/viewstats/reports/catchup/", world_params(op, date_from="2024-13-01"))
    assert r.status_code == 200 and "date_from" in text_of(r)
    r = root.get("/viewstats/reports/catchup/", world_params(op, date_from="2023-01-01", date_to="2023-01-02"))
    assert r.status_code == 200 and "No sessions started in this period" in text_of(r)
    assert "The latest session started" in text_of(r) and "vs-chart-data" not in r.content.decode()
    # Live only: says there was no archive viewing and no timeshift.
    store.sessions().delete_many({"client_id": op.client_id, "$or": [{"kind": "archive"},
                                                                       {"timeshift_offset": {"$gt": 0}}]})
    r = root.get("/viewstats/reports/catchup/", world_params(op))
    assert "No archive or timeshift viewing in this period" in text_of(r)
    # Timeshift but no archive.
    store.sessions().insert_one(dict(session(op, 10 ** 6, op.channels[0].id, op.p0 + timedelta(hours=1), 600,
                                             timeshift=2)))
    r = root.get("/viewstats/reports/catchup/", world_params(op))
    assert "No archive (catch-up) viewing in this period" in text_of(r)
    assert [c["id"] for c in chart_specs(r)] == ["timeshift"]
    # Archive only of programmes the EPG does not have.
    store.sessions().insert_one(dict(session(op, 10 ** 6 + 1, op.channels[0].id, op.p0 + timedelta(hours=1), 600,
                                             kind="archive", program_id=10 ** 12)))
    r = root.get("/viewstats/reports/catchup/", world_params(op))
    assert "none of their programmes is in the EPG" in text_of(r)
    # An operator without any session at all.
    store.sessions().delete_many({"client_id": world.other.client_id})
    r = root.get("/viewstats/reports/catchup/", world_params(world.other))
    assert "No viewing data yet" in text_of(r)


def test_staff_of_another_operator_get_403(client, world):
    op, other = world.op, world.other
    user = User.objects.create_user("bob", password="pw", is_staff=True)
    current_builder().staff(user, other.client_id)
    client.force_login(user)
    for path in ("/viewstats/api/catchup", "/viewstats/api/catchup.csv", "/viewstats/reports/catchup/"):
        assert client.get(path, world_params(op)).status_code == 403, path
    # Their own operator is fine, and shows nothing of the other.
    r = client.get("/viewstats/api/catchup", world_params(other))
    assert r.status_code == 200 and r.json()["client_id"] == other.client_id
    assert not any(n["channel"].startswith("Gamma") for n in r.json()["channels"])
    page = client.get("/viewstats/reports/catchup/", {"date_from": "2024-03-10", "date_to": "2024-03-12"})
    assert page.status_code == 200 and b"Gamma TV" not in page.content and b"Beta Net ch1" in page.content
    client.logout()
    assert client.get("/viewstats/api/catchup", world_params(op)).status_code == 401
    assert client.get("/viewstats/reports/catchup/").status_code == 302  # to the admin login


def test_api_token_reads_its_own_operator(client, world):
    from viewstats.models import ApiToken
    user = User.objects.create_user("script", password="pw", is_staff=True)
    current_builder().staff(user, world.op.client_id)
    token = ApiToken.objects.create(user=user)
    r = client.get("/viewstats/api/catchup", world_params(world.op), HTTP_AUTHORIZATION=f"Token {token.key}")
    assert r.status_code == 200 and r.json()["archive"]["sessions"] == direct(world.op)["archive"]["sessions"]
    r = client.get("/viewstats/api/catchup", world_params(world.other), HTTP_AUTHORIZATION=f"Token {token.key}")
    assert r.status_code == 403


# ----------------------------------------------------------------- command

def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("viewstats_catchup", *args, stdout=out, stderr=err)
    return out.getvalue()


def test_command_prints_table_json_and_csv(world):
    op = world.op
    base = [f"--client={op.client_id}", "--date_from=2024-03-10", "--date_to=2024-03-12"]
    data = direct(op)
    table = run(*base)
    assert "Gamma TV" in table and "Asia/Kolkata" in table and "All channels" in table
    assert "0–1 h" in table and "lost if the archive were N days deep" in table and "Timeshift" in table
    assert data["channels"][0]["channel"] in table
    assert f"depth {data['archive']['depth_days']} day(s)" in table
    body = json.loads(run(*base, "--format=json"))
    assert body == json.loads(json.dumps(data, default=str))
    lines = list(csv.DictReader(io.StringIO(run(*base, "--format=csv", f"--channel={op.channels[1].id}"))))
    assert {line["channel"] for line in lines} == {"all channels", op.channels[1].name}
    assert f"Filters: channel={op.channels[1].id}" in run(*base, f"--channel={op.channels[1].id}")


@pytest.mark.parametrize("option, name", [
    ("--date_from=2024-02-30", "--date_from"), ("--date_to=2024-13-01", "--date_to"),
    ("--format=xml", "--format"), ("--channel=abc", "--channel"), ("--channel=987654321", "--channel"),
    ("--client=987654", "--client"),
])
def test_command_bad_options_exit_non_zero_naming_them(world, option, name):
    args = [option] if option.startswith("--client") else [f"--client={world.op.client_id}", option]
    with pytest.raises(CommandError) as info:
        run(*args)
    assert str(info.value).startswith(name + ":"), str(info.value)
    assert info.value.returncode == 1


def test_command_help_reads_like_docs():
    from viewstats.management.commands.viewstats_catchup import Command
    text = Command().create_parser("manage.py", "viewstats_catchup").format_help()
    for words in ("AGE", "LOST AT N DAYS", "TIMESHIFT", "not in the EPG", "--channel", "--date_from",
                  "--format", "Exit status", "12-24 h"):
        assert words in text, words


# ----------------------------------------------------------------- browser

def test_page_in_chromium_draws_every_chart_without_sideways_scrolling(chromium, live_server, settings, world,
                                                                      admin):
    """The page at 1,440 px: admin layout, the three charts drawn, no JS error, tables fit.

    The screenshot lands in test-output/catchup.png.
    """
    cookie, http = admin
    op = world.op
    path = "/viewstats/reports/catchup/?" + "&".join(f"{k}={v}" for k, v in world_params(op).items())
    seen, errors = load(chromium, live_server, settings, cookie, path, shot="catchup.png")
    check_layout(seen, errors)
    check_charts(seen, {"age", "lost", "timeshift"})
    data = direct(op)
    cards = dict(seen["cards"])
    assert cards["archive_sessions"] == str(data["archive"]["sessions"])
    assert cards["archive_watch_time"] == str(data["archive"]["watch_time"])
    assert seen["foot"][0][0] == "All channels"
    assert seen["foot"][0][1] == f"{data['archive']['sessions']:,}"
    # The narrow screen of a laptop: still no sideways scrolling of the page itself.
    seen, errors = load(chromium, live_server, settings, cookie, path + f"&channel={op.channels[0].id}")
    check_layout(seen, errors)
