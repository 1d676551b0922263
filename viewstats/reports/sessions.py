"""The raw session list: one row per stored session, paginated with a cursor.

Sortable by start, end or duration, ascending or descending (`-start`, the
newest first, by default); ties are broken by `_id`, so the cursor (the
last row's sort value and `_id`) resumes exactly after the last row even
while new sessions arrive.

What a page costs on a real server (the indexes are in store.INDEXES):
    start     `client_start_id` holds (client_id, start, _id): the range and
              the order come from the index, and the cursor narrows the
              range to what is left, so a page reads about one page of keys
              (plus the sessions the other filters drop, and those sharing
              the cursor's start instant).
    end       `client_end_id` holds (client_id, end, _id). A session that
              started in [from, to) and lasted at most
              store.LONG_SESSION_SECONDS ended in [from, to + that), so the
              index range is bounded on both sides. A page reads about a
              page of keys, except next to `to`, where it steps over the
              sessions that ended within that day after `to` but started
              after it (and those overlapping `from`). The few longer
              sessions that end beyond it come from the partial
              `client_long_start` (the long sessions started in the range,
              sorted by the server), after the others when ascending and
              before them when descending.
    duration  no index orders it within a start range: the sessions that
              started in the range are read through `client_start_id` and
              sorted, so every page reads the whole range (not the history).
              The sort may spill to disk for a long range.
A list filtered by viewer address or account, whatever its sort, reads just
those sessions of the range (`client_ip_start`, `client_account_start`: a
household's viewing) and sorts them, rather than step through the whole
range for the few rows that match.
"""
import base64
import json
import math
from datetime import datetime, timedelta

from .. import store
from .filters import FilterError
from ..conf import setting

SORTS = ("start", "end", "duration")
COLUMNS = ("id", "client_id", "source", "protocol", "server_id", "start", "end", "duration",
           "channel_id", "media", "program_id", "kind", "account_id", "device_type",
           "ua_type", "ua_brand", "ua_model", "ua_app", "ip", "user_agent", "country", "bytes")
PROJECTION = {"traffic": 0, "x_user_agent": 0, "token": 0, "media_state": 0}
START_INDEX, END_INDEX, LONG_START_INDEX = "client_start_id", "client_end_id", "client_long_start"
IP_INDEX, ACCOUNT_INDEX = "client_ip_start", "client_account_start"


def parse_sort(value):
    value = value or "-start"
    field = value.lstrip("-")
    if field not in SORTS:
        raise FilterError(f"sort: expected one of {', '.join(SORTS)} (prefix - for descending)")
    return field, -1 if value.startswith("-") else 1


def encode_cursor(value, _id):
    raw = json.dumps([value.isoformat() if isinstance(value, datetime) else value, _id])
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_cursor(cursor, field):
    """(sort value, _id) of a cursor made by encode_cursor, or FilterError.

    Both go into the query as they are, so anything but a plain value of the
    field's type is refused: a crafted cursor must not inject an operator
    such as {"$gte": 0}.
    """
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(decoded, list) or len(decoded) != 2 or not isinstance(decoded[1], str):
            raise TypeError
        value, _id = decoded
        if field in ("start", "end"):
            value = datetime.fromisoformat(value)
            if value.tzinfo is None:
                raise TypeError
        elif not _number(value):
            raise TypeError
        return value, _id
    except (ValueError, TypeError):
        raise FilterError("cursor: not a cursor this API returned") from None


def _number(value):
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -2 ** 63 <= value < 2 ** 63
    return isinstance(value, float) and math.isfinite(value)


def query(filters, sort="-start", cursor=None):
    """[(match, index)] to read in turn, and the sort order they share.

    The parts never overlap and each one's rows sort wholly before the next
    one's, so reading them in turn is reading the list in order.
    """
    field, direction = parse_sort(sort)
    match = filters.match()
    if cursor:
        value, _id = decode_cursor(cursor, field)
        op = "$gt" if direction == 1 else "$lt"
        # The plain bound lets the index range itself start at the cursor;
        # the $or then only sorts out the rows sharing its value.
        match["$and"] = [{field: {"$gte" if direction == 1 else "$lte": value}},
                         {"$or": [{field: {op: value}}, {field: value, "_id": {op: _id}}]}]
    order = [(field, direction), ("_id", direction)]
    narrow = IP_INDEX if filters.ip else ACCOUNT_INDEX if filters.account else None
    if narrow or field != "end":
        return [(match, narrow or START_INDEX)], order
    longest = timedelta(seconds=store.LONG_SESSION_SECONDS)
    # end >= start >= from for every session (each source refuses end < start).
    usual = {**match, "end": {"$gte": filters.start, "$lt": filters.end + longest}}
    # Ending that late after starting before `to`, a session is longer than
    # `longest`; naming the duration is what lets the partial index serve it.
    late = {**match, "end": {"$gte": filters.end + longest},
            "duration": {"$gt": store.LONG_SESSION_SECONDS}}
    parts = [(usual, END_INDEX), (late, LONG_START_INDEX)]
    return (parts if direction == 1 else parts[::-1]), order


def iterate(filters, sort="-start", cursor=None, limit=None):
    """Sessions in order, streamed from the database cursor (never all in memory)."""
    parts, order = query(filters, sort, cursor)
    left = limit or None
    for match, index in parts:
        found = store.sessions().find(match, PROJECTION).sort(order).hint(index)
        if not store.is_embedded():
            found = found.batch_size(1000)
            if order[0][0] == "duration":
                # A long range sorted by duration may not fit the 100 MB sort memory.
                found = found.allow_disk_use(True)
        if left is not None:
            found = found.limit(left)
        for doc in found:
            yield row(doc)
            if left is not None:
                left -= 1
        if left == 0:
            return


def row(doc):
    ua = doc.get("ua") or {}
    out = {c: doc.get(c) for c in COLUMNS}
    out.update(id=doc["_id"], ua_type=ua.get("type"), ua_brand=ua.get("brand"),
               ua_model=ua.get("model"), ua_app=ua.get("app"))
    return out


def page(filters, sort="-start", cursor=None, limit=None):
    try:
        limit = min(int(limit or setting("VIEWSTATS_PAGE_SIZE")),
                    setting("VIEWSTATS_PAGE_SIZE_MAX"))
    except ValueError:
        raise FilterError(f"limit: expected a whole number, got {limit!r}") from None
    if limit < 1:
        raise FilterError("limit: must be at least 1")
    rows = list(iterate(filters, sort, cursor, limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    field, _ = parse_sort(sort)
    next_cursor = encode_cursor(rows[-1][field], rows[-1]["id"]) if more else None
    return {"report": "sessions", "filters": filters.as_dict(), "sort": sort or "-start",
            "rows": rows, "next": next_cursor}
