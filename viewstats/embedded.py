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
  `day`, a `push_key`...) or with numbers (ranges only: `duration`) reads
  an ordered index of that field per client, or per client and second key
  where the filter requires that key to be plain values and a declared
  index leads with `client_id`, that key and the field
  (`client_account_start`): a bisect gives the candidates of each bounded
  field, the fewest are kept less those outside another's range, and they
  come back in the engine's order and still go through the engine's
  filter. The index is built when a query first needs it, then kept by the
  store's set and delete, where every write of one document lands
  (inserts, updates, upserts, replaces, bulk writes, deletes, TTL
  deletions); it is dropped, to be rebuilt when next needed, wherever the
  document dict is replaced (drop, aborted transaction, load), after an
  update that failed half-way, and after a burst of writes that would cost
  more to sort in than a rebuild. A field holding a value the engine could
  not compare like a sorted list does (an array, an aware date, a
  document...) is left to the engine's scan. A clause that could raise on
  some document ends what the indexes may skip, unless the collection
  shows it cannot (a range on a field without such values, or on `_id`
  where every `_id` is a string, an int or an ObjectId: the sessions list's
  next-page clause).
* A find sorted by such a bounded field (then perhaps `_id`) with a limit
  walks that field's index in order and stops at the limit: each run of
  equal values is taken in the engine's order, filtered, and sorted by
  `_id` as the engine's stable sorts would, where no clause of the filter
  can raise on any document, every `_id` sorts without raising and the
  projection is plain. The result is what the engine computes at the first
  `next()`; only a limit or skip raised afterwards, or a call that needs the
  whole result (count, distinct, alive...), computes the rest, later.
* An aggregate whose first stage is a `$match` copies only the documents
  that stage can keep, and of them only the fields the rest of the pipeline
  can read (_pipeline_needs); where every clause of that `$match` was
  applied before copying, on what the stage compares, the stage is not run
  again. The pipeline runs the engine's stage loop with faster handlers of
  `$group`, `$setWindowFields`, `$sort`, `$match`, `$project`,
  `$set` / `$addFields`, `$unwind` and `$facet`: each the engine's own code
  where it decides anything, with expressions compiled once per stage
  (_compiled), group keys sorted by Python's tuple order where that is
  bson_compare's (_order_part), no deep copy of the array `$unwind`
  replaces, and a filter matcher (_matcher) made of the engine's operator
  functions.
* Filters are applied by _matcher: the engine's filter, clause by clause,
  with the commonest clauses (a field path through documents, a plain value
  or `$eq` / `$ne` / `$in` / `$nin` / `$exists` / ranges on a value that is
  no array) done without its generic machinery.
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
import contextlib
import copy
import errno
import fcntl
import functools
import gc
import heapq
import itertools
import logging
import numbers
import operator
import os
import shutil
import threading
from bisect import bisect_left, bisect_right, insort
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
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
from mongomock_ng import collection as mm_collection
from mongomock_ng import command_cursor as mm_command_cursor
from mongomock_ng import filtering, helpers
from mongomock_ng import store as mm_store
from mongomock_ng.collection import (Collection, Cursor, _cast_document_class, _copy_field,
                                     _profiler_get_operation, _profiler_get_sort, _profiler_set_sort)
from mongomock_ng.database import Database
from mongomock_ng.geospatial import extract_near_specs
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


def _applied_whole(clauses, stage):
    """Whether the clauses _leading_match took are every clause of the first `$match`."""
    return len(clauses) == len(stage)


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


# What _Filterer.apply does for one operator on a single value that is
# neither a list nor a tuple (its _list_expand then calls the operator on
# the value itself; _not_nothing_and answers False for a missing one).
def _op_eq(value, operand):
    return filtering.operator_eq(value, operand)


def _op_ne(value, operand):
    return not filtering.operator_eq(value, operand)


def _op_in(value, operand):
    return filtering._in_op(value, operand)


def _op_nin(value, operand):
    return not filtering._in_op(value, operand)


def _op_exists(value, operand):
    return bool(operand) == (value is not NOTHING)


def _op_compare(compare):
    def op(value, operand):
        if value is NOTHING:
            return False
        kind = type(value)
        if kind is type(operand) and (kind is str or kind is datetime):
            return compare(value, operand)  # what bson_compare ends with for two of these
        return filtering.bson_compare(compare, value, operand, can_compare_types=False)
    return op


_FIELD_OPERATORS = {"$eq": _op_eq, "$ne": _op_ne, "$in": _op_in, "$nin": _op_nin, "$exists": _op_exists,
                    **{name: _op_compare(compare) for name, compare in filtering.SORTING_OPERATOR_MAP.items()}}
_SEQUENCES = (list, tuple)
_MAPPINGS = (dict, collections.OrderedDict)
_EMPTY = {}
# Values an equality clause compares with `==` (operator_eq) whatever the
# document holds, and that equal no dict (so never `{"$exists": False}`).
_EQUALITY_VALUES = frozenset({str, int, float, bool, type(None), datetime, ObjectId, Int64})


_MANY = object()

# filtering.LOGICAL_OPERATOR_MAP over a non-empty list of dicts, each sub-filter a _matcher.
_COMBINE = {
    "$and": lambda doc, subs: all(m(doc) for m in subs),
    "$or": lambda doc, subs: any(m(doc) for m in subs),
    "$nor": lambda doc, subs: all(not m(doc) for m in subs),
}


def _candidate(doc, path):
    """filtering.iter_key_candidates of a path in a dict where it is one value reached through dicts, else _MANY.

    A missing part is taken as an empty document, as the engine does.
    """
    held = doc
    for part in path[:-1]:
        held = held.get(part, _EMPTY)
        if type(held) not in _MAPPINGS:
            return _MANY
    return held.get(path[-1], NOTHING)


def _matcher(spec, user_vars=None):
    """A function doc -> whether filtering.filter_applies(spec, doc, user_vars) holds; raises as it raises.

    _Filterer.apply tests the clauses in order and answers False at the
    first that fails; each field clause on its own. Where a field's path
    leads through dicts only, its one candidate value is _candidate's, and
    a clause on one value is true exactly when its operators all hold (or
    its plain value equals it): that is done here for plain values and the
    operators of _FIELD_OPERATORS, with the engine's own operator functions,
    on values that are no list or tuple. `$and`, `$or` and `$nor` over a
    non-empty list of dicts combine their sub-filters' matchers, in order,
    stopping where the engine stops; `$expr` is _compiled. (Those two kinds
    carry their function where the others carry a path.) Every other
    clause, and these on a list, a tuple or a path through something else,
    are the engine's apply() of that clause alone (what it does for them
    within the whole filter). A document that is no dict goes to filter_applies whole.
    """
    if not isinstance(spec, dict):
        return lambda doc: filtering.filter_applies(spec, doc, user_vars=user_vars)
    apply = filtering._filterer_inst.apply
    tests = []
    for key, value in spec.items():
        if key == "$comment":
            continue
        path = key.split(".") if type(key) is str and key else None
        if path is not None and not all(part and not part.startswith("$") for part in path):
            path = None
        if path is not None and type(value) is dict and value and all(op in _FIELD_OPERATORS for op in value):
            tests.append((key, path, tuple((_FIELD_OPERATORS[op], operand) for op, operand in value.items()), None))
        elif path is not None and type(value) in _EQUALITY_VALUES:
            tests.append((key, path, None, value))
        elif key in _COMBINE and type(value) is list and value and all(type(q) is dict for q in value):
            # The engine applies each sub-filter with no user variables.
            tests.append((None, _COMBINE[key], tuple(_matcher(q) for q in value), None))
        elif key == "$expr":
            tests.append((None, lambda doc, expression: expression(doc, user_vars), _compiled(value), None))
        else:
            tests.append((None, None, {key: value}, None))

    def matches(doc):
        if type(doc) not in _MAPPINGS:
            return filtering.filter_applies(spec, doc, user_vars=user_vars)
        for key, path, ops, value in tests:
            if key is None:
                if not (apply(ops, doc, user_vars=user_vars) if path is None else path(doc, ops)):
                    return False
                continue
            held = _candidate(doc, path)
            if held is _MANY:
                if not apply({key: spec[key]}, doc, user_vars=user_vars):
                    return False
                continue
            if type(held) in _SEQUENCES:
                if not apply({key: spec[key]}, doc, user_vars=user_vars):
                    return False
            elif ops is None:
                if not (filtering.operator_eq(held, value) or (value is None and held is NOTHING)):
                    return False
            else:
                for op, operand in ops:
                    if not op(held, operand):
                        return False
        return True
    return matches


# ------------------------------------------------------------------ copies

# Values the engine's copy functions return unchanged (or as an equal copy).
_ATOMS = frozenset({str, int, bool, float, type(None), bytes, ObjectId, Int64, Decimal128})
# Upserts store an OrderedDict, which the engine copies into a dict like any mapping.
_ODICT = collections.OrderedDict


def _copy_out(value, aware, only=None):
    """The engine's copy of a stored value (`_copy_field`), made tz-aware as its cursor does.

    Same result as `make_datetime_timezone_aware_in_document(_copy_field(value, dict))`
    (or the copy alone), in one pass and without `copy.copy` on every leaf;
    any type other than the plain ones goes through the engine's functions.
    A document is copied with only the top-level fields in `only` when given.
    """
    kind = type(value)
    if kind is dict or kind is _ODICT:  # copied into a dict either way
        out = {}
        for key, item in value.items():
            if only is not None and key not in only:
                continue
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


def _fields_view(doc, fields, aware):
    """_match_view of a stored document cut to `fields`, the top-level fields a filter reads."""
    view = {}
    for key in fields:
        if key in doc:
            item = doc[key]
            kind = type(item)
            if kind in _ATOMS:
                view[key] = item
            elif kind is datetime and aware and item.tzinfo is None and not item.microsecond % 1000:
                view[key] = item  # _match_view's naive copy of it is equal to it
            else:
                view[key] = _match_view(item, aware)
    return view


