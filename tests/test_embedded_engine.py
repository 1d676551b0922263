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
    """Outputs with engine-generated ObjectIds, client numbers and NaN made comparable."""
    if isinstance(value, ObjectId):
        return "<oid>"
    if isinstance(value, float) and value != value:
        return "<nan>"
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


class _filtered:
    """Counts the documents a filter is applied to, by the engine's filter_applies or embedded._matcher."""

    def __enter__(self):
        self.calls = calls = []
        self.applies, self.matcher = filtering.filter_applies, embedded._matcher
        applies, matcher = self.applies, self.matcher
        filtering.filter_applies = lambda *a, **k: (calls.append(1), applies(*a, **k))[1]

        building = []

        def counted(*a, **k):
            if building:  # a sub-filter's ($and, $or, $nor): its documents are the filter's
                return matcher(*a, **k)
            building.append(1)
            try:
                matches = matcher(*a, **k)
            finally:
                building.pop()
            return lambda doc: (calls.append(1), matches(doc))[1]

        embedded._matcher = counted
        return calls

    def __exit__(self, *exc):
        filtering.filter_applies, embedded._matcher = self.applies, self.matcher


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


def test_inserts_refuse_and_store_what_the_engine_does():
    """Field names, document kinds, dates and unique indexes on the insert path."""
    from collections import OrderedDict

    from bson.son import SON

    plain, ours = _clients()
    for client in (plain, ours):
        client.db.c.create_index([("u", ASCENDING)], unique=True, sparse=True)
    naive = T0.replace(tzinfo=None)
    aware_elsewhere = T0.astimezone(timezone(timedelta(hours=5, minutes=45)))
    docs = [
        {"_id": 1, "a\0b": 1}, {"_id": 2, "sub": {"x\0": 1}}, {"_id": 3, "sub": {"deep": {"\0": 1}}},
        {"_id": 4, "list": [{"x\0": 1}]},  # lists are not entered by the check
        {"_id": 5, "$top": 1}, {"_id": 6, "sub": {"$nested": 1}}, {"_id": 7, 3: "int key"},
        {"_id": 8, "bad": {1, 2}}, {"_id": {"a": 1, "b": [1]}, "x": 1}, {"_id": {"a": 1, "b": [1]}, "x": 2},
        OrderedDict([("_id", 9), ("o", OrderedDict([("p", aware_elsewhere)]))]),
        SON([("_id", 10), ("s", SON([("t", naive)]))]), {"_id": 11, "u": 1}, {"_id": 12, "u": 1},
        {"_id": 13, "t": [aware_elsewhere, (naive, T0)], "n": None, "d": Decimal128("2.5")},
        {"x": "no id"}, {"_id": 14, "sub": {"\0": 1, "$": 2}, "$x": 1},
        {"_id": 15, "son": SON([("k\0", 1)])},
    ]
    for doc in docs:
        _both(plain.db.c, ours.db.c, lambda c: c.insert_one(copy.deepcopy(doc)))
    _both(plain.db.c, ours.db.c, lambda c: c.insert_many(copy.deepcopy(docs), ordered=False))
    _both(plain.db.c, ours.db.c, lambda c: list(c.find({}, {"_id": 0})))
    assert len(list(ours.db.c.find())) == len(list(plain.db.c.find())) >= 7
    # A collection's validator, on or switched to warn.
    for client in (plain, ours):
        client.db.create_collection("v", validator={"n": {"$gte": 1}})
        client.db.create_collection("w", validator={"n": {"$gte": 1}}, validationAction="warn")
    for name in ("v", "w"):
        for doc in ({"_id": 1, "n": 2}, {"_id": 2, "n": 0}, {"_id": 3}):
            _both(plain.db[name], ours.db[name], lambda c: c.insert_one(dict(doc)))
        _both(plain.db[name], ours.db[name], lambda c: list(c.find()))
    assert [d["_id"] for d in ours.db.v.find()] == [1] and len(list(ours.db.w.find())) == 3


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
    with _filtered() as calls:
        for coll in (ours.db.c, ours.db.ttl):
            assert coll.find_one({"_id": 1234})["_id"] == 1234
            assert coll.find_one({"client_id": 4, "_id": 1234}, {"_id": 1}) == {"_id": 1234}
            assert coll.update_one({"client_id": 4, "_id": 1234}, {"$set": {"x": 1}}).modified_count == 1
            assert coll.delete_one({"_id": 1999}).deleted_count == 1
            assert coll.bulk_write([UpdateOne({"_id": 5}, {"$set": {"y": 1}})]).modified_count == 1
            assert len(list(coll.find({"_id": {"$in": [1, 2, 3]}}))) == 3
            assert list(coll.aggregate([{"$match": {"_id": 7}}, {"$project": {"_id": 1}}])) == [{"_id": 7}]
    assert 0 < len(calls) < 60


def test_aggregate_copies_only_what_the_first_match_keeps():
    ours = embedded.EmbeddedClient(tz_aware=True)
    ours.db.c.insert_many([{"_id": i, "client_id": i % 100, "t": T0} for i in range(3000)])
    copied = []
    original = embedded._copy_out
    embedded._copy_out = lambda value, *args: (
        copied.append(1) if isinstance(value, dict) else None, original(value, *args))[1]
    try:
        rows = list(ours.db.c.aggregate([{"$match": {"client_id": 7}}, {"$count": "n"}]))
    finally:
        embedded._copy_out = original
    assert rows == [{"n": 30}] and len(copied) == 30


