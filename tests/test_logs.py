"""Structured logs: the JSON formatter, IP truncation, and the lines the collection APIs write."""
import io
import json
import logging
import logging.config
import re
from datetime import datetime, timedelta, timezone

import pytest
from django.test import override_settings

from viewstats import logs, store
from viewstats.logs import JsonFormatter, log_ip
from viewstats.models import MediaServer

BATCH = "/viewstats/api/stat/batch"
PUSH = "/viewstats/api/stat/push"
EVENTS = "/viewstats/api/mediaserver/events"
HEX_ID = re.compile(r"[0-9a-f]{32}")


def iso(t):
    return t.isoformat().replace("+00:00", "Z")


def json_lines(caplog):
    """The viewstats.events records as the JSON formatter writes them, parsed back."""
    formatter = JsonFormatter()
    out = []
    for record in caplog.records:
        if record.name == "viewstats.events":
            line = formatter.format(record)
            assert "\n" not in line
            out.append(json.loads(line))
    return out


@pytest.fixture
def events_log(caplog):
    caplog.set_level(logging.INFO, logger="viewstats.events")
    return caplog


# ------------------------------------------------------------- formatter

def test_formatter_writes_one_json_object_per_line():
    record = logging.LogRecord("viewstats.x", logging.WARNING, __file__, 1, "two\nlines %s", ("here",), None)
    record.client = 7
    record.reason = "bad_value"
    data = json.loads(JsonFormatter().format(record))
    assert data["message"] == "two\nlines here" and data["level"] == "WARNING"
    assert data["logger"] == "viewstats.x" and data["client"] == 7 and data["reason"] == "bad_value"
    assert datetime.fromisoformat(data["time"]).tzinfo is not None
    assert "request_id" not in data


