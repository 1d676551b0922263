"""How many documents the queries of a piece of code examine.

    with store.examined() as meter:
        run_a_report()
    meter.total, meter.by_collection, meter.calls

A real MongoDB is judged by the documents a query examines, not by its
wall time in a test, so benches and tests measure that. Metering is on only
inside the `with` (store.collection() then hands out a metering wrapper);
outside it nothing is wrapped and nothing costs.

On a real server every metered operation is first run as `explain`
(executionStats) and its totalDocsExamined is recorded; explain of a write
does not write. That doubles the work, which is fine for what this is for.

The embedded engine has no index, so the count is what a real server would
examine with the *declared* indexes (store.INDEXES, `_id`, and the retention
TTL index store.ensure_indexes creates). For a filter, an index is usable
when its first field is constrained by a predicate index bounds can use
(equality, $eq, $in, $gt, $gte, $lt, $lte; not $ne, $exists, $expr, regular
expressions, ...), and, for a partial index, when those predicates imply its
filter. It examines the documents that satisfy the filter's bounded
predicates on its fields (on any of them: the scan skips keys outside the
bounds without fetching), counted by the engine's own matching; keys are
not counted. A top-level $or whose every branch has a usable index is also
a plan (one index per branch; the union is examined). A limit stops a find
or a single-document write early unless a sort the index does not provide
makes the server read the whole range first; an aggregate examines what its
leading $match selects (all documents without one); a count whose filter
the index holds entirely reads no document.

The `hint` decides the index (one naming no declared index raises, as a
server refuses it). Without one the plan examining fewest documents is
taken, and a real planner may choose differently: it races the candidates
for a few works and then reuses the winner for later queries of the same
shape whatever their values. So the meter also notes, in `ambiguous`, the
rival that looks as good before running (as many leading fields pinned to
one value, and a bound on the next one) but examines more, and
`worst_total` is the total had the planner taken those rivals: a query that
walks the history there needs a hint. On a real server explain reports the
plan it ran, so `ambiguous` stays empty and `worst_total` equals `total`.
"""
import contextvars
import re
import threading
from collections import namedtuple

Call = namedtuple("Call", "collection operation examined index")

_stack = contextvars.ContextVar("viewstats_examined", default=())
_everywhere = []  # meters opened with all_threads=True
_everywhere_lock = threading.Lock()


def active():
    return bool(_stack.get() or _everywhere)


def _meters():
    return _stack.get() + tuple(_everywhere)


class Meter:
    """Documents examined by the metered operations, as they ran."""

    def __init__(self, all_threads=False):
        self.all_threads = all_threads
        self.total = 0
        self.worst_total = 0
        self.by_collection = {}
        self.calls = []
        self.ambiguous = []
        self._lock = threading.Lock()
        self._token = None

    def __enter__(self):
        if self.all_threads:
            with _everywhere_lock:
                _everywhere.append(self)
        else:
            self._token = _stack.set(_stack.get() + (self,))
        return self

    def __exit__(self, *exc):
        if self.all_threads:
            with _everywhere_lock:
                _everywhere.remove(self)
        else:
            _stack.reset(self._token)
        return False

    def add(self, call, worst=None):
        with self._lock:
            self.calls.append(call)
            self.total += call.examined
            self.by_collection[call.collection] = self.by_collection.get(call.collection, 0) + call.examined
            self.worst_total += worst.examined if worst else call.examined
            if worst:
                self.ambiguous.append(worst)

    def summary(self):
        lines = [f"{c.collection}.{c.operation}: {c.examined} via {c.index}" for c in self.calls]
        return "\n".join(lines + [f"total {self.total}, worst plans {self.worst_total}"])


def _record(meters, call, worst=None):
    for meter in meters:
        meter.add(call, worst)


def wrap(coll, name):
    """`coll` metered for the meters open now (store.collection calls this)."""
    from . import store

    return _Metered(coll, name, _meters(), store.is_embedded())


# --------------------------------------------------------------------- wrapper

