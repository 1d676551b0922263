"""Sessions, viewers and watch time broken down by channel, programme, device or country.

Per row: viewers (distinct accounts; a session without an account counts its
IP + User-Agent as the viewer), sessions, watch_time and its average per
session (seconds), bytes. sessions, watch_time and bytes are additive: the
totals equal the sum of the rows. Viewers are not: one viewer may watch
several channels, so the total counts each viewer of the whole range once.
With unique=True every figure is computed over unique sessions (see
unique.py) and rows also carry raw_sessions.
"""
from .. import host, store
from .unique import merge_stages

DIMENSIONS = {
    "channel": {"channel_id": "$channel_id",
                "media": {"$cond": [{"$eq": [{"$ifNull": ["$channel_id", None]}, None]},
                                    "$media", None]}},
    "programme": {"channel_id": "$channel_id", "program_id": "$program_id"},
    "device": {"device_type": "$device_type", "type": "$ua.type", "brand": "$ua.brand",
               "model": "$ua.model", "app": "$ua.app"},
    "country": {"country": "$country"},
    "protocol": {"source": "$source", "protocol": "$protocol"},
}
ADDITIVE = ("sessions", "watch_time", "bytes", "raw_sessions")

# The $cond (not $ifNull over $toString) keeps a missing account from
# becoming the string "null" on engines that stringify null.
VIEWER = {"$cond": [{"$eq": [{"$ifNull": ["$account_id", None]}, None]},
                    {"$concat": ["ip:", {"$ifNull": ["$ip", ""]}, "|",
                                 {"$ifNull": ["$user_agent", ""]}]},
                    {"$concat": ["a:", {"$toString": "$account_id"}]}]}


def aggregate(pipeline):
    # Grouping a big operator's month may pass the 100 MB stage limit.
    options = {} if store.is_embedded() else {"allowDiskUse": True}
    return store.sessions().aggregate(pipeline, **options)


def base_stages(filters, unique=False):
    stages = [{"$match": filters.match()}]
    if unique:
        stages += merge_stages()
    return stages


def _sums(n_expr):
    return {"sessions": {"$sum": 1}, "watch_time": {"$sum": "$duration"},
            "bytes": {"$sum": {"$ifNull": ["$bytes", 0]}}, "raw_sessions": {"$sum": n_expr}}


def pipeline(filters, dimension, unique=False):
    key = DIMENSIONS[dimension]
    return base_stages(filters, unique) + [
        {"$group": {"_id": {"k": key, "v": VIEWER}, **_sums("$raw_sessions" if unique else 1)}},
        {"$group": {"_id": "$_id.k", "viewers": {"$sum": 1},
                    **{m: {"$sum": f"${m}"} for m in ADDITIVE}}},
        {"$sort": {"sessions": -1, "watch_time": -1}},
    ]


def totals(filters, unique=False):
    rows = list(aggregate(base_stages(filters, unique) + [
        {"$group": {"_id": VIEWER, **_sums("$raw_sessions" if unique else 1)}},
        {"$group": {"_id": None, "viewers": {"$sum": 1},
                    **{m: {"$sum": f"${m}"} for m in ADDITIVE}}},
    ]))
    row = rows[0] if rows else {"viewers": 0, **{m: 0 for m in ADDITIVE}}
    return _finish({k: v for k, v in row.items() if k != "_id"}, unique)


def _finish(row, unique):
    row["avg_watch_time"] = round(row["watch_time"] / row["sessions"], 1) if row["sessions"] else 0
    if not unique:
        row.pop("raw_sessions", None)
    return row


def rows(filters, dimension, unique=False):
    """Yield the breakdown rows (labelled), largest first."""
    raw = list(aggregate(pipeline(filters, dimension, unique)))
    labels = _labels(filters.client_ids, dimension, raw)
    for r in raw:
        row = dict(r.pop("_id"))
        row.update(labels(row))
        row.update(r)
        yield _finish(row, unique)


def _labels(client_ids, dimension, raw):
    if dimension in ("channel", "programme"):
        names = host.channel_names(client_ids)
        titles = (host.programme_titles(client_ids, [r["_id"].get("program_id") for r in raw
                                                 if r["_id"].get("program_id")])
                  if dimension == "programme" else {})

        def label(row):
            out = {"channel": names.get(row["channel_id"]) or row.get("media") or "unknown"}
            if dimension == "programme":
                out["programme"] = titles.get(row["program_id"], "")
            return out
        return label
    return lambda row: {}


def report(filters, dimension, unique=False):
    return {"report": dimension, "unique": unique, "filters": filters.as_dict(),
            "rows": list(rows(filters, dimension, unique)), "totals": totals(filters, unique),
            "additive": [m for m in ADDITIVE if unique or m != "raw_sessions"]}
