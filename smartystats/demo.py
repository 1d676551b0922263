"""Run smartystats' regular commands once, for the project demo."""
from django.core.management import call_command
from django.core.management.base import CommandError

from viewstats.documents import utcnow

ADMIN_PATH = "/admin/smartystats/dynamics/"


def run(stdout, now=None, client_ids=None):
    """Fill every smartystats cache as cron would at `now` (default: viewstats' clock).

    `client_ids`: an iterable of client ids (default: all). Prints each
    command's progress and summary to `stdout`, then where to look.
    """
    now = now or utcnow()
    common = {"time": now.replace(microsecond=0).isoformat(), "stdout": stdout}
    if client_ids:
        common["client_id"] = ",".join(str(c) for c in client_ids)
    for command in ("cache_customers_dynamic", "cache_max_online", "save_stats", "collect_daily_stats"):
        stdout.write(f"$ manage.py {command}\n")
        call_command(command, **common)
    stdout.write("$ manage.py smartystats_health\n")
    try:
        call_command("smartystats_health", **common)
    except CommandError as exc:  # stale or never-filled series are reported, not fatal here
        stdout.write(f"health: {exc}\n")
    stdout.write(f"Dynamics of subscribers: open {ADMIN_PATH} in the admin "
                 f"(JSON for scripts: /smartystats/api/dynamics?client_id=ID&from=YYYY-MM-DD&to=YYYY-MM-DD)\n")
