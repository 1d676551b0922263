"""Per-client work of each command: what runs inline or as one RQ job per client.

Arguments are plain strings so jobs serialise cleanly; each returns a
JSON-friendly summary. Jobs that fill caches hold the client's fill lock, so
two workers (or a cron run and a worker) never fill one client at once.
"""
from datetime import date, datetime, timedelta

from . import daily, fill, host, locks, snapshot, zones
from .series import MAX_ONLINE
from .timeutils import day_start


def _t(value):
    return datetime.fromisoformat(value) if value else None


def _busy(exc):
    """A client another run is filling: reported, not filled.

    Inline, the command collects these and exits 3 naming them. On an RQ
    worker the job fails with the LockBusy instead of finishing "successfully",
    so it shows in the worker's log and django-rq's failed jobs (requeue it once
    the other run is done).
    """
    try:
        from rq import get_current_job
    except ImportError:  # RQ not installed: always inline
        get_current_job = None
    if get_current_job is not None and get_current_job() is not None:
        raise exc
    return {"busy": str(exc)}


def _local_range(first, last, zone):
    """[start of local day `first`, end of local day `last`) for ISO dates."""
    return (day_start(date.fromisoformat(first), zone),
            day_start(date.fromisoformat(last) + timedelta(days=1), zone))


def cache_max_online(client_id, now, rebuild_from=None, rebuild_to=None):
    now = _t(now)
    try:
        with locks.hold(f"fill:{client_id}"):
            zone = zones.zone_for(client_id)
            result = {"online_now": snapshot.measure_online_now(client_id, now)}
            if rebuild_from:
                result["rebuilt_hours"] = fill.rebuild_max_online(
                    client_id, *_local_range(rebuild_from, rebuild_to, zone), zone)
            result["hours"] = fill.process_max_online(client_id, fill.fill_to_for(now, zone), zone)
            result["late_days"] = fill.recover_late_sessions(client_id, now, zone)
            zones.settle(client_id, zone)
            return result
    except locks.LockBusy as exc:
        return _busy(exc)


def cache_customers_dynamic(client_id, now, series=None, rebuild_from=None, rebuild_to=None):
    now = _t(now)
    try:
        with locks.hold(f"fill:{client_id}"), host.reading():
            zone = zones.zone_for(client_id)
            result = {}
            if rebuild_from:
                result["rebuilt"] = fill.rebuild_client(
                    client_id, *_local_range(rebuild_from, rebuild_to, zone), series, zone)
            result["computed"] = fill.fill_client(client_id, fill.fill_to_for(now, zone), series, zone)
            if not series or MAX_ONLINE in series:
                result["late_days"] = fill.recover_late_sessions(client_id, now, zone)
            if not series or set(series) - {MAX_ONLINE}:  # the subscribers were read: say how
                result["customer_status"] = host.customer_status(client_id)
            zones.settle(client_id, zone)
            return result
    except locks.LockBusy as exc:
        return _busy(exc)


def save_stats(client_id, at):
    data = snapshot.take_snapshot(client_id, _t(at))
    return {"customers_active": data["customers"]["active"],
            "accounts_active": data["accounts"]["active"],
            "online_now": data["online_now"]["accounts"]}


def collect_daily_stats(client_id, now, days=None):
    days = [date.fromisoformat(d) for d in days] if days else None
    try:
        with locks.hold(f"daily:{client_id}"), host.reading():
            zone = zones.zone_for(client_id)
            return daily.collect(client_id, _t(now), days=days, zone=zone)
    except locks.LockBusy as exc:
        return _busy(exc)


def rebuild(client_id, now, progress=None):
    """Bring every cache of one client into its zone now: what smartystats_rebuild runs.

    The same work as the cron commands (each series restarts in the zone if
    it was cut in another, then fills; the daily statistics are recollected;
    a snapshot is taken), in one run under the client's fill lock, so it
    resumes where a killed run stopped. `progress(text)` hears each step.
    """
    now = _t(now)
    say = progress or (lambda text: None)
    try:
        with locks.hold(f"fill:{client_id}"), locks.hold(f"daily:{client_id}"), host.reading():
            zone = zones.zone_for(client_id)
            before = zones.cache_state(client_id, zone)
            say(f"zone {zone}: caches {before.status}"
                + (f" (built in {', '.join(before.built_in)})" if before.built_in else ""))
            computed = fill.fill_client(client_id, fill.fill_to_for(now, zone), zone=zone,
                                        on_series=lambda name, n: say(f"{name}: {n} bucket(s)"))
            late = fill.recover_late_sessions(client_id, now, zone)
            days = daily.collect(client_id, now, zone=zone)
            say(f"daily statistics: {len(days)} day(s)")
            snapshot.take_snapshot(client_id, now, zone)
            return {"zone": zone, "was": before.status, "built_in": before.built_in,
                    "buckets": sum(computed.values()), "late_days": late, "days": len(days),
                    "done": zones.settle(client_id, zone) and daily.caught_up(client_id)}
    except locks.LockBusy as exc:
        return _busy(exc)
