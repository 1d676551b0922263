"""Catch-up (archive) depth: how old programmes are when viewers watch them from the archive.

For one operator, the sessions that *started* in a period of its local days
(as in every report) and, optionally, some of its channels:

- *age* of an archive session (kind "archive"): its start minus the air
  begin of its programme (`program_id`, looked up in the host's EPG). An
  archive session whose programme the EPG does not know (no `program_id`,
  as media servers report archive and timeshift manifests, or an id the EPG
  no longer has) has no age: it is counted apart, as "not in the EPG".
  A session that starts before its programme's air begin (a device clock
  ahead, or a programme moved in the EPG after the viewing) has a negative
  age: "before air time", never lost to a shorter archive.
- *age buckets*: [0, 1 h), [1 h, 3 h), [3 h, 6 h), [6 h, 12 h), [12 h, 24 h),
  then whole days [1 d, 2 d), [2 d, 3 d), ... up to the bucket of the oldest
  programme watched; each with sessions and watch time (the sum of the
  sessions' durations), and their shares of the archive sessions with an
  age (before-air included).
- *depth*: the oldest age seen, rounded up to whole days.
- *lost at N days*, N = 1 .. depth: the archive sessions with age > N days
  (strictly: a programme exactly N days old is still in an N-day archive),
  in sessions and watch time, as a share of the archive with an age, and,
  as a lower bound, of all archive viewing (not-in-the-EPG counted as kept).
- *timeshift*: live sessions watched behind live (`timeshift_offset` > 0,
  which devices report in whole hours), by how far behind, in hours.
  Sub-hour shifts are not reported by devices (they send 0: live), and media
  servers report timeshift manifests as archive viewing without a programme.

Figures per channel (the session's channel; media-server streams no channel
plays are one row without a channel) and for all channels.

How it is computed, in MongoDB with 5.0 operators, in two passes over the
period's index range (`client_start_id`, or `client_channel_start` with a
channel filter), never pulling sessions into Python:

1. one grouping per (channel, live or archive, archive programme, hours
   behind live): archive and live totals, the timeshift distribution and the
   distinct programmes watched from the archive (streamed: bounded by the
   programmes, not the sessions);
2. the air begin of those programmes (host.programmes_by_id) goes into the
   pipeline as a balanced `$cond` tree over the sorted programme ids (log2
   of their number comparisons a session; 20,000 programmes a pipeline, a
   contiguous id range each, so the command stays small); each archive
   session gets its age, its bucket and the largest N it is lost at, grouped
   per (channel, bucket, N): at most a few rows per channel and day of depth.
"""
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from . import host, store
from .reports.filters import MAX_RANGE_DAYS, FilterError, local_midnight, zone_for
from .reports.periods import from_params

UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MS = timedelta(milliseconds=1)
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
# Sub-day age buckets, in hours: [0, 1), [1, 3), [3, 6), [6, 12), [12, 24).
SUBDAY_HOURS = (0, 1, 3, 6, 12, 24)
SUBDAY = len(SUBDAY_HOURS) - 1
BEFORE_AIR = -1
# Timeshift buckets in hours behind live: [1, 2), [2, 3), [3, 6), [6, 12), [12, 24), then whole days.
TIMESHIFT_HOURS = (1, 2, 3, 6, 12, 24)
# Programmes carried by one pipeline (about 60 bytes of BSON each in the tree).
PROGRAMME_CHUNK = 20_000
# Programme ids asked of the host at once (SQL parameters).
HOST_BATCH = 900
INT64 = 2 ** 63

PARAMS = ("client", "date_from", "date_to", "channel")
# Report parameters that mean something elsewhere but not here: naming one is
# an error, so nobody takes a figure for filtered when it is not.
REFUSED = ("from", "to", "programme", "category", "device_type", "tariff", "country", "source", "kind",
           "protocol", "account", "server", "brand", "model", "ip", "user_agent", "unique", "band",
           "threshold", "universe", "by", "step", "sort", "cursor", "limit")

