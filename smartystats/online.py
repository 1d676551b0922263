"""Peak concurrency ("max online") and "online now", from viewing sessions.

Definition. Sessions are kept to the second; a session covers every second
from `start` to `end` inclusive (a zero-length session covers its one
second). The number online at second t is the number of distinct accounts
(and, separately, distinct customers) with a session covering t; sessions
with no account (unidentified media-server viewers) are not subscribers and
are not counted. The peak of a bucket [a, b) is the maximum of that number
over every second of the bucket, so a session crossing a bucket edge counts
in both buckets, and a day's peak is the maximum of its hours' peaks.

The sweep streams one cursor per range, sorted by start, and keeps in memory
only the sessions open at the sweep point, so memory follows concurrency,
not the number of sessions.
"""
import heapq
from collections import Counter
from datetime import timedelta

from viewstats import store

from .conf import setting

SECOND = timedelta(seconds=1)


def sessions_query(client_id, start, end):
    """Pipeline of the subscriber sessions covering some second of [start, end), by start."""
    return [
        {"$match": {"client_id": client_id, "end": {"$gte": start}, "start": {"$lt": end},
                    "account_id": {"$ne": None}}},
        {"$sort": {"start": 1}},
        {"$project": {"_id": 0, "start": 1, "end": 1, "account_id": 1, "customer_id": 1}},
    ]


def stream_sessions(client_id, start, end):
    # A day of a large client may not sort in MongoDB's 100 MB sort memory.
    options = {} if store.is_embedded() else {"allowDiskUse": True}
    return store.sessions().aggregate(sessions_query(client_id, start, end), **options)


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

    `sessions` must be sorted by start and cover [boundaries[0], boundaries[-1]).
    The count can only rise when a session starts, so each bucket's peak is
    reached at its first second or at a start inside it.
    """
    n = len(boundaries) - 1
    peaks = [[0, 0] for _ in range(n)]
    if n <= 0:
        return []
    accounts, customers = _Online(), _Online()
    ends = []  # heap of (first second no longer covered, seq, account, customer)
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
        while bucket < n - 1 and boundaries[bucket + 1] <= at:
            bucket += 1
            expire(boundaries[bucket])
            record()  # sessions running across the edge
        expire(at)
        acc, cust = s.get("account_id"), s.get("customer_id")
        accounts.add(acc)
        customers.add(cust)
        seq += 1
        heapq.heappush(ends, (s["end"] + SECOND, seq, acc, cust))
        record()
    while bucket < n - 1:
        bucket += 1
        expire(boundaries[bucket])
        record()
    return [tuple(p) for p in peaks]


def peaks(client_id, boundaries):
    """Peaks of the buckets between consecutive `boundaries` (one MongoDB query)."""
    return sweep_peaks(stream_sessions(client_id, boundaries[0], boundaries[-1]), boundaries)


def online_now(client_id, now):
    """Distinct accounts and customers with a session still open at `now`.

    Open means its last heartbeat is within VIEWSTATS_PUSH_SESSION_TIMEOUT,
    the same rule stat/push uses to continue a session.
    """
    since = now - timedelta(seconds=setting("VIEWSTATS_PUSH_SESSION_TIMEOUT"))
    pipeline = [
        {"$match": {"client_id": client_id, "end": {"$gte": since}, "start": {"$lte": now},
                    "account_id": {"$ne": None}}},
        {"$facet": {
            "accounts": [{"$group": {"_id": "$account_id"}}, {"$count": "n"}],
            "customers": [{"$match": {"customer_id": {"$ne": None}}},
                          {"$group": {"_id": "$customer_id"}}, {"$count": "n"}],
        }},
    ]
    [result] = list(store.sessions().aggregate(pipeline))
    return {key: (result[key][0]["n"] if result[key] else 0) for key in ("accounts", "customers")}


def arrivals_pipeline(client_id, since, until, filled_until):
    """UTC day spans of filled time covered by sessions that arrived in (since, until].

    A session "arrives" when it is first stored (`received_at`: a batch an
    app uploads hours late, a push session's first heartbeat) or, for media
    servers, whenever a resent backlog rebuilds it (`updated_at`). Later
    heartbeats of a push session only extend it past the filled hours (those
    trail now by the session timeout), so they are not arrivals.
    """
    return [
        {"$match": {"client_id": client_id, "start": {"$lt": filled_until},
                    "account_id": {"$ne": None},
                    "$or": [{"received_at": {"$gt": since, "$lte": until}},
                            {"source": "media_server", "updated_at": {"$gt": since, "$lte": until}}]}},
        {"$project": {"_id": 0,
                      "first": {"$dateTrunc": {"date": "$start", "unit": "day"}},
                      "last": {"$dateTrunc": {"date": {"$min": ["$end", filled_until]}, "unit": "day"}}}},
        {"$group": {"_id": {"first": "$first", "last": "$last"}}},
    ]


def days_touched_by_arrivals(client_id, since, until, filled_until):
    days = set()
    for row in store.sessions().aggregate(arrivals_pipeline(client_id, since, until, filled_until)):
        day, last = row["_id"]["first"], row["_id"]["last"]
        while day <= last:
            if day < filled_until:
                days.add(day)
            day += timedelta(days=1)
    return days
