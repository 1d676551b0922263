"""What the smartystats commands share: option parsing, the run lock, dispatch, summary."""
import json
import time
from datetime import date, datetime, timezone

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone as dj_timezone

from viewstats import offload

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


class StatsCommand(BaseCommand):
    """A cron command: one lock per command, one job per client."""

    job = None          # dotted path of the per-client job function
    description = ""    # RQ job description

    def add_arguments(self, parser):
        parser.add_argument("--client_id", default="", metavar="IDS",
                            help="Comma-separated client ids; empty (the default) means all clients.")
        parser.add_argument("--time", default="", metavar="ISO",
                            help="Act as if it were this aware UTC instant (default: now), "
                                 "e.g. to re-run a missed hour.")

    def job_kwargs(self, options, now):
        return {}

    def format_result(self, client_id, result):
        return json.dumps(result, sort_keys=True, default=str)

    def handle(self, *args, **options):
        now = parse_time(options["time"])
        client_ids = parse_client_ids(options["client_id"])
        kwargs = self.job_kwargs(options, now)
        name = self.__module__.rsplit(".", 1)[-1]
        try:
            with locks.hold(f"command:{name}"):
                self.run(name, client_ids, kwargs)
        except locks.LockBusy as exc:
            raise CommandError(f"{name} is already running ({exc}); exiting.") from None

    def run(self, name, client_ids, kwargs):
        started = time.monotonic()
        total = len(client_ids)
        busy = []

        def progress(client_id, result):
            done = len(outcome_results) + 1
            outcome_results.append(client_id)
            if isinstance(result, dict) and "busy" in result:
                busy.append(client_id)
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
            summary += f"; skipped (another run holds their lock): {', '.join(map(str, busy))}"
            self.stdout.write(self.style.WARNING(summary))
        else:
            self.stdout.write(self.style.SUCCESS(summary))
