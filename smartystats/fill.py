"""Incremental, crash-safe filling of the caches (Zulip's FillState protocol).

One watermark per (client, series). Count buckets are written in batches
(BUCKETS_PER_COMMIT), each batch and its DONE mark in one transaction, so a
crash or a killed RQ job rolls the unfinished batch back whole and the next
run writes it again: nothing is ever counted twice. A watermark left STARTED
(max online's day chunks, which write as they go, or an older release's
bucket) makes the next run delete what may be half-written and step back
before filling on. The first run of a series fills from the start of the
previous month (daily series, max online) or SMARTYSTATS_HOURLY_DAYS back
(hourly series).

Buckets are the client's local hours and days (timeutils, zones.py): a day
may have 23 or 25 hours. The fill state records the zone; a series found cut
in another zone is started over in the client's zone over the same history
(`restart`) and then filled like a first run, so a killed rebuild continues
after its last finished bucket.

Max online is filled in chunks of one local day's hours (one MongoDB query
per week of chunks); its watermark is STARTED at the chunk's end, and
recovery rolls back to the start of that chunk's day.
"""
import logging
import time
from datetime import timedelta

from django.db import transaction
from django.db.models import Max, Min
from django.utils import timezone

from . import host, online, zones
from .conf import setting
from .models import Count, FillState, MaxOnline
from .series import MAX_ONLINE, STATS
from .timeutils import (DAY, HOUR, boundaries, ceil, day_of, day_start, floor, floor_to_day,
                        floor_to_hour, next_boundary, previous_boundary, start_of_previous_month,
                        time_range)

logger = logging.getLogger(__name__)


def initial_fill_start(series, fill_to, zone="UTC"):
    if series.endswith(":hour") and series != MAX_ONLINE:
        return day_start(day_of(fill_to, zone) - timedelta(days=setting("SMARTYSTATS_HOURLY_DAYS")), zone)
    return start_of_previous_month(fill_to, zone)


def last_successful_fill(client_id, series):
    """The end of the last finished bucket of one series of the client, or None."""
    return finished_end(FillState.objects.filter(client_id=client_id, series=series).first())


def last_successful_fills(client_id, series):
    """{name: last_successful_fill(client_id, name)} for each of `series`, in one query."""
    states = {fs.series: fs for fs in FillState.objects.filter(client_id=client_id, series__in=series)}
    return {name: finished_end(states.get(name)) for name in series}


def finished_end(fs):
    """The end of the last finished bucket that the fill state `fs` (or None) records."""
    if fs is None:
        return None
    if fs.state == FillState.DONE:
        return fs.end_time
    if fs.series == MAX_ONLINE:
        return previous_boundary(fs.end_time, DAY, fs.zone)
    return previous_boundary(fs.end_time, STATS[fs.series].frequency, fs.zone)


def _fill_state(client_id, series, fill_to, zone):
    start = initial_fill_start(series, fill_to, zone)
    fs, created = FillState.objects.get_or_create(
        client_id=client_id, series=series,
        defaults={"end_time": start, "start_time": start, "state": FillState.DONE, "zone": zone})
    if created:
        logger.info("INITIALIZED %s %s %s (%s)", client_id, series, fs.end_time, zone)
    elif fs.zone != zone:
        restart(fs, zone, fill_to)
    return fs


# Count buckets per transaction: one watermark write per batch, not two per
# bucket (a day of hours; on SQLite, PostgreSQL or MySQL, each save outside a
# transaction is a commit of its own).
BUCKETS_PER_COMMIT = 24


def _mark(fs, end_time, state):
    fs.end_time, fs.state = end_time, state
    fs.save(update_fields=["end_time", "state", "last_modified"])


# --- starting a series over in another zone --------------------------------------

def _rows(fs):
    if fs.series == MAX_ONLINE:
        return MaxOnline.objects.filter(client_id=fs.client_id)
    return Count.objects.filter(client_id=fs.client_id, series=fs.series)


def _first_bucket_start(fs):
    """Where the series' history begins, for fill states older than `start_time`."""
    if fs.series == MAX_ONLINE:
        return _rows(fs).aggregate(t=Min("bucket_start"))["t"]
    first_end = _rows(fs).aggregate(t=Min("end_time"))["t"]
    return previous_boundary(first_end, STATS[fs.series].frequency, fs.zone) if first_end else None


