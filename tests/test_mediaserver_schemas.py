"""Flussonic's own event-sink schema examples (2023 OpenAPI, 2025 Go model) through the sink.

The batches in tests/data/flussonic/ are built from each schema version's field examples (see
the README there): no `event_id`, the stream named `name` (2023) or not at all (2025), times in
seconds (2023) or float milliseconds (2025), other event types mixed in.
"""
import copy
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from viewstats import caching, store
from viewstats.models import MediaServer

HOST_KINDS = ("reference", "toy")  # the sink works the same on any host

URL = "/viewstats/api/mediaserver/events"
DATA = Path(__file__).parent / "data" / "flussonic"
TIME_FIELDS = ("utc_ms", "opened_at", "started_at", "updated_at", "closed_at")
SESSION = "61942414-8c15-4809-8bb6-adf1ae846027"  # session_generic.id example, both versions
# The instants of both versions' examples: opened_at, started_at, updated_at, closed_at.
OPENED, STARTED, UPDATED, CLOSED = 1637094994, 1637095014, 1637098611, 1637098821
PLAY = ("play_opened", "play_started", "play_updated", "play_closed")

VERSIONS = {
    "2023": {"file": "2023_openapi_play_session.json", "bytes": 1_920_000_000,
             "ignored": {"server_started": 1, "source_opened": 1, "stream_closed": 1,
                         "stream_opened": 1}},
    "2025": {"file": "2025_go_model_play_session.json", "bytes": 0,
             "ignored": {"ad_injected": 1, "presence_connected": 1}},
}


def post(client, server, events):
    return client.post(URL, data=json.dumps(events), content_type="application/json",
                       HTTP_AUTHORIZATION=f"Bearer {server.token}")


def examples(version):
    return json.loads((DATA / VERSIONS[version]["file"]).read_text())["events"]


def days_back():
    """Whole days that move the 2021 examples to two days ago (inside the accepted age)."""
    example = datetime.fromtimestamp(OPENED, timezone.utc)
    return (datetime.now(timezone.utc) - timedelta(days=2) - example).days


def moved(events, days):
    """The events with every time `days` later, each in its own unit (s or ms, int or float)."""
    out = copy.deepcopy(events)
    for e in out:
        for f in TIME_FIELDS:
            v = e.get(f)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                e[f] = v + days * (86_400_000 if v >= 10_000_000_000 else 86_400)
    return out


def in_unit(events, unit):
    """The events with every time in whole seconds or whole milliseconds (ints)."""
    out = copy.deepcopy(events)
    for e in out:
        for f in TIME_FIELDS:
            v = e.get(f)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                ms = round(v if v >= 10_000_000_000 else v * 1000)
                e[f] = ms if unit == "ms" else ms // 1000
    return out


def at(seconds, days):
    return datetime.fromtimestamp(seconds, timezone.utc) + timedelta(days=days)


def session_docs(operator):
    return sorted(store.sessions().find({"client_id": operator.client.id}), key=lambda d: d["_id"])


def comparable(doc, device_pending=False):
    """A session without what names its server or says when it was (re)built.

    With `device_pending` (the first build had its device details pending)
    they are left out too: the User-Agent filler may complete them (os,
    model) between two deliveries, which refines the device and counts
    nothing twice.
    """
    skip = {"_id", "server_id", "received_at", "updated_at"}
    if device_pending:
        skip |= {"ua", "ua_pending"}
    return {k: v for k, v in doc.items() if k not in skip}


def stored_events(operator):
    return list(store.collection(store.MEDIA_EVENTS).find({"client_id": operator.client.id}))


@pytest.fixture
def server(operator):
    return MediaServer.objects.create(client_id=operator.client.id, name="edge-1")


@pytest.fixture
def hockey1(operator):
    """The operator's channel that Flussonic streams as `hockey1` (the schemas' example name)."""
    channel_id = operator.builder.channel(operator.client.id, "hockey1", 77,
                                          (operator.categories[0].id,))
    caching.clear_all()  # channel lists are cached per process
    return channel_id


