"""Peak concurrency ("max online") and "online now", from viewing sessions.

Definition. A session is online during [start, end): from its start
instant up to, not including, its end instant, like every other figure
(viewing time, popularity windows). A session ending at exactly 12:00:00 is
not online at 12:00:00, so it does not count in the 12:00 hour; a session
starting then does. A zero-length session (start == end, one push without a
heartbeat) is never online. The number online at instant t is the number of
distinct accounts (and, separately, distinct customers) with a session whose
[start, end) holds t; sessions with no account (unidentified media-server
viewers) are not subscribers and are not counted. The peak of a bucket
[a, b) is the maximum of that number over the instants of the bucket, so a
session crossing a bucket edge counts in both buckets, and a day's peak is
the maximum of its hours' peaks.

"Online now" is the exception that has to guess: the end of a session still
playing is only its last heartbeat, so a session is taken as online during
[start, end + VIEWSTATS_PUSH_SESSION_TIMEOUT) (see online_now).

The sweep streams the sessions of a range sorted by start (two cursors,
merged) and keeps in memory only the sessions open at the sweep point, so
memory follows concurrency, not the number of sessions.

What the queries read on a real server. Each names its index (a planner left
to itself may take client_start_id for `start < range end` and walk the
client's whole history on every run):
    peaks       `client_end_id` over end in (range start, range end +
                store.LONG_SESSION_SECONDS): a session online in the range
                and no longer than that ends there. The cron's range ends
                about now, where no session has ended yet, so it reads the
                range and little more; a past range reads it plus a day.
                Longer sessions ending after that come from the partial
                `client_long_end_id`, which holds only such sessions.
    online now  the same split around `now`: the sessions whose last
                heartbeat is younger than the timeout, and nothing else.
    arrivals    `client_received` over received_at in (since, until] and
                `client_updated` over updated_at in (since, until], one query
                each (one hint cannot serve both sides of an $or): what
                arrived since the last run, whatever its age.
"""
import heapq
from collections import Counter
from datetime import date, timedelta

from viewstats import store
from viewstats.documents import VIEWING

from .conf import setting
from .timeutils import day_start

SECOND = timedelta(seconds=1)
END_INDEX, LONG_END_INDEX = "client_end_id", "client_long_end_id"


def _split_by_end(client_id, after, upto, started):
    """$match filters, each with the index that bounds it, of the subscriber
    sessions ending after `after` whose start satisfies `started`
    (store.ending_after: the filters never overlap and together hold every
    such session)."""
    # Another media server pulling a stream is traffic, never a subscriber online.
    return store.ending_after(client_id, after, upto, start=started, account_id={"$ne": None},
                              **VIEWING)


def sessions_query(client_id, start, end):
    """Pipelines, with their index, of the subscriber sessions online at some
    instant of [start, end), each sorted by start.

    A session is online during [its start, its end): it must end after `start`
    (one ending exactly at `start` is not online then) and start before `end`.
    """
    return [([{"$match": match},
              {"$sort": {"start": 1}},
              {"$project": {"_id": 0, "start": 1, "end": 1, "account_id": 1, "customer_id": 1}}], index)
            for match, index in _split_by_end(client_id, start, end, {"$lt": end})]


def _aggregate(pipeline, index):
    # A day of a large client may not sort in MongoDB's 100 MB sort memory.
    # The embedded engine ignores both options (store.py drops them).
    options = {"hint": index, "allowDiskUse": True}
    return store.sessions().aggregate(pipeline, **options)


def stream_sessions(client_id, start, end):
    """The sessions online in [start, end), by start."""
    parts = [_aggregate(pipeline, index) for pipeline, index in sessions_query(client_id, start, end)]
    return heapq.merge(*parts, key=lambda s: s["start"])


class _Online:
    """Distinct keys with at least one open session."""

    def __init__(self):
        self.open = Counter()
        self.distinct = 0

    def add(self, key):
        if key is None:
            return
        self.open[key] += 1
        if self.open[key] == 1:
            self.distinct += 1

    def remove(self, key):
        if key is None:
            return
        self.open[key] -= 1
        if self.open[key] == 0:
            del self.open[key]
            self.distinct -= 1


def sweep_peaks(sessions, boundaries):
    """Peaks per bucket [boundaries[i], boundaries[i+1]) as [(accounts, customers)].

    `sessions` must be sorted by start and hold every session online in
    [boundaries[0], boundaries[-1]) (others are skipped). A session is online
    during [start, end). The count can only rise when a session starts, so
    each bucket's peak is reached at its first instant or at a start inside it.
    """
    n = len(boundaries) - 1
    peaks = [[0, 0] for _ in range(n)]
    if n <= 0:
        return []
    accounts, customers = _Online(), _Online()
    ends = []  # heap of (end: the first instant no longer online, seq, account, customer)
    seq = 0
    bucket = 0

    def expire(t):
        while ends and ends[0][0] <= t:
            _, _, acc, cust = heapq.heappop(ends)
            accounts.remove(acc)
            customers.remove(cust)

    def record():
        p = peaks[bucket]
        p[0] = max(p[0], accounts.distinct)
        p[1] = max(p[1], customers.distinct)

    for s in sessions:
        at = max(s["start"], boundaries[0])
        if s["end"] <= at:
            continue  # never online in the range (zero-length, or ended at its start)
        while bucket < n - 1 and boundaries[bucket + 1] <= at:
            bucket += 1
            expire(boundaries[bucket])
            record()  # sessions running across the edge
        expire(at)
        acc, cust = s.get("account_id"), s.get("customer_id")
        accounts.add(acc)
        customers.add(cust)
        seq += 1
        heapq.heappush(ends, (s["end"], seq, acc, cust))
        record()
    while bucket < n - 1:
        bucket += 1
        expire(boundaries[bucket])
        record()
    return [tuple(p) for p in peaks]


