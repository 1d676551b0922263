"""The embedded engine (viewstats/embedded.py): same answers as plain mongomock-ng, faster; persistence.

The comparisons run every operation on a plain mongomock-ng client and on
ours, side by side, and require equal results, equal errors and equal
contents afterwards.
"""
import copy
import json
import os
import random
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import mongomock_ng
import pytest
from bson import Decimal128, Int64, ObjectId, json_util
from mongomock_ng import collection as mm_collection
from mongomock_ng import filtering
from mongomock_ng import helpers as mm_helpers
from pymongo import ASCENDING, DESCENDING, DeleteMany, DeleteOne, InsertOne, ReplaceOne, UpdateMany, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError
from sentinels import NOTHING

from viewstats import embedded, store

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2024, 3, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)


def _clients(tz_aware=True):
    return mongomock_ng.MongoClient(tz_aware=tz_aware), embedded.EmbeddedClient(tz_aware=tz_aware)


def _normal(value):
    """Outputs with engine-generated ObjectIds and client numbers made comparable."""
    if isinstance(value, ObjectId):
        return "<oid>"
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items() if k != "connectionId"}
    if isinstance(value, (list, tuple)):
        return [_normal(v) for v in value]
    return value


def _outcome(fn):
    try:
        result = fn()
        if hasattr(result, "__next__"):
            return ("rows", _normal(list(result)))
    except BulkWriteError as exc:
        return ("error", type(exc).__name__, _normal(exc.details))
    except Exception as exc:  # the same failure is part of the same answer
        return ("error", type(exc).__name__, str(exc), _normal(getattr(exc, "details", None)))
    if hasattr(result, "raw_result"):
        return ("result", _normal(result.raw_result))
    if hasattr(result, "bulk_api_result"):
        return ("result", _normal(result.bulk_api_result))
    if hasattr(result, "inserted_ids"):
        return ("result", _normal(result.inserted_ids))
    if hasattr(result, "inserted_id"):
        return ("result", _normal(result.inserted_id))
    return ("value", _normal(result))


def _both(plain, ours, fn):
    a, b = _outcome(lambda: fn(plain)), _outcome(lambda: fn(ours))
    assert a == b
    return a


class World:
    """Random documents and queries over a small domain, so that they meet."""

    IDS = [*range(40), *(f"s{i}" for i in range(40)), *(ObjectId(f"{i:024x}") for i in range(1, 20)), 7.0, 2.5]

    def __init__(self, seed):
        self.rng = random.Random(seed)

    def id(self):
        return self.rng.choice(self.IDS)

    def when(self):
        return T0 + timedelta(minutes=self.rng.randrange(-600, 600), microseconds=self.rng.randrange(10**6))

    def doc(self, with_id=True):
        r = self.rng
        doc = {"client_id": r.randrange(3), "k": r.randrange(8)}
        if with_id:
            doc = {"_id": self.id(), **doc}
        if r.random() < 0.8:
            doc["t"] = self.when()
        elif r.random() < 0.5:
            doc["t"] = r.choice([None, "soon", 5, [self.when(), self.when()], []])
        if r.random() < 0.6:
            doc["tags"] = r.sample(["a", "b", "c", "d"], r.randrange(4))
        if r.random() < 0.5:
            doc["sub"] = {"a": r.randrange(4), "b": r.choice(["x", "y"]), "at": self.when()}
        if r.random() < 0.2:
            doc["price"] = r.choice([1.5, 2, Decimal128("3.25")])
        return doc

    def clause(self):
        r = self.rng
        return r.choice([
            lambda: {"client_id": r.randrange(3)},
            lambda: {"client_id": {"$in": [0, r.randrange(3)]}},
            lambda: {"k": {"$gt": r.randrange(8)}},
            lambda: {"k": {"$lte": r.randrange(8)}, "client_id": r.randrange(3)},
            lambda: {"t": {"$gte": self.when()}},
            lambda: {"t": {"$lt": self.when()}, "k": {"$ne": 3}},
            lambda: {"tags": r.choice(["a", "b"])},
            lambda: {"sub.a": r.randrange(4)},
            lambda: {"sub.at": {"$gt": self.when()}},
            lambda: {"t": {"$exists": r.random() < 0.5}},
            lambda: {"$or": [{"k": 1}, {"sub.b": "x"}]},
            lambda: {"$and": [{"k": {"$gte": 2}}, {"tags": {"$nin": ["c"]}}]},
            lambda: {"k": {"$in": [1, 2, 3]}, "$expr": {"$gt": ["$k", 1]}},
            lambda: {"tags": {"$size": 2}},
            lambda: {"price": {"$gt": 1}},
            lambda: {},
        ])()

    def filter(self):
        r = self.rng
        choice = r.randrange(12)
        if choice == 0:
            return {"_id": self.id()}
        if choice == 1:
            return {"client_id": r.randrange(3), "_id": self.id()}
        if choice == 2:
            return {"_id": self.id(), **self.clause()}
        if choice == 3:
            return {"_id": {"$in": [self.id() for _ in range(r.randrange(6))]}}
        if choice == 4:
            return {"_id": {"$eq": self.id()}, "k": {"$gte": r.randrange(8)}}
        if choice == 5:
            return {**self.clause(), "_id": {"$in": [self.id() for _ in range(3)]}}
        if choice == 6:
            return {"_id": {"$gt": r.randrange(40)}}
        if choice == 7:
            # Clauses that could raise come before the _id: the engine's path.
            return {"k": {"$all": [1]}, "_id": self.id()}
        return self.clause()

    def update(self):
        r = self.rng
        return r.choice([
            lambda: {"$set": {"k": r.randrange(8)}},
            lambda: {"$set": {"t": self.when(), "sub.b": "z"}},
            lambda: {"$inc": {"k": 1}, "$unset": {"tags": ""}},
            lambda: {"$push": {"tags": "e"}},
            lambda: {"$setOnInsert": {"fresh": True}, "$set": {"seen": self.when()}},
            lambda: {"$inc": {"tags": 1}},  # fails on documents with tags (an array)
            lambda: {"$set": {"_id": "changed"}},  # fails: _id is immutable
            lambda: [{"$set": {"k2": {"$add": ["$k", 1]}}}],
        ])()


def _upsert(rng, spec, chance):
    # The engine would store an `_id: {"$in": ...}` document, which breaks it for good.
    return rng.random() < chance and not isinstance(spec.get("_id"), dict)


def _sort(rng):
    return rng.choice([None, [("k", ASCENDING)], [("t", DESCENDING), ("_id", ASCENDING)], [("sub.a", ASCENDING)]])


