"""Account sharing and restreaming: the admin page and its JSON API.

    /viewstats/reports/sharing/                 flagged accounts of a period
    /viewstats/reports/sharing/?account=ID      one account's evidence
    /viewstats/api/sharing[?account=ID]         the same as JSON

Parameters: client (superusers; staff always get their own operator),
date_from / date_to (the operator's local days; default the last 7 days up
to today), min_score (0-100), account. viewstats/sharing.py computes;
this module only dresses the result (names, local times, links).
"""
from urllib.parse import urlencode

from django.contrib.auth.views import redirect_to_login
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from .. import host, sharing
from ..reports import present
from ..reports.filters import FilterError, zone_for
from ..reports.periods import from_params, presets
from .report_pages import cell
from .reports import _csv_lines, _page_context, _page_scope, json_response, scoped_api

TITLE = "Account sharing and restreaming"
DESCRIPTION = ("Accounts whose viewing suggests a shared login (more streams at once than devices, several "
               "places at once, impossible travel) or a restream (many channels at once around the clock, a "
               "restreamer User-Agent), each with a score and the evidence to check.")
TOP_SCORES = 15


class ParamError(ValueError):
    pass


def _min_score(value):
    if value in (None, ""):
        return 0
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or int(text) > 100:
        raise ParamError(f"min_score: expected a whole number from 0 to 100, got {value!r}")
    return int(text)


def _params(params, client_id):
    """(period, min_score, account or None) from a QueryDict; raises ParamError / FilterError."""
    zone = zone_for([client_id])
    period = from_params(params, zone)
    account = (params.get("account") or "").strip() or None
    if account is not None:
        sharing.account_variants(account)  # refuses an empty or over-long id
    return period, _min_score(params.get("min_score")), account


def _urls(client_id, period, account_id):
    query = {"client": client_id, **period.params(), "account": account_id}
    return {"detail": reverse("viewstats:sharing-page") + "?" + urlencode(query),
            "sessions": reverse("viewstats:report-page", args=["sessions"]) + "?" + urlencode(query),
            "api": reverse("viewstats:sharing-api") + "?" + urlencode(query)}


def _timeline_json(tl, zone):
    return {"step": "hour", "points": [
        {"t": t.astimezone(zone), "devices": d, "networks": n, "channels": c}
        for t, d, n, c in zip(tl["hours"], tl["devices"], tl["networks"], tl["channels"])]}


def _compute(client_id, period, min_score, account):
    """(analysis, finding or None, timeline or None)."""
    try:
        if account is None:
            return sharing.analyse(client_id, period.first, period.last, min_score=min_score), None, None
        analysis, tl = sharing.analysis_with_timeline(client_id, period.first, period.last, account,
                                                      min_score=0)
        return analysis, analysis.finding(account), tl
    except sharing.SharingError as exc:
        raise ParamError(str(exc)) from None


@require_GET
@scoped_api
def sharing_api(request, client_ids):
    if len(client_ids) != 1:
        return json_response({"error": "client: name one operator (client=ID); the checks run per operator"},
                             400)
    client_id = client_ids[0]
    try:
        period, min_score, account = _params(request.GET, client_id)
        analysis, finding, tl = _compute(client_id, period, min_score, account)
    except (ParamError, FilterError, sharing.SharingError) as exc:
        return json_response({"error": str(exc)}, 400)
    data = analysis.as_dict()
    for row in data["accounts"]:
        row["urls"] = _urls(client_id, period, row["account_id"])
    if account is not None:
        data["account"] = data["accounts"][0] if data["accounts"] else None
        data["account_id"] = finding.account_id if finding else account
        data["timeline"] = _timeline_json(tl, analysis.period.zone)
        data["urls"] = _urls(client_id, period, data["account_id"])
    return json_response(data)


CSV_COLUMNS = ("account_id", "login", "score", "verdict", "reasons", "device_types")


