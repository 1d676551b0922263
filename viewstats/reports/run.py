"""One entry point per report name, shared by the JSON API, the CSV export
and the admin pages, so all three always show the same figures."""
from datetime import timedelta

from ..documents import utcnow
from . import breakdowns, daily, sessions, unique
from .filters import FilterError, parse_filters, zone_for

BREAKDOWNS = ("channel", "programme", "device", "country", "protocol")
REPORTS = BREAKDOWNS + ("unique", "sessions", "daily")
TITLES = {"channel": "By channel", "programme": "By programme", "device": "By device",
          "country": "By country", "protocol": "By source and protocol",
          "unique": "Unique sessions", "sessions": "Raw sessions", "daily": "Daily statistics"}
DAILY_COLUMNS = ("client_id", "day", "server", "connections", "connections_by_protocol",
                 "traffic_bytes", "peak_out_bps", "peak_out_at", "peak_in_bps",
                 "total_view_time", "avg_view_time")


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


def run(name, params, client_ids):
    """The report as a JSON-ready dict; raises FilterError on bad parameters."""
    if name not in REPORTS:
        raise FilterError(f"unknown report {name!r}; reports: {', '.join(REPORTS)}")
    if name == "daily":
        first, last, servers = _daily_range(params, client_ids)
        return {"report": "daily", "date_from": first.isoformat(), "date_to": last.isoformat(),
                "rows": daily.report(client_ids, first, last, servers)}
    filters = parse_filters(params, client_ids)
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
