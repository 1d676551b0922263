"""The embedded in-process engine (mongomock-ng), made fit for demos, tests and small installs.

store.py creates its embedded client here. Two things are added to the engine:

Speed, without changing any result. The engine scans everything: a lookup by
`_id` visits every document, an aggregate copies the whole collection before
its first `$match`, a cursor copies its remaining results on every `next()`
(quadratic), and a collection with a TTL index is scanned for expired
documents on every access. The subclasses below take a shortcut only where
the answer is provably the engine's own and hand every other case to the
engine's code:

* A filter with an `_id` equality (or `$eq` / `$in` of plain values) reads the
  engine's own `_id`-keyed document dict instead of scanning; documents come
  back in the engine's order. Writes already go through that dict, so every
  write path (inserts, updates, upserts, bulk writes, deletes, drops, TTL
  deletions, renames, aborted transactions) keeps it right by construction.
* A filter (or an aggregate's first `$match`) that names its clients
  (`client_id` equal to a plain value, or `$in` of them) and bounds a
  top-level field with naive dates or strings (`$gt` / `$gte` / `$lt` /
  `$lte` / `$eq`, or an equality: `start`, `end`, `updated_at`, a rollup's
  `day`, a `push_key`...) reads an ordered index of that field per client,
  or per client and second key where the filter requires that key to be
  plain values and a declared index leads with `client_id`, that key and
  the field (`client_account_start`): a bisect gives the candidates, which
  come back in the engine's order and still go through the engine's own
  filter. The index is built when a query first needs it, then kept by the
  store's set and delete, where every write of one document lands
  (inserts, updates, upserts, replaces, bulk writes, deletes, TTL
  deletions); it is dropped, to be rebuilt when next needed, wherever the
  document dict is replaced (drop, aborted transaction, load), after an
  update that failed half-way, and after a burst of writes that would cost
  more to sort in than a rebuild. A field holding a value the engine could
  not compare like a sorted list does (an array, an aware date, a
  document...) is left to the engine's scan.
* An aggregate whose first stage is a `$match` copies only the documents
  that stage can keep (the stage itself still runs, on the copies, exactly
  as before).
* Cursors walk their results by position.
* TTL expiry keeps a lower bound of each TTL field's dates and only scans
  when the oldest date may have expired.

Persistence (VIEWSTATS_EMBEDDED_PATH; demo, single writer, not for
production). The folder holds complete snapshots of every database and
collection, laid out like a mongodump folder (`<db>/<collection>.bson` with
one BSON document after another, and `<collection>.metadata.json` in
canonical extended JSON for indexes and options), plus a CURRENT file naming
the snapshot in use. A save writes a new snapshot beside the old one and
switches CURRENT with a rename, so a process killed at any moment leaves the
previous snapshot intact. A lock file (fcntl) admits one process per folder.
"""
import atexit
import collections
import errno
import fcntl
import functools
import itertools
import logging
import operator
import os
import shutil
import threading
from bisect import bisect_left, bisect_right, insort
from collections.abc import Mapping
from datetime import datetime, timedelta
from urllib.parse import quote

import bson
import mongomock_ng
from bson import json_util
from bson.binary import UuidRepresentation
from bson.codec_options import CodecOptions, TypeDecoder, TypeRegistry
from bson.decimal128 import Decimal128
from bson.int64 import Int64
from bson.objectid import ObjectId
from mongomock_ng import aggregate as mm_aggregate
from mongomock_ng import filtering, helpers
from mongomock_ng import store as mm_store
from mongomock_ng.collection import (Collection, Cursor, _cast_document_class, _copy_field,
                                     _profiler_get_operation, _profiler_get_sort, _profiler_set_sort)
from mongomock_ng.database import Database
from mongomock_ng.profiler import get_profiler
from sentinels import NOTHING

logger = logging.getLogger(__name__)


# ------------------------------------------------------------------ filters

# `_id` values a dict lookup finds exactly where the engine's matcher (Python
# `==`) would: hash and equality agree, and the insert path keys the document
# dict by the value itself. Datetimes are left out (the dict key keeps the
# caller's timezone while the document holds naive UTC), as are dicts
# (stored under a wrapper), regexes and anything else.
_POINT_TYPES = frozenset({str, int, bool, float, ObjectId, Int64})
# Operators that only test equality (Python `==`, which does not raise) or
# presence. Ordering operators are left out: the engine's BSON comparison
# raises on some pairs of values (a Decimal128 against an int, say).
_SAFE_OPERATORS = frozenset({"$eq", "$ne", "$in", "$nin", "$exists"})
_LOGICAL = frozenset({"$and", "$or", "$nor"})


def _is_point(value):
    return type(value) in _POINT_TYPES and value == value  # NaN only matches NaN


def _is_plain_operand(value):
    return not isinstance(value, filtering._RE_TYPES)


def _never_raises(key, value):
    """Whether matching this filter clause can fail on no document.

    A point lookup evaluates the filter on its candidates only, while the
    engine evaluates it on every document up to the `_id` clause: the clauses
    before `_id` must therefore be ones that cannot raise, so that an invalid
    filter still fails the same way.
    """
    if key == "$comment":
        return True
    if key in _LOGICAL:
        return (isinstance(value, (list, tuple)) and bool(value)
                and all(isinstance(sub, Mapping) and all(_never_raises(k, v) for k, v in sub.items())
                        for sub in value))
    if not isinstance(key, str) or key.startswith("$"):
        return False
    if not isinstance(value, Mapping):
        return _is_plain_operand(value)
    if not value or not all(isinstance(op, str) and op.startswith("$") for op in value):
        return True  # an embedded document compared with ==
    for op, operand in value.items():
        if op not in _SAFE_OPERATORS:
            return False
        if op in ("$in", "$nin"):
            if not isinstance(operand, (list, tuple)) or not all(_is_plain_operand(x) for x in operand):
                return False
        elif op != "$exists" and not _is_plain_operand(operand):
            return False
    return True