def test_the_collector_is_off_while_a_pipeline_runs_and_as_before_after(monkeypatch):
    """Aggregates and full cursor results run with the cyclic collector off; after them it is as it was."""
    import gc
    ours = embedded.EmbeddedClient(tz_aware=True)
    ours.db.c.insert_many([{"_id": i, "p": i % 3} for i in range(50)])
    during = []
    run = embedded._run_pipeline
    monkeypatch.setattr(embedded, "_run_pipeline", lambda *a, **k: during.append(gc.isenabled()) or run(*a, **k))
    was = gc.isenabled()
    try:
        for enabled in (True, False):
            (gc.enable if enabled else gc.disable)()
            assert list(ours.db.c.aggregate([{"$match": {"p": 1}}, {"$count": "n"}])) == [{"n": 17}]
            assert len(list(ours.db.c.find({"p": 2}))) == 16
            with pytest.raises(Exception):
                list(ours.db.c.aggregate([{"$match": {"p": 1}}, {"$bogus": 1}]))
            assert gc.isenabled() is enabled
        # Two at once (threads): on again only after the last one.
        gc.enable()
        with embedded._collector_paused():
            with embedded._collector_paused():
                assert not gc.isenabled()
            assert not gc.isenabled()
        assert gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()
    assert during == [False] * 4


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
            return r.choice([[self.when()], {"at": self.when()}, ["x"], Decimal128("2.5")])
        if roll < 0.1:
            return NOTHING
        if roll < 0.15:
            return None
        if roll < 0.2:
            return r.choice([5, 2.5, True, "soon", ObjectId(), float("nan"), Int64(3),
                             self.when() if field in ("day", "pk") else "2024"])
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
                lambda: ("start", {"$gt": r.choice([2, 2.5, 4])}),  # numbers: the stray 5 and 2.5
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
                ("n", {"$gte": r.choice([1, 1.5, Int64(2)]), "$lt": r.choice([3, 3.5])}),
                ("n", {"$lte": 2, "$eq": 2}),
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


# Stages after a first `$match`: ones that build new documents, ones that
# change them (dotted $set into group keys and $$ROOT documents, $unset),
# $facet sub-pipelines over the same documents, $unwind, window fields,
# group keys the fast order takes and ones it leaves to the engine, errors.
_TAILS = [
    [],
    [{"$project": {"start": 1, "end": 1}}],
    [{"$group": {"_id": "$client_id", "n": {"$sum": 1}, "first": {"$min": "$start"}}}, {"$sort": {"_id": 1}}],
    [{"$group": {"_id": {"c": "$client_id", "d": "$day", "k": {"pk": "$pk", "n": "$n"}}, "n": {"$sum": 1},
                 "ends": {"$push": "$end"}, "tags": {"$addToSet": "$tags"}, "last": {"$last": "$start"}}},
     {"$set": {"_id.extra": 1, "ends": "$ends", "k": {"$ifNull": ["$_id.k.pk", "none"]}}}, {"$unset": "tags"}],
    [{"$group": {"_id": {"$cond": [{"$eq": ["$pk", "k1"]}, "$start", {"$ifNull": ["$day", "none"]}]},
                 "n": {"$count": {}}, "avg": {"$avg": "$n"}, "max": {"$max": "$n"}}}],
    [{"$group": {"_id": "$start", "root": {"$first": "$$ROOT"}, "n": {"$sum": "$n"}}},
     {"$set": {"root.n": 99, "root.tags": "gone"}}, {"$sort": {"n": -1}}],
    [{"$group": {"_id": "$tags", "n": {"$sum": 1}}}, {"$sort": {"n": 1}}],  # lists: the engine's order
    [{"$group": {"_id": {"$gt": ["$n", 2]}, "n": {"$sum": 1}}}],
    [{"$group": {"_id": "$n", "s": {"$bogus": 1}}}],
    [{"$unwind": "$tags"}, {"$group": {"_id": "$tags", "n": {"$sum": 1}, "first": {"$first": "$start"}}},
     {"$sort": {"_id": 1}}],
    [{"$unwind": {"path": "$tags", "includeArrayIndex": "i", "preserveNullAndEmptyArrays": True}},
     {"$set": {"tags": {"$concat": ["$tags", "!"]}}}, {"$project": {"tags": 1, "i": 1, "start": 1}}],
    [{"$unwind": "tags"}],
    [{"$facet": {"a": [{"$group": {"_id": "$pk", "n": {"$sum": 1}}}, {"$sort": {"_id": 1}}],
                 "b": [{"$set": {"start": "$end", "deep.x": 1}}, {"$project": {"start": 1, "deep": 1}}],
                 "c": [{"$unset": "tags"}, {"$count": "n"}],
                 "d": [{"$unwind": "$tags"},
                       {"$group": {"_id": {"t": "$tags", "c": "$client_id"}, "n": {"$sum": 1}}}]}}],
    [{"$setWindowFields": {"partitionBy": {"c": "$client_id", "p": {"$ifNull": ["$pk", None]}}, "sortBy": {"start": 1},
                           "output": {"m": {"$max": "$n", "window": {"documents": ["unbounded", -1]}}}}},
     {"$project": {"m": 1, "start": 1}}],
    [{"$addFields": {"w": {"$and": [{"$gte": ["$n", 1]},
                                    {"$or": [{"$lt": ["$start", T0]}, {"$ne": ["$pk", "k2"]}]}]}}},
     {"$group": {"_id": "$w", "n": {"$sum": 1}}}, {"$sort": {"_id": 1}}],
]


