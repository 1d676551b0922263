"""Sessions, viewers, watch time and traffic over time, for the report charts.

One point per local hour (ranges of up to MAX_HOURLY_DAYS days) or per
local day, every point listed, zero included. A session counts in the
bucket it started in, like everywhere in the reports: its whole watch time
and its bytes go there. Viewers are distinct per bucket, never summed.

Daily points of one client over whole local days come from the rollup
cells (their day is the local start day, and they keep the viewer); hourly
points and everything else from the raw sessions of the range.
"""
from datetime import date, timedelta, timezone

from . import breakdowns
from .filters import FilterError, local_midnight, zone_for

STEPS = ("hour", "day")
MAX_HOURLY_DAYS = 3
METRICS = ("sessions", "viewers", "watch_time", "bytes")


def default_step(filters):
    return "hour" if filters.end - filters.start <= timedelta(days=MAX_HOURLY_DAYS) else "day"


def check_step(filters, step):
    step = step or default_step(filters)
    if step not in STEPS:
        raise FilterError(f"step: expected hour or day, got {step!r}")
    if step == "hour" and filters.end - filters.start > timedelta(days=31):
        raise FilterError("step: hour covers at most 31 days; choose day")
    return step


def _bucket_starts(filters, step, zone):
    """The UTC instants the buckets of [start, end) begin at, in order."""
    if step == "day":
        first = filters.start.astimezone(zone).date()
        last = (filters.end - timedelta(microseconds=1)).astimezone(zone).date()
        return [local_midnight(first + timedelta(days=n), zone)
                for n in range((last - first).days + 1)]
    starts, t = [], filters.start
    while t < filters.end:
        # The local clock hour t falls in (a +05:30 zone's hours begin at :30 UTC).
        local = t.astimezone(zone).replace(minute=0, second=0, microsecond=0)
        begin = local.astimezone(filters.start.tzinfo)
        if not starts or begin > starts[-1]:
            starts.append(begin)
        t += timedelta(hours=1)
    return starts


def bucket_of(field, bounds):
    """An expression for the last of `bounds` not after `field` (None before the first).

    A balanced tree of $cond: about log2(len(bounds)) comparisons a document,
    where a $switch over a month's 744 hours would make hundreds. Local hours
    and days are not a fixed number of seconds (DST, half-hour zones), so
    arithmetic on the timestamp cannot find them; `$dateTrunc` with a
    timezone could, but comparing with the boundaries is what every engine
    the suite runs on evaluates the same way.
    """
    def tree(lo, hi):  # the answer lies in bounds[lo:hi], and field >= bounds[lo]
        if hi - lo == 1:
            return bounds[lo]
        mid = (lo + hi) // 2
        return {"$cond": [{"$gte": [field, bounds[mid]]}, tree(mid, hi), tree(lo, mid)]}
    return {"$cond": [{"$gte": [field, bounds[0]]}, tree(0, len(bounds)), None]}


def timeline(filters, step=None):
    """{"step", "zone", "points": [{"t": local ISO time, metrics…}], "computed_from"}."""
    step = check_step(filters, step)
    zone = zone_for(filters.client_ids)
    source = breakdowns.Source(filters, use_rollups=step == "day")
    sums = source.sums()
    sums.pop("raw_sessions", None)
    starts = _bucket_starts(filters, step, zone)
    key = "$day" if source.cells else bucket_of("$start", starts)
    pipeline = source.stages() + [
        {"$group": {"_id": {"t": key, "v": source.viewer()}, **sums}},
        {"$group": {"_id": "$_id.t", "viewers": {"$sum": 1},
                    **{m: {"$sum": f"${m}"} for m in sums}}},
    ]
    found = {}
    for row in source.aggregate(pipeline):
        t = row.pop("_id")
        if source.cells:
            t = local_midnight(date.fromisoformat(t), zone)
        elif t.tzinfo is None:  # the driver hands back naive UTC
            t = t.replace(tzinfo=timezone.utc)
        found[t] = row
    points = []
    for begin in starts:
        row = found.get(begin, {})
        points.append({"t": begin.astimezone(zone).isoformat(),
                       **{m: row.get(m, 0) for m in METRICS}})
    return {"report": "timeline", "step": step, "zone": zone.key, "filters": filters.as_dict(),
            "points": points, "computed_from": source.name}