_ONE = {"find_one", "update_one", "replace_one", "delete_one", "find_one_and_update",
        "find_one_and_replace", "find_one_and_delete"}


class _Metered:
    def __init__(self, coll, name, meters, embedded):
        self._coll, self._name, self._meters, self._embedded = coll, name, meters, embedded

    def __getattr__(self, attr):
        return getattr(self._coll, attr)

    def _guard(self):
        """The embedded engine's lock, held over the measuring and the operation together."""
        if self._embedded:
            from . import store

            return store._embedded_lock
        return _NO_LOCK

    def _measure(self, operation, flt, *, limit=0, skip=0, sort=None, hint=None, command=None,
                 count=False, distinct_key=None):
        if self._embedded:
            call, worst = _Planner(self._coll, self._name).measure(
                operation, flt or {}, limit=limit, skip=skip, sort=sort, hint=hint, count=count,
                distinct_key=distinct_key)
            _record(self._meters, call, worst)
        else:
            examined, index = _explain(self._coll, command)
            _record(self._meters, Call(self._name, operation, examined, index))

    def find(self, filter=None, projection=None, *args, **kwargs):
        return _MeteredCursor(self, self._coll.find(filter, projection, *args, **kwargs), filter, kwargs)

    def find_one(self, filter=None, *args, **kwargs):
        if filter is not None and not isinstance(filter, dict):
            filter = {"_id": filter}
        sort = _sort_spec(kwargs.get("sort"))
        cmd = _find_command(self._name, filter, sort, 1, 0, kwargs.get("hint"))
        with self._guard():
            self._measure("find_one", filter, limit=1, sort=sort, hint=kwargs.get("hint"), command=cmd)
            return self._coll.find_one(filter, *args, **kwargs)

    def aggregate(self, pipeline, *args, **kwargs):
        first = pipeline[0] if pipeline else {}
        flt = first.get("$match") if "$match" in first else None
        cmd = {"aggregate": self._name, "pipeline": pipeline, "cursor": {},
               **{k: kwargs[k] for k in ("hint", "allowDiskUse") if k in kwargs}}
        with self._guard():
            self._measure("aggregate", flt, hint=kwargs.get("hint"), command=cmd)
            return self._coll.aggregate(pipeline, *args, **kwargs)

    def count_documents(self, filter, *args, **kwargs):
        cmd = {"aggregate": self._name, "cursor": {},
               "pipeline": [{"$match": filter}, {"$group": {"_id": 1, "n": {"$sum": 1}}}],
               **({"hint": kwargs["hint"]} if "hint" in kwargs else {})}
        with self._guard():
            self._measure("count_documents", filter, hint=kwargs.get("hint"), command=cmd, count=True)
            return self._coll.count_documents(filter, *args, **kwargs)

    def distinct(self, key, filter=None, *args, **kwargs):
        cmd = {"distinct": self._name, "key": key, "query": filter or {}}
        with self._guard():
            self._measure("distinct", filter, hint=kwargs.get("hint"), command=cmd, distinct_key=key)
            return self._coll.distinct(key, filter, *args, **kwargs)

    def _write(self, operation, filter, document, kwargs):
        with self._guard():
            self._measure(operation, filter, limit=1 if operation in _ONE else 0,
                          sort=_sort_spec(kwargs.get("sort")), hint=kwargs.get("hint"),
                          command=_write_command(self._name, operation, filter, document, kwargs))
            return getattr(self._coll, operation)(filter, *([] if document is None else [document]),
                                                   **kwargs)

    def update_one(self, filter, update, **kwargs):
        return self._write("update_one", filter, update, kwargs)

    def update_many(self, filter, update, **kwargs):
        return self._write("update_many", filter, update, kwargs)

    def replace_one(self, filter, replacement, **kwargs):
        return self._write("replace_one", filter, replacement, kwargs)

    def delete_one(self, filter, **kwargs):
        return self._write("delete_one", filter, None, kwargs)

    def delete_many(self, filter, **kwargs):
        return self._write("delete_many", filter, None, kwargs)

    def find_one_and_update(self, filter, update, **kwargs):
        return self._write("find_one_and_update", filter, update, kwargs)

    def find_one_and_replace(self, filter, replacement, **kwargs):
        return self._write("find_one_and_replace", filter, replacement, kwargs)

    def find_one_and_delete(self, filter, **kwargs):
        return self._write("find_one_and_delete", filter, None, kwargs)

    def bulk_write(self, requests, *args, **kwargs):
        requests = list(requests)
        with self._guard():
            for op in requests:
                operation = _BULK.get(type(op).__name__)
                if operation is None:
                    continue  # inserts examine nothing
                options = {"upsert": getattr(op, "_upsert", False), "hint": op._hint}
                self._measure("bulk_write." + operation, op._filter, limit=1 if operation in _ONE else 0,
                              hint=op._hint, command=_write_command(self._name, operation, op._filter,
                                                                    getattr(op, "_doc", None), options))
            return self._coll.bulk_write(requests, *args, **kwargs)


