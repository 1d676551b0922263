import json
from datetime import date, datetime

from django.core.management.base import BaseCommand, CommandError

from viewstats import host, ratings
from viewstats.command_guard import EXIT_CODES_HELP, StoreGuardMixin
from viewstats.reports import present
from viewstats.reports.filters import FilterError
from viewstats.views.reports import _csv_lines

# Parameter names in error messages -> the option that sets them.
OPTION_OF = {"channel": "hourly", "from": "date_from", "to": "date_to"}


def _iso(value):
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class Command(StoreGuardMixin, BaseCommand):
    help = (
        "Audience ratings of an operator's channels (or programmes) over a period of local days and a "
        "daily time band, the figures TV panels publish, computed from every account's viewing: "
        "AVERAGE AUDIENCE (average-minute audience) = seconds watched inside the period and band ÷ the "
        "band's length in the period, in accounts; RATING % = average audience ÷ universe; SHARE % = "
        "the row's average audience ÷ that of all channels; REACH = accounts with one session of at "
        "least --threshold inside one band interval, and REACH % of the universe; TIME PER VIEWER = "
        "watch time ÷ reach. The universe is the accounts active at any time in the period (the "
        "host's status history); filters narrow the viewing, not the universe. Sessions are clipped "
        "to the band in the operator's time zone in real elapsed time (a 01:00-03:00 band lasts one "
        "hour on the day the clocks go forward). Viewing without an account is left out. Example: "
        "manage.py viewstats_ratings --client=1 --date_from=2024-03-01 --date_to=2024-03-31 "
        "--band=19:00-23:00 --device_type=mag --format=csv. "
        f"Exit status: 0 done; 1 a bad option (the message names it); {EXIT_CODES_HELP}.")

    def add_arguments(self, parser):
        parser.add_argument("--client", type=int,
                            help="operator (client) id; may be left out when there is only one")
        parser.add_argument("--date_from", default="",
                            help="first local day, YYYY-MM-DD (default: 6 days before --date_to)")
        parser.add_argument("--date_to", default="", help="last local day, YYYY-MM-DD (default: today)")
        parser.add_argument("--band", default="",
                            help="daily time band in the operator's local time, HH:MM-HH:MM, e.g. "
                                 "19:00-23:00 (prime time) or 22:00-02:00 (crosses midnight); "
                                 "default: the whole day")
        parser.add_argument("--threshold", default="",
                            help="reach threshold: minutes (1, 0.5) or seconds (30s) watched in one "
                                 "session inside one band interval (default 1 minute)")
        parser.add_argument("--universe", default="active",
                            help="who could have watched: 'active' (accounts active at any time in the "
                                 "period; the only one the host contract can answer: it has no "
                                 "channel-to-tariff mapping for 'tariff')")
        parser.add_argument("--by", default="channel", help="rows: channel (default) or programme")
        parser.add_argument("--device_type", default="", help="only viewing on these device types "
                                                              "(system names, comma-separated)")
        parser.add_argument("--tariff", default="", help="only viewing by accounts on these tariff ids "
                                                         "at viewing time (comma-separated)")
        parser.add_argument("--country", default="", help="only viewing from these countries (ISO codes)")
        parser.add_argument("--kind", default="", help="live or archive (default: both)")
        parser.add_argument("--hourly", default="", metavar="CHANNEL_ID",
                            help="also print this channel's rating for each local hour of the day")
        parser.add_argument("--format", default="table", help="table (default), json or csv")

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
        params = {name: options[name] or "" for name in ("date_from", "date_to", "band", "threshold",
                                                          "universe", "by", "device_type", "tariff",
                                                          "country", "kind")}
        params["channel"] = options["hourly"] or ""
        try:
            data = ratings.report(params, [client_id])
        except FilterError as exc:
            raise CommandError(self._option_message(str(exc))) from None
        if fmt == "json":
            self.stdout.write(json.dumps(data, default=_iso, indent=2, ensure_ascii=False))
        elif fmt == "csv":
            header, rows = ratings.table(data)
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
        band, universe, t = data["band"], data["universe"], data["totals"]
        by = data["by"]
        period = f"{data['period']['date_from']} to {data['period']['date_to']}"
        out(f"Ratings of {host.client_name(client_id)} (client {client_id}), {period}, {data['zone']}")
        out(f"Band: {'whole day' if band['whole_day'] else band['band']} "
            f"({present.duration(band['seconds'])} in the period, {band['intervals']} interval(s)); "
            f"reach from {data['threshold_seconds']:g} s in one session")
        out(f"Universe: {universe['size']} accounts active in the period (universe=active; a universe of "
            f"the accounts whose tariff includes a channel is not available: the host contract has no "
            f"channel-to-tariff mapping)")
        if data["filters"]:
            out("Filters: " + ", ".join(f"{k}={','.join(map(str, v))}" for k, v in data["filters"].items()))
        for note in data["notes"]:
            out(f"Note: {note}")
        label = "Channel" if by == "channel" else "Programme (channel)"
        head = (f"{label:<38} {'Avg aud.':>9} {'Rating %':>9} {'Share %':>8} {'Reach':>7} "
                f"{'Reach %':>8} {'Time/viewer':>12} {'Watch time':>11}")
        out(head)
        out("-" * len(head))

        def line(name, r):
            def num(v, spec):
                return "-" if v is None else format(v, spec)
            return (f"{name[:38]:<38} {num(r['average_audience'], '.3f'):>9} {num(r['rating'], '.2f'):>9} "
                    f"{num(r['share'], '.2f'):>8} {r['reach']:>7} {num(r['reach_percent'], '.2f'):>8} "
                    f"{present.duration(r['ats']) or '-':>12} {present.hours(r['watch_time']):>11}")
        for r in data["rows"]:
            name = (r["channel"] if by == "channel"
                    else f"{r.get('programme') or 'no programme'} ({r['channel']})")
            out(line(name, r))
        out("-" * len(head))
        out(line("All channels", t))
        if "hourly" in data:
            h = data["hourly"]
            out("")
            out(f"{h['channel']}: rating % by local hour of the day (every hour, whatever the band)")
            for p in h["points"]:
                rating = "-" if p["rating"] is None else f"{p['rating']:.3f} %"
                audience = "-" if p["average_audience"] is None else f"{p['average_audience']:.3f}"
                out(f"  {p['label']}  rating {rating:>10}  average audience {audience:>9}")
        out("Average audience: accounts watching at an average instant of the band. Every figure: "
            "README, Definitions.")

