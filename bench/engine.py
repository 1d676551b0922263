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
    store.py's sessions do);
  * pipelines and sorted pages over one client's 28 days (about 23k of 100k
    sessions of 2 clients over 60 days): a $count, a breakdown ($facet of
    two $group chains), unique sessions ($setWindowFields twice, $set,
    $group), a day's figures ($facet with $project, $unwind, $match,
    $group) and the sessions list's first and next page (a find sorted by
    start and _id, limit 101): "before" is viewstats/embedded.py with the
    pipeline shortcuts switched off (the engine's own stages, full copies,
    the first $match run again on them, the engine's matcher, no sorted
    walk), "after" with them; then each shortcut alone on the breakdown.

    .venv/bin/python bench/engine.py [--quick] [--ranges-only] [--pipelines-only]

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
from mongomock_ng import aggregate as mm_aggregate  # noqa: E402
from mongomock_ng import filtering  # noqa: E402
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


class shortcuts:
    """Switches viewstats/embedded.py's pipeline and page shortcuts off (all, or those named) inside a `with`.

    skip_match: the first $match is run again on the copies; stages: the
    engine's own stage handlers; copies: whole documents copied; matcher:
    the engine's filter_applies; walk: sorted finds copy every match.
    """

    NAMES = ("skip_match", "stages", "copies", "matcher", "walk")

    def __init__(self, off=NAMES):
        self.off = off

    def __enter__(self):
        self.saved = {name: getattr(embedded, name) for name in
                      ("_applied_whole", "_run_pipeline", "_pipeline_needs", "_matcher")}
        self.walk = embedded._CollectionStore.ordered_walk
        if "skip_match" in self.off:
            embedded._applied_whole = lambda clauses, stage: False
        if "stages" in self.off:
            embedded._run_pipeline = lambda c, d, p, s, user_vars=None: mm_aggregate.process_pipeline(
                c, d, p, s, user_vars=user_vars)
        if "copies" in self.off:
            embedded._pipeline_needs = lambda pipeline: None
        if "matcher" in self.off:
            embedded._matcher = lambda spec, user_vars=None: (
                lambda doc: filtering.filter_applies(spec, doc, user_vars=user_vars))
        if "walk" in self.off:
            embedded._CollectionStore.ordered_walk = lambda *args: None

    def __exit__(self, *exc):
        for name, value in self.saved.items():
            setattr(embedded, name, value)
        embedded._CollectionStore.ordered_walk = self.walk


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
    ratio = before / after if after else None
    speedup = "" if ratio is None else f"{ratio:8.1f}x" if ratio < 10 else f"{ratio:8.0f}x"
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


def recent(i, rng):
    """A session of one of 2 clients in the 60 days after T0, a quarter of them with 5-minute traffic."""
    doc = session(i, rng)
    start = T0 + timedelta(seconds=rng.randrange(60 * 86400))
    doc.update(client_id=rng.randrange(2), start=start, end=start + timedelta(seconds=rng.randrange(7200)),
               received_at=start, updated_at=start, inter_server=False, kind=rng.choice(["live", "archive"]),
               user_agent=f"ua{rng.randrange(8)}", program_id=rng.randrange(50), account_id=rng.randrange(500))
    doc["duration"] = int((doc["end"] - doc["start"]).total_seconds())
    if rng.random() < 0.25:
        t, traffic = start.replace(second=0, microsecond=0), []
        while t < doc["end"]:
            traffic.append({"t": t, "bytes": rng.randrange(10 ** 6)})
            t += timedelta(minutes=5)
        doc.update(source="media_server", server_id=rng.randrange(3), traffic=traffic, bytes=sum(
            b["bytes"] for b in traffic))
    else:
        doc["source"] = "device"
    if rng.random() < 0.05:
        del doc["account_id"]
    return doc


VIEWER = {"$cond": [{"$eq": [{"$ifNull": ["$account_id", None]}, None]},
                    {"$concat": ["ip:", {"$ifNull": ["$ip", ""]}, "|", {"$ifNull": ["$user_agent", ""]}]},
                    {"$concat": ["a:", {"$toString": "$account_id"}]}]}
