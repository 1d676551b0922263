"""Settings of the viewstats app, with their defaults.

Read through `setting(name)` so tests can override them with Django's
`override_settings` and nothing is frozen at import time.
"""
from django.conf import settings

DEFAULTS = {
    # MongoDB: MONGODB_URI wins; else host/port/credentials as in Smarty's docs;
    # with neither, the embedded in-process engine (not durable).
    "MONGODB_URI": "",
    "MONGODB_HOST": "",
    "MONGODB_PORT": 27017,
    "MONGODB_NAME": "viewstats",
    "MONGODB_USERNAME": "",
    "MONGODB_PASSWORD": "",
    "MONGODB_AUTH_METHOD": "",
    # Demo only: a folder the embedded engine loads its data from when the
    # process starts and saves it to at exit (and on store.save_embedded()).
    # One process at a time may use it; "" keeps the data in memory only.
    "VIEWSTATS_EMBEDDED_PATH": "",
    # How long a call waits for an unreachable MongoDB before failing (the
    # APIs then answer 503 / error 2); a MONGODB_URI's own timeouts win.
    "VIEWSTATS_MONGODB_TIMEOUT_MS": 5000,
    # Raw sessions older than this many days are dropped by a TTL index
    # (None keeps them: they are what every report is computed from).
    "VIEWSTATS_RAW_RETENTION_DAYS": None,
    # Media-server events are only needed to rebuild their sessions and to
    # recognise a server's resent buffer; the sessions stay. None keeps them.
    "VIEWSTATS_MEDIA_EVENT_RETENTION_DAYS": 35,
    # Seconds a client is told to wait (Retry-After) when MongoDB is unreachable.
    "VIEWSTATS_RETRY_AFTER_SECONDS": 30,
    # stat/push: devices are expected to push every HEARTBEAT seconds while a
    # channel plays; a gap longer than SESSION_TIMEOUT closes the session.
    "VIEWSTATS_PUSH_HEARTBEAT": 60,
    "VIEWSTATS_PUSH_SESSION_TIMEOUT": 180,
    # Record limit (error 4 / batch reason "limit"): sessions one account may
    # open per UTC day.
    "VIEWSTATS_MAX_SESSIONS_PER_ACCOUNT_DAY": 2000,
    # Batch API limits.
    "VIEWSTATS_BATCH_MAX_BYTES": 1_000_000,
    "VIEWSTATS_BATCH_MAX_ITEMS": 2000,
    "VIEWSTATS_MAX_CLOCK_SKEW_SECONDS": 300,
    "VIEWSTATS_MAX_EVENT_AGE_DAYS": 30,
    "VIEWSTATS_MAX_SESSION_HOURS": 24,
    # Longest timeshift (hours behind live) a device may report: the archive depth.
    "VIEWSTATS_MAX_TIMESHIFT_HOURS": 168,
    # Enrichment.
    "VIEWSTATS_GEOIP_PATH": "",
    "VIEWSTATS_TRUSTED_PROXIES": [],
    # Device classification of a never-seen User-Agent. "deferred": the
    # request gets our fast rules' answer at once and the device database
    # fills the session shortly after, in a background thread of the same
    # process; "external": the same, but only `manage.py
    # viewstats_reclassify_devices --pending` (cron, every minute) fills;
    # "inline": the request waits for the full answer (10-40 ms per new string).
    "VIEWSTATS_UA_CLASSIFY": "deferred",
    # Distinct (User-Agent, X-User-Agent) pairs kept in each process.
    "VIEWSTATS_UA_LOCAL_CACHE_SIZE": 20000,
    # How long host lookups (authkeys, the collection checkbox, channel lists)
    # are cached per process. The checkbox takes effect within this time.
    "VIEWSTATS_HOST_CACHE_SECONDS": 30,
    # Reports. Unique sessions: sessions of the same IP, User-Agent and
    # content are one when the next starts at most this many seconds after
    # the previous ended.
    "VIEWSTATS_UNIQUE_GAP_SECONDS": 300,
    # Daily statistics of a day that may still receive data are recomputed
    # when read if older than this; late media-server data marks its days at once.
    "VIEWSTATS_DAILY_REFRESH_SECONDS": 300,
    # Rollups (viewstats/rollups.py): a report builds a client's missing or
    # out-of-zone rollups itself only up to this many sessions; beyond it,
    # `viewstats_fill_rollups` does, and reports read raw sessions meanwhile.
    "VIEWSTATS_ROLLUP_INLINE_BUILD": 100_000,
    # A report refreshes the rollups before reading them at most this often
    # (reports may lag ingestion this long; cron fills too).
    "VIEWSTATS_ROLLUP_REFRESH_SECONDS": 60,
    # How long before a fill's start its watermark is set: a write stamped
    # earlier but stored after the fill read is still taken in next time.
    "VIEWSTATS_ROLLUP_MARGIN_SECONDS": 60,
    # The popularity commands' "last N whole days" are the operator's local
    # days; True makes them UTC days, as in Smarty.
    "VIEWSTATS_POPULARITY_UTC_DAYS": False,
    # Rows per page of the raw session list (the API accepts up to MAX).
    "VIEWSTATS_PAGE_SIZE": 100,
    "VIEWSTATS_PAGE_SIZE_MAX": 1000,
    # RQ: Smarty's own switch, and the queue heavy commands go to.
    "SMARTY_USE_RQ": False,
    "VIEWSTATS_RQ_QUEUE": "statistics",
    # Namespace of the Redis keys the suite names itself (the smartystats
    # locks): give each middleware sharing one Redis its own. RQ keys follow
    # the queue name, so give those middlewares their own VIEWSTATS_RQ_QUEUE too.
    "VIEWSTATS_REDIS_NAMESPACE": "",
    # Monitoring (viewstats/metrics.py). /viewstats/metrics answers 404 until
    # one of these is set: a Bearer token Prometheus sends, and/or the
    # addresses or networks (CIDR) it may come from (the viewer address as
    # VIEWSTATS_TRUSTED_PROXIES resolves it). With both, both must match.
    "VIEWSTATS_METRICS_TOKEN": "",
    "VIEWSTATS_METRICS_ALLOWED_IPS": [],
    # What the structured logs (viewstats/logs.py) keep of a requester's IP
    # address: "full", "truncated" (IPv4 /24, IPv6 /48) or "none".
    "VIEWSTATS_LOG_IP": "truncated",
}


def setting(name):
    return getattr(settings, name, DEFAULTS[name])