def _match_view(value, aware):
    """What the `$match` stage compares for a stored value.

    The stage sees the engine's copy (made aware on a tz-aware client) after
    `patch_datetime_awareness_in_document`; this is the same, in one pass.
    """
    kind = type(value)
    if kind is dict or kind is _ODICT:
        return {key: _match_view(item, aware) for key, item in value.items()}
    if kind in _ATOMS:
        return value
    if kind is list:
        return [_match_view(item, aware) for item in value]
    if kind is datetime and aware:
        # Made aware by replacing its timezone with UTC, then made naive again.
        return value.replace(tzinfo=None, microsecond=value.microsecond // 1000 * 1000)
    return helpers.patch_datetime_awareness_in_document(_copy_out(value, aware))


# --------------------------------------------------------------- pipelines

# Operators that read the current document by a field name given as a plain
# string, or hand it to user code.
_WHOLE_DOCUMENT_OPERATORS = frozenset({"$getField", "$setField", "$unsetField", "$function", "$accumulator"})


def _expression_fields(expression, fields):
    """Add to `fields` the top-level fields an expression reads; False when it may read the whole document.

    The parser reads a document through field paths ("$a.b": field a),
    through `$$ROOT` / `$$CURRENT`, and through the operators of
    _WHOLE_DOCUMENT_OPERATORS; other `$$` variables hold what expressions
    made of these gave. Strings are taken as paths wherever they are
    (inside `$literal` too: one field more, never one less).
    """
    if isinstance(expression, str):
        if expression.startswith("$$"):
            return expression[2:].split(".", 1)[0] not in ("ROOT", "CURRENT")
        if expression.startswith("$"):
            fields.add(expression[1:].split(".", 1)[0])
        return True
    if isinstance(expression, dict):
        for key, value in expression.items():
            if key in _WHOLE_DOCUMENT_OPERATORS or not _expression_fields(value, fields):
                return False
        return True
    if isinstance(expression, (list, tuple)):
        return all(_expression_fields(item, fields) for item in expression)
    return True


def _top(path):
    return path.split(".", 1)[0] if isinstance(path, str) else None


def _pipeline_needs(pipeline):
    """The top-level fields of its input documents a pipeline's result depends on, or None for all.

    Read backwards from the result, which needs every field: a stage that
    passes its documents on ($match, $set / $addFields, $setWindowFields,
    $sort, $skip, $limit, $unwind, $unset, an exclusion $project) needs what
    comes after plus what it reads; one that builds new documents from
    expressions ($group, $count, an inclusion $project, $facet of such
    pipelines) needs only what it reads. Stages not listed need all.
    Reading a document with fewer fields gives these stages the same values
    for the fields they read, and none of them fails on a field it does not
    read.
    """
    if not isinstance(pipeline, (list, tuple)):
        return None
    needed = None  # all
    for stage in reversed(pipeline):
        if not isinstance(stage, dict) or len(stage) != 1:
            return None
        (operator, options), = stage.items()
        fields = set()
        if operator == "$group":
            if not isinstance(options, dict) or "_id" not in options:
                return None
            for key, value in options.items():
                if key != "_id" and not isinstance(value, dict):
                    return None
                if not _expression_fields(value, fields):
                    return None
            needed = fields
        elif operator == "$count":
            needed = set()
        elif operator == "$facet":
            if not isinstance(options, dict):
                return None
            for sub_pipeline in options.values():
                more = _pipeline_needs(sub_pipeline)
                if more is None:
                    return None
                fields |= more
            needed = fields
        elif operator == "$project":
            if not isinstance(options, dict) or not options:
                return None
            if all(value in (0, False) and type(value) in (int, bool) for value in options.values()):
                continue  # an exclusion passes the rest on
            for key, value in options.items():
                if not isinstance(key, str) or key.startswith("$"):
                    return None
                if isinstance(value, dict) and all(v in (0, 1) for v in value.values()) \
                        and not any(isinstance(k, str) and k.startswith("$") for k in value):
                    fields.add(_top(key))
                elif type(value) in (int, bool) and value in (0, 1, True, False):
                    if value:
                        fields.add(_top(key))
                elif not _expression_fields(value, fields):
                    return None
            if options.get("_id", 1) not in (0, False):
                fields.add("_id")
            needed = fields
        else:
            if operator == "$match":
                if not isinstance(options, dict):
                    return None
                for key, value in options.items():
                    if key == "$expr":
                        if not _expression_fields(value, fields):
                            return None
                        continue
                    more = _match_fields(key, value)
                    if more is None:
                        return None
                    fields |= more
            elif operator in ("$set", "$addFields"):
                if not isinstance(options, dict):
                    return None
                for key, value in options.items():
                    if not isinstance(key, str) or not _expression_fields(value, fields):
                        return None
            elif operator == "$setWindowFields":
                if not isinstance(options, dict):
                    return None
                sort = options.get("sortBy") or {}
                if not isinstance(sort, dict) or not all(isinstance(key, str) for key in sort):
                    return None
                fields |= {_top(key) for key in sort}
                if not _expression_fields([options.get("partitionBy"), options.get("output")], fields):
                    return None
            elif operator == "$sort":
                if not isinstance(options, dict) or not all(isinstance(key, str) for key in options):
                    return None
                fields |= {_top(key) for key in options}
            elif operator == "$unwind":
                path = options.get("path") if isinstance(options, dict) else options
                if not isinstance(path, str) or not path.startswith("$"):
                    return None
                fields.add(_top(path[1:]))
            elif operator not in ("$skip", "$limit", "$unset"):
                return None
            if needed is not None:
                needed = needed | fields
    return needed


# The engine's own stage handlers, as shipped: ours replace them only while
# the engine's table still holds these.
_ENGINE_GROUP = mm_aggregate._handle_group_stage
_ENGINE_FACET = mm_aggregate._handle_facet_stage
_ENGINE_WINDOW = mm_aggregate._handle_set_window_fields_stage
_ENGINE_UNWIND = mm_aggregate._handle_unwind_stage
_ENGINE_ADD_FIELDS = mm_aggregate._handle_add_fields_stage
_ENGINE_MATCH = mm_aggregate._handle_match_stage
_ENGINE_PROJECT = mm_aggregate._handle_project_stage
_ENGINE_SORT = mm_aggregate._handle_sort_stage


def _run_pipeline(collection, database, pipeline, session, user_vars=None):
    """The engine's process_pipeline, with the stages of _ENGINE_* through the handlers below.

    Same loop, same lookups and errors; every other stage is the engine's
    own handler (and so are the pipelines of `$lookup` and `$unionWith`).
    """
    handlers = mm_aggregate._PIPELINE_HANDLERS
    for stage in pipeline:
        for operator, options in stage.items():
            try:
                handler = handlers[operator]
            except KeyError as err:
                raise NotImplementedError(
                    f'{operator} is not a valid operator for the aggregation pipeline. '
                    f'See http://docs.mongodb.org/manual/meta/aggregation-quick-reference/ '
                    f'for a complete list of valid operators.'
                ) from err
            if not handler:
                raise NotImplementedError(
                    f"Although '{operator}' is a valid operator for the aggregation pipeline, "
                    f'it is currently not implemented in Mongomock-ng.'
                )
            if handler is _ENGINE_GROUP:
                handler = _group_stage
            elif handler is _ENGINE_FACET:
                handler = _facet_stage
            elif handler is _ENGINE_WINDOW:
                handler = _set_window_fields_stage
            elif handler is _ENGINE_UNWIND:
                handler = _unwind_stage
            elif handler is _ENGINE_ADD_FIELDS:
                handler = _add_fields_stage
            elif handler is _ENGINE_MATCH:
                handler = _match_stage
            elif handler is _ENGINE_PROJECT:
                handler = _project_stage
            elif handler is _ENGINE_SORT:
                handler = _sort_stage
            collection = handler(collection, database, options, user_vars)
    return mm_command_cursor.CommandCursor(collection)


def _facet_stage(in_collection, database, options, user_vars):
    """The engine's `$facet`, its sub-pipelines run by _run_pipeline."""
    out_collection_by_pipeline = {}
    for pipeline_title, pipeline in options.items():
        out_collection_by_pipeline[pipeline_title] = list(
            _run_pipeline(in_collection, database, pipeline, None, user_vars=user_vars))
    return [out_collection_by_pipeline]


def _engine_expression(expression):
    def evaluate(doc, user_vars):
        return mm_aggregate._parse_expression(expression, doc, user_vars=user_vars)
    return evaluate


def _pure(function):
    """Marks a compiled expression that never raises and reads nothing but the document (see _accumulate_group)."""
    function.pure = True
    return function


def _compiled(expression):
    """A function (doc, user_vars) returning the engine's `_parse_expression(expression, doc, user_vars)`.

    The engine's parser walks the expression anew for every document. Here
    the forms it evaluates without an operator are done directly, as it
    does them: a field path (`"$a"`, `"$a.b"`: get_value_by_dot, with
    arrays), a constant (returned as is), a list (a new list of its items'
    values) and a document without operator keys (a new dict of its
    values, a missing one left out); so are the operators of _OPERATORS,
    each as its handler in the parser does it. Anything else (other
    operators, `$$` variables, subclasses of these types, malformed
    operands) goes to the engine's parser, on the same document with the
    same variables. Field paths, constants, and lists and documents of
    them are marked _pure.
    """
    kind = type(expression)
    if kind is str:
        if not expression.startswith("$"):
            return _pure(lambda doc, user_vars: expression)
        if expression.startswith("$$"):
            return _engine_expression(expression)
        path = expression[1:]
        if "." not in path:
            def field(doc, user_vars):
                if type(doc) is dict:
                    return doc.get(path, NOTHING)
                return helpers.get_value_by_dot(doc, path, can_generate_array=True)
            return _pure(field)
        return _pure(lambda doc, user_vars: helpers.get_value_by_dot(doc, path, can_generate_array=True))
    if kind is dict:
        if len(expression) == 1:
            (operator, values), = expression.items()
            compile_operator = _OPERATORS.get(operator) if type(operator) is str else None
            if compile_operator is not None:
                return compile_operator(operator, values) or _engine_expression(expression)
        if not all(type(key) is str and not key.startswith("$") for key in expression):
            return _engine_expression(expression)
        parts = [(key, _compiled(value)) for key, value in expression.items()]

        def document(doc, user_vars):
            out = {}
            for key, evaluate in parts:
                value = evaluate(doc, user_vars)
                if value is not NOTHING:
                    out[key] = value
            return out
        return _pure(document) if all(hasattr(part, "pure") for _, part in parts) else document
    if kind is list:
        items = [_compiled(value) for value in expression]

        def items_of(doc, user_vars):
            return [evaluate(doc, user_vars) for evaluate in items]
        return _pure(items_of) if all(hasattr(item, "pure") for item in items) else items_of
    if isinstance(expression, (str, dict, list)):
        return _engine_expression(expression)
    return _pure(lambda doc, user_vars: expression)


def _compile_if_null(operator, values):
    # _Parser._handle_conditional_operator, with one input expression.
    if type(values) is not list or len(values) != 2:
        return None
    field, fallback = _compiled(values[0]), _compiled(values[1])

    def if_null(doc, user_vars):
        out_value = field(doc, user_vars)
        if out_value is not None and out_value is not NOTHING:
            return out_value
        return fallback(doc, user_vars)
    return if_null


def _compile_cond(operator, values):
    # _Parser._handle_conditional_operator.
    if type(values) is list and len(values) == 3:
        condition, true_case, false_case = values
    elif type(values) is dict and all(key in values for key in ("if", "then", "else")):
        condition, true_case, false_case = values["if"], values["then"], values["else"]
    else:
        return None
    condition, true_case, false_case = _compiled(condition), _compiled(true_case), _compiled(false_case)
    to_bool = helpers.mongodb_to_bool

    def cond(doc, user_vars):
        if to_bool(condition(doc, user_vars)):
            return true_case(doc, user_vars)
        return false_case(doc, user_vars)
    return cond


def _compile_comparison(operator, values):
    # _Parser._handle_comparison_operator.
    if type(values) is not list or len(values) != 2 or operator not in ("$eq", "$ne", *_SORTING):
        return None
    first, second = _compiled(values[0]), _compiled(values[1])
    if operator == "$eq":
        def equal(doc, user_vars):
            a = first(doc, user_vars)
            b = second(doc, user_vars)
            return (a is NOTHING and b is None) or (a is None and b is NOTHING) or a == b
        return equal
    if operator == "$ne":
        def not_equal(doc, user_vars):
            a = first(doc, user_vars)
            b = second(doc, user_vars)
            return not ((a is NOTHING and b is None) or (a is None and b is NOTHING) or a == b)
        return not_equal

    def compare(doc, user_vars):
        a = first(doc, user_vars)
        b = second(doc, user_vars)
        if a is NOTHING or b is NOTHING:
            return False
        return filtering.bson_compare(filtering.SORTING_OPERATOR_MAP[operator], a, b)
    return compare


def _compile_boolean(operator, values):
    # _Parser._handle_boolean_operator ($and, $or: short-circuit, in order).
    if type(values) is not list or operator not in ("$and", "$or"):
        return None
    items = [_compiled(value) for value in values]
    to_bool = helpers.mongodb_to_bool
    if operator == "$and":
        return lambda doc, user_vars: all(to_bool(item(doc, user_vars)) for item in items)
    return lambda doc, user_vars: any(to_bool(item(doc, user_vars)) for item in items)


def _compile_binary(operator, values):
    # _Parser._handle_arithmetic_operator: _eval_binary_arithmetic_operator for $subtract and $divide.
    if type(values) is not list or len(values) != 2:
        return None
    first, second = _compiled(values[0]), _compiled(values[1])
    divide = operator == "$divide"

    def arithmetic(doc, user_vars):
        try:
            number_0 = first(doc, user_vars)
            number_1 = second(doc, user_vars)
            if number_0 is NOTHING or number_1 is NOTHING:
                return None
            if number_0 is None or number_1 is None:
                return None
            if divide:
                return number_0 / number_1
            if isinstance(number_0, datetime) and isinstance(number_1, (int, float)):
                number_1 = timedelta(milliseconds=number_1)
            res = number_0 - number_1
            if isinstance(res, timedelta):
                return round(res.total_seconds() * 1000)
            return res
        except (OverflowError, ValueError) as e:
            raise mm_aggregate.OperationFailure(f'Error processing {operator}: {e}') from e
    return arithmetic


def _compile_nary(operator, values):
    # _Parser._eval_arithmetic_operator's N-ary branch: $add (dates too) and $multiply.
    if type(values) is not list or not values:
        return None
    parts = [_compiled(value) for value in values]
    add = operator == "$add"
    decimal_support = mm_aggregate.decimal_support

    def nary(doc, user_vars):
        try:
            operands = [part(doc, user_vars) for part in parts]
            if add and any(isinstance(v, datetime) for v in operands):
                result = operands[0]
                for v in operands[1:]:
                    if isinstance(v, timedelta):
                        result += v
                    elif isinstance(v, (int, float)):
                        result += timedelta(milliseconds=v)
                return result
            for v in operands:
                if v is None or v is NOTHING:
                    return None
                if decimal_support and isinstance(v, Decimal128):
                    continue
                assert isinstance(v, numbers.Number), f"{operator} only uses numbers"
            if decimal_support:
                operands = [v.to_decimal() if isinstance(v, Decimal128) else v for v in operands]
            if add:
                return sum(operands)
            return functools.reduce(lambda x, y: x * y, operands)
        except (OverflowError, ValueError) as e:
            raise mm_aggregate.OperationFailure(f"Error processing {operator}: {e}") from e
    return nary


def _compile_to_long(operator, values):
    # _Parser._handle_type_convertion_to_long.
    inner = _compiled(values)
    decimal_support = mm_aggregate.decimal_support

    def to_long(doc, user_vars):
        parsed = inner(doc, user_vars)
        if parsed is NOTHING:
            return None
        if isinstance(parsed, datetime):
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=timezone.utc)
            return int(parsed.timestamp() * 1000)
        if decimal_support:
            if isinstance(parsed, Decimal128):
                return int(parsed.to_decimal())
            return int(parsed)
        return int(parsed)
    return to_long


