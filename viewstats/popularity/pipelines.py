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
from dataclasses import dataclass
from datetime import timedelta

from .. import store
from ..conf import setting
from ..documents import VIEWING

SESSION_INDEX = "client_end"


def session_match(client_id, window, filters, channel_ids=None):
    """The `$match` of one client's sessions overlapping `window`, filtered.

    `filters` has devices, tariffs (this client's ids) and, when only active
    accounts count, `active_account_ids` (a list; sessions without an
    account never match it). The list goes into the query as `$in`: MongoDB
    limits a command to 16 MB, which is roughly 900,000 account ids.
    """
    match = {"client_id": client_id, "end": {"$gt": window.start}, "start": {"$lt": window.end},
             **VIEWING}
    if filters.get("devices"):
        match["device_type"] = {"$in": list(filters["devices"])}
    if filters.get("tariffs"):
        match["tariff_ids"] = {"$in": list(filters["tariffs"])}
    if filters.get("active_account_ids") is not None:
        match["account_id"] = {"$in": list(filters["active_account_ids"])}
    # Media-server sessions of a stream that maps to no channel have none.
    match["channel_id"] = {"$in": list(channel_ids)} if channel_ids is not None else {"$ne": None}
    return match


def _clipped_ms(window):
    return {"$subtract": [{"$min": [{"$toLong": "$end"}, window.end_ms]},
                          {"$max": [{"$toLong": "$start"}, window.start_ms]}]}


def _aggregate(pipeline):
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


DAY_MS = 86_400_000
# Programmes carried in one pipeline; bounds the size of the command (about
# 40 bytes of BSON a programme, so ~0.8 MB) whatever the catalogue size.
SCHEDULE_CHUNK = 20_000


@dataclass
class ScheduleGrid:
    """Programmes of some channels as a literal the pipeline indexes into.

    `cells[c * days + d]` lists [begin_ms, end_ms, programme_id] of the
    programmes of channel `channels[c]` that overlap day `d` after `base_ms`.
    A session finds its candidates by arithmetic ($indexOfArray over the
    channel list, $arrayElemAt into the cells), so the join costs a few
    programmes per session instead of a scan of the schedule.
    """
    channels: list
    base_ms: int
    days: int
    cells: list


