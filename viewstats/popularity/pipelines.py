"""The MongoDB aggregations behind the popularity commands.

Every pipeline starts with a `$match` whose first key is `client_id`, then
`end > window start` and `start < window end`: the `client_end` index
serves that range, so a run examines the client's sessions that end after
the window opens (the window plus today) and nothing older, however long
the history grows. Results come back grouped (one row per channel or per
programme), so memory in this process is bounded by the catalogue, not by
the number of sessions. Only operators documented for MongoDB 5.0 are used.

Durations are handled in milliseconds since the epoch (`$toLong` of a date)
so that clipping is plain integer arithmetic; sessions are whole seconds,
so every sum is a whole number of seconds.
"""
import uuid
from datetime import datetime, timedelta, timezone

from pymongo import ASCENDING, IndexModel

from .. import store

SESSION_INDEX = "client_end"
SCHEDULE = "popularity_schedule"
SCHEDULE_INDEXES = [
    IndexModel([("run", ASCENDING), ("channel_id", ASCENDING), ("begin", ASCENDING)],
               name="run_channel_begin"),
    # A crashed run's schedule is dropped by MongoDB after a day.
    IndexModel([("expires_at", ASCENDING)], name="schedule_ttl", expireAfterSeconds=0),
]


def session_match(client_id, window, filters, channel_ids=None):
    """The `$match` of one client's sessions overlapping `window`, filtered.

    `filters` has devices, tariffs (this client's ids) and, when only active
    accounts count, `active_account_ids` (a list; sessions without an
    account never match it). The list goes into the query as `$in`: MongoDB
    limits a command to 16 MB, which is roughly 900,000 account ids.
    """
    match = {"client_id": client_id, "end": {"$gt": window.start}, "start": {"$lt": window.end}}
    if filters.get("devices"):
        match["device_type"] = {"$in": list(filters["devices"])}
    if filters.get("tariffs"):
        match["tariff_ids"] = {"$in": list(filters["tariffs"])}
    if filters.get("active_account_ids") is not None:
        match["account_id"] = {"$in": list(filters["active_account_ids"])}
    if channel_ids is not None:
        match["channel_id"] = {"$in": list(channel_ids)}
    return match


def _clipped_ms(window):
    return {"$subtract": [{"$min": [{"$toLong": "$end"}, window.end_ms]},
                          {"$max": [{"$toLong": "$start"}, window.start_ms]}]}


def _aggregate(pipeline):
    options = {}
    if not store.is_embedded():
        # The planner could pick client_start (start < window end), which
        # reaches back over the whole history; client_end stops at the window.
        # (The embedded engine scans everything and ignores both options.)
        options = {"hint": SESSION_INDEX, "allowDiskUse": True}
    return store.sessions().aggregate(pipeline, **options)


def channel_totals_pipeline(match, window):
    return [
        {"$match": match},
        {"$project": {"_id": 0, "channel_id": 1, "ms": _clipped_ms(window)}},
        {"$match": {"ms": {"$gt": 0}}},
        {"$group": {"_id": "$channel_id", "watch_ms": {"$sum": "$ms"}, "sessions": {"$sum": 1}}},
    ]


