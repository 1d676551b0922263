"""Every MongoDB call the suite makes is scoped to one client.

`client_id` is the shard-key prefix and the tenant boundary, so it must lead
every filter and the first `$match` of every pipeline, and every written
document must carry it. A guard wraps the store's collections while the
whole product runs once (collection, commands, reports, dynamics) and fails
on the first unscoped call.
"""
import json
from datetime import datetime, timedelta, timezone

import pytest
from django.core.management import call_command
from pymongo import InsertOne, ReplaceOne, UpdateMany, UpdateOne

from viewstats import store
from viewstats.documents import set_clock
from viewstats.models import MediaServer
from viewstats.reports.run import REPORTS

FILTERED = {"find", "find_one", "count_documents", "update_one", "update_many", "replace_one",
            "delete_one", "delete_many", "find_one_and_update", "distinct"}


class Unscoped(AssertionError):
    pass


def _check_filter(where, filter):
    if not isinstance(filter, dict) or next(iter(filter), None) != "client_id":
        raise Unscoped(f"{where}: filter does not start with client_id: {filter!r}"[:400])


class GuardedCollection:
    def __init__(self, coll, calls):
        self._coll, self._calls = coll, calls

    def __getattr__(self, name):
        attr = getattr(self._coll, name)
        where = f"{self._coll.name}.{name}"
        if name in FILTERED:
            def call(filter=None, *args, **kwargs):
                _check_filter(where, filter if name != "distinct" else (args[0] if args else kwargs.get("filter")))
                self._calls.append(where)
                return attr(filter, *args, **kwargs)
            return call
        if name == "aggregate":
            def call(pipeline, *args, **kwargs):
                first = pipeline[0] if pipeline else {}
                _check_filter(where, first.get("$match"))
                self._calls.append(where)
                return attr(pipeline, *args, **kwargs)
            return call
        if name in ("insert_one", "insert_many"):
            def call(docs, *args, **kwargs):
                for doc in ([docs] if name == "insert_one" else docs):
                    if "client_id" not in doc:
                        raise Unscoped(f"{where}: document without client_id: {doc!r}"[:400])
                self._calls.append(where)
                return attr(docs, *args, **kwargs)
            return call
        if name == "bulk_write":
            def call(requests, *args, **kwargs):
                requests = list(requests)
                for op in requests:
                    if isinstance(op, InsertOne):
                        if "client_id" not in op._doc:
                            raise Unscoped(f"{where}: document without client_id")
                    elif isinstance(op, (ReplaceOne, UpdateOne, UpdateMany)):
                        _check_filter(where, op._filter)
                self._calls.append(where)
                return attr(requests, *args, **kwargs)
            return call
        return attr


@pytest.fixture
def guarded(monkeypatch):
    calls = []
    real = store.collection
    monkeypatch.setattr(store, "collection", lambda name: GuardedCollection(real(name), calls))
    return calls


@pytest.mark.django_db
def test_the_whole_product_only_makes_client_scoped_calls(client, admin_client, operator, guarded):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    start = now - timedelta(days=1, hours=3)
    key = operator.login(operator.accounts[0])
    # collection: pushes (open, heartbeat, switch) and a batch sent twice
    try:
        for offset, cs, channel in ((0, 1, 0), (60, 1, 0), (120, 2, 1), (121, 1, 0)):
            set_clock(lambda: now - timedelta(hours=2) + timedelta(seconds=offset))
            r = client.get("/viewstats/api/stat/push", {
                "authkey": key, "client_id": operator.client.id, "channel_id": operator.channels[channel].id,
                "channel_session": cs})
            assert r.json()["error"] == 0
    finally:
        set_clock(None)
    items = [{"id": f"i{n}", "channel_id": operator.channels[n % 3].id,
              "start": (start + timedelta(minutes=20 * n)).isoformat(),
              "end": (start + timedelta(minutes=20 * n + 15)).isoformat()} for n in range(6)]
    for _ in range(2):
        r = client.post("/viewstats/api/stat/batch", data=json.dumps(items), content_type="application/json",
                        HTTP_AUTHORIZATION=f"Bearer {key}")
        assert r.status_code == 200
    # a media server's events
    server = MediaServer.objects.create(client_id=operator.client.id, name="edge")
    opened = int(start.timestamp() * 1000)
    events = [{"event": "play_opened", "event_id": 1, "id": "s1", "media": operator.channels[0].name,
               "ip": "203.0.113.5", "user_agent": "VLC/3.0.18", "proto": "hls", "utc_ms": opened,
               "opened_at": opened, "bytes": 0},
              {"event": "play_closed", "event_id": 2, "id": "s1", "media": operator.channels[0].name,
               "ip": "203.0.113.5", "user_agent": "VLC/3.0.18", "proto": "hls", "utc_ms": opened + 600_000,
               "opened_at": opened, "closed_at": opened + 600_000, "bytes": 5_000_000}]
    r = client.post("/viewstats/api/mediaserver/events", data=json.dumps(events),
                    content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {server.token}")
    assert r.status_code == 200, r.content
    # commands
    cid = str(operator.client.id)
    call_command("create_channel_sorting_by_popularity", client_id=cid, days_number=3, criterion="median_watch_time")
    call_command("create_channel_selection_by_popularity", client_id=cid, days_number=3, criterion="watch")
    call_command("create_epg_selection_by_popularity", client_id=cid, days_number=3)
    for command in ("cache_customers_dynamic", "cache_max_online", "save_stats"):
        call_command(command, client_id=cid)
    # reports, exports, counters, the dynamics endpoint
    dates = {"date_from": (now - timedelta(days=3)).date().isoformat(), "date_to": now.date().isoformat()}
    for name in REPORTS:
        assert admin_client.get(f"/viewstats/api/reports/{name}", {**dates, "client": cid}).status_code == 200
        csv = admin_client.get(f"/viewstats/api/reports/{name}.csv", {**dates, "client": cid})
        b"".join(csv.streaming_content)
    for metric in ("sessions", "viewers", "watch_time", "traffic"):
        assert admin_client.get(f"/viewstats/api/stats/{cid}/{metric}/{now.year}/{now.month}").status_code == 200
    assert admin_client.get("/smartystats/api/dynamics", {"client_id": cid}).status_code == 200
    touched = {call.split(".")[0] for call in guarded}
    assert {store.SESSIONS, store.PUSH_STATE, store.MEDIA_EVENTS} <= touched
    assert len(guarded) > 50
