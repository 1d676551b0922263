"""Viewing rollups: the sessions of each operator-local day, pre-aggregated.

Reports read these instead of raw sessions (MongoDB's "on-demand
materialized view" pattern). A *cell* is one document per

    (client, local day of the session's start, viewer, content, device, origin)

that is: channel (or stream name), programme, kind, device type and User-Agent
class (type, brand, model, app), country, source, protocol, server, tariffs
and account, plus the viewer (the account, or IP + User-Agent without one).
It holds `sessions`, `watch_time` (seconds) and `bytes`. Keeping the viewer in
the key is what keeps distinct viewers exact over any range of days and any
filter: a report groups cells by (dimension, viewer) and counts, it never
adds per-day viewer counts. Every report filter except `ip` and
`user_agent` is a cell field, under the name the session field has.

Days are the operator's local days (the host's time zone), so a day starts at
local midnight in every zone, +05:30 and +05:45 included. The fill state
remembers the zone; when the operator's zone changes, readers go back to raw
sessions until `viewstats_fill_rollups --rebuild` has rebuilt every day in the
new zone (resumable: a killed rebuild continues after its last finished run of days).

Filling (why whole days recomputed, not `$inc` at ingestion): sessions are
not immutable.
A pushing box stretches its open session every heartbeat, a media server
moves a session's start and end as events arrive out of order, resent
backlogs repeat what was stored, and device classes are refined later. An
`$inc` per event would have to undo what the previous state of the session
contributed, in the request, on every heartbeat. Instead every write stamps
`updated_at`, and a fill recomputes *whole days*: the days touched by
sessions updated since the watermark (from the day a session starts to the
day it ends, so a session whose start moved back a day still refreshes the
day it left) are regrouped from their sessions and upserted over the
previous cells by their deterministic `_id` (a digest of the cell's key);
cells that no longer exist are deleted. (Not `$merge`: the upserts stream
through in bounded batches and run the same on every engine.) Recomputing a day is idempotent, so a crash at any point followed by
a rerun gives the same cells, and a resend counts once because the session it
repeats is counted once. The watermark moves only after the days are done,
and it is set VIEWSTATS_ROLLUP_MARGIN_SECONDS before the fill started, so a
write stamped before the fill began but stored after it read is taken in by
the next fill. The unit of work is a whole day: under live traffic every fill
redoes today, so its cost follows the sessions of the days touched, not the
history.

One fill per client at a time: a lease in the fill state (a time-limited
owner stamp, renewed per day) works across hosts without Redis; a fill that
finds it held says so, and readers fall back to raw sessions meanwhile.
Rollups outlive the raw-session retention (VIEWSTATS_RAW_RETENTION_DAYS): a
day whose sessions expired is never touched again, so its cells stay.
"""
import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from pymongo import ReplaceOne

from . import host, store
from .conf import setting
from .documents import utcnow

logger = logging.getLogger(__name__)

# The viewer, as the breakdown reports count it: the account, or the IP and
# User-Agent of a session without one. The $cond (not $ifNull over
# $toString) keeps a missing account from becoming the string "null".
VIEWER = {"$cond": [{"$eq": [{"$ifNull": ["$account_id", None]}, None]},
                    {"$concat": ["ip:", {"$ifNull": ["$ip", ""]}, "|",
                                 {"$ifNull": ["$user_agent", ""]}]},
                    {"$concat": ["a:", {"$toString": "$account_id"}]}]}


def _null(path):
    # Missing and null must be one cell on every engine.
    return {"$ifNull": [path, None]}


# Cell fields, named as the session fields they come from, so one filter
# $match serves sessions and cells alike.
KEY = {
    "channel_id": _null("$channel_id"),
    "media": {"$cond": [{"$eq": [_null("$channel_id"), None]}, _null("$media"), None]},
    "program_id": _null("$program_id"),
    "kind": _null("$kind"),
    "device_type": _null("$device_type"),
    "ua": {"type": _null("$ua.type"), "brand": _null("$ua.brand"), "model": _null("$ua.model"),
           "app": _null("$ua.app")},
    "country": _null("$country"),
    "source": _null("$source"),
    "protocol": _null("$protocol"),
    "server_id": _null("$server_id"),
    "tariff_ids": {"$ifNull": ["$tariff_ids", []]},
    "account_id": _null("$account_id"),
    "inter_server": {"$eq": ["$inter_server", True]},
}
# Filters a cell cannot answer: they need the raw sessions.
RAW_ONLY_FILTERS = ("ip", "user_agent")
LEASE = timedelta(minutes=10)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class FillBusy(Exception):
    """Another fill of this client holds the lease."""


@dataclass
class FillResult:
    client_id: int
    days: int = 0
    rebuilt: bool = False
    finished: bool = True


def _wall_clock():
    # Leases are about real processes, never the demo's simulated clock.
    return datetime.now(timezone.utc)


def _margin():
    return timedelta(seconds=int(setting("VIEWSTATS_ROLLUP_MARGIN_SECONDS")))


