from smartystats.commandutils import StatsCommand


class Command(StatsCommand):
    help = """Save each client's snapshot for the "Dynamics of subscribers" widgets.

    Customers and accounts: total, active, inactive (accounts by status
    reason), new and deactivated today and this month (UTC); accounts by
    device type and by tariff; online now and today's peak. Run at least
    daily (any frequency is fine); the page shows the latest snapshot."""
    job = "smartystats.jobs.save_stats"
    description = "save_stats"

    def job_kwargs(self, options, now):
        return {"at": now.isoformat()}
