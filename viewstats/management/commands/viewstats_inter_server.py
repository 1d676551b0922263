"""manage.py viewstats_inter_server: viewer and inter-server traffic per day, side by side."""
from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError

from viewstats import host
from viewstats.documents import utcnow
from viewstats.reports import daily, present
from viewstats.reports.filters import zone_for


def _day(value, option):
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{option}: expected YYYY-MM-DD, got {value!r}") from None


class Command(BaseCommand):
    help = ("Prints, per local day of an operator, the connections and bytes of its viewers beside "
            "those of other media servers pulling streams (sessions from an address in the "
            "operator's media-server list, or whose events say \"peer\": \"server\"). Inter-server "
            "pulls are in no viewer figure; this is where they are counted. Reads the daily "
            "statistics, recomputing the days late data touched.")

    def add_arguments(self, parser):
        parser.add_argument("--client", type=int, required=True, metavar="ID",
                            help="The operator (client) id.")
        parser.add_argument("--date_from", metavar="YYYY-MM-DD",
                            help="First local day (default: 6 days before --date_to).")
        parser.add_argument("--date_to", metavar="YYYY-MM-DD",
                            help="Last local day (default: yesterday in the operator's zone).")

    def handle(self, *args, client, date_from, date_to, **options):
        if not host.client_names([client]):
            raise CommandError(f"--client: no operator {client}")
        today = utcnow().astimezone(zone_for([client])).date()
        last = _day(date_to, "--date_to") if date_to else today - timedelta(days=1)
        first = _day(date_from, "--date_from") if date_from else last - timedelta(days=6)
        if last < first:
            raise CommandError("--date_from: the period starts after it ends")
        if (last - first).days > 366:
            raise CommandError("--date_from: at most 367 days")
        rows = [r for r in daily.report([client], first, last) if r["server"] == daily.ALL]
        self.stdout.write(f"{host.client_name(client)} (client {client}), {first} .. {last}, "
                          f"{zone_for([client]).key} days")
        self.stdout.write(f"{'day':<12}{'viewer conn.':>14}{'viewer traffic':>16}"
                          f"{'pulls':>8}{'inter-server':>16}")
        totals = [0, 0, 0, 0]
        for r in rows:
            figures = [r["connections"], r["traffic_bytes"], r.get("inter_server_connections", 0),
                       r.get("inter_server_bytes", 0)]
            totals = [a + b for a, b in zip(totals, figures)]
            self.stdout.write(f"{r['day']:<12}{figures[0]:>14,}{present.traffic(figures[1]):>16}"
                              f"{figures[2]:>8,}{present.traffic(figures[3]):>16}")
        self.stdout.write(f"{'total':<12}{totals[0]:>14,}{present.traffic(totals[1]):>16}"
                          f"{totals[2]:>8,}{present.traffic(totals[3]):>16}")
