"""A long media-server session fed in many batches ends as a recomputation from all its events.

The server sends a ten-hour play session a few events at a time, resends
some of them (the same event_id, sometimes with other content: still the
same event), holds some back and sends them later, and names an earlier
`opened_at` only near the end. After every batch the stored session must
equal what its accepted events give, worked out here from the module doc's
definitions alone, and what viewstats.mediaserver's own recomputation from
all stored events gives. In-order batches must not read the session's
earlier events at all.
"""
import random
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from viewstats import mediaserver, store
from viewstats.models import MediaServer

TEXT = ("media", "ip", "user_agent", "proto")
BUCKET = 300


@pytest.fixture
def server(operator):
    return MediaServer.objects.create(client_id=operator.client.id, name="edge-1")


def seconds(ms):
    return ms // 1000


def long_session(operator, seed, minutes=600):
    """The events of one play session, in the order the server saw them."""
    rnd = random.Random(seed)
    opened = (datetime.now(timezone.utc) - timedelta(days=2)).replace(microsecond=0)
    t = int(opened.timestamp() * 1000) + 1_200_000  # the first event comes 20 minutes after the open
    events, total = [], 0
    base = {"id": f"long-{seed}", "media": operator.channels[0].name, "ip": "10.0.0.1",
            "user_agent": "VLC/3.0.18", "proto": "HLS", "user_id": str(operator.accounts[0].id)}
    for n in range(1, minutes // 2):
        t += rnd.choice([0, 0, 400, 60_000, 120_000, 120_000, 180_000])  # some share a second
        event = {**base, "event": "play_updated" if n > 1 else "play_started", "event_id": n, "utc_ms": t}
        roll = 0 if n == 1 else rnd.random()  # bytes sent since the open: spread from the start
        if roll < 0.8:
            total += rnd.choice([0, 0, rnd.randrange(1, 3_000_000)]) if n > 1 else rnd.randrange(1, 3_000_000)
            event["bytes"] = total
        elif roll < 0.85:
            event["bytes"] = max(0, total - 1000)  # a smaller count than before: the maximum counts
        if rnd.random() < 0.05:  # the player moves, switches protocol or stream
            event.update(ip=f"10.0.0.{rnd.randrange(2, 9)}", proto=rnd.choice(["HLS", "dash"]),
                         media=rnd.choice(operator.channels[:3]).name)
            base = {**base, **{k: event[k] for k in TEXT}}
        if rnd.random() < 0.03:
            event["dvr"] = True
        events.append(event)
    events.append({**base, "event": "play_closed", "event_id": len(events) + 1, "utc_ms": t + 1000,
                   "closed_at": t + 1000, "bytes": total})
    # The open itself, with the session's real start: sent last of all.
    opened_event = {**base, "event": "play_opened", "event_id": len(events) + 1,
                    "utc_ms": int(opened.timestamp() * 1000), "opened_at": int(opened.timestamp() * 1000)}
    late_open = {**events[len(events) // 2], "event_id": len(events) + 2,
                 "opened_at": int(opened.timestamp() * 1000)}
    late_open.pop("bytes", None)
    return events, opened_event, late_open


def deliveries(events, opened_event, late_open, seed):
    """Batches: mostly in order, with resends, events held back, and the
    earlier open named late."""
    rnd = random.Random(seed)
    batches, held, i = [], [], 0
    while i < len(events):
        size = rnd.randrange(1, 9)
        batch = events[i:i + size]
        i += size
        if rnd.random() < 0.15 and len(batch) > 1:
            held.append(batch.pop(rnd.randrange(len(batch))))  # sent in a later batch
        if held and rnd.random() < 0.2:
            batch.append(held.pop(0))
        if batches and rnd.random() < 0.2:
            batch = rnd.choice(batches) + batch  # a resend of an earlier batch with the new events
        if batches and rnd.random() < 0.1:
            resent = dict(rnd.choice(batches[-1]))
            resent["bytes"] = (resent.get("bytes") or 0) + 10 ** 9  # same event_id: still the same event
            batch.append(resent)
        batches.append(batch)
        if len(batches) == len(events) // 12:
            batches.append([late_open])  # an earlier opened_at once traffic is spread
    batches.append(held + [opened_event])
    return batches


def recompute(accepted, received, channel_of):
    """The session from the module doc's definitions, over the accepted raw events."""
    evs = []
    for key, e in accepted.items():
        times = [e[f] for f in ("utc_ms", "opened_at", "closed_at") if e.get(f) is not None]
        evs.append({**e, "at": seconds(max(times)), "key": key})
    evs.sort(key=lambda e: (e["at"], len(e["key"]), e["key"]))  # ties: numeric ids in number order
    start = min([seconds(e["opened_at"]) for e in evs if e.get("opened_at")] + [e["at"] for e in evs])
    latest = {}
    for e in evs:
        latest.update({f: e[f] for f in TEXT if e.get(f)})
    buckets, prev_t, prev_b, running = Counter(), start, 0, 0
    for e in evs:
        if e.get("bytes") is None:
            continue
        t, running = e["at"], max(running, e["bytes"])
        delta = running - prev_b
        if delta <= 0:
            prev_t = max(prev_t, t)
            continue
        if t <= prev_t:
            buckets[t - t % BUCKET] += delta
        else:
            def upto(x):  # bytes of the increase sent by second x, spread evenly, rounded down
                return delta * (x - prev_t) // (t - prev_t)
            b = prev_t - prev_t % BUCKET
            while b < t:
                buckets[b] += upto(min(b + BUCKET, t)) - upto(max(b, prev_t))
                b += BUCKET
        prev_t, prev_b = t, running
    end = max(e["at"] for e in evs)
    utc = timezone.utc
    return {"start": datetime.fromtimestamp(start, utc), "end": datetime.fromtimestamp(end, utc),
            "duration": end - start, "bytes": running, "n_events": len(evs),
            "closed": any(e["event"] == "play_closed" for e in evs),
            "traffic": [{"t": datetime.fromtimestamp(k, utc), "bytes": v}
                        for k, v in sorted(buckets.items()) if v],
            "protocol": latest["proto"].lower(), "ip": latest["ip"], "user_agent": latest["user_agent"],
            "media": latest["media"], "channel_id": channel_of[latest["media"]],
            "kind": "archive" if any(e.get("dvr") for e in evs) else "live",
            "received_at": min(received[k] for k in accepted)}


def stored(operator):
    [doc] = store.sessions().find({"client_id": operator.client.id})
    return doc


def as_compared(doc):
    out = {k: doc[k] for k in ("start", "end", "duration", "bytes", "n_events", "closed", "protocol", "ip",
                               "user_agent", "media", "channel_id", "kind", "received_at")}
    out["traffic"] = [(b["t"], b["bytes"]) for b in doc["traffic"]]
    out["received_at"] = out["received_at"].replace(microsecond=out["received_at"].microsecond // 1000 * 1000)
    return out


RECOMPUTE = mediaserver._State.of  # taken before any test counts its calls


def full_recomputation(operator, server, key, now):
    events = list(store.collection(store.MEDIA_EVENTS).find(
        {"client_id": operator.client.id, "session_id": key}))
    return mediaserver.session_from_state(operator.client.id, server.pk, key, RECOMPUTE(events), now)


def without_rebuild_time(doc):
    return {k: v for k, v in doc.items() if k != "updated_at"}


@pytest.fixture
def full_reads(monkeypatch):
    """How many times a session is recomputed from all its events."""
    count = Counter()
    real = mediaserver._State.of.__func__

    def counting(cls, events):
        count["full"] += 1
        return real(cls, events)
    monkeypatch.setattr(mediaserver._State, "of", classmethod(counting))
    return count


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_long_session_in_many_batches_equals_its_recomputation(operator, server, seed, full_reads):
    events, opened_event, late_open = long_session(operator, seed)
    channel_of = {c.name: c.id for c in operator.channels}
    accepted, received = {}, {}
    now = datetime.fromtimestamp(events[-1]["utc_ms"] / 1000, timezone.utc) + timedelta(hours=1)
    batches = deliveries(events, opened_event, late_open, seed)
    key = f"m:{operator.client.id}:{server.pk}:long-{seed}"
    for n, batch in enumerate(batches):
        at = now + n * timedelta(seconds=7)
        result = mediaserver.ingest_events(server, batch, now=at)
        assert not result.rejected and not result.sessions_failed, result.as_dict()
        new = {str(e["event_id"]) for e in batch} - accepted.keys()
        assert result.accepted == len(new)
        for e in batch:
            if str(e["event_id"]) in new and str(e["event_id"]) not in accepted:
                accepted[str(e["event_id"])] = e
                received[str(e["event_id"])] = at
        doc = stored(operator)
        assert as_compared(doc) == as_compared(recompute(accepted, received, channel_of)), n
        whole = full_recomputation(operator, server, key, at)
        assert without_rebuild_time(doc) == without_rebuild_time(whole), n
    assert accepted.keys() == {str(e["event_id"]) for e in events + [opened_event, late_open]}
    assert not list(store.collection(store.MEDIA_EVENTS).find({"pending": True}))
    # Most batches took in only their own events.
    assert full_reads["full"] < len(batches) / 3


@pytest.mark.django_db
def test_batches_in_order_read_only_their_own_events(operator, server, full_reads, monkeypatch):
    events, _, _ = long_session(operator, 4, minutes=200)
    read = []
    real = mediaserver._events_find

    def recording(client_id, query, index):
        found = real(client_id, query, index)
        read.append(len(found))
        return found
    monkeypatch.setattr(mediaserver, "_events_find", recording)
    now = datetime.fromtimestamp(events[-1]["utc_ms"] / 1000, timezone.utc) + timedelta(hours=1)
    sizes, i = [], 0
    while i < len(events):
        size = 1 + i % 5
        mediaserver.ingest_events(server, events[i:i + size], now=now)
        sizes.append(len(events[i:i + size]))
        i += size
    assert full_reads["full"] == 1  # the first batch: there was no session yet
    assert read == [sizes[0], sizes[0]] + sizes[1:]  # pending, then all (the first); pending only after


@pytest.mark.django_db
def test_a_failed_update_is_repaired_by_the_next_batch_and_nothing_counts_twice(
        operator, server, monkeypatch):
    events, _, _ = long_session(operator, 5, minutes=120)
    channel_of = {c.name: c.id for c in operator.channels}
    now = datetime.fromtimestamp(events[-1]["utc_ms"] / 1000, timezone.utc) + timedelta(hours=1)
    third = len(events) // 3
    mediaserver.ingest_events(server, events[:third], now=now)
    real = mediaserver.host.viewer_for_token

    def broken(*args):
        raise RuntimeError("host lookup failed")
    monkeypatch.setattr(mediaserver.host, "viewer_for_token", broken)
    result = mediaserver.ingest_events(server, events[third:2 * third], now=now)
    assert result.accepted == third and len(result.sessions_failed) == 1
    monkeypatch.setattr(mediaserver.host, "viewer_for_token", real)
    # Events already in the session whose mark outlived a failure.
    applied = [f"{server.pk}:{e['event_id']}" for e in events[:3]]
    store.collection(store.MEDIA_EVENTS).update_many({"_id": {"$in": applied}}, {"$set": {"pending": True}})
    mediaserver.ingest_events(server, events[2 * third:], now=now)
    accepted = {str(e["event_id"]): e for e in events}
    want = recompute(accepted, dict.fromkeys(accepted, now), channel_of)
    assert as_compared(stored(operator)) == as_compared(want)