def restart_from(fs, zone, fill_to):
    """Where a series restarted in `zone` begins: the local day its history began,
    within what can still be computed (hourly retention, raw-session retention)."""
    began = min(t for t in (fs.start_time or _first_bucket_start(fs), fs.end_time) if t is not None)
    start = min(floor_to_day(began, zone), initial_fill_start(fs.series, fill_to, zone))
    if fs.series == MAX_ONLINE:
        raw_days = setting("VIEWSTATS_RAW_RETENTION_DAYS")
        if raw_days is not None:  # older sessions are gone: their peaks cannot be recut
            start = max(start, floor_to_day(fill_to - timedelta(days=raw_days), zone))
    elif fs.series.endswith(":" + HOUR):
        cut = retention_cut(fill_to, zone)
        if cut is not None:
            start = max(start, cut)
    return start


def restart(fs, zone, fill_to):
    """Drop the rows of a series cut in another zone and start it over in `zone`.

    One transaction: the rows of the old zone go and the watermark moves to
    the new start, so no reader or later run ever sees the two zones mixed.
    """
    start = restart_from(fs, zone, fill_to)
    old = fs.zone
    with transaction.atomic():
        deleted = _rows(fs).delete()[0]
        fs.zone, fs.start_time, fs.end_time, fs.state = zone, start, start, FillState.DONE
        fs.save()
        zones.mark_rebuilding(fs.client_id, zone, fill_to, timezone.now())
    logger.warning("REBUILD %s %s: %d rows cut in %s dropped; refilling in %s from %s",
                   fs.client_id, fs.series, deleted, old, zone, start)
    return fs


# --- Count series -------------------------------------------------------------

def _zone(client_id, zone):
    return zone or zones.zone_for(client_id)


def delete_bucket(client_id, stat, end_time):
    Count.objects.filter(client_id=client_id, series=stat.series, end_time=end_time).delete()


def write_bucket(client_id, stat, end_time):
    start = previous_boundary(end_time, stat.frequency, stat.zone)
    values = stat.collector(client_id, start, end_time)
    Count.objects.bulk_create([
        Count(client_id=client_id, series=stat.series, subgroup=sub, end_time=end_time, value=v)
        for sub, v in sorted(values.items(), key=lambda kv: str(kv[0])) if v])


def process_stat(client_id, stat, fill_to, zone=None):
    """Fill `stat` for one client up to `fill_to`; return how many buckets were computed.

    `zone`: the client's (zones.zone_for) unless given.
    """
    zone = _zone(client_id, zone)
    stat = stat.in_zone(zone)
    fill_to = floor(fill_to, stat.frequency, zone)
    fs = _fill_state(client_id, stat.series, fill_to, zone)
    if fs.state == FillState.STARTED:
        logger.warning("UNDO %s %s %s", client_id, stat.series, fs.end_time)
        delete_bucket(client_id, stat, fs.end_time)
        _mark(fs, previous_boundary(fs.end_time, stat.frequency, zone), FillState.DONE)
    computed = 0
    ends = time_range(fs.end_time, fill_to, stat.frequency, zone)
    with host.reading():  # the host's data read once for all the buckets, not once per bucket
        for i in range(0, len(ends), BUCKETS_PER_COMMIT):
            batch = ends[i:i + BUCKETS_PER_COMMIT]
            with transaction.atomic():
                for end in batch:
                    write_bucket(client_id, stat, end)
                _mark(fs, batch[-1], FillState.DONE)
            computed += len(batch)
    return computed


def _in_zone(client_id, series, zone):
    fs = FillState.objects.filter(client_id=client_id, series=series).first()
    return fs is not None and fs.zone == zone


def rebuild_stat(client_id, stat, start, end, zone=None):
    """Recompute the already-filled buckets ending in (start, end]; return how many.

    A series still cut in another zone is left to its restart, which recomputes it all.
    """
    zone = _zone(client_id, zone)
    done = last_successful_fill(client_id, stat.series)
    if done is None or not _in_zone(client_id, stat.series, zone):
        return 0
    stat = stat.in_zone(zone)
    computed = 0
    with host.reading():
        for bucket_end in time_range(ceil(start, stat.frequency, zone),
                                     min(floor(end, stat.frequency, zone), done), stat.frequency, zone):
            with transaction.atomic():
                delete_bucket(client_id, stat, bucket_end)
                write_bucket(client_id, stat, bucket_end)
            computed += 1
    return computed


