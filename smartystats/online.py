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
    """Pipeline of the subscriber sessions online at some instant of [start, end), by start.

    A session is online during [its start, its end): it must end after `start`
    (one ending exactly at `start` is not online then) and start before `end`.
    """
    return [
        {"$match": {"client_id": client_id, "end": {"$gt": start}, "start": {"$lt": end},
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
    """Peaks of the buckets between consecutive `boundaries` (one MongoDB query)."""
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
    pipeline = [
        {"$match": {"client_id": client_id, "end": {"$gt": since}, "start": {"$lte": now},
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

    A session is online during [start, end): its last day is the day of its
    last online instant (end minus 1 ms; sessions are whole seconds), so one
    ending exactly at midnight does not touch the next day. Sessions never
    online (end <= start) touch no day.
    """
    last_instant = {"$subtract": [{"$min": ["$end", filled_until]}, 1]}
    return [
        {"$match": {"client_id": client_id, "start": {"$lt": filled_until},
                    "account_id": {"$ne": None}, "$expr": {"$gt": ["$end", "$start"]},
                    "$or": [{"received_at": {"$gt": since, "$lte": until}},
                            {"source": "media_server", "updated_at": {"$gt": since, "$lte": until}}]}},
        {"$project": {"_id": 0,
                      "first": {"$dateTrunc": {"date": "$start", "unit": "day"}},
                      "last": {"$dateTrunc": {"date": last_instant, "unit": "day"}}}},
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
