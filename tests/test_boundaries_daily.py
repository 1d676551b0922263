"""Daily view time is the part of each session inside the local day; connections count by start.

Brute force from the definitions only: a session's [start, end) is walked
second by second and each second goes to the local date the operator's
clock shows for it; the average divides a day's seconds by the sessions
with at least one second in it. Operators in UTC, New York on both 2024 DST
days, Kolkata (+05:30) and Kathmandu (+05:45); sessions cross midnight and
end exactly on hour boundaries and at midnight.
"""
import random
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tests.test_mediaserver import ms, post
from viewstats import caching, store
from viewstats.documents import session_document
from viewstats.models import MediaServer
from viewstats.reports import daily

SEC, HOUR = timedelta(seconds=1), timedelta(hours=1)
CASES = [("UTC", date(2024, 3, 10)), ("America/New_York", date(2024, 3, 10)),
         ("America/New_York", date(2024, 11, 3)), ("Asia/Kolkata", date(2024, 3, 10)),
         ("Asia/Kathmandu", date(2024, 11, 3))]


def in_zone(operator, zone):
    operator.client.time_zone = zone
    operator.client.save()
    caching.clear_all()
    return operator


def generate(client_id, zone, day, seed, n=70):
    """Sessions around the local midnights that open and close `day`."""
    rnd = random.Random(seed)
    z = ZoneInfo(zone)
    midnights = [datetime(d.year, d.month, d.day, tzinfo=z).astimezone(timezone.utc)
                 for d in (day, day + timedelta(days=1))]
    docs = []
    for i in range(n):
        m = rnd.choice(midnights)
        start = m + rnd.randrange(-5 * 3600, 5 * 3600) * SEC
        kind = rnd.choice(["utc_hour", "local_hour", "midnight", "crossing", "zero", "any", "starts_at_midnight"])
        if kind == "utc_hour":  # ends exactly on a UTC hour
            end = start.replace(minute=0, second=0) + rnd.randrange(1, 4) * HOUR
        elif kind == "local_hour":  # ends exactly on a local clock hour (differs in Kolkata/Kathmandu)
            local = start.astimezone(z).replace(minute=0, second=0)
            end = (local + rnd.randrange(1, 4) * HOUR).astimezone(timezone.utc)
            end = max(end, start)
        elif kind == "midnight":
            start, end = m - rnd.randrange(1, 7200) * SEC, m
        elif kind == "crossing":
            start, end = m - rnd.randrange(1, 7200) * SEC, m + rnd.randrange(1, 7200) * SEC
        elif kind == "starts_at_midnight":
            start = m
            end = m + rnd.choice([0, 1, 3600, rnd.randrange(7200)]) * SEC
        elif kind == "zero":
            end = start = rnd.choice([m, start])
        else:
            end = start + rnd.randrange(0, 4 * 3600) * SEC
        source = rnd.choice(["device", "media_server"])
        extra = {"server_id": rnd.choice([1, 2])} if source == "media_server" else {}
        docs.append(session_document(
            _id=f"d:{client_id}:{seed}:{i}", client_id=client_id, source=source,
            protocol=rnd.choice(["hls", "dash"] if extra else ["push", "batch"]),
            start=start, end=end, channel_id=1, **extra))
    store.sessions().insert_many([dict(d) for d in docs])
    return docs


def brute(docs, zone, day):
    """{server: (connections, by protocol, total view seconds, average)} of local `day`."""
    z = ZoneInfo(zone)
    conn, proto = defaultdict(int), defaultdict(lambda: defaultdict(int))
    seconds, viewed = defaultdict(int), defaultdict(int)
    for d in docs:
        servers = [str(d.get("server_id") or "devices"), "all"]
        mine, t = 0, d["start"]
        while t < d["end"]:  # each second of [start, end) belongs to the date shown at its start
            step = min(60 * SEC, d["end"] - t)
            last = t + step - SEC
            if t.astimezone(z).date() == last.astimezone(z).date():
                # A run of seconds whose first and last show one date: all of them show it
                # (local dates only move forward within a minute).
                mine += int(step / SEC) * (t.astimezone(z).date() == day)
                t += step
            else:
                mine += t.astimezone(z).date() == day
                t += SEC
        for s in servers:
            if d["start"].astimezone(z).date() == day:
                conn[s] += 1
                proto[s][d["protocol"]] += 1
            seconds[s] += mine
            viewed[s] += mine > 0
    out = {s: (conn[s], dict(proto[s]), seconds[s], round(seconds[s] / viewed[s], 1) if viewed[s] else 0)
           for s in set(conn) | {s for s in seconds if seconds[s]}}
    out.setdefault("all", (0, {}, 0, 0))
    return out


def got(client_id, day):
    rows = [r for r in daily.report([client_id], day, day) if r["day"] == day.isoformat()]
    return {r["server"]: (r["connections"], r["connections_by_protocol"], r["total_view_time"],
                          r["avg_view_time"]) for r in rows}


