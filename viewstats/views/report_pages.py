"""The viewing report pages in the admin: cards, charts and readable tables.

The figures are the JSON API's (reports.run), only dressed: names for ids,
human units, shares, the period before for comparison, drill-down links.
"""
from datetime import date
from urllib.parse import urlencode

from django.urls import reverse

from .. import host, store
from ..reports import breakdowns, present, timeline
from ..reports.filters import parse_filters, zone_for
from ..reports.periods import from_params, presets
from ..reports.run import BREAKDOWNS, PARAMS, run
from ..reports.unique import gap_seconds

TOP_ROWS = 20        # rows shown before "show all"
PAGE_ROWS = 50       # rows per page when showing all
CHART_BARS = 10
CARD_METRICS = [("viewers", "Viewers", "number"), ("sessions", "Sessions", "number"),
                ("watch_time", "Watch time", "hours"), ("avg_watch_time", "Average session", "duration"),
                ("bytes", "Traffic", "traffic")]


def page_url(name, params):
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return reverse("viewstats:report-page", args=[name]) + ("?" + query if query else "")


def cell(text, title="", href="", align="left"):
    return {"text": text, "title": title, "href": href, "align": align}


class Page:
    """One report page's context, built from the query string."""

    def __init__(self, name, params, client_ids):
        self.name, self.params, self.client_ids = name, params, client_ids
        self.zone = zone_for(client_ids)
        self.period = from_params(params, self.zone)
        self.names = present.Names(client_ids)
        self.notes, self.charts, self.cards = [], [], []
        self.columns, self.rows, self.pager = [], [], {}
        self.empty = ""

    # -- links ---------------------------------------------------------------

    def base_params(self):
        """The client, period and filters in use, for links that keep them."""
        keep = {k: self.params.get(k) for k in PARAMS[self.name] if k not in ("cursor", "sort")}
        keep.update(self.period.params())
        return keep

    def link(self, name, **changes):
        params = {k: v for k, v in self.base_params().items() if k in PARAMS[name]}
        params.update(changes)
        return page_url(name, params)

    # -- shared parts -----------------------------------------------------------

    def filters(self, period=None):
        params = dict(self.params.items())
        params.update((period or self.period).params())
        return parse_filters(params, self.client_ids)

    def totals_cards(self, totals, previous):
        for key, label, fmt in CARD_METRICS:
            now = totals.get(key, 0)
            before = previous.get(key, 0) if previous is not None else None
            self.cards.append({
                "key": key, "raw": now, "label": label, "value": present.FORMATS[fmt](now),
                "title": f"{present.number(now)}" + (" seconds" if fmt in ("hours", "duration") else
                                                     " bytes" if fmt == "traffic" else ""),
                "change": present.change(now, before) if previous is not None else "",
                "help": present.HELP.get(key, "")})

    def timeline_chart(self, filters, title="Over time"):
        data = timeline.timeline(filters)
        step = data["step"]
        labels = [p["t"][:13].replace("T", " ") + ":00" if step == "hour" else p["t"][:10]
                  for p in data["points"]]
        self.charts.append({
            "id": "timeline", "type": "line", "title": f"{title}, by {step} ({data['zone']})",
            "labels": labels,
            "datasets": [
                {"label": "Sessions", "data": [p["sessions"] for p in data["points"]], "unit": "count"},
                {"label": "Viewers", "data": [p["viewers"] for p in data["points"]], "unit": "count"},
                {"label": "Watch time (h)", "data": [round(p["watch_time"] / 3600, 2)
                                                     for p in data["points"]], "unit": "hours"},
                {"label": "Traffic (GB)", "data": [round(p["bytes"] / 1e9, 3)
                                                   for p in data["points"]], "unit": "GB"}],
            "switch": True})
        return data

    def empty_reason(self, filters):
        """Why a period shows nothing, in words an operator can act on."""
        client_id = self.client_ids[0]
        latest = store.latest_session_start(client_id)
        if latest is None:
            types = host._device_types(client_id)
            if not any(d.collection_enabled for d in types):
                return ("No viewing data yet: statistical data collection is not enabled for any "
                        "device type of this operator. Tick \"Enable statistical data collection\" "
                        "on the device types whose sessions you want counted.")
            return ("No viewing data yet. Devices send statistics once they play something; "
                    "media servers once their event sink points here.")
        filtered = any(self.params.get(k) for k in PARAMS[self.name]
                       if k not in ("client", "date_from", "date_to", "sort", "unique", "step"))
        when = present.local_time(latest, self.zone, with_year=True)
        return (f"No sessions {'match these filters ' if filtered else ''}in this period. "
                f"The latest session started {when}.")

    # -- pages ----------------------------------------------------------------

    def build(self):
        getattr(self, "build_" + ("breakdown" if self.name in BREAKDOWNS else self.name))()
        return self

    def build_breakdown(self):
        unique = (self.params.get("unique") or "").lower() in ("1", "true", "yes", "on")
        data = run(self.name, self.params, self.client_ids)
        self.computed_from = data["computed_from"]
        previous = breakdowns.totals(self.filters(self.period.before()), unique)
        self.totals_cards(data["totals"], previous)
        self.table(data["rows"], data["totals"], unique)
        if data["rows"]:
            self.bars(data["rows"], data["totals"])
            self.timeline_chart(self.filters())
        else:
            self.empty = self.empty_reason(self.filters())

    def build_unique(self):
        data = run("unique", self.params, self.client_ids)
        self.computed_from = data["computed_from"]
        gap = present.duration(data["gap_seconds"])
        self.notes.append(present.HELP["unique"].format(gap=gap) + " Here every figure is "
                          "computed over unique sessions; \"Reported\" is the sessions before merging.")
        raw = data["raw_totals"]
        self.totals_cards(data["totals"], None)
        self.cards.insert(2, {"key": "raw_sessions", "raw": raw["sessions"], "label": "Reported sessions", "value": present.number(raw["sessions"]),
                              "title": "", "change": "", "help": present.HELP["raw_sessions"]})
        self.table(data["rows"], data["totals"], True)
        self.columns[2]["label"] = "Unique sessions"
        if data["rows"]:
            top = data["rows"][:CHART_BARS]
            self.charts.append({
                "id": "bars", "type": "bar", "title": "Unique and reported sessions, top channels",
                "labels": [self.row_label(r) for r in top],
                "datasets": [{"label": "Unique sessions", "data": [r["sessions"] for r in top], "unit": "count"},
                             {"label": "Reported sessions", "data": [r["raw_sessions"] for r in top],
                              "unit": "count"}]})
        else:
            self.empty = self.empty_reason(self.filters())

    # -- breakdown tables -----------------------------------------------------------

    def row_label(self, row, programmes=None):
        d = self.name if self.name in BREAKDOWNS else "channel"
        if d == "channel":
            return row.get("channel") or present.UNKNOWN
        if d == "programme":
            p = (programmes or {}).get(row.get("program_id"))
            when = f", {present.local_time(p['begin'], self.zone)}" if p else ""
            return f"{row.get('programme') or 'no programme'} ({row.get('channel')}{when})"
        if d == "device":
            model = " ".join(v for v in (row.get("brand"), row.get("model")) if v)
            parts = (self.names.device_type(row.get("device_type")), model, row.get("app"))
            return " · ".join(v for v in parts if v)
        if d == "country":
            return present.country_name(row.get("country"))
        return present.protocol_name(row.get("protocol"))

    def bars(self, rows, totals):
        top = rows[:CHART_BARS]
        programmes = (self.names.programmes([r["program_id"] for r in top if r.get("program_id")])
                      if self.name == "programme" else {})
        whole = totals.get("watch_time") or 0
        self.charts.append({
            "id": "bars", "type": "bar", "title": f"Top {len(top)} by sessions, with share of watch time",
            "labels": [self.row_label(r, programmes) for r in top],
            "datasets": [{"label": "Sessions", "data": [r["sessions"] for r in top], "unit": "count"}],
            "shares": [round(100 * r["watch_time"] / whole, 1) if whole else 0 for r in top]})

    def table(self, rows, totals, unique):
        d = self.name if self.name in BREAKDOWNS else "channel"
        metrics = [dict(c) for c in present.METRIC_COLUMNS]  # a page may relabel its own
        if unique:
            metrics.insert(2, present.column("raw_sessions", "Reported sessions"))
        if not totals.get("bytes"):
            metrics = [c for c in metrics if c["key"] != "bytes"]  # nothing reports traffic here
        self.columns = present.LABEL_COLUMNS[d] + metrics + [present.column("links", "Details", "text", "", "left")]
        show_all = self.params.get("all") == "1"
        page = _page_number(self.params.get("page"))
        if show_all:
            shown = rows[(page - 1) * PAGE_ROWS: page * PAGE_ROWS]
            pages = max(1, -(-len(rows) // PAGE_ROWS))
            self.pager = {"page": page, "pages": pages, "total": len(rows),
                          "prev": self.self_link(all="1", page=page - 1) if page > 1 else "",
                          "next": self.self_link(all="1", page=page + 1) if page < pages else "",
                          "top": self.self_link()}
        else:
            shown = rows[:TOP_ROWS]
            if len(rows) > TOP_ROWS:
                self.pager = {"more": self.self_link(all="1"), "total": len(rows), "shown": TOP_ROWS}
        programmes = (self.names.programmes([r["program_id"] for r in shown if r.get("program_id")])
                      if d == "programme" else {})
        whole = totals.get("watch_time") or 0
        for r in shown:
            labels = self.label_cells(d, r, programmes)
            values = []
            for c in metrics:
                if c["key"] == "share":
                    values.append(cell(present.percent(r["watch_time"], whole), align="right"))
                    continue
                v = r.get(c["key"])
                text = "—" if c["key"] == "bytes" and not v else present.FORMATS[c["fmt"]](v)
                values.append(cell(text, present.number(v), align="right"))
            self.rows.append(labels + values + [self.drill(d, r)])
        self.totals_row = ([cell("Total", "Viewers are counted once however many rows they appear in.")]
                           + [cell("")] * (len(present.LABEL_COLUMNS[d]) - 1)
                           + [cell(present.FORMATS[c["fmt"]](totals.get(c["key"])) if c["key"] != "share"
                                   else ("100 %" if whole else ""), present.number(totals.get(c["key"])),
                                   align="right") for c in metrics] + [cell("")])

    def self_link(self, **changes):
        params = self.base_params()
        params.update({k: self.params.get(k) for k in ("unique",)})
        params.update(changes)
        return page_url(self.name, params)

    def label_cells(self, d, r, programmes):
        if d == "channel":
            cid = r.get("channel_id")
            title = f"channel id {cid}" if cid is not None else "a stream no channel plays"
            return [cell(r.get("channel") or present.UNKNOWN, title,
                         self.link("programme", channel=cid) if cid is not None else "")]
        if d == "programme":
            p = programmes.get(r.get("program_id"))
            if p:
                air = (f"{present.local_time(p['begin'], self.zone)}–"
                       f"{present.local_time(p['end'], self.zone, with_date=False)}")
                text = f"{p['title']} · {air}"
            else:
                text = r.get("programme") or "no programme in the EPG"
            return [cell(text, f"programme id {r.get('program_id')}" if r.get("program_id") else "",
                         align="wrap"),
                    cell(r.get("channel") if r.get("channel_id") is not None else "streams no channel plays",
                         f"channel id {r.get('channel_id')}" if r.get("channel_id") is not None else
                         "media-server streams not matched to a channel of the operator",
                         self.link("channel", channel=r.get("channel_id"))
                         if r.get("channel_id") is not None else "")]
        if d == "device":
            model = " ".join(v for v in (r.get("brand"), r.get("model")) if v)
            return [cell(self.names.device_type(r.get("device_type")), r.get("device_type") or ""),
                    cell(present.device_class(r.get("type")), r.get("type") or ""),
                    cell(model or present.UNKNOWN),
                    cell(r.get("app") or "")]
        if d == "country":
            return [cell(present.country_name(r.get("country")), r.get("country") or "")]
        return [cell(present.SOURCE_NAMES.get(r.get("source"), r.get("source") or present.UNKNOWN)),
                cell(present.protocol_name(r.get("protocol")), r.get("protocol") or "")]

    def drill(self, d, r):
        """Links from a row to the reports that go one level deeper."""
        links = []
        if d in ("channel", "programme") and r.get("channel_id") is not None:
            if d == "channel":
                links.append(("programmes", self.link("programme", channel=r["channel_id"])))
                links.append(("over time", self.link("channel", channel=r["channel_id"])))
            if d == "programme" and r.get("program_id"):
                links.append(("sessions", self.link("sessions", channel=r["channel_id"],
                                                    programme=r["program_id"])))
            else:
                links.append(("sessions", self.link("sessions", channel=r["channel_id"])))
        elif d == "device":
            extra = {"device_type": r.get("device_type") or ""}
            if r.get("model"):
                extra.update(brand=r.get("brand"), model=r["model"])
            if r.get("device_type") or r.get("model"):
                links.append(("sessions", self.link("sessions", **extra)))
        elif d == "country" and r.get("country"):
            links.append(("sessions", self.link("sessions", country=r["country"])))
        elif d == "protocol" and r.get("source"):
            links.append(("sessions", self.link("sessions", source=r["source"],
                                                protocol=r.get("protocol") or "")))
        return {"links": links, "align": "left", "text": ""}

    # -- raw sessions ------------------------------------------------------------------

    def build_sessions(self):
        params = dict(self.params.items())
        params.setdefault("limit", str(PAGE_ROWS))
        data = run("sessions", params, self.client_ids)
        filters = self.filters()
        totals = breakdowns.totals(filters)
        self.computed_from = "sessions"
        self.totals_cards(totals, breakdowns.totals(self.filters(self.period.before())))
        if self.params.get("account"):
            self.notes.append(f"Viewing history of account {self.account_label(self.params['account'])}.")
        rows = data["rows"]
        self.columns = [present.column(k, label, "text", help, align) for k, label, help, align in (
            ("start", f"Started ({self.zone.key})", "The operator's local time the session "
             "started; hover for its end.", "left"),
            ("duration", "Duration", "From the session's start to its end.", "right"),
            ("channel", "Channel or stream", "", "left"),
            ("programme", "Programme", "On air when the session started.", "left"),
            ("account", "Account", "The subscriber's login; opens its viewing history.", "left"),
            ("device", "Device", "Device type, then brand and model.", "left"),
            ("country", "Country", "", "left"),
            ("source", "Reported by", "", "left"),
            ("bytes", "Traffic", present.HELP["bytes"], "right"),
            ("user_agent", "User-Agent", "Shortened; hover for the whole string.", "left"))]
        channels = host.channel_names(self.client_ids)
        programmes = self.names.programmes([r["program_id"] for r in rows if r.get("program_id")])
        accounts = self.names.accounts([r["account_id"] for r in rows if r.get("account_id") is not None])
        servers = self.names.servers({r["server_id"] for r in rows if r.get("server_id") is not None})
        for r in rows:
            p = programmes.get(r.get("program_id"))
            account = r.get("account_id")
            model = " ".join(v for v in (r.get("ua_brand"), r.get("ua_model")) if v)
            ua = r.get("user_agent") or ""
            source = {"device": "Device"}.get(r.get("source"), r.get("source") or "")
            if r.get("server_id") is not None:
                source = servers.get(r["server_id"], f"server {r['server_id']}")
            self.rows.append([
                cell(present.local_time(r["start"], self.zone),
                     f"ended {present.local_time(r.get('end'), self.zone)}"),
                cell(present.duration(r.get("duration")), f"{present.number(r.get('duration'))} s", align="right"),
                cell(channels.get(r.get("channel_id")) or r.get("media") or present.UNKNOWN,
                     f"channel id {r.get('channel_id')}" if r.get("channel_id") is not None else "",
                     align="clip"),
                cell((p["title"] if p else "") + (" (archive)" if r.get("kind") == "archive" else ""),
                     f"{p['title'] if p else ''} · programme id {r.get('program_id')}"
                     if r.get("program_id") else "", align="clip"),
                cell(accounts.get(account, str(account) if account is not None else "—"),
                     f"account id {account}" if account is not None else "no account: counted by IP and User-Agent",
                     self.link("sessions", account=account) if account is not None else ""),
                cell(" · ".join(v for v in (self.names.device_type(r.get("device_type")), model) if v),
                     " · ".join(v for v in (present.device_class(r.get("ua_type")), model,
                                            r.get("ua_app")) if v), align="clip"),
                cell(present.country_name(r.get("country")), r.get("ip") or ""),
                cell(f"{source}{' · ' + present.protocol_name(r['protocol']) if r.get('protocol') and r.get('server_id') is not None else ''}",
                     f"server id {r['server_id']}" if r.get("server_id") is not None else "",
                     align="clip"),
                cell(present.traffic(r.get("bytes")) if r.get("bytes") else "", align="right"),
                cell(ua, ua, align="clip"),
            ])
        self.pager = {"next": page_url("sessions", {**self.base_params(), "sort": self.params.get("sort"),
                                                    "cursor": data["next"]}) if data.get("next") else "",
                      "first": page_url("sessions", {**self.base_params(), "sort": self.params.get("sort")})
                      if self.params.get("cursor") else ""}
        if rows:
            self.timeline_chart(filters, "Sessions of these filters")
        else:
            self.empty = self.empty_reason(filters)

    def account_label(self, account):
        login = self.names.accounts([int(account)] if str(account).isdigit() else [account])
        return next(iter(login.values()), account)

    # -- daily statistics -----------------------------------------------------------

    def build_daily(self):
        # Every server's rows, to offer them all; the table shows the one chosen.
        every = {**dict(self.params.items()), "server": ""}
        rows = run("daily", every, self.client_ids)["rows"]
        self.computed_from = "daily statistics"
        server_ids = sorted({r["server"] for r in rows if r["server"] not in ("all", "devices")}, key=str)
        names = self.names.servers([int(s) for s in server_ids if str(s).isdigit()])
        choice = self.params.get("server") or "all"
        self.servers = [("all", "All sessions"), ("devices", "Set-top boxes and apps")] + [
            (str(s), names.get(int(s), f"server {s}") if str(s).isdigit() else str(s)) for s in server_ids]
        mine = [r for r in rows if str(r["server"]) == choice]
        previous = run("daily", {**every, **self.period.before().params(), "server": choice},
                       self.client_ids)["rows"]
        before = previous

        def total(rs, key):
            return sum(r.get(key) or 0 for r in rs)
        for key, label, fmt, help in (
                ("connections", "Connections", "number", "Sessions that started in the day."),
                ("total_view_time", "Viewing time", "hours", "Viewing inside the day: a session over "
                 "midnight gives each day its part."),
                ("traffic_bytes", "Traffic", "traffic", "Bytes media servers sent to viewers within the day."),
                ("inter_server_bytes", "Inter-server traffic", "traffic", "Bytes sent to other media "
                 "servers pulling streams (their addresses are in the media servers' list); not viewing.")):
            now, was = total(mine, key), total(before, key)
            self.cards.append({"key": key, "raw": now, "label": label, "value": present.FORMATS[fmt](now),
                               "title": present.number(now),
                               "change": present.change(now, was), "help": help})
        peak = max(mine, key=lambda r: r.get("peak_out_bps") or 0, default=None)
        if peak and peak.get("peak_out_bps"):
            self.cards.append({"key": "peak_out_bps", "raw": peak["peak_out_bps"], "label": "Peak bandwidth",
                               "value": present.bandwidth(peak["peak_out_bps"]),
                               "title": "", "change": f"at {present.local_time(peak['peak_out_at'], self.zone)}",
                               "help": "Highest 5-minute average of outgoing traffic."})
        self.columns = [present.column(k, label, "text", help, align) for k, label, help, align in (
            ("day", "Day", "A local day of the operator.", "left"),
            ("connections", "Connections", "Sessions that started in the day.", "right"),
            ("protocols", "By protocol", "Connections by delivery protocol.", "left"),
            ("view", "Viewing time", "Viewing inside the day, in hours.", "right"),
            ("avg", "Average viewing", "Viewing time per session that had viewing in the day.", "right"),
            ("traffic", "Traffic", "Bytes sent to viewers within the day.", "right"),
            ("inter", "Inter-server", "Bytes sent to other media servers pulling streams, and their "
             "connections; in none of the other columns.", "right"),
            ("peak", "Peak bandwidth", "Highest 5-minute average of outgoing traffic, and when.", "right"))]
        for r in mine:
            protocols = " · ".join(f"{present.protocol_name(p)} {present.number(n)}"
                                   for p, n in sorted(r["connections_by_protocol"].items(),
                                                      key=lambda kv: -kv[1]))
            self.rows.append([
                cell(_day_label(r["day"])), cell(present.number(r["connections"]), align="right"),
                cell(protocols), cell(present.hours(r["total_view_time"]), present.number(r["total_view_time"]) + " s",
                                      align="right"),
                cell(present.duration(r["avg_view_time"]), align="right"),
                cell(present.traffic(r["traffic_bytes"]), present.number(r["traffic_bytes"]) + " bytes", align="right"),
                cell(present.traffic(r.get("inter_server_bytes") or 0),
                     f"{present.number(r.get('inter_server_connections') or 0)} connections", align="right"),
                cell(f"{present.bandwidth(r['peak_out_bps'])} at "
                     f"{present.local_time(r['peak_out_at'], self.zone, with_date=False)}"
                     if r.get("peak_out_bps") else "", align="right")])
        days = [_day_label(r["day"])[:10] for r in mine]
        if any(r["connections"] or r["total_view_time"] for r in mine):
            self.charts.append({"id": "daily-connections", "type": "bar", "title": "Connections and viewing time per day",
                                "labels": days, "datasets": [
                                    {"label": "Connections", "data": [r["connections"] for r in mine], "unit": "count"},
                                    {"label": "Viewing time (h)", "data": [round(r["total_view_time"] / 3600, 2)
                                                                           for r in mine], "unit": "hours",
                                     "axis": "y1"}]})
            if any(r["traffic_bytes"] or r.get("inter_server_bytes") for r in mine):
                self.charts.append({"id": "daily-traffic", "type": "line", "title": "Traffic and peak bandwidth per day",
                                    "labels": days, "datasets": [
                                        {"label": "Viewer traffic (GB)", "data": [round(r["traffic_bytes"] / 1e9, 3)
                                                                                  for r in mine], "unit": "GB"},
                                        {"label": "Inter-server traffic (GB)",
                                         "data": [round((r.get("inter_server_bytes") or 0) / 1e9, 3) for r in mine],
                                         "unit": "GB"},
                                        {"label": "Peak (Mbit/s)", "data": [round((r["peak_out_bps"] or 0) / 1e6, 2)
                                                                            for r in mine], "unit": "Mbit/s",
                                         "axis": "y1"}]})
            else:
                self.notes.append("No traffic figures: only media servers report traffic, and none "
                                  "reported sessions in this period for this choice.")
        else:
            self.rows = []  # every day has a zero row; a table of zeros says less than why
            self.empty = self.empty_reason(self.filters())


def _day_label(day):
    return date.fromisoformat(str(day)[:10]).strftime("%a %d %b %Y")


def _page_number(value):
    return int(value) if value and value.isascii() and value.isdigit() and 0 < int(value) < 10 ** 6 else 1


def period_choices(page):
    """Presets as links that keep the client and filters."""
    out = []
    for label, period in presets(page.zone):
        params = page.base_params()
        params.update(period.params())
        params.pop("cursor", None)
        out.append({"label": label, "href": page_url(page.name, params),
                    "active": period == page.period})
    return out



SORTS = [("-start", "Newest first"), ("start", "Oldest first"), ("-duration", "Longest first"),
         ("duration", "Shortest first"), ("-end", "Ended last"), ("end", "Ended first")]
# Filters typed rather than chosen, shown folded under "More filters".
TYPED = {"country": "Country code (e.g. DE)", "protocol": "Protocol (hls, dash…)",
         "account": "Account id", "brand": "Brand", "model": "Model", "ip": "IP address",
         "user_agent": "User-Agent (exact)", "programme": "Programme id"}

CHIP_LABELS = {"country": "Country", "protocol": "Protocol", "account": "Account",
               "programme": "Programme", "ip": "IP address", "user_agent": "User-Agent"}


def filter_widgets(page):
    """The filters this report applies, as form fields with the operator's own choices."""
    client_ids = page.client_ids
    if page.name == "daily":
        return {"main": [{"name": "server", "label": "Server", "kind": "select",
                          "value": page.params.get("server") or "all",
                          "options": getattr(page, "servers", [("all", "All sessions")])}],
                "more": [], "chips": []}
    lists = {
        "channel": sorted(host.channel_names(client_ids).items(), key=lambda kv: kv[1].lower()),
        "category": list(host.category_names(client_ids).items()),
        "device_type": sorted(host.device_type_names(client_ids).items(), key=lambda kv: kv[1].lower()),
        "tariff": list(host.tariff_names(client_ids).items()),
        "source": list(present.SOURCE_NAMES.items()),
        "kind": [("live", "Live"), ("archive", "Archive")],
        "server": sorted(page.names.servers_of_client().items(), key=lambda kv: kv[1].lower()),
    }
    labels = {"channel": "Channel", "category": "Category", "device_type": "Device type",
              "tariff": "Tariff", "source": "Reported by", "kind": "Live or archive", "server": "Server"}
    main, more, chips = [], [], []
    for name in PARAMS[page.name]:
        value = page.params.get(name) or ""
        if name in lists:
            options = [("", "all")] + [(str(k), str(v)) for k, v in lists[name]]
            main.append({"name": name, "label": labels[name], "kind": "select", "value": value,
                         "options": options})
            shown = dict(options).get(value, value)
        elif name in TYPED:
            more.append({"name": name, "label": TYPED[name], "kind": "text", "value": value})
            shown = value
            if name == "account" and value:
                shown = page.account_label(value)
            if name == "programme" and value.isdigit():
                p = page.names.programmes([int(value)]).get(int(value))
                shown = p["title"] if p else value
        elif name in ("unique", "inter_server"):
            main.append({"name": name, "kind": "checkbox", "value": value,
                         "label": "Unique sessions" if name == "unique" else "Other servers' pulls only"})
            continue
        elif name == "sort":
            main.append({"name": name, "label": "Order", "kind": "select", "value": value,
                         "options": SORTS})
            continue
        else:
            continue
        if value:
            label = labels.get(name) or CHIP_LABELS.get(name) or TYPED[name]
            chips.append({"label": f"{label}: {shown}",
                          "href": page_url(page.name, {**page.base_params(), name: ""})})
    return {"main": main, "more": more, "chips": chips,
            "more_open": any(f["value"] for f in more)}