def schedule_grids(programmes, start, end, chunk=None):
    """Split (id, channel_id, begin, end) rows into grids of whole channels."""
    chunk = chunk or SCHEDULE_CHUNK
    base_ms = int(start.timestamp() * 1000) // DAY_MS * DAY_MS
    days = max(1, -(-(int(end.timestamp() * 1000) - base_ms) // DAY_MS))
    by_channel = {}
    for programme_id, channel_id, begin, finish in programmes:
        by_channel.setdefault(channel_id, []).append((_whole_ms(begin), _whole_ms(finish), programme_id))
    grid, size = None, 0
    for channel_id in sorted(by_channel):
        rows = by_channel[channel_id]
        if grid is None or (size + len(rows) > chunk and grid.channels):
            if grid is not None:
                yield grid
            grid, size = ScheduleGrid([], base_ms, days, []), 0
        grid.channels.append(channel_id)
        cells = [[] for _ in range(days)]
        for begin_ms, end_ms, programme_id in rows:
            first = max(0, (begin_ms - base_ms) // DAY_MS)
            last = min(days - 1, (end_ms - 1 - base_ms) // DAY_MS)
            for day in range(first, last + 1):
                cells[day].append([begin_ms, end_ms, programme_id])
        grid.cells.extend(cells)
        size += len(rows)
    if grid is not None and grid.channels:
        yield grid


def _whole_ms(instant):
    return int(instant.timestamp()) * 1000


def live_programme_pipeline(match, window, grid):
    """Live viewing time per programme of the grid's channels.

    Live viewing is clipped to the window and moved back by its timeshift
    offset to the airtime it showed; every programme of its channel airing
    then gets the overlap. A session is looked up in the grid cells of the
    days its airtime spans; $setUnion drops a programme met on two days.
    """
    hour_ms = 3_600_000
    day = lambda expr: {"$toInt": {"$floor": {"$divide": [  # noqa: E731
        {"$subtract": [expr, grid.base_ms]}, DAY_MS]}}}
    p = lambda i: {"$arrayElemAt": ["$$p", i]}  # noqa: E731
    return [
        {"$match": {**match, "kind": "live", "channel_id": {"$in": grid.channels}}},
        {"$project": {
            "_id": 0, "channel_id": 1,
            "s": {"$max": [{"$toLong": "$start"}, window.start_ms]},
            "e": {"$min": [{"$toLong": "$end"}, window.end_ms]},
            "shift": {"$multiply": [{"$ifNull": ["$timeshift_offset", 0]}, hour_ms]}}},
        {"$match": {"$expr": {"$gt": ["$e", "$s"]}}},
        {"$project": {
            "a0": {"$subtract": ["$s", "$shift"]},
            "a1": {"$subtract": ["$e", "$shift"]},
            "row": {"$multiply": [{"$indexOfArray": [grid.channels, "$channel_id"]}, grid.days]}}},
        {"$project": {"a0": 1, "a1": 1, "row": 1,
                      "d0": {"$max": [0, day("$a0")]},
                      "d1": {"$min": [grid.days - 1, day({"$subtract": ["$a1", 1]})]}}},
        {"$project": {"a0": 1, "a1": 1, "candidates": {"$setUnion": [{"$reduce": {
            # The days d0..d1 ($range is avoided: the embedded engine lacks it).
            "input": {"$filter": {"input": {"$literal": list(range(grid.days))}, "as": "i",
                                  "cond": {"$lte": ["$$i", {"$subtract": ["$d1", "$d0"]}]}}},
            "initialValue": [],
            "in": {"$concatArrays": ["$$value", {"$arrayElemAt": [
                {"$literal": grid.cells}, {"$add": ["$row", "$d0", "$$this"]}]}]}}}]}}},
        {"$project": {"parts": {"$map": {
            "input": {"$filter": {"input": "$candidates", "as": "p", "cond": {"$and": [
                {"$lt": [p(0), "$a1"]}, {"$gt": [p(1), "$a0"]}]}}},
            "as": "p",
            "in": {"programme_id": p(2),
                   "ms": {"$subtract": [{"$min": [p(1), "$a1"]}, {"$max": [p(0), "$a0"]}]}}}}}},
        {"$unwind": "$parts"},
        {"$group": {"_id": "$parts.programme_id", "ms": {"$sum": "$parts.ms"}, "sessions": {"$sum": 1}}},
    ]


def archive_programme_pipeline(match, window):
    """Archive viewing time per programme: the session's own program_id."""
    return [
        {"$match": {**match, "kind": "archive", "program_id": {"$ne": None}}},
        {"$project": {"_id": 0, "program_id": 1, "ms": _clipped_ms(window)}},
        {"$match": {"ms": {"$gt": 0}}},
        {"$group": {"_id": "$program_id", "ms": {"$sum": "$ms"}, "sessions": {"$sum": 1}}},
    ]


def programme_metrics(client_id, window, filters, channel_ids, programmes_for):
    """{programme_id: {"live_ms", "archive_ms", "sessions"}} over the window.

    `programmes_for(start, end)` yields (id, channel_id, begin, end) of the
    programmes on the selected channels airing in [start, end); it is asked
    for the airtime live viewing in the window can have shown (the window
    reaching back by the largest timeshift offset seen).
    """
    match = session_match(client_id, window, filters, channel_ids=channel_ids)
    # Ingestion caps timeshift; the clamp keeps an older, larger value from
    # stretching the schedule grid.
    back = timedelta(hours=min(max_timeshift_hours(match), setting("VIEWSTATS_MAX_TIMESHIFT_HOURS")))
    totals = {}

    def add(rows, field):
        for row in rows:
            entry = totals.setdefault(row["_id"], {"live_ms": 0, "archive_ms": 0, "sessions": 0})
            entry[field] += int(row["ms"])
            entry["sessions"] += int(row["sessions"])

    add(_aggregate(archive_programme_pipeline(match, window)), "archive_ms")
    for grid in schedule_grids(programmes_for(window.start - back, window.end), window.start - back,
                               window.end):
        add(_aggregate(live_programme_pipeline(match, window, grid)), "live_ms")
    return totals