def _pipeline(world):
    r = world.rng
    match = world.filter()
    return r.choice([
        lambda: [{"$match": match}],
        lambda: [{"$match": match}, {"$group": {"_id": "$client_id", "n": {"$sum": 1}, "last": {"$max": "$t"}}},
                 {"$sort": {"_id": 1}}],
        lambda: [{"$match": match}, {"$sort": {"k": -1, "_id": 1}}, {"$skip": 1}, {"$limit": 5},
                 {"$project": {"k": 1, "t": 1}}],
        lambda: [{"$match": {**match, "$expr": {"$gte": ["$k", 2]}}}],
        lambda: [{"$match": {"$expr": {"$lt": ["$k", 4]}, "client_id": 1}}],
        lambda: [{"$project": {"k": 1, "client_id": 1}}, {"$match": match}],
        lambda: [{"$match": match}, {"$unwind": "$tags"}, {"$group": {"_id": "$tags", "n": {"$sum": 1}}},
                 {"$sort": {"_id": 1}}],
        lambda: [{"$match": {"t": {"$gte": T0.replace(microsecond=999), "$lt": T0 + timedelta(hours=3)}}}],
        lambda: [{"$match": {"$or": []}}],
        lambda: [{"$match": {"k": {"$bogus": 1}}}],
        lambda: [],
    ])()


def _run_random(seed, steps, tz_aware=True):
    world = World(seed)
    r = world.rng
    plain, ours = _clients(tz_aware)
    names = ["c", "ttl"]
    for client in (plain, ours):
        client["db"]["ttl"].create_index([("t", ASCENDING)], expireAfterSeconds=3600)
    clock = [T0 + timedelta(hours=1)]
    original_utcnow = mongomock_ng.utcnow
    mongomock_ng.utcnow = lambda: clock[0]
    try:
        for step in range(steps):
            name = r.choice(names)
            op = r.randrange(20)

            def on(fn):
                return _both(plain["db"][name], ours["db"][name], fn)

            if op == 0:
                doc = world.doc(with_id=r.random() < 0.9)
                on(lambda c: c.insert_one(copy.deepcopy(doc)))
            elif op == 1:
                docs = [world.doc() for _ in range(r.randrange(1, 8))]
                ordered = r.random() < 0.5
                on(lambda c: c.insert_many(copy.deepcopy(docs), ordered=ordered))
            elif op == 2:
                f, u = world.filter(), world.update()
                upsert = _upsert(r, f, 0.4)
                on(lambda c: c.update_one(f, u, upsert=upsert))
            elif op == 3:
                f, u = world.filter(), world.update()
                upsert = _upsert(r, f, 0.2)
                on(lambda c: c.update_many(f, u, upsert=upsert))
            elif op == 4:
                f, d = world.filter(), world.doc(with_id=False)
                upsert = _upsert(r, f, 0.4)
                on(lambda c: c.replace_one(f, d, upsert=upsert))
            elif op == 5:
                f = world.filter()
                on(lambda c: c.delete_one(f))
            elif op == 6 and r.random() < 0.3:
                f = world.clause()
                on(lambda c: c.delete_many(f))
            elif op == 7:
                f, u, sort = world.filter(), world.update(), _sort(r)
                after, upsert = r.random() < 0.5, _upsert(r, f, 0.3)
                on(lambda c: c.find_one_and_update(f, u, sort=sort, upsert=upsert, return_document=after))
            elif op == 8:
                f = world.filter()
                on(lambda c: c.find_one_and_delete(f))
            elif op == 9:
                requests = []
                for _ in range(r.randrange(1, 6)):
                    kind = r.randrange(6)
                    if kind == 0:
                        requests.append(InsertOne(world.doc()))
                    elif kind == 1:
                        f = world.filter()
                        requests.append(UpdateOne(f, world.update(), upsert=_upsert(r, f, 0.3)))
                    elif kind == 2:
                        requests.append(ReplaceOne(world.filter(), world.doc(with_id=False)))
                    elif kind == 3:
                        requests.append(DeleteOne(world.filter()))
                    elif kind == 4:
                        requests.append(UpdateMany(world.clause(), world.update()))
                    else:
                        requests.append(DeleteMany({"_id": world.id()}))
                ordered = r.random() < 0.5
                on(lambda c: c.bulk_write(copy.deepcopy(requests), ordered=ordered))
            elif op == 10:
                f, sort = world.filter(), _sort(r)
                skip, limit = r.choice([0, 0, 1, 3]), r.choice([0, 0, 2, 5, -2])
                projection = r.choice([None, {"k": 1}, {"tags": 0}, {"_id": 0, "t": 1}])
                on(lambda c: c.find(f, projection, sort=sort, skip=skip, limit=limit))
            elif op == 11:
                f, sort = world.filter(), _sort(r)
                on(lambda c: c.find_one(f, sort=sort))
            elif op == 12:
                f = world.filter()
                on(lambda c: c.count_documents(f))
                on(lambda c: sorted(c.distinct("k", f)))
            elif op in (13, 14):
                pipeline = _pipeline(world)
                on(lambda c: c.aggregate(pipeline))
            elif op == 15:
                clock[0] += timedelta(minutes=r.randrange(0, 90))
            elif op == 16:
                value = world.id()
                on(lambda c: c.find_one(value))
            elif op == 17 and r.random() < 0.05:
                on(lambda c: c.drop())
            elif op == 18 and r.random() < 0.1:
                # Renames move the whole collection, its _id map with it.
                target = "moved" if name == "c" else "c"
                on(lambda c: c.rename(target, dropTarget=True))
                names = ["c", "ttl", "moved"]
            if step % 10 == 0:
                for each in names:
                    on(lambda c, n=each: c.database[n].find())
        for each in names:
            _both(plain["db"][each], ours["db"][each], lambda c: c.find())
    finally:
        mongomock_ng.utcnow = original_utcnow


@pytest.mark.parametrize("seed, tz_aware", [*((seed, True) for seed in range(12)), (12, False), (13, False)])
def test_random_operations_give_the_engines_answers(seed, tz_aware):
    _run_random(seed, 400, tz_aware)


