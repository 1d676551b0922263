"""Classification once per deployment: process cache, shared MongoDB cache,
deferred classification of never-seen strings, reclassification of stored sessions."""
import json
from datetime import datetime, timedelta, timezone
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings

from viewstats import origin, store
from viewstats.enrich import devices, uacache, uadb
from viewstats.models import MediaServer

MAG_UA = ("Mozilla/5.0 (QtEmbedded; U; Linux; C) AppleWebKit/533.3 (KHTML, like Gecko) "
          "MAG200 stbapp ver: 2 rev: 250 Safari/533.3")
# Known only to the device database: a no-name Android TV box by its model code.
BOX_UA = "Mozilla/5.0 (Linux; Android 9; Ugoos-AM3) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/94.0 Safari/537.36"
PUSH = "/viewstats/api/stat/push"
BATCH = "/viewstats/api/stat/batch"

needs_database = pytest.mark.skipif(not uadb.available(), reason="device-detector is not installed")


@pytest.fixture(autouse=True)
def _clean_cache():
    uacache.clear_local()
    yield
    uacache.drain(10)
    uacache.clear_local()


def now():
    return datetime.now(timezone.utc).replace(microsecond=0)


def iso(t):
    return t.isoformat().replace("+00:00", "Z")


def batch(client, op, key, ua, ident="a1", start=None):
    start = start or now() - timedelta(hours=2)
    items = [{"id": ident, "channel_id": op.channels[0].id, "start": iso(start),
              "end": iso(start + timedelta(minutes=10))}]
    return client.post(BATCH, data=json.dumps(items), content_type="application/json",
                       HTTP_AUTHORIZATION=f"Bearer {key}", HTTP_USER_AGENT=ua)


def test_hash_is_per_header_pair_and_ignores_surrounding_space():
    assert devices.ua_hash(MAG_UA) == devices.ua_hash(f"  {MAG_UA} ", None)
    assert devices.ua_hash(MAG_UA, "Model: MAG250") != devices.ua_hash(MAG_UA, "Model: MAG254")
    assert devices.ua_hash(MAG_UA) != devices.ua_hash(MAG_UA, "Model: MAG250")


def test_known_string_is_answered_from_the_process_cache():
    first = uacache.lookup(MAG_UA, "Model: MAG250; Link: WiFi")
    before = uacache.stats()
    second = uacache.lookup(MAG_UA, "Model: MAG250; Link: WiFi")
    after = uacache.stats()
    assert second is first
    assert (after["hits"] - before["hits"], after["misses"] - before["misses"]) == (1, 0)
    assert first.fields() == {"ua": {"type": "stb", "brand": "Infomir", "model": "MAG250", "os": "Linux",
                                     "app": "stbapp"}, "ua_hash": devices.ua_hash(MAG_UA, "Model: MAG250; Link: WiFi")}


def test_process_cache_is_bounded():
    with override_settings(VIEWSTATS_UA_LOCAL_CACHE_SIZE=16):
        for i in range(100):
            uacache.lookup(f"VLC/3.0.{i} LibVLC/3.0.{i}")
        assert uacache.stats()["size"] <= 16


def test_a_string_settled_by_our_rules_is_shared_at_once(monkeypatch):
    monkeypatch.setattr(store, "is_embedded", lambda: False)   # as with a MongoDB server
    entry = uacache.lookup(MAG_UA)
    uacache.flush_writes()
    doc = store.ua_cache_get(entry.key)
    assert doc["state"] == "done" and doc["ua"]["model"] == "MAG200" and doc["version"] == uacache.version()
    uacache.clear_local()   # another process: answered from MongoDB without classifying
    calls = devices.cache_info()["misses"]
    assert uacache.lookup(MAG_UA).ua == entry.ua
    assert uacache.stats()["shared_hits"] == 1 and devices.cache_info()["misses"] == calls


