"""What the three popularity commands share: options, dispatch and output."""
import argparse
import json
import time

from django.core.management.base import BaseCommand, CommandError, DjangoHelpFormatter

from .. import host, offload
from ..command_guard import EXIT_CODES_HELP, StoreGuardMixin
from ..conf import setting
from ..documents import utcnow
from . import options as opts
from .window import iso

WINDOW_HELP = """\
Window: the last DAYS_NUMBER whole UTC days before today (00:00 UTC
DAYS_NUMBER days ago up to 00:00 UTC today); today is not counted. A
session counts by its part inside the window, and only if at least one
second of it is inside."""

LIST_HELP = "Give a list as a comma list, as repeated flags, or both."


class _HelpFormatter(DjangoHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Keep the paragraphs of the command's help text as written."""


class PopularityCommand(StoreGuardMixin, BaseCommand):
    command_name = ""
    job = None
    many_clients = False
    object_label = ""

    def create_parser(self, prog_name, subcommand, **kwargs):
        kwargs["formatter_class"] = _HelpFormatter
        kwargs.setdefault("epilog", f"Exit status: 0 done (or queued on RQ); 1 a bad option; {EXIT_CODES_HELP}.")
        return super().create_parser(prog_name, subcommand, **kwargs)

    # --- options ------------------------------------------------------------

    def add_client_option(self, parser):
        if self.many_clients:
            parser.add_argument("--client_id", action="append", required=True, metavar="IDS",
                                help="Client (operator) ids, comma-separated: one result per "
                                     "client, each from that client's own viewing only.")
        else:
            parser.add_argument("--client_id", required=True, metavar="ID",
                                help="The client (operator) id.")

    def add_window_options(self, parser):
        parser.add_argument("--days_number", required=True, metavar="N",
                            help="Number of whole UTC days of viewing to count (> 0).")

    def add_criterion_option(self, parser):
        names = "; ".join(f"{k} = {v}" for k, v in opts.CRITERIA.items())
        aliases = ", ".join(f"{a} = {c}" for a, c in opts.CRITERION_ALIASES.items())
        parser.add_argument("--criterion", required=True, metavar="NAME",
                            help=f"What popular means: {names}. Aliases: {aliases}.")

    def add_filter_options(self, parser, accounts_active=True):
        parser.add_argument("--devices", action="append", metavar="NAMES",
                            help="Device type system names (e.g. mag,android_stb) whose viewing "
                                 f"counts; default all. {LIST_HELP}")
        parser.add_argument("--tariffs", action="append", metavar="IDS",
                            help="Tariff ids: only viewing by accounts that had one of them at "
                                 f"viewing time counts; default all. {LIST_HELP}")
        if accounts_active:
            parser.add_argument("--accounts_active", nargs="?", const="true", default="false",
                                metavar="true|false",
                                help="Count only accounts that are active now (an account "
                                     "deactivated since loses all its viewing). The bare flag "
                                     "means true; default false.")

    def add_size_option(self, parser):
        parser.add_argument("--selection_size", default=str(opts.DEFAULT_SELECTION_SIZE),
                            metavar="N",
                            help="Items in the selection (> 0), default "
                                 f"{opts.DEFAULT_SELECTION_SIZE}; items without viewing fill "
                                 "up to the size.")

    def add_min_sessions_option(self, parser):
        parser.add_argument("--min_sessions", default="0", metavar="N",
                            help="Leave out items watched in fewer than N sessions, so that no "
                                 "item ranks on a thin sample (a median of 3 sessions); 0, the "
                                 "default, keeps every item. With N > 0 nothing fills a list up: "
                                 "a selection may hold fewer than SELECTION_SIZE items, and a "
                                 "sorting only the channels with enough sessions (apps list the "
                                 "other channels after them, in the standard order).")

    def add_output_options(self, parser):
        parser.add_argument("--format", default="text", metavar="text|json",
                            help="text (default): a summary; json: the computed ranking with "
                                 "every item's metric values, for scripts and audits (with RQ "
                                 "on: the queued job ids).")

    # --- running ------------------------------------------------------------

    def job_options(self, options, client_ids):
        """JSON-able keyword arguments of the job, validated."""
        raise NotImplementedError

    def handle(self, *args, **options):
        try:
            output = opts.resolve_format(options.get("format"))
            client_ids = opts.resolve_clients(options["client_id"], self.many_clients)
            kwargs = self.job_options(options, client_ids)
        except opts.OptionError as exc:
            raise CommandError(str(exc)) from exc
        kwargs["as_of"] = iso(utcnow())
        names = host.client_names(client_ids)
        started = time.monotonic()
        done = []

        def progress(client_id, result):
            done.append(result)
            if output == "text":
                self.write_result(result, names.get(client_id, ""), len(done), len(client_ids))

        try:
            outcome = offload.dispatch(self.job, client_ids, kwargs=kwargs,
                                       description=self.command_name, on_result=progress)
        except opts.OptionError as exc:
            raise CommandError(str(exc)) from exc
        if outcome.queued:
            self.write_queued(outcome.queued, output)
            return
        if output == "json":
            self.stdout.write(json.dumps({"results": done}, indent=2))
            return
        created = sum(1 for r in done if r["created"])
        self.stdout.write(self.style.SUCCESS(
            f"Done: {len(done)} client(s), {created} {self.object_label}(s) created, "
            f"{len(done) - created} updated in {time.monotonic() - started:.1f} s."))

    def write_queued(self, queued, output):
        queue = setting("VIEWSTATS_RQ_QUEUE")
        if output == "json":
            self.stdout.write(json.dumps({"queue": queue, "queued": [
                {"client_id": client_id, "job_id": job_id} for client_id, job_id in queued.items()]},
                indent=2))
            return
        for client_id, job_id in queued.items():
            self.stdout.write(f"Queued job {job_id} for client {client_id} on queue '{queue}'.")
        self.stdout.write(self.style.SUCCESS(
            f"{len(queued)} job(s) queued; `manage.py rqworker {queue}` runs them."))

    def write_result(self, result, client_name, index, total, top=10):
        verb = "created" if result["created"] else "updated"
        window = result["window"]
        self.stdout.write(
            f"[{index}/{total}] Client {result['client_id']} ({client_name}): {verb} "
            f"{self.object_label} #{result['id']} \"{result['name']}\"")
        self.stdout.write(f"    window {window['start']} .. {window['end']} (UTC, end excluded); "
                          f"{result['counted_sessions']} views counted")
        self.stdout.write(f"    {len(result['items'])} items: {result['watched']} by popularity, "
                          f"{result['filled']} without viewing")
        parameters = result["parameters"]
        if parameters.get("min_sessions"):
            self.stdout.write(f"    {parameters.get('thin_items_left_out', 0)} watched item(s) left "
                              f"out: fewer than {parameters['min_sessions']} sessions")
        for item in result["items"][:top]:
            metrics = ", ".join(f"{k}={v}" for k, v in item["metrics"].items() if v is not None)
            mark = "" if item["watched"] else "  (no viewing)"
            self.stdout.write(f"    {item['position']:>4}. {item['name']}  {metrics}{mark}")
        if len(result["items"]) > top:
            self.stdout.write(f"    ... {len(result['items']) - top} more")


def common_filters(options, client_ids):
    """devices, tariffs (validated for the clients) as JSON-able kwargs."""
    tariffs = opts.resolve_tariffs(options.get("tariffs"), client_ids)
    return {
        "devices": opts.resolve_devices(options.get("devices")),
        "tariffs": sorted({t for own in tariffs.values() for t in own}),
    }
