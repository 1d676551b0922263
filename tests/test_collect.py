"""Collection over HTTP: Smarty's stat/push and the batch API."""
import json
from datetime import datetime, timedelta, timezone

import pytest
from django.test import override_settings
from pymongo.errors import ServerSelectionTimeoutError

from viewstats import caching, store

HOST_KINDS = ("reference", "toy")  # collection works the same on any host

MAG_UA = ("Mozilla/5.0 (QtEmbedded; U; Linux; C) AppleWebKit/533.3 (KHTML, like Gecko) "
          "MAG200 stbapp ver: 2 rev: 250 Safari/533.3")
PUSH = "/viewstats/api/stat/push"
BATCH = "/viewstats/api/stat/batch"


def now():
    return datetime.now(timezone.utc).replace(microsecond=0)


def iso(t):
    return t.isoformat().replace("+00:00", "Z")


def push(client, op, authkey, at=None, monkeypatch=None, **params):
    query = {"authkey": authkey, "client_id": op.client.id, "channel_id": op.channels[0].id,
             "channel_session": 1, **params}
    query = {k: v for k, v in query.items() if v is not None}
    if at is not None:
        monkeypatch.setattr("viewstats.push.utcnow", lambda: at)
    return client.get(PUSH, query, HTTP_USER_AGENT=MAG_UA, HTTP_X_USER_AGENT="Model: MAG250; Link: WiFi")


def post_batch(client, authkey, items, **extra):
    return client.post(BATCH, data=json.dumps(items), content_type="application/json",
                       HTTP_AUTHORIZATION=f"Bearer {authkey}", **extra)


def all_sessions(**filter):
    return list(store.sessions().find(filter).sort("start", 1))


# --- stat/push ---------------------------------------------------------------

