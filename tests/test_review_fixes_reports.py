"""Review findings on the media-server sink, reports, counters, dashboard and
their edges: each test here failed before its fix."""
import base64
import csv
import io
import json
import os
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.test import override_settings

from tests.mmdb_factory import build_country_db
from tests.test_mediaserver import URL, ms, post
from tests.test_reports_data import base_time, make_sessions, viewer
from tvmiddleware import models as m
from viewstats.models import OperatorStaff
from viewstats import host, mediaserver, store
from viewstats.documents import session_document
from viewstats.enrich import geo
from viewstats.models import MediaServer
from viewstats.reports import counters, daily

REPORTS = "/viewstats/api/reports/"


@pytest.fixture
def server(operator):
    return MediaServer.objects.create(client_id=operator.client.id, name="edge-1")


def play(session_id, event_id, at, media, **extra):
    return {"event": "play_updated", "event_id": event_id, "id": session_id, "media": media,
            "utc_ms": ms(at), "opened_at": ms(at - timedelta(minutes=5)), "proto": "hls",
            "ip": "10.0.0.1", **extra}


# --- H3: a failed rebuild must not lose the session -----------------------

@pytest.mark.django_db
def test_failed_rebuild_answers_200_and_a_resend_repairs_it(client, operator, server, monkeypatch):
    at = (datetime.now(timezone.utc) - timedelta(hours=1)).replace(microsecond=0)
    channel = operator.channels[0].name
    events = [play("bad", 1, at, channel, user_id="who"), play("good", 2, at, channel)]
    real = host.viewer_for_token

    def broken(client_id, token, user_id):
        if user_id == "who":
            raise RuntimeError("host lookup failed")
        return real(client_id, token, user_id)
    monkeypatch.setattr(mediaserver.host, "viewer_for_token", broken)
    r = post(client, server, events)
    assert r.status_code == 200
    body = r.json()
    assert body["accepted"] == 2 and body["sessions_updated"] == 1
    assert [f["id"] for f in body["sessions_failed"]] == ["bad"]
    assert "RuntimeError" in body["sessions_failed"][0]["error"]
    assert [d["_id"].rsplit(":", 1)[1] for d in store.sessions().find()] == ["good"]
    day = (at - timedelta(minutes=5)).date()  # the session opened 5 minutes before `at` (play())
    assert daily.report([operator.client.id], day, day)[0]["connections"] == 1

    monkeypatch.setattr(mediaserver.host, "viewer_for_token", real)
    r = post(client, server, events)  # the sink resends: duplicates only
    body = r.json()
    assert r.status_code == 200 and body["accepted"] == 0 and body["duplicates"] == ["1", "2"]
    assert body["sessions_updated"] == 2 and body["sessions_failed"] == []
    assert sorted(d["_id"].rsplit(":", 1)[1] for d in store.sessions().find()) == ["bad", "good"]
    # The repaired session's day was marked and is recomputed on the next read.
    assert daily.report([operator.client.id], day, day)[0]["connections"] == 2


@pytest.mark.django_db
def test_superscript_digits_are_no_channel_or_account_number(client, operator, server):
    at = datetime.now(timezone.utc) - timedelta(minutes=1)
    r = post(client, server, [play("s1", 1, at, "ch²", user_id="²"),
                              play("s2", 2, at, "ch" + "9" * 25, user_id="9" * 25)])
    assert r.status_code == 200 and r.json()["sessions_updated"] == 2
    assert {d["channel_id"] for d in store.sessions().find()} == {None}
    assert host.channel_for_stream(operator.client.id, "ch²") is None
    assert host.channel_for_stream(operator.client.id, "²") is None
    assert host.channel_for_stream(operator.client.id, "ch2") == operator.channels[1].id
    assert host.viewer_for_token(operator.client.id, None, "²") is None
    account = operator.accounts[0]
    assert host.viewer_for_token(operator.client.id, None, str(account.id)).account_id == account.id


