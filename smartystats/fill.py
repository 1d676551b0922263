"""Incremental, crash-safe filling of the caches (Zulip's FillState protocol).

One watermark per (client, series). A bucket is written between a STARTED
and a DONE mark; a run that finds STARTED deletes what that bucket may have
half-written and steps back before filling on, so a crash or a killed RQ job
never double counts. The first run of a series fills from the start of the
previous month (daily series, max online) or SMARTYSTATS_HOURLY_DAYS back
(hourly series).

Max online is filled in day-aligned chunks of hours (one MongoDB query per
chunk); its watermark is STARTED at the chunk's end, and recovery rolls back
to the start of that chunk's day.
"""
import logging
import time
from datetime import timedelta

from django.db import transaction
from django.db.models import Max

from . import online
from .conf import setting
from .models import Count, FillState, MaxOnline
from .series import MAX_ONLINE, STATS
from .timeutils import (DAY, HOUR, INCREMENT, floor_to_day, floor_to_hour,
                        start_of_previous_month, time_range, verify_utc)

logger = logging.getLogger(__name__)


def initial_fill_start(series, fill_to):
    if series.endswith(":hour") and series != MAX_ONLINE:
        return floor_to_day(fill_to) - timedelta(days=setting("SMARTYSTATS_HOURLY_DAYS"))
    return start_of_previous_month(fill_to)


def last_successful_fill(client_id, series):
    fs = FillState.objects.filter(client_id=client_id, series=series).first()
    if fs is None:
        return None
    if fs.state == FillState.DONE:
        return fs.end_time
    if series == MAX_ONLINE:
        return floor_to_day(fs.end_time - INCREMENT[HOUR])
    return fs.end_time - INCREMENT[STATS[series].frequency]


def _fill_state(client_id, series, fill_to):
    fs, created = FillState.objects.get_or_create(
        client_id=client_id, series=series,
        defaults={"end_time": initial_fill_start(series, fill_to), "state": FillState.DONE})
    if created:
        logger.info("INITIALIZED %s %s %s", client_id, series, fs.end_time)
    return fs


def _mark(fs, end_time, state):
    fs.end_time, fs.state = end_time, state
    fs.save(update_fields=["end_time", "state", "last_modified"])


# --- Count series -------------------------------------------------------------

def delete_bucket(client_id, stat, end_time):
    Count.objects.filter(client_id=client_id, series=stat.series, end_time=end_time).delete()


def write_bucket(client_id, stat, end_time):
    values = stat.collector(client_id, end_time - INCREMENT[stat.frequency], end_time)
    Count.objects.bulk_create([
        Count(client_id=client_id, series=stat.series, subgroup=sub, end_time=end_time, value=v)
        for sub, v in sorted(values.items(), key=lambda kv: str(kv[0])) if v])


def process_stat(client_id, stat, fill_to):
    """Fill `stat` for one client up to `fill_to`; return how many buckets were computed."""
    fill_to = _aligned(stat.frequency, fill_to)
    fs = _fill_state(client_id, stat.series, fill_to)
    if fs.state == FillState.STARTED:
        logger.warning("UNDO %s %s %s", client_id, stat.series, fs.end_time)
        delete_bucket(client_id, stat, fs.end_time)
        _mark(fs, fs.end_time - INCREMENT[stat.frequency], FillState.DONE)
    computed = 0
    for end in time_range(fs.end_time, fill_to, stat.frequency):
        _mark(fs, end, FillState.STARTED)
        write_bucket(client_id, stat, end)
        _mark(fs, end, FillState.DONE)
        computed += 1
    return computed


def rebuild_stat(client_id, stat, start, end):
    """Recompute the already-filled buckets ending in (start, end]; return how many."""
    done = last_successful_fill(client_id, stat.series)
    if done is None:
        return 0
    computed = 0
    for bucket_end in time_range(_aligned(stat.frequency, start, up=True),
                                 min(_aligned(stat.frequency, end), done), stat.frequency):
        with transaction.atomic():
            delete_bucket(client_id, stat, bucket_end)
            write_bucket(client_id, stat, bucket_end)
        computed += 1
    return computed


