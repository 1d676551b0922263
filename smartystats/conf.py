"""Settings of the smartystats app, with their defaults.

Read through `setting(name)` at call time so tests can override them. The RQ
switch and queue are viewstats' (SMARTY_USE_RQ, VIEWSTATS_RQ_QUEUE): both apps
offload under the same setting.
"""
from django.conf import settings

DEFAULTS = {
    # Days, hours, "today" and "this month" of every smartystats cache and page
    # are the operator's local ones (the host's Operator.time_zone), like the
    # viewstats reports: a local day may have 23 or 25 hours, a local hour may
    # start at :30 or :15 past the UTC hour. True keeps Smarty's behaviour:
    # UTC days and hours for every operator. Changing it (or an operator's
    # zone) makes the caches built in the other zone stale: pages refuse them
    # and the next cron runs rebuild them (`manage.py smartystats_rebuild
    # --client_id N` does it at once).
    "SMARTYSTATS_USE_UTC": False,
    # Hourly chart series are kept from this many days before the first run
    # onwards (daily series start at the beginning of the previous month).
    "SMARTYSTATS_HOURLY_DAYS": 3,
    # Hourly rows (chart series by hour and max online per hour) older than
    # this many days are deleted by the runs that fill them; daily rows stay.
    # None keeps them all. Keep it above SMARTYSTATS_MAX_HOURLY_RANGE_DAYS.
    "SMARTYSTATS_HOURLY_RETENTION_DAYS": 92,
    # Longest range (days) the page and the JSON endpoint serve by hour.
    "SMARTYSTATS_MAX_HOURLY_RANGE_DAYS": 7,
    # The first run's max-online backlog is swept this many days per MongoDB
    # query (memory stays bounded by concurrency either way).
    "SMARTYSTATS_MAX_ONLINE_SWEEP_DAYS": 7,
    # Locks: "auto" uses Redis (the RQ queue's connection, or
    # SMARTYSTATS_LOCK_REDIS_URL) when it answers a ping, else a file lock in
    # SMARTYSTATS_LOCK_DIR. "redis" and "file" force one.
    "SMARTYSTATS_LOCK_BACKEND": "auto",
    "SMARTYSTATS_LOCK_REDIS_URL": "",
    "SMARTYSTATS_LOCK_DIR": "",
    # Prefix of the lock keys. Empty (the default) means
    # "<VIEWSTATS_REDIS_NAMESPACE>:smartystats:lock:", or "smartystats:lock:"
    # without a namespace.
    "SMARTYSTATS_LOCK_PREFIX": "",
    # A Redis lock is a lease of this many seconds, renewed every third of it
    # while its holder runs: a killed holder on another host frees it after
    # this long at most (on the same host at once: its process is gone). It
    # need not cover a whole run; keep it well above a possible process stall.
    "SMARTYSTATS_LOCK_LEASE_SECONDS": 60,
    # Widgets a user shows on the admin index before choosing any.
    "SMARTYSTATS_DEFAULT_INDEX_WIDGETS": ["customers_active", "accounts_active", "online_peak"],
}


def setting(name):
    if name in DEFAULTS:
        return getattr(settings, name, DEFAULTS[name])
    from viewstats.conf import setting as viewstats_setting

    return viewstats_setting(name)
