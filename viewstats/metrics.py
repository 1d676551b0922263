"""Prometheus metrics of the suite, and the /viewstats/metrics endpoint.

Two kinds of series (README, "Monitoring", lists them all):

* counters and a latency histogram, counted by the web processes as they
  serve the collection APIs (the hooks in views/collect.py and
  views/mediaserver.py call the *_outcome() functions below). Under
  gunicorn with several workers they are shared through
  prometheus_client's multiprocess mode when PROMETHEUS_MULTIPROC_DIR is
  set (metrics_multiprocess.py); without it they are per process, right
  for `runserver` and one worker only;
* gauges computed when Prometheus scrapes (ScrapeCollector), from what is
  persisted anyway: open heartbeat sessions (a bounded count on the
  push-state index), cache fill times (rollup_state, smartystats'
  FillState), the last run of each command (CommandRun, written by the
  command guard: cron runs commands as processes of their own), the
  collection checkbox and the RQ queue. A scrape never reads sessions.

Label values are bounded: `protocol` and `reason` are fixed sets
(PROTOCOLS, REASONS: free-text validation reasons are mapped to a code),
`view` is a URL name, `client` is the id of an authenticated operator ("" when
the request had not authenticated, which Prometheus stores as no label),
`command` a command name, `cache` a series name. So the number of series grows with the number of operators,
never with devices, accounts or what a request says.
"""
import functools
import hmac
import ipaddress
import logging
import re
import time
from collections import Counter as Tally
from datetime import datetime, timedelta, timezone

from prometheus_client import CollectorRegistry, Counter, Histogram, exposition
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import generate_latest

from . import logs, metrics_multiprocess
from .conf import setting

logger = logging.getLogger(__name__)

# The classic text format, which every Prometheus reads (the names here need
# none of the newer format's escaping); older clients only know that one.
CONTENT_TYPE = getattr(exposition, "CONTENT_TYPE_PLAIN_0_0_4", exposition.CONTENT_TYPE_LATEST)

PUSH, BATCH, MEDIA_SERVER = "push", "batch", "media-server"
PROTOCOLS = (PUSH, BATCH, MEDIA_SERVER)

# Why an item or a request was refused. Every validation message of the
# three APIs maps to one of these (reason_code); the message itself goes to
# the log line only, never into a label.
REASONS = (
    "auth",               # no/unknown/expired authkey or server token; push: client or device mismatch
    "disabled",           # the device type's "Enable statistical data collection" is off
    "client_mismatch",    # client_id differs from the authenticated client
    "malformed",          # not JSON, not an array/object, wrong content type or method
    "too_large",          # body or item count over the limits
    "missing_field",      # a required field is absent
    "bad_value",          # a field of the wrong type or form
    "out_of_range",       # a number outside its bounds
    "unknown_channel",    # channel_id is not a channel of the client
    "unknown_programme",  # program_id does not air on the channel
    "bad_interval",       # end before start, or a session longer than allowed
    "future",             # later than the server clock allows
    "too_old",            # older than VIEWSTATS_MAX_EVENT_AGE_DAYS
    "limit",              # the account's daily session limit
    "conflict",           # a push racing another push of the same channel_session
    "store_unavailable",  # MongoDB failed: the sender is told to resend
    "internal",           # a bug of ours (logged with its traceback)
    "invalid",            # anything else
)

# The first rule whose phrase the reason contains decides (lower case, quoted
# values and whatever follows "got" removed: they are the sender's text).
_RULES = (
    ("expected a json object", "malformed"),
    ("could not be validated", "internal"),
    ("does not match", "client_mismatch"),
    ("is not a channel", "unknown_channel"),
    ("is not a programme", "unknown_programme"),
    ("in the future", "future"),
    ("older than", "too_old"),
    ("before start", "bad_interval"),
    ("session longer than", "bad_interval"),
    ("record limit", "limit"),
    ("collides", "conflict"),
    ("required", "missing_field"),
    ("out of range", "out_of_range"),
    ("must be >=", "out_of_range"),
    ("must be <=", "out_of_range"),
    ("expected", "bad_value"),
    ("must be", "bad_value"),
    ("not valid", "bad_value"),
    ("is not an iso 8601", "bad_value"),
    ("no utc offset", "bad_value"),
    ("longer than", "bad_value"),
)
_SENDER_TEXT = re.compile(r"""'[^']*'|"[^"]*"|\bgot\b.*""")
_PUSH_AUTH = ("authkey", "client_id", "device ")