def test_formatter_adds_exception_and_the_current_request_id():
    token = logs.current_request_id.set("req-42")
    try:
        try:
            raise ValueError("boom")
        except ValueError:
            import sys

            record = logging.LogRecord("other.lib", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
        line = JsonFormatter().format(record)
    finally:
        logs.current_request_id.reset(token)
    assert "\n" not in line
    data = json.loads(line)
    assert data["request_id"] == "req-42"  # any logger, while a request is served
    assert "ValueError: boom" in data["exception"]


def test_logging_dict_config_snippet():
    """The README's LOGGING form: a formatter made by `()` (built without touching the process's logging)."""
    configurator = logging.config.DictConfigurator({})
    formatter = configurator.configure_formatter({"()": "viewstats.logs.JsonFormatter"})
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    log = logging.getLogger("viewstats.test_snippet")
    log.addHandler(handler)
    try:
        log.warning("hello", extra={"client": 3})
    finally:
        log.removeHandler(handler)
    assert json.loads(stream.getvalue()) | {"time": None} == {
        "time": None, "level": "WARNING", "logger": "viewstats.test_snippet", "message": "hello", "client": 3}


# ------------------------------------------------------------ addresses

@pytest.mark.parametrize("address, mode, logged", [
    ("203.0.113.77", "truncated", "203.0.113.0"),
    ("2001:db8:abcd:12:3456::1", "truncated", "2001:db8:abcd::"),
    ("::ffff:198.51.100.9", "truncated", "198.51.100.0"),
    ("203.0.113.77", "full", "203.0.113.77"),
    ("2001:db8:abcd:12::1", "full", "2001:db8:abcd:12::1"),
    ("203.0.113.77", "none", None),
    ("203.0.113.77", "nonsense", "203.0.113.0"),  # an unknown mode never leaks whole addresses
    ("", "truncated", None),
    ("not an address", "full", None),
])
def test_log_ip(address, mode, logged):
    assert log_ip(address, mode) == logged


def test_log_ip_follows_the_setting():
    assert log_ip("192.0.2.55") == "192.0.2.0"  # default: truncated
    with override_settings(VIEWSTATS_LOG_IP="full"):
        assert log_ip("192.0.2.55") == "192.0.2.55"
    with override_settings(VIEWSTATS_LOG_IP="none"):
        assert log_ip("192.0.2.55") is None


# ------------------------------------------------- lines from the real APIs

@pytest.mark.django_db
def test_rejected_batch_items_are_logged_with_truncated_ip(client, operator, events_log):
    key = operator.login(operator.accounts[0], "mag")
    t = datetime.now(timezone.utc).replace(microsecond=0)
    items = [{"id": "ok", "channel_id": operator.channels[0].id, "start": iso(t - timedelta(minutes=5)),
              "end": iso(t)},
             {"id": "bad", "channel_id": 999_999, "start": iso(t - timedelta(minutes=5)), "end": iso(t)},
             "junk"]
    r = client.post(BATCH, data=json.dumps(items), content_type="application/json",
                    HTTP_AUTHORIZATION=f"Bearer {key}", REMOTE_ADDR="203.0.113.77",
                    HTTP_X_REQUEST_ID="lb-7f3a:01")
    assert r.status_code == 200 and r.json()["accepted"] == 1
    assert r["X-Request-ID"] == "lb-7f3a:01"
    lines = json_lines(events_log)
    assert [(x["event"], x["reason"], x["index"]) for x in lines] == [
        ("rejected", "unknown_channel", 1), ("rejected", "malformed", 2)]
    for line in lines:
        assert line["level"] == "INFO" and line["logger"] == "viewstats.events"
        assert line["client"] == operator.client.id and line["device_type"] == "mag"
        assert line["protocol"] == "batch" and line["request_id"] == "lb-7f3a:01"
        assert line["ip"] == "203.0.113.0"
        assert key not in json.dumps(line)  # no authkey, no account
        assert "account" not in json.dumps(line)
    assert "is not a channel" in lines[0]["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize("incoming", ["", "has spaces", "x" * 200, "line\nbreak", "<script>"])
def test_insane_request_ids_are_replaced(client, operator, events_log, incoming):
    key = operator.login(operator.accounts[0], "mag")
    r = client.get(PUSH, {"authkey": key, "client_id": operator.client.id, "channel_id": 999_999,
                          "channel_session": 1}, HTTP_X_REQUEST_ID=incoming)
    assert r.json()["error"] == 1
    [line] = json_lines(events_log)
    assert HEX_ID.fullmatch(line["request_id"]) and r["X-Request-ID"] == line["request_id"]
    assert line["reason"] == "unknown_channel" and line["ip"] == "127.0.0.0"


@pytest.mark.django_db
@pytest.mark.parametrize("mode, logged", [("full", "2001:db8:1:2::9"), ("none", None),
                                          ("truncated", "2001:db8:1::")])
def test_refused_requests_and_ip_modes(client, operator, events_log, mode, logged):
    with override_settings(VIEWSTATS_LOG_IP=mode):
        r = client.post(BATCH, data="[]", content_type="application/json",
                        HTTP_AUTHORIZATION="Bearer unknown-key", REMOTE_ADDR="2001:db8:1:2::9")
    assert r.status_code == 401
    [line] = json_lines(events_log)
    assert (line["event"], line["reason"], line["status"]) == ("refused", "auth", 401)
    assert line["client"] is None and line["ip"] == logged


@pytest.mark.django_db
def test_failed_store_calls_are_logged(client, operator, events_log, monkeypatch):
    key = operator.login(operator.accounts[0], "mag")
    server = MediaServer.objects.create(client_id=operator.client.id, name="edge")

    def unreachable(*args, **kwargs):
        raise store.StoreUnavailable("mongo1:27017: [Errno 111] Connection refused\nsecond line")
    monkeypatch.setattr(store, "insert_unordered", unreachable)
    t = datetime.now(timezone.utc)
    item = {"id": "a", "channel_id": operator.channels[0].id, "start": iso(t - timedelta(minutes=2)),
            "end": iso(t)}
    assert client.post(BATCH, data=json.dumps([item]), content_type="application/json",
                       HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 503
    event = {"event": "play_opened", "event_id": 1, "id": "s1", "media": "ch",
             "utc_ms": int(t.timestamp() * 1000)}
    assert client.post(EVENTS, data=json.dumps([event]), content_type="application/json",
                       HTTP_AUTHORIZATION=f"Bearer {server.token}").status_code == 503
    errors = [x for x in json_lines(events_log) if x["event"] == "store_error"]
    assert [(x["protocol"], x["operation"]) for x in errors] == [("batch", "batch_insert"),
                                                                 ("media-server", "media_events")]
    for line in errors:
        assert line["level"] == "ERROR" and line["reason"] == "store_unavailable"
        assert line["client"] == operator.client.id and HEX_ID.fullmatch(line["request_id"])
        assert line["error"] == "mongo1:27017: [Errno 111] Connection refused"
    assert errors[0]["device_type"] == "mag" and errors[1]["device_type"] is None