# --- Max online ----------------------------------------------------------------

def fill_max_online_chunk(client_id, start, end, peaks=None, zone="UTC"):
    """(Re)write the peaks of the `zone` clock hours of [start, end), which lie
    within one local day, and that day's row.

    `peaks` may be given when a longer sweep already computed them. The fills
    pass the client's zone; "UTC" cuts UTC hours and days.
    """
    edges = boundaries(start, end, HOUR, zone)
    if peaks is None:
        peaks = online.peaks(client_id, edges)
    day = floor_to_day(start, zone)
    day_end = next_boundary(day, DAY, zone)
    with transaction.atomic():
        MaxOnline.objects.filter(client_id=client_id, frequency=MaxOnline.HOUR,
                                 bucket_start__gte=start, bucket_start__lt=end).delete()
        MaxOnline.objects.bulk_create([
            MaxOnline(client_id=client_id, frequency=MaxOnline.HOUR, bucket_start=b,
                      accounts=acc, customers=cust)
            for b, (acc, cust) in zip(edges, peaks) if acc or cust])
        agg = MaxOnline.objects.filter(
            client_id=client_id, frequency=MaxOnline.HOUR, bucket_start__gte=day,
            bucket_start__lt=day_end).aggregate(a=Max("accounts"), c=Max("customers"))
        MaxOnline.objects.update_or_create(
            client_id=client_id, frequency=MaxOnline.DAY, bucket_start=day,
            defaults={"accounts": agg["a"] or 0, "customers": agg["c"] or 0,
                      "complete": end >= day_end})


def _chunks(start, end, zone):
    t = start
    while t < end:
        chunk_end = min(next_boundary(t, DAY, zone), end)
        yield t, chunk_end
        t = chunk_end


def _hours_in(start, end, zone):
    return len(boundaries(start, end, HOUR, zone)) - 1


def process_max_online(client_id, fill_to, zone=None):
    """Fill hourly and daily peaks up to `fill_to`; return how many hours were computed."""
    zone = _zone(client_id, zone)
    fill_to = floor_to_hour(fill_to, zone)
    fs = _fill_state(client_id, MAX_ONLINE, fill_to, zone)
    if fs.state == FillState.STARTED:
        back_to = previous_boundary(fs.end_time, DAY, zone)
        logger.warning("UNDO %s %s %s..%s", client_id, MAX_ONLINE, back_to, fs.end_time)
        MaxOnline.objects.filter(client_id=client_id, frequency=MaxOnline.HOUR,
                                 bucket_start__gte=back_to, bucket_start__lt=fs.end_time).delete()
        MaxOnline.objects.filter(client_id=client_id, frequency=MaxOnline.DAY,
                                 bucket_start=back_to).delete()
        _mark(fs, back_to, FillState.DONE)
    hours = 0
    chunks = list(_chunks(fs.end_time, fill_to, zone))
    # One sweep (one MongoDB query) serves up to a week of day chunks: the
    # first run's month of backlog then costs a few queries, not one a day.
    batch_days = setting("SMARTYSTATS_MAX_ONLINE_SWEEP_DAYS")
    for i in range(0, len(chunks), batch_days):
        batch = chunks[i:i + batch_days]
        swept = online.peaks(client_id, boundaries(batch[0][0], batch[-1][1], HOUR, zone))
        offset = 0
        for start, end in batch:
            n = _hours_in(start, end, zone)
            _mark(fs, end, FillState.STARTED)
            fill_max_online_chunk(client_id, start, end, peaks=swept[offset:offset + n], zone=zone)
            _mark(fs, end, FillState.DONE)
            offset += n
            hours += n
    prune_hourly(client_id, fill_to, zone)
    return hours


def rebuild_max_online(client_id, start, end, zone=None):
    zone = _zone(client_id, zone)
    done = last_successful_fill(client_id, MAX_ONLINE)
    if done is None or not _in_zone(client_id, MAX_ONLINE, zone):
        return 0
    hours = 0
    for a, b in _chunks(floor_to_hour(start, zone), min(ceil(end, HOUR, zone), done), zone):
        fill_max_online_chunk(client_id, a, b, zone=zone)
        hours += _hours_in(a, b, zone)
    return hours


