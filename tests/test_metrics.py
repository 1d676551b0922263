"""Prometheus metrics: counts through the real HTTP APIs, /metrics protection, scrape-time
gauges, the Grafana dashboard and alert rules against the exported series, multiprocess mode."""
import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from django.test import override_settings
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from pymongo.errors import ServerSelectionTimeoutError

from viewstats import caching, metrics, metrics_multiprocess, store
from viewstats.models import CommandRun, MediaServer

ROOT = Path(__file__).resolve().parent.parent
URL = "/viewstats/metrics"
PUSH = "/viewstats/api/stat/push"
BATCH = "/viewstats/api/stat/batch"
EVENTS = "/viewstats/api/mediaserver/events"
TOKEN = "s3cret-scrape-token"


def now():
    return datetime.now(timezone.utc).replace(microsecond=0)


def iso(t):
    return t.isoformat().replace("+00:00", "Z")


def ms(t):
    return int(t.timestamp() * 1000)


def scrape(client):
    with override_settings(VIEWSTATS_METRICS_TOKEN=TOKEN):
        r = client.get(URL, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert r.status_code == 200, r.content
    assert r["Content-Type"].startswith("text/plain")
    values = {}
    for family in text_string_to_metric_families(r.content.decode()):
        assert family.name.startswith("viewstats_")
        for s in family.samples:
            values[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return values


def val(values, name, **labels):
    return values.get((name, tuple(sorted(labels.items()))), 0.0)


def delta(before, after, name, **labels):
    return val(after, name, **labels) - val(before, name, **labels)


def push(client, op, authkey, **params):
    query = {"authkey": authkey, "client_id": op.client.id, "channel_id": op.channels[0].id,
             "channel_session": 1, **params}
    return client.get(PUSH, query, HTTP_USER_AGENT="MAG200 stbapp")


def post_batch(client, authkey, items, **extra):
    body = items if isinstance(items, str) else json.dumps(items)
    return client.post(BATCH, data=body, content_type="application/json",
                       HTTP_AUTHORIZATION=f"Bearer {authkey}", **extra)


def post_events(client, server, events):
    return client.post(EVENTS, data=json.dumps(events), content_type="application/json",
                       HTTP_AUTHORIZATION=f"Bearer {server.token}")


# --------------------------------------------------- counts through the APIs

@pytest.mark.django_db
def test_counts_match_what_was_sent(client, operator):
    """Known valid, duplicate and malformed events through all three APIs; /metrics counts them."""
    c = str(operator.client.id)
    key = operator.login(operator.accounts[0], "mag")
    t = now()
    ch = operator.channels[0].id
    def item(item_id, channel_id, start_ago, end_ago):
        return {"id": item_id, "channel_id": channel_id, "start": iso(t - timedelta(minutes=start_ago)),
                "end": iso(t - timedelta(minutes=end_ago))}

    items = [
        item("a", ch, 30, 20), item("b", ch, 20, 10), item("c", ch, 10, 5),
        item("a", ch, 30, 20),                                 # duplicate within the batch
        "not an object",                                       # malformed
        {"id": "d", "start": iso(t - timedelta(minutes=9)), "end": iso(t)},  # missing_field
        item("e", 999_999, 9, 0),                              # unknown_channel
        item("f", ch, 0, 1),                                   # bad_interval
    ]
    server = MediaServer.objects.create(client_id=operator.client.id, name="edge-1")
    base = {"id": "play-1", "media": operator.channels[1].name, "ip": "10.1.0.7", "user_agent": "VLC/3.0"}
    opened, closed = t - timedelta(minutes=4), t - timedelta(minutes=1)
    events = [
        {**base, "event": "play_opened", "event_id": 1, "utc_ms": ms(opened), "opened_at": ms(opened)},
        {**base, "event": "play_closed", "event_id": 2, "utc_ms": ms(closed), "bytes": 1000},
        {"event": "stream_opened", "media": "x"},                             # ignored
        42,                                                                   # malformed
        {**base, "event": "play_updated", "event_id": 3},                     # missing_field (no time)
    ]

    before = scrape(client)
    assert push(client, operator, key).json()["error"] == 0                   # stored
    assert push(client, operator, key, channel_id=999_999).json()["error"] == 1  # unknown_channel
    assert push(client, operator, key, channel_id="x").json()["error"] == 1       # bad_value
    assert push(client, operator, "no-such-key").json()["error"] == 1             # refused: auth
    first = post_batch(client, key, items).json()
    assert first["accepted"] == 3 and first["duplicates"] == ["a"] and len(first["rejected"]) == 4
    again = post_batch(client, key, items).json()
    assert again["accepted"] == 0 and sorted(again["duplicates"]) == ["a", "a", "b", "c"]
    assert post_batch(client, "wrong-key", items).status_code == 401
    assert post_batch(client, key, "[1,").status_code == 400
    r = post_events(client, server, events).json()
    assert (r["accepted"], r["ignored"], len(r["rejected"])) == (2, 1, 2)
    r = post_events(client, server, events[:2]).json()
    assert r["accepted"] == 0 and r["duplicates"] == ["1", "2"]
    after = scrape(client)

    def d(name, protocol, client_label=c, **labels):
        return delta(before, after, name, protocol=protocol, client=client_label, **labels)

    # push: 3 items read (1 stored, 2 rejected); the unknown authkey is a refused request
    assert d("viewstats_events_received_total", "push") == 3
    assert d("viewstats_events_stored_total", "push") == 1
    assert d("viewstats_events_rejected_total", "push", reason="unknown_channel") == 1
    assert d("viewstats_events_rejected_total", "push", reason="bad_value") == 1
    assert d("viewstats_requests_rejected_total", "push", client_label="", reason="auth") == 1
    # batch: 8 items twice
    assert d("viewstats_events_received_total", "batch") == 16
    assert d("viewstats_events_stored_total", "batch") == 3
    assert d("viewstats_events_duplicate_total", "batch") == 1 + 4
    for reason in ("malformed", "missing_field", "unknown_channel", "bad_interval"):
        assert d("viewstats_events_rejected_total", "batch", reason=reason) == 2, reason
    assert d("viewstats_requests_rejected_total", "batch", client_label="", reason="auth") == 1
    assert d("viewstats_requests_rejected_total", "batch", reason="malformed") == 1
    # media server: 5 then 2
    assert d("viewstats_events_received_total", "media-server") == 7
    assert d("viewstats_events_stored_total", "media-server") == 2
    assert d("viewstats_events_duplicate_total", "media-server") == 2
    assert d("viewstats_events_ignored_total", "media-server") == 1
    assert d("viewstats_events_rejected_total", "media-server", reason="malformed") == 1
    assert d("viewstats_events_rejected_total", "media-server", reason="missing_field") == 1
    # received = stored + duplicate + rejected + ignored, per protocol
    for protocol in metrics.PROTOCOLS:
        parts = sum(d(f"viewstats_events_{n}_total", protocol) for n in ("stored", "duplicate", "ignored"))
        parts += sum(d("viewstats_events_rejected_total", protocol, reason=r) for r in metrics.REASONS)
        assert d("viewstats_events_received_total", protocol) == parts, protocol
    # latency: one observation per request, by view name
    assert delta(before, after, "viewstats_request_duration_seconds_count", view="stat-push") == 4
    assert delta(before, after, "viewstats_request_duration_seconds_count", view="stat-batch") == 4
    assert delta(before, after, "viewstats_request_duration_seconds_count", view="mediaserver-events") == 2
    # the push opened a session: one device is pushing
    assert val(after, "viewstats_heartbeat_sessions_open") == 1
    assert val(after, "viewstats_store_up") == 1
    assert val(after, "viewstats_collection_enabled_device_types", client=c) >= 1


@pytest.mark.django_db
def test_refusals_disabled_and_store_errors(client, operator, monkeypatch):
    c = str(operator.client.id)
    key = operator.login(operator.accounts[0], "mag")
    t = now()
    item = {"id": "x1", "channel_id": operator.channels[0].id, "start": iso(t - timedelta(minutes=5)),
            "end": iso(t)}
    before = scrape(client)

    def unreachable(*args, **kwargs):
        raise store.StoreUnavailable("no primary available")
    monkeypatch.setattr(store, "insert_unordered", unreachable)
    assert post_batch(client, key, [item]).status_code == 503
    monkeypatch.setattr("viewstats.push._apply", lambda *a: (_ for _ in ()).throw(
        ServerSelectionTimeoutError("mongo1:27017: timed out")))
    assert push(client, operator, key).json()["error"] == 2
    monkeypatch.undo()

    operator.set_collection("mag", False)
    caching.clear_all()
    assert post_batch(client, key, [item]).status_code == 403
    assert push(client, operator, key).json()["error"] == 3
    after = scrape(client)

    assert delta(before, after, "viewstats_store_errors_total", operation="batch_insert") == 1
    assert delta(before, after, "viewstats_store_errors_total", operation="push") == 1
    for protocol in ("batch", "push"):
        assert delta(before, after, "viewstats_requests_rejected_total", protocol=protocol, client=c,
                     reason="store_unavailable") == 1
        assert delta(before, after, "viewstats_requests_rejected_total", protocol=protocol, client=c,
                     reason="disabled") == 1
    # nothing was read as items
    assert delta(before, after, "viewstats_events_received_total", protocol="batch", client=c) == 0
    assert val(after, "viewstats_collection_enabled_device_types", client=c) == \
        val(before, "viewstats_collection_enabled_device_types", client=c) - 1


@pytest.mark.django_db
def test_report_outage_counts_a_store_error(client):
    """The report APIs (outage.json_api): a MongoDB outage is a store error, and each call is timed."""
    from django.test import RequestFactory

    from viewstats import outage

    def report_down(request):
        raise ServerSelectionTimeoutError("mongo1:27017: timed out")

    before = scrape(client)
    assert outage.json_api(report_down)(RequestFactory().get("/viewstats/api/reports/x")).status_code == 503
    after = scrape(client)
    assert delta(before, after, "viewstats_store_errors_total", operation="report") == 1
    assert delta(before, after, "viewstats_request_duration_seconds_count", view="report_down") == 1


# ------------------------------------------------------ endpoint protection

@pytest.mark.django_db
class TestProtection:
    def test_off_by_default(self, client):
        assert client.get(URL).status_code == 404
        assert client.get(URL, HTTP_AUTHORIZATION="Bearer anything").status_code == 404

    @override_settings(VIEWSTATS_METRICS_TOKEN=TOKEN)
    def test_token(self, client):
        assert client.get(URL).status_code == 401
        r = client.get(URL, HTTP_AUTHORIZATION="Bearer wrong")
        assert r.status_code == 401 and r["WWW-Authenticate"].startswith("Bearer")
        assert client.get(URL, HTTP_AUTHORIZATION=f"Token {TOKEN}").status_code == 401
        r = client.get(URL, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert r.status_code == 200 and b"viewstats_store_up" in r.content
        assert client.post(URL, HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405

    def test_addresses(self, client):
        with override_settings(VIEWSTATS_METRICS_ALLOWED_IPS=["10.0.0.0/8", "2001:db8::/32"]):
            assert client.get(URL).status_code == 403  # the test client is 127.0.0.1
            assert client.get(URL, REMOTE_ADDR="10.20.30.40").status_code == 200
            assert client.get(URL, REMOTE_ADDR="2001:db8::7").status_code == 200
            # behind a trusted proxy (tests trust the loopback) the forwarded address decides
            assert client.get(URL, HTTP_X_FORWARDED_FOR="10.9.9.9").status_code == 200
            assert client.get(URL, HTTP_X_FORWARDED_FOR="192.0.2.1").status_code == 403
            # ... and an untrusted sender cannot claim an address
            assert client.get(URL, REMOTE_ADDR="192.0.2.1",
                              HTTP_X_FORWARDED_FOR="10.9.9.9").status_code == 403
        with override_settings(VIEWSTATS_METRICS_ALLOWED_IPS="127.0.0.1, 10.0.0.0/8"):  # env-style string
            assert client.get(URL).status_code == 200
        with override_settings(VIEWSTATS_METRICS_ALLOWED_IPS=["not-an-address"]):
            assert client.get(URL).status_code == 403

    def test_token_and_addresses_both_required(self, client):
        with override_settings(VIEWSTATS_METRICS_TOKEN=TOKEN, VIEWSTATS_METRICS_ALLOWED_IPS=["127.0.0.1"]):
            assert client.get(URL, HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
            assert client.get(URL, REMOTE_ADDR="192.0.2.1",
                              HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 403
            assert client.get(URL, HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200

    def test_system_check_names_bad_settings(self):
        from viewstats.checks import check_monitoring

        with override_settings(VIEWSTATS_METRICS_ALLOWED_IPS=["10.0.0.0/8", "nope"], VIEWSTATS_LOG_IP="half"):
            ids = sorted(e.id for e in check_monitoring(None))
        assert ids == ["viewstats.E005", "viewstats.E006"]
        assert check_monitoring(None) == []


# ---------------------------------------------------- scrape-time gauges

@pytest.mark.django_db
def test_commands_and_cache_lag(client, operator, capsys, monkeypatch):
    """A cron-style run (run_from_argv) is recorded for the web process; rollup and smartystats lags."""
    from django.core.management import load_command_class
    from django.db import connections

    # run_from_argv closes every connection when the command ends, as a cron
    # process should; here that would be the test's own transaction (PostgreSQL).
    monkeypatch.setattr(connections, "close_all", lambda: None)

    from smartystats.models import FillState, StatsSnapshot

    def run(*argv):
        command = load_command_class("viewstats", argv[0])
        command.run_from_argv(["manage.py", *argv])

    # Embedded engine without sessions: the guard refuses (exit 6), which is a failure.
    with pytest.raises(SystemExit):
        run("viewstats_fill_rollups", "--quiet")
    failed = CommandRun.objects.get(command="viewstats_fill_rollups")
    assert failed.last_failure_at is not None and failed.last_exit_status == 6
    assert failed.last_success_at is None

    key = operator.login(operator.accounts[0], "mag")
    assert push(client, operator, key).json()["error"] == 0
    run("viewstats_fill_rollups", "--quiet")
    done = CommandRun.objects.get(command="viewstats_fill_rollups")
    assert done.last_success_at is not None and done.last_success_seconds >= 0

    c = str(operator.client.id)
    t = datetime.now(timezone.utc)
    FillState.objects.create(client_id=operator.client.id, series="customers_active::hour",
                             end_time=t - timedelta(hours=2), state=FillState.DONE)
    FillState.objects.create(client_id=operator.client.id, series="customers_active::day",
                             end_time=t - timedelta(hours=1), state=FillState.STARTED)
    StatsSnapshot.objects.create(client_id=operator.client.id, taken_at=t - timedelta(hours=3), data={})
    values = scrape(client)
    stamp = val(values, "viewstats_command_last_success_timestamp_seconds", command="viewstats_fill_rollups")
    assert abs(stamp - t.timestamp()) < 60
    command = {"command": "viewstats_fill_rollups"}
    assert val(values, "viewstats_command_last_failure_timestamp_seconds", **command) > 0
    assert val(values, "viewstats_command_last_success_duration_seconds", **command) == \
        pytest.approx(done.last_success_seconds, abs=0.01)
    assert 0 <= val(values, "viewstats_cache_fill_lag_seconds", client=c, cache="rollups") < 60
    assert abs(val(values, "viewstats_cache_fill_lag_seconds", client=c, cache="customers_active::hour")
               - 7200) < 60
    # STARTED: the day before the one being written is the last final bucket
    assert abs(val(values, "viewstats_cache_fill_lag_seconds", client=c, cache="customers_active::day")
               - 25 * 3600) < 60
    assert abs(val(values, "viewstats_cache_fill_lag_seconds", client=c, cache="save_stats") - 3 * 3600) < 60


@pytest.mark.django_db
def test_call_command_records_nothing(operator):
    from django.core.management import call_command

    call_command("viewstats_fill_rollups", "--quiet")
    assert not CommandRun.objects.exists()


@pytest.mark.django_db
def test_mongodb_down_at_scrape_time(client, monkeypatch):
    def down(*args, **kwargs):
        raise ServerSelectionTimeoutError("mongo1:27017: timed out")
    monkeypatch.setattr(store, "push_sessions_open", down)
    values = scrape(client)
    assert val(values, "viewstats_store_up") == 0
    assert ("viewstats_heartbeat_sessions_open", ()) not in values


@pytest.mark.django_db
def test_rq_unreachable_does_not_break_metrics(client, settings):
    queue = settings.VIEWSTATS_RQ_QUEUE
    settings.SMARTY_USE_RQ = True
    settings.RQ_QUEUES = {**settings.RQ_QUEUES, queue: {"URL": "redis://127.0.0.1:1/0"}}
    values = scrape(client)
    assert val(values, "viewstats_rq_up") == 0
    assert ("viewstats_rq_queue_length", (("queue", queue),)) not in values
    assert ("viewstats_store_up", ()) in values


def _redis_url():
    url = os.environ.get("TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception:
        return None
    return url


@pytest.mark.django_db
def test_rq_queue_length(client, settings):
    url = _redis_url()
    if url is None:
        pytest.skip("no Redis reachable (TEST_REDIS_URL)")
    queue = settings.VIEWSTATS_RQ_QUEUE  # this run's own queue (conftest)
    settings.SMARTY_USE_RQ = True
    settings.RQ_QUEUES = {**settings.RQ_QUEUES, queue: {"URL": url}}
    import redis
    from rq import Queue

    # rq's own Queue: django_rq's defers enqueueing to the end of the test's transaction.
    q = Queue(queue, connection=redis.Redis.from_url(url))
    q.empty()
    q.enqueue("viewstats.offload.use_rq")
    q.enqueue("viewstats.offload.use_rq")
    try:
        values = scrape(client)
        assert val(values, "viewstats_rq_up") == 1
        assert val(values, "viewstats_rq_queue_length", queue=queue) == 2
        assert ("viewstats_rq_failed_jobs", (("queue", queue),)) in values
    finally:
        q.empty()


# ------------------------------------------------------------ reason codes

@pytest.mark.parametrize("text, code", [
    ("item: expected a JSON object", "malformed"),
    ("event: expected a JSON object", "malformed"),
    ("item: could not be validated", "internal"),
    ("id: required", "missing_field"),
    ("program_id: required for archive viewing", "missing_field"),
    ("utc_ms: required (or opened_at/started_at/updated_at/closed_at)", "missing_field"),
    ("channel_id: expected an integer, got 'required'", "bad_value"),  # the sender's text decides nothing
    ("type: expected live or archive, got 'in the future'", "bad_value"),
    ("channel_id: must be >= 0", "out_of_range"),
    ("timeshift_offset must be <= 168", "out_of_range"),
    ("bytes: out of range (a 64-bit integer)", "out_of_range"),
    ("client_id: does not match the authenticated client", "client_mismatch"),
    ("channel_id: 7 is not a channel of this client", "unknown_channel"),
    ("channel_id 7 is not a channel of this client", "unknown_channel"),
    ("program_id: 9 is not a programme of channel 7", "unknown_programme"),
    ("end: before start", "bad_interval"),
    ("end: session longer than 24 hours", "bad_interval"),
    ("opened_at: session longer than 24 hours", "bad_interval"),
    ("end: in the future (more than 300 s ahead of the server clock)", "future"),
    ("start: older than 30 days", "too_old"),
    ("start: 'yesterday' is not an ISO 8601 timestamp", "bad_value"),
    ("start: '2024-01-01T00:00' has no UTC offset", "bad_value"),
    ("limit: more than 2000 sessions for this account on 2024-05-01", "limit"),
    ("record limit exceeded: 2000 sessions for this account today", "limit"),
    ("channel_session collides with a concurrent push; retry", "conflict"),
    ("id: must be printable Unicode text", "bad_value"),
    ("media: not valid Unicode text", "bad_value"),
    ("something nobody wrote yet", "invalid"),
])
def test_reason_codes(text, code):
    assert code in metrics.REASONS
    assert metrics.reason_code(text) == code


# --------------------------------------------- dashboard and alert rules

METRIC_NAME = re.compile(r"\bviewstats_[a-z0-9_]+")
QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')  # label values ("viewstats_fill_rollups" is a command)


class METRIC:
    @staticmethod
    def findall(text):
        """The series a PromQL text names (not label values, not # comments)."""
        text = "\n".join(line.split(" #")[0] for line in text.splitlines()
                         if not line.lstrip().startswith("#"))
        return METRIC_NAME.findall(QUOTED.sub('""', text))


def _grafana_exprs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "query", "definition") and isinstance(value, str):
                yield value
            elif isinstance(value, dict) and key == "query" and isinstance(value.get("query"), str):
                yield value["query"]
            else:
                yield from _grafana_exprs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _grafana_exprs(item)


def test_grafana_dashboard_queries_only_exported_series():
    dashboard = json.loads((ROOT / "deploy/grafana/viewstats.json").read_text())
    exported = metrics.exported_names()
    panels = [p for p in dashboard["panels"] if p.get("type") != "row"]
    assert len(panels) >= 8
    used = set()
    for panel in panels:
        exprs = [t["expr"] for t in panel.get("targets", [])]
        assert exprs, f"panel {panel.get('title')!r} has no query"
        for expr in exprs:
            names = set(METRIC.findall(expr))
            assert names, f"panel {panel['title']!r}: {expr!r} names no series"
            assert names <= exported, f"panel {panel['title']!r}: unknown {names - exported}"
            used |= names
    for expr in _grafana_exprs(dashboard.get("templating", {})):
        assert set(METRIC.findall(expr)) <= exported, expr
    # every family is on the dashboard somewhere
    def family(name):
        return re.sub(r"_(total|bucket|count|sum|created)$", "", name)
    missing = {family(n) for n in exported} - {family(n) for n in used}
    assert not missing, missing


def test_alert_rules_and_scrape_config_name_only_exported_series():
    exported = metrics.exported_names()
    alerts = (ROOT / "deploy/prometheus/alerts.yml").read_text()
    names = set(METRIC.findall(alerts))
    assert names and names <= exported, names - exported
    for alert in ("ViewstatsStoreErrors", "ViewstatsNoIngest", "ViewstatsCacheStale",
                  "ViewstatsCommandNotSucceeding"):
        assert f"alert: {alert}" in alerts
    scrape_yml = (ROOT / "deploy/prometheus/scrape.yml").read_text()
    assert "/viewstats/metrics" in scrape_yml and "credentials_file" in scrape_yml


# ------------------------------------------------------- multiprocess mode

CHILD = """
import os, sys
from viewstats import metrics
n = int(sys.argv[1])
metrics.EVENTS_RECEIVED.labels("push", "7").inc(n)
metrics.EVENTS_REJECTED.labels("batch", "7", "malformed").inc(1)
metrics.REQUEST_DURATION.labels("stat-push").observe(0.02 * n)
from prometheus_client import Summary
Summary("other_library_seconds", "another library's series (django_rq has one)").observe(1)
print(os.getpid())
"""


def _multiprocess_values(path):
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(path))
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in registry.collect() for s in family.samples}


@pytest.mark.django_db
def test_multiprocess_counts_of_two_processes_add_up(tmp_path, monkeypatch):
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    children = [subprocess.Popen([sys.executable, "-c", CHILD, str(n)], env=env, cwd=ROOT,
                                 stdout=subprocess.PIPE, text=True) for n in (3, 4)]
    pids = []
    for child in children:
        out, _ = child.communicate(timeout=120)
        assert child.returncode == 0
        pids.append(int(out.strip()))
    assert sorted(p.name for p in tmp_path.glob("*.db")) == sorted(
        f"{kind}_{pid}.db" for pid in pids for kind in ("counter", "histogram", "summary"))

    def check(values):
        assert val(values, "viewstats_events_received_total", protocol="push", client="7") == 7
        assert val(values, "viewstats_events_rejected_total", protocol="batch", client="7",
                   reason="malformed") == 2
        assert val(values, "viewstats_request_duration_seconds_count", view="stat-push") == 2
        assert val(values, "viewstats_request_duration_seconds_bucket", view="stat-push", le="0.1") == 2
        assert abs(val(values, "viewstats_request_duration_seconds_sum", view="stat-push") - 0.14) < 1e-9

    check(_multiprocess_values(tmp_path))
    # gunicorn's child_exit: the dead workers' files fold into the archive, totals unchanged
    for pid in pids:
        metrics_multiprocess.worker_exited(pid, str(tmp_path))
    assert sorted(p.name for p in tmp_path.glob("*.db")) == [
        "counter_archive.db", "histogram_archive.db", "summary_archive.db"]
    check(_multiprocess_values(tmp_path))
    # what /metrics answers in that mode: the files plus the scrape-time gauges
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    text = metrics.scrape().decode()
    assert "other_library" not in text and "viewstats_store_up" in text
    check({(s.name, tuple(sorted(s.labels.items()))): s.value
           for f in text_string_to_metric_families(text) for s in f.samples})
    # a new server start empties the folder
    metrics_multiprocess.prepare(str(tmp_path))
    assert not list(tmp_path.glob("*.db"))


@pytest.mark.django_db
def test_a_crashing_view_is_counted_as_internal(operator, monkeypatch):
    from django.test import Client

    client = Client(raise_request_exception=False)
    key = operator.login(operator.accounts[0], "mag")
    monkeypatch.setattr("viewstats.views.collect.ingest_batch", lambda *a: 1 / 0)
    before = scrape(client)
    assert post_batch(client, key, []).status_code == 500
    after = scrape(client)
    assert delta(before, after, "viewstats_requests_rejected_total", protocol="batch",
                 client=str(operator.client.id), reason="internal") == 1
    assert delta(before, after, "viewstats_request_duration_seconds_count", view="stat-batch") == 1
