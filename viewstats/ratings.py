"""Audience ratings per channel (or programme): average audience, rating, share, reach.

The figures TV panels publish (OzTAM, Finnpanel, AGF, Nielsen), computed for
an operator's whole base from its sessions, over a period of local days and
an optional daily time band (``19:00-23:00``, operator-local, may cross
midnight). Units are accounts and seconds; every figure is exact to the
millisecond of viewing, not minute-rounded:

- *watch time*: the part of every session of an account inside the period
  and the band, summed. A session counts for what it overlaps, wherever it
  started; the band is clipped in real elapsed time (a 01:00-03:00 band on
  the 23-hour day the clocks go forward is one hour long, on the 25-hour
  day two passes of 01:xx make it three).
- *average audience* (average-minute audience, AMA): watch time ÷ the length
  of period∩band, in accounts (the mean number of accounts watching at an
  instant of the band).
- *rating %*: average audience ÷ universe × 100.
- *share %*: the row's average audience ÷ the average audience of all
  channels (the same period, band and filters) × 100; rows add up to 100.
- *reach*: distinct accounts with at least one session of the row lasting
  `threshold` or more (default 60 s) inside one interval of the band
  (consecutive viewing; two sessions are never added together, even back to
  back); also as % of the universe.
- *average time spent* (ATS) per reached viewer: the row's watch time ÷
  reach (every account's viewing, reached or not, is in the watch time).
- *universe*: accounts active at any time in the period (an active period
  of the host's status history overlaps it; Account.active_periods). The
  host contract has no channel↔tariff mapping, so a universe of accounts
  able to receive a channel (`universe=tariff`) cannot be computed: it is
  refused and the output says so. Filters narrow the viewing counted, not
  the universe.

Viewing without an account (a media-server stream counted by IP address and
User-Agent) is left out: the universe is accounts. All viewing of a channel
counts at the time it happened (live, timeshifted and archive; `kind=live`
keeps live only). No cap is applied to long sessions: a box left on counts
as reported.

Only raw sessions can answer (rollup cells hold whole sessions per local
start day, never the part inside a band), so each run reads the sessions
overlapping period∩band through store.ending_after (two bounded index
ranges, as daily statistics do) and groups per (row, account) and per
account in MongoDB with 5.0 operators. Which band interval a session's start
and end fall in is found by a balanced $cond tree (log2 of the number of
intervals comparisons), whose leaves carry the interval's bounds and the
band time before it, so a session's part inside the band costs a few
additions whatever the period's length. Long sessions (over a day) come from
the second index range; the accounts they share with the first are
reconciled from small per-(row, account) results, so reach stays distinct.
"""
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from . import host, store
from .reports.filters import FilterError, local_midnight, parse_filters, zone_for
from .reports.periods import from_params

UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MS = timedelta(milliseconds=1)

BY = ("channel", "programme")
UNIVERSES = ("active", "tariff")
FILTERS = ("device_type", "tariff", "country", "kind")
KINDS = ("live", "archive")
PARAMS = ("client", "date_from", "date_to", "band", "threshold", "universe", "by", "channel") + FILTERS
# Report parameters that mean something elsewhere but not here: naming one is
# an error, so nobody takes a figure for filtered when it is not.
REFUSED = ("from", "to", "programme", "category", "source", "protocol", "account", "server",
           "brand", "model", "ip", "user_agent", "unique", "step", "sort", "cursor", "limit")
DEFAULT_THRESHOLD_SECONDS = 60
MAX_THRESHOLD_SECONDS = 86400
TARIFF_UNIVERSE_MISSING = (
    "not available: the host contract (viewstats.contract.Host) has no channel-to-tariff "
    "mapping, so which accounts could receive a channel is unknown; only universe=active "
    "(accounts active in the period) is supported")

