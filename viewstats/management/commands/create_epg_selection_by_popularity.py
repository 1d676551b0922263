from viewstats.popularity import options as opts
from viewstats.popularity.cli import LIST_HELP, WINDOW_HELP, PopularityCommand, common_filters
from viewstats.popularity.jobs import epg_selection_job


class Command(PopularityCommand):
    help = f"""\
Create or update a client's selection of popular TV programmes.

A programme's popularity is its total viewing time in the window: live
viewing of its channel that overlaps its airtime (timeshifted viewing is
moved back to the airtime it showed) plus archive viewing of it. The
selection holds the SELECTION_SIZE most viewed programmes of the enabled
channels chosen by --channels and --categories; if fewer were watched,
programmes that aired in the window without viewing fill it up, newest
first. Ties go to more sessions, then later airtime, then lower id.

A re-run with the same days and filters updates the same selection (its
name and size may change); other filters make another selection.

{WINDOW_HELP}

Example (27 popular programmes over 30 days in categories 2 and 7):
  manage.py create_epg_selection_by_popularity --selection_name="Children's cognitive" \\
      --client_id=1 --days_number=30 --selection_size=27 --categories=2 --categories=7
"""
    command_name = "create_epg_selection_by_popularity"
    job = staticmethod(epg_selection_job)
    object_label = "EPG selection"

    def add_arguments(self, parser):
        self.add_client_option(parser)
        self.add_window_options(parser)
        self.add_filter_options(parser, accounts_active=False)
        self.add_size_option(parser)
        parser.add_argument("--categories", action="append", metavar="IDS",
                            help=f"Channel category ids; default all. {LIST_HELP}")
        parser.add_argument("--channels", action="append", metavar="IDS",
                            help=f"Only these channel ids; default all. {LIST_HELP}")
        parser.add_argument("--selection_name", metavar="NAME",
                            help="Name shown in apps; default \"DAYS days (SIZE)\", "
                                 "e.g. \"30 days (27)\".")
        self.add_min_sessions_option(parser)
        self.add_output_options(parser)

    def job_options(self, options, client_ids):
        [client_id] = client_ids
        name = options.get("selection_name")
        if name is not None and not name.strip():
            raise opts.OptionError("selection_name", name, "must not be empty")
        return {
            "days_number": opts.parse_positive("days_number", options["days_number"]),
            "selection_size": opts.parse_positive("selection_size", options["selection_size"]),
            "categories": opts.resolve_categories(options.get("categories"), client_id),
            "channels": opts.resolve_channels(options.get("channels"), client_id),
            "selection_name": name.strip() if name else None,
            "min_sessions": opts.parse_non_negative("min_sessions", options["min_sessions"]),
            **common_filters(options, client_ids),
        }