_BULK = {"UpdateOne": "update_one", "UpdateMany": "update_many", "ReplaceOne": "replace_one",
         "DeleteOne": "delete_one", "DeleteMany": "delete_many"}


class _NoLock:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


_NO_LOCK = _NoLock()


class _MeteredCursor:
    """A find cursor that meters itself when first read, once its sort, limit and hint are known."""

    def __init__(self, owner, cursor, filter, kwargs):
        self._owner, self._cursor, self._filter = owner, cursor, filter
        self._sort = _sort_spec(kwargs.get("sort"))
        self._limit, self._skip, self._hint = kwargs.get("limit", 0), kwargs.get("skip", 0), kwargs.get("hint")
        self._measured = False

    def __getattr__(self, attr):
        value = getattr(self._cursor, attr)
        if not callable(value):
            return value

        def call(*args, **kwargs):
            result = value(*args, **kwargs)
            # Chained options (batch_size, allow_disk_use, ...) keep the metering.
            return self if result is self._cursor else result
        return call

    def _chain(self, method, *args):
        result = getattr(self._cursor, method)(*args)
        if result is not self._cursor:
            self._cursor = result
        return self

    def sort(self, key_or_list, direction=None):
        self._sort = _sort_spec(key_or_list if direction is None else [(key_or_list, direction)])
        return self._chain("sort", key_or_list, *([] if direction is None else [direction]))

    def limit(self, count):
        self._limit = count
        return self._chain("limit", count)

    def skip(self, count):
        self._skip = count
        return self._chain("skip", count)

    def hint(self, index):
        self._hint = index
        return self._chain("hint", index)

    def _read(self, step):
        if self._measured:
            return step()
        self._measured = True
        owner = self._owner
        with owner._guard():
            owner._measure("find", self._filter, limit=abs(self._limit or 0), skip=self._skip or 0,
                           sort=self._sort, hint=self._hint,
                           command=_find_command(owner._name, self._filter, self._sort, self._limit,
                                                 self._skip, self._hint))
            return step()

    def __iter__(self):
        return self

    def __next__(self):
        return self._read(lambda: next(self._cursor))

    next = __next__

    def distinct(self, key):
        return self._read(lambda: self._cursor.distinct(key))


def _sort_spec(sort):
    """[(field, direction)] from any form pymongo takes, or None."""
    if not sort:
        return None
    if isinstance(sort, str):
        return [(sort, 1)]
    if isinstance(sort, dict):
        return list(sort.items())
    return [(s, 1) if isinstance(s, str) else tuple(s) for s in sort]


# ----------------------------------------------------------------- real server

def _find_command(name, flt, sort, limit, skip, hint):
    cmd = {"find": name, "filter": flt or {}}
    if sort:
        cmd["sort"] = dict(sort)
    if limit:
        cmd["limit"] = abs(limit)
    if skip:
        cmd["skip"] = skip
    if hint:
        cmd["hint"] = hint
    return cmd