def test_an_entry_of_another_classifier_version_is_a_miss(monkeypatch):
    monkeypatch.setattr(store, "is_embedded", lambda: False)
    entry = uacache.lookup(MAG_UA)
    uacache.flush_writes()
    uacache.clear_local()
    monkeypatch.setattr(devices, "RULES_VERSION", devices.RULES_VERSION + 1)
    assert uacache.lookup(MAG_UA).ua == entry.ua
    uacache.flush_writes()
    assert store.ua_cache_get(entry.key)["version"] == uacache.version()
    assert uacache.stats()["shared_hits"] == 0


@needs_database
@override_settings(VIEWSTATS_UA_CLASSIFY="external")
def test_never_seen_string_gets_a_provisional_answer_and_waits():
    entry = uacache.lookup(BOX_UA)
    assert entry.pending and entry.fields()["ua_pending"] is True
    doc = store.ua_cache_get(entry.key)
    assert doc["state"] == "pending" and doc["user_agent"] == BOX_UA
    assert uacache.fill_pending(client_ids=[]) == (1, 0)
    full = store.ua_cache_get(entry.key)
    assert full["state"] == "done"
    assert (full["ua"]["type"], full["ua"]["brand"]) == ("stb", "Ugoos")
    assert uacache.lookup(BOX_UA).pending is False


@needs_database
@pytest.mark.django_db
@override_settings(VIEWSTATS_UA_CLASSIFY="external")
def test_sessions_waiting_for_a_string_are_filled(client, operator):
    key = operator.login(operator.accounts[0], "android_stb")
    assert batch(client, operator, key, BOX_UA).json()["accepted"] == 1
    (session,) = store.sessions().find({"client_id": operator.client.id})
    assert session["ua_pending"] is True and session["ua_hash"] == devices.ua_hash(BOX_UA)
    assert uacache.fill_pending(client_ids=[operator.client.id]) == (1, 1)
    (session,) = store.sessions().find({"client_id": operator.client.id})
    assert "ua_pending" not in session
    assert (session["ua"]["type"], session["ua"]["brand"]) == ("stb", "Ugoos")


@needs_database
@pytest.mark.django_db
@override_settings(VIEWSTATS_UA_CLASSIFY="external")
def test_a_session_stored_after_the_fill_is_caught_by_the_sweep(operator):
    entry = uacache.lookup(BOX_UA)
    uacache.fill_pending(client_ids=[])
    late = {"_id": "late-1", "client_id": operator.client.id, "received_at": now(), "start": now(),
            "end": now(), "user_agent": BOX_UA, "ua": entry.ua, "ua_hash": entry.key, "ua_pending": True}
    store.sessions().insert_one(late)
    assert uacache.sweep(now() - timedelta(minutes=5), client_ids=[operator.client.id]) == 1
    assert store.sessions().find_one({"_id": "late-1"})["ua"]["brand"] == "Ugoos"


@needs_database
@pytest.mark.django_db
def test_the_background_filler_completes_ingested_sessions(client, operator):
    key = operator.login(operator.accounts[0], "android_stb")
    assert batch(client, operator, key, BOX_UA).json()["accepted"] == 1
    assert uacache.drain(30)
    (session,) = store.sessions().find({"client_id": operator.client.id})
    assert "ua_pending" not in session and session["ua"]["brand"] == "Ugoos"


@override_settings(VIEWSTATS_UA_CLASSIFY="inline")
def test_inline_mode_answers_fully_in_the_request():
    entry = uacache.lookup(BOX_UA)
    assert not entry.pending and entry.ua == devices.classify(BOX_UA).as_dict()


def test_origin_carries_the_hash():
    class Request:
        META = {"HTTP_USER_AGENT": MAG_UA, "HTTP_X_USER_AGENT": "Model: MAG254; Link: Ethernet",
                "REMOTE_ADDR": "192.0.2.1"}
    found = origin.from_request(Request())
    fields = found.as_fields()
    assert fields["ua"]["model"] == "MAG254"
    assert fields["ua_hash"] == devices.ua_hash(MAG_UA, "Model: MAG254; Link: Ethernet")
    assert "ua_pending" not in fields


