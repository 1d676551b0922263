"""Catch-up (archive) depth: JSON API, CSV and the admin page (viewstats/catchup.py computes it).

Access is the reports' (views/reports.py): the API authenticates by session
or API token and refuses a client the user may not read (403); the page
shows the staff user's own operator, or the superuser's choice.
"""
from urllib.parse import urlencode

from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from .. import catchup, host, store
from ..reports import present
from ..reports.filters import FilterError, zone_for
from ..reports.periods import from_params, presets
from .report_pages import cell
from .reports import _csv_lines, insight_page, json_response, scoped_api

TITLE = "Catch-up depth"
DESCRIPTION = ("How old programmes are when viewers watch them from the archive, how much archive "
               "viewing a shallower archive would lose, and how far behind live timeshift viewers "
               "watch: per channel and for all channels.")
TOP_ROWS = 20
LOST_COLUMNS = (1, 3, 7)  # "lost at N days" columns of the channel table


# ------------------------------------------------------------------------ API

@require_GET
@scoped_api
def catchup_api(request, client_ids):
    try:
        return json_response(catchup.report(request.GET, client_ids))
    except FilterError as exc:
        return json_response({"error": str(exc)}, 400)


@require_GET
@scoped_api
def catchup_csv(request, client_ids):
    try:
        data = catchup.report(request.GET, client_ids)
    except FilterError as exc:
        return json_response({"error": str(exc)}, 400)
    header, rows = catchup.table(data)
    response = HttpResponse("".join(_csv_lines(header, rows)), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="viewstats-catchup.csv"'
    return response


# ---------------------------------------------------------------------- units

def pct(value):
    return "—" if value is None else f"{value:,.1f} %"


def days(seconds):
    """An age in days to one decimal, or hours under a day."""
    if seconds is None:
        return "—"
    if seconds < 0:
        return "before air"
    if seconds < 86400:
        return f"{seconds / 3600:,.1f} h"
    return f"{seconds / 86400:,.1f} days"


# ----------------------------------------------------------------------- page

def page_url(params):
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return reverse("viewstats:catchup-page") + ("?" + query if query else "")


class CatchupPage:
    def __init__(self, params, client_ids):
        self.params, self.client_ids = params, client_ids
        self.client_id = client_ids[0]
        self.zone = zone_for(client_ids)
        self.period = from_params(params, self.zone)
        self.cards, self.charts, self.notes, self.legend = [], [], [], []
        self.columns, self.rows, self.totals_row = [], [], []
        self.age_columns, self.age_rows = [], []
        self.ts_columns, self.ts_rows = [], []
        self.data, self.empty, self.ts_empty, self.more, self.more_link = None, "", "", "", None

    def base_params(self):
        keep = {k: self.params.get(k) for k in catchup.PARAMS if self.params.get(k)}
        keep.update(self.period.params())
        return keep

    def link(self, **changes):
        return page_url({**self.base_params(), **changes})

    def build(self):
        params = dict(self.params.items())
        params.update(self.period.params())
        data = self.data = catchup.report(params, self.client_ids)
        self.notes += data["notes"]
        arch, ts = data["archive"], data["timeshift"]
        self.cards_of(data)
        self.legend_of(data)
        if not arch["sessions"] and not ts["sessions"]:
            self.empty = self.empty_reason(data)
            return self
        if arch["with_age"]["sessions"]:
            self.age_chart(arch)
            if arch["lost"]:
                self.lost_chart(arch)
            self.age_table(arch)
        elif arch["sessions"]:
            self.empty = (f"{present.number(arch['sessions'])} archive session(s) in this period, but "
                          "none of their programmes is in the EPG (media servers report archive "
                          "viewing without a programme; older programmes may have left the EPG), so "
                          "their age is unknown.")
        else:
            self.empty = ("No archive (catch-up) viewing in this period: every session that started in "
                          "it was live. Devices report archive viewing with type=pvr (or archive) and "
                          "its programme_id.")
        if ts["sessions"]:
            self.timeshift_chart(ts)
            self.timeshift_table(ts)
        else:
            self.ts_empty = ("No live viewing behind live in this period: every live session reported "
                             "timeshift_offset 0 (devices report it in whole hours, so a pause of a few "
                             "minutes counts as live).")
        self.channel_table(data)
        self.legend = self.full_legend()
        return self

    def full_legend(self):
        """Every column of every table, then the general terms; each label once."""
        seen, said, out = set(), set(), []
        for label, help in [(c["label"], c["help"]) for c in self.columns + self.age_columns + self.ts_columns
                            if c["help"]] + self.legend:
            if label in seen or help in said:
                continue
            seen.add(label)
            said.add(help)
            out.append((label, help))
        return out

    def empty_reason(self, data):
        latest = store.latest_session_start(self.client_id)
        if latest is None:
            return ("No viewing data yet for this operator: devices send statistics once they play "
                    "something (and only for device types with statistics collection enabled).")
        filtered = bool(data["filters"])
        if not data["sessions"]:
            return (f"No sessions {'of these channels ' if filtered else ''}started in this period. "
                    f"The latest session started {present.local_time(latest, self.zone, with_year=True)}.")
        return (f"No archive or timeshift viewing {'of these channels ' if filtered else ''}in this "
                f"period: its {present.number(data['sessions'])} session(s) were all live at the live "
                "edge.")

    # -- cards ------------------------------------------------------------------

    def card(self, key, label, value, raw, help, title="", change=""):
        self.cards.append({"key": key, "label": label, "value": value, "raw": raw, "help": help,
                           "title": title, "change": change})

    def cards_of(self, data):
        arch, ts, d = data["archive"], data["timeshift"], catchup.DEFINITIONS
        self.card("archive_watch_time", "Archive watch time", present.hours(arch["watch_time"]),
                  arch["watch_time"], d["archive"] + " " + d["watch_time"],
                  title=f"{present.number(arch['watch_time'])} s",
                  change=f"{pct(arch['share_of_all_watch_time'])} of all viewing"
                  if arch["share_of_all_watch_time"] is not None else "")
        self.card("archive_sessions", "Archive sessions", present.number(arch["sessions"]), arch["sessions"],
                  d["archive"])
        self.card("within_1_day", "Watched within 1 day", pct(arch["within_1_day"]["share_watch_time"]),
                  arch["within_1_day"]["share_watch_time"], d["within_1_day"],
                  change="of archive watch time with an age")
        self.card("depth", "Deepest programme watched", days(arch["max_age_seconds"]),
                  arch["max_age_seconds"], d["depth"],
                  change=f"depth {arch['depth_days']} day(s)" if arch["depth_days"] else "")
        self.card("not_in_epg", "Programme not in the EPG", present.number(arch["not_in_epg"]["sessions"]),
                  arch["not_in_epg"]["sessions"], d["not_in_epg"],
                  change=f"{pct(arch['not_in_epg']['share_watch_time'])} of archive watch time"
                  if arch["sessions"] else "")
        self.card("timeshift_watch_time", "Timeshift watch time", present.hours(ts["watch_time"]),
                  ts["watch_time"], d["timeshift"], title=f"{present.number(ts['watch_time'])} s",
                  change=f"{pct(ts['share_of_live_watch_time'])} of live viewing"
                  if ts["share_of_live_watch_time"] is not None else "")

    # -- charts -----------------------------------------------------------------

    def age_chart(self, arch):
        dist = [d for d in arch["distribution"]]
        labels = [d["label"] for d in dist]
        hours = [round(d["watch_time"] / 3600, 2) for d in dist]
        sessions = [d["sessions"] for d in dist]
        if arch["before_air"]["sessions"]:
            labels.insert(0, "before air time")
            hours.insert(0, round(arch["before_air"]["watch_time"] / 3600, 2))
            sessions.insert(0, arch["before_air"]["sessions"])
        self.charts.append({
            "id": "age", "type": "bar",
            "title": "Archive watch time by the programme's age when watched",
            "labels": labels,
            "datasets": [{"label": "Watch time (h)", "data": hours, "unit": "hours"},
                         {"label": "Sessions", "data": sessions, "unit": "count", "axis": "y1"}]})

    def lost_chart(self, arch):
        lost = arch["lost"]
        self.charts.append({
            "id": "lost", "type": "line",
            "title": "Share of archive viewing lost if the archive were N days deep",
            "labels": [f"{d['days']} day{'s' if d['days'] != 1 else ''}" for d in lost],
            "datasets": [{"label": "Watch time lost %", "data": [d["share_watch_time"] for d in lost], "unit": "%"},
                         {"label": "Sessions lost %", "data": [d["share_sessions"] for d in lost], "unit": "%"}]})

    def timeshift_chart(self, ts):
        dist = ts["distribution"]
        self.charts.append({
            "id": "timeshift", "type": "bar",
            "title": "Timeshift watch time by how far behind live (whole hours)",
            "labels": [d["label"] for d in dist],
            "datasets": [{"label": "Watch time (h)", "data": [round(d["watch_time"] / 3600, 2) for d in dist],
                          "unit": "hours"},
                         {"label": "Sessions", "data": [d["sessions"] for d in dist], "unit": "count",
                          "axis": "y1"}]})

    # -- tables -----------------------------------------------------------------

    def age_table(self, arch):
        self.age_columns = [present.column(k, label, "text", help, align) for k, label, help, align in (
            ("age", "Age when watched", catchup.DEFINITIONS["age"], "left"),
            ("sessions", "Sessions", "", "right"),
            ("share_sessions", "Share of sessions", "The bucket's sessions ÷ the archive sessions with "
             "an age (see Shares).", "right"),
            ("watch_time", "Watch time", "", "right"),
            ("share_watch_time", "Share of watch time", "The bucket's watch time ÷ the archive watch time "
             "with an age.", "right"),
            ("lost", "Lost at the bucket's start", "For a bucket starting at N whole days: Lost at N days, "
             "the share of the archive watch time (with an age) of programmes more than N days old, which "
             "an archive N days deep would not offer.", "right"))]
        lost = {d["days"]: d for d in arch["lost"]}
        rows = []
        if arch["before_air"]["sessions"]:
            b = arch["before_air"]
            rows.append(("before air time", b, "—"))
        for d in arch["distribution"]:
            day = d["from_seconds"] // 86400 if d["from_seconds"] % 86400 == 0 else None
            rows.append((d["label"], d, pct(lost[day]["share_watch_time"]) if day in lost else "—"))
        for label, d, lost_text in rows:
            self.age_rows.append([
                cell(label), cell(present.number(d["sessions"]), align="right"),
                cell(pct(d["share_sessions"]), align="right"),
                cell(present.hours(d["watch_time"]), f"{present.number(d['watch_time'])} s", align="right"),
                cell(pct(d["share_watch_time"]), align="right"), cell(lost_text, align="right")])
        ne = arch["not_in_epg"]
        if ne["sessions"]:
            self.age_rows.append([
                cell("programme not in the EPG", catchup.DEFINITIONS["not_in_epg"]),
                cell(present.number(ne["sessions"]), f"{ne['no_programme']['sessions']} without a programme, "
                     f"{ne['unknown_programme']['sessions']} of a programme the EPG does not have", "", "right"),
                cell("not in the shares", align="right"),
                cell(present.hours(ne["watch_time"]), f"{present.number(ne['watch_time'])} s", align="right"),
                cell(""), cell("")])

    def timeshift_table(self, ts):
        self.ts_columns = [present.column(k, label, "text", help, align) for k, label, help, align in (
            ("behind", "Behind live", "Hours behind the live edge, from the first figure up to, not "
             "including, the second (devices report whole hours).", "left"),
            ("sessions", "Sessions", "", "right"),
            ("share_sessions", "Share of timeshift sessions", "The bucket's sessions ÷ all timeshift "
             "sessions.", "right"),
            ("watch_time", "Watch time", "", "right"),
            ("share_watch_time", "Share of timeshift watch time", "The bucket's watch time ÷ all timeshift "
             "watch time.", "right"))]
        for d in ts["distribution"]:
            self.ts_rows.append([
                cell(d["label"]), cell(present.number(d["sessions"]), align="right"),
                cell(pct(d["share_sessions"]), align="right"),
                cell(present.hours(d["watch_time"]), f"{present.number(d['watch_time'])} s", align="right"),
                cell(pct(d["share_watch_time"]), align="right")])

    def channel_table(self, data):
        d = catchup.DEFINITIONS
        lost_days = [n for n in LOST_COLUMNS if n > 1]
        self.columns = [present.column(k, label, "text", help, align) for k, label, help, align in [
            ("channel", "Channel", d["channel"], "left"),
            ("archive_sessions", "Archive sessions", "The channel's archive sessions (see Archive "
             "viewing).", "right"),
            ("archive_watch_time", "Archive watch time", d["watch_time"] + " In hours.", "right"),
            ("archive_share", "Share of archive", "The channel's archive watch time ÷ the archive watch "
             "time of all channels.", "right"),
            ("within_1_day", "Within 1 day", d["within_1_day"] + " Of the channel's own archive.", "right"),
        ] + [(f"lost_{n}", f"Lost at {n} days", f"Share of the channel's archive watch time with an age "
              f"over {n} days (see Lost at N days).", "right") for n in lost_days] + [
            ("deepest", "Deepest", "Age of the oldest programme of the channel watched from the archive.",
             "right"),
            ("not_in_epg", "Not in the EPG", "The channel's archive sessions whose programme is not "
             "in the EPG (see Programme not in the EPG).", "right"),
            ("timeshift_sessions", "Timeshift sessions", "The channel's live sessions watched behind "
             "live (see Timeshift).", "right"),
            ("timeshift_watch_time", "Timeshift watch time", "Watch time of those sessions, in hours.", "right"),
        ]]
        every = data["channels"]
        if self.params.get("all") == "1":
            shown = every
            self.more_link = ("top 20 only", self.link()) if len(every) > TOP_ROWS else None
            self.more = f"All {len(every)} channels" if len(every) > TOP_ROWS else ""
        else:
            shown = every[:TOP_ROWS]
            self.more = f"Top {TOP_ROWS} of {len(every)} channels" if len(every) > TOP_ROWS else ""
            self.more_link = ("show all", self.link(all="1")) if len(every) > TOP_ROWS else None
        total_w = data["archive"]["watch_time"]
        for r in shown:
            self.rows.append(self.channel_cells(r, total_w, lost_days))
        all_row = {"channel_id": None, "channel": "These channels" if data["filters"] else "All channels",
                   "archive": data["archive"],
                   "timeshift": data["timeshift"]}
        self.totals_row = self.channel_cells(all_row, total_w, lost_days, link=False)

    def channel_cells(self, r, total_w, lost_days, link=True):
        a, t = r["archive"], r["timeshift"]
        lost = {x["days"]: x for x in a["lost"]}
        cid = r["channel_id"]
        name = cell(r["channel"], f"channel id {cid}" if cid is not None else "",
                    self.link(channel=cid) if link and cid is not None else "")
        ne = a["not_in_epg"]["sessions"]
        return [name, cell(present.number(a["sessions"]), align="right"),
                cell(present.hours(a["watch_time"]), f"{present.number(a['watch_time'])} s", align="right"),
                cell(pct(100 * a["watch_time"] / total_w if total_w else None), align="right"),
                cell(pct(a["within_1_day"]["share_watch_time"]), align="right")] + [
            cell(pct(lost[n]["share_watch_time"]) if n in lost else
                 ("0.0 %" if a["with_age"]["sessions"] else "—"),
                 "nothing watched was that old" if n not in lost and a["with_age"]["sessions"] else "",
                 align="right") for n in lost_days] + [
            cell(days(a["max_age_seconds"]), align="right"),
            cell(present.number(ne) if ne else "—", align="right"),
            cell(present.number(t["sessions"]) if t["sessions"] else "—", align="right"),
            cell(present.hours(t["watch_time"]) if t["sessions"] else "—", align="right")]

    def legend_of(self, data):
        d = catchup.DEFINITIONS
        self.legend = [
            ("Period", "Sessions that started in the operator's local days shown, whatever day they "
             "ended; a session counts whole."),
            ("Archive viewing", d["archive"]), ("Age", d["age"]), ("Watch time", d["watch_time"]),
            ("Shares", d["share"]), ("Programme not in the EPG", d["not_in_epg"]),
            ("Before air time", d["before_air"]), ("Depth", d["depth"]), ("Lost at N days", d["lost"]),
            ("Within 1 day", d["within_1_day"]), ("Timeshift", d["timeshift"]),
            ("Channel", d["channel"] + " Click a channel to see its own distribution."),
        ]


def period_choices(page):
    return [{"label": label, "href": page.link(**period.params()), "active": period == page.period}
            for label, period in presets(page.zone)]


def filter_widgets(page):
    channels = sorted(host.channel_names(page.client_ids).items(), key=lambda kv: kv[1].lower())
    value = page.params.get("channel") or ""
    return [{"name": "channel", "label": "Channel", "kind": "select", "value": value,
             "options": [("", "all")] + [(str(k), v) for k, v in channels]}]


@require_GET
def catchup_page(request):
    context, page = insight_page(request, CatchupPage, "viewstats/catchup.html", TITLE, DESCRIPTION)
    if page is None:
        return context  # the login redirect or the no-operator page
    export = urlencode({"client": page.client_id, **{k: v for k, v in page.base_params().items()
                                                     if k != "client"}})
    channel = (request.GET.get("channel") or "").strip()
    chips = []
    if channel and not context.get("error"):
        names = host.channel_names(page.client_ids)
        label = ", ".join(names.get(int(c), c) if c.strip().isdigit() else c for c in channel.split(","))
        chips.append({"label": f"Channel: {label}", "href": page.link(channel="")})
    context.update(
        page=page, zone=page.zone.key, period=page.period, periods=period_choices(page),
        filters=filter_widgets(page), chips=chips,
        csv=reverse("viewstats:catchup-csv") + "?" + export,
        json=reverse("viewstats:catchup-api") + "?" + export,
        charts=page.charts if not context.get("error") else [])
    return render(request, "viewstats/catchup.html", context)