@pytest.mark.django_db
def test_values_bson_cannot_store_are_rejected_not_500(client, operator, server):
    at = datetime.now(timezone.utc) - timedelta(minutes=1)
    good = play("s1", 1, at, "x")
    bad = [{**good, "event_id": 2, "bytes": 10 ** 20},
           {**good, "event_id": 10 ** 20},
           {**good, "event_id": 4, "utc_ms": 10 ** 25},
           {**good, "event_id": 5, "user_agent": "VLC\ud800"},
           {**good, "event_id": "e\udc00"},
           {**good, "event_id": 7, "id": "s\ud800"}]
    r = post(client, server, [good] + bad)
    assert r.status_code == 200
    body = r.json()
    assert body["accepted"] == 1
    rejected = {x["index"]: x["reasons"] for x in body["rejected"]}
    assert sorted(rejected) == [1, 2, 3, 4, 5, 6]
    assert rejected[1] == ["bytes: out of range (a 64-bit integer)"]
    assert rejected[2] == ["event_id: out of range (a 64-bit integer)"]
    assert rejected[3][0].startswith("utc_ms:")
    assert rejected[4] == ["user_agent: not valid Unicode text"]
    assert rejected[5] == ["event_id: not valid Unicode text"]
    assert rejected[6] == ["id: not valid Unicode text"]
    assert post(client, server, [{**good, "event_id": 8, "bytes": 2 ** 63 - 1}]).json()["accepted"] == 1


# --- M4: every filter on the sharded collections names the client ---------

SHARDED = (store.SESSIONS, store.DAILY_STATS, store.DAILY_DIRTY, store.MEDIA_EVENTS)
FILTERED = ("find", "find_one", "update_one", "update_many", "replace_one", "delete_one",
            "delete_many", "count_documents")


class _Spy:
    def __init__(self, coll, seen):
        self._coll, self._seen = coll, seen

    def __getattr__(self, name):
        attr = getattr(self._coll, name)
        seen, coll = self._seen, self._coll.name
        if name in FILTERED:
            def call(flt=None, *args, **kwargs):
                seen.append((coll, name, flt))
                return attr(flt, *args, **kwargs)
            return call
        if name == "bulk_write":
            def bulk(requests, *args, **kwargs):
                seen.extend((coll, "bulk_write", r._filter) for r in requests)
                return attr(requests, *args, **kwargs)
            return bulk
        if name == "aggregate":
            def aggregate(pipeline, *args, **kwargs):
                seen.append((coll, "aggregate", pipeline[0].get("$match")))
                return attr(pipeline, *args, **kwargs)
            return aggregate
        return attr


@pytest.mark.django_db
def test_every_filter_carries_the_shard_key(client, operator, server, monkeypatch):
    seen = []
    real = store.collection
    monkeypatch.setattr(store, "collection",
                        lambda name: _Spy(real(name), seen) if name in SHARDED else real(name))
    at = datetime.now(timezone.utc) - timedelta(hours=1)
    events = [play("s1", 1, at, operator.channels[0].name), play("s2", 2, at, "x")]
    assert post(client, server, events).status_code == 200
    assert post(client, server, events).status_code == 200
    daily.report([operator.client.id], at.date(), at.date())
    assert {op for _, op, _ in seen} >= {"find", "replace_one", "update_one", "find_one",
                                         "bulk_write", "delete_one", "aggregate"}
    missing = [(coll, op, flt) for coll, op, flt in seen if "client_id" not in (flt or {})]
    assert missing == []


# --- M2: bad report, counter and dashboard input is a 400 naming the parameter

@pytest.fixture
def berlin(operator):
    operator.client.time_zone = "Europe/Berlin"
    operator.client.save()
    return operator


def cursor(value):
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


