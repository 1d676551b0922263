"""UTC bucket arithmetic. Buckets are labelled by their end, as in Zulip."""
from datetime import datetime, timedelta, timezone

HOUR = "hour"
DAY = "day"
FREQUENCIES = (HOUR, DAY)
INCREMENT = {HOUR: timedelta(hours=1), DAY: timedelta(days=1)}


class TimeZoneNotUTCError(ValueError):
    pass


def verify_utc(dt):
    if dt.tzinfo is None or dt.utcoffset() != timedelta(0):
        raise TimeZoneNotUTCError(f"{dt!r} is not an aware UTC datetime")
    return dt.astimezone(timezone.utc)


def floor_to_hour(dt):
    dt = verify_utc(dt)
    return datetime(dt.year, dt.month, dt.day, dt.hour, tzinfo=timezone.utc)


def floor_to_day(dt):
    dt = verify_utc(dt)
    return datetime(dt.year, dt.month, dt.day, tzinfo=timezone.utc)


def floor(dt, frequency):
    return floor_to_hour(dt) if frequency == HOUR else floor_to_day(dt)


def start_of_previous_month(dt):
    day = floor_to_day(dt)
    first = day.replace(day=1)
    return (first - timedelta(days=1)).replace(day=1)


def day_start(d):
    """The aware UTC midnight that starts date `d`."""
    return datetime(d.year, d.month, d.day, tzinfo=timezone.utc)


def time_range(start, end, frequency):
    """Bucket ends e with start < e <= end (both on `frequency` boundaries)."""
    step = INCREMENT[frequency]
    ends, t = [], start + step
    while t <= end:
        ends.append(t)
        t += step
    return ends
