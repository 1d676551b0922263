"""MongoDB unreachable: every API answers its documented error, pages say so, nothing is a 500.

The outage is real: MONGODB_URI names a port on 127.0.0.1 where nothing
listens (found free for this run), with a short server-selection timeout
given in the URI itself, which must win over the suite's default.
"""
import json
import socket
from datetime import datetime, timedelta, timezone

import pytest
from pymongo.errors import AutoReconnect

from tests.test_collect import MAG_UA, PUSH, post_batch
from viewstats import caching, store
from viewstats.models import MediaServer

REPORTS = "/viewstats/api/reports/"


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def down(settings, operator):
    """The operator exists (SQL); MongoDB does not answer."""
    settings.MONGODB_URI = f"mongodb://127.0.0.1:{closed_port()}/?serverSelectionTimeoutMS=150"
    store.reset()
    caching.clear_all()
    yield operator
    settings.MONGODB_URI = ""
    store.reset()


def assert_503(response):
    assert response.status_code == 503, response.content[:300]
    assert response["Retry-After"] == "30"
    body = json.loads(response.content)
    assert body["error"] == "statistics database unavailable" and body["retry_after"] == 30


def test_the_uris_own_timeout_wins_and_defaults_fill_the_rest(down):
    client = store.get_client()
    assert client.options.server_selection_timeout == 0.15  # from the URI, not our 5 s
    assert client.options.pool_options.connect_timeout == 5.0  # our default: the URI set none


@pytest.mark.django_db
def test_collection_answers_its_documented_errors(client, down):
    key = down.login(down.accounts[0])
    body = client.get(PUSH, {"authkey": key, "client_id": down.client.id, "channel_id": down.channels[0].id,
                             "channel_session": 1}, HTTP_USER_AGENT=MAG_UA).json()
    assert body["error"] == 2
    now = datetime.now(timezone.utc).replace(microsecond=0)
    item = {"id": "a", "channel_id": down.channels[0].id, "start": (now - timedelta(hours=1)).isoformat(),
            "end": now.isoformat()}
    assert post_batch(client, key, [item]).status_code == 503
    server = MediaServer.objects.create(client_id=down.client.id, name="edge")
    r = client.post("/viewstats/api/mediaserver/events", data=json.dumps([{
        "event": "play_opened", "event_id": 1, "id": "s", "media": "x", "utc_ms": int(now.timestamp() * 1000)}]),
        content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {server.token}")
    assert r.status_code == 503


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["channel", "programme", "device", "country", "protocol", "sessions",
                                  "unique", "daily"])
def test_reports_json_and_csv_answer_503(admin_client, down, name):
    assert_503(admin_client.get(REPORTS + name, {"client": down.client.id}))
    assert_503(admin_client.get(REPORTS + name + ".csv", {"client": down.client.id}))


@pytest.mark.django_db
@pytest.mark.parametrize("metric", ["sessions", "viewers", "watch_time", "traffic"])
def test_counters_answer_503(admin_client, down, metric):
    assert_503(admin_client.get(f"/viewstats/api/stats/{down.client.id}/{metric}/2024/3"))


@pytest.mark.django_db
def test_admin_pages_say_what_is_wrong(admin_client, down):
    for path in ("/viewstats/reports/channel/", "/viewstats/reports/sessions/", "/viewstats/reports/daily/"):
        r = admin_client.get(path, {"client": down.client.id})
        assert r.status_code == 503, path
        page = r.content.decode()
        assert "cannot be reached" in page and "Django administration" in page, path
    # The dynamics tab reads its SQL caches only: it keeps working.
    assert admin_client.get("/admin/smartystats/dynamics/", {"client_id": down.client.id}).status_code == 200
    assert admin_client.get("/smartystats/api/dynamics", {"client_id": down.client.id}).status_code == 200


@pytest.mark.django_db
def test_a_csv_cut_off_mid_stream_says_it_is_incomplete(admin_client, operator, monkeypatch):
    from viewstats.views import reports

    def rows():
        yield [1, "first"]
        raise AutoReconnect("connection lost")

    monkeypatch.setattr(reports, "table", lambda name, params, client_ids: (["n", "what"], rows()))
    r = admin_client.get(REPORTS + "sessions.csv", {"client": operator.client.id})
    assert r.status_code == 200
    received = []
    with pytest.raises(AutoReconnect):  # the response is aborted, not ended cleanly
        for chunk in r.streaming_content:
            received.append(chunk.decode() if isinstance(chunk, bytes) else chunk)
    text = "".join(received)
    assert text.startswith("n,what\r\n1,first\r\n") and text.endswith(reports.INCOMPLETE)


@pytest.mark.django_db
def test_health_names_mongodb_unreachable_as_critical(down):
    from smartystats import health

    [mongo] = [f for f in health.check_services() if f.series == "mongodb"]
    assert mongo.status == health.CRITICAL and mongo.message == "unreachable"