@pytest.mark.django_db
@pytest.mark.parametrize("name, params, parameter", [
    ("sessions", {"limit": "abc"}, "limit"),
    ("sessions", {"limit": "0"}, "limit"),
    ("sessions", {"limit": "-3"}, "limit"),
    ("channel", {"date_to": "9999-12-31"}, "date_to"),
    ("channel", {"date_from": "0001-01-01", "date_to": "0001-01-03"}, "date_to"),
    ("channel", {"date_from": "0001-01-01", "date_to": "2024-01-03"}, "date_from"),
    ("channel", {"from": "0001-01-01T00:00:00+01:00", "to": "0001-01-03T00:00:00+00:00"}, "from"),
    ("channel", {"from": "2024-01-01T00:00:00Z", "to": "9999-12-31T23:00:00-05:00"}, "to"),
    ("daily", {"date_to": "0001-01-01"}, "date_to"),
    ("daily", {"date_from": "0001-01-01", "date_to": "0001-01-05"}, "date_to"),
    ("daily", {"date_from": "0001-01-01"}, "date_from"),
    ("daily", {"date_from": "9999-12-30", "date_to": "9999-12-31"}, "date_to"),
    ("channel", {"channel": "99999999999999999999"}, "channel"),
    ("sessions", {"account": "1," + "9" * 129}, "account"),  # account ids are opaque, up to 128 chars
    ("sessions", {"sort": "duration", "cursor": cursor([{"$gte": 0}, "x"])}, "cursor"),
    ("sessions", {"sort": "-duration", "cursor": cursor([10, {"$ne": None}])}, "cursor"),
    ("sessions", {"sort": "start", "cursor": cursor(["2024-01-01T00:00:00+00:00", {"$gt": ""}])},
     "cursor"),
    ("sessions", {"sort": "end", "cursor": cursor(["2024-01-01T00:00:00", "x"])}, "cursor"),
    ("sessions", {"sort": "duration", "cursor": cursor([True, "x"])}, "cursor"),
    ("sessions", {"sort": "duration", "cursor": cursor([10 ** 20, "x"])}, "cursor"),
    ("sessions", {"sort": "duration", "cursor": cursor({"$gte": 0, "x": 1})}, "cursor"),
])
def test_bad_report_parameters_get_400_naming_them(admin_client, berlin, name, params, parameter):
    make_sessions(berlin, 3, n=20)
    r = admin_client.get(REPORTS + name, {"client": berlin.client.id, **params})
    assert r.status_code == 400, r.content
    assert r.json()["error"].startswith(f"{parameter}:")


@pytest.mark.django_db
@pytest.mark.parametrize("sort", ["duration", "-duration", "start", "-end"])
def test_cursors_the_api_returns_still_page_through_everything(admin_client, operator, sort):
    docs = make_sessions(operator, 5, n=40)
    day = base_time().date()
    params = {"date_from": day.isoformat(), "date_to": (day + timedelta(days=2)).isoformat(),
              "sort": sort, "limit": 7}
    ids, next_cursor = [], None
    while True:
        body = admin_client.get(REPORTS + "sessions",
                                {**params, **({"cursor": next_cursor} if next_cursor else {})}).json()
        ids += [r["id"] for r in body["rows"]]
        next_cursor = body["next"]
        if not next_cursor:
            break
    assert sorted(ids) == sorted(d["_id"] for d in docs) and len(set(ids)) == len(ids)


@pytest.mark.django_db
@pytest.mark.parametrize("period", ["9999", "9999/12", "9999/12/31", "9999/12/31/23", "1969/12/31"])
def test_counters_out_of_range_years_get_400(admin_client, operator, period):
    r = admin_client.get(f"/viewstats/api/stats/{operator.client.id}/sessions/{period}")
    assert r.status_code == 400 and r.json()["error"].startswith("year:")


# --- M3: viewers are counted in the database, not shipped as sets ----------

