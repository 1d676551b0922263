import time

from django.core.management.base import BaseCommand, CommandError

from viewstats import host, rollups
from viewstats.command_guard import EXIT_CODES_HELP, StoreGuardMixin

EXIT_BUSY = 3


class Command(StoreGuardMixin, BaseCommand):
    help = ("Bring the viewing rollups up to date: regroup every operator-local day touched by sessions "
            "stored or changed since the last fill (late uploads, resent backlogs, open sessions that grew, "
            "refined device classes) into the day's cells, which the reports by channel, programme, device, "
            "country and protocol, the counters and the daily statistics read. Run it from cron every few "
            "minutes; reports also fill what is missing before they read. With --rebuild (needed after an "
            "operator's time zone changed; reports read raw sessions until it is done) every day is "
            "rebuilt in the operator's current zone, one run per operator, resuming after the last finished "
            "day if a run was stopped. Prints each day it fills and a summary. "
            f"Exit status: 0 done; 1 a bad option; {EXIT_BUSY} another fill of a client was running "
            f"(the others were filled); {EXIT_CODES_HELP}.")

    def add_arguments(self, parser):
        parser.add_argument("--client", type=int, action="append",
                            help="only this client (operator) id; repeatable (default: every client)")
        parser.add_argument("--rebuild", action="store_true",
                            help="recompute every day of the client in its current time zone, not only "
                                 "the days changed since the last fill")
        parser.add_argument("--quiet", action="store_true", help="print the summary only")

    def handle(self, *args, client, rebuild, quiet, **options):
        known = host.all_client_ids()
        clients = client or known
        unknown = sorted(set(clients) - set(known))
        if unknown:
            raise CommandError(f"--client: no such client {unknown[0]}", returncode=1)
        busy, days, began = [], 0, time.monotonic()
        for client_id in clients:
            zone = rollups.zone_of(client_id)
            on_day = None if quiet else (
                lambda day, c=client_id: self.stdout.write(f"  client {c}: {day} filled"))
            try:
                result = rollups.fill(client_id, rebuild=rebuild, on_day=on_day)
            except rollups.FillBusy as exc:
                busy.append(client_id)
                self.stderr.write(str(exc))
                continue
            days += result.days
            how = "rebuilt" if result.rebuilt else "updated"
            self.stdout.write(f"client {client_id} ({zone}): {how}, {result.days} day(s) recomputed")
        self.stdout.write(f"total: {len(clients) - len(busy)} client(s), {days} day(s) in "
                          f"{time.monotonic() - began:.1f} s" + (f"; busy: {busy}" if busy else ""))
        if busy:
            raise CommandError(f"another fill was running for client(s) {busy}; run again later",
                               returncode=EXIT_BUSY)