DEFINITIONS = {
    "watch_time": "Seconds of viewing inside the period and the band: the part of every session "
                  "that overlaps them, summed over the row's sessions (accounts only).",
    "average_audience": "Average audience (average-minute audience, AMA): watch time ÷ the length "
                        "of the band within the period (real elapsed time, DST included), in "
                        "accounts: how many accounts were watching at an average instant.",
    "rating": "Rating %: average audience ÷ universe × 100.",
    "share": "Share %: the row's average audience ÷ the average audience of all channels in the "
             "same period, band and filters × 100.",
    "reach": "Reach: distinct accounts with at least one session of the row that lasted the "
             "threshold or more inside one interval of the band (consecutive viewing within one "
             "session; sessions are not added together). Reach % is reach ÷ universe × 100.",
    "ats": "Average time spent per reached viewer: the row's watch time ÷ its reach, in seconds.",
    "viewers": "Accounts with any viewing of the row inside the period and band.",
    "universe": "Accounts active at any time in the period (one of the host's active periods of "
                "the account overlaps it). Filters narrow the viewing counted, not the universe.",
    "band": "The daily time band in the operator's local time, [from, to): an instant is in it "
            "when the operator's clock shows a time from its start up to its end; a band crossing "
            "midnight runs into the next day. The band inside the period is its intersection "
            "with the period's local days, so the first day's early hours belong to the night "
            "that began the day before and the last night ends at the period's end.",
    "accounts_only": "Viewing without an account (counted elsewhere by IP address and User-Agent) "
                     "is left out of ratings: the universe is accounts.",
}


class RatingsError(FilterError):
    """A bad parameter; the message starts with its name ("band: …")."""


# ------------------------------------------------------------------ parameters

_TIME = r"(\d{1,2})(?::(\d{2}))?"
_BAND = re.compile(rf"^\s*{_TIME}\s*[-–]\s*{_TIME}\s*$")
_THRESHOLD = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(s|sec|m|min)?\s*$", re.I)


@dataclass(frozen=True)
class Band:
    """A daily time band [start, end) in minutes after local midnight; end <= start crosses midnight."""

    start: int
    end: int

    @property
    def whole_day(self):
        return self.start == 0 and self.end == 1440

    @property
    def crosses_midnight(self):
        return self.end <= self.start

    def text(self):
        return f"{_hhmm(self.start)}-{_hhmm(self.end)}"


WHOLE_DAY = Band(0, 1440)


def _hhmm(minutes):
    return f"{minutes // 60:02}:{minutes % 60:02}"


def parse_band(value):
    """`HH:MM-HH:MM` (operator-local; `to` may be 24:00; 22:00-02:00 crosses midnight); '' = whole day."""
    value = (value or "").strip()
    if value.lower() in ("", "all", "whole", "day"):
        return WHOLE_DAY
    found = _BAND.match(value)
    if not found:
        raise RatingsError(f"band: expected HH:MM-HH:MM in the operator's local time (e.g. 19:00-23:00 or "
                           f"19-23, or 22:00-02:00 across midnight), got {value!r}")
    h1, m1, h2, m2 = (int(x or 0) for x in found.groups())  # "19-23" is 19:00-23:00
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
        raise RatingsError(f"band: {value!r} is not a time of day (00:00 to 23:59, and 24:00 as an end)")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start == end:
        raise RatingsError(f"band: {value!r} starts where it ends; 00:00-24:00 is the whole day")
    return Band(start, end)


def parse_threshold(value):
    """Milliseconds of a reach threshold: minutes (`1`, `0.5`) or seconds (`90s`); default 60 s."""
    value = (value or "").strip()
    if not value:
        return DEFAULT_THRESHOLD_SECONDS * 1000
    found = _THRESHOLD.match(value)
    if not found:
        raise RatingsError(f"threshold: expected minutes (1, 0.5) or seconds (30s), got {value!r}")
    number, unit = float(found.group(1)), (found.group(2) or "m").lower()
    seconds = number if unit.startswith("s") else number * 60
    if not 1 <= seconds <= MAX_THRESHOLD_SECONDS:
        raise RatingsError(f"threshold: between 1 second and {MAX_THRESHOLD_SECONDS // 3600} hours, "
                           f"got {value!r}")
    return round(seconds * 1000)