def test_duplicate_ids_fail_as_before():
    plain, ours = _clients()
    for client in (plain, ours):
        client.db.c.insert_many([{"_id": i} for i in range(5)])
    _both(plain.db.c, ours.db.c, lambda c: c.insert_one({"_id": 3, "x": 1}))
    docs = [{"_id": 10}, {"_id": 2}, {"_id": 11}, {"_id": 10}, {"_id": 4.0}, {"_id": "12"}]
    outcome = _both(plain.db.c, ours.db.c, lambda c: c.insert_many(copy.deepcopy(docs), ordered=False))
    assert [e["index"] for e in outcome[2]["writeErrors"]] == [1, 3, 4]
    assert {e["code"] for e in outcome[2]["writeErrors"]} == {11000} and outcome[2]["nInserted"] == 3
    _both(plain.db.c, ours.db.c, lambda c: c.insert_many([{"_id": 20}, {"_id": 1}, {"_id": 21}], ordered=True))
    with pytest.raises(DuplicateKeyError):
        ours.db.c.insert_one({"_id": 0})
    assert [d["_id"] for d in ours.db.c.find()] == [d["_id"] for d in plain.db.c.find()]


def test_store_insert_unordered_reports_duplicate_positions():
    store.insert_unordered(store.SESSIONS, [{"_id": "a", "client_id": 1}, {"_id": "b", "client_id": 1}])
    inserted, duplicates = store.insert_unordered(
        store.SESSIONS, [{"_id": "c", "client_id": 1}, {"_id": "a", "client_id": 1}, {"_id": "c", "client_id": 1}])
    assert (inserted, duplicates) == ([0], [1, 2])


def test_deletes_and_reinserts_keep_the_id_map_and_the_order_right():
    plain, ours = _clients()
    for client in (plain, ours):
        client.db.c.insert_many([{"_id": i, "client_id": i % 2} for i in range(10)])
    for step in (
        lambda c: c.delete_one({"client_id": 1, "_id": 3}),
        lambda c: c.delete_one({"client_id": 1, "_id": 4}),  # client 0's: no match
        lambda c: c.find_one({"_id": 3}),
        lambda c: c.insert_one({"_id": 3, "client_id": 0}),
        lambda c: c.find({"_id": {"$in": [9, 3, 0, 3.0, 42]}}),
        lambda c: c.update_one({"client_id": 0, "_id": 3}, {"$set": {"x": 1}}),
        lambda c: c.delete_many({"client_id": 0}),
        lambda c: c.find_one({"_id": 0}),
        lambda c: c.update_one({"client_id": 5, "_id": 0}, {"$set": {"x": 2}}, upsert=True),
        lambda c: c.replace_one({"_id": 0}, {"client_id": 6}, upsert=True),
        lambda c: c.find_one_and_update({"_id": 77, "client_id": 7}, {"$set": {"y": 1}}, upsert=True),
        lambda c: c.find({"_id": {"$in": [77, 0, 1]}}),
        lambda c: c.find(),
    ):
        _both(plain.db.c, ours.db.c, step)
    ours.db.c.drop()
    assert ours.db.c.find_one({"_id": 1}) is None
    ours.db.c.insert_one({"_id": 1})
    assert ours.db.c.find_one({"_id": 1}) == {"_id": 1}


def test_point_lookups_do_not_scan():
    ours = embedded.EmbeddedClient(tz_aware=True)
    ours.db.c.insert_many([{"_id": i, "client_id": i % 5} for i in range(2000)])
    ours.db.c.create_index([("client_id", ASCENDING), ("t", ASCENDING)], name="ttl_free")
    ours.db.ttl.insert_many([{"_id": i, "client_id": i % 5, "t": T0} for i in range(2000)])
    ours.db.ttl.create_index([("t", ASCENDING)], expireAfterSeconds=10 * 365 * 86400)
    calls = []
    original = filtering.filter_applies
    filtering.filter_applies = lambda *a, **k: (calls.append(1), original(*a, **k))[1]
    try:
        for coll in (ours.db.c, ours.db.ttl):
            assert coll.find_one({"_id": 1234})["_id"] == 1234
            assert coll.find_one({"client_id": 4, "_id": 1234}, {"_id": 1}) == {"_id": 1234}
            assert coll.update_one({"client_id": 4, "_id": 1234}, {"$set": {"x": 1}}).modified_count == 1
            assert coll.delete_one({"_id": 1999}).deleted_count == 1
            assert coll.bulk_write([UpdateOne({"_id": 5}, {"$set": {"y": 1}})]).modified_count == 1
            assert len(list(coll.find({"_id": {"$in": [1, 2, 3]}}))) == 3
            assert list(coll.aggregate([{"$match": {"_id": 7}}, {"$project": {"_id": 1}}])) == [{"_id": 7}]
    finally:
        filtering.filter_applies = original
    assert len(calls) < 60


def test_aggregate_copies_only_what_the_first_match_keeps():
    ours = embedded.EmbeddedClient(tz_aware=True)
    ours.db.c.insert_many([{"_id": i, "client_id": i % 100, "t": T0} for i in range(3000)])
    copied = []
    original = embedded._copy_out
    embedded._copy_out = lambda value, aware: (
        copied.append(1) if isinstance(value, dict) and "_id" in value else None, original(value, aware))[1]
    try:
        rows = list(ours.db.c.aggregate([{"$match": {"client_id": 7}}, {"$count": "n"}]))
    finally:
        embedded._copy_out = original
    assert rows == [{"n": 30}] and len(copied) == 30


def test_cursors_walk_their_results_without_reslicing():
    plain, ours = _clients()
    for client in (plain, ours):
        client.db.c.insert_many([{"_id": i, "k": i % 7} for i in range(500)])
    sliced = []
    original = mm_collection.Cursor._compute_results

    def spy(self, with_limit_and_skip=False):
        if with_limit_and_skip:
            sliced.append(1)
        return original(self, with_limit_and_skip)

    mm_collection.Cursor._compute_results = spy
    try:
        assert sum(1 for _ in ours.db.c.find()) == 500
        assert not sliced
    finally:
        mm_collection.Cursor._compute_results = original

    def partial_then_more(c):
        cursor = c.find({"k": 3}, skip=2, limit=20)
        head = [next(cursor) for _ in range(3)]
        c.insert_one({"_id": 1000, "k": 3})  # the cursor's results are already taken
        return head + list(cursor) + [cursor.alive]

    def empty_then_filled(c):
        cursor = c.find({"k": 99})
        first = list(cursor)
        c.insert_one({"_id": 2000, "k": 99})
        return first + list(cursor)  # the engine looks again while it has found nothing

    for step in (
        partial_then_more,
        empty_then_filled,
        lambda c: c.find().sort("k", DESCENDING).skip(490),
        lambda c: c.find().limit(-3),
        lambda c: c.find()[5:9],
        lambda c: c.find({"k": 2})[3],
        lambda c: c.find({"k": 1}).clone(),
        lambda c: c.find({"k": 1}, skip=-2),
        lambda c: (lambda cur: [next(cur), cur.rewind(), *cur])(c.find({"k": 5}).limit(3)),
        lambda c: c.find({"k": 4}).distinct("k"),
        lambda c: c.aggregate([{"$match": {"k": {"$in": [1, 2]}}}, {"$sort": {"_id": -1}}]),
        lambda c: c.find_one({"k": 6}, skip=2),
        lambda c: c.find_one({"k": 6}, sort=[("_id", DESCENDING)]),
    ):
        _both(plain.db.c, ours.db.c, step)