def reason_code(text):
    """The REASONS code of a validation message ("channel_id: 7 is not a channel ..." -> unknown_channel)."""
    text = _SENDER_TEXT.sub("", str(text).lower())
    if text.startswith("limit:"):
        return "limit"
    for phrase, code in _RULES:
        if phrase in text:
            return code
    return "invalid"


# ------------------------------------------------------------------- series

# Our own registry: /metrics shows exactly the suite's series (all named
# viewstats_*), whatever else the host process registers in the default one.
REGISTRY = CollectorRegistry()

_PC = ("protocol", "client")
EVENTS_RECEIVED = Counter(
    "viewstats_events_received", "Items read from the collection APIs: pushes, batch items, media-server "
    "events. = stored + duplicate + rejected + ignored.", _PC, registry=REGISTRY)
EVENTS_STORED = Counter(
    "viewstats_events_stored", "Items stored (a push that opened or extended a session, a new batch item, "
    "a new media-server event).", _PC, registry=REGISTRY)
EVENTS_DUPLICATE = Counter(
    "viewstats_events_duplicate", "Items already stored (resends, retried pushes): recognised, not counted "
    "again.", _PC, registry=REGISTRY)
EVENTS_REJECTED = Counter(
    "viewstats_events_rejected", "Items refused for their content, by reason code.", (*_PC, "reason"),
    registry=REGISTRY)
EVENTS_IGNORED = Counter(
    "viewstats_events_ignored", "Media-server events of types the sink does not use (stream_*, ...).", _PC,
    registry=REGISTRY)
REQUESTS_REJECTED = Counter(
    "viewstats_requests_rejected", "Requests refused whole before their items were read (authentication, "
    "collection disabled, body, store unavailable), by reason code.", (*_PC, "reason"), registry=REGISTRY)
STORE_ERRORS = Counter(
    "viewstats_store_errors", "Failed MongoDB calls of the web processes, by operation.", ("operation",),
    registry=REGISTRY)
REQUEST_DURATION = Histogram(
    "viewstats_request_duration_seconds", "Time to answer an API request (to the first byte of a streamed "
    "CSV), by view name.", ("view",), registry=REGISTRY,
    buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30))

# The bounded count of open heartbeat sessions stops here: a scrape reads at
# most this many index keys, whatever the size of the base.
OPEN_SESSIONS_CAP = 1_000_000

# The scrape-time gauges: name -> (help, labels).
SCRAPE_GAUGES = {
    "viewstats_heartbeat_sessions_open": (
        f"Devices whose last stat/push is at most VIEWSTATS_PUSH_SESSION_TIMEOUT old (their session is "
        f"open); counted on an index, capped at {OPEN_SESSIONS_CAP}.", ()),
    "viewstats_store_up": ("1 if the scrape's reads from MongoDB succeeded, else 0.", ()),
    "viewstats_cache_fill_lag_seconds": (
        "Seconds since a cache was last filled: cache=rollups (viewstats_fill_rollups or a report), "
        "a smartystats series (its last final bucket) or save_stats (the latest snapshot).",
        ("client", "cache")),
    "viewstats_command_last_success_timestamp_seconds": (
        "When a command last finished successfully (run from the shell/cron).", ("command",)),
    "viewstats_command_last_success_duration_seconds": (
        "How long that successful run took.", ("command",)),
    "viewstats_command_last_failure_timestamp_seconds": (
        "When a command last failed (any non-zero exit).", ("command",)),
    "viewstats_collection_enabled_device_types": (
        "Device types of the client with 'Enable statistical data collection' ticked.", ("client",)),
    "viewstats_rq_up": ("1 if Redis answered for the RQ queue, else 0 (only with SMARTY_USE_RQ).", ()),
    "viewstats_rq_queue_length": ("Jobs waiting on the RQ queue.", ("queue",)),
    "viewstats_rq_failed_jobs": ("Jobs in the queue's failed-job registry.", ("queue",)),
}