def parse_universe(value):
    value = (value or "active").strip().lower()
    if value == "tariff":
        raise RatingsError(f"universe: tariff is {TARIFF_UNIVERSE_MISSING}")
    if value != "active":
        raise RatingsError(f"universe: expected active, got {value!r}")
    return value


def parse_by(value):
    value = (value or "channel").strip().lower()
    if value in ("program", "programmes", "programs"):
        value = "programme"
    if value not in BY:
        raise RatingsError(f"by: expected channel or programme, got {value!r}")
    return value


@dataclass
class Query:
    client_id: int
    zone: ZoneInfo
    first: date
    last: date
    band: Band
    threshold_ms: int
    universe: str
    by: str
    filters: object            # reports.filters.Filters (the period and the filters in use)
    channel: int | None = None  # the channel of the hour-of-day profile
    params: dict = field(default_factory=dict)

    @property
    def start(self):
        return self.filters.start

    @property
    def end(self):
        return self.filters.end


def parse(params, client_ids):
    """A Query from request parameters (a QueryDict or a dict of strings); raises RatingsError/FilterError."""
    get = lambda name: (params.get(name) or "").strip()  # noqa: E731
    refused = [p for p in REFUSED if get(p)]
    if refused:
        raise RatingsError(f"{refused[0]}: not a parameter of the ratings (they take "
                           f"{', '.join(PARAMS)}; a period is whole local days, date_from/date_to)")
    if len(client_ids) != 1:
        raise RatingsError("client: ratings are per operator (the universe is its accounts); "
                           "name one with client=<id>")
    zone = zone_for(client_ids)
    period = from_params({k: get(k) for k in ("date_from", "date_to")}, zone)
    kinds = [k.strip() for k in get("kind").split(",") if k.strip()]
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise RatingsError(f"kind: expected live or archive, got {bad[0]!r}")
    filters = parse_filters({**period.params(), **{k: get(k) for k in FILTERS}}, client_ids)
    channel = None
    if get("channel"):
        text = get("channel")
        if not (text.isascii() and text.lstrip("-").isdigit() and len(text) <= 19):
            raise RatingsError(f"channel: expected a channel id, got {text!r}")
        channel = int(text)
    return Query(client_id=client_ids[0], zone=zone, first=period.first, last=period.last,
                 band=parse_band(get("band")), threshold_ms=parse_threshold(get("threshold")),
                 universe=parse_universe(get("universe")), by=parse_by(get("by")),
                 filters=filters, channel=channel,
                 params={k: get(k) for k in PARAMS if get(k)})


# --------------------------------------------------------------- band intervals

def _offset(zone, t):
    return t.astimezone(zone).utcoffset()


def offset_segments(zone, lo, hi):
    """[(start, end, utc offset)] of constant offset covering [lo, hi) (UTC instants).

    Transitions are found by sampling every hour and bisecting to the second
    where the offset changed (zoneinfo has no public list of them).
    """
    segments, begin, current, t = [], lo, _offset(zone, lo), lo
    while t < hi:
        nxt = min(t + timedelta(hours=1), hi)
        if _offset(zone, nxt) != current and nxt < hi:
            a, b = int((t - EPOCH).total_seconds()), int((nxt - EPOCH).total_seconds())
            while b - a > 1:  # offset(a) == current != offset(b)
                mid = (a + b) // 2
                if _offset(zone, EPOCH + timedelta(seconds=mid)) == current:
                    a = mid
                else:
                    b = mid
            change = EPOCH + timedelta(seconds=b)
            segments.append((begin, change, current))
            begin, current, t = change, _offset(zone, change), change
            continue
        t = nxt
    segments.append((begin, hi, current))
    return segments