def _plain_projection(projection):
    if not projection:
        return True
    return isinstance(projection, dict) and all(
        isinstance(k, str) and not k.startswith("$") and "$" not in k and type(v) in (int, bool)
        for k, v in projection.items())


def _point_ids(spec):
    """The `_id` values every match of `spec` must have, or None when it is no point query."""
    if not isinstance(spec, dict) or "_id" not in spec:
        return None
    for key, value in spec.items():
        if key == "_id":
            break
        if not _never_raises(key, value):
            return None
    value = spec["_id"]
    if _is_point(value):
        return (value,)
    if isinstance(value, Mapping) and len(value) == 1:
        if "$eq" in value and _is_point(value["$eq"]):
            return (value["$eq"],)
        candidates = value.get("$in", NOTHING)
        if isinstance(candidates, (list, tuple)) and all(_is_point(x) for x in candidates):
            return tuple(candidates)
    return None


def _match_fields(key, value):
    """Top-level fields a `$match` clause reads, or None when it may read more."""
    if key == "$comment":
        return set()
    if key in _LOGICAL:
        if not isinstance(value, (list, tuple)) or not value:
            return None
        fields = set()
        for sub in value:
            if not isinstance(sub, Mapping):
                return None
            for sub_key, sub_value in sub.items():
                more = _match_fields(sub_key, sub_value)
                if more is None:
                    return None
                fields |= more
        return fields
    if not isinstance(key, str) or not key or key.startswith("$"):
        return None
    return {key.split(".", 1)[0]}


def _leading_match(pipeline):
    """(clauses, fields) of the first `$match` that can be tried before copying, or None.

    The clauses are the leading ones whose fields are known ($expr, $where and
    the like end them). The engine evaluates clauses in order and stops at the
    first that fails, so a document they reject is one the stage rejects.
    """
    if not isinstance(pipeline, (list, tuple)) or not pipeline:
        return None
    stage = pipeline[0]
    if not isinstance(stage, dict) or len(stage) != 1 or not isinstance(stage.get("$match"), dict):
        return None
    clauses, fields = {}, set()
    for key, value in stage["$match"].items():
        more = _match_fields(key, value)
        if more is None:
            break
        clauses[key] = value
        fields |= more
    if not fields:
        return None
    return clauses, fields


# ------------------------------------------------------------------ copies

# Values the engine's copy functions return unchanged (or as an equal copy).
_ATOMS = frozenset({str, int, bool, float, type(None), bytes, ObjectId, Int64, Decimal128})


def _copy_out(value, aware):
    """The engine's copy of a stored value (`_copy_field`), made tz-aware as its cursor does.

    Same result as `make_datetime_timezone_aware_in_document(_copy_field(value, dict))`
    (or the copy alone), in one pass and without `copy.copy` on every leaf;
    any type other than the plain ones goes through the engine's functions.
    """
    kind = type(value)
    if kind is dict:
        out = {}
        for key, item in value.items():
            kind = type(item)
            if kind in _ATOMS:
                out[key] = item
            elif kind is datetime:
                out[key] = item.replace(tzinfo=helpers.utc) if aware else item
            else:
                out[key] = _copy_out(item, aware)
        return out
    if kind in _ATOMS:
        return value
    if kind is list:
        return [_copy_out(item, aware) for item in value]
    if kind is datetime:
        return value.replace(tzinfo=helpers.utc) if aware else value
    value = _copy_field(value, dict)
    return helpers.make_datetime_timezone_aware_in_document(value) if aware else value


def _aware(value):
    """`make_datetime_timezone_aware_in_document`, faster on plain types."""
    kind = type(value)
    if kind is dict:
        out = {}
        for key, item in value.items():
            kind = type(item)
            if kind in _ATOMS:
                out[key] = item
            elif kind is datetime:
                out[key] = item.replace(tzinfo=helpers.utc)
            else:
                out[key] = _aware(item)
        return out
    if kind in _ATOMS:
        return value
    if kind is list:
        return [_aware(item) for item in value]
    if kind is datetime:
        return value.replace(tzinfo=helpers.utc)
    return helpers.make_datetime_timezone_aware_in_document(value)


