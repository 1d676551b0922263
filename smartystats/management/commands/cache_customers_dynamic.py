from django.core.management.base import CommandError

from smartystats.commandutils import StatsCommand
from smartystats.management.commands.cache_max_online import add_rebuild_arguments, rebuild_range
from smartystats.series import ALL_SERIES
from smartystats.subscribers import STATUS_SOURCES


class Command(StatsCommand):
    help = """Cache the time series behind the "Dynamics of subscribers" charts.

    Series (by day, and by hour for recent days): active customers and
    accounts, new and deactivated customers and accounts, payments (sum and
    count per currency), paying customers, and the online peak. Days and
    hours are the operator's local ones. Customers' active status is the
    middleware's when its host gives customers their own active periods,
    else derived from their accounts. The first run fills the whole previous
    month; later runs compute only buckets not yet filled (a fill state per
    series and client) and recover a bucket a crashed run left half-written.
    A series cached in another time zone than the operator's current one is
    dropped and refilled in the new zone from the same first day (resumable
    like any fill). Run hourly. --client_id limits the run to some clients
    (try one client first on a large base)."""
    job = "smartystats.jobs.cache_customers_dynamic"
    description = "cache_customers_dynamic"

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--series", default="", metavar="NAMES",
                            help="Comma-separated series to fill (default: all). Known: "
                                 + ", ".join(ALL_SERIES))
        add_rebuild_arguments(parser, "buckets")

    def job_kwargs(self, options, now):
        series = [s.strip() for s in options["series"].split(",") if s.strip()] or None
        for name in series or []:
            if name not in ALL_SERIES:
                raise CommandError(f"--series: unknown series {name!r}; known: {', '.join(ALL_SERIES)}")
        return {"now": now.isoformat(), "series": series, **rebuild_range(options)}

    def format_result(self, client_id, result):
        if "busy" in result:
            return f"skipped, {result['busy']}"
        computed = result["computed"]
        text = f"{sum(computed.values())} bucket(s) computed in {sum(1 for v in computed.values() if v)} series"
        if "rebuilt" in result:
            text += f", {sum(result['rebuilt'].values())} rebuilt"
        if "customer_status" in result:
            text += f"; customer status: {STATUS_SOURCES[result['customer_status']]}"
        return text