@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_viewers_counter_groups_twice_and_matches_brute_force(admin_client, operator, monkeypatch,
                                                               zone):
    operator.client.time_zone = zone
    operator.client.save()
    docs = make_sessions(operator, 61, n=300, span_hours=72)
    stages = []
    real = store.sessions_aggregate
    monkeypatch.setattr(store, "sessions_aggregate", lambda p, hint=None: stages.append(p) or real(p, hint))
    local = ZoneInfo(zone)
    first = docs[0]["start"].astimezone(local)
    for path, segment_of in (
            (f"{first.year}/{first.month}",
             lambda t: t.day if (t.year, t.month) == (first.year, first.month) else None),
            (f"{first.year}/{first.month}/{first.day}",  # a day's hours: local clock hour with offset
             lambda t: t.replace(minute=0, second=0).isoformat() if t.date() == first.date() else None),
            (f"{first.year}", lambda t: t.month if t.year == first.year else None)):
        body = admin_client.get(f"/viewstats/api/stats/{operator.client.id}/viewers/{path}").json()
        expected = defaultdict(set)
        for d in docs:
            seg = segment_of(d["start"].astimezone(local))
            if seg is not None:
                expected[seg].add(viewer(d))
        assert {k: v for k, v in body["data"].items() if v} == {
            str(k): len(v) for k, v in expected.items()}
    assert stages and "$addToSet" not in json.dumps(stages, default=str)


# --- M5: a body over Django's own limit is a 413 in JSON -------------------

@pytest.mark.django_db
@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_body_over_djangos_limit_is_413_json(client, operator, server):
    at = datetime.now(timezone.utc)
    events = [play(f"s{i}", i, at, "x") for i in range(20)]
    r = post(client, server, events)
    assert r.status_code == 413 and r["Content-Type"] == "application/json"
    assert "1000 bytes" in r.json()["error"]
    assert post(client, server, events[:2]).status_code == 200


# --- M6: CSV cells a spreadsheet would run as formulas ---------------------

@pytest.mark.django_db
def test_csv_export_escapes_formula_cells(admin_client, operator):
    start = base_time() + timedelta(hours=1)
    doc = session_document(
        _id="evil", client_id=operator.client.id, source="media_server", protocol="hls",
        start=start, end=start + timedelta(minutes=5), channel_id=None, program_id=None,
        kind="live", ip="@SUM(1+1)", user_agent='=HYPERLINK("http://x","y")', media="+cmd|x",
        country="-2+3", server_id=1, bytes=-5)
    store.sessions().insert_one(doc)
    r = admin_client.get(REPORTS + "sessions.csv", {"client": operator.client.id,
                                                    "date_from": start.date().isoformat()})
    header, row = csv.reader(io.StringIO(b"".join(r.streaming_content).decode()))
    cells = dict(zip(header, row))
    assert (cells["ip"], cells["user_agent"], cells["media"], cells["country"]) == (
        "'@SUM(1+1)", '\'=HYPERLINK("http://x","y")', "'+cmd|x", "'-2+3")
    assert cells["bytes"] == "-5" and cells["duration"] == "300"  # numbers stay numbers


# --- Low -------------------------------------------------------------------

@pytest.mark.django_db
def test_staff_asking_for_all_clients_is_told_why(client, operator):
    user = User.objects.create_user("alice", password="pw", is_staff=True)
    OperatorStaff.objects.create(user=user, client_id=operator.client.id)
    client.force_login(user)
    r = client.get(REPORTS + "channel", {"client": "all"})
    assert r.status_code == 403
    assert r.json()["error"] == "only superusers may ask for all clients"


@pytest.mark.django_db
def test_tvmiddleware_int_params_past_64_bits_are_400(client, operator):
    key = operator.login(operator.accounts[0])
    selection = m.Selection.objects.create(client=operator.client, name="S",
                                           content_type=m.Selection.ContentType.CHANNEL)
    api = "/tvmiddleware/api/"
    for path, params in (
            ("selection/detail/", {"selection_id": selection.id, "cursor": "9" * 25}),
            ("selection/detail/", {"selection_id": selection.id, "cursor": "²"}),
            ("selection/detail/", {"selection_id": "9" * 25}),
            ("selection/detail/", {"selection_id": selection.id, "limit": "9" * 5000}),
            ("selection/detail/", {"selection_id": selection.id, "cursor": "-" + "9" * 25}),
            ("channel/list/", {"channel_sort_id": "9" * 25})):
        r = client.get(api + path, {"authkey": key, **params})
        assert r.status_code == 400, (path, params)
        assert r.json()["error_message"].startswith(f"{list(params)[-1]} must be a whole number")
    r = client.get(api + "selection/detail/",
                   {"authkey": key, "selection_id": selection.id, "cursor": str(2 ** 63 - 1)})
    assert r.status_code == 200 and r.json()["contents"] == []


