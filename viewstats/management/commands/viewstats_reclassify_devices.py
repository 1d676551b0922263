from django.core.management.base import BaseCommand, CommandError

from viewstats import host
from viewstats.command_guard import EXIT_CODES_HELP, StoreGuardMixin
from viewstats.enrich import devices, reclassify, uacache


class Command(StoreGuardMixin, BaseCommand):
    help = ("Refresh stored sessions' device fields (ua.type, brand, model, os, app) with the current "
            "classifier, after a rules or device-database update; with --pending, complete the sessions "
            "still waiting for their device class (run it every minute where VIEWSTATS_UA_CLASSIFY is "
            "'external'). Works in batches, prints progress and resumes where a stopped run left off. "
            f"Exit status: 0 done; 1 a bad option; {EXIT_CODES_HELP}.")

    def add_arguments(self, parser):
        parser.add_argument("--client", type=int, action="append", help="only this client id (repeatable)")
        parser.add_argument("--batch-size", type=int, default=1000, help="sessions per batch (default 1000)")
        parser.add_argument("--pending", action="store_true",
                            help="only sessions still waiting for their device class")
        parser.add_argument("--restart", action="store_true", help="ignore a saved checkpoint")
        parser.add_argument("--max-batches", type=int, help="stop after this many batches per client "
                                                            "(the next run resumes)")
        parser.add_argument("--follow", action="store_true",
                            help="keep running: classify never-seen strings and fill their sessions as they "
                                 "come (the filler as a process of its own, for VIEWSTATS_UA_CLASSIFY='external')")

    def handle(self, *args, **options):
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1", returncode=1)
        if options["max_batches"] is not None and options["max_batches"] < 1:
            raise CommandError("--max-batches must be at least 1", returncode=1)
        if options["follow"]:
            return self._follow()
        known = host.all_client_ids()
        clients = options["client"] or known
        unknown = sorted(set(clients) - set(known))
        if unknown:
            raise CommandError(f"--client: no such client {unknown[0]}", returncode=1)
        self.stdout.write(f"classifier {uacache.version()} (device database: {devices.database()})")
        total_scanned = total_changed = 0
        for client_id in clients:
            progress = reclassify.reclassify_client(
                client_id, batch_size=options["batch_size"], pending_only=options["pending"],
                restart=options["restart"], max_batches=options["max_batches"], report=self._report)
            total_scanned += progress.scanned
            total_changed += progress.changed
            state = "done" if progress.done else "stopped (run again to resume)"
            resumed = ", resumed from a checkpoint" if progress.resumed else ""
            types = ", ".join(f"{k} {v}" for k, v in sorted(progress.types.items()))
            self.stdout.write(f"client {client_id}: {progress.scanned} sessions, {progress.changed} changed, "
                              f"{progress.strings} distinct strings{resumed}; {state}" + (f" [{types}]" if types else ""))
        self.stdout.write(f"total: {total_scanned} sessions scanned, {total_changed} changed")

    def _follow(self):
        import time

        self.stdout.write("filling never-seen strings as they come (Ctrl-C stops)")
        sweep_at = 0.0
        while True:
            strings, sessions = uacache.fill_pending()
            sessions += uacache.refill_due()
            if time.monotonic() - sweep_at > uacache.SWEEP_EVERY.total_seconds():
                sweep_at = time.monotonic()
                sessions += uacache.sweep(uacache.utcnow() - uacache.SWEEP_WINDOW)
            if strings or sessions:
                self.stdout.write(f"{strings} strings classified, {sessions} sessions filled")
            if not strings:
                time.sleep(1.0)

    def _report(self, progress):
        self.stdout.write(f"  client {progress.client_id}: {progress.scanned} scanned, {progress.changed} changed")