def _compile_grouping(operator, values):
    # _Parser._handle_project_operator for $max / $min of a list: the engine's
    # grouping function over the lazily parsed items.
    if type(values) is not list:
        return None
    items = [_compiled(value) for value in values]
    group = mm_aggregate._GROUPING_OPERATOR_MAP[operator]
    return lambda doc, user_vars: group(item(doc, user_vars) for item in items)


def _compile_concat(operator, values):
    # _Parser._handle_string_operator for $concat of a list.
    if type(values) is not list:
        return None
    items = [_compiled(value) for value in values]

    def concat(doc, user_vars):
        parsed_list = [item(doc, user_vars) for item in items]
        return None if None in parsed_list else ''.join([str(x) for x in parsed_list])
    return concat


def _compile_to_string(operator, values):
    # _Parser._handle_type_convertion_to_string.
    inner = _compiled(values)

    def to_string(doc, user_vars):
        parsed = inner(doc, user_vars)
        if parsed is NOTHING:
            return None
        if isinstance(parsed, bool):
            return str(parsed).lower()
        if mm_aggregate._is_nat(parsed):
            return None
        if isinstance(parsed, datetime):
            return parsed.isoformat()[:-3] + 'Z'
        return str(parsed)
    return to_string


_DATE_PARTS = {"$year": operator.attrgetter("year"), "$month": operator.attrgetter("month"),
               "$dayOfMonth": operator.attrgetter("day")}


def _compile_date_part(name, values):
    # _Parser._handle_date_operator for {date, timezone} with a zone name: the
    # date made UTC-aware (replace), moved to the zone (pytz), and its part.
    # A value that is no datetime, or a zone pytz refuses, goes to the parser.
    pytz = getattr(mm_aggregate, "pytz", None)
    if type(values) is not dict or values.keys() != {"date", "timezone"} or pytz is None or _impure(values):
        return None
    zone = values["timezone"]
    if type(zone) is not str or zone.startswith("$"):
        return None
    date, part, engine, target = _compiled(values["date"]), _DATE_PARTS[name], _engine_expression({name: values}), []

    def date_part(doc, user_vars):
        value = date(doc, user_vars)
        if type(value) is not datetime:
            return engine(doc, user_vars)
        if not target:
            try:
                target.append(pytz.timezone(zone))
            except Exception:
                return engine(doc, user_vars)
        return part(value.replace(tzinfo=pytz.utc).astimezone(target[0]))
    return date_part


def _dispatched(operator):
    """The group of operators under which _Parser.parse handles `operator` (it tries them in this order)."""
    for name in ("arithmetic_operators", "project_operators", "projection_operators", "comparison_operators",
                 "date_operators", "array_operators", "conditional_operators", "control_flow_operators",
                 "set_operators", "string_operators", "type_convertion_operators", "type_operators",
                 "boolean_operators", "object_operators", "field_operators", "custom_operators"):
        if operator in getattr(mm_aggregate, name, ()):
            return name
    return None


_SORTING = tuple(filtering.SORTING_OPERATOR_MAP)
# Operators whose evaluation _compiled does itself, each where the parser
# would hand it to the handler these mirror (else the parser evaluates them).
_OPERATORS = {operator: compile_operator for operator, group, compile_operator in (
    ("$ifNull", "conditional_operators", _compile_if_null),
    ("$cond", "conditional_operators", _compile_cond),
    ("$eq", "comparison_operators", _compile_comparison),
    ("$ne", "comparison_operators", _compile_comparison),
    *((op, "comparison_operators", _compile_comparison) for op in _SORTING),
    ("$and", "boolean_operators", _compile_boolean),
    ("$or", "boolean_operators", _compile_boolean),
    *((op, "arithmetic_operators", _compile_nary) for op in ("$add", "$multiply")
      if op not in mm_aggregate.binary_arithmetic_operators | mm_aggregate.unary_arithmetic_operators
      | mm_aggregate.unary_bitwise_operators | mm_aggregate.binary_bitwise_operators),
    *((op, "arithmetic_operators", _compile_binary) for op in ("$subtract", "$divide")
      if op in mm_aggregate.binary_arithmetic_operators
      and op not in mm_aggregate.binary_arithmetic_operators_with_optional_second_number
      and op not in mm_aggregate.unary_arithmetic_operators | mm_aggregate.unary_bitwise_operators
      | mm_aggregate.binary_bitwise_operators),
    *(("$toLong", "type_convertion_operators", _compile_to_long)
      for handler in [mm_aggregate._Parser._TYPE_CONVERTION_HANDLERS.get("$toLong")]
      if handler is mm_aggregate._Parser._handle_type_convertion_to_long),
    *((op, "project_operators", _compile_grouping) for op in ("$max", "$min")
      if op in mm_aggregate._GROUPING_OPERATOR_MAP),
    ("$concat", "string_operators", _compile_concat),
    *(("$toString", "type_convertion_operators", _compile_to_string)
      for handler in [mm_aggregate._Parser._TYPE_CONVERTION_HANDLERS.get("$toString")]
      if handler is mm_aggregate._Parser._handle_type_convertion_to_string),
    *((name, "date_operators", _compile_date_part) for name in _DATE_PARTS),
) if _dispatched(operator) == group}


def _add_fields_stage(in_collection, unused_database, options, user_vars):
    """The engine's `$addFields` / `$set`, line for line, with _compiled expressions."""
    if not options:
        raise mm_aggregate.OperationFailure(
            'Invalid $addFields :: caused by :: specification must have at least one field'
        )
    out_collection = [dict(doc) for doc in in_collection]
    for field, value in options.items():
        evaluate = _compiled(value)
        for in_doc, out_doc in zip(in_collection, out_collection, strict=False):
            out_value = evaluate(in_doc, user_vars)
            if out_value is NOTHING:
                continue
            parts = field.split('.')
            for subfield in parts[:-1]:
                out_doc[subfield] = out_doc.get(subfield, {})
                if not isinstance(out_doc[subfield], dict):
                    out_doc[subfield] = {}
                out_doc = out_doc[subfield]
            out_doc[parts[-1]] = out_value
    return out_collection



