from datetime import timedelta

from django.core.management.base import CommandError

from smartystats.commandutils import StatsCommand, parse_date
from smartystats.timeutils import day_start


def add_rebuild_arguments(parser, what):
    parser.add_argument("--rebuild-from", metavar="YYYY-MM-DD",
                        help=f"First UTC day whose already-cached {what} are recomputed on purpose "
                             f"(e.g. after late sessions arrived). Needs --rebuild-to.")
    parser.add_argument("--rebuild-to", metavar="YYYY-MM-DD",
                        help="Last UTC day (inclusive) of the rebuild.")


def rebuild_range(options):
    start, end = options.get("rebuild_from"), options.get("rebuild_to")
    if not start and not end:
        return {}
    if not (start and end):
        raise CommandError("--rebuild-from and --rebuild-to go together; give both")
    first, last = parse_date(start, "--rebuild-from"), parse_date(end, "--rebuild-to")
    if last < first:
        raise CommandError(f"--rebuild-to: {end!r} is before --rebuild-from {start!r}")
    return {"rebuild_from": day_start(first).isoformat(),
            "rebuild_to": (day_start(last) + timedelta(days=1)).isoformat()}


class Command(StatsCommand):
    help = """Update the maximum number of subscribers watching at the same time.

    Peaks are computed from the viewing sessions per client, per hour and per
    day (the number of distinct accounts, and of customers, with a session
    covering the same second), for every complete hour not cached yet; the
    first run starts at the beginning of the previous month. Days that
    sessions arriving late cover (an app's offline buffer uploaded hours
    later, a media server's resent backlog) are recomputed whole on the next
    run, so cached peaks take them in without counting anything twice. Also
    measures "online now". Run at least daily; it may run every few minutes. With
    SMARTY_USE_RQ each client becomes one RQ job."""
    job = "smartystats.jobs.cache_max_online"
    description = "cache_max_online"

    def add_arguments(self, parser):
        super().add_arguments(parser)
        add_rebuild_arguments(parser, "peaks")

    def job_kwargs(self, options, now):
        return {"now": now.isoformat(), **rebuild_range(options)}
