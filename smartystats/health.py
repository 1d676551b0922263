"""Stale-cache detection for monitoring (Zulip's check_analytics_state), and the services.

The services come first: MongoDB unreachable is critical (collection answers
error 2 / 503 and nothing can be computed). The embedded engine passes here:
`check --deploy` already refuses it for a deployment. Redis unreachable is critical when RQ is on
or the locks must use it, else a warning (locks fall back to files, one host).

A series is stale when its last successful fill is older than its schedule
allows: hourly chart series (cache_customers_dynamic runs hourly) warn after
90 minutes and are critical after 150; everything that must run at least
daily (daily series, max online, daily stats, snapshots) warns after 26 hours
and is critical after 50. A series never filled for a client is a warning,
and so is one cut in another time zone than the operator's current one (the
next run rebuilds it; the page refuses it meanwhile).
"""
from dataclasses import dataclass
from datetime import timedelta

from . import zones
from .fill import finished_end
from .models import FillState, StatsSnapshot
from .series import DAILY_STATS as DAILY_SERIES
from .series import ZONED_SERIES

OK, WARNING, CRITICAL = "OK", "WARNING", "CRITICAL"
HOURLY = (timedelta(minutes=90), timedelta(minutes=150))
DAILY = (timedelta(hours=26), timedelta(hours=50))
SNAPSHOT = "save_stats"


@dataclass
class Finding:
    client_id: int
    series: str
    status: str
    last_fill: object  # datetime or None
    message: str

    def as_dict(self):
        return {"client_id": self.client_id, "series": self.series, "status": self.status,
                "last_fill": self.last_fill.isoformat() if self.last_fill else None,
                "message": self.message}


def thresholds(series):
    return HOURLY if series.endswith(":hour") and not series.startswith("max_online") else DAILY


def _judge(client_id, series, last, now):
    if last is None:
        return Finding(client_id, series, WARNING, None, "never filled")
    age = now - last
    warn, crit = thresholds(series)
    status = CRITICAL if age > crit else WARNING if age > warn else OK
    hours = age.total_seconds() / 3600
    return Finding(client_id, series, status, last, f"last filled {hours:.1f} h ago")


def check_services():
    """Findings for MongoDB and Redis (client_id None: they serve every client)."""
    from viewstats import store

    from . import locks
    from .conf import setting

    findings = []
    if store.is_embedded():
        findings.append(Finding(None, "mongodb", OK, None,
                                "embedded in-process engine (demo and tests only)"))
    elif store.ping():
        findings.append(Finding(None, "mongodb", OK, None, "reachable"))
    else:
        findings.append(Finding(None, "mongodb", CRITICAL, None, "unreachable"))
    needed = setting("SMARTY_USE_RQ") or setting("SMARTYSTATS_LOCK_BACKEND") == "redis"
    try:
        locks.redis_connection().ping()
        findings.append(Finding(None, "redis", OK, None, "reachable"))
    except Exception as exc:  # any failure to reach it
        findings.append(Finding(None, "redis", CRITICAL if needed else WARNING, None,
                                f"unreachable ({type(exc).__name__})"
                                + ("" if needed else "; locks fall back to files on this host")))
    return findings


def check(client_ids, now):
    """Findings for the services, then every client and series; worst first."""
    findings = check_services()
    states = {(f.client_id, f.series): f for f in FillState.objects.filter(client_id__in=client_ids)}
    for client_id in client_ids:
        zone = zones.zone_for(client_id)
        for series in ZONED_SERIES:
            fs = states.get((client_id, series))
            last = None if fs is None else (fs.end_time if series == DAILY_SERIES
                                            else finished_end(fs))
            finding = _judge(client_id, series, last, now)
            if fs is not None and fs.zone != zone:
                finding.status = CRITICAL if finding.status == CRITICAL else WARNING
                finding.message += (f"; cut in {fs.zone}, the operator's zone is now {zone}: the next "
                                    f"run rebuilds it, {zones.REBUILD_COMMAND.format(client_id=client_id)} "
                                    f"does it now")
            findings.append(finding)
        snap = (StatsSnapshot.objects.filter(client_id=client_id).order_by("-taken_at", "-id")
                .values_list("taken_at", flat=True).first())
        findings.append(_judge(client_id, SNAPSHOT, snap, now))
    order = {CRITICAL: 0, WARNING: 1, OK: 2}
    findings.sort(key=lambda f: (order[f.status], f.client_id is not None, f.client_id or 0, f.series))
    return findings


def overall(findings):
    statuses = {f.status for f in findings}
    return CRITICAL if CRITICAL in statuses else WARNING if WARNING in statuses else OK
