"""What every statistics command does when MongoDB is away or cannot hold the data.

* MongoDB unreachable: one line on stderr and EXIT_STORE_UNAVAILABLE, not a
  traceback. Commands replace what they write (sortings, caches, fill
  states), so running them again later is always safe.
* The embedded engine, started from the shell, with no sessions in it: the
  command refuses with EXIT_EMBEDDED. A fresh process's embedded database is
  always empty (it is not the server's), so a cron run would compute from
  nothing and overwrite good lists with empty ones.
* Monitoring: a run from the shell records when it ended, how long it took
  and whether it succeeded (viewstats.models.CommandRun), which
  /viewstats/metrics exports per command.
"""
import time
from datetime import datetime, timezone

from django.core.management.base import CommandError

from . import metrics, store
from .outage import OUTAGE_ERRORS

EXIT_STORE_UNAVAILABLE = 5
EXIT_EMBEDDED = 6

EXIT_CODES_HELP = (f"{EXIT_STORE_UNAVAILABLE} the statistics database (MongoDB) is unreachable; "
                   f"{EXIT_EMBEDDED} no MongoDB is configured and this process's embedded "
                   f"database is empty")


class StoreGuardMixin:
    """Put before BaseCommand in a command's bases."""

    reads_sessions = True   # False for commands that only read the middleware's SQL data
    _from_shell = False

    def run_from_argv(self, argv):
        self._from_shell = True
        return super().run_from_argv(argv)

    def execute(self, *args, **options):
        if not self._from_shell:  # call_command(): tests and other code, not a cron run
            return self._execute_guarded(*args, **options)
        # Cron runs each command as a process of its own, gone before Prometheus
        # scrapes: the outcome is written where /viewstats/metrics reads it.
        started_at, started = datetime.now(timezone.utc), time.monotonic()
        try:
            result = self._execute_guarded(*args, **options)
        except BaseException as exc:
            metrics.record_command(metrics.command_name(self), started_at, time.monotonic() - started, exc)
            raise
        metrics.record_command(metrics.command_name(self), started_at, time.monotonic() - started)
        return result

    def _execute_guarded(self, *args, **options):
        if self._from_shell and self.reads_sessions and store.is_embedded() and not store.holds_sessions():
            raise CommandError(
                "no MongoDB is configured (MONGODB_URI), and the embedded engine this process "
                "started with is empty: it is not the web server's, so there is nothing to "
                "compute from. Configure MongoDB; the embedded engine is for the demo and tests.",
                returncode=EXIT_EMBEDDED)
        try:
            return super().execute(*args, **options)
        except OUTAGE_ERRORS as exc:
            first_line = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise CommandError(f"the statistics database (MongoDB) is unreachable ({first_line}); "
                               f"nothing was half-written: run the command again later.",
                               returncode=EXIT_STORE_UNAVAILABLE) from None