def _write_command(name, operation, flt, document, options):
    hint = {"hint": options["hint"]} if options.get("hint") else {}
    if operation.startswith("find_one_and_"):
        cmd = {"findAndModify": name, "query": flt, **hint}
        if options.get("sort"):
            cmd["sort"] = dict(_sort_spec(options["sort"]))
        if operation == "find_one_and_delete":
            cmd["remove"] = True
        else:
            cmd.update(update=document, upsert=bool(options.get("upsert")))
        return cmd
    if operation.startswith("delete"):
        return {"delete": name, "deletes": [{"q": flt, "limit": 1 if operation == "delete_one" else 0,
                                              **hint}]}
    return {"update": name, "updates": [{"q": flt, "u": document, "multi": operation == "update_many",
                                          "upsert": bool(options.get("upsert")), **hint}]}


def _explain(coll, command):
    out = coll.database.command("explain", command, verbosity="executionStats")
    names = sorted(set(_winning_indexes(out)))
    return _docs_examined(out), "+".join(names) or "COLLSCAN"


def _docs_examined(explain):
    """Sum of totalDocsExamined, taken once per plan (the server's own sum over its stages)."""
    if isinstance(explain, dict):
        if "totalDocsExamined" in explain:
            return int(explain["totalDocsExamined"])
        return sum(_docs_examined(v) for v in explain.values())
    if isinstance(explain, list):
        return sum(_docs_examined(v) for v in explain)
    return 0


def _winning_indexes(explain, inside=False):
    if isinstance(explain, dict):
        if inside and "indexName" in explain:
            yield explain["indexName"]
        if inside and explain.get("stage") == "IDHACK":
            yield "_id_"
        for key, value in explain.items():
            if key != "rejectedPlans":
                yield from _winning_indexes(value, inside or key == "winningPlan")
    elif isinstance(explain, list):
        for value in explain:
            yield from _winning_indexes(value, inside)


# ------------------------------------------------------------- embedded engine

_BOUNDS = ("$eq", "$in", "$gt", "$gte", "$lt", "$lte")
COLLSCAN = "COLLSCAN"


class _Index:
    def __init__(self, name, key, sparse=False, partial=None):
        self.name, self.key, self.sparse = name, [(f, int(d)) for f, d in key], sparse
        self.partial = partial or None
        self.fields = [f for f, _ in self.key]


def declared_indexes(collection):
    """The indexes a real server has on `collection` after store.ensure_indexes()."""
    from . import store
    from .conf import setting

    out = [_Index("_id_", [("_id", 1)])]
    for model in store.INDEXES.get(collection, ()):
        doc = model.document
        out.append(_Index(doc["name"], list(doc["key"].items()), bool(doc.get("sparse")),
                          doc.get("partialFilterExpression")))
    field = store.RETENTION_FIELD.get(collection)
    if field and setting(store.RETENTION_SETTING[collection]):
        out.append(_Index(store.RETENTION_INDEX, [(field, 1)]))
    return out


def _is_regex(value):
    return isinstance(value, re.Pattern) or type(value).__name__ == "Regex"


def _bound(value):
    """The part of a field's condition index bounds can use, or None."""
    if isinstance(value, dict) and value and all(str(k).startswith("$") for k in value):
        kept = {k: v for k, v in value.items() if k in _BOUNDS and not _is_regex(v)
                and not (k == "$in" and any(_is_regex(x) for x in v))}
        return kept or None
    return None if _is_regex(value) else value


def _conjuncts(flt):
    """({field: [bounded conditions]}, the first $or's branches or None, whether all of it is bounded)."""
    preds, ors, whole = {}, [], [True]

    def walk(f):
        for key, value in f.items():
            if key == "$and":
                for sub in value:
                    walk(sub)
            elif key == "$or":
                ors.append(value)
                whole[0] = False
            elif str(key).startswith("$"):
                whole[0] = False
            else:
                cond = _bound(value)
                if cond is None:
                    whole[0] = False
                    continue
                if cond != value:
                    whole[0] = False
                preds.setdefault(key, []).append(cond)
    walk(flt)
    return preds, (ors[0] if ors else None), whole[0]


