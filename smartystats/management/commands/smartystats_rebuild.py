from smartystats.commandutils import StatsCommand


class Command(StatsCommand):
    help = """Rebuild an operator's "Dynamics of subscribers" caches in its current time zone, now.

    Every cache (chart series by day and hour, max online by hour and day,
    daily statistics, the snapshot) is cut in the operator's local days and
    hours, and its fill state records the zone. When the operator's time
    zone changes in the middleware (or SMARTYSTATS_USE_UTC is switched),
    the caches built in the old zone are stale: the "Dynamics of
    subscribers" tab refuses them, and the regular cron commands rebuild
    each of them on their next run. This command does all of it for the
    chosen operators at once, one operator after the other (one RQ job each
    with SMARTY_USE_RQ): each series is dropped and refilled in the new zone
    from the first day it held (hourly series within
    SMARTYSTATS_HOURLY_RETENTION_DAYS, peaks within the sessions' raw
    retention), the daily statistics are collected again, and a new
    snapshot is taken. It is resumable: after a kill, run it again (or let
    the cron commands run) and it continues after the last finished bucket
    or day. With nothing stale it just brings the caches up to date.
    Prints each step and a summary."""
    job = "smartystats.jobs.rebuild"
    description = "smartystats_rebuild"
    progress = True

    def job_kwargs(self, options, now):
        return {"now": now.isoformat()}

    def format_result(self, client_id, result):
        if "busy" in result:
            return f"skipped, {result['busy']}"
        was = (f"were built in {', '.join(result['built_in'])}" if result["built_in"]
               else f"were {result['was']}")
        return (f"caches {was}; now in {result['zone']}: {result['buckets']} bucket(s), "
                f"{result['days']} daily statistics day(s), {result['late_days']} late day(s) recomputed; "
                + ("rebuild complete" if result["done"] else "rebuild not complete yet (run again)"))