def _aligned(frequency, t, up=False):
    t = verify_utc(t)
    floored = floor_to_hour(t) if frequency == HOUR else floor_to_day(t)
    if up and floored != t:
        floored += INCREMENT[frequency]
    return floored


# --- Max online ----------------------------------------------------------------

def _hours(start, end):
    boundaries = [start]
    while boundaries[-1] < end:
        boundaries.append(boundaries[-1] + INCREMENT[HOUR])
    return boundaries


def fill_max_online_chunk(client_id, start, end, peaks=None):
    """(Re)write the hourly peaks of [start, end) (one day at most) and its day's row.

    `peaks` may be given when a longer sweep already computed them.
    """
    boundaries = _hours(start, end)
    if peaks is None:
        peaks = online.peaks(client_id, boundaries)
    day = floor_to_day(start)
    with transaction.atomic():
        MaxOnline.objects.filter(client_id=client_id, frequency=MaxOnline.HOUR,
                                 bucket_start__gte=start, bucket_start__lt=end).delete()
        MaxOnline.objects.bulk_create([
            MaxOnline(client_id=client_id, frequency=MaxOnline.HOUR, bucket_start=b,
                      accounts=acc, customers=cust)
            for b, (acc, cust) in zip(boundaries, peaks) if acc or cust])
        agg = MaxOnline.objects.filter(
            client_id=client_id, frequency=MaxOnline.HOUR, bucket_start__gte=day,
            bucket_start__lt=day + INCREMENT[DAY]).aggregate(a=Max("accounts"), c=Max("customers"))
        MaxOnline.objects.update_or_create(
            client_id=client_id, frequency=MaxOnline.DAY, bucket_start=day,
            defaults={"accounts": agg["a"] or 0, "customers": agg["c"] or 0,
                      "complete": end >= day + INCREMENT[DAY]})


def _chunks(start, end):
    t = start
    while t < end:
        chunk_end = min(floor_to_day(t) + INCREMENT[DAY], end)
        yield t, chunk_end
        t = chunk_end


def process_max_online(client_id, fill_to):
    """Fill hourly and daily peaks up to `fill_to`; return how many hours were computed."""
    fill_to = _aligned(HOUR, fill_to)
    fs = _fill_state(client_id, MAX_ONLINE, fill_to)
    if fs.state == FillState.STARTED:
        back_to = floor_to_day(fs.end_time - INCREMENT[HOUR])
        logger.warning("UNDO %s %s %s..%s", client_id, MAX_ONLINE, back_to, fs.end_time)
        MaxOnline.objects.filter(client_id=client_id, frequency=MaxOnline.HOUR,
                                 bucket_start__gte=back_to, bucket_start__lt=fs.end_time).delete()
        MaxOnline.objects.filter(client_id=client_id, frequency=MaxOnline.DAY,
                                 bucket_start=back_to).delete()
        _mark(fs, back_to, FillState.DONE)
    hours = 0
    chunks = list(_chunks(fs.end_time, fill_to))
    # One sweep (one MongoDB query) serves up to a week of day chunks: the
    # first run's month of backlog then costs a few queries, not one a day.
    batch_days = setting("SMARTYSTATS_MAX_ONLINE_SWEEP_DAYS")
    for i in range(0, len(chunks), batch_days):
        batch = chunks[i:i + batch_days]
        swept = online.peaks(client_id, _hours(batch[0][0], batch[-1][1]))
        offset = 0
        for start, end in batch:
            n = int((end - start) / INCREMENT[HOUR])
            _mark(fs, end, FillState.STARTED)
            fill_max_online_chunk(client_id, start, end, peaks=swept[offset:offset + n])
            _mark(fs, end, FillState.DONE)
            offset += n
            hours += n
    prune_hourly(client_id, fill_to)
    return hours


