"""Sessions, viewers and watch time broken down by channel, programme, device or country.

Per row: viewers (distinct accounts; a session without an account counts its
IP + User-Agent as the viewer), sessions, watch_time and its average per
session (seconds), bytes. sessions, watch_time and bytes are additive: the
totals equal the sum of the rows. Viewers are not: one viewer may watch
several channels, so the total counts each viewer of the whole range once.
With unique=True every figure is computed over unique sessions (see
unique.py) and rows also carry raw_sessions.

Where they can answer, the figures come from the rollups
(viewstats/rollups.py): one client, a range of whole local days, no `ip` or
`user_agent` filter and not unique. Their cells keep the viewer, so the
figures are the same as from raw sessions, to the session. Otherwise the raw
sessions of the range are read. `computed_from` in the report says which.
"""
from datetime import timedelta
from zoneinfo import ZoneInfo

from .. import host, rollups, store
from .filters import local_midnight
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
# Dimensions whose rows are few (bounded by a catalogue), so rows and totals
# fit one $facet result document (16 MB); programmes may not.
FACETED = ("channel", "device", "country", "protocol")
ADDITIVE = ("sessions", "watch_time", "bytes", "raw_sessions")
VIEWER = rollups.VIEWER


def aggregate(pipeline):
    # Grouping a big operator's month may pass the 100 MB stage limit.
    options = {} if store.is_embedded() else {"allowDiskUse": True}
    return store.sessions().aggregate(pipeline, **options)


class Source:
    """Where a report's figures come from: raw sessions or the rollup cells."""

    def __init__(self, filters, unique=False, use_rollups=True):
        self.filters, self.unique = filters, unique
        self.days = cell_days(filters) if use_rollups and not unique else None
        self.cells = self.days is not None

    @property
    def name(self):
        return "rollups" if self.cells else "sessions"

    def aggregate(self, pipeline):
        if self.cells:
            return rollups.cells().aggregate(pipeline)
        return aggregate(pipeline)

    def stages(self, dimension=None):
        """Stages giving the documents to group: cells, sessions or unique sessions (with `dimension`'s fields)."""
        if self.cells:
            match = self.filters.match()
            del match["start"]
            match["day"] = {"$gte": self.days[0].isoformat(), "$lte": self.days[1].isoformat()}
            return [{"$match": match}]
        stages = [{"$match": self.filters.match()}]
        if self.unique:
            # The viewer is the first session's, as every carried field.
            carried = sorted(_fields(DIMENSIONS[dimension])) if dimension else ()
            stages += merge_stages(carried=carried, first={"v": VIEWER})
        return stages

    def viewer(self):
        return "$v" if self.cells or self.unique else VIEWER

    def sums(self):
        if self.cells:
            return {m: {"$sum": f"${m}"} for m in ("sessions", "watch_time", "bytes")}
        return {"sessions": {"$sum": 1}, "watch_time": {"$sum": "$duration"},
                "bytes": {"$sum": {"$ifNull": ["$bytes", 0]}},
                "raw_sessions": {"$sum": "$raw_sessions" if self.unique else 1}}

    def additive(self):
        return [m for m in ADDITIVE if m in self.sums()]


def _fields(expression):
    """Top-level session fields an expression reads ("$ua.type" reads `ua`; "$$" variables none)."""
    if isinstance(expression, str):
        if expression.startswith("$") and not expression.startswith("$$"):
            return {expression[1:].split(".")[0]}
        return set()
    if isinstance(expression, dict):
        expression = list(expression.values())
    if isinstance(expression, list):
        return set().union(*map(_fields, expression))
    return set()


def cell_days(filters):
    """(first, last) local days when the rollups can answer `filters`, else None."""
    if len(filters.client_ids) != 1 or any(getattr(filters, f) for f in rollups.RAW_ONLY_FILTERS):
        return None
    client_id = filters.client_ids[0]
    tz = ZoneInfo(host.client_time_zone(client_id))
    first = filters.start.astimezone(tz).date()
    last = (filters.end - timedelta(microseconds=1)).astimezone(tz).date()
    if local_midnight(first, tz) != filters.start or local_midnight(last + timedelta(days=1), tz) != filters.end:
        return None  # instants that are not local midnights: only sessions know
    if not rollups.refresh(client_id):
        return None
    return first, last