def _merge(intervals):
    out = []
    for a, b in sorted(intervals):
        if b <= a:
            continue
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def band_intervals(band, zone, first, last):
    """Sorted, disjoint UTC intervals [a, b) of the band inside local days first..last.

    An instant is in the band when the operator's local clock shows a time of
    day in [band.start, band.end) (or, across midnight, from start on or
    before end). Local wall-clock intervals are laid over the stretches of
    constant UTC offset, so a skipped hour is not counted and a repeated one
    is counted twice: real elapsed time.
    """
    p0, p1 = local_midnight(first, zone), local_midnight(last + timedelta(days=1), zone)
    if band.whole_day:
        return [(p0, p1)]
    walls = []
    day = first - timedelta(days=1)
    while day <= last:
        begin = datetime.combine(day, time()) + timedelta(minutes=band.start)
        length = (band.end - band.start) % 1440 or 1440
        walls.append((begin, begin + timedelta(minutes=length)))
        day += timedelta(days=1)
    segments = offset_segments(zone, p0 - timedelta(days=2), p1 + timedelta(days=2))
    found = []
    for w0, w1 in walls:
        for u0, u1, offset in segments:
            lo = max(w0, (u0 + offset).replace(tzinfo=None))
            hi = min(w1, (u1 + offset).replace(tzinfo=None))
            if lo < hi:
                a = max((lo - offset).replace(tzinfo=UTC), p0)
                b = min((hi - offset).replace(tzinfo=UTC), p1)
                if a < b:
                    found.append((a, b))
    return _merge(found)


def _ms(t):
    return (t - EPOCH) // MS


# -------------------------------------------------------------------- pipeline

ROW_KEYS = {
    "channel": {"channel_id": {"$ifNull": ["$channel_id", None]},
                "media": {"$cond": [{"$eq": [{"$ifNull": ["$channel_id", None]}, None]},
                                    {"$ifNull": ["$media", None]}, None]}},
    "programme": {"channel_id": {"$ifNull": ["$channel_id", None]},
                  "program_id": {"$ifNull": ["$program_id", None]}},
}
NO_INTERVAL = {"a": 0, "b": 0, "c": 0, "p": 0, "pn": 0}


def _leaves(intervals, threshold_ms):
    """Per interval: its bounds (ms), the band time before it (c), and how many intervals at
    least `threshold_ms` long come before it (p) and up to it (pn)."""
    leaves, before, qualifying = [], 0, 0
    for a, b in intervals:
        a_ms, b_ms = _ms(a), _ms(b)
        p = qualifying
        qualifying += 1 if b_ms - a_ms >= threshold_ms else 0
        leaves.append({"a": a_ms, "b": b_ms, "c": before, "p": p, "pn": qualifying})
        before += b_ms - a_ms
    return leaves


def locate(field_path, leaves):
    """An expression for the leaf of the last interval starting at or before `field_path` (ms),
    NO_INTERVAL before the first: a balanced $cond tree, log2(n) comparisons a document."""
    def tree(lo, hi):
        if hi - lo == 1:
            return dict(leaves[lo])
        mid = (lo + hi) // 2
        return {"$cond": [{"$gte": [field_path, leaves[mid]["a"]]}, tree(mid, hi), tree(lo, mid)]}
    return {"$cond": [{"$gte": [field_path, leaves[0]["a"]]}, tree(0, len(leaves)), dict(NO_INTERVAL)]}


def _before(leaf, t):
    """Band time from the first interval up to instant t, t being in or after `leaf`'s interval."""
    return {"$add": [f"{leaf}.c", {"$subtract": [{"$min": [t, f"{leaf}.b"]}, f"{leaf}.a"]}]}


def session_stages(leaves, threshold_ms, key):
    """Per session: its row key, account, ms inside the band (`ms`) and whether it reaches (`q`).

    With x the interval holding the start (or the last before it) and y the
    one holding the end: ms = before(y, end) - before(x, start). The longest
    consecutive part inside one interval is the start's interval part, the
    end's interval part, or a whole interval in between; `p`/`pn` count the
    intervals at least `threshold` long before y and up to x.
    """
    return [
        {"$project": {"_id": 0, "k": key, "acc": "$account_id",
                      "s": {"$toLong": "$start"}, "e": {"$toLong": "$end"}}},
        {"$project": {"k": 1, "acc": 1, "s": 1, "e": 1,
                      "x": locate("$s", leaves), "y": locate("$e", leaves)}},
        {"$project": {"k": 1, "acc": 1,
                      "ms": {"$subtract": [_before("$y", "$e"), _before("$x", "$s")]},
                      "q": {"$cond": [{"$or": [
                          {"$gte": [{"$subtract": [{"$min": ["$e", "$x.b"]}, "$s"]}, threshold_ms]},
                          {"$gte": [{"$subtract": [{"$min": ["$e", "$y.b"]}, {"$max": ["$s", "$y.a"]}]},
                                    threshold_ms]},
                          {"$gt": [{"$subtract": ["$y.p", "$x.pn"]}, 0]}]}, 1, 0]}}},
        {"$match": {"ms": {"$gt": 0}}},
    ]


