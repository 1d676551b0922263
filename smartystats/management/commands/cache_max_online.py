from django.core.management.base import CommandError

from smartystats.commandutils import StatsCommand, parse_date


def add_rebuild_arguments(parser, what):
    parser.add_argument("--rebuild-from", metavar="YYYY-MM-DD",
                        help=f"First day (each operator's local day) whose already-cached {what} are "
                             f"recomputed on purpose (e.g. after late sessions arrived). Needs --rebuild-to.")
    parser.add_argument("--rebuild-to", metavar="YYYY-MM-DD",
                        help="Last local day (inclusive) of the rebuild.")


def rebuild_range(options):
    """The --rebuild-from/--rebuild-to days as ISO dates: each job cuts them in its client's zone."""
    start, end = options.get("rebuild_from"), options.get("rebuild_to")
    if not start and not end:
        return {}
    if not (start and end):
        raise CommandError("--rebuild-from and --rebuild-to go together; give both")
    first, last = parse_date(start, "--rebuild-from"), parse_date(end, "--rebuild-to")
    if last < first:
        raise CommandError(f"--rebuild-to: {end!r} is before --rebuild-from {start!r}")
    return {"rebuild_from": first.isoformat(), "rebuild_to": last.isoformat()}


class Command(StatsCommand):
    help = """Update the maximum number of subscribers watching at the same time.

    Peaks are computed from the viewing sessions per client, per local hour
    and per local day of the operator (the number of distinct accounts, and
    of customers, with a session covering the same second; a session is
    online from its start up to, not including, its end), for every complete
    hour not cached yet; the first run starts at the beginning of the
    previous month. Days that sessions arriving late cover (an app's offline
    buffer uploaded hours later, a media server's resent backlog) are
    recomputed whole on the next run, so cached peaks take them in without
    counting anything twice. Peaks cached in another time zone than the
    operator's current one (its zone changed, or SMARTYSTATS_USE_UTC did) are
    dropped and recomputed in the new zone from the same first day,
    resuming after the last finished day if the run is killed. Also measures
    "online now". Run at least daily; it may run every few minutes. With
    SMARTY_USE_RQ each client becomes one RQ job."""
    job = "smartystats.jobs.cache_max_online"
    description = "cache_max_online"

    def add_arguments(self, parser):
        super().add_arguments(parser)
        add_rebuild_arguments(parser, "peaks")

    def job_kwargs(self, options, now):
        return {"now": now.isoformat(), **rebuild_range(options)}
