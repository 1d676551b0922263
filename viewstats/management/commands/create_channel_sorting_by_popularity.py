from viewstats.popularity import options as opts
from viewstats.popularity.cli import WINDOW_HELP, PopularityCommand, common_filters
from viewstats.popularity.jobs import channel_sorting_job


class Command(PopularityCommand):
    help = f"""\
Create or update each client's channel sorting by popularity.

The sorting holds every channel of the client: channels watched in the
window first, most popular first, then the channels nobody watched in
their standard order. Ties go to more total viewing time, then more
sessions, then the standard order. The sorting is saved in the middleware
(through its host contract); apps list sortings with its channel sort list
call and apply one with its channel list call (channel_sort_id=ID).

A re-run with the same criterion, days and filters updates the same
sorting (same id, fresh order and computed_at); other filters make another
sorting. Each sorting keeps its options, window and time of computation.

{WINDOW_HELP}

With SMARTY_USE_RQ on, one job per client goes to the statistics queue and
the job ids are printed.

Example (run from cron every night):
  manage.py create_channel_sorting_by_popularity --client_id=1,2 \\
      --days_number=7 --criterion=watch --devices=mag,android_stb --accounts_active
"""
    command_name = "create_channel_sorting_by_popularity"
    job = staticmethod(channel_sorting_job)
    many_clients = True
    object_label = "channel sorting"

    def add_arguments(self, parser):
        self.add_client_option(parser)
        self.add_window_options(parser)
        self.add_criterion_option(parser)
        self.add_filter_options(parser)
        self.add_min_sessions_option(parser)
        self.add_output_options(parser)

    def job_options(self, options, client_ids):
        return {
            "days_number": opts.parse_positive("days_number", options["days_number"]),
            "criterion": opts.parse_criterion(options["criterion"]),
            "accounts_active": opts.parse_bool("accounts_active", options["accounts_active"]),
            "min_sessions": opts.parse_non_negative("min_sessions", options["min_sessions"]),
            **common_filters(options, client_ids),
        }