PAIRS = [{"$group": {"_id": {"k": "$k", "a": "$acc"}, "w": {"$sum": "$ms"}, "q": {"$max": "$q"}}}]
ROWS = PAIRS + [{"$group": {"_id": "$_id.k", "w": {"$sum": "$w"}, "viewers": {"$sum": 1},
                            "reach": {"$sum": "$q"}}}]
ACCOUNTS = [{"$group": {"_id": "$acc", "w": {"$sum": "$ms"}, "q": {"$max": "$q"}}}]
TOTALS = ACCOUNTS + [{"$group": {"_id": None, "w": {"$sum": "$w"}, "viewers": {"$sum": 1},
                                 "reach": {"$sum": "$q"}}}]


def _conditions(filters):
    """The filters' conditions other than client and start, accounts only."""
    match = filters.match()
    match.pop("client_id")
    match.pop("start")
    match["account_id"] = {"$ne": None}
    return match


def _key_tuple(k, by):
    return tuple(k.get(name) for name in ROW_KEYS[by])


def _pair_match(pairs, by):
    return {"$or": [{**{f"_id.k.{name}": value for name, value in zip(ROW_KEYS[by], key)}, "_id.a": account}
                    for key, account in pairs]}


def _aggregate(stages, index):
    return list(store.sessions_aggregate(stages, hint=index))


def audience(query, intervals):
    """({row key tuple: {w, viewers, reach}}, totals {w, viewers, reach}); w in ms."""
    leaves = _leaves(intervals, query.threshold_ms)
    key = ROW_KEYS[query.by]
    parts = store.ending_after(query.client_id, intervals[0][0], intervals[-1][1],
                               start={"$lt": intervals[-1][1]}, **_conditions(query.filters))
    (main, main_index), (long_match, long_index) = parts
    prefix = session_stages(leaves, query.threshold_ms, key)
    # Sessions longer than a day ending after the main range: few, so their
    # (row, account) figures come here and are reconciled with the main ones.
    long_pairs = {}
    for r in _aggregate([{"$match": long_match}] + prefix + PAIRS, long_index):
        long_pairs[(_key_tuple(r["_id"]["k"], query.by), r["_id"]["a"])] = (r["w"], r["q"])
    long_accounts = {}
    for (_, account), (w, q) in long_pairs.items():
        was = long_accounts.get(account, (0, 0))
        long_accounts[account] = (was[0] + w, max(was[1], q))
    facet = {"totals": TOTALS}
    if long_pairs:
        facet["pairs"] = PAIRS + [{"$match": _pair_match(long_pairs, query.by)}]
        facet["accounts"] = [{"$match": {"acc": {"$in": list(long_accounts)}}}] + ACCOUNTS
    if query.by == "channel":  # a catalogue's rows fit one facet document
        facet["rows"] = ROWS
        out = _aggregate([{"$match": main}] + prefix + [{"$facet": facet}], main_index)
        found = out[0] if out else {}
        raw_rows = found.get("rows", [])
    else:  # programmes may be many: their rows stream apart
        raw_rows = _aggregate([{"$match": main}] + prefix + ROWS, main_index)
        out = _aggregate([{"$match": main}] + prefix + [{"$facet": facet}], main_index)
        found = out[0] if out else {}
    rows = {_key_tuple(r["_id"], query.by): {"w": r["w"], "viewers": r["viewers"], "reach": r["reach"]}
            for r in raw_rows}
    totals = dict(found["totals"][0]) if found.get("totals") else {"w": 0, "viewers": 0, "reach": 0}
    totals.pop("_id", None)
    # Reconcile the long sessions: watch time adds up, accounts count once.
    main_pairs = {(_key_tuple(r["_id"]["k"], query.by), r["_id"]["a"]): r["q"]
                  for r in found.get("pairs", [])}
    for (k, account), (w, q) in long_pairs.items():
        row = rows.setdefault(k, {"w": 0, "viewers": 0, "reach": 0})
        row["w"] += w
        if (k, account) not in main_pairs:
            row["viewers"] += 1
        if q and not main_pairs.get((k, account)):
            row["reach"] += 1
    main_accounts = {r["_id"]: r["q"] for r in found.get("accounts", [])}
    for account, (w, q) in long_accounts.items():
        totals["w"] += w
        if account not in main_accounts:
            totals["viewers"] += 1
        if q and not main_accounts.get(account):
            totals["reach"] += 1
    return rows, totals


