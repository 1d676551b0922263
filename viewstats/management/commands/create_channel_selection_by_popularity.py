from viewstats.popularity import options as opts
from viewstats.popularity.cli import WINDOW_HELP, PopularityCommand, common_filters
from viewstats.popularity.jobs import channel_selection_job


class Command(PopularityCommand):
    help = f"""\
Create or update a client's selection of popular channels.

The selection holds the SELECTION_SIZE most popular enabled channels; if
fewer channels were watched in the window, channels without viewing fill
it up in the standard channel order. Ties go to more total viewing time,
then more sessions, then the standard order. The selection is saved in the
middleware; apps read it with its selection list and detail calls
(type 1 = generated, content_type 0 = channels).

A re-run with the same criterion, days and filters updates the same
selection (its size may change); other filters make another selection.

{WINDOW_HELP}

Example (weekly popular channels by viewing time):
  manage.py create_channel_selection_by_popularity --client_id=1 \\
      --days_number=7 --criterion=watch_time
"""
    command_name = "create_channel_selection_by_popularity"
    job = staticmethod(channel_selection_job)
    object_label = "channel selection"

    def add_arguments(self, parser):
        self.add_client_option(parser)
        self.add_window_options(parser)
        self.add_criterion_option(parser)
        self.add_filter_options(parser)
        self.add_size_option(parser)
        self.add_min_sessions_option(parser)
        self.add_output_options(parser)

    def job_options(self, options, client_ids):
        return {
            "days_number": opts.parse_positive("days_number", options["days_number"]),
            "criterion": opts.parse_criterion(options["criterion"]),
            "accounts_active": opts.parse_bool("accounts_active", options["accounts_active"]),
            "selection_size": opts.parse_positive("selection_size", options["selection_size"]),
            "min_sessions": opts.parse_non_negative("min_sessions", options["min_sessions"]),
            **common_filters(options, client_ids),
        }
