import json
from datetime import date, datetime

from django.core.management.base import BaseCommand, CommandError

from viewstats import catchup, host
from viewstats.command_guard import EXIT_CODES_HELP, StoreGuardMixin
from viewstats.reports import present
from viewstats.reports.filters import FilterError
from viewstats.views.reports import _csv_lines

# Parameter names in error messages -> the option that sets them.
OPTION_OF = {"from": "date_from", "to": "date_to"}
LOST_SHOWN = (1, 3, 7, 14, 30)  # "lost at N days" columns of the per-channel table


def _iso(value):
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _pct(value):
    return "-" if value is None else f"{value:.1f}%"


class Command(StoreGuardMixin, BaseCommand):
    help = (
        "Catch-up (archive) depth of an operator over a period of its local days (sessions that "
        "started in it), per channel and for all channels. AGE of an archive session = its start - "
        "the air begin of its programme in the EPG (program_id); archive sessions whose programme "
        "the EPG does not have (or that carry none, as media servers report archive) are counted "
        "apart as 'programme not in the EPG'. Age buckets: 0-1 h, 1-3 h, 3-6 h, 6-12 h, 12-24 h, "
        "then whole days 1-2, 2-3, ... up to the oldest programme watched, in sessions and watch "
        "time (summed durations). LOST AT N DAYS, N = 1 .. the depth (oldest age, rounded up to "
        "days): archive viewing with age > N days, as a share of the archive viewing with an age "
        "(and of all archive viewing, a lower bound). TIMESHIFT: live sessions watched behind live "
        "(timeshift_offset > 0, whole hours as devices report it), by hours behind. Example: "
        "manage.py viewstats_catchup --client=1 --date_from=2024-03-01 --date_to=2024-03-31 "
        "--channel=5,7 --format=csv. "
        f"Exit status: 0 done; 1 a bad option (the message names it); {EXIT_CODES_HELP}.")

    def add_arguments(self, parser):
        parser.add_argument("--client", type=int,
                            help="operator (client) id; may be left out when there is only one")
        parser.add_argument("--date_from", default="",
                            help="first local day, YYYY-MM-DD (default: 6 days before --date_to)")
        parser.add_argument("--date_to", default="", help="last local day, YYYY-MM-DD (default: today)")
        parser.add_argument("--channel", default="",
                            help="only these channel ids (comma-separated); default: every channel")
        parser.add_argument("--format", default="table",
                            help="table (default), json (the API's answer) or csv (one row per channel or "
                                 "all, section and bucket)")

    def handle(self, *args, **options):
        fmt = options["format"]
        if fmt not in ("table", "json", "csv"):
            raise CommandError(f"--format: expected table, json or csv, got {fmt!r}")
        client_id = options["client"]
        known = host.all_client_ids()
        if client_id is None:
            if len(known) != 1:
                raise CommandError(f"--client: name the operator, one of {known}" if known
                                   else "--client: there is no operator")
            client_id = known[0]
        elif client_id not in known:
            raise CommandError(f"--client: no such client {client_id}")
        params = {name: options[name] or "" for name in ("date_from", "date_to", "channel")}
        try:
            data = catchup.report(params, [client_id])
        except FilterError as exc:
            raise CommandError(self._option_message(str(exc))) from None
        if fmt == "json":
            self.stdout.write(json.dumps(data, default=_iso, indent=2, ensure_ascii=False))
        elif fmt == "csv":
            header, rows = catchup.table(data)
            for line in _csv_lines(header, rows):
                self.stdout.write(line, ending="")
        else:
            self._table(data, client_id)

    def _option_message(self, message):
        name, sep, rest = message.partition(":")
        if sep and name.isidentifier():
            return f"--{OPTION_OF.get(name, name)}:{rest}"
        return f"--date_from/--date_to: {message}"

    # -------------------------------------------------------------------- table

    def _table(self, data, client_id):
        out = self.stdout.write
        arch, ts = data["archive"], data["timeshift"]
        period = f"{data['period']['date_from']} to {data['period']['date_to']}"
        out(f"Catch-up depth of {host.client_name(client_id)} (client {client_id}), {period}, {data['zone']}")
        if data["filters"]:
            out("Filters: " + ", ".join(f"{k}={','.join(map(str, v))}" for k, v in data["filters"].items()))
        out(f"Sessions started in the period: {data['sessions']}; archive: {arch['sessions']} sessions, "
            f"{present.hours(arch['watch_time'])} ({_pct(arch['share_of_all_watch_time'])} of all watch time)")
        ne = arch["not_in_epg"]
        out(f"Programme not in the EPG: {ne['sessions']} sessions, {present.hours(ne['watch_time'])} "
            f"({ne['no_programme']['sessions']} without a programme, {ne['unknown_programme']['sessions']} "
            "of a programme the EPG does not have)")
        for note in data["notes"]:
            out(f"Note: {note}")
        out("")
        out("Archive viewing by the programme's age when watched")
        head = f"{'Age':<16} {'Sessions':>9} {'%':>7} {'Watch time':>12} {'%':>7}"
        out(head)
        out("-" * len(head))
        rows = list(arch["distribution"])
        if arch["before_air"]["sessions"]:
            rows.insert(0, {**arch["before_air"], "label": "before air time"})
        for d in rows:
            out(f"{d['label']:<16} {d['sessions']:>9} {_pct(d['share_sessions']):>7} "
                f"{present.hours(d['watch_time']):>12} {_pct(d['share_watch_time']):>7}")
        out("-" * len(head))
        w = arch["with_age"]
        out(f"{'with an age':<16} {w['sessions']:>9} {'':>7} {present.hours(w['watch_time']):>12}")
        deepest = arch["max_age_seconds"]
        out(f"Deepest programme watched: {'-' if deepest is None else f'{deepest / 86400:.2f} days'}; "
            f"depth {arch['depth_days']} day(s); within 1 day: {_pct(arch['within_1_day']['share_watch_time'])} "
            "of watch time")
        if arch["lost"]:
            out("")
            out("Share of archive viewing lost if the archive were N days deep (age > N days)")
            head = f"{'N days':>6} {'Sessions':>9} {'%':>7} {'Watch time':>12} {'%':>7} {'% of all archive':>17}"
            out(head)
            out("-" * len(head))
            for d in arch["lost"]:
                out(f"{d['days']:>6} {d['sessions']:>9} {_pct(d['share_sessions']):>7} "
                    f"{present.hours(d['watch_time']):>12} {_pct(d['share_watch_time']):>7} "
                    f"{_pct(d['share_of_all_archive_watch_time']):>17}")
        out("")
        out(f"Timeshift (live behind live, {ts['resolution']}): {ts['sessions']} sessions, "
            f"{present.hours(ts['watch_time'])} ({_pct(ts['share_of_live_watch_time'])} of live watch time)")
        for d in ts["distribution"]:
            out(f"  {d['label']:<14} behind {d['sessions']:>9} sessions {present.hours(d['watch_time']):>12} "
                f"{_pct(d['share_watch_time']):>7}")
        out("")
        lost_days = [n for n in LOST_SHOWN if n <= max(arch["depth_days"], 1)]
        head = (f"{'Channel':<32} {'Archive':>8} {'Watch time':>11} {'<=1 day':>8} "
                + " ".join(f"{'lost ' + str(n) + 'd':>8}" for n in lost_days)
                + f" {'Deepest':>9} {'No EPG':>7} {'Timeshift':>10}")
        out(head)
        out("-" * len(head))

        def line(name, a, t):
            lost = {x["days"]: x for x in a["lost"]}
            deepest = a["max_age_seconds"]
            return (f"{name[:32]:<32} {a['sessions']:>8} {present.hours(a['watch_time']):>11} "
                    f"{_pct(a['within_1_day']['share_watch_time']):>8} "
                    + " ".join(f"{_pct(lost[n]['share_watch_time']) if n in lost else '-':>8}"
                               for n in lost_days)
                    + f" {'-' if deepest is None else f'{deepest / 86400:.1f}d':>9} "
                    f"{a['not_in_epg']['sessions']:>7} {t['sessions']:>10}")
        for r in data["channels"]:
            out(line(r["channel"], r["archive"], r["timeshift"]))
        out("-" * len(head))
        out(line("All channels", arch, ts))
        out("Ages are session start - programme air begin. Every figure: see the catch-up definitions "
            "(manage.py viewstats_catchup --help, or the JSON's 'definitions').")