def test_ttl_expiry_matches_the_engine_as_dates_move():
    plain, ours = _clients()
    clock = [T0]
    original = mongomock_ng.utcnow
    mongomock_ng.utcnow = lambda: clock[0]
    try:
        for client in (plain, ours):
            client.db.p.create_index([("seen_at", ASCENDING)], expireAfterSeconds=60)
            client.db.p.insert_many([{"_id": i, "seen_at": T0 + timedelta(seconds=i)} for i in range(10)])
        for step in (
            lambda c: c.find(),
            lambda c: c.update_one({"_id": 9}, {"$set": {"seen_at": T0 - timedelta(hours=1)}}),
            lambda c: c.find_one({"_id": 9}),  # expired by the update itself
            lambda c: c.update_one({"_id": 8}, {"$set": {"seen_at": T0 - timedelta(hours=1)}, "$inc": {"x": "no"}}),
            lambda c: c.find_one({"_id": 8}),  # the failed update still moved the date
            lambda c: c.insert_one({"_id": 20, "seen_at": [T0 + timedelta(minutes=5), T0 - timedelta(days=1)]}),
            lambda c: c.find_one({"_id": 20}),
            lambda c: c.insert_one({"_id": 21, "seen_at": "never"}),
            lambda c: c.find({"_id": {"$in": [21, 3]}}),
        ):
            _both(plain.db.p, ours.db.p, step)
        for seconds in (30, 60, 61, 65, 69, 70, 600):
            clock[0] = T0 + timedelta(seconds=seconds)
            _both(plain.db.p, ours.db.p, lambda c: c.find_one({"_id": 5}))
            _both(plain.db.p, ours.db.p, lambda c: c.find())
        clock[0] = T0 - timedelta(days=1)  # clocks in tests go backwards too
        _both(plain.db.p, ours.db.p, lambda c: c.insert_one({"_id": 30, "seen_at": T0 - timedelta(days=1)}))
        _both(plain.db.p, ours.db.p, lambda c: c.find())
    finally:
        mongomock_ng.utcnow = original


# ---------------------------------------------------------- ordered indexes

class Ranges:
    """Session-like documents and filters for the ordered (client, field) indexes.

    Dates on a coarse grid so that equal values and bounds on them are
    common; now and then missing fields, None, other types, sub-millisecond
    and aware dates, and rarely a value no index can order (an array, a
    document, an aware date stored by `$currentDate`).
    """

    CLIENTS = [0, 1, 2]
    FIELDS = ("start", "end", "day", "pk")

    def __init__(self, seed, irregular):
        self.rng = random.Random(seed)
        self.irregular = irregular

    def id(self):
        return self.rng.choice([*range(30), *(f"s{i}" for i in range(30))])

    def when(self, bound=False):
        r = self.rng
        value = T0.replace(microsecond=0) + timedelta(minutes=10 * r.randrange(-12, 12))
        if r.random() < 0.15:
            value += timedelta(microseconds=r.randrange(10**6))
        if r.random() < 0.2:
            value = value.astimezone(timezone(timedelta(hours=r.choice([-5, 3]))))
        elif r.random() < 0.3 and not bound:
            value = value.replace(tzinfo=None)  # naive: taken as UTC
        return value

    def day(self):
        return f"2024-03-{self.rng.randrange(1, 8):02d}"

    def value(self, field):
        r = self.rng
        roll = r.random()
        if roll < self.irregular:
            return r.choice([[self.when()], {"at": self.when()}, ["x"]])
        if roll < 0.1:
            return NOTHING
        if roll < 0.15:
            return None
        if roll < 0.2:
            return r.choice([5, 2.5, True, "soon", ObjectId(), self.when() if field in ("day", "pk") else "2024"])
        if field in ("start", "end"):
            return self.when()
        return self.day() if field == "day" else f"k{r.randrange(6)}"

    def client(self):
        r = self.rng
        roll = r.random()
        if roll < self.irregular:
            return r.choice([[1], {"id": 1}, float("nan")])
        if roll < 0.05:
            return r.choice([NOTHING, None, 1.0, True, "1", Int64(2)])
        return r.choice(self.CLIENTS)

    def doc(self, with_id=True):
        doc = {"_id": self.id()} if with_id else {}
        client = self.client()
        if client is not NOTHING:
            doc["client_id"] = client
        for field in self.FIELDS:
            value = self.value(field)
            if value is not NOTHING:
                doc[field] = value
        roll = self.rng.random()
        if roll < self.irregular:
            doc["n"] = [1, 2]
        elif roll > 0.05:
            doc["n"] = self.rng.randrange(5)
        if self.rng.random() < 0.5:
            doc["tags"] = self.rng.sample(["a", "b", "c"], self.rng.randrange(3))
        return doc

    def bounds(self, kind):
        r = self.rng
        pick = self.when if kind == "date" else self.day
        ops = r.choice([["$gte", "$lt"], ["$gt", "$lte"], ["$gte"], ["$lt"], ["$gt", "$lt"], ["$lte", "$gte"],
                        ["$eq"], ["$gte", "$lte", "$lt"]])
        return {op: pick(bound=True) if kind == "date" else pick() for op in ops}

    def filter(self):
        r = self.rng
        clauses = []
        client = r.choice([
            lambda: r.choice(self.CLIENTS),
            lambda: {"$eq": r.choice(self.CLIENTS)},
            lambda: {"$in": r.sample([0, 1, 2, 1.0, "1"], r.randrange(0, 4))},
            lambda: r.choice([True, 2.0, "1", Int64(1)]),
            lambda: {"$gte": 1},  # no partition: the engine's scan
        ])()
        if r.random() < 0.95:
            clauses.append(("client_id", client))
        for _ in range(r.choice([1, 1, 1, 2, 2, 3])):
            clauses.append(r.choice([
                lambda: ("start", self.bounds("date")),
                lambda: ("end", self.bounds("date")),
                lambda: ("start", self.when(bound=True)),
                lambda: ("day", self.bounds("day")),
                lambda: ("day", self.day()),
                lambda: ("pk", f"k{r.randrange(6)}"),
                lambda: ("pk", {"$gte": "k2", "$lt": "k4"}),
                lambda: ("start", {"$gte": "k", "$lt": self.when(bound=True)}),  # mixed types
                lambda: ("end", {"$gte": self.when(bound=True), "$ne": None}),
            ])())
        if r.random() < 0.4:
            # Second keys of the declared (client_id, pk, start) and (client_id, n, end) indexes.
            second = r.choice([
                ("pk", f"k{r.randrange(6)}"),
                ("pk", {"$in": [f"k{r.randrange(6)}", f"k{r.randrange(6)}"]}),
                ("n", r.randrange(5)),
                ("n", {"$in": [r.randrange(5), 1.0]}),
                ("n", {"$eq": True}),
            ])
            clauses.append(second)
            if r.random() < 0.5:
                clauses.append(("start" if second[0] == "pk" else "end", self.bounds("date")))
        if r.random() < 0.5:
            clauses.append(r.choice([
                ("n", r.randrange(5)),
                ("n", {"$gt": r.randrange(5)}),
                ("tags", {"$in": ["a"]}),
                ("n", {"$bogus": 1}),  # raises on any document that gets this far
                ("$or", [{"n": 1}, {"tags": "b"}]),
                ("$expr", {"$gte": ["$n", 2]}),
                ("tags", {"$size": 1}),
            ]))
        r.shuffle(clauses)
        return dict(clauses)

    def update(self):
        r = self.rng
        field = r.choice(self.FIELDS)
        value = self.value(field)
        return r.choice([
            lambda: {"$set": {field: value}} if value is not NOTHING else {"$unset": {field: ""}},
            lambda: {"$set": {"start": self.when(), "end": self.when()}, "$inc": {"n": 1}},
            lambda: {"$set": {"client_id": self.client() if r.random() < 0.5 else 1}},
            lambda: {"$unset": {"start": "", "client_id": ""}},
            lambda: {"$inc": {"n": 1}},
            # Fails half-way on documents with tags: the date is already set.
            lambda: {"$set": {"start": self.when()}, "$inc": {"tags": 1}},
            lambda: {"$set": {"_id": "changed", "end": self.when()}},
            lambda: [{"$set": {"end": "$start", "day": {"$concat": ["$pk", "x"]}}}],
            # Dates off the millisecond, which `$match` compares cut to it.
            lambda: [{"$set": {"end": {"$add": ["$start", r.choice([0.5, 1, -0.25])]}}}],
            lambda: {"$currentDate": {"end": True}} if r.random() < self.irregular * 20 else {"$inc": {"n": 2}},
        ])()


