"""Stale-cache detection for monitoring (Zulip's check_analytics_state).

A series is stale when its last successful fill is older than its schedule
allows: hourly chart series (cache_customers_dynamic runs hourly) warn after
90 minutes and are critical after 150; everything that must run at least
daily (daily series, max online, daily stats, snapshots) warns after 26 hours
and is critical after 50. A series never filled for a client is a warning.
"""
from dataclasses import dataclass
from datetime import timedelta

from .fill import last_successful_fill
from .models import FillState, StatsSnapshot
from .series import ALL_SERIES
from .daily import SERIES as DAILY_SERIES

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


def check(client_ids, now):
    """Findings for every client and series; worst first."""
    findings = []
    states = {(f.client_id, f.series) for f in FillState.objects.filter(client_id__in=client_ids)}
    for client_id in client_ids:
        for series in [*ALL_SERIES, DAILY_SERIES]:
            last = (last_successful_fill(client_id, series) if series != DAILY_SERIES
                    else FillState.objects.filter(client_id=client_id, series=series)
                    .values_list("end_time", flat=True).first())
            if (client_id, series) not in states:
                last = None
            findings.append(_judge(client_id, series, last, now))
        snap = (StatsSnapshot.objects.filter(client_id=client_id).order_by("-taken_at")
                .values_list("taken_at", flat=True).first())
        findings.append(_judge(client_id, SNAPSHOT, snap, now))
    order = {CRITICAL: 0, WARNING: 1, OK: 2}
    findings.sort(key=lambda f: (order[f.status], f.client_id, f.series))
    return findings


def overall(findings):
    statuses = {f.status for f in findings}
    return CRITICAL if CRITICAL in statuses else WARNING if WARNING in statuses else OK