def _head(world, f):
    """A find sorted by a range's field (then perhaps `_id`), with a limit: the sessions list's pages."""
    r = world.rng
    ranged = [key for key in ("start", "end", "day", "pk") if key in f]
    field = r.choice(ranged) if ranged and r.random() < 0.8 else r.choice(["start", "end", "day", "pk", "n"])
    d = r.choice([ASCENDING, DESCENDING])
    sort = r.choice([[(field, d)], [(field, d), ("_id", d)], [(field, d), ("_id", -d)], [(field, d), ("n", 1)]])
    skip, limit = r.choice([0, 0, 1, 3]), r.choice([1, 2, 3, 5, 30, -2])
    projection = r.choice([None, None, {"tags": 0}, {"start": 1, "end": 1}, {"_id": 0, "start": 1},
                           {"start": 1, "tags": 0}, {"sub.a": 1}])
    return sort, skip, limit, projection


def _paged(world, f):
    """The cursor clause of reports/sessions.py's next pages, on a copy of `f`."""
    r = world.rng
    field, direction = r.choice(["start", "end"]), r.choice([1, -1])
    value, last = world.when(bound=True), r.choice([world.id(), f"s{r.randrange(30)}"])
    op = "$gt" if direction == 1 else "$lt"
    f = {**f, "$and": [{field: {"$gte" if direction == 1 else "$lte": value}},
                       {"$or": [{field: {op: value}}, {field: value, "_id": {op: last}}]}]}
    return f, [(field, direction), ("_id", direction)]


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


def _query_heads_and_pipelines(world):
    """Sorted, limited finds (read whole, in part around writes, limit raised) and pipelines after a `$match`."""
    r = world.rng
    f = world.filter()
    kind = r.randrange(6)
    if kind in (0, 1):
        tail = r.choice(_TAILS)
        return lambda c: c.aggregate([{"$match": f}, *tail])
    if kind == 2:
        sort, skip, limit, projection = _head(world, f)
        return lambda c: c.find(f, projection).sort(sort).skip(skip).limit(limit)
    if kind == 3:
        f, sort = _paged(world, f)
        limit = r.choice([1, 3, 10])
        return lambda c: c.find(f).sort(sort).limit(limit)
    if kind == 4:
        # Part read, then writes, then the rest: the results were taken at the first next().
        sort, skip, limit, projection = _head(world, f)
        doc, moved, u, gone = world.doc(with_id=False), world.filter(), world.update(), world.filter()

        def partly(c):
            cursor = c.find(f, projection).sort(sort).skip(skip).limit(limit)
            first = [next(cursor, None), next(cursor, None)]
            c.insert_one(copy.deepcopy(doc))
            try:
                c.update_many(moved, u)
            except Exception as exc:
                first.append(type(exc).__name__)
            c.delete_many(gone)
            cursor.rewind()
            return first + list(cursor)
        return partly
    # A limit raised after reading began, nothing written in between: the whole result.
    sort, skip, limit, projection = _head(world, f)

    def raised(c):
        cursor = c.find(f, projection).sort(sort).skip(skip).limit(limit)
        first = next(cursor, None)
        cursor.limit(abs(limit) + 2)
        return [first, *cursor, cursor.alive]
    return raised


def _run_ranges(seed, steps, tz_aware, irregular, burst=None, seconds=None, query=_query):
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
                on(query(world))
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


@pytest.mark.parametrize("seed, tz_aware, irregular", [
    *((seed, True, 0.0) for seed in range(20, 26)), (26, False, 0.0), (27, True, 0.004), (28, True, 0.02),
])
def test_sorted_heads_and_pipelines_give_the_engines_answers(seed, tz_aware, irregular):
    walked = []
    original = embedded._CollectionStore.ordered_walk

    def walk(store, *args):
        runs = original(store, *args)
        walked.append(runs is not None)
        return runs

    embedded._CollectionStore.ordered_walk = walk
    try:
        _run_ranges(seed, 700, tz_aware, irregular, seconds=[], query=_query_heads_and_pipelines)
    finally:
        embedded._CollectionStore.ordered_walk = original
    # Most sorted heads were read by the walk (some fall back: a second sort
    # key other than _id, int _ids below a page cursor, irregular values...).
    assert sum(walked) > 20 or irregular


def _key_value(r, simple, depth=0):
    """A group key: plain values, or any mix (lists, Decimal128, NaN, naive beside aware dates...)."""
    roll = r.randrange(8 if simple else 14)
    if roll == 0:
        return None
    if roll == 1:
        return r.choice([0, 1, 2, -1, Int64(2), 10 ** 20])
    if roll == 2:
        return r.choice([0.0, -0.0, 1.0, 1.5, float("inf")])
    if roll == 3:
        return r.choice([True, False]) if depth < 2 or not simple else 1
    if roll == 4:
        return r.choice(["", "a", "b", "ab", "B"])
    if roll == 5:
        return r.choice([T0, T0 + timedelta(hours=1), T0.astimezone(timezone(timedelta(hours=3)))])
    if roll == 6:
        return ObjectId(f"{r.randrange(1, 4):024x}")
    if roll == 7:
        if depth >= 3:
            return "deep"
        keys = r.sample(["a", "b", "c"], r.randrange(0, 4))
        if simple:
            keys.sort()
        return {key: _key_value(r, simple, depth + 1) for key in keys}
    if roll == 8:
        return Decimal128(r.choice(["1", "2.5"]))
    if roll == 9:
        return [_key_value(r, simple, depth + 1) for _ in range(r.randrange(3))]
    if roll == 10:
        return float("nan")
    if roll == 11:
        return T0.replace(tzinfo=None)
    if roll == 12:
        return {"b": 1, "a": True} if r.random() < 0.5 else {"a": 1, "b": True}
    return {"x": {"y": r.choice([1, True, 1.0])}}