def _client(client_id):
    return "" if client_id is None else str(client_id)


def _never_raises(func):
    """Monitoring must not break the API: a bug here costs a metric, not a request."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except Exception:
            logger.exception("metrics: %s failed", func.__name__)
    return wrapper


# ------------------------------------------------------------------- hooks

def api(protocol=None):
    """Decorator of an API view: its request id, its latency, and (for a
    collection API) the requests it refuses with an error status.

    What a view knows better than the status (the client, "disabled"), it
    tells with note() before answering.
    """
    def decorate(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            token = logs.begin_request(request)
            started = time.perf_counter()
            try:
                response = view(request, *args, **kwargs)
                _answered(request, view, protocol, response, time.perf_counter() - started)
                return response
            except BaseException:
                _observe(request, view, time.perf_counter() - started)
                if protocol is not None:
                    _crashed(request, protocol)  # Django answers 500
                raise
            finally:
                logs.end_request(token)
        return wrapper
    return decorate


def note(request, login=None, client_id=None, device_type=None, reason=None, error=None):
    """What the view knows about a request it is about to refuse (or serve)."""
    noted = request.__dict__.setdefault("_viewstats_noted", {})
    if login is not None:
        client_id, device_type = login.client_id, login.device_type
    for key, value in (("client", client_id), ("device_type", device_type), ("reason", reason),
                       ("error", error)):
        if value is not None:
            noted[key] = value


# What an error status of a collection API means, unless the view noted a
# reason (the batch API's 403s: "disabled" is noted, client_id mismatch is not).
_STATUS_REASONS = {400: "malformed", 401: "auth", 403: "client_mismatch", 405: "malformed",
                   413: "too_large", 415: "malformed", 503: "store_unavailable"}


@_never_raises
def _observe(request, view, seconds):
    match = getattr(request, "resolver_match", None)
    name = (match.url_name if match is not None else None) or view.__name__
    REQUEST_DURATION.labels(name).observe(seconds)


@_never_raises
def _answered(request, view, protocol, response, seconds):
    _observe(request, view, seconds)
    response.setdefault("X-Request-ID", logs.request_id(request))
    if protocol is None or response.status_code < 400:
        return
    noted = getattr(request, "_viewstats_noted", {})
    status = response.status_code
    reason = noted.get("reason") or _STATUS_REASONS.get(status, "internal" if status >= 500 else "invalid")
    client, device_type = noted.get("client"), noted.get("device_type")
    if reason == "store_unavailable":
        _store_error(request, protocol, client, device_type, _OPERATIONS[protocol],
                     noted.get("error") or f"answered {status}")
    _refuse(request, protocol, client, device_type, reason, status=status)


_OPERATIONS = {PUSH: "push", BATCH: "batch_insert", MEDIA_SERVER: "media_events"}


@_never_raises
def _crashed(request, protocol):
    noted = getattr(request, "_viewstats_noted", {})
    _refuse(request, protocol, noted.get("client"), noted.get("device_type"), "internal", status=500)


def _refuse(request, protocol, client_id, device_type, reason, status=None, code=None):
    REQUESTS_REJECTED.labels(protocol, _client(client_id), reason).inc()
    logs.refused(request, protocol, client_id, device_type, reason, status=status, code=code)


def _store_error(request, protocol, client_id, device_type, operation, error):
    STORE_ERRORS.labels(operation).inc()
    logs.store_failed(request, protocol, client_id, device_type, operation, error)


@_never_raises
def store_error(operation):
    """A failed MongoDB call outside the collection APIs (reports: outage.json_api)."""
    STORE_ERRORS.labels(operation).inc()


@_never_raises
def push_outcome(request, login, error=None, stored=True):
    """One stat/push: served (`error` None; `stored` False for a stale retry) or a PushError."""
    from .push import BAD_PARAMETER, NOT_ENABLED, STORE_UNAVAILABLE

    client_id = login.client_id if login is not None else None
    device_type = login.device_type if login is not None else None
    client = _client(client_id)
    if error is None:
        EVENTS_RECEIVED.labels(PUSH, client).inc()
        (EVENTS_STORED if stored else EVENTS_DUPLICATE).labels(PUSH, client).inc()
        return
    if error.code == NOT_ENABLED:
        _refuse(request, PUSH, client_id, device_type, "disabled", code=error.code)
    elif error.code == STORE_UNAVAILABLE:
        _store_error(request, PUSH, client_id, device_type, "push", error.__cause__ or error)
        _refuse(request, PUSH, client_id, device_type, "store_unavailable", code=error.code)
    elif error.code == BAD_PARAMETER and error.message.startswith(_PUSH_AUTH):
        # Who sent it is not established: the request is refused whole.
        _refuse(request, PUSH, client_id, device_type, "auth", code=error.code)
    else:
        reason = reason_code(error.message)
        EVENTS_RECEIVED.labels(PUSH, client).inc()
        EVENTS_REJECTED.labels(PUSH, client, reason).inc()
        logs.rejected(request, PUSH, client_id, device_type, reason, error.message)


def _count_items(request, protocol, client_id, device_type, received, stored, duplicates, rejected,
                 ignored=0):
    """`rejected`: [(index, [reasons])]; one line is logged per item, the first reason is its code."""
    client = _client(client_id)
    EVENTS_RECEIVED.labels(protocol, client).inc(received)
    EVENTS_STORED.labels(protocol, client).inc(stored)
    EVENTS_DUPLICATE.labels(protocol, client).inc(duplicates)
    if ignored:
        EVENTS_IGNORED.labels(protocol, client).inc(ignored)
    by_reason = Tally()
    for index, reasons in rejected:
        reason = reason_code(reasons[0]) if reasons else "invalid"
        by_reason[reason] += 1
        logs.rejected(request, protocol, client_id, device_type, reason, "; ".join(reasons), index=index)
    for reason, count in by_reason.items():
        EVENTS_REJECTED.labels(protocol, client, reason).inc(count)


@_never_raises
def batch_outcome(request, login, result):
    """A stored batch (viewstats.batch.BatchResult)."""
    rejected = [(r["index"], r["reasons"]) for r in result.rejected]
    _count_items(request, BATCH, login.client_id, login.device_type,
                 received=len(result.accepted) + len(result.duplicates) + len(rejected),
                 stored=len(result.accepted), duplicates=len(result.duplicates), rejected=rejected)


@_never_raises
def mediaserver_outcome(request, server, result):
    """A stored media-server batch (viewstats.mediaserver.EventsResult)."""
    rejected = [(r["index"], r["reasons"]) for r in result.rejected]
    ignored = sum(result.ignored.values())
    _count_items(request, MEDIA_SERVER, server.client_id, None,
                 received=result.accepted + len(result.duplicates) + len(rejected) + ignored,
                 stored=result.accepted, duplicates=len(result.duplicates), rejected=rejected,
                 ignored=ignored)
    for failed in result.sessions_failed:  # its events are stored; a resend repairs the session
        _store_error(request, MEDIA_SERVER, server.client_id, None, "media_session", failed["error"])


# -------------------------------------------------------- commands (cron)

def command_name(command):
    """A management command's name: the module it is defined in (Django's rule)."""
    return type(command).__module__.rsplit(".", 1)[-1]


def record_command(name, started_at, seconds, error=None):
    """Persist how a command run ended, for the web process's scrape to read.

    Never fails the command: monitoring that cannot write says so in the log.
    """
    try:
        from .models import CommandRun

        if error is None:
            fields = {"last_success_at": started_at + timedelta(seconds=seconds),
                      "last_success_seconds": round(seconds, 3)}
        else:
            fields = {"last_failure_at": started_at + timedelta(seconds=seconds),
                      "last_exit_status": getattr(error, "returncode", 1)}
        CommandRun.objects.update_or_create(command=name, defaults=fields)
    except Exception:
        logger.warning("could not record the run of %s for monitoring", name, exc_info=True)


# ----------------------------------------------------------- scrape time

def _timestamp(instant):
    if instant.tzinfo is None:  # the embedded engine hands back naive UTC
        instant = instant.replace(tzinfo=timezone.utc)
    return instant.timestamp()


def _lag(now, instant):
    return max(0.0, now.timestamp() - _timestamp(instant))


class ScrapeCollector:
    """The gauges read when Prometheus scrapes. Each part fails alone, and
    one whose source is down leaves out its series (store and Redis say so
    with their *_up gauge)."""

    def describe(self):
        return [GaugeMetricFamily(name, doc, labels=labels) for name, (doc, labels) in SCRAPE_GAUGES.items()]

    def collect(self):
        now = datetime.now(timezone.utc)
        families = {f.name: f for f in self.describe()}
        for part in (self._store, self._smartystats, self._commands, self._collection, self._rq):
            try:
                part(now, families)
            except Exception:
                logger.warning("metrics: %s failed at scrape time", part.__name__, exc_info=True)
        return [f for f in families.values() if f.samples]

    def _store(self, now, families):
        from . import store

        try:
            since = now - timedelta(seconds=int(setting("VIEWSTATS_PUSH_SESSION_TIMEOUT")))
            open_sessions = store.push_sessions_open(since, OPEN_SESSIONS_CAP)
            fills = store.rollup_fill_times()
        except Exception as exc:
            # Unreachable MongoDB: one failed call (bounded by its timeout), then no more this scrape.
            logger.warning("metrics: MongoDB read failed at scrape time: %s", str(exc).splitlines()[0][:200]
                           if str(exc) else type(exc).__name__)
            families["viewstats_store_up"].add_metric([], 0)
            return
        families["viewstats_store_up"].add_metric([], 1)
        families["viewstats_heartbeat_sessions_open"].add_metric([], open_sessions)
        for client_id, filled_at in sorted(fills.items(), key=lambda kv: str(kv[0])):
            if filled_at is not None:
                families["viewstats_cache_fill_lag_seconds"].add_metric([_client(client_id), "rollups"],
                                                                        _lag(now, filled_at))

    def _smartystats(self, now, families):
        """smartystats' fill states and snapshots, read-only (that app owns them)."""
        from django.apps import apps

        if not apps.is_installed("smartystats"):
            return
        from django.db.models import Max

        from smartystats.models import FillState, StatsSnapshot

        lag = families["viewstats_cache_fill_lag_seconds"]
        for client_id, series, end_time, state in FillState.objects.order_by("client_id", "series") \
                .values_list("client_id", "series", "end_time", "state"):
            last = end_time
            if state != FillState.DONE:
                # A run is writing the bucket ending at end_time (or died in
                # it): the buckets before it are final.
                daily = series.endswith(":day") or series.startswith("max_online")
                last = end_time - (timedelta(days=1) if daily else timedelta(hours=1))
            lag.add_metric([_client(client_id), series], _lag(now, last))
        for client_id, taken_at in StatsSnapshot.objects.values("client_id").order_by("client_id") \
                .annotate(latest=Max("taken_at")).values_list("client_id", "latest"):
            lag.add_metric([_client(client_id), "save_stats"], _lag(now, taken_at))

    def _commands(self, now, families):
        from .models import CommandRun

        for run in CommandRun.objects.order_by("command"):
            if run.last_success_at is not None:
                families["viewstats_command_last_success_timestamp_seconds"].add_metric(
                    [run.command], _timestamp(run.last_success_at))
                families["viewstats_command_last_success_duration_seconds"].add_metric(
                    [run.command], run.last_success_seconds or 0.0)
            if run.last_failure_at is not None:
                families["viewstats_command_last_failure_timestamp_seconds"].add_metric(
                    [run.command], _timestamp(run.last_failure_at))

    def _collection(self, now, families):
        from . import host

        for client_id in host.all_client_ids():  # cached per process like the ingest path's lookups
            enabled = sum(1 for name in host.client_device_types([client_id])
                          if host.collection_enabled(client_id, name))
            families["viewstats_collection_enabled_device_types"].add_metric([_client(client_id)], enabled)

    def _rq(self, now, families):
        from . import offload

        if not offload.use_rq():
            return  # no RQ, no Redis to watch: an absent series, not a false alarm
        name = setting("VIEWSTATS_RQ_QUEUE")
        connection = None
        try:
            from rq import Queue

            connection = _quick_connection(offload.get_queue().connection)
            queue = Queue(name, connection=connection)
            length, failed = queue.count, queue.failed_job_registry.count
        except Exception as exc:
            logger.warning("metrics: RQ queue %s unreachable: %s", name, type(exc).__name__)
            families["viewstats_rq_up"].add_metric([], 0)
            return
        finally:
            if connection is not None:
                connection.close()
        families["viewstats_rq_up"].add_metric([], 1)
        families["viewstats_rq_queue_length"].add_metric([name], length)
        families["viewstats_rq_failed_jobs"].add_metric([name], failed)