def zone_of(client_id):
    return host.client_time_zone(client_id)


def local_midnight(day, zone):
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(zone)).astimezone(timezone.utc)


def _state(client_id):
    return store.collection(store.ROLLUP_STATE).find_one({"client_id": client_id, "_id": client_id})


def usable(client_id):
    """Whether the cells of this client are complete and in its current zone."""
    state = _state(client_id)
    return bool(state and state.get("complete") and state.get("zone") == zone_of(client_id))


# --------------------------------------------------------------------- lease

def _take_lease(client_id, token):
    now = _wall_clock()
    coll = store.collection(store.ROLLUP_STATE)
    coll.update_one({"client_id": client_id, "_id": client_id},
                    {"$setOnInsert": {"zone": None, "complete": False}}, upsert=True)
    taken = coll.find_one_and_update(
        {"client_id": client_id, "_id": client_id,
         "$or": [{"lease_until": None}, {"lease_until": {"$lt": now}}, {"lease_owner": token}]},
        {"$set": {"lease_owner": token, "lease_until": now + LEASE}})
    if taken is None:
        raise FillBusy(f"client {client_id}: another rollup fill is running")


def _renew_lease(client_id, token):
    taken = store.collection(store.ROLLUP_STATE).find_one_and_update(
        {"client_id": client_id, "_id": client_id, "lease_owner": token},
        {"$set": {"lease_until": _wall_clock() + LEASE}})
    if taken is None:
        raise FillBusy(f"client {client_id}: the rollup fill lost its lease")


def _release_lease(client_id, token):
    store.collection(store.ROLLUP_STATE).update_one(
        {"client_id": client_id, "_id": client_id, "lease_owner": token},
        {"$set": {"lease_owner": None, "lease_until": None}})


def _save(client_id, **fields):
    store.collection(store.ROLLUP_STATE).update_one({"client_id": client_id, "_id": client_id},
                                                    {"$set": fields})


# ------------------------------------------------------------------- one day

def cells_pipeline(client_id, days, zone):
    """Group the sessions that started on the local `days` (consecutive) into their cells."""
    d0 = local_midnight(days[0], zone)
    d1 = local_midnight(days[-1] + timedelta(days=1), zone)
    return [
        {"$match": {"client_id": client_id, "start": {"$gte": d0, "$lt": d1}}},
        {"$group": {"_id": {"day": _day_parts("$start", zone), **KEY, "v": VIEWER},
                    "sessions": {"$sum": 1}, "watch_time": {"$sum": "$duration"},
                    "bytes": {"$sum": {"$ifNull": ["$bytes", 0]}}}},
    ]


def cell_id(client_id, day, key):
    """A cell's `_id`: client and day first (the shard-key prefix), then a digest of its key.

    A string, not the key document itself: every engine can index and compare
    it, and it stays short whatever the User-Agent class or stream names are.
    """
    digest = hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:24]
    return f"{client_id}:{day.isoformat()}:{digest}"


RUN_DAYS = 31  # days regrouped by one aggregation


def runs(days):
    """Sorted days split into runs of consecutive days, at most RUN_DAYS each."""
    out = []
    for day in sorted(days):
        if out and day == out[-1][-1] + timedelta(days=1) and len(out[-1]) < RUN_DAYS:
            out[-1].append(day)
        else:
            out.append([day])
    return out


def fill_days(client_id, days, zone):
    """Recompute the cells of consecutive `days` from their sessions; drop the ones that vanished.

    One aggregation over the run's range. The days' daily statistics are
    marked to be recomputed too: whatever touched their cells may have
    changed their viewing time or connections. The cells stream from the
    aggregation to bulk upserts a thousand at a time, so memory stays
    bounded however busy the days were.
    """
    filled_at = _wall_clock()
    coll = store.collection(store.ROLLUPS)
    batch = []
    for row in store.sessions_aggregate(cells_pipeline(client_id, days, zone), hint="client_start_id"):
        key = row.pop("_id")
        parts, viewer = key.pop("day"), key.pop("v")
        day = date(parts["y"], parts["m"], parts["d"])
        doc = {"_id": cell_id(client_id, day, [key, viewer]), "client_id": client_id,
               "day": day.isoformat(), **key, "v": viewer, **row, "filled_at": filled_at}
        batch.append(ReplaceOne({"client_id": client_id, "_id": doc["_id"]}, doc, upsert=True))
        if len(batch) >= 1000:
            coll.bulk_write(batch, ordered=False)
            batch = []
    if batch:
        coll.bulk_write(batch, ordered=False)
    coll.delete_many({"client_id": client_id, "day": {"$in": [d.isoformat() for d in days]},
                      "filled_at": {"$lt": filled_at}})
    for day in days:
        store.mark_daily_dirty(client_id, day)


# ------------------------------------------------------------- which days

def _day_parts(expr, zone):
    return {"y": {"$year": {"date": expr, "timezone": zone}},
            "m": {"$month": {"date": expr, "timezone": zone}},
            "d": {"$dayOfMonth": {"date": expr, "timezone": zone}}}