@pytest.mark.django_db
class TestPush:
    def test_first_push_opens_an_enriched_session(self, client, operator):
        acc = operator.accounts[1]
        key = operator.login(acc, "mag")
        r = push(client, operator, key)
        assert r.json() == {"error": 0, "error_message": ""}
        [s] = all_sessions()
        assert s["client_id"] == operator.client.id
        assert (s["account_id"], s["customer_id"]) == (acc.id, acc.customer_id)
        assert s["tariff_ids"] == [operator.tariffs[1].id]
        assert s["device_type"] == "mag"
        assert s["channel_id"] == operator.channels[0].id
        assert s["kind"] == "live" and s["source"] == "device" and s["protocol"] == "push"
        assert s["program_id"] is not None  # the programme on air now
        assert s["ua"]["type"] == "stb" and s["ua"]["model"] == "MAG250"
        assert s["country"] == "unknown"  # no GeoIP database configured
        assert s["ip"] == "127.0.0.1"
        assert s["duration"] == 0

    def test_heartbeats_grow_one_session(self, client, operator, monkeypatch):
        key = operator.login(operator.accounts[0])
        t0 = now()
        for offset in (0, 60, 120, 180):
            assert push(client, operator, key, at=t0 + timedelta(seconds=offset),
                        monkeypatch=monkeypatch).json()["error"] == 0
        [s] = all_sessions()
        assert s["start"] == t0 and s["end"] == t0 + timedelta(seconds=180)
        assert s["duration"] == 180

    def test_retried_push_counts_nothing_twice(self, client, operator, monkeypatch):
        key = operator.login(operator.accounts[0])
        t0 = now()
        for offset in (0, 60, 60, 60, 30):  # retries and a late, reordered duplicate
            push(client, operator, key, at=t0 + timedelta(seconds=offset), monkeypatch=monkeypatch)
        [s] = all_sessions()
        assert s["duration"] == 60

    def test_gap_longer_than_timeout_opens_new_segment(self, client, operator, monkeypatch):
        key = operator.login(operator.accounts[0])
        t0 = now()
        for offset in (0, 60, 60 + 181, 60 + 181 + 60):
            push(client, operator, key, at=t0 + timedelta(seconds=offset), monkeypatch=monkeypatch)
        first, second = all_sessions()
        assert first["duration"] == 60 and second["duration"] == 60
        assert second["start"] == t0 + timedelta(seconds=241)

    def test_channel_switch_closes_previous_session_at_switch_time(self, client, operator, monkeypatch):
        key = operator.login(operator.accounts[0])
        t0 = now()
        push(client, operator, key, at=t0, monkeypatch=monkeypatch)
        push(client, operator, key, at=t0 + timedelta(seconds=60), monkeypatch=monkeypatch)
        push(client, operator, key, at=t0 + timedelta(seconds=100), monkeypatch=monkeypatch,
             channel_id=operator.channels[1].id, channel_session=2,
             previous_channel_id=operator.channels[0].id)
        first, second = all_sessions()
        assert first["channel_id"] == operator.channels[0].id and first["duration"] == 100
        assert second["channel_id"] == operator.channels[1].id and second["duration"] == 0
        assert second["previous_channel_id"] == operator.channels[0].id

    def test_late_retry_of_the_previous_channel_changes_nothing(self, client, operator, monkeypatch):
        key = operator.login(operator.accounts[0])
        t0 = now()
        a, b = operator.channels[0].id, operator.channels[1].id
        for offset, channel, cs in ((0, a, 1), (60, b, 2), (61, a, 1), (120, b, 2), (180, b, 2)):
            push(client, operator, key, at=t0 + timedelta(seconds=offset), monkeypatch=monkeypatch,
                 channel_id=channel, channel_session=cs)
        first, second = all_sessions()
        assert (first["channel_id"], first["duration"]) == (a, 60)
        assert (second["channel_id"], second["duration"]) == (b, 120)

    def test_switch_after_timeout_leaves_previous_session_alone(self, client, operator, monkeypatch):
        key = operator.login(operator.accounts[0])
        t0 = now()
        push(client, operator, key, at=t0, monkeypatch=monkeypatch)
        push(client, operator, key, at=t0 + timedelta(seconds=500), monkeypatch=monkeypatch,
             channel_id=operator.channels[1].id, channel_session=2)
        first, _ = all_sessions()
        assert first["duration"] == 0

    def test_two_devices_of_one_account_keep_separate_sessions(self, client, operator, monkeypatch):
        acc = operator.accounts[0]
        k1, k2 = operator.login(acc, "mag"), operator.login(acc, "ios")
        t0 = now()
        push(client, operator, k1, at=t0, monkeypatch=monkeypatch)
        push(client, operator, k2, at=t0 + timedelta(seconds=30), monkeypatch=monkeypatch)
        push(client, operator, k1, at=t0 + timedelta(seconds=60), monkeypatch=monkeypatch)
        sessions = all_sessions()
        assert sorted((s["device_type"], s["duration"]) for s in sessions) == [("ios", 0), ("mag", 60)]

    def test_pvr_push_is_archive_viewing_of_the_programme(self, client, operator):
        prog = operator.first_programme(operator.channels[2])
        key = operator.login(operator.accounts[0])
        r = push(client, operator, key, channel_id=operator.channels[2].id, program_id=prog.id, type="pvr")
        assert r.json()["error"] == 0
        [s] = all_sessions()
        assert (s["kind"], s["program_id"]) == ("archive", prog.id)

    @pytest.mark.parametrize("params, needle", [
        ({"channel_id": None}, "channel_id is required"),
        ({"channel_session": None}, "channel_session is required"),
        ({"channel_session": "abc"}, "channel_session must be a number"),
        ({"type": "vod"}, "type must be live or pvr"),
        ({"timeshift_offset": "-2"}, "timeshift_offset must be >= 0"),
        ({"authkey": None}, "authkey is required"),
        ({"authkey": "nope"}, "authkey is unknown"),
        ({"client_id": None}, "client_id is required"),
        ({"device": "pc"}, "does not match the device type"),
        ({"channel_id": 999999}, "is not a channel of this client"),
        ({"program_id": 999999}, "is not a programme of channel"),
    ])
    def test_bad_parameters_answer_error_1_and_store_nothing(self, client, operator, params, needle):
        params = dict(params)  # the parametrized dict is shared by both hosts' runs
        key = operator.login(operator.accounts[0])
        body = push(client, operator, params.pop("authkey", key), **params).json()
        assert body["error"] == 1 and needle in body["error_message"]
        assert all_sessions() == []

    def test_client_id_must_match_the_authkey(self, client, operator, other_operator):
        key = operator.login(operator.accounts[0])
        body = push(client, operator, key, client_id=other_operator.client.id).json()
        assert body["error"] == 1 and "does not match" in body["error_message"]
        # and another client's channel cannot be written with one's own key
        body = push(client, operator, key, channel_id=other_operator.channels[0].id).json()
        assert body["error"] == 1
        assert all_sessions() == []

    def test_disabled_collection_answers_error_3(self, client, operator):
        key = operator.login(operator.accounts[0], "tizen_tv")
        operator.set_collection("tizen_tv", False)
        body = push(client, operator, key).json()
        assert body["error"] == 3 and "Enable statistical data collection" in body["error_message"]
        assert all_sessions() == []

    def test_store_unreachable_answers_error_2(self, client, operator, monkeypatch):
        key = operator.login(operator.accounts[0])

        class Down:
            def __getattr__(self, name):
                def fail(*a, **k):
                    raise ServerSelectionTimeoutError("no servers")
                return fail
        monkeypatch.setattr(store, "sessions", lambda: Down())
        body = push(client, operator, key).json()
        assert body["error"] == 2 and "unreachable" in body["error_message"]

    @override_settings(VIEWSTATS_MAX_SESSIONS_PER_ACCOUNT_DAY=2)
    def test_record_limit_answers_error_4(self, client, operator):
        key = operator.login(operator.accounts[0])
        codes = [push(client, operator, key, channel_session=n).json()["error"] for n in (1, 2, 3)]
        assert codes == [0, 0, 4]
        assert len(all_sessions()) == 2
        # heartbeats of an open session still count after the limit
        assert push(client, operator, key, channel_session=2).json()["error"] == 0

    def test_xml_response(self, client, operator):
        key = operator.login(operator.accounts[0])
        r = push(client, operator, key, format="xml")
        assert r["Content-Type"] == "application/xml"
        assert b"<error>0</error>" in r.content


