"""Audience ratings: JSON API, CSV and the admin page (viewstats/ratings.py computes them).

Access is the reports' (views/reports.py): the API authenticates by session
or API token and refuses a client the user may not read (403); the page
shows the staff user's own operator, or the superuser's choice.
"""
from urllib.parse import urlencode

from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from .. import host, ratings
from ..reports import present
from ..reports.filters import FilterError, zone_for
from ..reports.periods import from_params, presets
from .report_pages import cell
from .reports import _csv_lines, insight_page, json_response, scoped_api

TITLE = "Audience ratings"
DESCRIPTION = ("TV ratings per channel or programme over a period and a daily time band: average "
               "audience, rating and share, reach and time spent, for the whole base or a filter.")
TOP_ROWS = 20     # rows shown before "show all"
ALL_ROWS = 500    # rows "show all" shows; the CSV has them all
CHART_BARS = 10
BAND_PRESETS = [("Whole day", ""), ("Morning 06–09", "06:00-09:00"), ("Daytime 09–17", "09:00-17:00"),
                ("Access 17–19", "17:00-19:00"), ("Prime time 19–23", "19:00-23:00"),
                ("Late night 23–02", "23:00-02:00")]


# ------------------------------------------------------------------------ API

@require_GET
@scoped_api
def ratings_api(request, client_ids):
    try:
        return json_response(ratings.report(request.GET, client_ids))
    except FilterError as exc:
        return json_response({"error": str(exc)}, 400)


@require_GET
@scoped_api
def ratings_csv(request, client_ids):
    try:
        data = ratings.report(request.GET, client_ids)
    except FilterError as exc:
        return json_response({"error": str(exc)}, 400)
    header, rows = ratings.table(data)
    response = HttpResponse("".join(_csv_lines(header, rows)), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="viewstats-ratings-{data["by"]}.csv"'
    return response


# ---------------------------------------------------------------------- units

def audience(value):
    """Accounts watching at an average instant: small numbers keep their decimals."""
    if value is None:
        return "—"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:,.1f}"
    return f"{value:,.2f}" if value >= 0.1 or value == 0 else f"{value:.3f}"


def pct(value):
    return "—" if value is None else f"{value:,.2f} %"


def exact(value, unit=""):
    return "" if value is None else f"{value:,}{unit}"


COLUMNS = [
    ("average_audience", "Average audience", audience, ratings.DEFINITIONS["average_audience"]),
    ("rating", "Rating", pct, ratings.DEFINITIONS["rating"]),
    ("share", "Share", pct, ratings.DEFINITIONS["share"]),
    ("reach", "Reach", present.number, ratings.DEFINITIONS["reach"]),
    ("reach_percent", "Reach %", pct, "Reach ÷ universe × 100."),
    ("ats", "Time per viewer", lambda v: present.duration(v) or "—",
     ratings.DEFINITIONS["ats"] + " Shown as h:mm:ss."),
    ("watch_time", "Watch time", present.hours, ratings.DEFINITIONS["watch_time"] + " Shown in hours."),
    ("viewers", "Viewers", present.number, ratings.DEFINITIONS["viewers"]),
]


# ----------------------------------------------------------------------- page

def page_url(params):
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return reverse("viewstats:ratings-page") + ("?" + query if query else "")