def _repr_outcome(fn):
    try:
        return ("rows", repr(fn()))
    except Exception as exc:
        return ("error", type(exc).__name__, str(exc))


@pytest.mark.parametrize("seed", range(4))
def test_group_keys_and_partitions_sort_as_the_engine_sorts(seed, monkeypatch):
    """$group and $setWindowFields: the engine's groups, in its order, for keys the fast order takes and others."""
    from mongomock_ng import aggregate as mm_aggregate
    r = random.Random(seed)
    fast = 0
    by_sets = _spy(monkeypatch, "_runs_of_equal_keys")
    for trial in range(300):
        simple = r.random() < 0.6
        domain = [_key_value(r, simple) for _ in range(r.randrange(1, 7))]
        docs = []
        for i in range(r.randrange(0, 30)):
            doc = {"i": i, "j": r.randrange(3)}
            if r.random() < 0.9:
                doc["k"] = r.choice(domain)
            docs.append(doc)
        keys = [d.get("k") for d in docs]
        try:
            state = embedded._order_state()
            [embedded._order_part(key, state, 0) for key in keys]
            fast += 1
        except embedded._Unsortable:
            pass
        _id = r.choice(["$k", {"k": "$k", "j": "$j"}, {"j": "$j", "k": {"v": "$k"}}, {"$ifNull": ["$k", "none"]}])
        group = {"_id": _id, "i": {"$push": "$i"}, "first": {"$first": "$k"}, "n": {"$sum": 1}}
        window = {"partitionBy": _id, "sortBy": {"i": -1},
                  "output": {"n": {"$count": {}},
                             "s": {"$sum": "$j", "window": {"documents": ["unbounded", "current"]}}}}
        for engine, ours, options in (
            (mm_aggregate._handle_group_stage, embedded._group_stage, group),
            (mm_aggregate._handle_set_window_fields_stage, embedded._set_window_fields_stage, window),
        ):
            a = _repr_outcome(lambda: engine(copy.deepcopy(docs), None, options, None))
            b = _repr_outcome(lambda: ours(copy.deepcopy(docs), None, options, None))
            assert a == b, (trial, options, docs)
    assert fast > 150
    # Keys sorted once per set of equal ones, and keys left to the plain sort.
    assert sum(runs is not None for runs in by_sets) > 150 and sum(runs is None for runs in by_sets) > 100



@pytest.mark.parametrize("seed", range(2))
def test_list_keys_group_and_sort_as_the_engine_does(seed, monkeypatch):
    """Lists as group keys and sort values: the engine's groups and order, whether the fast order takes them or not."""
    from mongomock_ng import aggregate as mm_aggregate
    r = random.Random(seed)
    lists = [[], [1], [1.0], [True], [False], [0], [1, 2], [2], [None], ["a"], ["a", 1], [T0], [[1]], [[True]],
             [{"a": 1}], [{"a": True}], [{"a": 1, "b": 2}], [{"b": 2, "a": 1}], [Int64(1)], [float("nan")]]
    parts = _spy(monkeypatch, "_runs_and_order")
    for trial in range(200):
        domain = r.sample(lists, r.randrange(1, 6)) + r.choice([[], [None], [1], ["x"]])
        docs = [{"i": i, "k": r.choice(domain)} for i in range(r.randrange(0, 25))]
        for options in ({"_id": "$k", "i": {"$push": "$i"}}, {"_id": {"k": "$k"}, "i": {"$push": "$i"}}):
            a = _repr_outcome(lambda: mm_aggregate._handle_group_stage(copy.deepcopy(docs), None, options, None))
            b = _repr_outcome(lambda: embedded._group_stage(copy.deepcopy(docs), None, options, None))
            assert a == b, (trial, options, docs)
        sort = {"k": r.choice([1, -1]), "i": 1}
        a = _repr_outcome(lambda: mm_aggregate._handle_sort_stage(copy.deepcopy(docs), None, sort, None))
        b = _repr_outcome(lambda: embedded._sort_stage(copy.deepcopy(docs), None, sort, None))
        assert a == b, (trial, sort, docs)
    exact = [total for _, total in parts]
    assert exact.count(True) > 100 and exact.count(False) > 50  # lists the fast order takes, and others


def _window_value(r, kinds):
    kind = r.choice(kinds)
    if kind == "int":
        return r.randrange(-3, 4)
    if kind == "float":
        return r.choice([0.1, 0.2, 1e16, -1e16, float("nan"), 2.5])
    if kind == "date":
        return T0 + timedelta(seconds=r.randrange(-5, 5))
    if kind == "naive":
        return T0.replace(tzinfo=None) + timedelta(seconds=r.randrange(-5, 5))
    return r.choice([None, True, "s", Int64(3), [1], {"a": 1}])


def _spy(monkeypatch, name):
    """The list of what embedded.<name> returns from now on (it still runs)."""
    returned, function = [], getattr(embedded, name)
    monkeypatch.setattr(embedded, name, lambda *args: returned.append(function(*args)) or returned[-1])
    return returned