def rebuild_max_online(client_id, start, end):
    done = last_successful_fill(client_id, MAX_ONLINE)
    if done is None:
        return 0
    hours = 0
    for a, b in _chunks(_aligned(HOUR, start), min(_aligned(HOUR, end, up=True), done)):
        fill_max_online_chunk(client_id, a, b)
        hours += int((b - a) / INCREMENT[HOUR])
    return hours


# Arrivals are read this far behind now, so a session stored by a web node
# whose clock lags a little is not stepped over.
ARRIVAL_MARGIN = timedelta(seconds=60)
ARRIVALS = "max_online:arrivals"  # FillState whose end_time is the arrival watermark


def recover_late_sessions(client_id, now):
    """Re-sweep the filled days that sessions arriving since the last run cover.

    Apps upload buffered viewing hours or days late and media servers resend
    backlogs, so sessions land in hours whose peaks are already cached. Each
    run looks at what arrived since its watermark and recomputes those days
    whole (a replacement, never an increment); the watermark moves only
    after, so a crash just repeats the work. Returns the number of days.
    """
    filled = last_successful_fill(client_id, MAX_ONLINE)
    if filled is None:
        return 0
    until = verify_utc(now) - ARRIVAL_MARGIN
    fs, created = FillState.objects.get_or_create(
        client_id=client_id, series=ARRIVALS, defaults={"end_time": until, "state": FillState.DONE})
    if created or until <= fs.end_time:
        return 0  # the fill that just ran saw everything stored before now
    days = online.days_touched_by_arrivals(client_id, fs.end_time, until, filled)
    for day in sorted(days):
        fill_max_online_chunk(client_id, day, min(day + INCREMENT[DAY], filled))
    _mark(fs, until, FillState.DONE)
    return len(days)


# --- entry points -------------------------------------------------------------

def fill_to_for(now):
    """The last hour boundary whose sessions have had time to close.

    A device reports a session's end only with its next heartbeat, so the
    hour is left alone until VIEWSTATS_PUSH_SESSION_TIMEOUT has passed.
    """
    return floor_to_hour(now - timedelta(seconds=setting("VIEWSTATS_PUSH_SESSION_TIMEOUT")))


def fill_client(client_id, fill_to, series=None):
    """Fill every (or the named) series of one client; return {series: buckets computed}."""
    done = {}
    for name in series or [*STATS, MAX_ONLINE]:
        started = time.monotonic()
        if name == MAX_ONLINE:
            done[name] = process_max_online(client_id, fill_to)
        else:
            done[name] = process_stat(client_id, STATS[name], fill_to)
        logger.info("DONE %s %s %d buckets (%dms)", client_id, name, done[name],
                    (time.monotonic() - started) * 1000)
    prune_hourly(client_id, fill_to)
    return done


def prune_hourly(client_id, fill_to):
    """Delete hourly rows older than SMARTYSTATS_HOURLY_RETENTION_DAYS; return how many.

    Only rows wholly before the cut go; the day rows built from them stay,
    so the charts by day keep their whole history.
    """
    days = setting("SMARTYSTATS_HOURLY_RETENTION_DAYS")
    if days is None:
        return 0
    cut = floor_to_day(verify_utc(fill_to)) - timedelta(days=days)
    hourly = [s for s in STATS if s.endswith(":" + HOUR)]
    deleted = Count.objects.filter(client_id=client_id, series__in=hourly,
                                   end_time__lte=cut).delete()[0]
    deleted += MaxOnline.objects.filter(client_id=client_id, frequency=MaxOnline.HOUR,
                                        bucket_start__lt=cut).delete()[0]
    if deleted:
        logger.info("PRUNED %s %d hourly rows before %s", client_id, deleted, cut)
    return deleted


def rebuild_client(client_id, start, end, series=None):
    done = {}
    for name in series or [*STATS, MAX_ONLINE]:
        if name == MAX_ONLINE:
            done[name] = rebuild_max_online(client_id, start, end)
        else:
            done[name] = rebuild_stat(client_id, STATS[name], start, end)
    return done