_STRICTER = {
    "$gt": lambda op, y, x: (op == "$gt" and y >= x) or (op in ("$gte", "$eq") and y > x),
    "$gte": lambda op, y, x: op in ("$gt", "$gte", "$eq") and y >= x,
    "$lt": lambda op, y, x: (op == "$lt" and y <= x) or (op in ("$lte", "$eq") and y < x),
    "$lte": lambda op, y, x: op in ("$lt", "$lte", "$eq") and y <= x,
    "$eq": lambda op, y, x: op == "$eq" and y == x,
}


def _implies(preds, partial):
    """Whether the bounded predicates alone guarantee a partial index's filter
    (comparisons and equalities; anything else counts as not guaranteed)."""
    for field, want in partial.items():
        if str(field).startswith("$"):
            return False
        wants = want.items() if isinstance(want, dict) else [("$eq", want)]
        have = []
        for cond in preds.get(field, ()):
            have += cond.items() if isinstance(cond, dict) else [("$eq", cond)]
        for op, x in wants:
            test = _STRICTER.get(op)
            if test is None or not any(_comparable(y, x) and test(o, y, x) for o, y in have):
                return False
    return True


def _comparable(a, b):
    try:
        a < b  # noqa: B015
        return True
    except TypeError:
        return False


def _matches_null(cond):
    if isinstance(cond, dict):
        return cond.get("$eq", 0) is None or None in cond.get("$in", ())
    return cond is None


def _point(conds):
    for cond in conds or ():
        if not isinstance(cond, (dict, list)):
            return True
        if isinstance(cond, dict) and ("$eq" in cond or len(cond.get("$in", ())) == 1):
            return True
    return False


def _specificity(index, preds):
    """How tightly an index's bounds fit a filter, as a planner sees it before running anything.

    (leading fields pinned to one value, whether the next field is bounded).
    Plans equal here are decided by the trial run and then the plan cache,
    so either may serve later queries of that shape. Equality on `_id`
    (unique) finishes any trial at once.
    """
    if index.fields == ["_id"] and _point(preds.get("_id")):
        return (len(index.fields) + 99, 0)
    points = 0
    for field in index.fields:
        if not _point(preds.get(field)):
            break
        points += 1
    following = index.fields[points] if points < len(index.fields) else None
    return (points, 1 if following in preds else 0)


def _rank(plan):
    return tuple(-x for x in plan.specificity)


class _Plan:
    def __init__(self, name, sub, specificity, index=None):
        self.name, self.sub, self.specificity, self.index = name, sub, specificity, index
        self.examined = None