def _match_view(value, aware):
    """What the `$match` stage compares for a stored value.

    The stage sees the engine's copy (made aware on a tz-aware client) after
    `patch_datetime_awareness_in_document`; this is the same, in one pass.
    """
    kind = type(value)
    if kind is dict:
        return {key: _match_view(item, aware) for key, item in value.items()}
    if kind in _ATOMS:
        return value
    if kind is list:
        return [_match_view(item, aware) for item in value]
    if kind is datetime and aware:
        # Made aware by replacing its timezone with UTC, then made naive again.
        return value.replace(tzinfo=None, microsecond=value.microsecond // 1000 * 1000)
    return helpers.patch_datetime_awareness_in_document(_copy_out(value, aware))


# --------------------------------------------------------------------- TTL

_UNKNOWN = object()
# Values the engine's expiry check can never treat as expired (it subtracts
# them from now and a TypeError means "keep").
_INERT = (str, bytes, bool, int, float, list, tuple, dict, ObjectId, Decimal128, type(None))


def _ttl_rule(index):
    """(field, seconds) of a TTL index the engine applies, or None when it skips or rejects it."""
    try:
        expiry = int(index["expireAfterSeconds"])
    except (ValueError, TypeError):
        return None
    if len(index["key"]) > 1:
        return None
    return next(iter(index["key"]))[0], expiry


def _ttl_point(doc, field):
    """(known, naive UTC date or None) the engine's expiry check compares for `doc`."""
    try:
        value = mm_store._get_min_datetime_from_value(helpers.get_value_by_dot(doc, field))
        if isinstance(value, datetime):
            if value.tzinfo is not None:
                offset = value.utcoffset()
                if offset is None:
                    return False, None
                value = (value - offset).replace(tzinfo=None)
            return True, value
    except Exception:
        return False, None
    if value is NOTHING or isinstance(value, _INERT):
        return True, None
    return False, None


def _none_expired(floor, expiry, now):
    if floor is _UNKNOWN or not isinstance(now, datetime):
        return False
    if floor is None:
        return True
    if now.tzinfo is not None:
        if now.utcoffset():
            return False
        now = now.replace(tzinfo=None)
    return (now - floor).total_seconds() < expiry


# ---------------------------------------------------------- ordered indexes

# The field every ordered index is partitioned by: each query of the app
# names one client (store.py), so a client's sorted values are what it reads.
_PARTITION = "client_id"
_LOWER = frozenset({"$gt", "$gte"})
_UPPER = frozenset({"$lt", "$lte"})
# Stored values that no equality or range clause bounded by a datetime or a
# string can match, and that the engine compares with such a bound without
# raising: `==` is False across these types, and its range operators return
# False on two values of different BSON types (type bracketing) before
# comparing them. bytes is left out (`==` with a str warns under -b).
_UNORDERED = frozenset({type(None), bool, int, float, Int64, ObjectId, Decimal128})
_IRREGULAR = object()      # a value the engine may match or raise on unlike a sorted list
_UNPARTITIONED = object()  # a client (or second key) other than a plain value
# An insertion or removal in the middle of a sorted list moves half of it; a
# rebuild costs a few thousand such moves. An index that takes more writes
# than this between two reads (a bulk load, a big delete) is dropped and
# rebuilt when next read.
_WRITE_BURST = 2048
_RANK = operator.itemgetter(1)
_VALUE = operator.itemgetter(0)
_MS = timedelta(milliseconds=1)


def _ordered_type(value):
    """datetime or str when an ordered index can sort `value` as the engine compares it, else None.

    The engine compares two naive datetimes, or two strings, with Python's
    own operators, as a sorted list does. Aware datetimes raise against naive
    ones, so they are not ordered.
    """
    kind = type(value)
    if kind is str or (kind is datetime and value.tzinfo is None):
        return kind
    return None


def _partition_points(value):
    """The values a clause requires (equality, `$eq` or `$in` of plain values), or None."""
    if _is_point(value):
        return (value,)
    if isinstance(value, Mapping) and len(value) == 1:
        if "$eq" in value and _is_point(value["$eq"]):
            return (value["$eq"],)
        candidates = value.get("$in", NOTHING)
        if isinstance(candidates, (list, tuple)) and all(_is_point(x) for x in candidates):
            return tuple(candidates)
    return None


def _ordered_term(value):
    """(type, low, high) of a clause that bounds its field with naive datetimes or strings, or None.

    The clause is an equality with such a value, or `$eq` / `$gt` / `$gte` /
    `$lt` / `$lte` operators all of one such type. Bounds are inclusive (a
    strict bound only narrows what the engine's own check of the candidates
    keeps); None is unbounded.
    """
    kind = _ordered_type(value)
    if kind is not None:
        return kind, value, value
    if not isinstance(value, Mapping) or not value:
        return None
    kind = low = high = None
    for op, operand in value.items():
        if op not in _LOWER and op not in _UPPER and op != "$eq":
            return None
        operand_kind = _ordered_type(operand)
        if operand_kind is None or (kind is not None and operand_kind is not kind):
            return None
        kind = operand_kind
        if op not in _UPPER:
            low = operand if low is None else max(low, operand)
        if op not in _LOWER:
            high = operand if high is None else min(high, operand)
    return kind, low, high


def _range_plan(spec):
    """What the ordered indexes need of a filter: (points, terms, end), or None.

    points maps each top-level field the filter requires to be one of some
    plain values (the client among them) to (position, values); terms are
    (position, field, type, low, high) of the clauses _ordered_term accepts.
    The engine evaluates clauses in order and stops at the first that
    fails, so a document outside the candidates may have been tested
    against every clause before those that exclude it: `end` is the
    position of the first clause that could raise on some document. A term
    clause on a field with no _IRREGULAR value cannot; the store checks that.
    """
    if not isinstance(spec, dict):
        return None
    points, terms = {}, []
    end = len(spec)
    for pos, (key, value) in enumerate(spec.items()):
        plain_field = isinstance(key, str) and key and not key.startswith("$") and "." not in key
        values = _partition_points(value) if plain_field else None
        if values is not None:
            points[key] = (pos, values)
        elif key == _PARTITION:
            return None
        term = _ordered_term(value) if plain_field and key != _PARTITION else None
        if term is not None:
            terms.append((pos, key, *term))
        elif values is None and not _never_raises(key, value):
            end = pos
            break
    if _PARTITION not in points or not terms:
        return None
    return points, terms, end


class _OrderedIndex:
    """One field's values in a collection store, sorted per client (and second key) and type.

    `by` is None, or a second field every query this index answers requires
    to be one of some plain values (a declared index's second key). Entries
    are (value, rank, key, run): `rank` is the key's insertion rank in the
    engine's ordered document dict, so entries are unique (their comparison
    never reaches key or run) and candidates sort back into the engine's
    order; `run` is the sorted list holding the entry. The values are the
    stored document's when it was last stored: the engine updates a document
    in place and stores it again when done (a failed update is handled in
    _Collection._update_documents).
    """

    __slots__ = ("field", "by", "runs", "entries", "irregular", "unpartitioned", "writes")

    def __init__(self, field, by, documents, ranks):
        self.field = field
        self.by = by
        self.runs = {}         # (client, [second key,] type) -> sorted entries
        self.entries = {}      # document key -> its entry
        self.irregular = set()      # keys of documents holding an _IRREGULAR value of the field
        self.unpartitioned = set()  # keys of documents this index cannot file
        self.writes = 0
        for key, doc in documents.items():
            place = self._place(doc)
            if place is _IRREGULAR:
                self.irregular.add(key)
            elif place is _UNPARTITIONED:
                self.unpartitioned.add(key)
            elif place is not None:
                run = self.runs.setdefault(place[0], [])
                entry = (place[1], ranks[key], key, run)
                run.append(entry)
                self.entries[key] = entry
        for run in self.runs.values():
            run.sort()

    def _place(self, doc):
        """(run, value) of a stored document, None when no query of the index can match it, or a marker."""
        value = doc.get(self.field, NOTHING)
        kind = _ordered_type(value)
        if kind is None:
            if value is NOTHING or type(value) in _UNORDERED:
                return None
            return _IRREGULAR  # an array, an aware date, a document...
        client = doc.get(_PARTITION, NOTHING)
        if self.by is None:
            run = (client, kind)
        else:
            second = doc.get(self.by, NOTHING)
            run = (client, second, kind)
        for part in run[:-1]:
            if part is NOTHING or part is None:
                return None  # equal to no plain value
            if not _is_point(part):
                return _UNPARTITIONED
        return run, value

    def remove(self, key):
        """Forget a key's entry; False when the index no longer holds what it thinks it holds."""
        self.irregular.discard(key)
        self.unpartitioned.discard(key)
        entry = self.entries.pop(key, None)
        if entry is None:
            return True
        run = entry[3]
        i = bisect_left(run, entry[:2])
        if i == len(run) or run[i] is not entry:
            return False
        del run[i]
        return True

    def put(self, key, rank, doc):
        place = self._place(doc)
        entry = self.entries.get(key)
        if (entry is not None and type(place) is tuple and self.runs.get(place[0]) is entry[3]
                and entry[0] == place[1] and entry[1] == rank):
            return True  # another field changed
        if not self.remove(key):
            return False
        if place is _IRREGULAR:
            self.irregular.add(key)
        elif place is _UNPARTITIONED:
            self.unpartitioned.add(key)
        elif place is not None:
            run = self.runs.setdefault(place[0], [])
            entry = (place[1], rank, key, run)
            insort(run, entry)
            self.entries[key] = entry
        return True

    def count(self, prefixes, kind, low, high):
        """(number of candidates, [(run, start, stop)]) of the entries within [low, high]."""
        runs = {}
        for prefix in prefixes:
            run = self.runs.get((*prefix, kind))
            if run is not None:
                runs[id(run)] = run  # `$in` may name one value twice (7 and 7.0)
        slices, total = [], 0
        for run in runs.values():
            start = 0 if low is None else bisect_left(run, low, key=_VALUE)
            stop = len(run) if high is None else bisect_right(run, high, key=_VALUE)
            if stop > start:
                slices.append((run, start, stop))
                total += stop - start
        return total, slices


# ------------------------------------------------------------------ stores

class _CollectionStore(mm_store.CollectionStore):
    def __init__(self, name):
        super().__init__(name)
        # Insertion rank of each key, so that several `_id` lookups come back
        # in the order a scan of the ordered document dict gives.
        self._rank = {}
        self._ranks = itertools.count()
        # TTL index name -> (index dict, field, lower bound of its dates)
        self._ttl_floor = {}
        # (field, second key or None) -> _OrderedIndex, built when a query
        # first needs it; valid for the document dict it was built on.
        self._ordered = {}
        self._ordered_of = None
        # Bumped on every change, so an unchanged store is not saved again.
        self.version = 0

    def _changed(self):
        self.version += 1

    def _rerank(self):
        self._ranks = itertools.count()
        self._rank = {key: next(self._ranks) for key in self._documents}
        self.forget_ordered()  # their entries hold the old ranks

    def forget_ordered(self):
        self._ordered = {}

    def forget_ttl_bounds(self):
        self._ttl_floor.clear()
        self._changed()

    def __setitem__(self, key, val):
        with self._rwlock.writer():
            if key not in self._documents:
                self._rank[key] = next(self._ranks)
            self._documents[key] = val
            if self._ordered:
                rank = self._rank[key]
                self._reindex(lambda index: index.put(key, rank, val))
        self._changed()
        for name, (index, field, floor) in list(self._ttl_floor.items()):
            if floor is _UNKNOWN:
                continue
            known, value = _ttl_point(val, field)
            if not known:
                self._ttl_floor[name] = (index, field, _UNKNOWN)
            elif value is not None and (floor is None or value < floor):
                self._ttl_floor[name] = (index, field, value)

    def __delitem__(self, key):
        with self._rwlock.writer():
            del self._documents[key]
            self._rank.pop(key, None)
            if self._ordered:
                self._reindex(lambda index: index.remove(key))
        self._changed()

    def _reindex(self, change):
        for name, index in list(self._ordered.items()):
            index.writes += 1
            if index.writes > _WRITE_BURST or not change(index):
                del self._ordered[name]

    def ordered_lookup(self, points, terms, end):
        """The stored documents the ordered indexes find for a _range_plan, in the engine's order.

        A superset of the documents the filter matches; None when no index
        can answer (the caller scans). The caller applies the filter to them
        and has already let TTL expiry run. Each term is looked up by client,
        and by client and a second field where a declared index leads with
        the client, that field and the term's; the fewest candidates win.
        """
        client_pos, clients = points[_PARTITION]
        seconds = {}
        for config in self.indexes.values():
            key = [part[0] for part in config.get("key", ())]
            if len(key) >= 3 and key[0] == _PARTITION and key[1] in points and key[1] != _PARTITION:
                seconds.setdefault(key[2], set()).add(key[1])
        with self._rwlock.reader():
            if self._ordered_of is not self._documents:
                self._ordered, self._ordered_of = {}, self._documents
            options = []
            for pos, field, kind, low, high in terms:
                for by in (None, *sorted(seconds.get(field, ()))):
                    index = self._ordered.get((field, by))
                    if index is None:
                        index = self._ordered[field, by] = _OrderedIndex(field, by, self._documents, self._rank)
                    index.writes = 0
                    if index.irregular:
                        end = min(end, pos)
                    elif not index.unpartitioned:
                        options.append((pos, index, kind, low, high))
            best = None
            for pos, index, kind, low, high in options:
                if index.by is None:
                    last, prefixes = max(pos, client_pos), [(client,) for client in clients]
                else:
                    by_pos, values = points[index.by]
                    last = max(pos, client_pos, by_pos)
                    prefixes = [(client, value) for client in clients for value in values]
                if last >= end:
                    continue
                if kind is datetime and high is not None:
                    # `$match` compares stored dates cut to the millisecond.
                    high = high + _MS if high <= datetime.max - _MS else None
                found = index.count(prefixes, kind, low, high)
                if best is None or found[0] <= best[0]:  # a tie goes to the later, narrower index
                    best = found
            if best is None:
                return None
            entries = [entry for run, start, stop in best[1] for entry in run[start:stop]]
            entries.sort(key=_RANK)
            documents = self._documents
            return [documents[entry[2]] for entry in entries]

    def lookup(self, ids):
        """The stored documents whose `_id` equals one of `ids`, in the engine's order."""
        with self._rwlock.reader():
            if len(ids) == 1:
                doc = self._documents.get(ids[0])
                return [] if doc is None else [doc]
            found = {}
            for value in ids:
                doc = self._documents.get(value)
                if doc is not None:
                    found[id(doc)] = (self._rank[value], doc)
        return [doc for _, doc in sorted(found.values(), key=lambda pair: pair[0])]

    def create(self, **options):
        super().create(**options)
        self._changed()

    def drop(self):
        super().drop()
        self._rank = {}
        self._ttl_floor = {}
        self.forget_ordered()
        self._changed()

    def create_index(self, index_name, index_dict):
        super().create_index(index_name, index_dict)
        self._ttl_floor.pop(index_name, None)
        self._changed()

    def drop_index(self, index_name):
        try:
            super().drop_index(index_name)
        finally:
            self._ttl_floor.pop(index_name, None)
            self._changed()

    def abort_transaction(self):
        super().abort_transaction()
        self._rerank()
        self.forget_ttl_bounds()

    def _remove_expired_documents(self):
        if not self._ttl_indexes:
            return
        now = mongomock_ng.utcnow()
        for name, index in list(self._ttl_indexes.items()):
            rule = _ttl_rule(index)
            if rule is None:
                self._expire_documents(index)  # returns at once, or raises as it always did
                continue
            entry = self._ttl_floor.get(name)
            if entry is not None and entry[0] is index and _none_expired(entry[2], rule[1], now):
                continue
            self._expire_documents(index)
            self._ttl_floor[name] = (index, rule[0], self._ttl_scan(rule[0]))

    def _ttl_scan(self, field):
        floor = None
        with self._rwlock.reader():
            for doc in self._documents.values():
                known, value = _ttl_point(doc, field)
                if not known:
                    return _UNKNOWN
                if value is not None and (floor is None or value < floor):
                    floor = value
        return floor

    def restore(self, docs, indexes, options, force_created):
        """Replace the contents with saved ones (documents in their saved order)."""
        documents = collections.OrderedDict()
        for doc in docs:
            key = doc["_id"]
            if isinstance(key, dict):
                key = helpers.hashdict(key)
            documents[key] = doc
        with self._rwlock.writer():
            self._documents = documents
        self._rerank()
        self.indexes, self._ttl_indexes, self._ttl_floor = {}, {}, {}
        for name, config in indexes:
            self.create_index(name, config)
        self.options = options
        self._is_force_created = force_created
        self._changed()


class _DatabaseStore(mm_store.DatabaseStore):
    def __getitem__(self, col_name):
        try:
            return self._collections[col_name]
        except KeyError:
            col = self._collections[col_name] = _CollectionStore(col_name)
            return col

    def rename(self, name, new_name):
        col = self._collections.pop(name) if name in self._collections else _CollectionStore(new_name)
        col.name = new_name
        col._changed()
        self._collections[new_name] = col


class _ServerStore(mm_store.ServerStore):
    def __getitem__(self, db_name):
        try:
            return self._databases[db_name]
        except KeyError:
            db = self._databases[db_name] = _DatabaseStore()
            return db


# ------------------------------------------------------- client, db, coll

def _adopt(obj, base, cls):
    # The engine builds its objects by class name in many places; giving the
    # object our subclass afterwards keeps every other piece of it as is.
    if type(obj) is base:
        obj.__class__ = cls
    return obj


class _AwareCopies(dict):
    """Marks a `_get_dataset` call whose copies are to be made tz-aware as they are made."""


def _plain_factory(factory):
    """Whether a cursor's factory is the engine's `_get_dataset` of one of our collections, as built."""
    if not isinstance(factory, functools.partial) or factory.keywords or len(factory.args) != 4:
        return False
    func = factory.func
    return (getattr(func, "__func__", None) is Collection._get_dataset
            and isinstance(getattr(func, "__self__", None), _Collection) and factory.args[3] is dict)


class _Cursor(Cursor):
    def __next__(self):
        skip, limit = self._skip, self._limit
        if type(skip) is not int or skip < 0 or (limit is not None and type(limit) is not int):
            return super().__next__()
        # The engine slices its cached results on every call (copying the rest).
        results = self._compute_results(with_limit_and_skip=False)
        if limit and self._emitted >= abs(limit):
            raise StopIteration
        position = skip + self._emitted
        if position >= len(results):
            raise StopIteration
        self._emitted += 1
        return _cast_document_class(results[position], self.collection.codec_options.document_class)

    next = __next__

    def _compute_results(self, with_limit_and_skip=False):
        if not self._results or self._factory_last_generated_results != self._factory:
            factory = self._factory
            if not self.collection.codec_options.tz_aware:
                results = list(factory())
            elif _plain_factory(factory):
                # Copied and made aware in one pass (see _Collection._copy_only_fields).
                results = list(factory.func(*factory.args[:3], _AwareCopies))
            else:
                results = [_aware(doc) for doc in factory()]
            self._factory_last_generated_results = self._factory
            self._results = results
        results = self._results
        if with_limit_and_skip:
            results = results[self._skip:]
            if self._limit:
                results = results[:abs(self._limit)]
        return results

    def clone(self):
        return _adopt(super().clone(), Cursor, _Cursor)

    def first(self):
        """What next() would return first, without copying the matches after it."""
        if self._skip or self._emitted or self._results:
            return next(self)
        factory, aware = self._factory, self.collection.codec_options.tz_aware
        if aware and _plain_factory(factory):
            source, aware = factory.func(*factory.args[:3], _AwareCopies), False
        else:
            source = factory()
        for doc in source:
            if aware:
                doc = _aware(doc)
            self._emitted += 1
            return _cast_document_class(doc, self.collection.codec_options.document_class)
        raise StopIteration


class _Collection(Collection):
    def with_options(self, *args, **kwargs):
        return _adopt(super().with_options(*args, **kwargs), Collection, _Collection)

    def _iter_documents(self, filter):
        store = self._store
        if not isinstance(store, _CollectionStore):
            return super()._iter_documents(filter)
        ids = _point_ids(filter)
        docs = None
        if ids is None:
            plan = _range_plan(filter)
            # is_empty lets TTL expiry run before the index is read.
            if plan is None or store.is_empty:
                return super()._iter_documents(filter)
            docs = store.ordered_lookup(*plan)
            if docs is None:
                return super()._iter_documents(filter)
        get_profiler().record(
            filter,
            self.full_name,
            _profiler_get_operation(),
            dict(self._list_all_indexes()) if store.is_created else {},
            sort=_profiler_get_sort(),
        )
        if docs is None:
            if store.is_empty:
                filtering.filter_applies(filter, {})
                return iter(())
            docs = store.lookup(ids)
        return (doc for doc in docs if filtering.filter_applies(filter, doc))

    def find(self, *args, **kwargs):
        return _adopt(super().find(*args, **kwargs), Cursor, _Cursor)

    def _copy_only_fields(self, doc, fields, container, filter=None):
        if container is _AwareCopies:
            if not fields:
                return _copy_out(doc, True)
            copy = super()._copy_only_fields(doc, fields, dict, filter=filter)
            return None if copy is None else _aware(copy)
        if not fields and container is dict:
            return _copy_out(doc, False)
        return super()._copy_only_fields(doc, fields, container, filter=filter)

    def find_one(self, filter=None, *args, **kwargs):
        if filter is None:
            filter = {}
        if not isinstance(filter, Mapping):
            filter = {"_id": filter}
        cursor = self.find(filter, *args, **kwargs)
        # Stopping at the first match skips the filter and the projection on
        # the documents after it: only where neither can raise on any.
        early = (isinstance(cursor, _Cursor) and isinstance(cursor._spec, Mapping)
                 and all(_never_raises(k, v) for k, v in cursor._spec.items())
                 and _plain_projection(cursor._projection))
        try:
            doc = cursor.first() if early else next(cursor)
        except StopIteration:
            return None
        return _cast_document_class(doc, self.codec_options.document_class)

    def _update_documents(self, *args, **kwargs):
        try:
            return super()._update_documents(*args, **kwargs)
        except BaseException:
            # An update that fails half-way leaves the stored document partly
            # changed without storing it again: TTL bounds and ordered
            # indexes may be stale.
            store = self._store
            if isinstance(store, _CollectionStore):
                store.forget_ttl_bounds()
                store.forget_ordered()
            raise

    def aggregate(self, pipeline, session=None, **unused_kwargs):
        store = self._store
        plan = _leading_match(pipeline)
        if plan is None or not isinstance(store, _CollectionStore) \
                or self.codec_options.document_class is not dict:
            return super().aggregate(pipeline, session=session, **unused_kwargs)
        for param in unused_kwargs:
            helpers.warn_noop(param, "aggregate")
        clauses, fields = plan
        spec = helpers.patch_datetime_awareness_in_document(clauses)
        ids = _point_ids(clauses)
        # What the engine's `self.find()` records before copying everything.
        _profiler_set_sort(None)
        get_profiler().record({}, self.full_name, _profiler_get_operation(),
                              dict(self._list_all_indexes()) if store.is_created else {}, sort=None)
        docs = None
        if ids is not None:
            docs = [] if store.is_empty else store.lookup(ids)
        else:
            # The patched clauses: the dates the stage compares are naive.
            plan = _range_plan(spec)
            if plan is not None and not store.is_empty:
                docs = store.ordered_lookup(*plan)
        if docs is None:
            docs = list(store.documents)
        tz_aware = self.codec_options.tz_aware
        selected = []
        for doc in docs:
            view = _match_view({key: doc[key] for key in fields if key in doc}, tz_aware)
            if filtering.filter_applies(spec, view):
                selected.append(_copy_out(doc, tz_aware))
        return mm_aggregate.process_pipeline(selected, self.database, pipeline, session)


class _Database(Database):
    def get_collection(self, *args, **kwargs):
        return _adopt(super().get_collection(*args, **kwargs), Collection, _Collection)

    def with_options(self, *args, **kwargs):
        return _adopt(super().with_options(*args, **kwargs), Database, _Database)


class EmbeddedClient(mongomock_ng.MongoClient):
    """A mongomock-ng client with the shortcuts above; results are the engine's own."""

    def __init__(self, *args, **kwargs):
        if kwargs.get("_store") is None:
            kwargs["_store"] = _ServerStore()
        super().__init__(*args, **kwargs)

    def get_database(self, *args, **kwargs):
        return _adopt(super().get_database(*args, **kwargs), Database, _Database)


# ------------------------------------------------------------- persistence

class EmbeddedStoreError(RuntimeError):
    """The folder of VIEWSTATS_EMBEDDED_PATH cannot be used."""


class EmbeddedStoreLocked(EmbeddedStoreError):
    """Another process has the folder of VIEWSTATS_EMBEDDED_PATH."""


class _PlainInt(TypeDecoder):
    # BSON int64 comes back as bson.Int64; the engine holds plain ints.
    bson_type = Int64

    def transform_bson(self, value):
        return int(value)


# Dates are held naive (UTC) inside the engine, as BSON stores them; the
# client adds the UTC timezone on the way out.
_CODEC = CodecOptions(document_class=dict, tz_aware=False, uuid_representation=UuidRepresentation.STANDARD,
                      type_registry=TypeRegistry([_PlainInt()]))
_JSON_OUT = json_util.JSONOptions(json_mode=json_util.JSONMode.CANONICAL,
                                  uuid_representation=UuidRepresentation.STANDARD)
_JSON_IN = json_util.JSONOptions(document_class=dict, tz_aware=False,
                                 uuid_representation=UuidRepresentation.STANDARD)
_CURRENT = "CURRENT"
_LOCK = "LOCK"
_SNAPSHOT = "snapshot-"
_TEMP = ".tmp-"
_INDEX_FLAGS = ("unique", "sparse", "expireAfterSeconds", "partialFilterExpression")


class _Attachment:
    def __init__(self, client, root, guard):
        self.client = client
        self.root = root
        self.guard = guard or threading.RLock()
        self.pid = os.getpid()
        self.saved = None


_attached = {}   # folder -> _Attachment of the client this process keeps there
_locks = {}      # folder -> (pid, fd) of the lock this process holds
_registry_lock = threading.Lock()
_exit_hook = []


def new_client(path="", guard=None):
    """The embedded client; with `path`, loaded from that folder and saved back to it.

    `guard` is the lock every call on the client holds (store.py's); saving
    takes it so that no write lands in the middle of a snapshot.
    """
    client = EmbeddedClient(tz_aware=True)
    if path:
        attach(client, path, guard)
    return client


def attach(client, path, guard=None):
    """Load `client` from the folder `path` and save it there at exit (and on save())."""
    root = os.path.abspath(path)
    with _registry_lock:
        os.makedirs(root, exist_ok=True)
        _acquire(root)
        ignore = os.path.join(root, ".gitignore")
        if not os.path.exists(ignore):
            with open(ignore, "w") as f:
                f.write("# Data of the embedded MongoDB engine (VIEWSTATS_EMBEDDED_PATH).\n*\n")
        _load(client, root)
        attachment = _Attachment(client, root, guard)
        attachment.saved = _signature(client)
        # A client created after store.reset() replaces the previous one.
        _attached[root] = attachment
        if not _exit_hook:
            atexit.register(_save_at_exit)
            _exit_hook.append(True)
    return client


def release(path):
    """Stop saving to `path` and let other processes have it (tests; tools)."""
    root = os.path.abspath(path)
    with _registry_lock:
        _attached.pop(root, None)
        held = _locks.pop(root, None)
        if held and held[0] == os.getpid():
            os.close(held[1])


def save(path=None, force=True):
    """Write the data of this process's persisted embedded clients to their folders.

    Returns the folders written. With `force=False` a client unchanged since
    it was loaded or last saved is skipped.
    """
    written = []
    root = os.path.abspath(path) if path else None
    for attachment in list(_attached.values()):
        if root and attachment.root != root:
            continue
        if attachment.pid != os.getpid() or attachment.client._closed:
            continue
        with attachment.guard:
            signature = _signature(attachment.client)
            if not force and signature == attachment.saved:
                continue
            if not _still_ours(attachment.root):
                raise EmbeddedStoreError(
                    f"{attachment.root} was removed or replaced since this process loaded it "
                    f"(a new demo run?): not saving over it")
            _write_snapshot(attachment.client, attachment.root)
            attachment.saved = signature
        written.append(attachment.root)
    return written


def saved_state(path):
    """Name of the snapshot a folder holds, or None."""
    return _read_current(os.path.abspath(path)) if path else None


def _save_at_exit():
    # A forked child inherits this hook and the parent's data: only the
    # process that loaded the folder writes it.
    try:
        save(force=False)
    except Exception:
        logger.exception("Could not save the embedded engine's data")


def _acquire(root):
    held = _locks.get(root)
    if held and held[0] == os.getpid():
        return
    fd = os.open(os.path.join(root, _LOCK), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise
        raise EmbeddedStoreLocked(
            f"The embedded MongoDB data in {root} is in use by another process (pid {holder}). "
            f"VIEWSTATS_EMBEDDED_PATH admits one process at a time: stop that process, or give "
            f"this one another folder (or none)."
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _locks[root] = (os.getpid(), fd)


def _still_ours(root):
    held = _locks.get(root)
    if not held:
        return False
    try:
        on_disk = os.stat(os.path.join(root, _LOCK))
    except FileNotFoundError:
        return False
    mine = os.fstat(held[1])
    return (on_disk.st_dev, on_disk.st_ino) == (mine.st_dev, mine.st_ino)


def _signature(client):
    return tuple(
        (db_name, name, id(coll), getattr(coll, "version", None), repr(coll.indexes), repr(coll.options),
         coll._is_force_created)
        for db_name, db in client._store._databases.items()
        for name, coll in db._collections.items()
    )


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(path, data):
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _read_current(root):
    try:
        with open(os.path.join(root, _CURRENT)) as f:
            name = f.read().strip()
    except FileNotFoundError:
        return None
    return name or None


def _generation(name):
    try:
        return int(name[len(_SNAPSHOT):])
    except ValueError:
        return 0


def _index_document(name, config):
    doc = {"v": 2, "key": dict(config["key"]), "name": name}
    doc.update((flag, config[flag]) for flag in _INDEX_FLAGS if flag in config)
    return doc


def _index_config(doc):
    # Exactly what the engine's create_index builds, so that declaring the
    # same indexes again after a load finds them equal.
    config = {"key": [tuple(item) for item in doc["key"].items()]}
    config.update((flag, doc[flag]) for flag in _INDEX_FLAGS if flag in doc)
    return _plain(config)


def _plain(value):
    if isinstance(value, Int64):
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return value


def _write_snapshot(client, root):
    names = os.listdir(root)
    generation = 1 + max([_generation(n) for n in names if n.startswith(_SNAPSHOT)], default=0)
    name = f"{_SNAPSHOT}{generation:06d}"
    temp = os.path.join(root, f"{_TEMP}{name}-{os.getpid()}")
    shutil.rmtree(temp, ignore_errors=True)
    os.makedirs(temp)
    for db_name, db in list(client._store._databases.items()):
        for coll_name, coll in list(db._collections.items()):
            if not coll.is_created:
                continue
            folder = os.path.join(temp, quote(db_name, safe=""))
            os.makedirs(folder, exist_ok=True)
            base = os.path.join(folder, quote(coll_name, safe=""))
            with coll._rwlock.reader():
                docs = list(coll._documents.values())
            with open(base + ".bson", "wb") as f:
                for start in range(0, len(docs), 2000):
                    f.write(b"".join(bson.encode(doc, codec_options=_CODEC) for doc in docs[start:start + 2000]))
                f.flush()
                os.fsync(f.fileno())
            meta = {
                "db": db_name,
                "collectionName": coll_name,
                "options": coll.options,
                "forceCreated": bool(coll._is_force_created),
                "count": len(docs),
                "indexes": [{"v": 2, "key": {"_id": 1}, "name": "_id_"}]
                + [_index_document(index_name, config) for index_name, config in coll.indexes.items()],
            }
            _write_file(base + ".metadata.json", json_util.dumps(meta, json_options=_JSON_OUT, indent=1).encode())
    _fsync_dir(temp)
    final = os.path.join(root, name)
    shutil.rmtree(final, ignore_errors=True)
    os.rename(temp, final)
    _fsync_dir(root)
    pointer = os.path.join(root, f"{_TEMP}{_CURRENT}-{os.getpid()}")
    _write_file(pointer, (name + "\n").encode())
    os.replace(pointer, os.path.join(root, _CURRENT))
    _fsync_dir(root)
    for other in names:
        if (other.startswith(_SNAPSHOT) and other != name) or other.startswith(_TEMP):
            path = os.path.join(root, other)
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.remove(path)
                except FileNotFoundError:
                    pass


def _load(client, root):
    name = _read_current(root)
    if name is None:
        return
    snapshot = os.path.join(root, name)
    if not os.path.isdir(snapshot):
        raise EmbeddedStoreError(f"{root}: {_CURRENT} names {name}, which is missing")
    for folder in sorted(os.listdir(snapshot)):
        path = os.path.join(snapshot, folder)
        for entry in sorted(os.listdir(path)):
            if not entry.endswith(".metadata.json"):
                continue
            base = os.path.join(path, entry[:-len(".metadata.json")])
            with open(base + ".metadata.json", "rb") as f:
                meta = json_util.loads(f.read(), json_options=_JSON_IN)
            with open(base + ".bson", "rb") as f:
                docs = bson.decode_all(f.read(), _CODEC)
            if len(docs) != meta.get("count", len(docs)):
                raise EmbeddedStoreError(f"{base}.bson holds {len(docs)} documents, "
                                         f"its metadata says {meta['count']}")
            indexes = [(doc["name"], _index_config(doc)) for doc in meta.get("indexes", [])
                       if doc["name"] != "_id_"]
            client._store[meta["db"]][meta["collectionName"]].restore(
                docs, indexes, _plain(meta.get("options") or {}), bool(meta.get("forceCreated")))