DEFINITIONS = {
    "archive": "Archive (catch-up) viewing: sessions of kind \"archive\" that started in the period, "
               "whatever the programme's air date.",
    "age": "Age: the session's start minus the air begin of its programme in the EPG (the session's "
           "program_id). A bucket \"a–b\" holds ages from a up to, not including, b.",
    "watch_time": "Watch time: the sum of the sessions' durations (a session counts whole in the "
                  "period its start falls in).",
    "share": "Shares of a bucket: its sessions (watch time) ÷ the archive sessions (watch time) "
             "with an age, before-air ones included; programmes not in the EPG are left out.",
    "not_in_epg": "Programme not in the EPG: archive sessions without a programme (media servers "
                  "report archive and timeshift manifests so) or whose programme the EPG does not "
                  "have (any more). They have no age: counted apart, in no bucket.",
    "before_air": "Before air time: archive sessions that started before their programme's air "
                  "begin (a device clock ahead, or the programme moved in the EPG). Never lost.",
    "depth": "Depth: the age of the oldest programme watched from the archive, rounded up to whole "
             "days.",
    "lost": "Lost at N days: archive viewing of programmes more than N days old when watched "
            "(age > N × 24 h), i.e. what an archive N days deep would not have offered, ÷ the "
            "archive viewing with an age. \"Of all archive\" divides by all archive viewing "
            "instead, counting programmes not in the EPG as kept: a lower bound.",
    "within_1_day": "Within 1 day: share of the archive watch time with an age of at most 24 hours "
                    "(100 % − lost at 1 day).",
    "timeshift": "Timeshift: live sessions watched behind live (timeshift_offset > 0, reported by "
                 "devices in whole hours behind the live edge), by hours behind; their share is of "
                 "all live watch time. Shifts under an hour are reported as 0 (live) and media "
                 "servers report timeshift as archive without a programme.",
    "channel": "The session's channel; media-server streams no channel of the operator plays are "
               "one row without a channel.",
}


class CatchupError(FilterError):
    """A bad parameter; the message starts with its name ("channel: …")."""


@dataclass
class Query:
    client_id: int
    zone: ZoneInfo
    first: date
    last: date
    start: datetime
    end: datetime
    channels: list = field(default_factory=list)


def _channel_ids(text, client_id):
    ids = []
    for token in (t.strip() for t in text.split(",")):
        if not token:
            continue
        if not (token.isascii() and token.lstrip("-").isdigit() and len(token) <= 19
                and -INT64 <= int(token) < INT64):
            raise CatchupError(f"channel: expected channel ids separated by commas, got {text!r}")
        ids.append(int(token))
    unknown = [i for i in ids if i not in host.client_channel_ids(client_id)]
    if unknown:
        raise CatchupError(f"channel: no channel {unknown[0]} of this operator")
    return sorted(set(ids))


def parse(params, client_ids):
    """A Query from request parameters (a QueryDict or a dict of strings); raises CatchupError/FilterError."""
    get = lambda name: (params.get(name) or "").strip()  # noqa: E731
    refused = [p for p in REFUSED if get(p)]
    if refused:
        raise CatchupError(f"{refused[0]}: not a parameter of the catch-up report (it takes "
                           f"{', '.join(PARAMS)}; a period is whole local days, date_from/date_to)")
    if len(client_ids) != 1:
        raise CatchupError("client: the catch-up report is per operator (its days are the operator's "
                           "local ones); name one with client=<id>")
    client_id = client_ids[0]
    zone = zone_for(client_ids)
    period = from_params({k: get(k) for k in ("date_from", "date_to")}, zone)
    if period.days > MAX_RANGE_DAYS:
        raise CatchupError(f"date_from: the period is longer than {MAX_RANGE_DAYS} days")
    start = local_midnight(period.first, zone)
    end = local_midnight(period.last + timedelta(days=1), zone)
    return Query(client_id=client_id, zone=zone, first=period.first, last=period.last, start=start,
                 end=end, channels=_channel_ids(get("channel"), client_id))


# ------------------------------------------------------------------- buckets

def age_bucket(k):
    """(key, label, from_seconds, to_seconds) of age bucket `k` (0..4 sub-day, then 4 + whole days)."""
    if k == BEFORE_AIR:
        return "before_air", "before air time", None, 0
    if k < SUBDAY:
        a, b = SUBDAY_HOURS[k], SUBDAY_HOURS[k + 1]
        return f"{a}-{b}h", f"{a}–{b} h", a * 3600, b * 3600
    d = k - SUBDAY + 1
    return f"{d}-{d + 1}d", f"{d}–{d + 1} days", d * 86400, (d + 1) * 86400