class _Planner:
    def __init__(self, coll, name):
        self.coll, self.collection = coll, name
        self.indexes = declared_indexes(name)
        self._counts = {}

    def count(self, sub):
        key = repr(sub)
        if key not in self._counts:
            self._counts[key] = self.coll.count_documents(sub)
        return self._counts[key]

    def _index_plan(self, index, preds, hinted=False):
        usable = index.fields[0] in preds and not (
            index.sparse and any(_matches_null(c) for f in index.fields for c in preds.get(f, ())))
        if index.partial and not _implies(preds, index.partial):
            usable = hinted = False  # it may lack documents the query matches
        if not (usable or hinted):
            return None
        parts = [{f: c} for f in index.fields for c in preds.get(f, ())]
        if index.sparse and not usable:
            parts.append({"$or": [{f: {"$exists": True}} for f in index.fields]})
        if index.partial:
            parts.append(index.partial)  # only its documents are in it
        return _Plan(index.name, {"$and": parts} if parts else {}, _specificity(index, preds), index)

    def _candidates(self, flt):
        preds, branches, _ = _conjuncts(flt)
        plans = [p for p in (self._index_plan(i, preds) for i in self.indexes) if p]
        if branches:
            chosen = []
            for branch in branches:
                merged = {f: list(c) for f, c in preds.items()}
                for f, conds in _conjuncts(branch)[0].items():
                    merged.setdefault(f, []).extend(conds)
                options = [p for p in (self._index_plan(i, merged) for i in self.indexes) if p]
                if not options:
                    break
                chosen.append(min(options, key=lambda p: (self.count(p.sub), _rank(p))))
            else:
                plans.append(_Plan("OR(" + ",".join(p.name for p in chosen) + ")",
                                   {"$or": [p.sub for p in chosen]}, min(p.specificity for p in chosen)))
        for plan in plans:
            plan.examined = self.count(plan.sub)
        return plans, preds

    def _hinted(self, hint, preds):
        if hint in ("$natural", {"$natural": 1}, {"$natural": -1}):
            return _Plan(COLLSCAN, {}, (0, 0))
        for index in self.indexes:
            if hint == index.name or _sort_spec(hint) == index.key:
                return self._index_plan(index, preds, hinted=True)
        raise ValueError(f"hint {hint!r} names no declared index of {self.collection}")

    def measure(self, operation, flt, *, limit=0, skip=0, sort=None, hint=None, count=False,
                distinct_key=None):
        worst = None
        if not hint and _point(_conjuncts(flt)[0].get("_id")):
            # An `_id` point finishes any plan race at once (unique): at most one
            # document, and no need to count what the rival plans would read.
            return Call(self.collection, operation, 1, "_id_"), None
        if distinct_key is not None and not flt and any(i.fields[0] == distinct_key for i in self.indexes):
            return Call(self.collection, operation, 0, "DISTINCT_SCAN"), None  # keys only
        if hint:
            preds = _conjuncts(flt)[0]
            plan = self._hinted(hint, preds)
            plan.examined = self.count(plan.sub)
        else:
            plans, preds = self._candidates(flt)
            if not plans:
                plan = _Plan(COLLSCAN, {}, (0, 0))
                plan.examined = self.count({})
            else:
                # Between equal ranges a planner prefers the one that needs no sort.
                plan = min(plans, key=lambda p: (p.examined, bool(sort) and not (
                    p.index and _provided(p.index, preds, sort)), _rank(p)))
                top = max(p.specificity for p in plans)
                rival = max((p for p in plans if p.specificity == top), key=lambda p: p.examined)
                if rival.examined > plan.examined:
                    worst = Call(self.collection, operation, rival.examined, rival.name)
        examined = plan.examined
        if count and plan.index and _conjuncts(flt)[2] and set(preds) <= set(plan.index.fields):
            examined = 0  # the index answers the count on its own
        elif limit:
            examined = self._until(plan, flt, preds, limit + skip, sort)
        return Call(self.collection, operation, examined, plan.name), worst

    def _until(self, plan, flt, preds, wanted, sort):
        """Documents read in scan order until `wanted` of them match (the whole range for a blocking sort)."""
        if plan.name.startswith("OR("):
            return plan.examined
        order = None
        if plan.index is not None:
            order = plan.index.key
            if sort:
                order = _provided(plan.index, preds, sort)
                if order is None:
                    return plan.examined
        elif sort:
            return plan.examined
        scanned = [d["_id"] for d in self.coll.find(plan.sub, {"_id": 1}, sort=order)]
        matching = {d["_id"] for d in self.coll.find({"$and": [flt, plan.sub]} if plan.sub else flt,
                                                     {"_id": 1})}
        found = 0
        for position, _id in enumerate(scanned, 1):
            found += _id in matching
            if found >= wanted:
                return position
        return len(scanned)


def _provided(index, preds, sort):
    """The scan order when `index` yields `sort` without sorting, else None."""
    key = [(f, d) for f, d in index.key if not _point(preds.get(f))]
    wanted = [(f, int(d)) for f, d in sort if not _point(preds.get(f))]
    if not wanted:
        return index.key
    head = key[:len(wanted)]
    if [f for f, _ in head] != [f for f, _ in wanted]:
        return None
    same = all(d == w for (_, d), (_, w) in zip(head, wanted))
    flipped = all(d == -w for (_, d), (_, w) in zip(head, wanted))
    if not (same or flipped):
        return None
    return index.key if same else [(f, -d) for f, d in index.key]