@pytest.mark.django_db
@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_schema_examples_build_one_session_and_a_resend_changes_nothing(
        client, operator, server, hockey1, version):
    days = days_back()
    batch = moved(examples(version), days)
    assert not any("event_id" in e or "media" in e for e in batch)  # as the schemas give them

    r = post(client, server, batch)
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["rejected"] == [] and body["duplicates"] == []
    assert body["accepted"] == 4 and body["sessions_updated"] == 1
    assert body["ignored"] == sum(VERSIONS[version]["ignored"].values())
    assert body["ignored_events"] == VERSIONS[version]["ignored"]

    [doc] = session_docs(operator)
    assert doc["_id"] == f"m:{operator.client.id}:{server.pk}:{SESSION}"
    assert doc["source"] == "media_server" and doc["server_id"] == server.pk
    assert doc["start"] == at(OPENED, days) and doc["end"] == at(CLOSED, days)
    assert doc["duration"] == CLOSED - OPENED
    assert doc["bytes"] == VERSIONS[version]["bytes"]
    assert sum(b["bytes"] for b in doc["traffic"]) == doc["bytes"]
    assert doc["protocol"] == "dash" and doc["ip"] == "172.16.25.73"
    assert doc["user_agent"].startswith("Mozilla/5.0 (Windows NT 6.1")
    assert doc["token"] == "zGAFxLkoWluO1pG7_nJmQAbCnM5"
    assert doc["closed"] is True and doc["n_events"] == 4
    if version == "2023":  # the stream is named by `name`, as in session objects
        assert doc["media"] == "hockey1" and doc["channel_id"] == hockey1
        assert doc["country"] == "US" and doc["user_id"] == "5435"
    else:  # the 2025 model's examples name no stream at all
        assert doc["media"] is None and doc["channel_id"] is None

    # Only the play events are kept, each under a key derived from session, event and time.
    kept = stored_events(operator)
    assert sorted(e["_id"] for e in kept) == sorted(
        f"{server.pk}:{SESSION}/{name}/{(t + days * 86_400) * 1000}"
        for name, t in zip(PLAY, (OPENED, STARTED, UPDATED, CLOSED)))

    # The server resends its buffer: every play event is a duplicate, nothing changes.
    again = post(client, server, batch)
    assert again.status_code == 200
    body = again.json()
    assert body["accepted"] == 0 and body["rejected"] == []
    assert sorted(body["duplicates"]) == sorted(e["_id"].split(":", 1)[1] for e in kept)
    assert body["ignored"] == sum(VERSIONS[version]["ignored"].values())
    [after] = session_docs(operator)
    pending = bool(doc.get("ua_pending"))
    assert comparable(after, pending) == comparable(doc, pending)
    assert len(stored_events(operator)) == 4


@pytest.mark.django_db
def test_media_names_the_stream_before_name(client, operator, server, hockey1):
    days = days_back()
    v2025 = [{**e, "media": "hockey1"} if e["event"] in PLAY else e
             for e in moved(examples("2025"), days)]
    v2023 = [{**e, "id": "other-session", "media": operator.channels[1].name}
             if e["event"] in PLAY else e for e in moved(examples("2023"), days)]
    assert post(client, server, v2025).json()["accepted"] == 4
    assert post(client, server, v2023).json()["accepted"] == 4
    docs = {d["_id"].rsplit(":", 1)[1]: d for d in session_docs(operator)}
    assert docs[SESSION]["channel_id"] == hockey1 and docs[SESSION]["media"] == "hockey1"
    other = docs["other-session"]
    assert other["channel_id"] == operator.channels[1].id
    assert other["media"] == operator.channels[1].name


@pytest.mark.django_db
@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_seconds_and_milliseconds_give_the_same_session(client, operator, version):
    days = days_back()
    batch = moved(examples(version), days)
    servers = {unit: MediaServer.objects.create(client_id=operator.client.id, name=f"edge-{unit}")
               for unit in ("as-published", "s", "ms")}
    for unit, server in servers.items():
        events = batch if unit == "as-published" else in_unit(batch, unit)
        body = post(client, server, events).json()
        assert body["accepted"] == 4 and body["rejected"] == [], (unit, body)
    docs = session_docs(operator)
    assert len(docs) == 3
    # The first delivery may find the User-Agent's device details still pending.
    pending = any(d.get("ua_pending") for d in docs)
    assert comparable(docs[0], pending) == comparable(docs[1], pending) == comparable(docs[2], pending)
    assert {d["start"] for d in docs} == {at(OPENED, days)}
    # The same events in the other unit are the same events: a resend either way is refused.
    for unit, server in servers.items():
        other = in_unit(batch, "ms" if unit == "s" else "s")
        body = post(client, server, other).json()
        assert body["accepted"] == 0 and len(body["duplicates"]) == 4, (unit, body)
    assert len(stored_events(operator)) == 12