RQ_SCRAPE_TIMEOUT = 2  # seconds: an unreachable Redis must not hold the scrape past Prometheus' timeout


def _quick_connection(connection):
    """A connection to the queue's Redis, with short timeouts of its own."""
    import redis

    pool = connection.connection_pool
    kwargs = {**pool.connection_kwargs, "socket_connect_timeout": RQ_SCRAPE_TIMEOUT,
              "socket_timeout": RQ_SCRAPE_TIMEOUT}
    return redis.Redis(connection_pool=redis.ConnectionPool(connection_class=pool.connection_class, **kwargs))


class _Forward:
    """REGISTRY's series inside the per-scrape registry (single-process mode)."""

    def collect(self):
        return REGISTRY.collect()


class _Ours:
    """Only the suite's families of the multiprocess files: other libraries write
    theirs there too (django_rq's RQ collector has a Summary)."""

    def __init__(self, collector):
        self._collector = collector

    def collect(self):
        return [f for f in self._collector.collect() if f.name.startswith("viewstats_")]


def scrape():
    """The text exposition of every series (what /metrics answers)."""
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    registry.register(ScrapeCollector())
    path = metrics_multiprocess.directory()
    if not path:
        registry.register(_Forward())
        return generate_latest(registry)
    registry.register(_Ours(MultiProcessCollector(None, path=path)))
    with metrics_multiprocess.files_lock(path, exclusive=False):
        return generate_latest(registry)


