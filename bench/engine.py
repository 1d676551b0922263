"""The embedded engine before (plain mongomock-ng) and after viewstats/embedded.py.

Prints, for the same session-like documents in both engines:
  * find_one by _id at 1k / 10k / 100k documents (and at 100k with a TTL
    index on the collection, as push_state and media_events have);
  * update_one by {client_id, _id} at 100k;
  * list(find()) of the whole collection at 4k / 16k / 64k;
  * an aggregate whose first $match selects ~1 % of 100k documents;
  * queries of one client over 28 days (a find, a count, a report-like
    aggregate, the daily report's `end` window) on a year of 4 clients'
    sessions, 10k and 100k stored: there "before" is viewstats/embedded.py
    with its ordered (client, date) indexes switched off, "after" with them;
    plus the first such query (which builds the index) and an ingestion-like
    request (an insert, then a count of the account's sessions that day, on
    the (client_id, account_id, start) index the collection declares, as
    store.py's sessions do).

    .venv/bin/python bench/engine.py [--quick] [--ranges-only]

Needs no Django and no MongoDB: both clients are in-process. Times are CPU
seconds of this process, which a busy machine disturbs less than wall time,
and the documents already built are kept out of the garbage collector's way
(gc.freeze) so that its passes over them do not land on whichever timing
happens to trigger one.
"""
import argparse
import gc
import itertools
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import mongomock_ng  # noqa: E402
from pymongo import ASCENDING, DESCENDING  # noqa: E402

from viewstats import embedded  # noqa: E402
from viewstats.embedded import EmbeddedClient  # noqa: E402

T0 = datetime(2024, 5, 1, tzinfo=timezone.utc)


def session(i, rng):
    start = T0 + timedelta(seconds=rng.randrange(30 * 86400))
    return {
        "_id": f"s{i:08d}", "client_id": rng.randrange(100), "account_id": rng.randrange(5000),
        "channel_id": rng.randrange(300), "start": start, "end": start + timedelta(seconds=rng.randrange(7200)),
        "received_at": start, "protocol": rng.choice(["hls", "dash", "rtsp"]),
        "device_type": rng.choice(["stb", "android", "ios", "web"]), "ip": f"10.0.{i % 256}.{i // 256 % 256}",
        "ua": {"type": "tv", "os": "linux"}, "duration": rng.randrange(7200), "archive": False,
    }


def history(i, rng):
    """A session of one of 4 clients, somewhere in the year after T0."""
    doc = session(i, rng)
    start = T0 + timedelta(seconds=rng.randrange(365 * 86400))
    doc.update(client_id=rng.randrange(4), start=start, end=start + timedelta(seconds=rng.randrange(7200)),
               received_at=start, updated_at=start)
    return doc


class ordered_indexes:
    """Switches viewstats/embedded.py's ordered indexes off (the engine's scan) or on, inside a `with`."""

    def __init__(self, on):
        self.on = on

    def __enter__(self):
        self.plan = embedded._range_plan
        if not self.on:
            embedded._range_plan = lambda spec: None

    def __exit__(self, *exc):
        embedded._range_plan = self.plan


def per_call(fn, budget=1.0, max_reps=2000):
    """Mean seconds of one call after a first one, repeating until `budget` seconds are spent.

    The first call is left out: it is where a new TTL index gets its first
    scan (once per index).
    """
    fn()
    reps, began = 0, time.process_time()
    while True:
        fn()
        reps += 1
        spent = time.process_time() - began
        if spent >= budget or reps >= max_reps:
            return spent / reps


def once(fn):
    began = time.process_time()
    fn()
    return time.process_time() - began


def fill(coll, docs, upto):
    have = coll.estimated_document_count()
    if upto > have:
        coll.insert_many([dict(d) for d in docs[have:upto]], ordered=False)
    gc.collect()
    gc.freeze()


def fmt(seconds):
    return f"{seconds * 1000:10.2f} ms" if seconds < 10 else f"{seconds:10.1f} s "


def row(label, before, after):
    speedup = f"{before / after:8.0f}x" if after else ""
    print(f"  {label:<44}{fmt(before)}{fmt(after)}{speedup}")


