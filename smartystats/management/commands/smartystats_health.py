import json

from django.core.management.base import BaseCommand, CommandError

from smartystats import health
from smartystats.commandutils import parse_client_ids, parse_time


class Command(BaseCommand):
    help = """Report unreachable services and stale "Dynamics of subscribers" caches, for monitoring.

    First MongoDB (unreachable: critical) and Redis (unreachable: critical when
    RQ is on or the locks must use Redis, else a warning). Then every client's
    series: hourly chart series must be filled within
    90 minutes (critical after 150), everything scheduled at least daily
    within 26 hours (critical after 50); a series never filled is a warning.
    Prints one line per problem and a summary. Exit status: 0 OK,
    1 WARNING, 2 CRITICAL, so cron or Nagios-style checks can alert."""

    def add_arguments(self, parser):
        parser.add_argument("--client_id", default="", metavar="IDS",
                            help="Comma-separated client ids; empty means all clients.")
        parser.add_argument("--time", default="", metavar="ISO", help="Judge as of this instant (default: now).")
        parser.add_argument("--json", action="store_true", help="Print the findings as JSON.")
        parser.add_argument("--all", action="store_true", help="List OK series too.")

    def handle(self, *args, **options):
        now = parse_time(options["time"])
        findings = health.check(parse_client_ids(options["client_id"]), now)
        status = health.overall(findings)
        if options["json"]:
            self.stdout.write(json.dumps({"status": status, "findings": [f.as_dict() for f in findings]},
                                         indent=2))
        else:
            for f in findings:
                if f.status != health.OK or options["all"]:
                    where = f"client {f.client_id} {f.series}" if f.client_id is not None else f.series
                    self.stdout.write(f"{f.status:8} {where}: {f.message}")
            caches = [f for f in findings if f.client_id is not None]
            services = [f for f in findings if f.client_id is None and f.status != health.OK]
            bad = sum(1 for f in caches if f.status != health.OK)
            self.stdout.write(f"{status}: {bad} of {len(caches)} series stale"
                              + (f"; {', '.join(f.series for f in services)} not OK" if services else ""))
        if status != health.OK:
            raise CommandError(f"smartystats caches {status}", returncode=1 if status == health.WARNING else 2)