def _query(world):
    r = world.rng
    f = world.filter()
    kind = r.randrange(7)
    if kind == 0:
        sort = r.choice([None, [("start", ASCENDING)], [("n", DESCENDING)], [("$natural", -1)]])
        projection = r.choice([None, {"start": 1}, {"_id": 1}])
        return lambda c: c.find(f, projection, sort=sort)
    if kind == 1:
        skip, limit = r.choice([0, 1]), r.choice([0, 2])
        return lambda c: c.find(f, skip=skip, limit=limit)
    if kind == 2:
        return lambda c: c.count_documents(f)
    if kind == 3:
        return lambda c: c.find_one(f)
    if kind == 4:
        return lambda c: sorted(map(repr, c.distinct("n", f)))
    tail = r.choice([[], [{"$project": {"start": 1, "end": 1}}],
                     [{"$group": {"_id": "$client_id", "n": {"$sum": 1}, "first": {"$min": "$start"}}},
                      {"$sort": {"_id": 1}}]])
    return lambda c: c.aggregate([{"$match": f}, *tail])


def _run_ranges(seed, steps, tz_aware, irregular, burst=None, seconds=None):
    world = Ranges(seed, irregular)
    r = world.rng
    plain, ours = _clients(tz_aware)
    names = ["s", "ttl"]

    def declare():
        for client in (plain, ours):
            client["db"]["s"].create_index([("client_id", ASCENDING), ("pk", ASCENDING), ("start", DESCENDING)])
            client["db"]["s"].create_index([("client_id", ASCENDING), ("n", ASCENDING), ("end", ASCENDING)],
                                           partialFilterExpression={"n": {"$gt": 0}})

    declare()
    for client in (plain, ours):
        client["db"]["ttl"].create_index([("end", ASCENDING)], expireAfterSeconds=3600)
    clock = [T0 + timedelta(hours=1)]
    answered = []
    original_utcnow, original_lookup = mongomock_ng.utcnow, embedded._CollectionStore.ordered_lookup
    original_burst = embedded._WRITE_BURST

    def lookup(store, *args):
        counted = []
        original_count = embedded._OrderedIndex.count

        def count(index, *a):
            found = original_count(index, *a)
            counted.append((found[0], index))
            return found

        embedded._OrderedIndex.count = count
        try:
            docs = original_lookup(store, *args)
        finally:
            embedded._OrderedIndex.count = original_count
        answered.append(docs is not None)
        if docs is not None and counted:
            fewest = min(found for found, _ in counted)
            chosen = [index for found, index in counted if found == fewest][-1]  # ties: the later
            if chosen.by is not None:
                seconds.append(chosen)
        return docs

    mongomock_ng.utcnow = lambda: clock[0]
    original_now = mm_helpers.utcnow
    mm_helpers.utcnow = lambda: clock[0]  # what $currentDate stores: an aware date
    embedded._CollectionStore.ordered_lookup = lookup
    if burst is not None:
        embedded._WRITE_BURST = burst
    try:
        first = [world.doc(with_id=False) for _ in range(40)]
        _both(plain["db"]["s"], ours["db"]["s"], lambda c: c.insert_many(copy.deepcopy(first)))
        for step in range(steps):
            name = r.choice(names)
            op = r.randrange(16)

            def on(fn):
                return _both(plain["db"][name], ours["db"][name], fn)

            if op in (0, 1, 2, 3, 4):
                on(_query(world))
            elif op == 5:
                doc = world.doc(with_id=r.random() < 0.8)
                on(lambda c: c.insert_one(copy.deepcopy(doc)))
            elif op == 6:
                docs = [world.doc(with_id=r.random() < 0.7) for _ in range(r.randrange(1, 12))]
                ordered = r.random() < 0.5
                on(lambda c: c.insert_many(copy.deepcopy(docs), ordered=ordered))
            elif op == 7:
                f, u, upsert = world.filter(), world.update(), r.random() < 0.3
                on(lambda c: c.update_one(f, u, upsert=upsert))
            elif op == 8:
                f, u = world.filter(), world.update()
                on(lambda c: c.update_many(f, u))
            elif op == 9:
                f, d, upsert = world.filter(), world.doc(with_id=False), r.random() < 0.3
                on(lambda c: c.replace_one(f, d, upsert=upsert))
            elif op == 10:
                f, one = world.filter(), r.random() < 0.7
                on(lambda c: c.delete_one(f) if one else c.delete_many(f))
            elif op == 11:
                f, u, after, upsert = world.filter(), world.update(), r.random() < 0.5, r.random() < 0.3
                kind = r.randrange(3)
                if kind == 0:
                    on(lambda c: c.find_one_and_update(f, u, sort=[("start", -1)], return_document=after))
                elif kind == 1:
                    d = world.doc(with_id=False)
                    on(lambda c: c.find_one_and_replace(f, d, upsert=upsert))
                else:
                    on(lambda c: c.find_one_and_delete(f))
            elif op == 12:
                requests = [
                    r.choice([
                        lambda: InsertOne(world.doc()),
                        lambda: UpdateOne(world.filter(), world.update(), upsert=r.random() < 0.3),
                        lambda: UpdateMany(world.filter(), world.update()),
                        lambda: ReplaceOne(world.filter(), world.doc(with_id=False)),
                        lambda: DeleteOne(world.filter()),
                        lambda: DeleteMany(world.filter()),
                    ])()
                    for _ in range(r.randrange(1, 6))
                ]
                ordered = r.random() < 0.5
                on(lambda c: c.bulk_write(copy.deepcopy(requests), ordered=ordered))
            elif op == 13:
                clock[0] += timedelta(minutes=r.randrange(0, 40))
            elif op == 14 and r.random() < 0.05:
                on(lambda c: c.drop())
                declare()
            elif op == 15 and r.random() < 0.1:
                target = "moved" if name == "s" else "s"
                on(lambda c: c.rename(target, dropTarget=True))
                names = ["s", "ttl", "moved"]
                declare()
            if step % 25 == 0:
                for each in names:
                    on(lambda c, n=each: c.database[n].find())
        for each in names:
            _both(plain["db"][each], ours["db"][each], lambda c: c.find())
    finally:
        mongomock_ng.utcnow = original_utcnow
        mm_helpers.utcnow = original_now
        embedded._CollectionStore.ordered_lookup = original_lookup
        embedded._WRITE_BURST = original_burst
    return answered


