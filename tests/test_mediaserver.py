"""Media-server event sink, and daily statistics with gap recovery, against brute force."""
import json
import random
from collections import defaultdict
from datetime import datetime, timedelta, timezone

import pytest

from viewstats import store
from viewstats.mediaserver import traffic_buckets
from viewstats.models import MediaServer
from viewstats.reports import counters, daily

HOST_KINDS = ("reference", "toy")  # the feature works the same on any host

URL = "/viewstats/api/mediaserver/events"


def post(client, server, events):
    return client.post(URL, data=json.dumps(events), content_type="application/json",
                       HTTP_AUTHORIZATION=f"Bearer {server.token}")


def ms(t):
    return int(t.timestamp() * 1000)


def simulate(op, server, seed, days=3, sessions=25):
    """Events of `sessions` play sessions per day on a 5-minute grid, and what they mean."""
    rnd = random.Random(seed)
    day0 = (datetime.now(timezone.utc) - timedelta(days=days + 1)).replace(
        hour=0, minute=0, second=0, microsecond=0)
    events, truth, next_id = [], [], [0]
    for d in range(days):
        for s in range(sessions):
            opened = day0 + timedelta(days=d, minutes=5 * rnd.randrange(288))
            steps = rnd.randrange(1, 8)
            proto = rnd.choice(["hls", "dash", "rtmp"])
            channel = rnd.choice(op.channels)
            sid = f"sess-{seed}-{d}-{s}"
            base = {"id": sid, "media": channel.name, "ip": f"10.1.0.{s}", "proto": proto,
                    "user_agent": "VLC/3.0.18", "token": "", "user_id": str(op.accounts[s % 4].id),
                    "opened_at": ms(opened), "server": "edge-1"}
            total, deltas = 0, []

            def event(name, at, **extra):
                next_id[0] += 1
                events.append({**base, "event": name, "event_id": next_id[0], "utc_ms": ms(at),
                               **extra})
            event("play_opened", opened, bytes=0)
            for k in range(1, steps + 1):
                grow = rnd.randrange(0, 5_000_000)
                deltas.append((opened + timedelta(minutes=5 * (k - 1)), grow))
                total += grow
                event("play_updated", opened + timedelta(minutes=5 * k), bytes=total)
            end = opened + timedelta(minutes=5 * steps)
            event("play_closed", end, bytes=total, closed_at=ms(end))
            truth.append({"start": opened, "end": end, "proto": proto, "bytes": total,
                          "deltas": deltas, "channel_id": channel.id,
                          "account_id": op.accounts[s % 4].id})
    return day0, events, truth


def brute_daily(truth, day):
    """The day's figures from their definitions (the operator is in UTC here).

    Connections count by start; view time is the part of each session's
    [start, end) inside the day, and the average divides it by the sessions
    with at least a second in the day.
    """
    d0, d1 = datetime.combine(day, datetime.min.time(), timezone.utc), None
    d1 = d0 + timedelta(days=1)
    started = [t for t in truth if d0 <= t["start"] < d1]
    inside = [(min(t["end"], d1) - max(t["start"], d0)).total_seconds() for t in truth]
    inside = [int(s) for s in inside if s > 0]
    buckets = defaultdict(int)
    for t in truth:
        for at, grow in t["deltas"]:
            if d0 <= at < d1:
                buckets[at] += grow
    by_proto = defaultdict(int)
    for t in started:
        by_proto[t["proto"]] += 1
    return {"connections": len(started), "connections_by_protocol": dict(by_proto),
            "traffic_bytes": sum(buckets.values()),
            "peak_out_bps": max(buckets.values(), default=0) * 8 // 300,
            "total_view_time": sum(inside),
            "avg_view_time": round(sum(inside) / len(inside), 1) if inside else 0}


def figures(row):
    return {k: row[k] for k in ("connections", "connections_by_protocol", "traffic_bytes",
                                "peak_out_bps", "total_view_time", "avg_view_time")}


