"""Per-period counters (bootic-style stats API): a period's segments.

A year's segments are its months (1-12), a month's its days (1-31), a day's
its hours (0-23, counted from local midnight) and an hour's its minutes
(0-59), in the client's time zone (UTC for `all`). Every segment is listed,
zero included. Metrics:
    sessions    sessions that started in the segment
    watch_time  seconds of those sessions
    viewers     distinct viewers among them, counted per segment (never summed)
    traffic     bytes sent in the segment, from the sessions' 5-minute traffic
                buckets (a bucket belongs to the segment it starts in, so an
                hour's minutes show traffic on minutes 0, 5, 10, ...)
"""
import calendar
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from ..conf import setting
from .breakdowns import VIEWER, aggregate
from .filters import FIRST_DAY, LAST_DAY, local_midnight, zone_for

METRICS = ("sessions", "viewers", "watch_time", "traffic")


class PeriodError(ValueError):
    pass


def segments(zone, year, month=None, day=None, hour=None):
    """[(label, start)] of the period's segments plus the period's end."""
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
        if hour is None:
            hours = int((d1 - d0).total_seconds() // 3600)
            return [(h, d0 + timedelta(hours=h)) for h in range(hours)], d1
        if not 0 <= hour < (d1 - d0).total_seconds() // 3600:
            raise PeriodError(f"hour {hour} is not in that day")
        h0 = d0 + timedelta(hours=hour)
        return [(m, h0 + timedelta(minutes=m)) for m in range(60)], h0 + timedelta(hours=1)
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
    if metric == "traffic":
        longest = timedelta(hours=setting("VIEWSTATS_MAX_SESSION_HOURS"))
        match = {"client_id": client, "start": {"$gte": bounds[0] - longest, "$lt": end},
                 "end": {"$gte": bounds[0]}, "source": "media_server"}
        stages = [{"$match": match}, {"$project": {"traffic": 1}}, {"$unwind": "$traffic"},
                  {"$match": {"traffic.t": {"$gte": bounds[0], "$lt": end}}},
                  {"$bucket": {"groupBy": "$traffic.t", "boundaries": bounds,
                               "output": {"value": {"$sum": "$traffic.bytes"}}}}]
    else:
        match = {"client_id": client, "start": {"$gte": bounds[0], "$lt": end}}
        if source:
            match["source"] = source
        if metric == "viewers":
            # Counted in the database, one group per (segment, viewer): a set
            # of the viewers per segment ($addToSet) passes the 16 MB document
            # limit on a big operator's month. The segment is the last
            # boundary not after `start`, as $bucket puts it.
            segment = {"$switch": {"branches": [{"case": {"$gte": ["$start", b]}, "then": b}
                                                for b in reversed(bounds[:-1])],
                                   "default": None}}
            stages = [{"$match": match},
                      {"$group": {"_id": {"s": segment, "v": VIEWER}}},
                      {"$group": {"_id": "$_id.s", "value": {"$sum": 1}}}]
        else:
            output = {"sessions": {"$sum": 1}, "watch_time": {"$sum": "$duration"}}[metric]
            stages = [{"$match": match},
                      {"$bucket": {"groupBy": "$start", "boundaries": bounds,
                                   "output": {"value": output}}}]
    if metric == "traffic" and source == "device":
        stages = []  # devices report no traffic
    index = {b: i for i, b in enumerate(bounds)}
    for r in (aggregate(stages) if stages else []):
        values[index[_utc(r["_id"])]] = r["value"]
    return {"metric": metric, "year": year, "month": month, "day": day, "hour": hour,
            "data": {str(label): values[i] for i, (label, _) in enumerate(starts)}}


def _utc(instant):
    return instant.astimezone(ZoneInfo("UTC")) if instant.tzinfo else instant.replace(
        tzinfo=ZoneInfo("UTC"))