@pytest.mark.parametrize("seed, tz_aware, irregular, burst", [
    *((seed, True, 0.0, None) for seed in range(6)),
    *((seed, True, 0.004, None) for seed in range(6, 10)),
    (10, False, 0.0, None), (11, False, 0.004, None),
    (12, True, 0.0, 3), (13, True, 0.004, 1),
])
def test_ordered_indexes_give_the_engines_answers(seed, tz_aware, irregular, burst):
    seconds = []
    answered = _run_ranges(seed, 600, tz_aware, irregular, burst, seconds)
    # Most comparisons are of the shortcut, not of the scan it falls back to;
    # values no index can order make it fall back.
    assert sum(answered) > 100
    assert all(answered) == (not irregular)
    # The declared (client_id, second key, field) indexes answered some.
    assert {index.by for index in seconds} >= {"pk", "n"}


def test_a_range_query_reads_only_its_client_and_window():
    ours = embedded.EmbeddedClient(tz_aware=True)
    docs = [{"_id": i, "client_id": i % 10, "start": T0 + timedelta(minutes=i), "n": i % 3} for i in range(20000)]
    ours.db.s.insert_many(docs)
    window = {"$gte": T0 + timedelta(minutes=5000), "$lt": T0 + timedelta(minutes=6000)}
    expected = [d["_id"] for d in docs if d["client_id"] == 3 and 5000 <= d["_id"] < 6000]
    calls = []
    original = filtering.filter_applies
    filtering.filter_applies = lambda *a, **k: (calls.append(1), original(*a, **k))[1]
    try:
        assert [d["_id"] for d in ours.db.s.find({"client_id": 3, "start": window})] == expected
        assert ours.db.s.count_documents({"start": window, "client_id": {"$in": [3]}}) == len(expected)
        rows = list(ours.db.s.aggregate([{"$match": {"client_id": 3, "start": window}}, {"$count": "n"}]))
        assert rows == [{"n": len(expected)}]
        assert ours.db.s.update_many({"client_id": 3, "start": window}, {"$inc": {"n": 1}}).matched_count == 100
        # Moved out of the window by an update, then back by an insert.
        ours.db.s.update_one({"client_id": 3, "_id": 5003}, {"$set": {"start": T0}})
        ours.db.s.delete_one({"_id": 5013})
        ours.db.s.insert_one({"_id": 5013, "client_id": 3, "start": T0 + timedelta(minutes=5500)})
        moved = [d["_id"] for d in ours.db.s.find({"client_id": 3, "start": window})]
        assert moved == [i for i in expected if i not in (5003, 5013)] + [5013]
    finally:
        filtering.filter_applies = original
    assert len(calls) < 1000


def test_a_declared_index_narrows_a_count_to_the_account():
    plain, ours = _clients()
    docs = [{"_id": i, "client_id": i % 2, "account_id": i % 500, "start": T0 + timedelta(minutes=i)}
            for i in range(20000)]
    for client in (plain, ours):
        client.db.s.create_index([("client_id", ASCENDING), ("account_id", ASCENDING), ("start", DESCENDING)])
        client.db.s.insert_many(copy.deepcopy(docs))
    day = {"$gte": T0 + timedelta(days=3), "$lt": T0 + timedelta(days=4)}
    calls = []
    original = filtering.filter_applies
    filtering.filter_applies = lambda *a, **k: (calls.append(1), original(*a, **k))[1]
    try:
        assert ours.db.s.count_documents({"client_id": 1, "account_id": 7, "start": day}) == 3
    finally:
        filtering.filter_applies = original
    assert len(calls) == 3  # the client's day alone holds 720 sessions
    for step in (
        lambda c: c.count_documents({"client_id": 1, "account_id": 7, "start": day}),
        lambda c: c.update_one({"_id": 5007}, {"$set": {"account_id": 8}}),
        lambda c: c.update_one({"_id": 5009}, {"$set": {"account_id": 7}}),
        lambda c: c.find({"client_id": 1, "account_id": {"$in": [7, 8]}, "start": day}),
        lambda c: c.insert_one({"_id": "x", "client_id": 1, "account_id": [7], "start": T0 + timedelta(days=3)}),
        lambda c: c.find({"client_id": 1, "account_id": 7, "start": day}),  # by client: the array is no key
        lambda c: c.delete_one({"_id": "x"}),
        lambda c: c.find({"account_id": 7.0, "start": day, "client_id": {"$in": [True, 3]}}),
    ):
        _both(plain.db.s, ours.db.s, step)