class RatingsPage:
    def __init__(self, params, client_ids):
        self.params, self.client_ids = params, client_ids
        self.client_id = client_ids[0]
        self.zone = zone_for(client_ids)
        self.period = from_params(params, self.zone)
        self.cards, self.charts, self.columns, self.rows, self.notes = [], [], [], [], []
        self.totals_row, self.legend, self.data, self.more, self.more_link = [], [], None, "", None
        self.empty = ""

    def base_params(self):
        keep = {k: self.params.get(k) for k in ratings.PARAMS if self.params.get(k)}
        keep.update(self.period.params())
        return keep

    def link(self, **changes):
        return page_url({**self.base_params(), **changes})

    def build(self):
        params = dict(self.params.items())
        params.update(self.period.params())
        query = ratings.parse(params, self.client_ids)
        self.query = query
        data = self.data = ratings.compute(query)
        self.notes += data["notes"]
        self.cards_of(data)
        self.table(data)
        watched = [r for r in data["rows"] if r["watch_time"]]
        if not watched:
            self.empty = self.empty_reason(data)
            return self
        self.share_chart(data, watched)
        channel = query.channel
        if channel is None or channel not in host.client_channel_ids(self.client_id):
            channel = next((r["channel_id"] for r in watched if r["channel_id"] is not None), None)
        self.chart_channel = channel
        if channel is not None:
            self.hourly_chart(query, channel, data["universe"]["size"])
        return self

    def empty_reason(self, data):
        if not data["band"]["seconds"]:
            return data["notes"][0]
        filtered = any(self.params.get(k) for k in ratings.FILTERS)
        return (f"No account watched anything {'matching these filters ' if filtered else ''}in this "
                f"band and period. Viewing without an account is not rated.")

    # -- cards ------------------------------------------------------------------

    def card(self, key, label, value, raw, help, title="", change=""):
        self.cards.append({"key": key, "label": label, "value": value, "raw": raw, "help": help,
                           "title": title, "change": change})

    def cards_of(self, data):
        t, u, band = data["totals"], data["universe"], data["band"]
        self.card("universe", "Universe", f"{present.number(u['size'])} accounts", u["size"],
                  ratings.DEFINITIONS["universe"], change="active in the period")
        self.card("band", "Band time in the period", present.duration(band["seconds"]), band["seconds"],
                  ratings.DEFINITIONS["band"], title=f"{present.number(band['seconds'])} s",
                  change=f"{self.band_label()} · {band['intervals']} interval(s)")
        self.card("average_audience", "Average audience, all channels", audience(t["average_audience"]),
                  t["average_audience"], ratings.DEFINITIONS["average_audience"],
                  title=f"{t['average_audience']} accounts", change="accounts watching, on average")
        self.card("rating", "Rating, all channels", pct(t["rating"]), t["rating"],
                  "All viewing's average audience ÷ universe: the share of the base watching at an "
                  "average instant (the panels' PUT / HUT).", title=f"{t['rating']} %")
        self.card("reach", "Reach, all channels", present.number(t["reach"]), t["reach"],
                  ratings.DEFINITIONS["reach"], change=f"{pct(t['reach_percent'])} of the universe")
        self.card("ats", "Time per reached viewer", present.duration(t["ats"]) or "—", t["ats"],
                  ratings.DEFINITIONS["ats"], title=f"{t['ats']} s")

    def band_label(self):
        band = self.data["band"]
        if band["whole_day"]:
            return "whole day"
        return band["band"] + (" (crosses midnight)" if band["crosses_midnight"] else "")

    # -- table ------------------------------------------------------------------

    def table(self, data):
        by = data["by"]
        labels = [present.column("channel", "Channel", "text", "The channel, or the stream name a "
                                 "media server reported when no channel of the operator plays it. "
                                 "Click a name to draw its ratings by hour.", "left")]
        if by == "programme":
            labels = [present.column("programme", "Programme", "text", "The EPG programme the session "
                                     "was of (on air when it started, or the archive programme), with "
                                     "its air time. Its audience is its part of the band's: a "
                                     "channel's programmes add up to the channel.", "left")] + \
                [present.column("channel", "Channel", "text", align="left")]
        self.columns = labels + [present.column(k, label, "text", help, "right")
                                 for k, label, _, help in COLUMNS]
        what = "channels" if by == "channel" else "programmes"
        every = len(data["rows"])
        if self.params.get("all") == "1":
            rows = data["rows"][:ALL_ROWS]
            self.more = (f"All {every} {what}" if every <= ALL_ROWS else
                         f"The first {ALL_ROWS} of {every} {what}; the CSV has them all")
            self.more_link = ("top 20 only", self.link()) if every > TOP_ROWS else None
        else:
            rows = data["rows"][:TOP_ROWS]
            self.more = f"Top {TOP_ROWS} of {every} {what}" if every > TOP_ROWS else ""
            self.more_link = ("show all", self.link(all="1")) if every > TOP_ROWS else None
        for r in rows:
            self.rows.append(self.label_cells(r, by) + [
                cell(fmt(r[k]), exact(r[k]), align="right") for k, _, fmt, _ in COLUMNS])
        t = data["totals"]
        self.totals_row = ([cell("All channels", "Every account's viewing of any channel: shares add "
                                 "up to 100 %; reach and viewers count each account once.")]
                           + [cell("")] * (len(labels) - 1)
                           + [cell(fmt(t[k]), exact(t[k]), align="right") for k, _, fmt, _ in COLUMNS])
        self.legend = [(c["label"], c["help"]) for c in self.columns if c["help"]] + [
            ("Universe", ratings.DEFINITIONS["universe"] + " Ratings against the accounts whose tariff "
             "includes a channel are " + ratings.TARIFF_UNIVERSE_MISSING.replace("not available:", "not "
                                                                                 "available:") + "."),
            ("Band", ratings.DEFINITIONS["band"] + " Times are real elapsed time: on the day the clocks "
             "go forward a band over the skipped hour is shorter."),
            ("Threshold", f"Reach counts a session of at least {self.threshold_label()} inside one "
             "interval of the band (change it with the threshold field, in minutes)."),
            ("Accounts only", ratings.DEFINITIONS["accounts_only"]),
            ("Archive and timeshift", "Viewing counts when it happened, whatever it showed: live, "
             "timeshifted and archive alike (choose Live only to leave archive viewing out). No cap "
             "is put on long sessions: a box left on counts as it reported."),
        ]

    def threshold_label(self):
        seconds = self.data["threshold_seconds"]
        if seconds % 60 == 0:
            minutes = int(seconds // 60)
            return f"{minutes} minute{'s' if minutes != 1 else ''}"
        return f"{seconds:g} seconds"

    def label_cells(self, r, by):
        cid = r.get("channel_id")
        name = cell(r.get("channel") or present.UNKNOWN,
                    f"channel id {cid}" if cid is not None else "a stream no channel plays",
                    self.link(channel=cid) + "#vs-hourly" if cid is not None else "")
        if by == "channel":
            return [name]
        if r.get("program_id") is None:
            text = "no programme in the EPG"
        elif r.get("programme_begin"):
            text = (f"{r['programme'] or 'untitled'} · {present.local_time(r['programme_begin'], self.zone)}–"
                    f"{present.local_time(r['programme_end'], self.zone, with_date=False)}")
        else:
            text = r.get("programme") or "a programme no longer in the EPG"
        return [cell(text, f"programme id {r['program_id']}" if r.get("program_id") is not None else "",
                     align="wrap"), name]

    # -- charts -----------------------------------------------------------------

    def row_label(self, r):
        """A bar's label: short, or Chart.js cuts it on a narrow screen (the table has the rest)."""
        if self.data["by"] == "channel":
            return r.get("channel") or present.UNKNOWN
        title = r.get("programme") or "no programme"
        title = title if len(title) <= 20 else title[:19] + "…"
        when = present.local_time(r["programme_begin"], self.zone) if r.get("programme_begin") else ""
        return f"{title} {when}".strip()

    def share_chart(self, data, watched):
        top = watched[:CHART_BARS]
        what = "channels" if data["by"] == "channel" else "programmes"
        self.charts.append({
            "id": "bars", "type": "bar",
            "title": f"Top {len(top)} {what} by share, {self.band_label()}",
            "labels": [self.row_label(r) for r in top],
            "datasets": [{"label": "Share %", "data": [r["share"] for r in top], "unit": "%"}]})

    def hourly_chart(self, query, channel, universe):
        profile = ratings.hourly(query, channel, universe)
        self.hourly = profile
        self.charts.append({
            "id": "hourly", "type": "line",
            "title": f"{profile['channel'] or 'channel ' + str(channel)}: rating by hour of day "
                     f"({self.zone.key}, every hour whatever the band)",
            "labels": [p["label"] for p in profile["points"]],
            "datasets": [{"label": "Rating %", "data": [p["rating"] for p in profile["points"]],
                          "unit": "%"}]})


def period_choices(page):
    out = []
    for label, period in presets(page.zone):
        out.append({"label": label, "href": page.link(**period.params()), "active": period == page.period})
    return out


def band_choices(page):
    try:
        current = ratings.parse_band(page.params.get("band")).text()
    except FilterError:
        current = None
    return [{"label": label, "href": page.link(band=value),
             "active": current == ratings.parse_band(value).text()} for label, value in BAND_PRESETS]


def filter_widgets(page):
    params = page.params
    channels = sorted(host.channel_names(page.client_ids).items(), key=lambda kv: kv[1].lower())
    return [
        {"name": "by", "label": "Rows", "kind": "select", "value": params.get("by") or "channel",
         "options": [("channel", "Channels"), ("programme", "Programmes")]},
        {"name": "device_type", "label": "Device type", "kind": "select",
         "value": params.get("device_type") or "",
         "options": [("", "all")] + sorted(host.device_type_names(page.client_ids).items(),
                                           key=lambda kv: kv[1].lower())},
        {"name": "tariff", "label": "Tariff", "kind": "select", "value": params.get("tariff") or "",
         "options": [("", "all")] + [(str(k), v) for k, v in host.tariff_names(page.client_ids).items()]},
        {"name": "kind", "label": "Viewing", "kind": "select", "value": params.get("kind") or "",
         "options": [("", "live and archive"), ("live", "live only"), ("archive", "archive only")]},
        {"name": "country", "label": "Country code", "kind": "text", "value": params.get("country") or ""},
        {"name": "channel", "label": "Chart channel", "kind": "select",
         "value": str(getattr(page, "chart_channel", "") or params.get("channel") or ""),
         "options": [("", "the top channel")] + [(str(k), v) for k, v in channels]},
    ]


@require_GET
def ratings_page(request):
    context, page = insight_page(request, RatingsPage, "viewstats/ratings.html", TITLE, DESCRIPTION)
    if page is None:
        return context  # the login redirect or the no-operator page
    export = urlencode({"client": page.client_id, **{k: v for k, v in page.base_params().items()
                                                     if k not in ("client", "channel")}})
    context.update(
        page=page, zone=page.zone.key, period=page.period, periods=period_choices(page),
        bands=band_choices(page), filters=filter_widgets(page),
        band=(request.GET.get("band") or "").strip(), threshold=(request.GET.get("threshold") or "").strip(),
        csv=reverse("viewstats:ratings-csv") + "?" + export,
        json=reverse("viewstats:ratings-api") + "?" + export,
        charts=page.charts if not context.get("error") else [],
        chips=[{"label": f"{label}: {value}", "href": page.link(**{name: ""})}
               for name, label, value in _chips(page)])
    return render(request, "viewstats/ratings.html", context)


def _chips(page):
    names = {"device_type": ("Device type", host.device_type_names(page.client_ids)),
             "tariff": ("Tariff", {str(k): v for k, v in host.tariff_names(page.client_ids).items()}),
             "country": ("Country", {}),
             "kind": ("Viewing", {"live": "live only", "archive": "archive only"})}
    for name, (label, lookup) in names.items():
        value = (page.params.get(name) or "").strip()
        if value:
            yield name, label, lookup.get(value, value)