@pytest.mark.django_db
@pytest.mark.parametrize("zone,day", CASES)
@pytest.mark.parametrize("seed", [1, 2])
def test_daily_view_time_is_the_part_inside_each_local_day(operator, other_operator, zone, day, seed):
    in_zone(operator, zone)
    docs = generate(operator.client.id, zone, day, seed)
    generate(other_operator.client.id, zone, day, seed + 50, n=20)  # another tenant's sessions
    for d in (day - timedelta(days=1), day, day + timedelta(days=1)):
        assert got(operator.client.id, d) == brute(docs, zone, d), d
    # Every second of viewing lands in exactly one day.
    total = sum(int((d["end"] - d["start"]).total_seconds()) for d in docs)
    days = [day + timedelta(days=i) for i in range(-1, 3)]
    assert sum(got(operator.client.id, d)["all"][2] for d in days) == total


@pytest.mark.django_db
def test_a_session_from_23_to_02_splits_its_time(operator):
    in_zone(operator, "Asia/Kathmandu")
    z = ZoneInfo("Asia/Kathmandu")
    start = datetime(2024, 3, 9, 23, tzinfo=z).astimezone(timezone.utc)
    store.sessions().insert_one(session_document(
        _id="s", client_id=operator.client.id, source="device", protocol="batch",
        start=start, end=start + 3 * HOUR, channel_id=1))
    first, second = got(operator.client.id, date(2024, 3, 9)), got(operator.client.id, date(2024, 3, 10))
    assert first["all"] == (1, {"batch": 1}, 3600, 3600.0)
    assert second["all"] == (0, {}, 7200, 7200.0)
    assert second["devices"] == (0, {}, 7200, 7200.0)


@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kathmandu"])
def test_mark_dirty_marks_every_day_a_session_has_a_part_in(operator, zone):
    in_zone(operator, zone)
    z = ZoneInfo(zone)
    cid = operator.client.id
    midnight = datetime(2024, 11, 4, tzinfo=z).astimezone(timezone.utc)

    def marked(start, end):
        store.collection(store.DAILY_DIRTY).delete_many({"client_id": cid})
        daily.mark_dirty(cid, start, end)
        return sorted(d["day"] for d in store.collection(store.DAILY_DIRTY).find({"client_id": cid}))
    assert marked(midnight - HOUR, midnight + SEC) == ["2024-11-03", "2024-11-04"]
    assert marked(midnight - HOUR, midnight) == ["2024-11-03"]  # no second in the 4th
    assert marked(midnight, midnight) == ["2024-11-04"]  # its connection
    assert marked(midnight - 30 * HOUR, midnight + HOUR) == ["2024-11-02", "2024-11-03", "2024-11-04"]


@pytest.mark.django_db
def test_a_resent_backlog_crossing_midnight_recomputes_both_days(client, operator):
    """A media server reports a session before local midnight, then its backlog after it."""
    zone = "Asia/Kathmandu"
    in_zone(operator, zone)
    server = MediaServer.objects.create(client_id=operator.client.id, name="edge-1")
    z = ZoneInfo(zone)
    day = datetime.now(z).date() - timedelta(days=3)
    midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), z).astimezone(timezone.utc)
    opened = midnight - 30 * 60 * SEC
    base = {"id": "late-1", "media": operator.channels[0].name, "ip": "10.0.0.9", "proto": "hls",
            "user_agent": "VLC/3.0.18", "opened_at": ms(opened)}
    events = [{**base, "event": "play_opened", "event_id": 1, "utc_ms": ms(opened)},
              {**base, "event": "play_updated", "event_id": 2, "utc_ms": ms(midnight - 600 * SEC)},
              {**base, "event": "play_updated", "event_id": 3, "utc_ms": ms(midnight + 1200 * SEC)},
              {**base, "event": "play_closed", "event_id": 4, "utc_ms": ms(midnight + 2400 * SEC)}]
    assert post(client, server, events[:2]).status_code == 200
    key = str(server.pk)
    assert got(operator.client.id, day)[key] == (1, {"hls": 1}, 1200, 1200.0)
    assert key not in got(operator.client.id, day + timedelta(days=1))
    assert post(client, server, events[2:]).status_code == 200
    dirty = {d["day"] for d in store.collection(store.DAILY_DIRTY).find({"client_id": operator.client.id})}
    assert dirty == {day.isoformat(), (day + timedelta(days=1)).isoformat()}
    assert got(operator.client.id, day)[key] == (1, {"hls": 1}, 1800, 1800.0)
    assert got(operator.client.id, day + timedelta(days=1))[key] == (0, {}, 2400, 2400.0)
    assert not list(store.collection(store.DAILY_DIRTY).find({"client_id": operator.client.id}))
