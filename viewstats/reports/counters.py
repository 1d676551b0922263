"""Per-period counters (bootic-style stats API): a period's segments.

Periods and segments are in the client's time zone (UTC for `all`), by the
local clock, never by time elapsed since midnight:
    a year's segments   its months, keyed "1" .. "12"
    a month's           its days, keyed "1" .. "31"
    a day's             its clock hours, keyed by the local time they start
                        at with its UTC offset, "2024-11-03T01:00:00-04:00".
                        A day has 23 of them when the clocks go forward (New
                        York on 2024-03-10 has no 02:00: 01:00-05:00 is
                        followed by 03:00-04:00) and 25 when they go back
                        (2024-11-03 has 01:00-04:00 and then 01:00-05:00).
                        Where a zone shifts by half an hour (Lord Howe), a
                        segment may be half an hour long ("...T02:30:00+11:00").
    an hour's           `<hour>` in the URL is the local clock hour (0-23);
                        its segments are its clock minutes, keyed "0" .. "59".
                        An hour the clocks skip that day is a 400. An hour
                        the clocks repeat (01 on 2024-11-03 in New York) is
                        answered whole, both passes, and its 120 minutes are
                        keyed like a day's hours, "2024-11-03T01:05:00-05:00",
                        so the two 01:05 stay apart.
Every segment is listed, zero included. Metrics:
    sessions    sessions that started in the segment
    watch_time  seconds of those sessions
    viewers     distinct viewers among them, counted per segment (never summed)
Inter-server pulls (viewstats/peers.py) are left out of every metric.
    traffic     bytes sent in the segment, from the sessions' 5-minute traffic
                buckets (a bucket belongs to the segment it starts in, so an
                hour's minutes show traffic on minutes 0, 5, 10, ...)

A year's and a month's sessions, watch time and viewers of one client come
from the rollups (viewstats/rollups.py: their cells are local days and keep
the viewer, so a month's viewers stay distinct); a day's hours and an hour's
minutes, several clients at once, and traffic come from the sessions of the
period, which is all such a query examines.
"""
import calendar
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from .. import rollups, store
from ..documents import VIEWING
from .breakdowns import VIEWER
from .filters import FIRST_DAY, LAST_DAY, local_midnight, zone_for
from .timeline import bucket_of

METRICS = ("sessions", "viewers", "watch_time", "traffic")


class PeriodError(ValueError):
    pass