# -------------------------------------------------------------------- universe

def universe_size(client_id, start, end):
    """Accounts of the client active at any time of [start, end) (an active period overlaps it)."""
    count = 0
    for account in host.get_host().accounts(client_id):
        if any((p.start is None or p.start < end) and (p.end is None or p.end > start)
               for p in account.active_periods):
            count += 1
    return count


# --------------------------------------------------------------------- figures

def _ratio(part, whole, scale=1.0, digits=4):
    return round(scale * part / whole, digits) if whole else None


def figures(w_ms, viewers, reach, band_ms, universe, all_w_ms):
    """The published figures of one row from its watch time (ms), viewers and reach."""
    return {
        "watch_time": w_ms / 1000,
        "average_audience": _ratio(w_ms, band_ms),
        "rating": _ratio(w_ms, band_ms * universe, 100),
        "share": _ratio(w_ms, all_w_ms, 100),
        "reach": reach,
        "reach_percent": _ratio(reach, universe, 100),
        "ats": _ratio(w_ms, reach * 1000, digits=1) if reach else None,
        "viewers": viewers,
    }


def compute(query):
    """The ratings as a JSON-ready dict (see the module docstring for every figure)."""
    intervals = band_intervals(query.band, query.zone, query.first, query.last)
    band_ms = sum(_ms(b) - _ms(a) for a, b in intervals)
    universe = universe_size(query.client_id, query.start, query.end)
    notes = []
    if band_ms:
        rows, totals = audience(query, intervals)
    else:
        rows, totals = {}, {"w": 0, "viewers": 0, "reach": 0}
        notes.append(f"The band {query.band.text()} does not occur in this period (the clocks skip it): "
                     "there is nothing to rate.")
    if not universe:
        notes.append("No account was active in this period, so ratings and reach % are empty.")
    if any(getattr(query.filters, f) for f in FILTERS):
        notes.append(f"Filters narrow the viewing counted, not the universe: ratings are shares of all "
                     f"{universe} accounts active in the period.")
    all_w = totals["w"]
    names = host.channel_names([query.client_id])
    if query.by == "channel" and band_ms:
        # A channel nobody watched has a rating too: zero.
        enabled = {c["id"] for c in host.channels_in_default_order(query.client_id, enabled_only=True)}
        for channel_id in enabled:
            rows.setdefault((channel_id, None), {"w": 0, "viewers": 0, "reach": 0})
    programmes = {}
    if query.by == "programme":
        programmes = host.programmes_by_id(query.client_id, [k[1] for k in rows if k[1] is not None])
    out_rows = []
    for k, r in rows.items():
        row = dict(zip(ROW_KEYS[query.by], k))
        row["channel"] = names.get(row["channel_id"]) or row.get("media") or "unknown"
        if query.by == "programme":
            p = programmes.get(row["program_id"])
            row.update(programme=p["title"] if p else "", programme_begin=p["begin"] if p else None,
                       programme_end=p["end"] if p else None)
        row.update(figures(r["w"], r["viewers"], r["reach"], band_ms, universe, all_w))
        out_rows.append(row)
    order = {c["id"]: i for i, c in enumerate(host.channels_in_default_order(query.client_id))}
    out_rows.sort(key=lambda r: (-r["watch_time"], -r["reach"], order.get(r["channel_id"], len(order)),
                                 str(r.get("media") or ""), str(r.get("program_id") or "")))
    total = figures(all_w, totals["viewers"], totals["reach"], band_ms, universe, all_w)
    return {
        "report": "ratings",
        "client_id": query.client_id,
        "zone": query.zone.key,
        "by": query.by,
        "period": {"date_from": query.first.isoformat(), "date_to": query.last.isoformat(),
                   "start": query.start.isoformat(), "end": query.end.isoformat()},
        "band": {"band": query.band.text(), "whole_day": query.band.whole_day,
                 "crosses_midnight": query.band.crosses_midnight and not query.band.whole_day,
                 "seconds": band_ms / 1000, "intervals": len(intervals)},
        "threshold_seconds": query.threshold_ms / 1000,
        "filters": {k: getattr(query.filters, k) for k in FILTERS if getattr(query.filters, k)},
        "universe": {"kind": query.universe, "size": universe, "definition": DEFINITIONS["universe"],
                     "tariff": TARIFF_UNIVERSE_MISSING},
        "rows": out_rows,
        "totals": total,
        "notes": notes,
        "definitions": DEFINITIONS,
        "computed_from": "sessions",
    }


