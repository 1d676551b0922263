"""Sessions carry the tariffs the account had when the viewing happened, from every source.

The account has Basic, then Premium from 2024-03-18 12:00Z; viewing from
10:00 to 11:00 that day counts under Basic however late it is uploaded.
"""
import json
from datetime import datetime, timedelta, timezone

import pytest

from tests.factories import current_builder
from tests.test_collect import MAG_UA, PUSH, post_batch
from tests.test_popularity_commands import SORTING, run_json
from viewstats import documents, store
from viewstats.models import MediaServer

HOST_KINDS = ("reference", "toy")

CHANGE = datetime(2024, 3, 18, 12, tzinfo=timezone.utc)
UPLOAD = datetime(2024, 3, 18, 14, 5, tzinfo=timezone.utc)


@pytest.fixture
def clock():
    now = {"t": UPLOAD}
    documents.set_clock(lambda: now["t"])
    yield now
    documents.set_clock(None)


@pytest.fixture
def shop(db, host_kind):
    """One operator, two tariffs, two channels, one account that changes tariff at CHANGE."""
    b = current_builder()
    client_id = b.operator("Tariff TV")
    b.device_type(client_id, "mag")
    b.device_type(client_id, "android")
    basic, premium = b.tariff(client_id, "Basic"), b.tariff(client_id, "Premium")
    channels = [b.channel(client_id, f"ch{n}", n) for n in (1, 2)]
    customer = b.customer(client_id, datetime(2024, 3, 1, tzinfo=timezone.utc))
    account = b.account(client_id, customer, datetime(2024, 3, 1, tzinfo=timezone.utc), [basic])
    b.change_tariffs(client_id, account, [premium], CHANGE)
    return {"client_id": client_id, "basic": basic, "premium": premium, "channels": channels,
            "account": account, "builder": b}


def tariffs_of(**filter):
    return [s["tariff_ids"] for s in store.sessions().find(filter).sort("start", 1)]


def ranking(shop, tariff, clock):
    clock["t"] = datetime(2024, 3, 19, 1, tzinfo=timezone.utc)
    [result] = run_json(SORTING, f"--client_id={shop['client_id']}", "--days_number=1",
                        "--criterion=watch", f"--tariffs={tariff}")
    return {item["id"]: item["metrics"]["watch"] for item in result["items"] if item["metrics"]["watch"]}


def test_batch_uploaded_after_a_change_counts_under_the_old_tariff(client, shop, clock):
    key = shop["builder"].login(shop["client_id"], shop["account"], "android")
    item = {"id": "1003", "channel_id": shop["channels"][0], "start": "2024-03-18T10:00:00Z",
            "end": "2024-03-18T11:00:00Z"}
    answer = post_batch(client, key, [item]).json()
    assert answer["accepted"] == 1 and not answer["rejected"], answer
    assert tariffs_of(protocol="batch") == [[shop["basic"]]]
    assert ranking(shop, shop["basic"], clock) == {shop["channels"][0]: 3600}
    assert ranking(shop, shop["premium"], clock) == {}


def test_push_before_and_after_the_change(client, shop, clock):
    key = shop["builder"].login(shop["client_id"], shop["account"], "mag")

    def push(at, channel, session):
        clock["t"] = at
        body = client.get(PUSH, {"authkey": key, "client_id": shop["client_id"], "channel_id": channel,
                                 "channel_session": session}, HTTP_USER_AGENT=MAG_UA).json()
        assert body["error"] == 0, body

    morning = datetime(2024, 3, 18, 10, tzinfo=timezone.utc)
    for minute in range(0, 61, 1):
        push(morning + timedelta(minutes=minute), shop["channels"][0], 1)
    for minute in range(30, 41):
        push(CHANGE + timedelta(minutes=minute), shop["channels"][1], 2)
    assert tariffs_of(protocol="push") == [[shop["basic"]], [shop["premium"]]]
    assert ranking(shop, shop["basic"], clock) == {shop["channels"][0]: 3600}
    assert ranking(shop, shop["premium"], clock) == {shop["channels"][1]: 600}


def test_media_server_session_reported_after_the_change(client, shop, clock):
    server = MediaServer.objects.create(client_id=shop["client_id"], name="edge")
    opened = datetime(2024, 3, 18, 10, tzinfo=timezone.utc)
    base = {"id": "s1", "media": "ch1", "ip": "192.0.2.1", "proto": "hls", "user_agent": "VLC/3.0.18",
            "user_id": str(shop["account"]), "opened_at": int(opened.timestamp() * 1000)}
    events = [{**base, "event": name, "event_id": i, "bytes": 1000 * i,
               "utc_ms": int((opened + timedelta(minutes=30 * i)).timestamp() * 1000)}
              for i, name in enumerate(("play_opened", "play_updated", "play_closed"))]
    r = client.post("/viewstats/api/mediaserver/events", data=json.dumps(events),
                    content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {server.token}")
    assert r.status_code == 200 and r.json()["accepted"] == 3 and not r.json()["sessions_failed"], r.json()
    assert tariffs_of(source="media_server") == [[shop["basic"]]]
    assert ranking(shop, shop["basic"], clock) == {shop["channels"][0]: 3600}
    assert ranking(shop, shop["premium"], clock) == {}