def clock_segments(zone, start, end, unit):
    """[(local start, UTC start)] of the local clock's `unit`s (seconds: 3600 or 60) in [start, end).

    A segment runs while the local clock stays in one hour (or minute) at one
    UTC offset: it ends at the next whole `unit` of the local clock or where
    the offset changes (a daylight-saving transition), whichever comes first.
    Transitions are found to the second by bisection; a segment holds at
    most one.
    """
    out, t = [], start
    while t < end:
        local = t.astimezone(zone)
        into = (local.hour * 3600 + local.minute * 60 + local.second) % unit
        nxt = min(t + timedelta(seconds=unit - into, microseconds=-local.microsecond), end)
        offset = local.utcoffset()
        last = nxt - timedelta(seconds=1)
        if last > t and last.astimezone(zone).utcoffset() != offset:
            lo, hi = t, last  # offset(lo) is the segment's, offset(hi) is not
            while hi - lo > timedelta(seconds=1):
                mid = lo + timedelta(seconds=(hi - lo).total_seconds() // 2)
                if mid.astimezone(zone).utcoffset() == offset:
                    lo = mid
                else:
                    hi = mid
            nxt = hi
        out.append((local, t))
        t = nxt
    return out


def _label(local):
    return local.isoformat(timespec="seconds")


def segments(zone, year, month=None, day=None, hour=None):
    """[(label, start)] of the period's segments plus the period's end.

    The segments of an hour the clocks repeat are contiguous; with several
    disjoint passes of one clock hour the gaps between them become segments
    labelled None, counted by nobody.
    """
    try:
        if month is None:
            starts = [(m, local_midnight(date(year, m, 1), zone)) for m in range(1, 13)]
            return starts, local_midnight(date(year + 1, 1, 1), zone)
        if day is None:
            n = calendar.monthrange(year, month)[1]
            starts = [(d, local_midnight(date(year, month, d), zone)) for d in range(1, n + 1)]
            return starts, local_midnight(date(year, month, n) + timedelta(days=1), zone)
        d0 = local_midnight(date(year, month, day), zone)
        d1 = local_midnight(date(year, month, day) + timedelta(days=1), zone)
        hours = clock_segments(zone, d0, d1, 3600)
        if hour is None:
            return [(_label(local), at) for local, at in hours], d1
        if not 0 <= hour <= 23:
            raise PeriodError(f"hour: expected 0 to 23, got {hour}")
        ends = [at for _, at in hours[1:]] + [d1]
        passes = [(at, end) for (local, at), end in zip(hours, ends) if local.hour == hour]
        if not passes:
            raise PeriodError(f"hour {hour} is not in that day (the clocks skip it)")
        minutes, previous_end = [], None
        for a, b in passes:
            if previous_end is not None and a > previous_end:
                minutes.append((None, None, previous_end))  # a gap between two passes
            minutes += [(local, local.minute, at) for local, at in clock_segments(zone, a, b, 60)]
            previous_end = b
        keys = [m for _, m, _ in minutes if m is not None]
        repeated = len(set(keys)) < len(keys)
        starts = [(None if local is None else _label(local) if repeated else minute, at)
                  for local, minute, at in minutes]
        return starts, passes[-1][1]
    except (ValueError, OverflowError) as exc:
        if isinstance(exc, PeriodError):
            raise
        raise PeriodError(f"no such period: {exc}") from None


def counters(client_ids, metric, year, month=None, day=None, hour=None, source=None):
    if metric not in METRICS:
        raise PeriodError(f"metric: expected one of {', '.join(METRICS)}")
    if not FIRST_DAY.year <= year <= LAST_DAY.year:
        raise PeriodError(f"year: expected {FIRST_DAY.year} to {LAST_DAY.year}, got {year}")
    zone = zone_for(client_ids)
    starts, end = segments(zone, year, month, day, hour)
    bounds = [s for _, s in starts] + [end]
    client = client_ids[0] if len(client_ids) == 1 else {"$in": client_ids}
    values = dict.fromkeys(range(len(starts)), 0)
    parts = []  # (pipeline, index); a traffic query reads two index ranges (store.ending_after)
    if metric == "traffic":
        if source != "device":  # devices report no traffic
            tail = [{"$project": {"traffic": 1}}, {"$unwind": "$traffic"},
                    {"$match": {"traffic.t": {"$gte": bounds[0], "$lt": end}}},
                    {"$bucket": {"groupBy": "$traffic.t", "boundaries": bounds,
                                 "output": {"value": {"$sum": "$traffic.bytes"}}}}]
            parts = [([{"$match": match}] + tail, index) for match, index in store.ending_after(
                client, bounds[0], end, inclusive=True, start={"$lt": end}, source="media_server",
                **VIEWING)]
    else:
        match = {"client_id": client, "start": {"$gte": bounds[0], "$lt": end}, **VIEWING}
        if source:
            match["source"] = source
        if metric == "viewers":
            # Counted in the database, one group per (segment, viewer): a set
            # of the viewers per segment ($addToSet) passes the 16 MB document
            # limit on a big operator's month. The segment is the last
            # boundary not after `start`, as $bucket puts it.
            segment = bucket_of("$start", bounds[:-1])
            stages = [{"$match": match},
                      {"$group": {"_id": {"s": segment, "v": VIEWER}}},
                      {"$group": {"_id": "$_id.s", "value": {"$sum": 1}}}]
        else:
            output = {"sessions": {"$sum": 1}, "watch_time": {"$sum": "$duration"}}[metric]
            stages = [{"$match": match},
                      {"$bucket": {"groupBy": "$start", "boundaries": bounds,
                                   "output": {"value": output}}}]
        parts = [(stages, "client_start_id")]
    from_cells = _from_cells(client_ids, metric, year, month, day, source)
    if from_cells is not None:
        for i, (label, _) in enumerate(starts):
            values[i] = from_cells.get(label, 0)
        parts = []
    index = {b: i for i, b in enumerate(bounds)}
    for stages, hint in parts:
        for r in store.sessions_aggregate(stages, hint=hint):
            values[index[_utc(r["_id"])]] += r["value"]
    return {"metric": metric, "year": year, "month": month, "day": day, "hour": hour,
            "data": {str(label): values[i] for i, (label, _) in enumerate(starts)
                     if label is not None}}


def _from_cells(client_ids, metric, year, month, day, source):
    """{month or day of month: value} from the rollups, or None where they cannot answer."""
    if day is not None or metric == "traffic" or len(client_ids) != 1:
        return None
    if not rollups.refresh(client_ids[0]):
        return None
    if month is None:
        first, last = date(year, 1, 1), date(year, 12, 31)
        segment = {"$arrayElemAt": [{"$split": ["$day", "-"]}, 1]}  # "YYYY-MM-DD" -> "MM"
    else:
        first = date(year, month, 1)
        last = date(year, month, calendar.monthrange(year, month)[1])
        segment = {"$arrayElemAt": [{"$split": ["$day", "-"]}, 2]}  # -> "DD"
    match = {"client_id": client_ids[0], "day": {"$gte": first.isoformat(), "$lte": last.isoformat()},
             **VIEWING}
    if source:
        match["source"] = source
    if metric == "viewers":
        stages = [{"$match": match}, {"$group": {"_id": {"s": segment, "v": "$v"}}},
                  {"$group": {"_id": "$_id.s", "value": {"$sum": 1}}}]
    else:
        stages = [{"$match": match}, {"$group": {"_id": segment, "value": {"$sum": f"${metric}"}}}]
    return {int(r["_id"]): r["value"] for r in rollups.cells().aggregate(stages)}


def _utc(instant):
    return instant.astimezone(ZoneInfo("UTC")) if instant.tzinfo else instant.replace(
        tzinfo=ZoneInfo("UTC"))