CONTENT = {"ip": {"$ifNull": ["$ip", None]}, "ua": {"$ifNull": ["$user_agent", None]},
           "channel": {"$ifNull": ["$channel_id", None]}, "media": {"$ifNull": ["$media", None]}, "kind": "$kind",
           "programme": {"$cond": [{"$eq": ["$kind", "archive"]}, {"$ifNull": ["$program_id", None]}, None]}}


def breakdown(match):
    """reports/breakdowns.py's faceted rows and totals, by channel."""
    sums = {"sessions": {"$sum": 1}, "watch_time": {"$sum": "$duration"},
            "bytes": {"$sum": {"$ifNull": ["$bytes", 0]}}}
    key = {"channel_id": "$channel_id",
           "media": {"$cond": [{"$eq": [{"$ifNull": ["$channel_id", None]}, None]}, "$media", None]}}
    rows = [{"$group": {"_id": {"k": key, "v": VIEWER}, **sums}},
            {"$group": {"_id": "$_id.k", "viewers": {"$sum": 1}, **{m: {"$sum": f"${m}"} for m in sums}}},
            {"$sort": {"sessions": -1, "watch_time": -1, "_id": 1}}]
    totals = [{"$group": {"_id": VIEWER, **sums}},
              {"$group": {"_id": None, "viewers": {"$sum": 1}, **{m: {"$sum": f"${m}"} for m in sums}}}]
    return [{"$match": match}, {"$facet": {"rows": rows, "totals": totals}}]


def unique(match):
    """reports/unique.py's merge stages, then a breakdown by channel."""
    return [
        {"$match": match},
        {"$setWindowFields": {"partitionBy": CONTENT, "sortBy": {"start": 1},
                              "output": {"_prev_end": {"$max": "$end", "window": {"documents": ["unbounded", -1]}}}}},
        {"$set": {"_new": {"$cond": [{"$or": [{"$eq": [{"$ifNull": ["$_prev_end", None]}, None]},
                                              {"$gt": [{"$subtract": ["$start", "$_prev_end"]}, 300000]}]}, 1, 0]}}},
        {"$setWindowFields": {"partitionBy": CONTENT, "sortBy": {"start": 1},
                              "output": {"_group": {"$sum": "$_new",
                                                    "window": {"documents": ["unbounded", "current"]}}}}},
        {"$group": {"_id": {"k": CONTENT, "g": "$_group"}, "start": {"$min": "$start"}, "end": {"$max": "$end"},
                    "raw_sessions": {"$sum": 1},
                    **{f: {"$first": f"${f}"} for f in ("client_id", "account_id", "channel_id", "ip", "user_agent",
                                                        "device_type", "protocol", "kind", "ua")}}},
        {"$set": {"duration": {"$toLong": {"$divide": [{"$subtract": ["$end", "$start"]}, 1000]}}}},
        *breakdown({})[1:],
    ]