def test_a_failed_update_and_a_stored_aware_date_fall_back_to_the_engine(monkeypatch):
    monkeypatch.setattr(mm_helpers, "utcnow", lambda: T0)  # what $currentDate stores: an aware date
    plain, ours = _clients()
    for client in (plain, ours):
        client.db.s.create_index([("client_id", ASCENDING), ("pk", ASCENDING), ("start", ASCENDING)])
        client.db.s.insert_many([{"_id": i, "client_id": 1 + i // 10, "start": T0 + timedelta(hours=i),
                                  "end": T0 + timedelta(hours=i, minutes=1), "tags": [i], "pk": "ab"[i % 2]}
                                 for i in range(20)])
    window = {"client_id": 1, "start": {"$gte": T0 - timedelta(days=2), "$lt": T0 - timedelta(days=1)}}
    ended = {"$gte": T0 - timedelta(days=30)}
    for step in (
        lambda c: c.find(window),  # builds the index
        lambda c: c.find({"end": ended, **window}),
        # Client 2's aware date makes the end clause raise on its document,
        # which the engine reaches before the client clause excludes it.
        lambda c: c.update_one({"_id": 15}, {"$currentDate": {"end": True}}),
        lambda c: c.find({"end": ended, **window}),
        lambda c: c.find({**window, "end": ended}),  # the client clause comes first: no error
        lambda c: c.delete_one({"_id": 15}),
        lambda c: c.find({"end": ended, **window}),
        # An end a quarter of a millisecond after the bound: `find` compares it
        # as stored, `$match` cut to the millisecond (and so equal to the bound).
        lambda c: c.update_one({"_id": 3}, [{"$set": {"end": {"$add": ["$start", 0.25]}}}]),
        lambda c: c.find({"client_id": 1, "end": {"$lte": T0 + timedelta(hours=3)}}),
        lambda c: c.aggregate([{"$match": {"client_id": 1, "end": {"$lte": T0 + timedelta(hours=3)}}}]),
        lambda c: c.aggregate([{"$match": {"client_id": 1, "end": T0 + timedelta(hours=3)}}]),
        lambda c: c.aggregate([{"$match": {"client_id": 1, "end": {"$lt": T0 + timedelta(hours=3)}}}]),
        # The date is set, then $inc fails on the array: the engine keeps the half-done update.
        lambda c: c.update_one({"_id": 4}, {"$set": {"start": T0 - timedelta(hours=36)}, "$inc": {"tags": 1}}),
        lambda c: c.find(window),
        lambda c: c.update_one({"_id": 5}, {"$currentDate": {"start": True}}),
        lambda c: c.find(window),  # the engine raises comparing an aware date with naive bounds
        lambda c: c.find({"start": window["start"], "client_id": 1, "_id": {"$lt": 3}}),
        lambda c: c.delete_one({"_id": 5}),
        lambda c: c.find(window),
        lambda c: c.aggregate([{"$match": window}]),
        # Document 4 (pk "a", moved into the window above) gets an aware end: the engine
        # raises on it before reaching pk, so the (client, pk, start) index
        # must not skip it.
        lambda c: c.update_one({"_id": 4}, {"$currentDate": {"end": True}}),
        lambda c: c.find({**window, "end": ended, "pk": "b"}),
        lambda c: c.find({**window, "pk": "b", "end": ended}),
        lambda c: c.update_one({"_id": 4}, {"$set": {"end": T0}}),
        lambda c: c.find({**window, "end": ended, "pk": "b"}),
    ):
        _both(plain.db.s, ours.db.s, step)
    assert [d["_id"] for d in ours.db.s.find(window)] == [4]


def test_aborted_transactions_and_drops_leave_the_ordered_indexes_right():
    plain, ours = _clients()
    window = {"client_id": 1, "start": {"$gte": T0, "$lt": T0 + timedelta(hours=5)}}
    for client in (plain, ours):
        client.db.s.insert_many([{"_id": i, "client_id": 1, "start": T0 + timedelta(hours=i)} for i in range(10)])

    def aborted(c):
        session = c.database.client.start_session()
        session.start_transaction()
        c.insert_one({"_id": 20, "client_id": 1, "start": T0}, session=session)
        c.update_one({"_id": 2}, {"$set": {"start": T0 - timedelta(days=1)}}, session=session)
        c.delete_one({"_id": 3}, session=session)
        inside = list(c.find(window, session=session))
        session.abort_transaction()
        return inside

    for step in (
        lambda c: c.find(window),  # builds the index
        aborted,
        lambda c: c.find(window),
        lambda c: c.insert_one({"_id": 30, "client_id": 1, "start": T0}),
        lambda c: c.find(window),
        lambda c: c.drop(),
        lambda c: c.insert_many([{"_id": i, "client_id": 1, "start": T0 + timedelta(hours=4 - i)}
                                 for i in range(3)]),
        lambda c: c.find(window),
    ):
        _both(plain.db.s, ours.db.s, step)


# ------------------------------------------------------------- persistence

def _python(code, path, *args, wait=True):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    script = textwrap.dedent(code)
    command = [sys.executable, "-c", script, str(path), *args]
    if not wait:
        return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)


_DUMP = """
    import sys
    from bson import json_util
    from viewstats import embedded
    client = embedded.new_client(sys.argv[1])
    state = {db: {name: {"docs": list(client[db][name].find()),
                         "indexes": client[db][name].index_information()}
                  for name in client[db].list_collection_names()}
             for db in client.list_database_names()}
    print(json_util.dumps(state, json_options=json_util.CANONICAL_JSON_OPTIONS))
"""


def _state(client):
    return {db: {name: {"docs": list(client[db][name].find()), "indexes": client[db][name].index_information()}
                 for name in client[db].list_collection_names()}
            for db in client.list_database_names()}


def _canonical(state):
    return json.loads(json_util.dumps(state, json_options=json_util.CANONICAL_JSON_OPTIONS))


