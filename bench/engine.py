"""The embedded engine before (plain mongomock-ng) and after viewstats/embedded.py.

Prints, for the same session-like documents in both engines:
  * find_one by _id at 1k / 10k / 100k documents (and at 100k with a TTL
    index on the collection, as push_state and media_events have);
  * update_one by {client_id, _id} at 100k;
  * list(find()) of the whole collection at 4k / 16k / 64k;
  * an aggregate whose first $match selects ~1 % of 100k documents.

    .venv/bin/python bench/engine.py [--quick]

Needs no Django and no MongoDB: both clients are in-process. Times are CPU
seconds of this process, which a busy machine disturbs less than wall time,
and the documents already built are kept out of the garbage collector's way
(gc.freeze) so that its passes over them do not land on whichever timing
happens to trigger one.
"""
import argparse
import gc
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import mongomock_ng  # noqa: E402
from pymongo import ASCENDING  # noqa: E402

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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="Smaller sizes (10x fewer documents).")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
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


if __name__ == "__main__":
    main()