@require_GET
@scoped_api
def sharing_csv(request, client_ids):
    """The flagged accounts, a row each: reasons in words, separated by " | "."""
    if len(client_ids) != 1:
        return json_response({"error": "client: name one operator (client=ID); the checks run per operator"},
                             400)
    try:
        period, min_score, _ = _params(request.GET, client_ids[0])
        analysis, _, _ = _compute(client_ids[0], period, min_score, None)
    except (ParamError, FilterError, sharing.SharingError) as exc:
        return json_response({"error": str(exc)}, 400)
    rows = ([a["account_id"], a["login"], a["score"], a["verdict"],
             " | ".join(r["text"] for r in a["reasons"]), " ".join(a["device_types"])]
            for a in analysis.as_dict()["accounts"])
    response = StreamingHttpResponse(_csv_lines(list(CSV_COLUMNS), rows), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="viewstats-sharing.csv"'
    return response


# ------------------------------------------------------------------ the page

def _session_columns(zone):
    return [present.column(k, label, "text", help, align) for k, label, help, align in (
        ("start", f"Started ({zone.key})", "The operator's local time the session started.", "left"),
        ("end", "Ended", "", "left"),
        ("duration", "Duration", "", "right"),
        ("channel", "Channel or stream", "", "left"),
        ("device", "Device", "Device type, then what the User-Agent says (class, brand and model, app).", "left"),
        ("ip", "IP address", "", "left"),
        ("network", "Network", "The address's /24 (IPv4) or /48 (IPv6): one household's line.", "left"),
        ("country", "Country", "From the address (GeoIP).", "left"),
        ("user_agent", "User-Agent", "Shortened; hover for the whole string.", "left"))]


class SharingPage:
    """The page's context: cards, charts and tables, from one analysis."""

    def __init__(self, request, client_id, period, min_score, account):
        self.request, self.client_id, self.period = request, client_id, period
        self.min_score, self.account = min_score, account
        self.zone = zone_for([client_id])
        self.cards, self.charts, self.sections, self.notes = [], [], [], []
        self.empty = ""
        self.finding = None

    def link(self, **changes):
        params = {"client": self.client_id, **self.period.params(),
                  "min_score": self.min_score or "", "account": self.account or ""}
        params.update(changes)
        query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
        return reverse("viewstats:sharing-page") + "?" + query

    def sessions_link(self, **filters):
        params = {"client": self.client_id, **self.period.params(), **filters}
        return reverse("viewstats:report-page", args=["sessions"]) + "?" + urlencode(params)

    def build(self):
        self.analysis, self.finding, self.timeline = _compute(self.client_id, self.period, self.min_score,
                                                              self.account)
        self.row = self.analysis.row_maker()
        self.build_account() if self.account is not None else self.build_list()
        return self

    # -- the list --------------------------------------------------------------

    def build_list(self):
        a = self.analysis
        findings = a.findings
        counts = a.by_reason()
        shared = sum(1 for f in findings if "shared" in f.groups)
        restream = sum(1 for f in findings if "restream" in f.groups)
        self.cards = [
            {"key": "flagged", "label": "Flagged accounts", "value": present.number(len(findings)), "raw": len(findings),
             "help": "Accounts with at least one flag and a score of at least the minimum shown."},
            {"key": "shared", "label": "Shared login signs", "value": present.number(shared), "raw": shared,
             "help": "Accounts with streams at once beyond their devices, several places at once, many "
                     "places a day or impossible travel."},
            {"key": "restream", "label": "Restream signs", "value": present.number(restream), "raw": restream,
             "help": "Accounts playing many channels at once around the clock from one address, or "
                     "from a restreamer User-Agent."},
            {"key": "top", "label": "Highest score", "raw": findings[0].score if findings else 0,
             "value": str(findings[0].score) if findings else "—", "help": "Out of 100."},
        ]
        if a.accounts_flagged_below:
            self.notes.append(f"{a.accounts_flagged_below} more account(s) have a flag with a score under "
                              f"{self.min_score}: lower the minimum score to see them.")
        if not findings:
            self.empty = ("No account is flagged in this period: no account played on more devices at once "
                          "than it has, from several places at once or far-apart countries within minutes, "
                          "or many channels at once around the clock.")
            return
        self.charts.append({
            "id": "bars", "type": "bar", "title": "Flagged accounts by reason",
            "labels": [sharing.REASONS[code][1] for code in counts],
            "datasets": [{"label": "Accounts", "data": list(counts.values()), "unit": "count"}]})
        top = findings[:TOP_SCORES]
        self.charts.append({
            "id": "scores", "type": "bar", "title": f"Highest scores (top {len(top)})",
            "labels": [f.login for f in top],
            "datasets": [{"label": "Score", "data": [f.score for f in top], "unit": "count"}]})
        columns = [present.column(k, label, "text", help, align) for k, label, help, align in (
            ("account", "Account", "The subscriber's login; opens the evidence.", "left"),
            ("score", "Score", "0-100: the points of the account's flags (see below).", "right"),
            ("verdict", "Suggests", "", "left"),
            ("reasons", "What was seen", "Each flag in words; the evidence page lists the sessions.", "wrap"),
            ("links", "Details", "", "left"))]
        rows = []
        for f in findings:
            urls = _urls(self.client_id, self.period, f.account_id)
            detail = self.link(account=f.account_id, min_score="")
            rows.append([
                cell(f.login, f"account id {f.account_id}", detail),
                cell(str(f.score), align="right"),
                cell(f.verdict),
                {**cell("", align="wrap"), "lines": [f"{r.title}: {r.text}" for r in f.reasons]},
                {**cell(""), "links": [("evidence", detail), ("sessions", urls["sessions"])]}])
        self.sections.append({"title": "Flagged accounts", "columns": columns, "rows": rows})

    # -- one account -------------------------------------------------------------

    def build_account(self):
        f = self.finding
        variants = sharing.account_variants(self.account)
        login = f.login if f else next(iter(host.account_logins([self.client_id], variants).values()),
                                       self.account)
        self.login = login
        account_id = f.account_id if f else variants[-1]
        self.account_sessions = self.sessions_link(account=account_id)
        self.cards = [
            {"key": "score", "label": "Score", "value": str(f.score) if f else "0", "raw": f.score if f else 0,
             "help": "0-100: the points of the account's flags."},
            {"key": "verdict", "label": "Suggests", "value": f.verdict if f else "nothing", "raw": "",
             "help": "Shared login, restream, or both."},
            {"key": "flags", "label": "Flags", "value": str(len(f.reasons)) if f else "0",
             "raw": len(f.reasons) if f else 0, "help": "Reasons found, each with its evidence below."},
            {"key": "peak", "label": "Most devices at once", "value": str(max(self.timeline["devices"] or [0])),
             "raw": max(self.timeline["devices"] or [0]), "help": "In any hour of the period."},
        ]
        self.timeline_chart(f)
        if f is None:
            self.empty = (f"Nothing is flagged for {login} in this period. Its viewing is in the sessions "
                          "report (link above).")
            return
        for r in f.reasons:
            self.sections.append(self.reason_section(r))

    def timeline_chart(self, f):
        tl = self.timeline
        if not any(tl["devices"]) and not any(tl["channels"]):
            return
        hourly = self.period.days <= 14
        if hourly:
            labels = [present.local_time(t, self.zone) for t in tl["hours"]]
            series = {k: tl[k] for k in ("devices", "networks", "channels")}
        else:
            days = {}
            for i, t in enumerate(tl["hours"]):
                day = t.astimezone(self.zone).date()
                row = days.setdefault(day, {"devices": 0, "networks": 0, "channels": 0})
                for k in row:
                    row[k] = max(row[k], tl[k][i])
            labels = [d.strftime("%a %d %b") for d in days]
            series = {k: [row[k] for row in days.values()] for k in ("devices", "networks", "channels")}
        streams = f.reason("concurrent_streams") if f else None
        allowance = (streams.facts["allowance"] if streams else
                     self.analysis.thresholds.allowance(f.device_types if f else
                                                        self._device_types()))
        datasets = [
            {"label": "Devices", "data": series["devices"], "unit": "count"},
            {"label": "IP networks", "data": series["networks"], "unit": "count"},
            {"label": "Channels from one address", "data": series["channels"], "unit": "count"},
            {"label": "Streams allowed", "data": [allowance] * len(labels), "unit": "count"}]
        if f is not None and f.reason("restream_channels"):
            datasets.append({"label": "Channels that make a restream", "unit": "count",
                             "data": [self.analysis.thresholds.restream_channels] * len(labels)})
        self.charts.append({
            "id": "at-once", "type": "line",
            "title": f"Playing at once, largest by {'hour' if hourly else 'day'} ({self.zone.key})",
            "labels": labels, "datasets": datasets})

    def _device_types(self):
        for variant in sharing.account_variants(self.account):
            found = host.get_host().account(self.client_id, variant)
            if found is not None:
                return found.device_types
        return ()

    def session_rows(self, docs):
        rows = []
        for doc in docs:
            r = self.row(doc)
            ip_link = self.sessions_link(ip=r["ip"]) if r["ip"] else ""
            rows.append([
                cell(present.local_time(r["start"], self.zone), r["id"]),
                cell(present.local_time(r["end"], self.zone)),
                cell(present.duration(r["duration"]), align="right"),
                cell(r["channel"], f"channel id {r['channel_id']}" if r["channel_id"] is not None else "",
                     align="clip"),
                cell(r["device"] or present.UNKNOWN, r["device"], align="clip"),
                cell(r["ip"] or "—", "all sessions from this address in the period" if ip_link else "", ip_link),
                cell(r["network"] or "—"),
                cell(present.country_name(r["country"]), r["country"]),
                cell(r["user_agent"], r["user_agent"], align="clip")])
        return rows

    def reason_section(self, r):
        zone, f = self.zone, r.facts
        section = {"title": f"{r.title} · {r.points} points", "text": r.text, "tables": [], "links": []}
        sessions = r.evidence.get("sessions")
        if r.code in ("concurrent_streams", "concurrent_networks", "restream_channels"):
            section["note"] = (f"The sessions playing at {present.local_time(r.evidence['at'], zone, with_year=True)}, "
                               "the first instant of the peak" + (f" (from {r.evidence['ip']})" if r.evidence.get("ip")
                                                                  else "") + ".")
        if r.code == "impossible_travel":
            section["note"] = (f"Sessions from {present.country_name(f['pairs'][0]['from'])} and "
                               f"{present.country_name(f['pairs'][0]['to'])} between "
                               f"{present.local_time(r.evidence['from'], zone)} and "
                               f"{present.local_time(r.evidence['to'], zone)}; the two that make the pair first.")
            section["tables"].append({"title": "Pairs of countries", "columns": [
                present.column(k, label, "text", "", align) for k, label, align in (
                    ("from", "From", "left"), ("to", "Then", "left"), ("km", "Apart", "right"),
                    ("gap", "Gap", "right"), ("at", "When", "left"), ("times", "Times", "right"))],
                "rows": [[cell(present.country_name(p["from"])), cell(present.country_name(p["to"])),
                          cell(f"{p['km']:,} km", align="right"),
                          cell("overlapping" if not p["gap_seconds"] else present.duration(p["gap_seconds"]),
                               align="right"),
                          cell(present.local_time(p["start_second"], zone)),
                          cell(str(p["times"]), "stretches of viewing that met within the minutes", align="right")]
                         for p in f["pairs"]]})
        if r.code == "restream_channels":
            section["tables"].append({"title": "Hours a day with that many channels at once", "columns": [
                present.column(k, label, "text", "", align) for k, label, align in (
                    ("ip", "IP address", "left"), ("peak", "Most channels at once", "right"),
                    ("day", "Day", "left"), ("hours", "Hours", "right"))],
                "rows": [[cell(a["ip"], "", self.sessions_link(ip=a["ip"])), cell(str(a["peak"]), align="right"),
                          cell(d["day"].strftime("%a %d %b %Y")), cell(f"{d['hours']:g} h", align="right")]
                         for a in f["addresses"] for d in a["days"]]})
            section["links"].append((f"all sessions from {f['ip']}", self.sessions_link(ip=f["ip"])))
        if r.code == "daily_spread":
            for day in f["days"][:3]:
                section["tables"].append({
                    "title": (f"{day['day'].strftime('%a %d %b %Y')}: {_many(day['networks'], 'network')}, "
                              f"{_many(len(day['countries']), 'country', 'countries')}, "
                              f"{_many(len(day['device_types']), 'device type')}, "
                              f"{_many(day['sessions'], 'session')}"),
                    "columns": [present.column(k, label, "text", "", align) for k, label, align in (
                        ("network", "Network", "left"), ("addresses", "Addresses", "left"),
                        ("countries", "Countries", "left"), ("device_types", "Device types", "left"),
                        ("sessions", "Sessions", "right"), ("first", "First", "left"), ("last", "Last", "left"))],
                    "rows": [[cell(n["network"] or "no address"), cell(", ".join(n["addresses"]), align="clip"),
                              cell(", ".join(present.country_name(c) for c in n["countries"]) or present.UNKNOWN),
                              cell(", ".join(self._device_name(d) for d in n["device_types"]) or present.UNKNOWN),
                              cell(str(n["sessions"]), align="right"),
                              cell(present.local_time(n["first"], zone)), cell(present.local_time(n["last"], zone))]
                             for n in day["by_network"]]})
            if len(f["days"]) > 3:
                section["note"] = f"The 3 busiest of {f['days_flagged']} days; the JSON API lists them all."
        if sessions is not None:
            section["tables"].append({"title": "Sessions", "columns": _session_columns(zone),
                                      "rows": self.session_rows(sessions)})
        section["links"].append(("all sessions of this account", self.account_sessions))
        return section

    def _device_name(self, system_name):
        if not hasattr(self, "_devices"):
            self._devices = host.device_type_names([self.client_id])
        return self._devices.get(system_name, system_name)


def _many(n, word, plural=None):
    return f"{n} {word if n == 1 else plural or word + 's'}"


@require_GET
def sharing_page(request):
    client_ids = _page_scope(request)
    if client_ids is None:
        return redirect_to_login(request.get_full_path(), "admin:login")
    context = _page_context(request, client_ids, TITLE)
    context.update(description=DESCRIPTION, reason_help=[
        (title, text) for _group, title, text in sharing.REASONS.values()])
    if not client_ids:
        context["error"] = "There is no operator yet: the statistics belong to an operator."
        return render(request, "viewstats/sharing.html", context)
    client_id = client_ids[0]
    zone = zone_for(client_ids)
    page = None
    try:
        period, min_score, account = _params(request.GET, client_id)
        page = SharingPage(request, client_id, period, min_score, account)
        context.update(period=period, zone=zone.key, min_score=min_score, account=account,
                       periods=[{"label": label, "active": p == period,
                                 "href": page.link(date_from=p.first.isoformat(), date_to=p.last.isoformat())}
                                for label, p in presets(zone)])
        page.build()
    except (ParamError, FilterError, sharing.SharingError) as exc:
        context["error"] = str(exc)
    if page is not None:
        context.update(page=page, charts=page.charts, thresholds=_threshold_words(),
                       list_url=page.link(account=""), api_url=(
                           reverse("viewstats:sharing-api") + "?" + page.link().split("?", 1)[1]))
    return render(request, "viewstats/sharing.html", context)


def _threshold_words():
    t = sharing.Thresholds.from_settings()
    streams = (f"more than {t.max_streams} streams at once (the same allowance for every account)"
               if t.max_streams is not None else
               f"more streams at once than the account has device types registered, with at least "
               f"{t.min_streams} allowed")
    return [
        ("More streams at once than devices", f"Flagged at {streams}. A device is its device login, or its "
                                              "IP address and User-Agent."),
        ("Several places at once", f"Flagged at more than {t.max_networks_at_once} IP networks at the same instant."),
        ("Many places in one day", f"Flagged at more than {t.max_networks_per_day} networks, "
                                   f"{t.max_countries_per_day} countries or {t.max_device_types_per_day} device "
                                   "types in one local day."),
        ("Impossible travel", f"Flagged at countries at least {t.travel_km:,.0f} km apart (between their "
                              f"population centres) within {t.travel_minutes:g} minutes."),
        ("Many channels at once, around the clock", f"Flagged at {t.restream_channels} or more channels at once "
                                                    f"from one address for {t.restream_hours:g} hours of a day."),
        ("Restreamer User-Agent", "Flagged at any session from a stream proxy or media server's User-Agent "
                                  "(xTeVe, Threadfin, Tvheadend, Jellyfin, Plex Media Server...)."),
    ]