def _typed_documents():
    return [
        {"_id": "s1", "client_id": 1, "start": T0, "big": 2**40, "small": 7, "ratio": 0.25, "ok": True,
         "none": None, "oid": ObjectId("65f000000000000000000001"), "tags": ["a", {"b": [1, 2**35]}],
         "sub": {"at": T0 + timedelta(hours=1), "n": -3}, "raw": b"\x00\x01", "price": Decimal128("9.99")},
        {"_id": ObjectId("65f000000000000000000002"), "client_id": 2, "start": T0 - timedelta(days=400)},
        {"_id": 42, "client_id": 1, "when": datetime(2024, 1, 1, 5, 6, 7, 891000, tzinfo=timezone.utc)},
        {"_id": {"compound": 1, "part": "x"}, "client_id": 3},
    ]


@pytest.fixture
def embedded_path(tmp_path, settings):
    if not store.is_embedded():
        pytest.skip("persistence is the embedded engine's")
    path = tmp_path / "store"
    settings.VIEWSTATS_EMBEDDED_PATH = str(path)
    store.reset()
    yield path
    embedded.release(str(path))
    settings.VIEWSTATS_EMBEDDED_PATH = ""
    store.reset()


def test_saved_data_loads_back_the_same(embedded_path):
    store.ensure_indexes()
    store.sessions().insert_many(_typed_documents())
    store.collection(store.PUSH_STATE).insert_one({"_id": "box", "seen_at": datetime.now(timezone.utc)})
    store.get_db().create_collection("declared_but_empty")
    before = _state(store.get_client())
    assert store.save_embedded() == [str(embedded_path)]

    store.reset()  # a new client in this process loads the folder
    after = _state(store.get_client())
    assert after == before
    doc = store.sessions().find_one({"_id": "s1"})
    assert type(doc["big"]) is int and type(doc["tags"][1]["b"][1]) is int and type(doc["small"]) is int
    assert doc["start"] == T0.replace(microsecond=123000) and doc["start"].utcoffset() == timedelta(0)
    assert isinstance(doc["oid"], ObjectId) and doc["price"] == Decimal128("9.99")
    assert store.sessions().find_one({"_id": {"compound": 1, "part": "x"}})["client_id"] == 3
    # Declaring the indexes again finds them unchanged, TTL included.
    store.ensure_indexes()
    assert store.collection(store.PUSH_STATE).index_information()["push_state_ttl"]["expireAfterSeconds"] == 86400

    embedded.release(str(embedded_path))  # another process may now have it
    result = _python(_DUMP, embedded_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == _canonical(before)


def test_a_process_saves_at_exit_and_the_folder_is_gitignored(tmp_path):
    path = tmp_path / "store"
    result = _python("""
        import sys
        from viewstats import embedded
        client = embedded.new_client(sys.argv[1])
        client.db.c.insert_many([{"_id": i, "n": i} for i in range(1000)])
    """, path)
    assert result.returncode == 0, result.stderr
    client = embedded.new_client(str(path))
    try:
        assert client.db.c.count_documents({}) == 1000 and client.db.c.find_one({"_id": 999}) == {"_id": 999, "n": 999}
        assert (path / ".gitignore").read_text().splitlines()[-1] == "*"
        assert embedded.save(str(path), force=False) == []  # unchanged: nothing to write
        client.db.c.delete_one({"_id": 0})
        assert embedded.save(str(path), force=False) == [str(path)]
    finally:
        embedded.release(str(path))


def test_a_second_process_gets_a_clear_error(tmp_path):
    path = tmp_path / "store"
    holder = _python("""
        import sys, time
        from viewstats import embedded
        embedded.new_client(sys.argv[1])
        print("ready", flush=True)
        time.sleep(60)
    """, path, wait=False)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(embedded.EmbeddedStoreLocked) as error:
            embedded.new_client(str(path))
        assert str(path) in str(error.value) and f"pid {holder.pid}" in str(error.value)
    finally:
        holder.kill()
        holder.communicate()
    embedded.new_client(str(path))  # free again once the holder is gone
    embedded.release(str(path))


def test_a_save_that_dies_half_way_leaves_the_previous_snapshot(tmp_path, monkeypatch):
    path = tmp_path / "store"
    client = embedded.new_client(str(path))
    try:
        client.db.a.insert_one({"_id": 1, "v": "old"})
        client.db.b.insert_one({"_id": 1, "v": "old"})
        embedded.save(str(path))
        client.db.a.update_one({"_id": 1}, {"$set": {"v": "new"}})
        client.db.b.update_one({"_id": 1}, {"$set": {"v": "new"}})
        written = []
        real = embedded._write_file

        def dying(target, data):
            if written:
                raise OSError("killed")
            written.append(target)
            real(target, data)

        monkeypatch.setattr(embedded, "_write_file", dying)
        with pytest.raises(OSError):
            embedded.save(str(path))
        monkeypatch.setattr(embedded, "_write_file", real)
        assert any(name.startswith(".tmp-") for name in os.listdir(path))
    finally:
        embedded.release(str(path))
    reloaded = embedded.new_client(str(path))
    try:
        assert reloaded.db.a.find_one({"_id": 1})["v"] == "old" and reloaded.db.b.find_one({"_id": 1})["v"] == "old"
        reloaded.db.a.insert_one({"_id": 2})
        embedded.save(str(path))
        assert not any(name.startswith(".tmp-") for name in os.listdir(path))
        assert len([name for name in os.listdir(path) if name.startswith("snapshot-")]) == 1
    finally:
        embedded.release(str(path))


def test_a_killed_save_leaves_a_loadable_store(tmp_path):
    path = tmp_path / "store"
    writer = _python("""
        import sys
        from viewstats import embedded
        client = embedded.new_client(sys.argv[1])
        client.db.c.insert_many([{"_id": i, "pad": "x" * 200} for i in range(20000)])
        embedded.save()
        client.db.c.insert_many([{"_id": -i - 1} for i in range(20000)])
        print("saving", flush=True)
        while True:
            embedded.save()
    """, path, wait=False)
    try:
        assert writer.stdout.readline().strip() == "saving"
        time.sleep(0.5)
    finally:
        writer.kill()
        writer.communicate()
    client = embedded.new_client(str(path))
    try:
        assert client.db.c.count_documents({}) in (20000, 40000)
    finally:
        embedded.release(str(path))


def test_a_folder_removed_under_a_running_process_is_not_written_again(tmp_path):
    path = tmp_path / "store"
    client = embedded.new_client(str(path))
    try:
        client.db.c.insert_one({"_id": 1})
        embedded.save(str(path))
        os.rename(path, tmp_path / "old")  # what `make demo` does to the folder of a running demo-serve
        client.db.c.insert_one({"_id": 2})
        with pytest.raises(embedded.EmbeddedStoreError, match="removed or replaced"):
            embedded.save(str(path))
        assert not path.exists()
    finally:
        embedded.release(str(path))