# ------------------------------------------------------------ hour of the day

def _lattice_step(segments, p0):
    """The largest step (s) whose lattice through p0 holds every local hour boundary and transition."""
    for step in (3600, 1800, 900, 300, 60, 1):
        phase = int((p0 - EPOCH).total_seconds()) % step
        if all((-int(offset.total_seconds())) % step == phase for _, _, offset in segments) and all(
                int((begin - EPOCH).total_seconds()) % step == phase for begin, _, _ in segments[1:]):
            return step
    return 1


def hour_lengths(zone, first, last):
    """Seconds of each local clock hour (0-23) inside local days first..last, in real elapsed time."""
    return [sum((b - a).total_seconds() for a, b in band_intervals(Band(h * 60, h * 60 + 60), zone,
                                                                   first, last))
            for h in range(24)]


def hourly(query, channel_id, universe=None):
    """The channel's rating (and average audience) per local clock hour of the day over the period.

    Every hour of the day, whatever the band: hour h is the band h:00-h+1:00.
    The period is cut into slots on a lattice holding every local hour
    boundary (an hour long in zones whose offsets are whole hours), and a
    session gives at most three events in the database: the part of its
    first slot, the part of its last, and +1/-1 around the slots it covers
    whole (a difference array). Grouped per slot, so at most one row per
    slot of the period comes back, whatever the number of sessions; a
    running sum turns them into watch time per slot and each slot counts in
    the local hour it lies in.
    """
    p0, p1 = query.start, query.end
    segments = offset_segments(query.zone, p0, p1)
    step = _lattice_step(segments, p0)
    step_ms, p0_ms, p1_ms = step * 1000, _ms(p0), _ms(p1)
    lengths = hour_lengths(query.zone, query.first, query.last)
    if universe is None:
        universe = universe_size(query.client_id, p0, p1)
    conditions = {**_conditions(query.filters), "channel_id": channel_id}

    def slot(offset):  # floor(offset / step) of a non-negative whole number of ms
        return {"$divide": [{"$subtract": [offset, {"$mod": [offset, step_ms]}]}, step_ms]}

    covered = {"$gte": [{"$subtract": ["$k1", "$k0"]}, 2]}
    one = {"$eq": ["$k0", "$k1"]}
    stages = [
        {"$project": {"_id": 0, "s": {"$max": [{"$toLong": "$start"}, p0_ms]},
                      "e": {"$min": [{"$toLong": "$end"}, p1_ms]}}},
        {"$project": {"s": 1, "e": 1, "n": {"$subtract": ["$e", "$s"]}}},
        {"$match": {"n": {"$gt": 0}}},
        {"$project": {"s": 1, "e": 1, "k0": slot({"$subtract": ["$s", p0_ms]}),
                      "k1": slot({"$subtract": ["$e", p0_ms + 1]})}},
        {"$project": {"ev": [
            {"k": "$k0", "d": 0, "p": {"$cond": [one, {"$subtract": ["$e", "$s"]}, {"$subtract": [
                {"$add": [p0_ms + step_ms, {"$multiply": ["$k0", step_ms]}]}, "$s"]}]}},
            {"k": "$k1", "d": {"$cond": [covered, -1, 0]}, "p": {"$cond": [one, 0, {"$subtract": [
                "$e", {"$add": [p0_ms, {"$multiply": ["$k1", step_ms]}]}]}]}},
            {"k": {"$add": ["$k0", 1]}, "d": {"$cond": [covered, 1, 0]}, "p": 0}]}},
        {"$unwind": "$ev"},
        {"$match": {"$or": [{"ev.d": {"$ne": 0}}, {"ev.p": {"$ne": 0}}]}},
        {"$group": {"_id": "$ev.k", "d": {"$sum": "$ev.d"}, "p": {"$sum": "$ev.p"}}},
    ]
    deltas, parts = {}, {}
    for match, index in store.ending_after(query.client_id, p0, p1, start={"$lt": p1}, **conditions):
        for r in store.sessions_aggregate([{"$match": match}] + stages, hint=index):
            k = int(r["_id"])
            deltas[k] = deltas.get(k, 0) + r["d"]
            parts[k] = parts.get(k, 0) + r["p"]
    watch, running = [0] * 24, 0
    for k in range((p1_ms - p0_ms) // step_ms):
        running += deltas.get(k, 0)
        ms = running * step_ms + parts.get(k, 0)
        if ms:
            watch[(p0 + timedelta(milliseconds=k * step_ms)).astimezone(query.zone).hour] += ms
    points = []
    for h in range(24):
        length_ms = lengths[h] * 1000
        points.append({"hour": h, "label": f"{h:02}:00", "seconds": lengths[h], "watch_time": watch[h] / 1000,
                       "average_audience": _ratio(watch[h], length_ms),
                       "rating": _ratio(watch[h], length_ms * universe, 100)})
    return {"channel_id": channel_id, "channel": host.channel_names([query.client_id]).get(channel_id),
            "universe": universe, "points": points}


def report(params, client_ids):
    """The API's answer: the ratings, plus the hour-of-day profile when `channel` is given."""
    query = parse(params, client_ids)
    data = compute(query)
    if query.channel is not None:
        if query.channel not in host.client_channel_ids(query.client_id):
            raise RatingsError(f"channel: no channel {query.channel} of this operator")
        data["hourly"] = hourly(query, query.channel, data["universe"]["size"])
    return data


# ------------------------------------------------------------------------- CSV

CSV_COLUMNS = {
    "channel": ("channel_id", "media", "channel"),
    "programme": ("channel_id", "channel", "program_id", "programme", "programme_begin"),
}
CSV_FIGURES = ("average_audience", "rating", "share", "reach", "reach_percent", "ats", "watch_time",
               "viewers")


def table(data):
    """(header, rows) of the ratings for CSV: the rows, then an "all channels" total row."""
    labels = CSV_COLUMNS[data["by"]]
    header = list(labels) + list(CSV_FIGURES) + ["universe", "universe_size", "band", "threshold_seconds"]
    context = [data["universe"]["kind"], data["universe"]["size"], data["band"]["band"],
               data["threshold_seconds"]]
    rows = [[r.get(c) for c in labels] + [r.get(c) for c in CSV_FIGURES] + context for r in data["rows"]]
    total = [None] * len(labels)
    total[labels.index("channel")] = "all channels"
    rows.append(total + [data["totals"].get(c) for c in CSV_FIGURES] + context)
    return header, rows