# Arrivals are read this far behind now, so a session stored by a web node
# whose clock lags a little is not stepped over.
ARRIVAL_MARGIN = timedelta(seconds=60)
ARRIVALS = "max_online:arrivals"  # FillState whose end_time is the arrival watermark


def recover_late_sessions(client_id, now, zone=None):
    """Re-sweep the filled days that sessions arriving since the last run cover.

    Apps upload buffered viewing hours or days late and media servers resend
    backlogs, so sessions land in hours whose peaks are already cached. Each
    run looks at what arrived since its watermark and recomputes those local
    days whole (a replacement, never an increment); the watermark moves only
    after, so a crash just repeats the work. Returns the number of days.
    """
    zone = _zone(client_id, zone)
    filled = last_successful_fill(client_id, MAX_ONLINE)
    if filled is None or not _in_zone(client_id, MAX_ONLINE, zone):
        return 0  # a series cut in another zone is recomputed whole by its restart
    until = now - ARRIVAL_MARGIN
    fs, created = FillState.objects.get_or_create(
        client_id=client_id, series=ARRIVALS, defaults={"end_time": until, "state": FillState.DONE})
    if created or until <= fs.end_time:
        return 0  # the fill that just ran saw everything stored before now
    days = online.days_touched_by_arrivals(client_id, fs.end_time, until, filled, zone)
    for day in sorted(days):
        fill_max_online_chunk(client_id, day, min(next_boundary(day, DAY, zone), filled), zone=zone)
    _mark(fs, until, FillState.DONE)
    return len(days)


# --- entry points -------------------------------------------------------------

def fill_to_for(now, zone="UTC"):
    """The last local hour boundary whose sessions have had time to close.

    A device reports a session's end only with its next heartbeat, so the
    hour is left alone until VIEWSTATS_PUSH_SESSION_TIMEOUT has passed.
    """
    return floor_to_hour(now - timedelta(seconds=setting("VIEWSTATS_PUSH_SESSION_TIMEOUT")), zone)


def fill_client(client_id, fill_to, series=None, zone=None, on_series=None):
    """Fill every (or the named) series of one client; return {series: buckets computed}.

    `on_series(name, buckets)` is called after each series (progress).
    """
    zone = _zone(client_id, zone)
    done = {}
    for name in series or [*STATS, MAX_ONLINE]:
        started = time.monotonic()
        if name == MAX_ONLINE:
            done[name] = process_max_online(client_id, fill_to, zone)
        else:
            done[name] = process_stat(client_id, STATS[name], fill_to, zone)
        logger.info("DONE %s %s %d buckets (%dms)", client_id, name, done[name],
                    (time.monotonic() - started) * 1000)
        if on_series:
            on_series(name, done[name])
    prune_hourly(client_id, fill_to, zone)
    return done


def retention_cut(fill_to, zone):
    """Hourly rows ending at or before this instant are pruned (None: kept)."""
    days = setting("SMARTYSTATS_HOURLY_RETENTION_DAYS")
    if days is None:
        return None
    return day_start(day_of(fill_to, zone) - timedelta(days=days), zone)


def prune_hourly(client_id, fill_to, zone=None):
    """Delete hourly rows older than SMARTYSTATS_HOURLY_RETENTION_DAYS; return how many.

    Only rows wholly before the cut go; the day rows built from them stay,
    so the charts by day keep their whole history.
    """
    cut = retention_cut(fill_to, _zone(client_id, zone))
    if cut is None:
        return 0
    hourly = [s for s in STATS if s.endswith(":" + HOUR)]
    deleted = Count.objects.filter(client_id=client_id, series__in=hourly,
                                   end_time__lte=cut).delete()[0]
    deleted += MaxOnline.objects.filter(client_id=client_id, frequency=MaxOnline.HOUR,
                                        bucket_start__lt=cut).delete()[0]
    if deleted:
        logger.info("PRUNED %s %d hourly rows before %s", client_id, deleted, cut)
    return deleted


def rebuild_client(client_id, start, end, series=None, zone=None):
    zone = _zone(client_id, zone)
    done = {}
    for name in series or [*STATS, MAX_ONLINE]:
        if name == MAX_ONLINE:
            done[name] = rebuild_max_online(client_id, start, end, zone)
        else:
            done[name] = rebuild_stat(client_id, STATS[name], start, end, zone)
    return done