def age_bucket_of(age_ms):
    """The bucket index of an age in ms (the pipeline's own rule, for callers and tests)."""
    if age_ms < 0:
        return BEFORE_AIR
    for k in range(SUBDAY):
        if age_ms < SUBDAY_HOURS[k + 1] * HOUR_MS:
            return k
    return SUBDAY - 1 + age_ms // DAY_MS


def timeshift_bucket(hours):
    """(key, label, from_hours, to_hours) of the timeshift bucket holding `hours` behind live."""
    for a, b in zip(TIMESHIFT_HOURS, TIMESHIFT_HOURS[1:]):
        if hours < b:
            return f"{a}-{b}h", f"{a}–{b} h", a, b
    d = int(hours // 24)
    return f"{d}-{d + 1}d", f"{d}–{d + 1} days", 24 * d, 24 * (d + 1)


def timeshift_buckets_upto(max_hours):
    """Every timeshift bucket from 1 h up to the one holding `max_hours`, in order."""
    out, h = [], TIMESHIFT_HOURS[0]
    while True:
        bucket = timeshift_bucket(h)
        out.append(bucket)
        if max_hours < bucket[3]:
            return out
        h = bucket[3]


# ------------------------------------------------------------------ pipelines

def _ms(instant):
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return (instant - EPOCH) // MS


def base_match(query):
    """The period's sessions ($match) and the index whose range holds them."""
    match = {"client_id": query.client_id}
    if query.channels:
        match["channel_id"] = {"$in": list(query.channels)}
        index = "client_channel_start"
    else:
        index = "client_start_id"
    match["start"] = {"$gte": query.start, "$lt": query.end}
    return match, index


def totals_pipeline(match):
    """Pass 1: per (channel, archive?, archive programme, hours behind live): sessions and watch time."""
    archive = {"$eq": ["$kind", "archive"]}
    shift = {"$ifNull": ["$timeshift_offset", 0]}
    return [
        {"$match": match},
        {"$project": {
            "_id": 0, "c": {"$ifNull": ["$channel_id", None]}, "d": {"$ifNull": ["$duration", 0]},
            "a": archive,
            "p": {"$cond": [archive, {"$ifNull": ["$program_id", None]}, None]},
            "t": {"$cond": [{"$and": [{"$ne": ["$kind", "archive"]}, {"$gt": [shift, 0]}]}, shift, 0]}}},
        {"$group": {"_id": {"c": "$c", "a": "$a", "p": "$p", "t": "$t"},
                    "n": {"$sum": 1}, "w": {"$sum": "$d"}}},
    ]


def begin_tree(field_path, leaves):
    """An expression: the air begin (ms) of the programme `field_path` names, or null.

    `leaves` are (programme id, begin ms) sorted by id. A balanced $cond tree:
    log2(len(leaves)) comparisons a document, then one equality at the leaf.
    """
    def tree(lo, hi):
        if hi - lo == 1:
            pid, begin = leaves[lo]
            return {"$cond": [{"$eq": [field_path, pid]}, begin, None]}
        mid = (lo + hi) // 2
        return {"$cond": [{"$gte": [field_path, leaves[mid][0]]}, tree(mid, hi), tree(lo, mid)]}
    return tree(0, len(leaves))


def ages_pipeline(match, leaves):
    """Pass 2: archive sessions of the programmes in `leaves`, per (channel, age bucket, lost-at N)."""
    age = "$age"
    branches = [{"case": {"$lt": [age, 0]}, "then": BEFORE_AIR}]
    branches += [{"case": {"$lt": [age, SUBDAY_HOURS[k + 1] * HOUR_MS]}, "then": k} for k in range(SUBDAY)]
    return [
        {"$match": {**match, "kind": "archive",
                    "program_id": {"$gte": leaves[0][0], "$lte": leaves[-1][0]}}},
        {"$project": {"_id": 0, "c": {"$ifNull": ["$channel_id", None]}, "d": {"$ifNull": ["$duration", 0]},
                      "s": {"$toLong": "$start"}, "b": begin_tree("$program_id", leaves)}},
        {"$match": {"b": {"$ne": None}}},
        {"$project": {"c": 1, "d": 1, "age": {"$subtract": ["$s", "$b"]}}},
        {"$project": {
            "c": 1, "d": 1, "age": 1,
            "k": {"$switch": {"branches": branches, "default": {
                "$add": [SUBDAY - 1, {"$floor": {"$divide": [age, DAY_MS]}}]}}},
            # The largest N with age > N days (-1: lost at no depth).
            "l": {"$cond": [{"$gt": [age, 0]}, {"$subtract": [{"$ceil": {"$divide": [age, DAY_MS]}}, 1]}, -1]}}},
        {"$group": {"_id": {"c": "$c", "k": "$k", "l": "$l"}, "n": {"$sum": 1}, "w": {"$sum": "$d"},
                    "m": {"$max": "$age"}}},
    ]


def programme_begins(client_id, ids):
    """{programme id: air begin in ms} of those of `ids` the host's EPG has for the client."""
    ids = sorted(i for i in ids if isinstance(i, int) and not isinstance(i, bool))
    found = {}
    for i in range(0, len(ids), HOST_BATCH):
        for pid, p in host.programmes_by_id(client_id, ids[i:i + HOST_BATCH]).items():
            found[pid] = _ms(p["begin"])
    return found


def chunks(leaves, size=None):
    size = size or PROGRAMME_CHUNK
    return [leaves[i:i + size] for i in range(0, len(leaves), size)]


# ------------------------------------------------------------------- figures

def _pct(part, whole):
    return round(100 * part / whole, 4) if whole else None


class _Figures:
    """Accumulated counts of one channel, or of all."""

    def __init__(self):
        self.sessions = self.watch = 0          # every session of the period
        self.arch_n = self.arch_w = 0           # archive
        self.none_n = self.none_w = 0           # archive without a programme id
        self.unknown_n = self.unknown_w = 0     # archive with an id the EPG does not have
        self.live_n = self.live_w = 0
        self.shift = {}                         # hours behind -> [n, w]
        self.ages = {}                          # bucket -> [n, w]
        self.lost_at = {}                       # largest N lost at -> [n, w]
        self.max_age = None                     # ms

    @staticmethod
    def _add(table, key, n, w):
        entry = table.setdefault(key, [0, 0])
        entry[0] += n
        entry[1] += w

    def add_totals(self, row, known):
        n, w = int(row["n"]), int(row["w"])
        key = row["_id"]
        self.sessions += n
        self.watch += w
        if key.get("a"):
            self.arch_n += n
            self.arch_w += w
            pid = key.get("p")
            if pid is None:
                self.none_n += n
                self.none_w += w
            elif pid not in known:
                self.unknown_n += n
                self.unknown_w += w
        else:
            self.live_n += n
            self.live_w += w
            hours = key.get("t") or 0
            if hours > 0:
                self._add(self.shift, hours, n, w)

    def add_ages(self, row):
        n, w = int(row["n"]), int(row["w"])
        key = row["_id"]
        self._add(self.ages, int(key["k"]), n, w)
        self._add(self.lost_at, int(key["l"]), n, w)
        m = int(row["m"])
        self.max_age = m if self.max_age is None else max(self.max_age, m)

    # -- what the report says ------------------------------------------------------

    def known(self):
        return (sum(v[0] for v in self.ages.values()), sum(v[1] for v in self.ages.values()))

    def lost(self, days):
        n = sum(v[0] for k, v in self.lost_at.items() if k >= days)
        w = sum(v[1] for k, v in self.lost_at.items() if k >= days)
        return n, w

    def depth_days(self):
        return -(-self.max_age // DAY_MS) if self.max_age and self.max_age > 0 else 0

    def archive(self, buckets, depth):
        known_n, known_w = self.known()
        before = self.ages.get(BEFORE_AIR, [0, 0])
        distribution = []
        for k in buckets:
            key, label, a, b = age_bucket(k)
            n, w = self.ages.get(k, [0, 0])
            distribution.append({"bucket": key, "label": label, "from_seconds": a, "to_seconds": b,
                                 "sessions": n, "watch_time": w, "share_sessions": _pct(n, known_n),
                                 "share_watch_time": _pct(w, known_w)})
        lost = []
        for days in range(1, depth + 1):
            n, w = self.lost(days)
            lost.append({"days": days, "sessions": n, "watch_time": w,
                         "share_sessions": _pct(n, known_n), "share_watch_time": _pct(w, known_w),
                         "share_of_all_archive_sessions": _pct(n, self.arch_n),
                         "share_of_all_archive_watch_time": _pct(w, self.arch_w)})
        lost1 = self.lost(1)
        return {
            "sessions": self.arch_n, "watch_time": self.arch_w,
            "share_of_all_watch_time": _pct(self.arch_w, self.watch),
            "with_age": {"sessions": known_n, "watch_time": known_w},
            "not_in_epg": {"sessions": self.none_n + self.unknown_n, "watch_time": self.none_w + self.unknown_w,
                           "no_programme": {"sessions": self.none_n, "watch_time": self.none_w},
                           "unknown_programme": {"sessions": self.unknown_n, "watch_time": self.unknown_w},
                           "share_sessions": _pct(self.none_n + self.unknown_n, self.arch_n),
                           "share_watch_time": _pct(self.none_w + self.unknown_w, self.arch_w)},
            "before_air": {"sessions": before[0], "watch_time": before[1],
                           "share_sessions": _pct(before[0], known_n), "share_watch_time": _pct(before[1], known_w)},
            "distribution": distribution,
            "max_age_seconds": self.max_age / 1000 if self.max_age is not None else None,
            "depth_days": self.depth_days(),
            "within_1_day": {"sessions": known_n - lost1[0], "watch_time": known_w - lost1[1],
                             "share_sessions": _pct(known_n - lost1[0], known_n),
                             "share_watch_time": _pct(known_w - lost1[1], known_w)},
            "lost": lost,
        }

    def timeshift(self, buckets):
        n = sum(v[0] for v in self.shift.values())
        w = sum(v[1] for v in self.shift.values())
        distribution = []
        for key, label, a, b in buckets:
            bn = sum(v[0] for h, v in self.shift.items() if a <= h < b)
            bw = sum(v[1] for h, v in self.shift.items() if a <= h < b)
            distribution.append({"bucket": key, "label": label, "from_hours": a, "to_hours": b,
                                 "sessions": bn, "watch_time": bw, "share_sessions": _pct(bn, n),
                                 "share_watch_time": _pct(bw, w)})
        return {
            "sessions": n, "watch_time": w,
            "live_sessions": self.live_n, "live_watch_time": self.live_w,
            "share_of_live_sessions": _pct(n, self.live_n), "share_of_live_watch_time": _pct(w, self.live_w),
            "max_hours": max(self.shift) if self.shift else None,
            "distribution": distribution,
            "by_hour": [{"hours": h, "sessions": v[0], "watch_time": v[1]} for h, v in sorted(self.shift.items())],
        }


def scan(query):
    """({channel id: _Figures}, _Figures of all channels, programmes known) from the two passes."""
    match, index = base_match(query)
    rows = list(store.sessions_aggregate(totals_pipeline(match), hint=index))
    programme_ids = {r["_id"].get("p") for r in rows if r["_id"].get("a") and r["_id"].get("p") is not None}
    known = programme_begins(query.client_id, programme_ids)
    channels, overall = {}, _Figures()
    for r in rows:
        c = r["_id"].get("c")
        for target in (channels.setdefault(c, _Figures()), overall):
            target.add_totals(r, known)
    leaves = sorted(known.items())
    for chunk in chunks(leaves):
        for r in store.sessions_aggregate(ages_pipeline(match, chunk), hint=index):
            c = r["_id"].get("c")
            for target in (channels.setdefault(c, _Figures()), overall):
                target.add_ages(r)
    return channels, overall, known


def compute(query):
    """The catch-up report as a JSON-ready dict (see the module docstring for every figure)."""
    channels, overall, known = scan(query)
    depth = overall.depth_days()
    last_bucket = age_bucket_of(overall.max_age) if overall.max_age is not None and overall.max_age >= 0 \
        else SUBDAY - 1
    buckets = list(range(max(last_bucket, SUBDAY - 1) + 1))
    ts_buckets = timeshift_buckets_upto(max(overall.shift)) if overall.shift else []
    names = host.channel_names([query.client_id])
    order = {c["id"]: i for i, c in enumerate(host.channels_in_default_order(query.client_id))}
    rows = []
    for channel_id, figures in channels.items():
        if not figures.arch_n and not figures.shift:
            continue
        rows.append({"channel_id": channel_id,
                     "channel": names.get(channel_id) if channel_id is not None else None,
                     "archive": figures.archive(buckets, depth),
                     "timeshift": figures.timeshift(ts_buckets)})
    rows.sort(key=lambda r: (-r["archive"]["watch_time"], -r["timeshift"]["watch_time"],
                             r["channel_id"] is None, order.get(r["channel_id"], len(order)),
                             r["channel_id"] or 0))
    for r in rows:
        if r["channel"] is None:
            r["channel"] = ("streams no channel plays" if r["channel_id"] is None
                            else f"channel {r['channel_id']}")
    notes = []
    arch = overall.archive(buckets, depth)
    if arch["not_in_epg"]["sessions"]:
        notes.append(f"{arch['not_in_epg']['sessions']} archive session(s) have no programme in the EPG "
                     f"({arch['not_in_epg']['no_programme']['sessions']} without a programme, "
                     f"{arch['not_in_epg']['unknown_programme']['sessions']} of a programme the EPG does "
                     "not have): they have no age and are in no bucket.")
    if arch["before_air"]["sessions"]:
        notes.append(f"{arch['before_air']['sessions']} archive session(s) started before their "
                     "programme's air time (a device clock ahead, or the programme moved in the EPG).")
    return {
        "report": "catchup",
        "client_id": query.client_id,
        "zone": query.zone.key,
        "period": {"date_from": query.first.isoformat(), "date_to": query.last.isoformat(),
                   "start": query.start.isoformat(), "end": query.end.isoformat()},
        "filters": {"channel": query.channels} if query.channels else {},
        "sessions": overall.sessions,
        "watch_time": overall.watch,
        "archive": arch,
        "timeshift": {**overall.timeshift(ts_buckets), "unit": "hours",
                      "resolution": "whole hours, as devices report timeshift_offset"},
        "channels": rows,
        "programmes_looked_up": len(known),
        "notes": notes,
        "definitions": DEFINITIONS,
        "computed_from": "sessions",
    }


def report(params, client_ids):
    return compute(parse(params, client_ids))


# ------------------------------------------------------------------------ CSV

CSV_HEADER = ["channel_id", "channel", "section", "bucket", "label", "from_seconds", "to_seconds",
              "sessions", "watch_time", "share_sessions", "share_watch_time",
              "share_of_all_archive_sessions", "share_of_all_archive_watch_time"]


def _csv_rows(channel_id, channel, archive, timeshift):
    def row(section, bucket, label, a, b, d, all_n=None, all_w=None):
        return [channel_id, channel, section, bucket, label, a, b, d["sessions"], d["watch_time"],
                d.get("share_sessions"), d.get("share_watch_time"), all_n, all_w]
    yield row("archive", "all", "all archive viewing", None, None, archive)
    yield row("archive_before_air", "before_air", "before air time", None, 0, archive["before_air"])
    for d in archive["distribution"]:
        yield row("archive_age", d["bucket"], d["label"], d["from_seconds"], d["to_seconds"], d)
    ne = archive["not_in_epg"]
    yield row("archive_not_in_epg", "no_programme", "archive without a programme", None, None,
              ne["no_programme"])
    yield row("archive_not_in_epg", "unknown_programme", "programme not in the EPG", None, None,
              ne["unknown_programme"])
    for d in archive["lost"]:
        yield row("archive_lost", f"{d['days']}d", f"lost at {d['days']} days", d["days"] * 86400, None, d,
                  d["share_of_all_archive_sessions"], d["share_of_all_archive_watch_time"])
    for d in timeshift["distribution"]:
        yield row("timeshift", d["bucket"], d["label"] + " behind live", d["from_hours"] * 3600,
                  d["to_hours"] * 3600, d)


def table(data):
    """(header, rows) for CSV: one row per (channel or all, section, bucket); sessions and seconds."""
    rows = list(_csv_rows(None, "all channels", data["archive"], data["timeshift"]))
    for r in data["channels"]:
        rows += _csv_rows(r["channel_id"], r["channel"], r["archive"], r["timeshift"])
    return CSV_HEADER, rows
