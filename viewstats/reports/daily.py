"""Daily statistics per client and per media server (WMSPanel's billing figures).

For each (client, day in the client's time zone) and each server, plus the
whole client (server "all") and device sessions (server "devices"):
    connections, connections_by_protocol   sessions that started that day
    total_view_time                         seconds of viewing inside the day:
                                            the sum, over every session, of
                                            the part of its [start, end) that
                                            lies in [local midnight, next
                                            local midnight), so a 23:00-02:00
                                            session gives 1 h to its first day
                                            and 2 h to the next
    avg_view_time                           total_view_time divided by the
                                            number of sessions with a part in
                                            the day (at least one second of
                                            viewing in it, whatever day they
                                            started), to 0.1 s; 0 without any.
                                            Zero-length sessions have no part
                                            in any day: they are connections
                                            but never in the average
    traffic_bytes                           bytes sent within the day (the
                                            sessions' 5-minute traffic buckets,
                                            so a session over midnight is split)
    peak_out_bps, peak_out_at               max over the day's fixed 5-minute
                                            buckets of bytes * 8 / 300
    peak_in_bps                             None: play-session events carry no
                                            incoming (ingest) traffic
    inter_server_connections,               sessions of other media servers
    inter_server_bytes                      pulling streams (viewstats/peers.py)
                                            that started in the day, and the
                                            bytes sent to them within it; they
                                            are in none of the figures above

A server row exists for a day when it has a connection, viewing time or
traffic in it (a session carried over midnight gives the next day a row
with 0 connections and its viewing time).

Figures are stored in DAILY_STATS and a day is always recomputed whole from
the sessions and *replaces* its rows, never incremented. Media-server
ingestion marks every day a session's [start, end) touches (DAILY_DIRTY):
a session crossing midnight marks both days, since both get part of its
viewing time; reading a marked day recomputes it first. So a server that
was cut off and resends its backlog, once or many times, fills the gap
exactly. A day that may still receive device data (younger than
VIEWSTATS_MAX_EVENT_AGE_DAYS) is also recomputed when its figures are older
than VIEWSTATS_DAILY_REFRESH_SECONDS, unless the rollups track the client:
their fill marks every day a stored or changed session touches (device
sessions included), so a settled report reads stored rows only and
recomputes just the marked days.
"""
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from pymongo import ReplaceOne

from .. import host, rollups, store
from ..conf import setting
from ..documents import utcnow
from .filters import check_day, local_midnight

BUCKET_SECONDS = 300
ALL, DEVICES = "all", "devices"
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MS = timedelta(milliseconds=1)


def _zone(client_id):
    return ZoneInfo(host.client_time_zone(client_id))


def mark_dirty(client_id, start, end):
    """Mark the days a session touches, to be recomputed before they are read again.

    That is the day it starts (its connection) and every day its [start, end)
    reaches into (its viewing time): a session crossing midnight marks both
    days; one ending exactly at midnight has no part in the next day.
    """
    zone = _zone(client_id)
    last_instant = max(start, end - MS)
    day, last = start.astimezone(zone).date(), last_instant.astimezone(zone).date()
    while day <= last:
        store.mark_daily_dirty(client_id, day)
        day += timedelta(days=1)


def compute_day(client_id, day):
    """The day's rows, computed from the sessions (nothing is stored)."""
    zone = _zone(client_id)
    d0, d1 = local_midnight(day, zone), local_midnight(day + timedelta(days=1), zone)
    rows = defaultdict(lambda: {"connections": 0, "connections_by_protocol": {},
                                "total_view_time": 0, "traffic_bytes": 0, "_buckets": {},
                                "_view_ms": 0, "_viewed": 0, "inter_server_connections": 0,
                                "inter_server_bytes": 0})
    peer = {"$eq": ["$inter_server", True]}
    d0_ms, d1_ms = (d0 - EPOCH) // MS, (d1 - EPOCH) // MS
    # Milliseconds of the session's [start, end) inside [d0, d1), at least 0.
    inside = {"$max": [0, {"$subtract": [{"$min": [{"$toLong": "$end"}, d1_ms]},
                                          {"$max": [{"$toLong": "$start"}, d0_ms]}]}]}
    # Every session that started in the day (its connection) or has viewing
    # in it (`end >= d0` keeps a zero-length session starting at midnight),
    # with the traffic of the media-server ones, in one pass per index range.
    facet = {
        "sessions": [
            {"$project": {"_id": 0, "server": {"$ifNull": ["$server_id", DEVICES]},
                          "protocol": "$protocol", "peer": peer,
                          "started": {"$cond": [{"$gte": ["$start", d0]}, 1, 0]},
                          "inside": inside}},
            {"$group": {"_id": {"server": "$server", "protocol": "$protocol", "peer": "$peer"},
                        "n": {"$sum": "$started"}, "inside": {"$sum": "$inside"},
                        "viewed": {"$sum": {"$cond": [{"$gt": ["$inside", 0]}, 1, 0]}}}}],
        "traffic": [
            {"$match": {"source": "media_server"}},
            {"$project": {"server_id": 1, "traffic": 1, "peer": peer}},
            {"$unwind": "$traffic"},
            {"$match": {"traffic.t": {"$gte": d0, "$lt": d1}}},
            {"$group": {"_id": {"server": "$server_id", "t": "$traffic.t", "peer": "$peer"},
                        "bytes": {"$sum": "$traffic.bytes"}}}],
    }
    sessions, traffic = [], []
    for match, index in store.ending_after(client_id, d0, d1, inclusive=True, start={"$lt": d1}):
        for out in store.sessions_aggregate([{"$match": match}, {"$facet": facet}], hint=index):
            sessions += out["sessions"]
            traffic += out["traffic"]
    for r in sessions:
        if not r["n"] and not r["viewed"]:
            continue  # only sessions that ended exactly at midnight
        protocol = r["_id"].get("protocol")
        for server in (str(r["_id"]["server"]), ALL):
            row = rows[server]
            if r["_id"].get("peer"):
                row["inter_server_connections"] += r["n"]
                continue
            row["connections"] += r["n"]
            if r["n"]:
                by = row["connections_by_protocol"]
                by[protocol] = by.get(protocol, 0) + r["n"]
            row["_view_ms"] += r["inside"]
            row["_viewed"] += r["viewed"]
    for r in traffic:
        for server in (str(r["_id"]["server"]), ALL):
            row = rows[server]
            if r["_id"].get("peer"):
                row["inter_server_bytes"] += r["bytes"]
                continue
            row["traffic_bytes"] += r["bytes"]
            t = r["_id"]["t"]
            row["_buckets"][t] = row["_buckets"].get(t, 0) + r["bytes"]
    rows[ALL]  # a day without sessions still has its (zero) figures
    out = {}
    for server, row in rows.items():
        buckets = row.pop("_buckets")
        viewed = row.pop("_viewed")
        row["total_view_time"] = row.pop("_view_ms") // 1000  # sessions are whole seconds
        peak_at = max(buckets, key=lambda t: (buckets[t], -t.timestamp())) if buckets else None
        row.update(
            avg_view_time=round(row["total_view_time"] / viewed, 1) if viewed else 0,
            peak_out_bps=buckets[peak_at] * 8 // BUCKET_SECONDS if peak_at else 0,
            peak_out_at=peak_at, peak_in_bps=None)
        out[server] = row
    return out


