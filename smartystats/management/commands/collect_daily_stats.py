from datetime import timedelta

from django.core.management.base import CommandError

from smartystats import daily, zones
from smartystats.commandutils import StatsCommand, parse_date
from smartystats.timeutils import day_of


class Command(StatsCommand):
    reads_sessions = False  # payments and subscribers: the middleware's SQL data only
    help = """Collect one local day per client for the payment reports and widgets.

    Payments (sum and count per currency), customers who received a payment,
    new customers and accounts, deactivated accounts, over the operator's
    local day (UTC with SMARTYSTATS_USE_UTC). Run daily, e.g. hourly or at
    a time after midnight in every operator's zone: by default it collects,
    per operator, the day that ended on the operator's clock, and catches up
    on days missed since the last run (up to 31). Re-running a day replaces
    it. Days collected in another time zone than the operator's current one
    are dropped and every one of them is collected again in the new zone
    (resumable: a killed run continues after its last finished day)."""
    job = "smartystats.jobs.collect_daily_stats"
    description = "collect_daily_stats"

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--day", metavar="YYYY-MM-DD",
                            help="Collect (or re-collect) exactly this local day.")
        parser.add_argument("--from", dest="day_from", metavar="YYYY-MM-DD",
                            help="First local day of a range to (re-)collect; needs --to.")
        parser.add_argument("--to", dest="day_to", metavar="YYYY-MM-DD",
                            help="Last local day (inclusive) of the range.")

    def job_kwargs(self, options, now):
        days = None
        if options["day"]:
            if options["day_from"] or options["day_to"]:
                raise CommandError("--day cannot be combined with --from/--to")
            days = [parse_date(options["day"], "--day")]
        elif options["day_from"] or options["day_to"]:
            if not (options["day_from"] and options["day_to"]):
                raise CommandError("--from and --to go together; give both")
            first = parse_date(options["day_from"], "--from")
            last = parse_date(options["day_to"], "--to")
            if last < first:
                raise CommandError(f"--to: {options['day_to']!r} is before --from {options['day_from']!r}")
            days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        if days:
            self.check_ended(days[-1], now)
        return {"now": now.isoformat(), "days": [d.isoformat() for d in days] if days else None}

    def check_ended(self, last, now):
        """Only complete days are collected: `last` must be over on every chosen operator's clock."""
        for client_id in self.client_ids:
            zone = zones.zone_for(client_id)
            if not daily.ended(last, now, zone):
                raise CommandError(
                    f"--day/--to: {last.isoformat()} has not ended yet for client {client_id} (its today "
                    f"is {day_of(now, zone).isoformat()} in {zone}); only complete days are collected")

    def format_result(self, client_id, result):
        if isinstance(result, dict):
            return f"skipped, {result['busy']}"
        return "; ".join(f"{r['day']}: payments {r['payments'] or 'none'}, "
                         f"{r['paying_customers']} paying, {r['new_customers']} new customers"
                         for r in result) or "nothing to collect"