# --- batch -------------------------------------------------------------------

def interval(op, ident, start, minutes=30, **extra):
    item = {"id": ident, "channel_id": op.channels[0].id, "start": iso(start),
            "end": iso(start + timedelta(minutes=minutes))}
    item.update(extra)
    return item


@pytest.mark.django_db
class TestBatch:
    def test_valid_batch_is_stored_with_context(self, client, operator):
        acc = operator.accounts[0]
        key = operator.login(acc, "android_stb")
        t = now() - timedelta(hours=3)
        items = [interval(operator, "a1", t), interval(operator, "a2", t + timedelta(hours=1), minutes=5)]
        r = post_batch(client, key, items, HTTP_USER_AGENT="TiviMate/4.7.0 (Linux; Android 11; AFTKA)")
        assert r.status_code == 200
        assert r.json() == {"accepted": 2, "accepted_ids": ["a1", "a2"], "duplicates": [], "rejected": []}
        s1, s2 = all_sessions()
        assert s1["duration"] == 1800 and s2["duration"] == 300
        assert s1["protocol"] == "batch" and s1["account_id"] == acc.id
        assert s1["device_type"] == "android_stb"
        assert s1["program_id"] is not None

    def test_same_batch_three_times_is_stored_once(self, client, operator):
        key = operator.login(operator.accounts[0])
        t = now() - timedelta(hours=2)
        items = [interval(operator, f"id-{i}", t + timedelta(minutes=10 * i), minutes=5) for i in range(5)]
        first = post_batch(client, key, items).json()
        second = post_batch(client, key, items).json()
        third = post_batch(client, key, items).json()
        assert first["accepted"] == 5
        assert second["accepted"] == third["accepted"] == 0
        assert sorted(third["duplicates"]) == [f"id-{i}" for i in range(5)]
        assert len(all_sessions()) == 5
        assert sum(s["duration"] for s in all_sessions()) == 5 * 300

    def test_duplicate_id_inside_one_batch(self, client, operator):
        key = operator.login(operator.accounts[0])
        t = now() - timedelta(hours=2)
        body = post_batch(client, key, [interval(operator, "x", t), interval(operator, "x", t)]).json()
        assert body["accepted_ids"] == ["x"] and body["duplicates"] == ["x"]

    def test_bad_items_are_reported_and_good_ones_stored(self, client, operator, other_operator):
        key = operator.login(operator.accounts[0])
        t = now() - timedelta(hours=2)
        foreign_prog = operator.first_programme(operator.channels[1])
        items = [
            interval(operator, "good-1", t),
            {"id": "no-channel", "start": iso(t), "end": iso(t + timedelta(minutes=1))},
            interval(operator, "foreign", t, channel_id=other_operator.channels[0].id),
            interval(operator, "backwards", t, minutes=-5),
            interval(operator, "future", now() + timedelta(hours=1)),
            interval(operator, "ancient", now() - timedelta(days=60)),
            {"id": "naive", "channel_id": operator.channels[0].id, "start": "2026-01-01T10:00:00",
             "end": iso(t)},
            interval(operator, "bad-type", t, type="vod"),
            interval(operator, "wrong-prog", t, program_id=foreign_prog.id),
            interval(operator, "archive-no-prog", t, type="archive"),
            interval(operator, "other-client", t, client_id=other_operator.client.id),
            "not an object",
            {"channel_id": operator.channels[0].id, "start": iso(t), "end": iso(t)},
            interval(operator, "too-long", t, minutes=25 * 60),
            interval(operator, "good-2", t, type="archive",
                     program_id=operator.first_programme(operator.channels[0]).id),
        ]
        r = post_batch(client, key, items)
        assert r.status_code == 200
        body = r.json()
        assert body["accepted_ids"] == ["good-1", "good-2"]
        rejected = {rej["index"]: rej for rej in body["rejected"]}
        expected = {
            1: "channel_id: required", 2: "is not a channel of this client", 3: "end: before start",
            4: "end: in the future", 5: "start: older than 30 days", 6: "has no UTC offset",
            7: "type: expected live or archive", 8: "is not a programme of channel",
            9: "program_id: required for archive", 10: "client_id: does not match",
            11: "item: expected a JSON object", 12: "id: required", 13: "longer than 24 hours",
        }
        assert set(rejected) == set(expected)
        for index, needle in expected.items():
            assert any(needle in reason for reason in rejected[index]["reasons"]), (index, rejected[index])
        assert rejected[2]["id"] == "foreign"
        assert {s["_id"].rsplit(":", 1)[1] for s in all_sessions()} == {"good-1", "good-2"}

    def test_unix_seconds_and_milliseconds(self, client, operator):
        key = operator.login(operator.accounts[0])
        t = now() - timedelta(hours=1)
        items = [{"id": "s", "channel_id": operator.channels[0].id, "start": int(t.timestamp()),
                  "end": int(t.timestamp()) + 60},
                 {"id": "ms", "channel_id": operator.channels[0].id, "start": int(t.timestamp() * 1000),
                  "end": int(t.timestamp() * 1000) + 90_000}]
        assert post_batch(client, key, items).json()["accepted"] == 2
        assert sorted(s["duration"] for s in all_sessions()) == [60, 90]

    def test_unauthenticated(self, client, operator):
        r = client.post(BATCH, data="[]", content_type="application/json")
        assert r.status_code == 401 and "authkey" in r.json()["error"]
        assert post_batch(client, "wrong", []).status_code == 401

    def test_collection_disabled(self, client, operator):
        key = operator.login(operator.accounts[0], "lg_webos")
        operator.set_collection("lg_webos", False)
        r = post_batch(client, key, [interval(operator, "a", now() - timedelta(hours=1))])
        assert r.status_code == 403
        assert "Enable statistical data collection" in r.json()["error"] and "lg_webos" in r.json()["error"]
        assert all_sessions() == []

    def test_checkbox_takes_effect_after_the_host_cache(self, client, operator):
        key = operator.login(operator.accounts[0], "lg_webos")
        item = interval(operator, "a", now() - timedelta(hours=1))
        operator.set_collection("lg_webos", False)
        assert post_batch(client, key, [item]).status_code == 403
        operator.set_collection("lg_webos", True)
        caching.clear_all()  # what VIEWSTATS_HOST_CACHE_SECONDS does on its own
        assert post_batch(client, key, [item]).json()["accepted"] == 1

    def test_client_id_query_must_match(self, client, operator, other_operator):
        key = operator.login(operator.accounts[0])
        r = client.post(f"{BATCH}?client_id={other_operator.client.id}", data="[]",
                        content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}")
        assert r.status_code == 403

    def test_wrong_content_type(self, client, operator):
        key = operator.login(operator.accounts[0])
        r = client.post(BATCH, data="[]", content_type="text/plain", HTTP_AUTHORIZATION=f"Bearer {key}")
        assert r.status_code == 415

    @pytest.mark.parametrize("body, needle", [("[{", "malformed JSON"), ('{"id": 1}', "JSON array")])
    def test_malformed_body(self, client, operator, body, needle):
        key = operator.login(operator.accounts[0])
        r = client.post(BATCH, data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}")
        assert r.status_code == 400 and needle in r.json()["error"]

    @override_settings(VIEWSTATS_BATCH_MAX_BYTES=500)
    def test_too_large(self, client, operator):
        key = operator.login(operator.accounts[0])
        t = now() - timedelta(hours=1)
        r = post_batch(client, key, [interval(operator, f"i{i}", t) for i in range(20)])
        assert r.status_code == 413 and all_sessions() == []

    @override_settings(VIEWSTATS_BATCH_MAX_ITEMS=3)
    def test_too_many_items(self, client, operator):
        key = operator.login(operator.accounts[0])
        t = now() - timedelta(hours=1)
        assert post_batch(client, key, [interval(operator, f"i{i}", t) for i in range(4)]).status_code == 413

    @override_settings(VIEWSTATS_MAX_SESSIONS_PER_ACCOUNT_DAY=3)
    def test_record_limit_rejects_overflow_only(self, client, operator):
        key = operator.login(operator.accounts[0])
        t = now().replace(hour=0, minute=0) + timedelta(minutes=5)
        if t > now():
            t -= timedelta(days=1)
        body = post_batch(client, key, [interval(operator, f"i{i}", t, minutes=1) for i in range(5)]).json()
        assert body["accepted"] == 3
        assert [r["index"] for r in body["rejected"]] == [3, 4]
        assert "limit" in body["rejected"][0]["reasons"][0]

    def test_store_unreachable_is_503_and_resend_works(self, client, operator, monkeypatch):
        key = operator.login(operator.accounts[0])
        item = interval(operator, "a", now() - timedelta(hours=1))
        real = store.sessions

        class Down:
            def __getattr__(self, name):
                def fail(*a, **k):
                    raise ServerSelectionTimeoutError("down")
                return fail
        monkeypatch.setattr(store, "sessions", lambda: Down())
        assert post_batch(client, key, [item]).status_code == 503
        monkeypatch.setattr(store, "sessions", real)
        assert post_batch(client, key, [item]).json()["accepted"] == 1