@pytest.fixture
def server(operator):
    return MediaServer.objects.create(client_id=operator.client.id, name="edge-1")


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_backlog_resent_twice_keeps_daily_figures_exact(client, operator, server, seed):
    day0, events, truth = simulate(operator, server, seed)
    first_day_end = ms(day0 + timedelta(days=1))
    live = [e for e in events if e["utc_ms"] < first_day_end]
    backlog = [e for e in events if e["utc_ms"] >= first_day_end]
    assert post(client, server, live).status_code == 200
    days = [day0.date() + timedelta(days=i) for i in range(3)]
    daily.report([operator.client.id], days[0], days[-1])  # figures stored before the gap is filled
    rnd = random.Random(seed)
    for attempt in range(2):  # the server resends its whole buffer, twice, in another order
        shuffled = backlog[:]
        rnd.shuffle(shuffled)
        for i in range(0, len(shuffled), 50):
            r = post(client, server, shuffled[i:i + 50])
            assert r.status_code == 200
            if attempt == 1:
                assert r.json()["accepted"] == 0
    rows = daily.report([operator.client.id], days[0], days[-1])
    for day in days:
        want = brute_daily(truth, day)
        got = {r["server"]: r for r in rows if r["day"] == day.isoformat()}
        assert figures(got["all"]) == want, day
        assert figures(got[str(server.pk)]) == want, day
    # The session store agrees too: one session per play session, exact bytes.
    docs = list(store.sessions().find({"client_id": operator.client.id}))
    assert len(docs) == len(truth)
    assert sorted(d["bytes"] for d in docs) == sorted(t["bytes"] for t in truth)
    assert {d["source"] for d in docs} == {"media_server"}
    assert all(d["account_id"] is not None and d["channel_id"] is not None for d in docs)


@pytest.mark.django_db
def test_counters_traffic_matches_daily_buckets(client, operator, server):
    day0, events, truth = simulate(operator, server, 9, days=1, sessions=30)
    assert post(client, server, events).status_code == 200
    day = day0.date()
    data = counters.counters([operator.client.id], "traffic", day.year, day.month, day.day)["data"]
    expected = defaultdict(int)
    for t in truth:
        for at, grow in t["deltas"]:
            if at.date() == day:  # keyed by the UTC clock hour the bucket starts in
                expected[at.replace(minute=0).isoformat()] += grow
    assert {k: v for k, v in data.items() if v} == {k: v for k, v in expected.items() if v}


@pytest.mark.django_db
def test_events_are_validated_and_rejects_lose_nothing(client, operator, server):
    now = datetime.now(timezone.utc)
    good = {"event": "play_opened", "event_id": 1, "id": "s1", "media": operator.channels[0].name,
            "utc_ms": ms(now), "opened_at": int(now.timestamp()), "proto": "hls", "ip": "10.0.0.1"}
    bad = [{"event": "play_opened", "media": "x", "utc_ms": ms(now)},
           {**good, "event_id": 2, "event": None},
           {**good, "event_id": 3, "utc_ms": ms(now + timedelta(hours=2))},
           {**good, "event_id": 4, "bytes": -1},
           "not an object"]
    r = post(client, server, [good] + bad)
    body = r.json()
    assert r.status_code == 200 and body["accepted"] == 1
    assert [x["index"] for x in body["rejected"]] == [1, 2, 3, 4, 5]
    assert body["rejected"][0]["reasons"] == ["id: required (the play session id)"]
    [doc] = store.sessions().find()
    assert doc["start"] == now.replace(microsecond=0)  # opened_at in seconds, told by magnitude
    assert doc["channel_id"] == operator.channels[0].id and doc["protocol"] == "hls"
    assert post(client, server, [good]).json()["duplicates"] == ["1"]


@pytest.mark.django_db
def test_server_token_decides_the_client(client, operator, other_operator, server):
    now = datetime.now(timezone.utc)
    event = {"event": "play_opened", "event_id": 1, "id": "s1", "media": "x", "utc_ms": ms(now),
             "server": "other", "client_id": other_operator.client.id}
    assert client.post(URL, data=json.dumps([event]), content_type="application/json",
                       HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert post(client, server, [event]).status_code == 200
    [doc] = store.sessions().find()
    assert doc["client_id"] == operator.client.id and doc["channel_id"] is None
    assert doc["media"] == "x"
    assert client.post(URL, data="{", content_type="application/json",
                       HTTP_AUTHORIZATION=f"Bearer {server.token}").status_code == 400


def test_traffic_spread_is_exact_and_proportional():
    t0 = datetime(2024, 1, 1, 0, 4, tzinfo=timezone.utc)
    # 600 bytes over 00:04..00:14: 60 s in the first bucket, 300 in the next, 240 in the last.
    buckets = traffic_buckets(t0, [(t0 + timedelta(minutes=10), 600)])
    assert [(b["t"].minute, b["bytes"]) for b in buckets] == [(0, 60), (5, 300), (10, 240)]
    rnd = random.Random(4)
    for _ in range(50):
        points, total, at = [], 0, t0
        for _ in range(rnd.randrange(1, 6)):
            at += timedelta(seconds=rnd.randrange(0, 900))
            total += rnd.randrange(0, 10 ** 6)
            points.append((at, total))
        assert sum(b["bytes"] for b in traffic_buckets(t0, points)) == total