def recompute_day(client_id, day):
    """Recompute one day and replace its stored rows."""
    dirty = store.collection(store.DAILY_DIRTY)
    key = f"{client_id}:{day}"
    mark = dirty.find_one({"client_id": client_id, "_id": key})
    rows = compute_day(client_id, day)
    now = utcnow()
    daily = store.collection(store.DAILY_STATS)
    daily.bulk_write([ReplaceOne({"client_id": client_id, "_id": f"{client_id}:{server}:{day}"},
                                 {"client_id": client_id, "day": day.isoformat(), "server": server,
                                  "computed_at": now, **row}, upsert=True)
                      for server, row in rows.items()], ordered=False)
    daily.delete_many({"client_id": client_id, "day": day.isoformat(),
                       "server": {"$nin": list(rows)}})
    if mark is not None:
        # Only clear the mark we saw: data that arrived meanwhile marked it again.
        dirty.delete_one({"client_id": client_id, "_id": key, "v": mark["v"]})


def _stale_days(client_id, days, tracked):
    """The days to recompute before reading: marked, never computed, or (when
    the rollup fill does not track this client's changes) possibly stale."""
    names = [d.isoformat() for d in days]
    dirty = {d["day"] for d in store.collection(store.DAILY_DIRTY).find(
        {"client_id": client_id, "day": {"$in": names}}, {"day": 1})}
    stored = {d["day"]: d["computed_at"] for d in store.collection(store.DAILY_STATS).find(
        {"client_id": client_id, "day": {"$in": names}, "server": ALL}, {"day": 1, "computed_at": 1})}
    now, zone = utcnow(), _zone(client_id)
    refresh = timedelta(seconds=setting("VIEWSTATS_DAILY_REFRESH_SECONDS"))
    settle = timedelta(days=setting("VIEWSTATS_MAX_EVENT_AGE_DAYS") + 1)
    stale = []
    for day, name in zip(days, names):
        computed = stored.get(name)
        final = local_midnight(day, zone) + settle
        if name in dirty or computed is None or (
                not tracked and computed < final and computed < now - refresh):
            stale.append(day)
    return stale


def report(client_ids, first, last, servers=None):
    """Rows per (client, day, server) for days first..last, recomputing stale days."""
    if last < first:
        raise ValueError("date_to is before date_from")
    out = []
    for client_id in client_ids:
        today = utcnow().astimezone(_zone(client_id)).date()
        days = [first + timedelta(days=i) for i in range((min(last, today) - first).days + 1)]
        # A fill marks every day its changed sessions touch (rollups.fill_day).
        tracked = rollups.refresh(client_id)
        for day in _stale_days(client_id, days, tracked):
            recompute_day(client_id, day)
        match = {"client_id": client_id, "day": {"$gte": first.isoformat(), "$lte": last.isoformat()}}
        if servers:
            match["server"] = {"$in": [str(s) for s in servers]}
        for doc in store.collection(store.DAILY_STATS).find(match).sort([("day", 1), ("server", 1)]):
            doc.pop("_id")
            out.append(doc)
    return out


def parse_day(value, name, default):
    if not value:
        return default
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name}: expected YYYY-MM-DD, got {value!r}") from None
    return check_day(day, name)