@pytest.mark.django_db
def test_unknown_event_types_are_counted_and_ignored_malformed_ones_rejected(
        client, operator, server):
    now = datetime.now(timezone.utc) - timedelta(minutes=5)
    ms = int(now.timestamp() * 1000)
    play = {"event": "play_opened", "id": "s1", "media": operator.channels[0].name,
            "opened_at": ms, "utc_ms": ms}
    unknown = [{"event": "stream_started", "media": "hockey1", "utc_ms": ms},
               {"event": "source_connected", "id": "src", "utc_ms": ms},
               {"event": "play_denied", "id": "s1", "utc_ms": ms},  # a play_* type the sink does not use
               {"event": "webrtc_play_prober_timeout"},
               {"event": "source_connected", "utc_ms": "not even a time"}]
    malformed = [{"id": "s2", "utc_ms": ms},                      # no event type
                 {"event": 42, "id": "s2", "utc_ms": ms},
                 {"event": "", "id": "s2", "utc_ms": ms},
                 "not an object",
                 {"event": "play_updated", "media": "x", "utc_ms": ms},  # no session id
                 {"event": "play_closed", "id": "s3", "media": "x"},     # no time at all
                 {"event": "play_closed", "id": "s3", "media": 7, "utc_ms": ms}]
    batch = [play] + unknown + malformed
    r = post(client, server, batch)
    assert r.status_code == 200
    body = r.json()
    assert body["accepted"] == 1 and body["sessions_updated"] == 1
    assert body["ignored"] == 5
    assert body["ignored_events"] == {"play_denied": 1, "source_connected": 2,
                                      "stream_started": 1, "webrtc_play_prober_timeout": 1}
    rejected = {x["index"]: x["reasons"] for x in body["rejected"]}
    first = 1 + len(unknown)
    assert sorted(rejected) == list(range(first, len(batch)))
    assert all(reasons for reasons in rejected.values())
    assert all(rejected[first + i][0].startswith("event: expected an event type name")
               for i in range(3))
    assert rejected[first + 3] == ["event: expected a JSON object"]
    assert rejected[first + 4] == ["id: required (the play session id)"]
    assert rejected[first + 5][0].startswith("utc_ms: required")
    assert rejected[first + 6] == ["media: expected a string (the stream name)"]
    assert [e["event"] for e in stored_events(operator)] == ["play_opened"]


@pytest.mark.django_db
def test_event_id_still_keys_the_event_and_derived_keys_tell_events_apart(
        client, operator, server):
    now = datetime.now(timezone.utc) - timedelta(minutes=30)
    ms = int(now.timestamp() * 1000)
    base = {"id": "s1", "media": operator.channels[0].name, "opened_at": ms}
    with_id = [{**base, "event": "play_opened", "event_id": 1, "utc_ms": ms},
               {**base, "event": "play_updated", "event_id": 2, "utc_ms": ms + 60_000,
                "bytes": 1000}]
    assert post(client, server, with_id).json()["accepted"] == 2
    # The same event_id is the same event, whatever else it carries (the server's resend).
    resent = {**with_id[1], "utc_ms": ms + 120_000, "bytes": 5000}
    body = post(client, server, [resent]).json()
    assert body["accepted"] == 0 and body["duplicates"] == ["2"]
    assert {e["_id"] for e in stored_events(operator)} == {f"{server.pk}:1", f"{server.pk}:2"}
    # Without event_id: one key per session, event and time, to the millisecond.
    without = [{**base, "event": "play_updated", "updated_at": ms + 180_000, "bytes": 2000},
               {**base, "event": "play_updated", "updated_at": ms + 180_001, "bytes": 2100},
               {**base, "event": "play_closed", "updated_at": ms + 180_000,
                "closed_at": ms + 180_000, "bytes": 2100},
               {**base, "id": "s2", "event": "play_updated", "updated_at": ms + 180_000}]
    body = post(client, server, without).json()
    assert body["accepted"] == 4 and body["duplicates"] == []
    body = post(client, server, without).json()
    assert body["accepted"] == 0 and body["duplicates"] == [
        f"s1/play_updated/{ms + 180_000}", f"s1/play_updated/{ms + 180_001}",
        f"s1/play_closed/{ms + 180_000}", f"s2/play_updated/{ms + 180_000}"]
    [s1] = [d for d in session_docs(operator) if d["_id"].endswith(":s1")]
    assert s1["bytes"] == 2100 and s1["closed"] is True and s1["n_events"] == 5