def peaks(client_id, boundaries):
    """Peaks of the buckets between consecutive `boundaries` (one sweep of one range)."""
    return sweep_peaks(stream_sessions(client_id, boundaries[0], boundaries[-1]), boundaries)


def online_now(client_id, now):
    """Distinct accounts and customers with a session still open at `now`.

    The end of a session still playing is only its last heartbeat, so a
    session is taken as online during [start, end + timeout), timeout being
    VIEWSTATS_PUSH_SESSION_TIMEOUT: it is online now when start <= now and
    end > now - timeout. Half-open like every instant-based count: a session
    whose last heartbeat is exactly `timeout` old is no longer online. A
    zero-length session (one push so far) is online now while its push is
    younger than the timeout.
    """
    since = now - timedelta(seconds=setting("VIEWSTATS_PUSH_SESSION_TIMEOUT"))
    (usual, usual_index), (longer, longer_index) = _split_by_end(client_id, since, now, {"$lte": now})
    # Sessions still to end more than a day after `now` (a `now` in the past):
    # a handful at most, counted here and kept out of the main count.
    extra = {"accounts": set(), "customers": set()}
    for s in _aggregate([{"$match": longer}, {"$project": {"_id": 0, "account_id": 1, "customer_id": 1}}],
                        longer_index):
        extra["accounts"].add(s["account_id"])
        if s.get("customer_id") is not None:
            extra["customers"].add(s["customer_id"])

    def distinct(key, field):
        group = [{"$group": {"_id": f"${field}"}}]
        if extra[key]:
            group.append({"$match": {"_id": {"$nin": list(extra[key])}}})
        return group + [{"$count": "n"}]

    pipeline = [
        {"$match": usual},
        {"$facet": {
            "accounts": distinct("accounts", "account_id"),
            "customers": [{"$match": {"customer_id": {"$ne": None}}}, *distinct("customers", "customer_id")],
        }},
    ]
    [result] = list(_aggregate(pipeline, usual_index))
    return {key: (result[key][0]["n"] if result[key] else 0) + len(extra[key])
            for key in ("accounts", "customers")}


def _local_date(expr, zone):
    return {"y": {"$year": {"date": expr, "timezone": zone}},
            "m": {"$month": {"date": expr, "timezone": zone}},
            "d": {"$dayOfMonth": {"date": expr, "timezone": zone}}}


def arrivals_pipelines(client_id, since, until, filled_until, zone="UTC"):
    """Local dates (of `zone`) of filled time covered by sessions that arrived in
    (since, until], as pipelines with their index: the union of their rows is the answer.

    A session "arrives" when it is first stored (`received_at`: a batch an
    app uploads hours late, a push session's first heartbeat) or, for media
    servers, whenever a resent backlog rebuilds it (`updated_at`). Later
    heartbeats of a push session only extend it past the filled hours (those
    trail now by the session timeout), so they are not arrivals.

    A session is online during [start, end): its last day is the day of its
    last online instant (end minus 1 ms; sessions are whole seconds), so one
    ending exactly at local midnight does not touch the next day. Sessions
    never online (end <= start) touch no day.
    """
    last_instant = {"$subtract": [{"$min": ["$end", filled_until]}, 1]}
    common = {"start": {"$lt": filled_until}, "account_id": {"$ne": None},
              "$expr": {"$gt": ["$end", "$start"]}}
    stages = [
        {"$project": {"_id": 0, "first": _local_date("$start", zone),
                      "last": _local_date(last_instant, zone)}},
        {"$group": {"_id": {"first": "$first", "last": "$last"}}},
    ]
    window = {"$gt": since, "$lte": until}
    return [
        ([{"$match": {"client_id": client_id, "received_at": window, **common}}, *stages],
         "client_received"),
        ([{"$match": {"client_id": client_id, "updated_at": window, "source": "media_server", **common}},
          *stages], "client_updated"),
    ]


def days_touched_by_arrivals(client_id, since, until, filled_until, zone="UTC"):
    """The starts (UTC instants) of the local days of `zone` those arrivals touch, before `filled_until`."""
    days = set()
    for pipeline, index in arrivals_pipelines(client_id, since, until, filled_until, zone):
        for row in _aggregate(pipeline, index):
            first, last = (date(p["y"], p["m"], p["d"]) for p in (row["_id"]["first"], row["_id"]["last"]))
            while first <= last:
                start = day_start(first, zone)
                if start < filled_until:
                    days.add(start)
                first += timedelta(days=1)
    return days
