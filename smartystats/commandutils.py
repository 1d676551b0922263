"""What the smartystats commands share: option parsing, the run lock, dispatch, summary.

Exit status of the cron commands (besides Django's 1 for a bad option):
EXIT_BUSY (3) when the command's run lock is held by another run, or when any
client was skipped because another run holds that client's lock (so its
caches were not brought up to date by this run); EXIT_LOCK_LOST (4) when a
lock's lease was lost while running and the run stopped.
"""
import json
import sys
import time
from datetime import date, datetime, timezone

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone as dj_timezone

from viewstats import offload
from viewstats.command_guard import EXIT_CODES_HELP, StoreGuardMixin

from . import host, locks


def parse_client_ids(value):
    """`--client_id` "1,2,3" -> [1, 2, 3]; empty -> every client."""
    if value is None or not value.strip():
        return host.all_client_ids()
    ids = []
    for part in value.split(","):
        part = part.strip()
        if not part.isdigit():
            raise CommandError(f"--client_id: {part!r} is not a client id (expected a comma "
                               f"list of numbers, e.g. 1,2)")
        ids.append(int(part))
    missing = sorted(set(ids) - host.existing_client_ids(ids))
    if missing:
        raise CommandError(f"--client_id: no client with id {', '.join(map(str, missing))}")
    return list(dict.fromkeys(ids))


def parse_time(value, option="--time"):
    if not value:
        return dj_timezone.now().astimezone(timezone.utc).replace(microsecond=0)
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(f"{option}: {value!r} is not an ISO 8601 date-time "
                           f"(e.g. 2024-05-01T06:00:00Z)") from None
    if t.tzinfo is None:
        raise CommandError(f"{option}: {value!r} has no time zone; add Z or +00:00")
    return t.astimezone(timezone.utc)


def parse_date(value, option):
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise CommandError(f"{option}: {value!r} is not a date (expected YYYY-MM-DD)") from None


EXIT_BUSY = 3
EXIT_LOCK_LOST = 4

ZONE_HELP = ("Days, hours, \"today\" and \"this month\" are each operator's local ones (its time "
             "zone in the middleware; a DST day has 23 or 25 hours); the setting "
             "SMARTYSTATS_USE_UTC = True makes them UTC for every operator. Caches built in "
             "another zone than the operator's current one are rebuilt by the next run (or at "
             "once by smartystats_rebuild).")


class StatsCommand(StoreGuardMixin, BaseCommand):
    """A cron command: one lock per command, one job per client."""

    job = None          # dotted path of the per-client job function
    description = ""    # RQ job description
    busy_clients = ()   # after a run: [(client id, why)] skipped as their lock was held
    client_ids = ()     # the run's clients, known to job_kwargs
    progress = False    # inline runs pass the job progress=<print an indented line>

    def create_parser(self, prog_name, subcommand, **kwargs):
        kwargs.setdefault("epilog", (
            f"{ZONE_HELP} Exit status: 0 done (or queued on RQ); 1 a bad option; {EXIT_BUSY} another run "
            f"holds this command's lock, or some clients were skipped because another run "
            f"is filling them (the message names them and the holder host:pid); "
            f"{EXIT_LOCK_LOST} a lock's lease was lost mid-run and the run stopped; "
            f"{EXIT_CODES_HELP}."))
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("--client_id", default="", metavar="IDS",
                            help="Comma-separated client ids; empty (the default) means all clients.")
        parser.add_argument("--time", default="", metavar="ISO",
                            help="Act as if it were this aware instant (default: now), "
                                 "e.g. to re-run a missed hour.")

    def job_kwargs(self, options, now):
        return {}

    def format_result(self, client_id, result):
        return json.dumps(result, sort_keys=True, default=str)

    def handle(self, *args, **options):
        now = parse_time(options["time"])
        client_ids = self.client_ids = parse_client_ids(options["client_id"])
        kwargs = self.job_kwargs(options, now)
        if self.progress and not offload.use_rq():
            kwargs["progress"] = lambda text: self.stdout.write(f"    {text}")
        name = self.__module__.rsplit(".", 1)[-1]
        self.busy_clients = []
        try:
            with locks.hold(f"command:{name}"):
                self.run(name, client_ids, kwargs)
        except locks.LockBusy as exc:
            raise CommandError(f"{name} is already running ({exc}); exiting.",
                               returncode=EXIT_BUSY) from None
        except locks.LockLost as exc:
            raise CommandError(f"{name}: {exc}. Run it again.", returncode=EXIT_LOCK_LOST) from None

    def run_from_argv(self, argv):
        """From the shell, a run that skipped busy clients exits EXIT_BUSY.

        call_command() callers get the summary (and `busy_clients`) instead of
        an exception: the caches of the other clients were filled.
        """
        super().run_from_argv(argv)
        if self.busy_clients:
            sys.exit(EXIT_BUSY)

    def run(self, name, client_ids, kwargs):
        started = time.monotonic()
        total = len(client_ids)
        busy = self.busy_clients

        def progress(client_id, result):
            done = len(outcome_results) + 1
            outcome_results.append(client_id)
            if isinstance(result, dict) and "busy" in result:
                busy.append((client_id, result["busy"]))
            self.stdout.write(f"[{done}/{total}] client {client_id}: "
                              f"{self.format_result(client_id, result)}")

        outcome_results = []
        from django.utils.module_loading import import_string

        outcome = offload.dispatch(import_string(self.job), client_ids, kwargs=kwargs,
                                   description=self.description, on_result=progress)
        elapsed = time.monotonic() - started
        if outcome.queued:
            for client_id, job_id in outcome.queued.items():
                self.stdout.write(f"client {client_id}: queued RQ job {job_id}")
            self.stdout.write(self.style.SUCCESS(
                f"{name}: {len(outcome.queued)} job(s) queued on RQ in {elapsed:.1f}s"))
            return
        summary = f"{name}: {total} client(s) done in {elapsed:.1f}s"
        if busy:
            ids = ", ".join(str(client_id) for client_id, _ in busy)
            summary += f"; skipped (another run holds their lock): {ids}"
            self.stdout.write(self.style.WARNING(summary))
            self.stderr.write(
                f"{name}: {len(busy)} client(s) skipped, their caches not updated by this run: "
                + "; ".join(f"client {client_id}: {why}" for client_id, why in busy)
                + f". Exit status {EXIT_BUSY}; run again when the other run has finished.")
        else:
            self.stdout.write(self.style.SUCCESS(summary))
