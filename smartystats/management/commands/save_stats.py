from smartystats.commandutils import StatsCommand


class Command(StatsCommand):
    help = """Save each client's snapshot for the "Dynamics of subscribers" widgets.

    Customers and accounts: total, active, inactive (accounts by status
    reason), new and deactivated today and this month, where "today" and
    "this month" begin at the operator's local midnight and first of the
    month (UTC with SMARTYSTATS_USE_UTC); accounts by device type and by
    tariff; online now and today's peak. Run at least daily (any frequency
    is fine); the page shows the latest snapshot, and refuses one taken in
    another time zone than the operator's current one."""
    job = "smartystats.jobs.save_stats"
    description = "save_stats"

    def job_kwargs(self, options, now):
        return {"at": now.isoformat()}