def _filter_fields(spec):
    """The top-level fields a whole `$match` filter reads, or None when it may read more."""
    if not isinstance(spec, dict):
        return None
    fields = set()
    for key, value in spec.items():
        more = _match_fields(key, value)
        if more is None:
            return None
        fields |= more
    return fields


def _patched(value):
    """helpers.patch_datetime_awareness_in_document(value), faster on dicts, lists and plain values."""
    kind = type(value)
    if kind is dict:
        return {key: _patched(item) for key, item in value.items()}
    if kind in _ATOMS:
        return value
    if kind is datetime:
        mongo_us = (value.microsecond // 1000) * 1000
        if value.tzinfo:
            return (value - value.utcoffset()).replace(tzinfo=None, microsecond=mongo_us)
        return value.replace(microsecond=mongo_us)
    if kind is list:
        return [_patched(item) for item in value]
    return helpers.patch_datetime_awareness_in_document(value)


def _check_field_names(data):
    """The engine's _validate_data_fields: no NUL in a field name of the
    document or of a document nested in it (lists are not entered), no "$"
    first in a top-level one."""
    _check_no_nul(data)
    for key in data:
        if key.startswith("$"):
            raise mm_collection.InvalidDocument(
                f'Top-level field names cannot start with the "$" sign (found: {key})')


def _check_no_nul(data):
    for key, value in data.items():
        if "\0" in key:
            raise mm_collection.InvalidDocument(f"Field names cannot contain the null character (found: {key})")
        kind = type(value)
        if kind is dict or (kind not in _ATOMS and kind is not list and isinstance(value, Mapping)):
            _check_no_nul(value)


def _match_stage(in_collection, database, options, user_vars):
    """The engine's `$match`, each document's patched copy cut to the fields the filter reads.

    The engine tests every document's patched copy
    (patch_datetime_awareness_in_document: a new dict of its patched
    values); a filter whose fields are known reads only those, so the copy
    of those alone answers the same. The matching is _matcher's.
    """
    patch = helpers.patch_datetime_awareness_in_document
    spec = patch(options)
    get_profiler().record(spec, f'{database.name}.<aggregate>', 'aggregate')
    fields = _filter_fields(options)
    matches = _matcher(spec, user_vars)
    out = []
    for doc in in_collection:
        if fields is not None and type(doc) is dict:
            view = {key: _patched(doc[key]) for key in fields if key in doc}
        else:
            view = patch(doc)
        if matches(view):
            out.append(doc)
    return out


def _project_stage(in_collection, unused_database, options, user_vars):
    """The engine's `$project`, line for line, with _compiled expressions."""
    filter_list = []
    method = None
    include_id = options.get('_id')
    # Compute new values for each field, except inclusion/exclusions that are
    # handled in one final step.
    new_fields_collection = None
    for field, value in options.items():
        if method is None and (field != '_id' or value):
            method = 'include' if value else 'exclude'
        elif method == 'include' and not value and field != '_id':
            raise mm_aggregate.OperationFailure(
                f'Bad projection specification, cannot exclude fields '
                f"other than '_id' in an inclusion projection: {options}"
            )
        elif method == 'exclude' and value and field != '_id':
            raise mm_aggregate.OperationFailure(
                f'Bad projection specification, cannot include fields '
                f'or add computed fields during an exclusion projection: {options}'
            )
        if value in (0, 1, True, False):
            if field != '_id':
                filter_list.append(field)
            continue
        elif (
            isinstance(value, dict)
            and all(v in (0, 1) for v in value.values())
            and not any(isinstance(k, str) and k.startswith('$') for k in value)
        ):
            if not new_fields_collection:
                new_fields_collection = [{} for unused_doc in in_collection]
            evaluate = _compiled(f'${field}')
            for in_doc, out_doc in zip(in_collection, new_fields_collection, strict=False):
                subdoc = evaluate(in_doc, user_vars)
                if subdoc is not NOTHING and isinstance(subdoc, dict):
                    out_doc[field] = mm_aggregate._project_by_spec(subdoc, value, is_include=True)
                elif subdoc is not NOTHING:
                    out_doc[field] = subdoc
            continue
        if not new_fields_collection:
            new_fields_collection = [{} for unused_doc in in_collection]

        evaluate = _compiled(value)
        for in_doc, out_doc in zip(in_collection, new_fields_collection, strict=False):
            out_value = evaluate(in_doc, user_vars)
            if out_value is not NOTHING:
                out_doc[field] = out_value
    if (method == 'include') == (include_id is not False and include_id != 0):
        filter_list.append('_id')

    if not filter_list:
        return new_fields_collection

    # Final steps: include or exclude fields and merge with newly created fields.
    projection_spec = mm_aggregate._combine_projection_spec(filter_list, original_filter=options)
    out_collection = [
        mm_aggregate._project_by_spec(doc, projection_spec, is_include=method == 'include')
        for doc in in_collection
    ]
    if new_fields_collection:
        return [dict(a, **b) for a, b in zip(out_collection, new_fields_collection, strict=False)]
    return out_collection



# The engine's $first and $last, if still its own: values[0] / values[-1], or None.
_ENDS = {operator: end for operator, end in (("$first", 0), ("$last", -1))
         if getattr(mm_aggregate._GROUPING_OPERATOR_MAP.get(operator), "__code__", None) is not None
         and mm_aggregate._GROUPING_OPERATOR_MAP[operator]([1, 2]) == [1, 2][end]
         and mm_aggregate._GROUPING_OPERATOR_MAP[operator]([]) is None}


def _accumulate_group(output_fields, group_list, user_vars, compiled):
    """The engine's _accumulate_group, line for line, with `compiled` expressions.

    `compiled` maps id() of each accumulator's expression to _compiled() of
    it, filled as the expressions are met.
    """
    doc_dict = {}
    for field, value in output_fields.items():
        if field == '_id':
            continue
        for operator, key in value.items():
            evaluate = compiled.get(id(key))
            if evaluate is None:
                evaluate = compiled[id(key)] = _compiled(key)
            ends = _ENDS.get(operator)
            if ends is not None and hasattr(evaluate, "pure"):
                # values[0] (or [-1]) of what every document gives: with an
                # expression that cannot raise, the first found from that end.
                doc_dict[field] = None
                for doc in (group_list if ends == 0 else reversed(group_list)):
                    parsed = evaluate(doc, user_vars)
                    if parsed is not NOTHING:
                        doc_dict[field] = parsed
                        break
                continue
            values = []
            for doc in group_list:
                parsed = evaluate(doc, user_vars)
                if parsed is not NOTHING:
                    values.append(parsed)
            if operator in mm_aggregate._GROUPING_OPERATOR_MAP:
                doc_dict[field] = mm_aggregate._GROUPING_OPERATOR_MAP[operator](values)
            elif operator == '$count':
                doc_dict[field] = len(group_list)
            elif operator == '$addToSet':
                value = []
                # Don't use set in case elt in not hashable (like dicts).
                for elt in values:
                    if elt not in value:
                        value.append(elt)
                doc_dict[field] = value
            elif operator == '$push':
                if field not in doc_dict:
                    doc_dict[field] = values
                else:
                    doc_dict[field].extend(values)
            elif operator in mm_aggregate.group_operators:
                raise NotImplementedError(
                    f'Although {operator} is a valid group operator for the '
                    f'aggregation pipeline, it is currently not implemented '
                    f'in Mongomock-ng.'
                )
            else:
                raise NotImplementedError(
                    f'{operator} is not a valid group operator for the aggregation '
                    f'pipeline. See http://docs.mongodb.org/manual/meta/'
                    f'aggregation-quick-reference/ for a complete list of '
                    f'valid operators.'
                )
    return doc_dict



_FIRST, _LAST, _SUM_CONSTANT = object(), object(), object()


def _accumulator_plan(output_fields):
    """The accumulators of a `$group` in the engine's order: [(field, operator, expression, compiled, how)].

    None where one is no dict (the engine fails on it, in its order:
    _accumulate_group then does as it does). `how` is _FIRST / _LAST for
    `$first` / `$last` of a _pure expression, _SUM_CONSTANT for `$sum` of
    an int (the engine's sum of n copies of it is it times n), else None.
    """
    plan = []
    for field, value in output_fields.items():
        if field == '_id':
            continue
        if type(value) is not dict:
            return None
        for operator, key in value.items():
            evaluate = _compiled(key)
            how = None
            if hasattr(evaluate, "pure") and operator in _ENDS:
                how = _FIRST if _ENDS[operator] == 0 else _LAST
            elif operator == "$sum" and type(key) is int and _SUMS:
                how = _SUM_CONSTANT
            plan.append((field, operator, key, evaluate, how))
    return plan


# Whether the engine's $sum is its _sum_operation.
_SUMS = mm_aggregate._GROUPING_OPERATOR_MAP.get("$sum") is mm_aggregate._sum_operation
_PLAIN_NUMBERS = frozenset({int, float})


def _accumulate_planned(plan, group_list, user_vars):
    """_accumulate_group over an _accumulator_plan: the same values, in the same order."""
    doc_dict = {}
    for field, operator, key, evaluate, how in plan:
        if how is not None:
            if how is _SUM_CONSTANT:
                doc_dict[field] = key * len(group_list)
                continue
            # values[0] (or [-1]) of what every document gives: with an
            # expression that cannot raise, the first found from that end.
            doc_dict[field] = None
            for doc in (group_list if how is _FIRST else reversed(group_list)):
                parsed = evaluate(doc, user_vars)
                if parsed is not NOTHING:
                    doc_dict[field] = parsed
                    break
            continue
        values = []
        for doc in group_list:
            parsed = evaluate(doc, user_vars)
            if parsed is not NOTHING:
                values.append(parsed)
        if operator == "$sum" and _SUMS and all(type(value) in _PLAIN_NUMBERS for value in values):
            # The engine's _sum_operation keeps its numbers (all of these) and sums them in order.
            doc_dict[field] = sum(values)
        elif operator in mm_aggregate._GROUPING_OPERATOR_MAP:
            doc_dict[field] = mm_aggregate._GROUPING_OPERATOR_MAP[operator](values)
        elif operator == '$count':
            doc_dict[field] = len(group_list)
        elif operator == '$addToSet':
            value = []
            # Don't use set in case elt in not hashable (like dicts).
            for elt in values:
                if elt not in value:
                    value.append(elt)
            doc_dict[field] = value
        elif operator == '$push':
            if field not in doc_dict:
                doc_dict[field] = values
            else:
                doc_dict[field].extend(values)
        elif operator in mm_aggregate.group_operators:
            raise NotImplementedError(
                f'Although {operator} is a valid group operator for the '
                f'aggregation pipeline, it is currently not implemented '
                f'in Mongomock-ng.'
            )
        else:
            raise NotImplementedError(
                f'{operator} is not a valid group operator for the aggregation '
                f'pipeline. See http://docs.mongodb.org/manual/meta/'
                f'aggregation-quick-reference/ for a complete list of '
                f'valid operators.'
            )
    return doc_dict


def _deepcopy_but(doc, path):
    """copy.deepcopy(doc) with its top-level `path` left out of the copy (its value is replaced next).

    deepcopy copies a dict key by key with one memo; the copy of the left
    out value is dropped by the caller before anything can reach it, so
    what remains is the same. Values deepcopy returns as they are are not
    handed to it.
    """
    copy_ = {}
    memo = {id(doc): copy_}
    for key, value in doc.items():
        if key == path:
            value = None
        elif type(value) not in _DEEPCOPY_ATOMS:
            value = copy.deepcopy(value, memo)
        copy_[copy.deepcopy(key, memo)] = value
    return copy_


# Types copy.deepcopy returns as they are (its _deepcopy_atomic, not memoized).
_DEEPCOPY_ATOMS = frozenset({type(None), int, float, bool, str, bytes})


def _unwind_stage(in_collection, unused_database, options, unused_user_vars):
    """The engine's `$unwind`, line for line, without deep-copying the array once per element.

    For each element the engine deep-copies the whole document, then sets
    the unwound field to the (uncopied) element. Where the path is a
    top-level field of a plain dict, the copy leaves that field's value out
    (_deepcopy_but), as it is overwritten at once.
    """
    if not isinstance(options, dict):
        options = {'path': options}
    path = options['path']
    if not isinstance(path, str) or path[0] != '$':
        raise ValueError(
            f"$unwind failed: exception: field path references must be prefixed with a '$' '{path}'"
        )
    path = path[1:]
    should_preserve_null_and_empty = options.get('preserveNullAndEmptyArrays')
    include_array_index = options.get('includeArrayIndex')
    unwound_collection = []
    for doc in in_collection:
        array_value = helpers.get_value_by_dot(doc, path)
        if mm_aggregate._is_nullish(array_value):
            if should_preserve_null_and_empty:
                unwound_collection.append(doc)
            continue
        if array_value == []:
            if should_preserve_null_and_empty:
                new_doc = copy.deepcopy(doc)
                # We just ran a get_value_by_dot so we know the value exists.
                helpers.delete_value_by_dot(new_doc, path)
                unwound_collection.append(new_doc)
            continue
        if isinstance(array_value, list):
            iter_array = enumerate(array_value)
        else:
            iter_array = [(None, array_value)]
        top = type(doc) is dict and '.' not in path and path in doc
        for index, field_item in iter_array:
            new_doc = _deepcopy_but(doc, path) if top else copy.deepcopy(doc)
            new_doc = helpers.set_value_by_dot(new_doc, path, field_item)
            if include_array_index:
                new_doc = helpers.set_value_by_dot(new_doc, include_array_index, index)
            unwound_collection.append(new_doc)

    return unwound_collection



class _Unsortable(Exception):
    """A group key that _order_part cannot place exactly where the engine's comparison does."""


# filtering._get_compare_type's ranks of the types _order_part takes.
_RANK_NULL, _RANK_NUMBER, _RANK_STRING, _RANK_OBJECT, _RANK_LIST, _RANK_OID, _RANK_BOOL, _RANK_DATE = \
    5, 10, 15, 20, 25, 35, 40, 45


def _order_state():
    """[key order of each set of keys, awareness of the dates, key tuples checked] for _order_part."""
    return [{}, None, set()]


def _order_part(value, state, depth):
    """(rank, part): Python orders these exactly as filtering.bson_compare orders the values.

    The engine's `$group` sorts its keys with bson_compare: values of
    different types by their type's rank; numbers, strings, booleans, dates
    and ObjectIds with Python's operators; null equal to null; a document as
    the list of its (rank, key, value) triples, where the first pair of
    triples that differ by Python's `!=` decides (compared again the same
    way), and then the length; a list as the list of its items, the same
    way (so no boolean in a list: True == 1 there). For the types taken
    here that is a total order, and a tuple of (rank, key, part) triples compares the same way,
    provided that `!=` between two values inside a document agrees with the
    parts: it does for these types except where Python's `==` crosses types
    (True == 1) or ignores key order (two documents with the same keys in
    another order), so a boolean below the second level and a document
    whose keys come in another order than an earlier one with the same keys
    are refused, as are naive dates beside aware ones (Python raises on
    comparing them) and NaN. `state` is _order_state().
    Anything else raises _Unsortable.
    """
    kind = type(value)
    if kind is str:
        return _RANK_STRING, value
    if kind is int or kind is Int64:
        return _RANK_NUMBER, value
    if value is None:
        return _RANK_NULL, 0
    if kind is dict:
        keys = tuple(value)
        if depth and len(keys) > 1 and keys not in state[2]:
            if state[0].setdefault(frozenset(keys), keys) != keys:
                raise _Unsortable
            state[2].add(keys)
        parts = []
        for key, item in value.items():
            if type(key) is not str:
                raise _Unsortable
            kind = type(item)  # the commonest kinds inline
            if kind is str:
                parts.append((_RANK_STRING, key, item))
            elif kind is int:
                parts.append((_RANK_NUMBER, key, item))
            elif item is None:
                parts.append((_RANK_NULL, key, 0))
            else:
                rank, part = _order_part(item, state, depth + 1)
                parts.append((rank, key, part))
        return _RANK_OBJECT, tuple(parts)
    if kind is float:
        if value != value:
            raise _Unsortable
        return _RANK_NUMBER, value
    if kind is datetime:
        aware = value.utcoffset() is not None
        if state[1] is None:
            state[1] = aware
        elif state[1] is not aware:
            raise _Unsortable
        return _RANK_DATE, value
    if kind is bool:
        if depth > 1:
            raise _Unsortable
        return _RANK_BOOL, value
    if kind is ObjectId:
        return _RANK_OID, value
    if kind is list:
        # The engine compares a list as a document without the keys: the
        # first pair of items that differ by `!=` decides, then the length.
        # Python's == says True == 1 where the ranks differ: no booleans.
        parts = []
        for item in value:
            if type(item) is bool:
                raise _Unsortable
            parts.append(_order_part(item, state, depth + 1))
        return _RANK_LIST, tuple(parts)
    raise _Unsortable


def _impure(expression):
    """Whether an expression may call user code (`$function`), which the engine evaluates twice per key."""
    if isinstance(expression, dict):
        return any(key == "$function" or _impure(item) for key, item in expression.items())
    if isinstance(expression, (list, tuple)):
        return any(_impure(item) for item in expression)
    return False


def _sorted_runs(docs, keys):
    """itertools.groupby of `docs` sorted by `keys` as the engine sorts them: [(key, [docs])].

    The engine sorts documents by BsonComparable of their key (a stable
    sort), then groups runs of equal keys (`==`) with itertools.groupby,
    which names each run by its first key. Here the keys are sorted by
    _order_part where every key has one: the same order, as both are the
    stable sort of one total order; otherwise by BsonComparable, as the
    engine does. The runs are then those groupby makes of the same keys in
    the same order.
    """
    return _runs_and_order(docs, keys)[0]


# Types whose values are hashable, and equal (==) to a value of the same type
# only where the two have one _order_part.
_PRINTED = frozenset({str, int, type(None), float, bool, datetime, ObjectId, Int64})


def _fingerprint(key):
    """A hashable stand-in for a group or partition key that is a value or a flat document; else None.

    Two keys with equal fingerprints are equal (==) and have the same
    types throughout, so they have one _order_part and go to one run.
    Nested documents get None: those keys are mostly distinct (a unique
    session's), and printing them costs more than sorting them saves.
    """
    kind = type(key)
    if kind in _PRINTED:
        return kind, key
    if kind is not dict:
        return None
    values = tuple(key.values())
    types = tuple(map(type, values))
    if _PRINTED.issuperset(types):
        return tuple(key), values, types
    return None


def _runs_of_equal_keys(docs, keys):
    """_runs_and_order's runs, sorting one key of each set of equal keys (by their fingerprints), or None.

    Keys repeat (a channel's sessions, a viewer's rows), and sorting every
    one of them compares equal keys again and again. Each set of keys with
    one fingerprint (equal, and of the same types) is sorted once, by the
    _order_part of its first key; where _order_part refuses one, None. The
    engine's stable sort puts the documents of one set together, in their
    order, and sets with equal parts (1 and Int64(1)) interleaved by
    position; its groupby then starts a run at a key unequal to the run's
    first key. Here the runs are made of the sets in the same way, and a
    run of several sets lists its documents by (part, position).
    """
    positions = {}
    for i, key in enumerate(keys):
        printed = _fingerprint(key)
        if printed is None:
            return None
        found = positions.get(printed)
        if found is None:
            positions[printed] = [i]
        else:
            found.append(i)
    sets = list(positions.values())
    try:
        state = _order_state()
        parts = [_order_part(keys[members[0]], state, 0) for members in sets]
    except _Unsortable:
        return None
    order = sorted(range(len(sets)), key=parts.__getitem__)
    runs = []
    for _, run in itertools.groupby(order, lambda s: keys[sets[s][0]]):
        run = list(run)
        if len(run) == 1:
            members = sets[run[0]]
        else:
            members = sorted((i for s in run for i in sets[s]),
                             key=lambda i, part_of={i: parts[s] for s in run for i in sets[s]}: (part_of[i], i))
        runs.append((keys[members[0]], [docs[i] for i in members]))
    return runs


def _runs_and_order(docs, keys):
    """(_sorted_runs, whether the keys were ordered by _order_part: one total order, not BsonComparable)."""
    runs = _runs_of_equal_keys(docs, keys)
    if runs is not None:
        return runs, True
    positions = range(len(docs))
    try:
        state = _order_state()
        parts = [_order_part(key, state, 0) for key in keys]
    except _Unsortable:
        order, total = sorted(positions, key=lambda i: filtering.BsonComparable(keys[i])), False
    else:
        order, total = sorted(positions, key=parts.__getitem__), True
    return [(key, [docs[i] for i in run]) for key, run in itertools.groupby(order, keys.__getitem__)], total


def _sort_stage(in_collection, unused_database, options, unused_user_vars):
    """The engine's `$sort`: a stable sort per key, the last key first, by resolve_sort_key.

    resolve_sort_key gives (0 or 1, BsonComparable of a value); here the
    value is the same (one found through dicts by _candidate, else the
    engine's resolve_key) and the pair becomes (0 or 1, _order_part of it),
    which sorts the same where every value has one; otherwise the pass is
    the engine's.
    """
    return _sorted_by(in_collection, options)[0]


def _sorted_by(in_collection, options):
    """(_sort_stage's result, whether every pass sorted by _order_part: one total order)."""
    total = True
    sort_array = reversed([{x: y} for x, y in options.items()])
    sorted_collection = in_collection
    for sort_pair in sort_array:
        for sort_key, sort_direction in sort_pair.items():
            reverse = sort_direction < 0
            docs = list(sorted_collection)
            if len(docs) < 2 and type(sort_key) is str:
                # Nothing to compare; resolve_sort_key raises on no document for a string key.
                sorted_collection = docs
                continue
            path = sort_key.split(".") if type(sort_key) is str and sort_key else None
            if path is not None and not all(part and not part.startswith("$") for part in path):
                path = None
            try:
                if path is None:
                    raise _Unsortable
                state, keys = _order_state(), []
                for doc in docs:
                    value = _candidate(doc, path) if type(doc) in _MAPPINGS else _MANY
                    if value is _MANY:
                        value = filtering.resolve_key(sort_key, doc)
                    if value is NOTHING:
                        keys.append((1, (_RANK_NULL, 0)))
                    elif isinstance(value, (tuple, list)):
                        keys.append((1, _order_part(value[0], state, 0)) if value else (0, (_RANK_NULL, 0)))
                    else:
                        keys.append((1, _order_part(value, state, 0)))
            except _Unsortable:
                total = False
                sorted_collection = sorted(
                    docs, key=lambda x, key=sort_key: filtering.resolve_sort_key(key, x), reverse=reverse)
            else:
                order = sorted(range(len(docs)), key=keys.__getitem__, reverse=reverse)
                sorted_collection = [docs[i] for i in order]
    return sorted_collection, total


def _keys(expression, docs, user_vars):
    """The engine's group key of each document (`_key_getter`: a missing value is None)."""
    evaluate = _compiled(expression)
    keys = []
    for doc in docs:
        key = evaluate(doc, user_vars)
        keys.append(None if key is NOTHING else key)
    return keys


def _group_stage(in_collection, database, options, user_vars):
    """The engine's `$group`, with its keys computed once and sorted without bson_compare where exact.

    The engine computes each document's key for its sort, then again for
    itertools.groupby, and accumulates each run of equal keys. Here the keys
    are computed once (the same expression on the same document gives the
    same key; an expression with `$function` goes to the engine), by
    _compiled, sorted and grouped by _sorted_runs (a null `_id`: one group
    of all, as the engine makes it) and accumulated by the engine's code
    (_accumulate_group, or the same over an _accumulator_plan) with
    _compiled expressions.
    """
    _id = options['_id']
    if _impure(_id):
        return _ENGINE_GROUP(in_collection, database, options, user_vars)
    docs = list(in_collection)
    if _id is None:
        grouped = [(None, docs)]  # one group, as the engine makes it
    else:
        grouped = _sorted_runs(docs, _keys(_id, docs, user_vars))
    plan = _accumulator_plan(options)
    compiled = {}
    grouped_collection = []
    for doc_id, group_list in grouped:
        if plan is not None:
            doc_dict = _accumulate_planned(plan, group_list, user_vars)
        else:
            doc_dict = _accumulate_group(options, group_list, user_vars, compiled)
        doc_dict['_id'] = doc_id
        grouped_collection.append(doc_dict)
    return grouped_collection


class _Windowed(list):
    """A `$setWindowFields` result: its partitions, in order, and how they were made.

    `made` is ((partitionBy, sortBy, [length of each partition]), the
    top-level fields the stage wrote) where every sort of the stage was one
    total order (_order_part's), else None.
    """

    made = None


def _reusable_partitions(in_collection, partition_key, sort):
    """The partitions of a `$setWindowFields` that follows one with the same partitionBy and sortBy, or None.

    The previous stage sorted its documents by the partition key and each
    partition by sortBy, both by one total order, and passed them on in that
    order with only its output fields added. If those fields are not ones
    the key or the sort reads, the engine's stable sorts of this input
    change nothing and its runs of equal keys are the previous stage's
    partitions, so those are taken as they are.
    """
    if type(in_collection) is not _Windowed or in_collection.made is None:
        return None
    (previous_key, previous_sort, lengths), written = in_collection.made
    if repr(previous_key) != repr(partition_key) or repr(previous_sort) != repr(sort):
        return None
    read = set()
    if not _expression_fields(partition_key, read) or read & written or set(map(_top, sort or {})) & written:
        return None
    partitions, at = [], 0
    for length in lengths:
        partitions.append(in_collection[at:at + length])
        at += length
    return partitions


def _set_window_fields_stage(in_collection, database, options, user_vars):
    """The engine's `$setWindowFields`, its partitions made by _sorted_runs; the rest is the engine's."""
    partition_key = options.get('partitionBy')
    if partition_key is None or _impure(partition_key):
        return _ENGINE_WINDOW(in_collection, database, options, user_vars)
    sort = options.get('sortBy')
    trivial = type(sort) is dict and all(type(key) is str for key in sort)
    partitions = _reusable_partitions(in_collection, partition_key, sort) if trivial or sort is None else None
    total = partitions is not None
    if partitions is None:
        docs = list(in_collection)
        # The engine evaluates the partition key without the pipeline's variables.
        runs, total = _runs_and_order(docs, _keys(partition_key, docs, None))
        partitions = [run for _, run in runs]
        if sort is not None:
            ordered = []
            for partition in partitions:
                if trivial and len(partition) < 2:
                    # A lone document of a string-keyed sort is returned as it is (_sort_stage).
                    ordered.append(list(partition))
                    continue
                partition, exact = _sorted_by(partition, sort)
                ordered.append(partition)
                total = total and exact
            partitions = ordered
    output_fields = options.get('output')
    if output_fields is None:
        raise mm_aggregate.OperationFailure('The "output" field is required for $setWindowFields')
    plan = _window_plan(output_fields)
    processed_partitions = []
    for partition in partitions:
        processed_partition = _accumulate_running(plan, partition) if plan is not None else None
        if processed_partition is None:
            processed_partition = mm_aggregate._accumulate_set_window_fields(output_fields, partition, options)
        processed_partitions.append(processed_partition)
    out = _Windowed(itertools.chain(*processed_partitions))
    if total and type(output_fields) is dict and (trivial or sort is None):
        written = {_top(field) for field in output_fields}
        if None not in written:
            out.made = ((partition_key, sort, [len(partition) for partition in processed_partitions]), written)
    return out


_RUNNING = frozenset({"$sum", "$max", "$min"})
_PREFIX, _THROUGH, _WHOLE = "prefix", "through", "whole"


def _window_plan(output_fields):
    """[(field, operator, compiled expression, extent)] when every output is a $sum, $max or $min over
    the whole partition, the documents before (["unbounded", -1]) or those up to the current one
    (["unbounded", "current" or 0]); else None (the engine's code then does it, errors included).

    The engine evaluates each output's expression on every document of the
    partition, without the pipeline's variables, and takes sum(), max() or
    min() of each window's non-null values, None for none. Over windows that
    all start at the partition's first document, max() and min() keep the
    first extreme found by the same comparisons as a running extreme does,
    and a running sum of ints is their sum(); _accumulate_running does that
    in one pass instead of one pass per document.
    """
    if type(output_fields) is not dict:
        return None
    plan = []
    for field, spec in output_fields.items():
        if type(spec) is not dict:
            return None
        operators = [key for key in spec if type(key) is str and key.startswith("$")]
        if len(operators) != 1 or operators[0] not in _RUNNING or set(spec) - {operators[0], "window"}:
            return None
        operator = operators[0]
        if _impure(spec[operator]):
            return None
        window = spec.get("window")
        if not window:
            extent = _WHOLE
        elif type(window) is dict and set(window) == {"documents"} and type(window["documents"]) is list \
                and len(window["documents"]) == 2 and window["documents"][0] == "unbounded":
            end = window["documents"][1]
            if end == "current" or (type(end) is int and end == 0):
                extent = _THROUGH
            elif type(end) is int and end == -1:
                extent = _PREFIX
            else:
                return None
        else:
            return None
        plan.append((field, operator, _compiled(spec[operator]), extent))
    return plan


_SUMMED = frozenset({int})
_COMPARED = (frozenset({int, float}), frozenset({datetime}))


def _one_kind_of_date(values):
    """Whether the dates among `values` are all naive or all aware, so that they compare."""
    if all(value is None or value.tzinfo is None for value in values):
        return True
    return len({value.utcoffset() is None for value in values if value is not None}) == 1


def _accumulate_running(plan, partition):
    """The engine's _accumulate_set_window_fields for a _window_plan, or None to leave it to the engine.

    None where a value is not one this pass gives exactly as the engine
    does: a missing value (the engine compares it), a $sum of anything but
    ints (sum() of floats may round differently from a running sum), or a
    $max / $min over values not all numbers or all dates of one kind.
    """
    outputs = []
    for field, operator, evaluate, extent in plan:
        values = [evaluate(doc, None) for doc in partition]
        present = {type(value) for value in values if value is not None}
        if operator == "$sum":
            if not present <= _SUMMED:
                return None
        elif not any(present <= kinds for kinds in _COMPARED):
            return None
        elif datetime in present and not _one_kind_of_date(values):
            return None
        results, current = [], None
        for value in values:
            if extent is _PREFIX:
                results.append(current)
            if value is not None:
                if current is None:
                    current = value
                elif operator == "$sum":
                    current = current + value
                elif operator == "$max":
                    if value > current:
                        current = value
                elif value < current:
                    current = value
            if extent is _THROUGH:
                results.append(current)
        if extent is _WHOLE:
            results = [current] * len(values)
        outputs.append((field, results))
    processed = [dict(doc) for doc in partition]
    for field, results in outputs:
        for doc, value in zip(processed, results):
            doc[field] = value
    return processed


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
# Numbers (int, Int64 and float but NaN, which the engine compares with
# Python's operators, bool being another BSON type) are ordered under one
# kind; only range operators take them as terms (`==` holds between True
# and 1).
_NUMBER = int
_NUMBERS = frozenset({int, Int64, float})
# Stored values that no equality clause on a datetime or a string, nor any
# range clause bounded by a datetime, a string or a number, can match, and
# that the engine compares with such a bound without raising: `==` is False
# across these types, and its range operators return False on two values of
# different BSON types (type bracketing) before comparing them; NaN is
# neither less nor more than anything. bytes is left out (`==` with a str
# warns under -b).
_UNORDERED = frozenset({type(None), bool, ObjectId, float})
# Decimal128 is a number to the engine, which raises comparing it with an
# int or a float (and with nothing else): irregular for number bounds only.
_DECIMAL = object()
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
    """datetime, str or _NUMBER when an ordered index can sort `value` as the engine compares it, else None.

    The engine compares two naive datetimes, two strings, or two numbers
    (not NaN) with Python's own operators, as a sorted list does. Aware
    datetimes raise against naive ones, so they are not ordered.
    """
    kind = type(value)
    if kind is str or (kind is datetime and value.tzinfo is None):
        return kind
    if kind in _NUMBERS and value == value:
        return _NUMBER
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
    """(type, low, high) of a clause that bounds its field with naive datetimes, strings or numbers, or None.

    The clause is an equality with a date or a string, or `$eq` / `$gt` /
    `$gte` / `$lt` / `$lte` operators all of one such type (numbers: no
    equality, no `$eq`). Bounds are inclusive (a
    strict bound only narrows what the engine's own check of the candidates
    keeps); None is unbounded.
    """
    kind = _ordered_type(value)
    if kind is not None:
        return (kind, value, value) if kind is not _NUMBER else None
    if not isinstance(value, Mapping) or not value:
        return None
    kind = low = high = None
    for op, operand in value.items():
        if op not in _LOWER and op not in _UPPER and op != "$eq":
            return None
        operand_kind = _ordered_type(operand)
        if (operand_kind is None or (kind is not None and operand_kind is not kind)
                or (operand_kind is _NUMBER and op == "$eq")):
            return None
        kind = operand_kind
        if op not in _UPPER:
            low = operand if low is None else max(low, operand)
        if op not in _LOWER:
            high = operand if high is None else min(high, operand)
    return kind, low, high


def _requirements(key, value):
    """What a clause needs of the collection to raise on no document, or None when it may raise anyway.

    A set of (top-level field, whether bounded by numbers): a range (or
    equality) of naive dates, strings or numbers, as _ordered_term takes,
    raises on no value of a field that holds no _IRREGULAR value, nor a
    Decimal128 for number bounds (other types are bracketed away; these
    compare with Python's operators); `_id` stands for every stored `_id`
    being of _SAFE_ID_TYPES, which no such bound raises on either.
    `$and` / `$or` / `$nor` need what their clauses need. A clause that
    _never_raises needs nothing.
    """
    if _never_raises(key, value):
        return frozenset()
    if key in _LOGICAL:
        if not isinstance(value, (list, tuple)) or not value:
            return None
        needs = set()
        for sub in value:
            if not isinstance(sub, Mapping) or not sub:
                return None
            for sub_key, sub_value in sub.items():
                more = _requirements(sub_key, sub_value)
                if more is None:
                    return None
                needs |= more
        return frozenset(needs)
    if not isinstance(key, str) or not key or key.startswith("$") or "." in key:
        return None
    term = _ordered_term(value)
    if term is None:
        return None
    return frozenset(((key, term[0] is _NUMBER),))


def _range_plan(spec):
    """What the ordered indexes need of a filter: (points, terms, end, needs), or None.

    points maps each top-level field the filter requires to be one of some
    plain values (the client among them) to (position, values); terms are
    (position, field, type, low, high) of the clauses _ordered_term accepts.
    The engine evaluates clauses in order and stops at the first that
    fails, so a document outside the candidates may have been tested
    against every clause before those that exclude it: `end` is the
    position of the first clause that could raise on some document. A term
    clause on a field with no _IRREGULAR value cannot, nor can the clauses
    of `needs`, (position, _requirements) of the others, where the
    collection meets their requirements: the store checks both.
    """
    if not isinstance(spec, dict):
        return None
    points, terms, needs = {}, [], []
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
            required = _requirements(key, value)
            if required is None:
                end = pos
                break
            needs.append((pos, required))
    if _PARTITION not in points or not terms:
        return None
    return points, terms, end, needs


# `_id` types no bound of _requirements raises on, and whose order (by
# type, then Python's) is total: the engine's sort by `_id` neither raises
# nor depends on its algorithm.
_SAFE_ID_TYPES = frozenset({str, ObjectId, int, Int64})


class _IdTypes:
    """The keys of the stored documents whose `_id` is not of _SAFE_ID_TYPES; kept like an _OrderedIndex."""

    __slots__ = ("odd", "writes")

    def __init__(self, documents):
        self.odd = {key for key, doc in documents.items() if type(doc.get("_id", NOTHING)) not in _SAFE_ID_TYPES}
        self.writes = 0

    def put(self, key, rank, doc):
        if type(doc.get("_id", NOTHING)) in _SAFE_ID_TYPES:
            self.odd.discard(key)
        else:
            self.odd.add(key)
        return True

    def remove(self, key):
        self.odd.discard(key)
        return True


class _Stale(Exception):
    """An ordered index found a document that no longer holds its entry's value."""


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

    __slots__ = ("field", "by", "runs", "entries", "irregular", "decimals", "unpartitioned", "writes")

    def __init__(self, field, by, documents, ranks):
        self.field = field
        self.by = by
        self.runs = {}         # (client, [second key,] type) -> sorted entries
        self.entries = {}      # document key -> its entry
        self.irregular = set()      # keys of documents holding an _IRREGULAR value of the field
        self.decimals = set()       # keys of documents holding a Decimal128 (_DECIMAL)
        self.unpartitioned = set()  # keys of documents this index cannot file
        self.writes = 0
        runs, entries, place_of = self.runs, self.entries, self._place
        ascending, last = True, -1  # whether the ranks come in increasing order
        for key, doc in documents.items():
            # _place, its commonest case inline: a date, string or number of a
            # document whose client is an int or a string, without second key.
            value = doc.get(field, NOTHING)
            kind = type(value)
            if kind is datetime:
                kind = datetime if value.tzinfo is None else None
            elif kind is not str:
                kind = _NUMBER if kind in _NUMBERS and value == value else None
            client = doc.get(_PARTITION, NOTHING)
            if kind is not None and by is None and (type(client) is int or type(client) is str):
                place = (client, kind), value
            else:
                place = place_of(doc)
                if place is _IRREGULAR:
                    self.irregular.add(key)
                    continue
                if place is _DECIMAL:
                    self.decimals.add(key)
                    continue
                if place is _UNPARTITIONED:
                    self.unpartitioned.add(key)
                    continue
                if place is None:
                    continue
            run = runs.get(place[0])
            if run is None:
                run = runs[place[0]] = []
            rank = ranks[key]
            if rank <= last:
                ascending = False
            last = rank
            entry = (place[1], rank, key, run)
            run.append(entry)
            entries[key] = entry
        for run in runs.values():
            # Appended in increasing rank: a stable sort by value alone gives
            # the (value, rank) order.
            run.sort(key=_VALUE) if ascending else run.sort()

    def _place(self, doc):
        """(run, value) of a stored document, None when no query of the index can match it, or a marker."""
        value = doc.get(self.field, NOTHING)
        kind = _ordered_type(value)
        if kind is None:
            if value is NOTHING or type(value) in _UNORDERED:
                return None
            if type(value) is Decimal128:
                return _DECIMAL
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
        self.decimals.discard(key)
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
        elif place is _DECIMAL:
            self.decimals.add(key)
        elif place is _UNPARTITIONED:
            self.unpartitioned.add(key)
        elif place is not None:
            run = self.runs.setdefault(place[0], [])
            entry = (place[1], rank, key, run)
            insort(run, entry)
            self.entries[key] = entry
        return True

    def size(self):
        return len(self.entries)

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

    def _index(self, field, by):
        """The ordered index of (field, by), built if missing; under the reader lock."""
        if self._ordered_of is not self._documents:
            self._ordered, self._ordered_of = {}, self._documents
        index = self._ordered.get((field, by))
        if index is None:
            if field == "_id" and by is _IdTypes:
                index = self._ordered[field, by] = _IdTypes(self._documents)
            else:
                index = self._ordered[field, by] = _OrderedIndex(field, by, self._documents, self._rank)
        index.writes = 0
        return index

    def _plan_options(self, points, terms, end, needs):
        """(end, [(position, field, found, index, low, high)]) for a _range_plan; under the reader lock.

        `end` is moved back to the first clause the collection does not make
        safe (a term on a field with an _IRREGULAR value, a clause whose
        requirements fail); `found` is the index's count() of the term's
        range (dates one millisecond wider: see below). Only options whose
        clauses all come before `end` are listed.
        """
        client_pos, clients = points[_PARTITION]
        seconds = {}
        for config in self.indexes.values():
            key = [part[0] for part in config.get("key", ())]
            if len(key) >= 3 and key[0] == _PARTITION and key[1] in points and key[1] != _PARTITION:
                seconds.setdefault(key[2], set()).add(key[1])
        options = []
        for pos, field, kind, low, high in terms:
            for by in (None, *sorted(seconds.get(field, ()))):
                index = self._index(field, by)
                if index.irregular or (kind is _NUMBER and index.decimals):
                    end = min(end, pos)
                elif not index.unpartitioned:
                    options.append((pos, field, index, kind, low, high))
        for pos, required in needs:
            if pos >= end:
                break
            for field, numbers in sorted(required):
                if field == "_id":
                    unsafe = self._index(field, _IdTypes).odd
                else:
                    index = self._index(field, None)
                    unsafe = index.irregular or (numbers and index.decimals)
                if unsafe:
                    end = pos
                    break
        found_all = []
        for pos, field, index, kind, low, high in options:
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
            found_all.append((pos, field, index.count(prefixes, kind, low, high), index, low, high))
        return end, found_all

    @staticmethod
    def _within(found_all, skip):
        """A test of an entry against the ranges of found_all other than `skip` (as count() takes them)."""
        tests = []
        for _, _, found, index, low, high in found_all:
            if found is skip or found[0] >= index.size():
                continue
            tests.append(({id(run) for run, _, _ in found[1]}, index.entries, low, high))

        def within(entry):
            for held, others, low, high in tests:
                other = others.get(entry[2])
                if (other is None or id(other[3]) not in held or (low is not None and other[0] < low)
                        or (high is not None and other[0] > high)):
                    return False
            return True
        return within if tests else None

    def ordered_lookup(self, points, terms, end, needs):
        """The stored documents the ordered indexes find for a _range_plan, in the engine's order.

        A superset of the documents the filter matches; None when no index
        can answer (the caller scans). The caller applies the filter to them
        and has already let TTL expiry run. Each term is looked up by client,
        and by client and a second field where a declared index leads with
        the client, that field and the term's; the fewest candidates win,
        less those outside the other terms' ranges (a document outside
        any term's range is no match either).
        """
        with self._rwlock.reader():
            end, found_all = self._plan_options(points, terms, end, needs)
            best = None
            for option in found_all:
                if best is None or option[2][0] <= best[0]:  # a tie goes to the later, narrower index
                    best = option[2]
            if best is None:
                return None
            entries = [entry for run, start, stop in best[1] for entry in run[start:stop]]
            within = self._within(found_all, best)
            if within is not None:
                entries = [entry for entry in entries if within(entry)]
            entries.sort(key=_RANK)
            documents = self._documents
            return [documents[entry[2]] for entry in entries]

    def ordered_walk(self, points, terms, end, needs, clauses, field, descending, by_id):
        """The stored documents of a _range_plan in runs of equal `field`, in that field's order; or None.

        For a find sorted by `field` (a term's, descending or not), then by
        `_id` or nothing (`by_id`). Yields lists of the candidate documents
        sharing one value of `field`, each in the engine's order, the lists
        in ascending (or descending) order of that value; where the caller
        stops reading, the documents after it are never touched. None where
        this would not be the engine's answer: unless no clause of the
        filter (`clauses` of them) can raise on any document (the engine
        filters every candidate before sorting), unless every `_id` is of
        _SAFE_ID_TYPES (it sorts them all by `_id` first), or where another
        term's range is far narrower (then the plain path is cheaper).
        A document whose value no longer is its entry's raises _Stale.
        """
        with self._rwlock.reader():
            end, found_all = self._plan_options(points, terms, end, needs)
            if end < clauses or (by_id and self._index("_id", _IdTypes).odd):
                return None
            best = fewest = None
            for option in found_all:
                count = option[2][0]
                if option[1] == field and (best is None or count <= best[2][0]):
                    best = option
                if fewest is None or count < fewest:
                    fewest = count
            if best is None or fewest * 64 < best[2][0]:
                return None
            slices = [run[start:stop] for run, start, stop in best[2][1]]
            within = self._within(found_all, best[2])
            documents = self._documents
        if descending:
            slices = [part[::-1] for part in slices]
        stream = slices[0] if len(slices) == 1 else heapq.merge(*slices, key=_VALUE, reverse=descending)
        return self._runs(stream, within, documents, field)

    @staticmethod
    def _runs(stream, within, documents, field):
        for value, entries in itertools.groupby(stream, key=_VALUE):
            if within is not None:
                entries = [entry for entry in entries if within(entry)]
            run = []
            for entry in sorted(entries, key=_RANK):
                doc = documents.get(entry[2])
                if doc is None:
                    raise _Stale
                held = doc.get(field, NOTHING)
                if type(held) is not type(value) or held != value:
                    raise _Stale
                run.append(doc)
            if run:
                yield run

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


def _walk_order(sort):
    """(field, descending, direction of a second `_id` key or None) of a sort the ordered walk gives, or None."""
    if isinstance(sort, dict):
        sort = list(sort.items())
    if not isinstance(sort, (list, tuple)) or not 0 < len(sort) <= 2:
        return None
    normalized = []
    for item in sort:
        if isinstance(item, str):
            key, direction = item, 1
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            key, direction = item
        else:
            return None
        if type(key) is not str or type(direction) is not int or direction not in (1, -1):
            return None
        normalized.append((key, direction))
    (field, direction), *rest = normalized
    if field == "_id" or field.startswith("$") or "." in field or (rest and rest[0][0] != "_id"):
        return None
    return field, direction < 0, rest[0][1] if rest else None


_collector = threading.Lock()
_collector_pauses = [0, False]  # pipelines running, whether the collector was on before the first


@contextlib.contextmanager
def _collector_paused():
    """The cyclic garbage collector off while a pipeline runs (on again after the last one ends).

    A pipeline's stages make new dicts and lists for every document and
    keep them to the next stage: the collector's thresholds count them as
    survivors and start full collections, each walking all of them again,
    which took half of a unique-sessions report's time. Documents and
    values hold no reference cycles, so reference counting frees all of it
    when the pipeline is done; nothing waits for the collector. Cycles
    made elsewhere meanwhile (by other threads) wait for the next collection
    after the last running pipeline ends.
    """
    with _collector:
        if not _collector_pauses[0]:
            _collector_pauses[1] = gc.isenabled()
            gc.disable()
        _collector_pauses[0] += 1
    try:
        yield
    finally:
        with _collector:
            _collector_pauses[0] -= 1
            if not _collector_pauses[0] and _collector_pauses[1]:
                gc.enable()


def _id_sort_key(doc):
    return filtering.resolve_sort_key("_id", doc)


class _Cursor(Cursor):
    """The engine's cursor, read by position; a sorted, limited find of a range reads only its head.

    A find sorted by a term's field (then maybe `_id`) with a limit gets its
    first skip + limit results from _walk where that is exact, computed at
    the first next() as the engine computes all of its results then; with
    no result the walk is made again on every next(), as the engine
    recomputes an empty result. Anything that needs the whole result
    (count, distinct, alive, explain, indexing, a limit or skip raised after
    reading began) computes it then, as the engine would have at the first
    next(): the same documents unless the collection changed in between.
    """

    def __next__(self):
        skip, limit = self._skip, self._limit
        if type(skip) is not int or skip < 0 or (limit is not None and type(limit) is not int):
            return super().__next__()
        if limit and (not self._results or self._factory_last_generated_results != self._factory):
            head = self._head_results(skip + abs(limit))
            if head is not None:
                docs, complete = head
                if self._emitted >= abs(limit):
                    raise StopIteration
                position = skip + self._emitted
                if position < len(docs):
                    self._emitted += 1
                    return _cast_document_class(docs[position], self.collection.codec_options.document_class)
                if complete:
                    raise StopIteration
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
            with _collector_paused():
                self._materialize()
        results = self._results
        if with_limit_and_skip:
            results = results[self._skip:]
            if self._limit:
                results = results[:abs(self._limit)]
        return results

    def _materialize(self):
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

    def _head_results(self, wanted):
        """(the first `wanted` results or fewer, whether they are all of them), or None where not walked."""
        head = getattr(self, "_head", None)
        if head is not None and head[0] is self._factory and head[1]:
            return head[1], head[2]
        walked = self._walk(wanted)
        if walked is None:
            return None
        self._head = (self._factory, *walked)
        return walked

    def _walk(self, wanted):
        """The first `wanted` results of a sorted find as the engine gives them, and whether that is all; or None.

        The engine filters every candidate, sorts the matches by `_id` and
        then by the field (stable sorts), and copies them all. Where no
        clause of the filter can raise on any document, every `_id` sorts
        without raising in one total order, the projection is plain (it
        raises on every document or on none), and the field is a term's with
        an ordered index: the index gives the candidates by field value,
        each run of equal values in the engine's order; the run's matches
        sorted by `_id` (stable) are where the engine puts them, so the walk
        stops once it has `wanted`.
        """
        factory = self._factory
        if not _plain_factory(factory):
            return None
        collection = factory.func.__self__
        spec, sort, projection = factory.args[:3]
        store = collection._store
        if (not isinstance(store, _CollectionStore) or not isinstance(spec, dict) or not spec
                or not _plain_projection(projection) or (projection and any("." in key for key in projection))):
            return None
        order = _walk_order(sort)
        if order is None or _point_ids(spec) is not None:
            return None
        try:
            near, _ = extract_near_specs(spec)
        except Exception:
            return None
        plan = _range_plan(spec)
        # is_empty lets TTL expiry run before the index is read.
        if near or plan is None or store.is_empty:
            return None
        field, descending, by_id = order
        runs = store.ordered_walk(*plan, len(spec), field, descending, by_id is not None)
        if runs is None:
            return None
        matched, complete, matches = [], True, _matcher(spec)
        try:
            for run in runs:
                hits = [doc for doc in run if matches(doc)]
                if by_id is not None and len(hits) > 1:
                    hits.sort(key=_id_sort_key, reverse=by_id < 0)
                matched += hits[:wanted - len(matched)]
                if len(matched) >= wanted:
                    complete = False
                    break
        except _Stale:
            return None
        # What _get_dataset and _iter_documents record.
        _profiler_set_sort(sort)
        get_profiler().record(spec, collection.full_name, _profiler_get_operation(),
                              dict(collection._list_all_indexes()) if store.is_created else {},
                              sort=_profiler_get_sort())
        as_class = _AwareCopies if self.collection.codec_options.tz_aware else dict
        out = []
        for doc in matched:
            copied = collection._copy_only_fields(doc, projection, as_class, filter=spec)
            if copied is not None:
                out.append(copied)
        return out, complete

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
            # is_empty lets TTL expiry run before the index is read.
            if store.is_empty:
                return super()._iter_documents(filter)
            plan = _range_plan(filter)
            if plan is not None:
                docs = store.ordered_lookup(*plan)
            if docs is None:
                # The engine's scan: every document, each tested by _matcher
                # (its filter_applies, without walking the filter anew).
                docs = list(store.documents)
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
        matches = _matcher(filter)
        return (doc for doc in docs if matches(doc))

    def find(self, *args, **kwargs):
        return _adopt(super().find(*args, **kwargs), Cursor, _Cursor)

    def _insert(self, data, session=None, ordered=True, validate=True):
        """The engine's insert; one document's steps are its own, with faster equals
        of its field-name check and of its date patching (_patched)."""
        store = self._store
        if not isinstance(data, Mapping) or not isinstance(store, _CollectionStore):
            return super()._insert(data, session, ordered, validate)  # a list comes back here per item
        mm_collection._enroll_session(session, store)
        if not all(isinstance(k, str) for k in data):
            raise ValueError("Document keys must be strings")
        if mm_collection.BSON:
            _check_field_names(data)
            mm_collection._bson_encode(data, check_keys=False, codec_options=self._codec_options)
        if "_id" not in data:
            data["_id"] = ObjectId()
        object_id = data["_id"]
        if isinstance(object_id, dict):
            object_id = helpers.hashdict(object_id)
        if object_id in store:
            raise mm_collection.DuplicateKeyError(
                "E11000 Duplicate Key Error", 11000, {"keyPattern": {"_id": 1}, "keyValue": {"_id": data["_id"]}})
        data = _patched(data)
        if validate:  # it only reads the options: no copy of them (self.options()) per document
            mm_collection.validate_against_validator(data, self._store.options)
        store[object_id] = data
        try:
            self._ensure_uniques(data)
        except mm_collection.DuplicateKeyError:
            del store[object_id]
            raise
        return data["_id"]

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

    def aggregate(self, pipeline, session=None, **kwargs):
        with _collector_paused():
            return self._aggregate(pipeline, session, **kwargs)

    def _aggregate(self, pipeline, session=None, **unused_kwargs):
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
        matches = _matcher(spec)
        # Only the fields the pipeline's result depends on are copied.
        needs = _pipeline_needs(pipeline)
        selected = []
        for doc in docs:
            if matches(_fields_view(doc, fields, tz_aware)):
                selected.append(_copy_out(doc, tz_aware, needs))
        if not _applied_whole(clauses, pipeline[0]["$match"]):
            return _run_pipeline(selected, self.database, pipeline, session)
        # Every clause of the stage was applied above, to what the stage
        # compares: the stage would keep exactly `selected`, in its order.
        # What it records before filtering:
        get_profiler().record(spec, f"{self.database.name}.<aggregate>", "aggregate")
        return _run_pipeline(selected, self.database, pipeline[1:], session)


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