@pytest.mark.django_db
def test_index_widgets_redirect_stays_on_site(client, operator):
    user = User.objects.create_user("carol", password="pw", is_staff=True)
    OperatorStaff.objects.create(user=user, client_id=operator.client.id)
    client.force_login(user)
    for target in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        r = client.post("/smartystats/index-widgets", {"widgets": ["accounts_new"], "next": target})
        assert r.status_code == 302 and r["Location"] == "/admin/", target
    r = client.post("/smartystats/index-widgets", {"widgets": [], "next": "/admin/smartystats/"})
    assert r["Location"] == "/admin/smartystats/"


def test_geoip_file_that_failed_is_retried_when_it_changes_or_after_a_while(tmp_path,
                                                                            monkeypatch):
    path = tmp_path / "later.mmdb"
    monkeypatch.setattr(geo, "configured_path", lambda: str(path))
    geo.reset()
    try:
        assert geo.country_for_ip("81.2.69.160") == geo.UNKNOWN  # missing
        build_country_db(path, {"81.2.69.0/24": "GB"})
        assert geo.country_for_ip("81.2.69.160") == "GB"  # appeared: retried at once

        geo.reset()
        stamp = (1_700_000_000, 1_700_000_000)
        path.write_bytes(b"not a database" * 10)
        os.utime(path, stamp)
        assert geo.country_for_ip("81.2.69.160") == geo.UNKNOWN  # broken
        build_country_db(path, {"81.2.69.0/24": "FR"})
        os.utime(path, stamp)  # same mtime: only time tells
        assert geo.country_for_ip("81.2.69.160") == geo.UNKNOWN
        now = geo.time.monotonic()
        monkeypatch.setattr(geo.time, "monotonic", lambda: now + geo.RETRY_SECONDS + 1)
        assert geo.country_for_ip("81.2.69.160") == "FR"
    finally:
        geo.reset()


# --- M2: the dynamics endpoint -----------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("params, message", [
    ({"days": "999999999"}, "days: at most 3660"),
    ({"days": "200000"}, "days: at most 3660"),
    ({"to": "9999-12-31"}, "to: 9999-12-31 is out of range"),
    ({"from": "0001-01-01"}, "from: 0001-01-01 is out of range"),
    ({"from": "1970-01-01", "to": "2024-01-01"}, "from: the range covers more than 3660 days"),
])
def test_dynamics_bad_ranges_get_400_naming_the_parameter(client, operator, params, message):
    client.force_login(User.objects.create_user("su", password="pw", is_staff=True,
                                                is_superuser=True))
    r = client.get("/smartystats/api/dynamics", params)
    assert r.status_code == 400 and r.json()["error"].startswith(message), r.content
    page = client.get("/admin/smartystats/dynamics/", params)
    assert page.status_code == 200 and message in page.content.decode()


@pytest.mark.django_db
def test_dynamics_range_cap_is_a_setting(client, operator, settings):
    client.force_login(User.objects.create_user("su", password="pw", is_staff=True,
                                                is_superuser=True))
    assert client.get("/smartystats/api/dynamics", {"days": 3660}).status_code == 200
    settings.SMARTYSTATS_MAX_RANGE_DAYS = 10
    assert client.get("/smartystats/api/dynamics", {"days": 11}).status_code == 400
    assert client.get("/smartystats/api/dynamics", {"days": 10}).status_code == 200


@pytest.mark.django_db
def test_session_csv_with_a_bad_sort_is_400_before_streaming(admin_client, operator):
    r = admin_client.get(REPORTS + "sessions.csv", {"sort": "bogus"})
    assert r.status_code == 400 and r.json()["error"].startswith("sort:")
