from datetime import timedelta

from django.core.management.base import CommandError

from smartystats.commandutils import StatsCommand, parse_date


class Command(StatsCommand):
    reads_sessions = False  # payments and subscribers: the middleware's SQL data only
    help = """Collect one UTC day per client for the payment reports and widgets.

    Payments (sum and count per currency), customers who received a payment,
    new customers and accounts, deactivated accounts. Run daily at the start
    of the day (UTC): by default it collects the day that ended, and catches
    up on days missed since the last run. Re-running a day replaces it."""
    job = "smartystats.jobs.collect_daily_stats"
    description = "collect_daily_stats"

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--day", metavar="YYYY-MM-DD",
                            help="Collect (or re-collect) exactly this UTC day.")
        parser.add_argument("--from", dest="day_from", metavar="YYYY-MM-DD",
                            help="First day of a range to (re-)collect; needs --to.")
        parser.add_argument("--to", dest="day_to", metavar="YYYY-MM-DD",
                            help="Last day (inclusive) of the range.")

    def job_kwargs(self, options, now):
        today = now.date()
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
        for d in days or []:
            if d >= today:
                raise CommandError(f"--day/--to: {d.isoformat()} has not ended yet (UTC today is "
                                   f"{today.isoformat()}); only complete days are collected")
        return {"days": [d.isoformat() for d in days] if days else None,
                "yesterday": (today - timedelta(days=1)).isoformat()}

    def format_result(self, client_id, result):
        return "; ".join(f"{r['day']}: payments {r['payments'] or 'none'}, "
                         f"{r['paying_customers']} paying, {r['new_customers']} new customers"
                         for r in result) or "nothing to collect"