def _by_row_and_viewer(source, key):
    return {"$group": {"_id": {"k": key, "v": source.viewer()}, **source.sums()}}


def _rows_of_pairs(source):
    """Stages turning (row, viewer) documents into rows, largest first."""
    return [
        {"$group": {"_id": "$_id.k", "viewers": {"$sum": 1},
                    **{m: {"$sum": f"${m}"} for m in source.sums()}}},
        {"$sort": {"sessions": -1, "watch_time": -1, "_id": 1}},
    ]


def _totals_of_pairs(source):
    """Stages turning (row, viewer) documents into the totals: each viewer once, whatever their rows."""
    sums = {m: {"$sum": f"${m}"} for m in source.sums()}
    return [
        {"$group": {"_id": "$_id.v", **sums}},
        {"$group": {"_id": None, "viewers": {"$sum": 1}, **sums}},
    ]


def _group_rows(source, key):
    return [_by_row_and_viewer(source, key)] + _rows_of_pairs(source)


def _group_totals(source):
    sums = source.sums()
    return [
        {"$group": {"_id": source.viewer(), **sums}},
        {"$group": {"_id": None, "viewers": {"$sum": 1}, **{m: {"$sum": f"${m}"} for m in sums}}},
    ]


def pipeline(filters, dimension, unique=False):
    source = Source(filters, unique)
    return source.stages(dimension) + _group_rows(source, DIMENSIONS[dimension])


def _totals_row(rows, source):
    row = rows[0] if rows else {"viewers": 0, **{m: 0 for m in source.additive()}}
    return _finish({k: v for k, v in row.items() if k != "_id"}, source.unique)


def totals(filters, unique=False, use_rollups=True):
    source = Source(filters, unique, use_rollups)
    return _totals_row(list(source.aggregate(source.stages() + _group_totals(source))), source)


def _finish(row, unique):
    row["avg_watch_time"] = round(row["watch_time"] / row["sessions"], 1) if row["sessions"] else 0
    if not unique:
        row.pop("raw_sessions", None)
    return row


def _compute(source, dimension):
    """(raw rows, totals) in one pass where the rows are few, else two."""
    key = DIMENSIONS[dimension]
    if dimension in FACETED:
        # One pass over the sessions (or cells) to (row, viewer) pairs; rows
        # and totals are both sums of the pairs.
        out = list(source.aggregate(source.stages(dimension) + [
            _by_row_and_viewer(source, key),
            {"$facet": {"rows": _rows_of_pairs(source), "totals": _totals_of_pairs(source)}}]))
        facet = out[0] if out else {"rows": [], "totals": []}
        return facet["rows"], _totals_row(facet["totals"], source)
    rows = list(source.aggregate(source.stages(dimension) + _group_rows(source, key)))
    return rows, _totals_row(list(source.aggregate(source.stages() + _group_totals(source))), source)


def _label_rows(filters, dimension, raw, unique):
    labels = _labels(filters.client_ids, dimension, raw)
    names = list(DIMENSIONS[dimension])
    for r in raw:
        # A missing field and null are one value: say null either way.
        row = {name: None for name in names}
        row.update(r.pop("_id"))
        row.update(labels(row))
        row.update(r)
        yield _finish(row, unique)


def rows(filters, dimension, unique=False, use_rollups=True):
    """Yield the breakdown rows (labelled), largest first."""
    source = Source(filters, unique, use_rollups)
    raw = list(source.aggregate(source.stages(dimension) + _group_rows(source, DIMENSIONS[dimension])))
    yield from _label_rows(filters, dimension, raw, unique)


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


def report(filters, dimension, unique=False, use_rollups=True):
    """The breakdown; `use_rollups=False` reads raw sessions whatever the range."""
    source = Source(filters, unique, use_rollups)
    raw, total = _compute(source, dimension)
    return {"report": dimension, "unique": unique, "filters": filters.as_dict(),
            "rows": list(_label_rows(filters, dimension, raw, unique)), "totals": total,
            "additive": source.additive(), "computed_from": source.name}
