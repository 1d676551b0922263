"""Per-client work of each command: what runs inline or as one RQ job per client.

Arguments are plain strings so jobs serialise cleanly; each returns a
JSON-friendly summary. Jobs that fill caches hold the client's fill lock, so
two workers (or a cron run and a worker) never fill one client at once.
"""
from datetime import date, datetime

from . import daily, fill, host, locks, snapshot
from .series import MAX_ONLINE


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


def cache_max_online(client_id, now, rebuild_from=None, rebuild_to=None):
    now = _t(now)
    try:
        with locks.hold(f"fill:{client_id}"):
            result = {"online_now": snapshot.measure_online_now(client_id, now)}
            if rebuild_from:
                result["rebuilt_hours"] = fill.rebuild_max_online(client_id, _t(rebuild_from),
                                                                  _t(rebuild_to))
            result["hours"] = fill.process_max_online(client_id, fill.fill_to_for(now))
            result["late_days"] = fill.recover_late_sessions(client_id, now)
            return result
    except locks.LockBusy as exc:
        return _busy(exc)


def cache_customers_dynamic(client_id, now, series=None, rebuild_from=None, rebuild_to=None):
    now = _t(now)
    try:
        with locks.hold(f"fill:{client_id}"), host.reading():
            result = {}
            if rebuild_from:
                result["rebuilt"] = fill.rebuild_client(client_id, _t(rebuild_from),
                                                        _t(rebuild_to), series)
            result["computed"] = fill.fill_client(client_id, fill.fill_to_for(now), series)
            if not series or MAX_ONLINE in series:
                result["late_days"] = fill.recover_late_sessions(client_id, now)
            return result
    except locks.LockBusy as exc:
        return _busy(exc)


def save_stats(client_id, at):
    data = snapshot.take_snapshot(client_id, _t(at))
    return {"customers_active": data["customers"]["active"],
            "accounts_active": data["accounts"]["active"],
            "online_now": data["online_now"]["accounts"]}


def collect_daily_stats(client_id, days=None, yesterday=None):
    days = [date.fromisoformat(d) for d in days] if days else None
    with host.reading():
        return daily.collect(client_id, days=days,
                             yesterday=date.fromisoformat(yesterday) if yesterday else None)
