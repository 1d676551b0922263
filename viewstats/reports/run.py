"""One entry point per report name, shared by the JSON API, the CSV export
and the admin pages, so all three always show the same figures."""
from datetime import timedelta

from ..documents import utcnow
from . import breakdowns, daily, sessions, timeline, unique
from .filters import FILTER_PARAMS, FilterError, parse_filters, zone_for

BREAKDOWNS = ("channel", "programme", "device", "country", "protocol")
REPORTS = BREAKDOWNS + ("unique", "sessions", "daily")
TITLES = {"channel": "By channel", "programme": "By programme", "device": "By device",
          "country": "By country", "protocol": "By source and protocol",
          "unique": "Unique sessions", "sessions": "Raw sessions", "daily": "Daily statistics"}
# The query parameters each report reads; naming another filter is a 400,
# so nobody takes a figure for filtered when it is not.
RANGE = ("client", "date_from", "date_to")
PARAMS = {
    **{name: RANGE + ("from", "to") + FILTER_PARAMS + ("unique",) for name in BREAKDOWNS},
    "unique": RANGE + ("from", "to") + FILTER_PARAMS,
    "sessions": RANGE + ("from", "to") + FILTER_PARAMS + ("sort", "cursor", "limit"),
    "daily": RANGE + ("server",),
    "timeline": RANGE + ("from", "to") + FILTER_PARAMS + ("step",),
}
# Paging only shapes the answer, so a script passing `limit` to any report is not refused.
KNOWN_PARAMS = frozenset(p for names in PARAMS.values() for p in names) - {"limit", "cursor", "sort"}
DESCRIPTIONS = {
    "channel": "Which channels are watched: viewers, sessions, watch time and share per channel.",
    "programme": "Which EPG programmes are watched, live and from the archive.",
    "device": "Which devices watch: the operator's device types, brands, models and apps.",
    "country": "Where viewers watch from, by the country of their IP address.",
    "protocol": "Who reported the sessions (devices or media servers) and how they were delivered.",
    "unique": "Sessions with reconnections and short flips glued back together.",
    "sessions": "Every session, newest first, with its account, device and content.",
    "daily": "Per day and media server: connections, viewing time, traffic and peak bandwidth.",
}
DAILY_COLUMNS = ("client_id", "day", "server", "connections", "connections_by_protocol",
                 "traffic_bytes", "peak_out_bps", "peak_out_at", "peak_in_bps",
                 "total_view_time", "avg_view_time", "inter_server_connections",
                 "inter_server_bytes")


def _flag(params, name):
    return (params.get(name) or "").lower() in ("1", "true", "yes", "on")


def _daily_range(params, client_ids):
    today = utcnow().astimezone(zone_for(client_ids)).date()
    try:
        last = daily.parse_day(params.get("date_to"), "date_to", today)
        first = daily.parse_day(params.get("date_from"), "date_from", last - timedelta(days=6))
    except ValueError as exc:
        raise FilterError(str(exc)) from None
    if last < first or (last - first).days > 366:
        raise FilterError("date_from..date_to must be a range of 1 to 367 days")
    servers = [s for s in (params.get("server") or "").split(",") if s.strip()]
    return first, last, servers


def check_params(name, params):
    """Refuse a filter the report cannot apply (other parameter names are ignored)."""
    if name not in PARAMS:
        raise FilterError(f"unknown report {name!r}; reports: {', '.join(REPORTS)}, timeline")
    extra = sorted(p for p in KNOWN_PARAMS.difference(PARAMS[name]) if params.get(p))
    if extra:
        raise FilterError(f"{', '.join(extra)}: not a filter of the {name} report "
                          f"(it takes {', '.join(PARAMS[name])})")


def run(name, params, client_ids):
    """The report as a JSON-ready dict; raises FilterError on bad parameters."""
    check_params(name, params)
    if name == "daily":
        first, last, servers = _daily_range(params, client_ids)
        return {"report": "daily", "date_from": first.isoformat(), "date_to": last.isoformat(),
                "rows": daily.report(client_ids, first, last, servers)}
    filters = parse_filters(params, client_ids)
    if name == "timeline":
        return timeline.timeline(filters, params.get("step"))
    if name == "sessions":
        return sessions.page(filters, params.get("sort"), params.get("cursor"), params.get("limit"))
    if name == "unique":
        report = breakdowns.report(filters, "channel", unique=True)
        report["report"] = "unique"
        report["gap_seconds"] = unique.gap_seconds()
        report["raw_totals"] = breakdowns.totals(filters, unique=False)
        return report
    return breakdowns.report(filters, name, unique=_flag(params, "unique"))


def table(name, params, client_ids):
    """(header, rows iterator) for CSV: streamed from the database cursor."""
    check_params(name, params)
    if name == "timeline":
        points = run(name, params, client_ids)["points"]
        return ["t", *timeline.METRICS], ([p[c] for c in ("t", *timeline.METRICS)] for p in points)
    if name == "sessions":
        filters = parse_filters(params, client_ids)
        # Checked now: the rows are read only once the 200 is streaming.
        sessions.parse_sort(params.get("sort"))
        return list(sessions.COLUMNS), (
            [r[c] for c in sessions.COLUMNS] for r in sessions.iterate(filters, params.get("sort")))
    report = run(name, params, client_ids)
    if name == "daily":
        return list(DAILY_COLUMNS), ([r.get(c) for c in DAILY_COLUMNS] for r in report["rows"])
    rows = report["rows"]
    header = list(rows[0]) if rows else ["sessions"]
    return header, ([r.get(c) for c in header] for r in rows)
