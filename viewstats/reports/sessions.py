"""The raw session list: one row per stored session, paginated with a cursor.

Sortable by start, end or duration, ascending or descending (`-start`, the
newest first, by default); ties are broken by `_id`, so the cursor (the
last row's sort value and `_id`) resumes exactly after the last row even
while new sessions arrive.
"""
import base64
import json
import math
from datetime import datetime

from .. import store
from .filters import FilterError
from ..conf import setting

SORTS = ("start", "end", "duration")
COLUMNS = ("id", "client_id", "source", "protocol", "server_id", "start", "end", "duration",
           "channel_id", "media", "program_id", "kind", "account_id", "device_type",
           "ua_type", "ua_brand", "ua_model", "ua_app", "ip", "user_agent", "country", "bytes")
PROJECTION = {"traffic": 0, "x_user_agent": 0, "token": 0}


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
    field, direction = parse_sort(sort)
    match = filters.match()
    if cursor:
        value, _id = decode_cursor(cursor, field)
        op = "$gt" if direction == 1 else "$lt"
        match["$or"] = [{field: {op: value}}, {field: value, "_id": {op: _id}}]
    return match, [(field, direction), ("_id", direction)]


def iterate(filters, sort="-start", cursor=None, limit=None):
    """Sessions in order, streamed from the database cursor (never all in memory)."""
    match, order = query(filters, sort, cursor)
    found = store.sessions().find(match, PROJECTION).sort(order)
    if not store.is_embedded():
        found = found.batch_size(1000)
    if limit:
        found = found.limit(limit)
    for doc in found:
        yield row(doc)


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
