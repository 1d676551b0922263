"""Bucket arithmetic in an operator's time zone. Buckets are labelled by their end, as in Zulip.

A *day* is a local calendar day, [local midnight, next local midnight): 23,
24 or 25 hours long on DST days. An *hour* is a local clock hour, [the
instant the clock shows hh:00, the next such instant): the 25-hour day has
two 01:00 hours (told apart by their UTC offset), the 23-hour day none at
02:00, and in +05:30 / +05:45 zones hours start at :30 / :15 past the UTC
hour. Everything takes and returns aware datetimes; results are in UTC,
which is what the caches store. `zone` is an IANA name; "UTC" (the default
of every function) gives Smarty's UTC buckets.
"""
from datetime import datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

HOUR = "hour"
DAY = "day"
FREQUENCIES = (HOUR, DAY)
# Nominal lengths, for sizes and thresholds only: a local day or hour may differ.
INCREMENT = {HOUR: timedelta(hours=1), DAY: timedelta(days=1)}
EPSILON = timedelta(microseconds=1)


class TimeZoneNotUTCError(ValueError):
    pass


def verify_utc(dt):
    if dt.tzinfo is None or dt.utcoffset() != timedelta(0):
        raise TimeZoneNotUTCError(f"{dt!r} is not an aware UTC datetime")
    return dt.astimezone(timezone.utc)


@lru_cache(maxsize=None)
def tz(zone):
    return ZoneInfo(zone)


def _aware(dt):
    if dt.tzinfo is None:
        raise TimeZoneNotUTCError(f"{dt!r} is not an aware datetime")
    return dt


# --- days ----------------------------------------------------------------------

def day_start(d, zone="UTC"):
    """The instant (UTC) the local date `d` begins.

    Where a DST change skips midnight, the day begins at the change.
    """
    return datetime.combine(d, time.min, tzinfo=tz(zone)).astimezone(timezone.utc)


def day_of(t, zone="UTC"):
    """The local date at instant `t`."""
    return _aware(t).astimezone(tz(zone)).date()


def floor_to_day(t, zone="UTC"):
    return day_start(day_of(t, zone), zone)


def today(now, zone="UTC"):
    return day_of(now, zone)


def start_of_month(t, zone="UTC"):
    return day_start(day_of(t, zone).replace(day=1), zone)


def start_of_previous_month(t, zone="UTC"):
    first = day_of(t, zone).replace(day=1)
    return day_start((first - timedelta(days=1)).replace(day=1), zone)


# --- hours ---------------------------------------------------------------------

def _offset(t, zone):
    return t.astimezone(tz(zone)).utcoffset()


def _first_with_offset(lo, hi, zone, wanted):
    """The first whole second after `lo` at which the offset is `wanted`, given
    that it is not at `lo` and is at `hi` (bisection: DST changes fall on whole seconds)."""
    lo_s, hi_s = 0, int((hi - lo).total_seconds())
    while hi_s - lo_s > 1:
        mid = (lo_s + hi_s) // 2
        if _offset(lo + timedelta(seconds=mid), zone) == wanted:
            hi_s = mid
        else:
            lo_s = mid
    return min(lo + timedelta(seconds=hi_s), hi)


def _wall_hour_start(t, zone):
    """The instant a clock keeping t's offset showed the hour t is in."""
    local = t.astimezone(tz(zone))
    offset = local.utcoffset()
    wall = local.replace(tzinfo=None, minute=0, second=0, microsecond=0)
    return (wall - offset).replace(tzinfo=timezone.utc), offset


def floor_to_hour(t, zone="UTC"):
    """The start of the local clock hour holding `t`: the latest instant at or
    before `t` where the clock showed a new hour or the UTC offset changed."""
    t = _aware(t).astimezone(timezone.utc)
    start, offset = _wall_hour_start(t, zone)
    if _offset(start, zone) == offset:
        return start
    return _first_with_offset(start, t, zone, offset)  # the offset changed within the hour


def _next_hour(t, zone):
    start, offset = _wall_hour_start(t, zone)
    wall_next = start + INCREMENT[HOUR]
    if _offset(wall_next - timedelta(seconds=1), zone) == offset:
        return wall_next
    # The offset changes before the clock reaches the next hour: a new bucket then.
    lo_s, hi_s = 0, int((wall_next - t).total_seconds())
    while hi_s - lo_s > 1:
        mid = (lo_s + hi_s) // 2
        if _offset(t + timedelta(seconds=mid), zone) == offset:
            lo_s = mid
        else:
            hi_s = mid
    return t + timedelta(seconds=hi_s)


# --- either --------------------------------------------------------------------

def floor(t, frequency, zone="UTC"):
    return floor_to_hour(t, zone) if frequency == HOUR else floor_to_day(t, zone)


def ceil(t, frequency, zone="UTC"):
    floored = floor(t, frequency, zone)
    return floored if floored == t else next_boundary(floored, frequency, zone)


def next_boundary(t, frequency, zone="UTC"):
    """The end of the bucket that starts at (or holds) `t`."""
    if frequency == HOUR:
        return _next_hour(floor_to_hour(t, zone), zone)
    return day_start(day_of(t, zone) + timedelta(days=1), zone)


def previous_boundary(t, frequency, zone="UTC"):
    """The start of the bucket that ends at boundary `t`."""
    return floor(t - EPSILON, frequency, zone)


def shift(t, n, frequency, zone="UTC"):
    """The boundary `n` buckets after boundary `t` (before it for negative `n`)."""
    step = next_boundary if n > 0 else previous_boundary
    for _ in range(abs(n)):
        t = step(t, frequency, zone)
    return t


def time_range(start, end, frequency, zone="UTC"):
    """Bucket ends e with start < e <= end (`start` on a boundary)."""
    ends, t = [], start
    while True:
        t = next_boundary(t, frequency, zone)
        if t > end:
            return ends
        ends.append(t)


def boundaries(start, end, frequency, zone="UTC"):
    """[start, every boundary strictly between, end]: the edges of the buckets of [start, end)."""
    edges = [start]
    while edges[-1] < end:
        edges.append(min(next_boundary(edges[-1], frequency, zone), end))
    return edges


# --- labels --------------------------------------------------------------------

def local_iso(t, zone="UTC"):
    """`t` as the operator's clock shows it, with the offset: 2024-11-03T01:00:00-04:00."""
    return _aware(t).astimezone(tz(zone)).isoformat()


def check_zone(name):
    """`name` if it is an IANA zone this system knows, else ValueError."""
    try:
        tz(name)
    except (ValueError, KeyError, OSError) as exc:  # ZoneInfoNotFoundError is a KeyError
        raise ValueError(f"{name!r} is not a known IANA time zone") from exc
    return name