def exported_names():
    """Every sample name /metrics can show (the Grafana and alert tests check their queries against it)."""
    suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created"),
                "gauge": ("",)}
    names = set()
    for family in [*REGISTRY.collect(), *ScrapeCollector().describe()]:
        names.update(family.name + suffix for suffix in suffixes[family.type])
    return names


# --------------------------------------------------------------- endpoint

def allowed_networks(value):
    """VIEWSTATS_METRICS_ALLOWED_IPS as [(entry, network, or None if invalid)].

    A string may list them comma-separated (as the environment gives them).
    """
    entries = value.split(",") if isinstance(value, str) else list(value or ())
    out = []
    for entry in entries:
        entry = str(entry).strip()
        if not entry:
            continue
        try:
            out.append((entry, ipaddress.ip_network(entry, strict=False)))
        except ValueError:
            out.append((entry, None))  # reported by the system check viewstats.E005, never matches
    return out


def _allowed(address, setting_value):
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(network is not None and ip.version == network.version and ip in network
               for _, network in allowed_networks(setting_value))


def endpoint(request):
    """GET /viewstats/metrics: the exposition, for Prometheus only.

    Off (404, as if absent) until VIEWSTATS_METRICS_TOKEN or
    VIEWSTATS_METRICS_ALLOWED_IPS is set: the series name every operator.
    An address outside the list gets 403, a missing or wrong token 401.
    """
    from django.http import Http404, HttpResponse, HttpResponseNotAllowed

    from .origin import client_ip

    token, networks = setting("VIEWSTATS_METRICS_TOKEN"), setting("VIEWSTATS_METRICS_ALLOWED_IPS")
    if not token and not networks:
        raise Http404("metrics are off")
    if networks and not _allowed(client_ip(request.META), networks):
        return HttpResponse("address not allowed\n", status=403, content_type="text/plain")
    if token:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        given = header[7:].strip() if header[:7].lower() == "bearer " else ""
        if not hmac.compare_digest(given.encode(), str(token).encode()):
            response = HttpResponse("bearer token required\n", status=401, content_type="text/plain")
            response["WWW-Authenticate"] = 'Bearer realm="viewstats metrics"'
            return response
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    response = HttpResponse(scrape(), content_type=CONTENT_TYPE)
    response["Cache-Control"] = "no-store"
    return response