def touched_days(client_id, zone, since):
    """Local days touched by sessions updated at or after `since` (all sessions for None).

    From the day a session starts to the day its last second is in; grouped
    in the database, so memory holds distinct (first day, last day) pairs.
    """
    match = {"client_id": client_id}
    if since is not None:
        match["updated_at"] = {"$gte": since}
    last = {"$subtract": ["$end", 1]}
    rows = store.sessions_aggregate([
        {"$match": match},
        {"$group": {"_id": {"a": _day_parts("$start", zone),
                            "b": _day_parts({"$cond": [{"$gt": ["$end", "$start"]}, last, "$start"]},
                                            zone)}}},
    ], hint="client_updated" if since is not None else "client_start_id")
    days = set()
    for row in rows:
        a, b = (date(p["y"], p["m"], p["d"]) for p in (row["_id"]["a"], row["_id"]["b"]))
        while a <= b:
            days.add(a)
            a += timedelta(days=1)
    return sorted(days)


# ---------------------------------------------------------------------- fill

def fill(client_id, rebuild=False, on_day=None):
    """Bring one client's cells up to date; returns a FillResult.

    Incremental when the cells are complete and in the client's zone;
    otherwise (or with `rebuild`) every day with sessions is recomputed in
    the current zone, resuming after the last day a killed rebuild finished.
    `on_day(day)` is called after each day (progress).
    """
    token = uuid.uuid4().hex
    _take_lease(client_id, token)
    try:
        return _fill(client_id, token, rebuild, on_day)
    finally:
        _release_lease(client_id, token)


def _fill(client_id, token, rebuild, on_day):
    zone = zone_of(client_id)
    state = _state(client_id)
    started = utcnow()
    result = FillResult(client_id)
    if rebuild or state.get("zone") != zone or not state.get("complete"):
        result.rebuilt = True
        resuming = (not rebuild and state.get("zone") == zone and state.get("building_since") is not None)
        if not resuming:
            # Cells of another zone must never mix with this one's.
            store.collection(store.ROLLUPS).delete_many({"client_id": client_id})
            _save(client_id, zone=zone, complete=False, building_since=started, next_day=None,
                  watermark=None)
            state = _state(client_id)
        next_day = date.fromisoformat(state["next_day"]) if state.get("next_day") else None
        todo = [d for d in touched_days(client_id, zone, None) if next_day is None or d >= next_day]
        for run in runs(todo):
            fill_days(client_id, run, zone)
            _save(client_id, next_day=(run[-1] + timedelta(days=1)).isoformat())
            _renew_lease(client_id, token)
            result.days += len(run)
            for day in run if on_day else ():
                on_day(day)
        # Whatever changed since the rebuild began is taken in by the next fill.
        _save(client_id, complete=True, watermark=state["building_since"] - _margin(),
              building_since=None, next_day=None, filled_at=_wall_clock())
        return result
    for run in runs(touched_days(client_id, zone, state["watermark"])):
        fill_days(client_id, run, zone)
        _renew_lease(client_id, token)
        result.days += len(run)
        for day in run if on_day else ():
            on_day(day)
    _save(client_id, watermark=max(state["watermark"], started - _margin()), filled_at=_wall_clock())
    return result


def refresh(client_id):
    """Bring the cells up to date before a report reads them; whether it may.

    Incremental fills run inline (their cost follows the days changed since
    the last one), at most every VIEWSTATS_ROLLUP_REFRESH_SECONDS: reports
    may lag that long behind ingestion. A first build or a rebuild runs inline only while the client
    has at most VIEWSTATS_ROLLUP_INLINE_BUILD sessions; a bigger one is left
    to `viewstats_fill_rollups` (cron or RQ) and readers use raw sessions
    until it is done. A fill already running elsewhere also means raw.
    """
    state = _state(client_id)
    ready = bool(state and state.get("complete") and state.get("zone") == zone_of(client_id))
    if ready and state.get("filled_at") is not None:
        age = (_wall_clock() - _aware(state["filled_at"])).total_seconds()
        if 0 <= age < int(setting("VIEWSTATS_ROLLUP_REFRESH_SECONDS")):
            return True
    if ready and not _changed_since(client_id, state["watermark"]):
        return True
    if not ready:
        limit = int(setting("VIEWSTATS_ROLLUP_INLINE_BUILD"))
        count = store.sessions().count_documents({"client_id": client_id}, limit=limit + 1)
        if count > limit:
            return False
    try:
        fill(client_id)
    except FillBusy:
        return False
    return True


def _changed_since(client_id, watermark):
    """Whether any session was stored or changed at or after `watermark` (one index key read)."""
    return store.sessions().find_one({"client_id": client_id, "updated_at": {"$gte": watermark}},
                                     {"_id": 1}, hint="client_updated") is not None


def _aware(instant):
    return instant if instant.tzinfo else instant.replace(tzinfo=timezone.utc)


def cells():
    return store.collection(store.ROLLUPS)