@pytest.mark.django_db
def test_media_server_sessions_carry_the_players_x_user_agent(client, operator):
    server = MediaServer.objects.create(client_id=operator.client.id, name="edge-1")
    t = int((now() - timedelta(hours=1)).timestamp() * 1000)
    events = [{"event": "play_opened", "event_id": 1, "id": "s1", "media": operator.channels[0].name,
               "ip": "192.0.2.7", "user_agent": MAG_UA, "x_user_agent": "Model: MAG322; Link: WiFi",
               "utc_ms": t, "opened_at": t},
              {"event": "play_closed", "event_id": 2, "id": "s2", "media": operator.channels[0].name,
               "ip": "192.0.2.8", "user_agent": MAG_UA, "headers": {"X-User-Agent": "Model: MAG424; Link: Ethernet"},
               "utc_ms": t + 60000, "opened_at": t}]
    r = client.post("/viewstats/api/mediaserver/events", data=json.dumps(events), content_type="application/json",
                    HTTP_AUTHORIZATION=f"Bearer {server.token}")
    assert r.status_code == 200 and r.json()["accepted"] == 2
    by_ip = {s["ip"]: s for s in store.sessions().find({"client_id": operator.client.id})}
    assert by_ip["192.0.2.7"]["x_user_agent"] == "Model: MAG322; Link: WiFi"
    assert by_ip["192.0.2.7"]["ua"]["model"] == "MAG322"
    assert by_ip["192.0.2.8"]["ua"]["model"] == "MAG424"
    assert by_ip["192.0.2.7"]["ua_hash"] == devices.ua_hash(MAG_UA, "Model: MAG322; Link: WiFi")


def _stale_sessions(op, count):
    docs = []
    for i in range(count):
        ua = MAG_UA if i % 2 else "Kodi/19.4 (Windows NT 10.0.19044; Win64; x64) App_Bitness/64"
        docs.append({"_id": f"old-{i:03d}", "client_id": op.client.id, "received_at": now(), "start": now(),
                     "end": now(), "user_agent": ua, "x_user_agent": None,
                     "ua": {"type": "other", "brand": "", "model": "", "os": "", "app": ""}})
    store.sessions().insert_many(docs)


@pytest.mark.django_db
def test_reclassify_command_refreshes_stored_sessions_in_resumable_batches(operator):
    _stale_sessions(operator, 7)
    out = StringIO()
    call_command("viewstats_reclassify_devices", "--batch-size", "3", "--max-batches", "1", stdout=out)
    assert "3 scanned, 3 changed" in out.getvalue() and "stopped (run again to resume)" in out.getvalue()
    assert store.sessions().count_documents({"client_id": operator.client.id, "ua.type": "other"}) == 4
    out = StringIO()
    call_command("viewstats_reclassify_devices", "--batch-size", "3", stdout=out)
    text = out.getvalue()
    assert "resumed from a checkpoint" in text and "7 sessions, 7 changed" in text
    types = {s["_id"]: s["ua"]["type"] for s in store.sessions().find({"client_id": operator.client.id})}
    assert set(types.values()) == {"stb", "desktop"}
    assert all(s.get("ua_hash") for s in store.sessions().find({"client_id": operator.client.id}))
    out = StringIO()
    call_command("viewstats_reclassify_devices", stdout=out)
    assert "7 sessions, 0 changed" in out.getvalue()


@pytest.mark.django_db
def test_reclassify_command_names_a_bad_option(operator):
    with pytest.raises(Exception) as err:
        call_command("viewstats_reclassify_devices", "--batch-size", "0")
    assert "--batch-size" in str(err.value)
    with pytest.raises(Exception) as err:
        call_command("viewstats_reclassify_devices", "--client", "999999")
    assert "--client" in str(err.value)