@pytest.mark.parametrize("seed", range(4))
def test_running_window_sums_and_extremes_are_the_engines(seed, monkeypatch):
    """$sum/$max/$min over [unbounded, -1 | current | 0] or the whole partition: one pass, the engine's values."""
    from mongomock_ng import aggregate as mm_aggregate
    r = random.Random(seed)
    passes = _spy(monkeypatch, "_accumulate_running")
    windows = [None, {}, {"documents": ["unbounded", -1]}, {"documents": ["unbounded", "current"]},
               {"documents": ["unbounded", 0]}, {"documents": ["unbounded", 1]}, {"documents": [-1, "current"]},
               {"range": ["unbounded", "current"]}, {"documents": ["unbounded", True]}]
    for trial in range(400):
        kinds = r.choice([["int"], ["int", "float"], ["float"], ["date"], ["date", "naive"], ["int", "other"],
                          ["int", "date"], ["date", "other"]])
        docs = []
        for i in range(r.randrange(0, 14)):
            doc = {"_id": i, "p": r.randrange(3), "t": r.randrange(5)}
            for name in ("a", "b"):
                roll = r.random()
                if roll < 0.8:
                    doc[name] = _window_value(r, kinds)
                elif roll < 0.9:
                    doc[name] = None
            docs.append(doc)
        output = {}
        for name in r.sample(["x", "y", "a"], r.randrange(1, 3)):
            operator = r.choice(["$sum", "$max", "$min", "$max", "$avg"])
            spec = {operator: r.choice(["$a", "$b", {"$ifNull": ["$a", "$b"]}, 1, "$missing"])}
            window = r.choice(windows)
            if window is not None:
                spec["window"] = window
            output[name] = spec
        options = {"partitionBy": r.choice(["$p", {"p": "$p"}]), "sortBy": r.choice([{"t": 1}, {"t": -1, "_id": 1}]),
                   "output": output}
        a = _repr_outcome(lambda: mm_aggregate._handle_set_window_fields_stage(copy.deepcopy(docs), None, options,
                                                                              None))
        b = _repr_outcome(lambda: embedded._set_window_fields_stage(copy.deepcopy(docs), None, options, None))
        assert a == b, (trial, options, docs)
    done = [p for p in passes if p is not None]
    assert len(done) > 80 and len(passes) - len(done) > 50  # both paths were taken


@pytest.mark.parametrize("seed", range(3))
def test_a_window_after_one_with_the_same_partitions_is_the_engines(seed, monkeypatch):
    """Two $setWindowFields in a row: the second takes the first's partitions only where the engine's are the same."""
    from mongomock_ng import aggregate as mm_aggregate
    r = random.Random(seed)
    taken = _spy(monkeypatch, "_reusable_partitions")
    keys = ["$p", {"p": "$p"}, {"p": "$p", "q": "$q"}, "$q"]
    sorts = [{"t": 1}, {"t": -1}, {"t": 1, "_id": 1}, {"q": 1}, None]
    for trial in range(300):
        mixed = r.random() < 0.2  # partition or sort values that BsonComparable orders, not one total order
        docs = []
        for i in range(r.randrange(0, 16)):
            doc = {"_id": i, "p": r.randrange(3), "q": r.choice(["a", "b"]), "t": r.randrange(5), "a": r.randrange(4)}
            if mixed:
                doc[r.choice("pqt")] = r.choice([None, True, "s", 1.5, float("nan"), T0.replace(tzinfo=None)])
            if r.random() < 0.1:
                del doc[r.choice("pqt")]
            docs.append(doc)
        first_key, first_sort = r.choice(keys), r.choice(sorts)
        same = r.random() < 0.7
        second_key = first_key if same else r.choice(keys)
        second_sort = first_sort if same else r.choice(sorts)
        # The first stage sometimes writes a field the second partitions or sorts by.
        written = r.choice(["x", "x", "p", "t", "q"])
        first = {"partitionBy": first_key,
                 "output": {written: {"$sum": "$a", "window": {"documents": ["unbounded", -1]}}}}
        second = {"partitionBy": second_key, "output": {"y": r.choice([
            {"$sum": 1, "window": {"documents": ["unbounded", "current"]}}, {"$max": "$t"}, {"$push": "$_id"}])}}
        for options, sort in ((first, first_sort), (second, second_sort)):
            if sort is not None:
                options["sortBy"] = sort
            elif r.random() < 0.5 and "$push" not in repr(options["output"]):
                options["sortBy"] = {}

        def engine():
            out = mm_aggregate._handle_set_window_fields_stage(copy.deepcopy(docs), None, first, None)
            return mm_aggregate._handle_set_window_fields_stage(out, None, second, None)

        a = _repr_outcome(engine)
        b = _repr_outcome(lambda: list(embedded._run_pipeline(
            copy.deepcopy(docs), None, [{"$setWindowFields": first}, {"$setWindowFields": second}], None)))
        assert a == b, (trial, first, second, docs)
    reused = [t for t in taken if t is not None]
    assert len(reused) > 60 and len(taken) - len(reused) > 60  # both paths were taken