def middle_ranks(count):
    """1-based ranks whose mean is the median of `count` sorted values."""
    return sorted({(count + 1) // 2, count // 2 + 1})


def channel_median_pipeline(match, window, counts):
    """Exact median per channel with operators MongoDB 5.0 has ($median is 7.0).

    The clipped durations are numbered within each channel in ascending
    order ($setWindowFields + $documentNumber, which streams after the sort,
    and the sort may spill to disk); only the one or two middle rows of each
    channel, known from `counts`, survive and are averaged. So the median is
    exact: a whole second, or a half second for an even number of sessions.
    """
    wanted = [{"channel_id": channel_id, "rank": {"$in": middle_ranks(count)}}
              for channel_id, count in sorted(counts.items())]
    if not wanted:
        return None
    return [
        {"$match": match},
        {"$project": {"_id": 0, "channel_id": 1, "ms": _clipped_ms(window)}},
        {"$match": {"ms": {"$gt": 0}}},
        {"$setWindowFields": {"partitionBy": "$channel_id", "sortBy": {"ms": 1},
                              "output": {"rank": {"$documentNumber": {}}}}},
        {"$match": {"$or": wanted}},
        {"$group": {"_id": "$channel_id", "median_ms": {"$avg": "$ms"}}},
    ]


def channel_metrics(client_id, window, filters):
    """{channel_id: {"watch_ms", "sessions", "median_ms"}} over the window.

    Two passes: totals per channel, then the median using those counts.
    """
    match = session_match(client_id, window, filters)
    rows = {row["_id"]: {"watch_ms": int(row["watch_ms"]), "sessions": int(row["sessions"])}
            for row in _aggregate(channel_totals_pipeline(match, window))}
    pipeline = channel_median_pipeline(match, window, {k: v["sessions"] for k, v in rows.items()})
    if pipeline:
        for row in _aggregate(pipeline):
            rows[row["_id"]]["median_ms"] = row["median_ms"]
    return rows


def max_timeshift_hours(match):
    rows = list(_aggregate([
        {"$match": {**match, "kind": "live", "timeshift_offset": {"$gt": 0}}},
        {"$group": {"_id": None, "hours": {"$max": "$timeshift_offset"}}},
    ]))
    return int(rows[0]["hours"] or 0) if rows else 0


def _write_schedule(run, programmes):
    """Copy the EPG rows a run needs into MongoDB, so the join happens there."""
    schedule = store.collection(SCHEDULE)
    schedule.create_indexes(SCHEDULE_INDEXES)
    expires = datetime.now(timezone.utc) + timedelta(days=1)
    batch, written = [], 0
    for programme_id, channel_id, begin, end in programmes:
        batch.append({"run": run, "channel_id": channel_id, "programme_id": programme_id,
                      "begin": _whole_ms(begin), "end": _whole_ms(end), "expires_at": expires})
        if len(batch) >= 5000:
            schedule.insert_many(batch)
            written += len(batch)
            batch = []
    if batch:
        schedule.insert_many(batch)
        written += len(batch)
    return written


def _whole_ms(instant):
    return int(instant.timestamp()) * 1000


def programme_pipeline(match, window, run):
    """Viewing time per programme: live overlap with its airtime, plus archive.

    Live viewing is clipped to the window, moved back by its timeshift offset
    to the airtime it showed, and joined ($lookup with let/pipeline; 5.0 uses
    the run_channel_begin index for the $expr comparisons) to the programmes
    of its channel that overlap it; each overlap counts for that programme.
    Archive viewing counts for the session's program_id in full (clipped to
    the window).
    """
    hour_ms = 3_600_000
    shift = {"$multiply": [{"$ifNull": ["$timeshift_offset", 0]}, hour_ms]}
    return [
        {"$match": match},
        {"$project": {
            "_id": 0, "channel_id": 1, "program_id": 1, "kind": 1,
            "s": {"$max": [{"$toLong": "$start"}, window.start_ms]},
            "e": {"$min": [{"$toLong": "$end"}, window.end_ms]},
            "shift": shift}},
        {"$match": {"$expr": {"$gt": ["$e", "$s"]}}},
        {"$lookup": {
            "from": SCHEDULE,
            "let": {"ch": "$channel_id", "kind": "$kind",
                    "air_start": {"$subtract": ["$s", "$shift"]},
                    "air_end": {"$subtract": ["$e", "$shift"]}},
            "pipeline": [
                {"$match": {"run": run, "$expr": {"$and": [
                    {"$eq": ["$$kind", "live"]},
                    {"$eq": ["$channel_id", "$$ch"]},
                    {"$lt": ["$begin", "$$air_end"]},
                    {"$gt": ["$end", "$$air_start"]}]}}},
                {"$project": {"_id": 0, "programme_id": 1, "begin": 1, "end": 1}}],
            "as": "aired"}},
        {"$project": {"parts": {"$cond": [
            {"$eq": ["$kind", "archive"]},
            [{"programme_id": "$program_id", "archive_ms": {"$subtract": ["$e", "$s"]}, "live_ms": 0}],
            {"$map": {"input": "$aired", "as": "p", "in": {
                "programme_id": "$$p.programme_id", "archive_ms": 0,
                "live_ms": {"$subtract": [
                    {"$min": [{"$subtract": ["$e", "$shift"]}, "$$p.end"]},
                    {"$max": [{"$subtract": ["$s", "$shift"]}, "$$p.begin"]}]}}}}]}}},
        {"$unwind": "$parts"},
        {"$match": {"parts.programme_id": {"$ne": None}}},
        {"$group": {"_id": "$parts.programme_id",
                    "live_ms": {"$sum": "$parts.live_ms"},
                    "archive_ms": {"$sum": "$parts.archive_ms"},
                    "sessions": {"$sum": 1}}},
    ]


def programme_metrics(client_id, window, filters, channel_ids, programmes_for):
    """{programme_id: {"live_ms", "archive_ms", "sessions"}} over the window.

    `programmes_for(start, end)` yields (id, channel_id, begin, end) of the
    programmes on the selected channels airing in [start, end); it is asked
    for the airtime live viewing in the window can have shown (the window
    reaching back by the largest timeshift offset seen).
    """
    match = session_match(client_id, window, filters, channel_ids=channel_ids)
    back = timedelta(hours=max_timeshift_hours(match))
    run = f"{client_id}:{uuid.uuid4().hex}"
    schedule = store.collection(SCHEDULE)
    try:
        _write_schedule(run, programmes_for(window.start - back, window.end))
        return {row["_id"]: {"live_ms": int(row["live_ms"]), "archive_ms": int(row["archive_ms"]),
                             "sessions": int(row["sessions"])}
                for row in _aggregate(programme_pipeline(match, window, run))}
    finally:
        schedule.delete_many({"run": run})