def daily(client, d0, d1):
    """reports/daily.py's pass over one day (the sessions ending in it or after)."""
    inside = {"$max": [0, {"$subtract": [{"$min": [{"$toLong": "$end"}, (d1 - EPOCH) // MS]},
                                          {"$max": [{"$toLong": "$start"}, (d0 - EPOCH) // MS]}]}]}
    peer = {"$eq": ["$inter_server", True]}
    facet = {
        "sessions": [
            {"$project": {"_id": 0, "server": {"$ifNull": ["$server_id", "devices"]}, "protocol": "$protocol",
                          "peer": peer, "started": {"$cond": [{"$gte": ["$start", d0]}, 1, 0]}, "inside": inside}},
            {"$group": {"_id": {"server": "$server", "protocol": "$protocol", "peer": "$peer"},
                        "n": {"$sum": "$started"}, "inside": {"$sum": "$inside"},
                        "viewed": {"$sum": {"$cond": [{"$gt": ["$inside", 0]}, 1, 0]}}}}],
        "traffic": [
            {"$match": {"source": "media_server"}},
            {"$project": {"server_id": 1, "traffic": 1, "peer": peer}},
            {"$unwind": "$traffic"},
            {"$match": {"traffic.t": {"$gte": d0, "$lt": d1}}},
            {"$group": {"_id": {"server": "$server_id", "t": "$traffic.t", "peer": "$peer"},
                        "bytes": {"$sum": "$traffic.bytes"}}}],
    }
    match = {"client_id": client, "end": {"$gte": d0, "$lte": d1 + timedelta(days=1)}, "start": {"$lt": d1}}
    return [{"$match": match}, {"$facet": facet}]


EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MS = timedelta(milliseconds=1)


def pipelines(scale):
    """Pipelines and sorted pages of one client's 28 days, the shortcuts off (before) and on (after)."""
    rng = random.Random(3)
    n = 100_000 // scale
    client = EmbeddedClient(tz_aware=True)
    coll = client["bench"]["recent"]
    fill(coll, [recent(i, rng) for i in range(n)], n)
    since, until = T0 + timedelta(days=20), T0 + timedelta(days=48)
    window = {"client_id": 1, "start": {"$gte": since, "$lt": until}, "inter_server": {"$ne": True}}
    print(f"  -- {n} sessions of 2 clients over 60 days; one client's 28 days: "
          f"{coll.count_documents(window)} sessions")
    coll.count_documents(window)  # builds the index
    order = [("start", DESCENDING), ("_id", DESCENDING)]
    first = list(coll.find(window, {"traffic": 0}).sort(order).limit(101))
    last = first[-1]
    following = {**window, "$and": [{"start": {"$lte": last["start"]}},
                                    {"$or": [{"start": {"$lt": last["start"]}},
                                             {"start": last["start"], "_id": {"$lt": last["_id"]}}]}]}
    day = T0 + timedelta(days=30)
    queries = [
        ("aggregate, $match then $count", lambda c: list(c.aggregate([{"$match": window}, {"$count": "n"}]))),
        ("aggregate, breakdown (facet of 2 groups)", lambda c: list(c.aggregate(breakdown(window)))),
        ("aggregate, unique sessions", lambda c: list(c.aggregate(unique(window)))),
        ("aggregate, one day's figures", lambda c: list(c.aggregate(daily(1, day, day + timedelta(days=1))))),
        ("find sorted by start, _id, limit 101", lambda c: list(c.find(window, {"traffic": 0}).sort(order)
                                                                 .limit(101))),
        ("same, the next page", lambda c: list(c.find(following, {"traffic": 0}).sort(order).limit(101))),
    ]
    for label, query in queries:
        times, results = {}, {}
        for name, off in (("before", shortcuts.NAMES), ("after", ())):
            with shortcuts(off):
                results[name] = query(coll)
                times[name] = per_call(lambda q=query: q(coll), budget=2.0)
        assert results["before"] == results["after"], label
        row(label, times["before"], times["after"])
    print("  each shortcut on the breakdown: alone (before: all off), and last (before: all on but it)")
    query = queries[1][1]

    def timed(off):
        with shortcuts(off):
            return per_call(lambda: query(coll), budget=2.0)

    none, every = timed(shortcuts.NAMES), timed(())
    for name in ("skip_match", "stages", "copies", "matcher"):
        row(f"  {name} alone", none, timed(tuple(other for other in shortcuts.NAMES if other != name)))
        row(f"  {name} last", timed((name,)), every)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="Smaller sizes (10x fewer documents).")
    parser.add_argument("--ranges-only", action="store_true", help="Only the 28-day queries.")
    parser.add_argument("--pipelines-only", action="store_true", help="Only the pipelines and sorted pages.")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    if args.ranges_only or args.pipelines_only:
        print(f"  {'':<44}{'before':>13}{'after':>13}{'speedup':>9}")
        (ranges if args.ranges_only else pipelines)(scale)
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
    print("pipelines and sorted pages: viewstats/embedded.py without its pipeline shortcuts (before) and with them")
    pipelines(scale)


if __name__ == "__main__":
    main()