def ranges(scale):
    """28-day queries of one client, with the ordered indexes off (before) and on (after)."""
    rng = random.Random(2)
    docs = [history(i, rng) for i in range(100_000 // scale)]
    client = EmbeddedClient(tz_aware=True)
    since, until = T0 + timedelta(days=200), T0 + timedelta(days=228)
    window = {"client_id": 1, "start": {"$gte": since, "$lt": until}}
    daily = {"client_id": 1, "end": {"$gte": since, "$lte": until + timedelta(days=1)}, "start": {"$lt": until}}
    queries = [
        ("find, 28 days of one client", lambda c: list(c.find(window))),
        ("count_documents, same", lambda c: c.count_documents(window)),
        ("aggregate, same, by channel", lambda c: list(c.aggregate([
            {"$match": window},
            {"$group": {"_id": "$channel_id", "n": {"$sum": 1}, "seconds": {"$sum": "$duration"}}},
            {"$sort": {"_id": 1}}]))),
        ("aggregate, daily's end window", lambda c: list(c.aggregate([
            {"$match": daily}, {"$group": {"_id": None, "n": {"$sum": 1}}}]))),
    ]
    for n in (10_000 // scale, 100_000 // scale):
        coll = client["bench"][f"history{n}"]
        coll.create_index([("client_id", ASCENDING), ("account_id", ASCENDING), ("start", DESCENDING)])
        fill(coll, docs, n)
        print(f"  -- {n} sessions of 4 clients over a year; one client's 28 days: "
              f"{sum(1 for d in docs[:n] if d['client_id'] == 1 and since <= d['start'] < until)} sessions")
        with ordered_indexes(False):
            scan = once(lambda c=coll: c.count_documents(window))
        with ordered_indexes(True):
            built = once(lambda c=coll: c.count_documents(window))
        row("count_documents, first (builds the index)", scan, built)
        for label, query in queries:
            times, results = {}, {}
            for name, on in (("before", False), ("after", True)):
                with ordered_indexes(on):
                    results[name] = query(coll)
                    times[name] = per_call(lambda c=coll, q=query: q(c))
            assert results["before"] == results["after"]
            row(label, times["before"], times["after"])

        fresh = itertools.count(10**7 + n)

        def request(c=coll):
            doc = history(next(fresh), rng)
            c.insert_one(doc)
            day = doc["start"].replace(hour=0, minute=0, second=0, microsecond=0)
            c.count_documents({"client_id": doc["client_id"], "account_id": doc["account_id"],
                               "start": {"$gte": day, "$lt": day + timedelta(days=1)}})

        times = {}
        for name, on in (("before", False), ("after", True)):
            with ordered_indexes(on):
                times[name] = per_call(request)
        row("insert + count of that day", times["before"], times["after"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="Smaller sizes (10x fewer documents).")
    parser.add_argument("--ranges-only", action="store_true", help="Only the 28-day queries.")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    if args.ranges_only:
        print(f"  {'':<44}{'before':>13}{'after':>13}{'speedup':>9}")
        ranges(scale)
        return
    rng = random.Random(1)
    docs = [session(i, rng) for i in range(100_000 // scale)]
    engines = {"before": mongomock_ng.MongoClient(tz_aware=True), "after": EmbeddedClient(tz_aware=True)}
    print(f"embedded engine: plain mongomock-ng {mongomock_ng.__version__} (before) "
          f"and viewstats/embedded.py (after)")
    print(f"  {'':<44}{'before':>13}{'after':>13}{'speedup':>9}")

    for n in (1_000 // scale, 10_000 // scale, 100_000 // scale):
        times = {}
        for name, client in engines.items():
            coll = client["bench"]["sessions"]
            fill(coll, docs, n)
            ids = [docs[rng.randrange(n)]["_id"] for _ in range(50)]
            times[name] = per_call(lambda c=coll, i=ids: c.find_one({"_id": i[rng.randrange(50)]}))
        row(f"find_one by _id, {n} docs", times["before"], times["after"])

    n = 100_000 // scale
    times = {}
    for name, client in engines.items():
        coll = client["bench"]["sessions"]
        times[name] = per_call(lambda c=coll: c.update_one(
            {"client_id": docs[0]["client_id"], "_id": docs[0]["_id"]}, {"$inc": {"duration": 1}}))
    row(f"update_one by client_id+_id, {n} docs", times["before"], times["after"])

    times = {}
    for name, client in engines.items():
        coll = client["bench"]["ttl"]
        fill(coll, docs, n)
        coll.create_index([("end", ASCENDING)], expireAfterSeconds=100 * 365 * 86400)
        times[name] = per_call(lambda c=coll: c.find_one({"_id": docs[rng.randrange(n)]["_id"]}))
    row(f"find_one by _id, {n} docs, TTL index", times["before"], times["after"])

    for n in (4_000 // scale, 16_000 // scale, 64_000 // scale):
        times = {}
        for name, client in engines.items():
            coll = client["bench"][f"scan{n}"]
            fill(coll, docs, n)
            times[name] = once(lambda c=coll: list(c.find()))
        row(f"list(find()), {n} docs", times["before"], times["after"])

    n = 100_000 // scale
    pipeline = [
        {"$match": {"client_id": 7, "start": {"$gte": T0 + timedelta(days=10)}}},
        {"$group": {"_id": "$channel_id", "sessions": {"$sum": 1}, "seconds": {"$sum": "$duration"}}},
        {"$sort": {"seconds": -1}},
    ]
    times, results = {}, {}
    for name, client in engines.items():
        coll = client["bench"]["sessions"]
        times[name] = once(lambda c=coll, k=name: results.__setitem__(k, list(c.aggregate(pipeline))))
    assert results["before"] == results["after"]
    row(f"aggregate, first $match ~1 % of {n} docs", times["before"], times["after"])

    print("ordered (client, date) indexes: viewstats/embedded.py without them (before) and with them (after)")
    ranges(scale)


if __name__ == "__main__":
    main()