@pytest.mark.django_db
class TestTenantsAndOrigin:
    def test_each_client_writes_only_its_own_sessions(self, client, operator, other_operator):
        t = now() - timedelta(hours=1)
        ka = operator.login(operator.accounts[0])
        kb = other_operator.login(other_operator.accounts[0])
        post_batch(client, ka, [interval(operator, "same-id", t)])
        post_batch(client, kb, [interval(other_operator, "same-id", t)])
        # B cannot write onto A's channel even with a valid id
        body = post_batch(client, kb, [interval(operator, "x", t)]).json()
        assert body["accepted"] == 0
        a = all_sessions(client_id=operator.client.id)
        b = all_sessions(client_id=other_operator.client.id)
        assert len(a) == len(b) == 1
        assert a[0]["account_id"] == operator.accounts[0].id
        assert b[0]["channel_id"] == other_operator.channels[0].id

    @override_settings(VIEWSTATS_TRUSTED_PROXIES=["10.0.0.1"])
    def test_forwarded_for_only_from_trusted_proxy(self, client, operator):
        key = operator.login(operator.accounts[0])
        t = now() - timedelta(hours=1)
        post_batch(client, key, [interval(operator, "p", t)], REMOTE_ADDR="10.0.0.1",
                   HTTP_X_FORWARDED_FOR="203.0.113.9, 10.0.0.1")
        post_batch(client, key, [interval(operator, "q", t)], REMOTE_ADDR="198.51.100.7",
                   HTTP_X_FORWARDED_FOR="203.0.113.9")
        ips = {s["_id"][-1]: s["ip"] for s in all_sessions()}
        assert ips == {"p": "203.0.113.9", "q": "198.51.100.7"}

    def test_country_from_geoip_database(self, client, operator, tmp_path, settings):
        from tests.mmdb_factory import build_country_db
        from viewstats.enrich import geo

        settings.VIEWSTATS_GEOIP_PATH = build_country_db(str(tmp_path / "c.mmdb"),
                                                         {"81.2.69.0/24": "GB"})
        geo.reset()
        try:
            key = operator.login(operator.accounts[0])
            t = now() - timedelta(hours=1)
            post_batch(client, key, [interval(operator, "gb", t)], REMOTE_ADDR="81.2.69.160")
            post_batch(client, key, [interval(operator, "xx", t)], REMOTE_ADDR="8.8.8.8")
            countries = {s["_id"][-2:]: s["country"] for s in all_sessions()}
            assert countries == {"gb": "GB", "xx": "unknown"}
        finally:
            geo.reset()