def _expression(r, depth=0):
    """A random aggregation expression: the forms embedded._compiled does itself, and others, some malformed."""
    leaf = r.choice(["$a", "$b", "$c", "$a.x", "$b.0", "$missing", "$$ROOT", "$$CURRENT.a", "$$v", 1, 0, "a", None,
                     True, [], T0, 2.5, "$start", T0.replace(tzinfo=None), 10 ** 30, Decimal128("2"), "s"])
    if depth > 2 or r.random() < 0.3:
        return leaf
    sub = lambda: _expression(r, depth + 1)  # noqa: E731
    return r.choice([
        lambda: {"$ifNull": [sub(), sub()]},
        lambda: {"$ifNull": [sub()]},
        lambda: {"$cond": [sub(), sub(), sub()]},
        lambda: {"$cond": {"if": sub(), "then": sub(), "else": sub()}},
        lambda: {"$cond": [sub(), sub()]},
        lambda: {r.choice(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$cmp"]): [sub(), sub()]},
        lambda: {"$eq": [sub()]},
        lambda: {r.choice(["$and", "$or"]): [sub() for _ in range(r.randrange(0, 3))]},
        lambda: {"$and": sub()},
        lambda: {"$not": [sub()]},
        lambda: {"$add": [sub(), 1]},
        lambda: {r.choice(["$add", "$multiply"]): r.choice([
            [sub() for _ in range(r.randrange(0, 4))], sub(), [sub(), 3, Decimal128("1.5")],
            [T0, sub(), 60000], [sub(), T0, timedelta(hours=1)], [10 ** 300, 10.0 ** 300, sub()],
            [{r.choice(["$year", "$month", "$dayOfMonth"]): {"date": sub(), "timezone": "UTC"}}, 100]])},
        lambda: {"$toString": sub()},
        lambda: {"$toLong": sub()},
        lambda: {r.choice(["$subtract", "$divide"]): r.choice([[sub(), sub()], [sub()], sub()])},
        lambda: {r.choice(["$max", "$min"]): r.choice([[sub(), sub(), sub()], sub()])},
        lambda: {"$concat": r.choice([[sub(), "-", sub()], sub()])},
        lambda: {r.choice(["$year", "$month", "$dayOfMonth"]): r.choice([
            {"date": r.choice([sub(), "$start", T0 + timedelta(hours=r.randrange(-30, 30)),
                               (T0 + timedelta(hours=r.randrange(-30, 30))).astimezone(timezone(timedelta(hours=3)))]),
             "timezone": r.choice(["Asia/Kolkata", "Asia/Kathmandu", "America/New_York", "UTC", "Nowhere/Else",
                                   "$a", 5])},
            {"date": sub()}, sub()])},
        lambda: {"k": sub(), "l": sub()},
        lambda: {"k": sub(), "$l": sub()},
        lambda: {},
        lambda: [sub(), sub()],
        lambda: {"$bogus": 1},
    ])()


def _value(r, depth=0):
    return r.choice([
        lambda: None, lambda: r.randrange(-2, 3), lambda: r.choice([0.5, float("nan"), -0.0]), lambda: True,
        lambda: r.choice(["", "a", "k1", "x"]), lambda: T0, lambda: T0.replace(tzinfo=None),
        lambda: Decimal128("1.5"), lambda: ObjectId(f"{r.randrange(1, 3):024x}"),
        lambda: [_value(r, depth + 1) for _ in range(r.randrange(3))] if depth < 2 else [],
        lambda: ({"x": _value(r, depth + 1), "0": 1} if depth < 2 else {}),
        lambda: (_value(r, depth + 1),) if depth < 2 else (),
    ])()


def _doc(r):
    return {key: _value(r) for key in ("a", "b", "c", "_id", "start", "k") if r.random() < 0.8}


@pytest.mark.parametrize("seed", range(3))
def test_compiled_expressions_and_matchers_answer_as_the_engine(seed):
    from mongomock_ng import aggregate as mm_aggregate
    r = random.Random(seed)
    for _ in range(3000):
        expression, doc = _expression(r), _doc(r)
        user_vars = r.choice([None, {"v": r.randrange(3)}])
        a = _repr_outcome(lambda: mm_aggregate._parse_expression(expression, doc, user_vars=user_vars))
        b = _repr_outcome(lambda: embedded._compiled(expression)(doc, user_vars))
        assert a == b, (expression, doc)
    for _ in range(500):
        value = r.choice([lambda: _value(r), lambda: _doc(r), lambda: {"t": T0 + timedelta(microseconds=1234)}])()
        assert repr(embedded._patched(value)) == repr(mm_helpers.patch_datetime_awareness_in_document(value))
    world, ranges = World(seed), Ranges(seed, 0.05)

    def field_clause():
        return {
            r.choice(["a", "b", "start", "k", "a.x", "b.0", "c.x.x", "a.x.0"]): r.choice([
                lambda: _value(r),
                lambda: {op: _value(r) for op in r.sample(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$exists"],
                                                        r.randrange(1, 3))},
                lambda: {r.choice(["$in", "$nin"]): r.choice([[_value(r), _value(r)], _value(r)])},
                lambda: {"$gte": "k", "$lt": T0.replace(tzinfo=None)},
                lambda: {},
            ])(),
            **({"$comment": "x"} if r.random() < 0.1 else {}),
        }

    def combined(depth=0):
        """$and/$or/$nor of sub-filters (nested, with $expr and $$ variables the
        engine evaluates without user variables), or of what the engine refuses."""
        def sub():
            return r.choice([field_clause, world.clause, ranges.filter, lambda: {"$expr": _expression(r)},
                             lambda: {"$expr": {"$eq": ["$$v", r.randrange(3)]}},
                             lambda: combined(depth + 1) if depth < 2 else {}])()
        spec = {r.choice(["$and", "$or", "$nor"]): r.choice(
            [lambda: [sub() for _ in range(r.randrange(1, 4))]] * 6 + [lambda: [], lambda: {"a": 1},
                                                                        lambda: [sub(), 3], lambda: "ab"])()}
        if r.random() < 0.4:
            spec.update(field_clause())
        return spec

    for _ in range(1500):
        spec = r.choice([world.filter, world.clause, ranges.filter, field_clause, combined])()
        spec = mm_helpers.patch_datetime_awareness_in_document(spec)
        doc = r.choice([lambda: _doc(r), world.doc, ranges.doc])()
        user_vars = r.choice([None, {"v": r.randrange(3)}])
        a = _repr_outcome(lambda: bool(filtering.filter_applies(spec, doc, user_vars=user_vars)))
        b = _repr_outcome(lambda: bool(embedded._matcher(spec, user_vars)(doc)))
        assert a == b, (spec, doc, user_vars)


@pytest.mark.parametrize("seed", range(3))
def test_stage_handlers_answer_as_the_engines(seed):
    """$match, $project, $set, $unwind, $group, $facet on the same documents: same output, same inputs after."""
    from mongomock_ng import aggregate as mm_aggregate
    r = random.Random(seed)
    world = World(seed)
    database = mongomock_ng.MongoClient().db
    for _ in range(300):
        docs = [r.choice([world.doc, lambda: _doc(r)])() for _ in range(r.randrange(0, 12))]
        stage = r.choice([
            lambda: ("$match", r.choice([world.filter(), world.clause(), {"a": _value(r)}, {"$expr": _expression(r)},
                                         {"t": {"$gte": T0}, "k": {"$in": [1, 2]}}, []])),
            lambda: ("$project", r.choice([{"k": 1, "t": 1}, {"tags": 0}, {"sub": {"a": 1}}, {"x": _expression(r)},
                                           {"k": 1, "x": {"$ifNull": ["$t", "none"]}}, {"k": 0, "x": "$k"},
                                           {"_id": 0, "sub.a": 1}])),
            lambda: ("$set", r.choice([{"x": _expression(r)}, {"sub.z": "$k", "k": {"$add": ["$k", 1]}}, {}])),
            lambda: ("$addFields", {"tags": {"$cond": [{"$eq": ["$k", 1]}, "$tags", []]}}),
            lambda: ("$unwind", r.choice(["$tags", {"path": "$tags", "includeArrayIndex": "i"},
                                          {"path": "$tags", "preserveNullAndEmptyArrays": True},
                                          {"path": "$sub.a", "includeArrayIndex": "sub.i"}, "tags"])),
            lambda: ("$group", {"_id": _expression(r), "n": {"$sum": 1}, "all": {"$push": "$$ROOT"},
                                "set": {"$addToSet": "$k"}, "first": {"$first": "$sub"}}),
            lambda: ("$setWindowFields", {"partitionBy": _expression(r), "sortBy": {"k": 1},
                                          "output": {"n": {"$sum": "$k", "window": {"documents": ["unbounded", 0]}}}}),
            lambda: ("$facet", {"a": [{"$unwind": "$tags"}, {"$set": {"sub.w": 1}}],
                                "b": [{"$match": {"k": {"$gt": 2}}}, {"$project": {"sub": 1}}],
                                "c": [{"$group": {"_id": "$sub", "n": {"$sum": 1}}}]}),
        ])()
        engine_docs, our_docs = copy.deepcopy(docs), copy.deepcopy(docs)
        a = _repr_outcome(lambda: list(mm_aggregate.process_pipeline(engine_docs, database, [dict([stage])], None)))
        b = _repr_outcome(lambda: list(embedded._run_pipeline(our_docs, database, [dict([stage])], None)))
        assert a == b, stage
        assert repr(engine_docs) == repr(our_docs), stage  # inputs changed (or not) alike


_STAGES = [
    {"$group": {"_id": "$client_id", "n": {"$sum": 1}, "k": {"$max": "$k"}, "t": {"$min": "$t"}}},
    {"$group": {"_id": {"c": "$client_id", "s": "$sub.a"}, "root": {"$first": "$$ROOT"}, "p": {"$push": "$price"}}},
    {"$group": {"_id": "$k", "f": {"$first": {"$getField": "t"}}, "l": {"$last": "$sub"}}},
    {"$group": {"_id": None, "tags": {"$addToSet": "$tags"}, "avg": {"$avg": "$k"}}},
    {"$set": {"x": {"$ifNull": ["$price", 0]}, "y": {"$subtract": ["$t", T0]}}},
    {"$set": {"sub.b": "$k", "k": {"$toLong": "$k"}}},
    {"$addFields": {"all": "$$CURRENT"}},
    {"$unset": ["tags", "sub.a"]},
    {"$unwind": "$tags"},
    {"$unwind": {"path": "$tags", "preserveNullAndEmptyArrays": True, "includeArrayIndex": "i"}},
    {"$sort": {"k": 1, "_id": -1}},
    {"$sort": {"sub.a": -1, "t": 1}},
    {"$limit": 3},
    {"$skip": 1},
    {"$project": {"k": 1, "t": 1}},
    {"$project": {"tags": 0, "sub.at": 0}},
    {"$project": {"_id": 0, "x": "$sub.at", "m": {"$max": ["$k", 3]}}},
    {"$project": {"sub": {"a": 1}, "k": True}},
    {"$match": {"k": {"$gte": 2}, "sub.b": {"$in": ["x", "z"]}}},
    {"$match": {"$expr": {"$gt": ["$k", 3]}}},
    {"$count": "n"},
    {"$facet": {"a": [{"$group": {"_id": "$k", "n": {"$sum": 1}}}], "b": [{"$project": {"t": 1}}, {"$limit": 2}]}},
    {"$facet": {"a": [{"$match": {"tags": "a"}}, {"$count": "n"}],
                "b": [{"$group": {"_id": "$sub", "n": {"$sum": 1}}}]}},
    {"$setWindowFields": {"partitionBy": "$client_id", "sortBy": {"k": 1},
                          "output": {"r": {"$sum": "$k", "window": {"documents": ["unbounded", "current"]}}}}},
    {"$replaceRoot": {"newRoot": {"$ifNull": ["$sub", {}]}}},
    {"$group": {"_id": "$tags", "n": {"$sum": 1}}},
]


@pytest.mark.parametrize("seed, tz_aware", [(0, True), (1, True), (2, False)])
def test_pipelines_reading_few_fields_give_the_engines_answers(seed, tz_aware):
    """Random pipelines after a first $match: the copies hold only the fields the result depends on."""
    world = World(seed)
    r = world.rng
    plain, ours = _clients(tz_aware)
    docs = [{**world.doc(), "_id": i} for i in range(150)]
    for client in (plain, ours):
        client.db.c.insert_many(copy.deepcopy(docs))
    restricted = 0
    for _ in range(250):
        pipeline = [{"$match": r.choice([{"client_id": r.randrange(3)}, {"client_id": 1, "t": {"$gte": T0}},
                                         {"k": {"$in": [1, 2, 3]}}, {"$expr": {"$gt": ["$k", 2]}}])}]
        pipeline += [copy.deepcopy(r.choice(_STAGES)) for _ in range(r.randrange(1, 4))]
        restricted += embedded._pipeline_needs(pipeline) is not None
        _both(plain.db.c, ours.db.c, lambda c: c.aggregate(copy.deepcopy(pipeline)))
    _both(plain.db.c, ours.db.c, lambda c: c.find())
    assert restricted > 60


def test_the_first_match_runs_once_and_the_second_stage_gets_what_it_got():
    """Where the pre-filter applied every clause, stage 2 gets the same documents in the same order."""
    from mongomock_ng import aggregate as mm_aggregate
    world = Ranges(5, 0.0)
    plain, ours = _clients()
    docs = [{"_id": i, **world.doc(with_id=False)} for i in range(400)]
    for client in (plain, ours):
        client.db.s.insert_many(copy.deepcopy(docs))
    handlers = mm_aggregate._PIPELINE_HANDLERS
    original_skip, original_match = handlers["$skip"], handlers["$match"]
    seen, matched, which = {"plain": [], "ours": []}, {"plain": 0, "ours": 0}, ["plain"]

    def skip(c, d, o, v):
        seen[which[0]].append(repr(c))
        return original_skip(c, d, o, v)

    def match(c, d, o, v):
        matched[which[0]] += 1
        return original_match(c, d, o, v)

    handlers["$skip"], handlers["$match"] = skip, match
    try:
        for _ in range(200):
            f = world.filter()
            pipeline = [{"$match": f}, {"$skip": 0}]
            which[0] = "plain"
            a = _outcome(lambda: plain.db.s.aggregate(pipeline))
            which[0] = "ours"
            b = _outcome(lambda: ours.db.s.aggregate(pipeline))
            assert a == b
            assert seen["plain"] == seen["ours"]
    finally:
        handlers["$skip"], handlers["$match"] = original_skip, original_match
    # Filters with $expr keep the stage; the others never run it.
    assert matched["plain"] == 200 and matched["ours"] < 40
    assert len(seen["ours"]) > 150


def test_a_sorted_page_reads_only_its_head():
    plain, ours = _clients()
    docs = [{"_id": f"s{(i * 7919) % 6000:05d}", "client_id": i % 2, "start": T0 + timedelta(minutes=i // 3),
             "end": T0 + timedelta(minutes=i // 3 + i % 40), "inter_server": i % 50 == 1, "traffic": [i]}
            for i in range(6000)]
    for client in (plain, ours):
        client.db.s.insert_many(copy.deepcopy(docs))
    match = {"client_id": 1, "start": {"$gte": T0 + timedelta(hours=10), "$lt": T0 + timedelta(hours=30)},
             "inter_server": {"$ne": True}}
    pages = []
    for field, d in (("start", -1), ("start", 1), ("end", -1), ("end", 1)):
        order = [(field, d), ("_id", d)]
        if field == "end":  # as reports/sessions.py bounds it
            match = {**match, "end": {"$gte": T0 + timedelta(hours=10), "$lt": T0 + timedelta(hours=31)}}
        pages.append((match, order))
        last = list(ours.db.s.find(match).sort(order).limit(50))[-1]
        op = "$gt" if d == 1 else "$lt"
        following = {**match, "$and": [{field: {"$gte" if d == 1 else "$lte": last[field]}},
                                       {"$or": [{field: {op: last[field]}},
                                                {field: last[field], "_id": {op: last["_id"]}}]}]}
        pages.append((following, order))
    for spec, order in pages:
        with _filtered() as calls:
            rows = list(ours.db.s.find(spec, {"traffic": 0}).sort(order).limit(101))
        assert len(rows) == 101 and 100 < len(calls) < 400  # the window holds 1200 sessions of client 1
        _both(plain.db.s, ours.db.s, lambda c: c.find(spec, {"traffic": 0}).sort(order).limit(101))


def test_a_range_query_reads_only_its_client_and_window():
    ours = embedded.EmbeddedClient(tz_aware=True)
    docs = [{"_id": i, "client_id": i % 10, "start": T0 + timedelta(minutes=i), "n": i % 3} for i in range(20000)]
    ours.db.s.insert_many(docs)
    window = {"$gte": T0 + timedelta(minutes=5000), "$lt": T0 + timedelta(minutes=6000)}
    expected = [d["_id"] for d in docs if d["client_id"] == 3 and 5000 <= d["_id"] < 6000]
    with _filtered() as calls:
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
    assert 500 < len(calls) < 1000


def test_a_declared_index_narrows_a_count_to_the_account():
    plain, ours = _clients()
    docs = [{"_id": i, "client_id": i % 2, "account_id": i % 500, "start": T0 + timedelta(minutes=i)}
            for i in range(6000)]
    for client in (plain, ours):
        client.db.s.create_index([("client_id", ASCENDING), ("account_id", ASCENDING), ("start", DESCENDING)])
        client.db.s.insert_many(copy.deepcopy(docs))
    day = {"$gte": T0 + timedelta(days=3), "$lt": T0 + timedelta(days=4)}
    with _filtered() as calls:
        assert ours.db.s.count_documents({"client_id": 1, "account_id": 7, "start": day}) == 3
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
