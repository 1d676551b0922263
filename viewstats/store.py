"""The only module that talks to MongoDB.

It owns the client (one per process, recreated after a fork so RQ work
horses never share sockets with their parent), the database and collection
names, the declared indexes, the raw-data retention and the write path.
Every other module asks for a collection here and passes a filter that
starts with `client_id`, the shard-key prefix.

With no MongoDB configured the embedded in-process engine (mongomock-ng,
made fit for the job by embedded.py) is used. It is for demos and tests:
each process sees its own data, kept on disk only in the demo's folder
(VIEWSTATS_EMBEDDED_PATH).
"""
import logging
import os
import threading
from datetime import timedelta

import pymongo
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import BulkWriteError, PyMongoError

from . import examined as _metering
from .conf import setting
from .documents import utcnow

logger = logging.getLogger(__name__)

SESSIONS = "sessions"
MEDIA_EVENTS = "media_events"
PUSH_STATE = "push_state"
DAILY_STATS = "daily_stats"
DAILY_DIRTY = "daily_dirty"
# Device classes of User-Agent strings, shared by every process of a
# deployment (viewstats/enrich/uacache.py): one document per
# (User-Agent, X-User-Agent) hash, plus the reclassification checkpoints.
UA_CACHE = "ua_cache"
# Pre-aggregated viewing per operator-local day (viewstats/rollups.py) and
# each client's fill state.
ROLLUPS = "rollups"
ROLLUP_STATE = "rollup_state"

# Sessions longer than this (a box left playing for days: pushes have no
# length cap) are also kept in the small partial `client_long_*` indexes, so
# a query over a time window needs to look only this far past it on the
# other indexes and finds the longer sessions there.
LONG_SESSION_SECONDS = 86400

# Declared indexes per collection. `client_id` leads every one so that each
# query stays on one tenant's chunk range once the collection is sharded on
# {client_id: 1, _id: 1} (README, "Scaling").
INDEXES = {
    SESSIONS: [
        # With `_id` the index also gives the order of the session list's
        # pages, ties included (reports/sessions.py); it serves everything
        # (client_id, start) did, and the shard key.
        IndexModel([("client_id", ASCENDING), ("start", ASCENDING), ("_id", ASCENDING)],
                   name="client_start_id"),
        IndexModel([("client_id", ASCENDING), ("end", ASCENDING)], name="client_end"),
        IndexModel([("client_id", ASCENDING), ("end", ASCENDING), ("_id", ASCENDING)],
                   name="client_end_id"),
        IndexModel([("client_id", ASCENDING), ("end", ASCENDING), ("_id", ASCENDING)],
                   name="client_long_end_id",
                   partialFilterExpression={"duration": {"$gt": LONG_SESSION_SECONDS}}),
        IndexModel([("client_id", ASCENDING), ("start", ASCENDING)], name="client_long_start",
                   partialFilterExpression={"duration": {"$gt": LONG_SESSION_SECONDS}}),
        IndexModel([("client_id", ASCENDING), ("channel_id", ASCENDING), ("start", ASCENDING)],
                   name="client_channel_start"),
        IndexModel([("client_id", ASCENDING), ("account_id", ASCENDING), ("start", DESCENDING)],
                   name="client_account_start"),
        IndexModel([("client_id", ASCENDING), ("push_key", ASCENDING), ("start", DESCENDING)],
                   name="client_pushkey_start", sparse=True),
        IndexModel([("client_id", ASCENDING), ("device_key", ASCENDING), ("end", DESCENDING)],
                   name="client_devicekey_end", sparse=True),
        # What arrived since a watermark (late uploads and resent backlogs
        # that cached statistics must take in).
        IndexModel([("client_id", ASCENDING), ("received_at", ASCENDING)], name="client_received"),
        IndexModel([("client_id", ASCENDING), ("updated_at", ASCENDING)], name="client_updated"),
        # Raw session list filtered by viewer address (reports).
        IndexModel([("client_id", ASCENDING), ("ip", ASCENDING), ("start", ASCENDING)],
                   name="client_ip_start"),
    ],
    # Daily statistics per (client, server, day), replaced when a day is recomputed.
    DAILY_STATS: [
        IndexModel([("client_id", ASCENDING), ("day", ASCENDING), ("server", ASCENDING)],
                   name="client_day_server"),
    ],
    # A report reads a client's cells of a range of days.
    ROLLUPS: [
        IndexModel([("client_id", ASCENDING), ("day", ASCENDING)], name="client_day"),
    ],
    # Days whose daily statistics must be recomputed (late or resent data).
    DAILY_DIRTY: [
        IndexModel([("client_id", ASCENDING), ("day", ASCENDING)], name="client_day"),
    ],
    # One small document per pushing device: where its open session is. It
    # is only needed while the device pushes, so it expires a day after the
    # last push by the wall clock (`seen_at`, not the event time).
    PUSH_STATE: [
        IndexModel([("seen_at", ASCENDING)], name="push_state_ttl", expireAfterSeconds=86400),
    ],
    MEDIA_EVENTS: [
        IndexModel([("client_id", ASCENDING), ("session_id", ASCENDING)], name="client_session"),
        # Events stored but not yet in their session (viewstats/mediaserver.py).
        IndexModel([("client_id", ASCENDING), ("session_id", ASCENDING)], name="client_session_pending",
                   partialFilterExpression={"pending": True}),
    ],
    # Strings waiting for their full classification, oldest first.
    UA_CACHE: [
        IndexModel([("state", ASCENDING), ("first_seen", ASCENDING)], name="state_first_seen"),
    ],
}
RETENTION_INDEX = "retention_ttl"
RETENTION_FIELD = {SESSIONS: "end", MEDIA_EVENTS: "stored_at"}
# Which setting keeps each collection's raw data how long (days; None = forever).
RETENTION_SETTING = {SESSIONS: "VIEWSTATS_RAW_RETENTION_DAYS",
                     MEDIA_EVENTS: "VIEWSTATS_MEDIA_EVENT_RETENTION_DAYS"}

_lock = threading.Lock()
_client = None
_client_pid = None
_embedded_warned = False


class StoreUnavailable(Exception):
    """The statistics database cannot be reached."""


def is_embedded():
    return not (setting("MONGODB_URI") or setting("MONGODB_HOST"))


def _new_client():
    global _embedded_warned
    if is_embedded():
        from . import embedded

        path = setting("VIEWSTATS_EMBEDDED_PATH")
        if not _embedded_warned:
            logger.warning("No MongoDB configured: using the embedded in-process engine, which %s. "
                           "Set MONGODB_URI for production.",
                           f"loads and saves {path} (one process only)" if path else "keeps nothing on disk")
            _embedded_warned = True
        # Every call on an embedded collection holds _embedded_lock (below);
        # a save takes it too, so that no write lands inside a snapshot.
        return embedded.new_client(path, guard=_embedded_lock)
    options = {"tz_aware": True, "connect": False, "appname": "viewstats"}
    uri = setting("MONGODB_URI")
    # How long a call waits for an unreachable server before it fails (and
    # the API answers 503 / error 2). The URI's own values win; ours fill in
    # only what it leaves out, since keyword options would override it.
    given = uri_option_names(uri) if uri else set()
    for name, value in timeout_defaults().items():
        if name.lower() not in given:
            options[name] = value
    if uri:
        return pymongo.MongoClient(uri, **options)
    if setting("MONGODB_USERNAME"):
        options.update(username=setting("MONGODB_USERNAME"), password=setting("MONGODB_PASSWORD"),
                       authSource=setting("MONGODB_NAME"))
        if setting("MONGODB_AUTH_METHOD"):
            options["authMechanism"] = setting("MONGODB_AUTH_METHOD")
    return pymongo.MongoClient(setting("MONGODB_HOST"), int(setting("MONGODB_PORT")), **options)


def timeout_defaults():
    ms = int(setting("VIEWSTATS_MONGODB_TIMEOUT_MS"))
    return {"serverSelectionTimeoutMS": ms, "connectTimeoutMS": ms}


def uri_option_names(uri):
    """Lower-cased names of the options in a MongoDB URI's query string."""
    query = uri.split("?", 1)[1] if "?" in uri else ""
    return {part.split("=", 1)[0].strip().lower() for part in query.replace(";", "&").split("&") if part}


def get_client():
    global _client, _client_pid
    pid = os.getpid()
    if _client is None or _client_pid != pid:
        with _lock:
            if _client is None or _client_pid != pid:
                # A forked child must not reuse the parent's sockets; the
                # embedded engine's data is per process anyway.
                _client = _new_client()
                _client_pid = pid
    return _client


def reset():
    """Forget the client (tests; settings changes)."""
    global _client, _client_pid
    with _lock:
        if _client is not None and not is_embedded():
            _client.close()
        _client = None
        _client_pid = None


def get_db():
    return get_client()[setting("MONGODB_NAME")]


class _SerializedCollection:
    """A collection of the embedded engine, one call at a time.

    The embedded engine is not thread-safe: under a threaded server two
    inserts of one `_id` can both succeed, and an aggregate can copy a
    collection while another thread writes it. Every call on it therefore
    holds one process-wide lock. A real MongoDB needs none: its unique `_id`
    index is what makes a resent or concurrent write a duplicate.

    Planner options are dropped here, so callers pass the `hint` a real
    server needs on every engine (and the meter in examined.py sees it).
    """

    def __init__(self, coll):
        self._coll = coll

    def __getattr__(self, name):
        attr = getattr(self._coll, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            for option in _PLANNER_OPTIONS:
                kwargs.pop(option, None)
            with _embedded_lock:
                return attr(*args, **kwargs)
        return call


# An engine without indexes or a sort memory limit has no use for them (and
# rejects a hint on some calls).
_PLANNER_OPTIONS = ("hint", "allowDiskUse")


_embedded_lock = threading.RLock()


def collection(name):
    coll = get_db()[name]
    coll = _SerializedCollection(coll) if is_embedded() else coll
    return _metering.wrap(coll, name) if _metering.active() else coll


def examined(all_threads=False):
    """`with store.examined() as meter:` counts the documents the queries inside examine.

    See viewstats/examined.py. Only collections obtained inside the `with`
    are metered; `all_threads=True` meters every thread of the process.
    """
    return _metering.Meter(all_threads=all_threads)


def sessions():
    return collection(SESSIONS)


def ensure_indexes():
    """Create the declared indexes and the retention TTL; return their names.

    Idempotent. A changed retention is applied with collMod on a real server
    and by recreating the index on the embedded engine.
    """
    created = []
    db = get_db()
    for name, models in INDEXES.items():
        coll = db[name]
        created += coll.create_indexes(models)
        if name not in RETENTION_FIELD:
            continue
        days = setting(RETENTION_SETTING[name])
        existing = coll.index_information().get(RETENTION_INDEX)
        if days:
            seconds = int(days) * 86400
            key = [(RETENTION_FIELD[name], ASCENDING)]
            if existing and (existing.get("expireAfterSeconds") != seconds
                             or [tuple(k) for k in existing.get("key", [])] != key):
                coll.drop_index(RETENTION_INDEX)
                existing = None
            if not existing:
                coll.create_index([(RETENTION_FIELD[name], ASCENDING)], name=RETENTION_INDEX,
                                  expireAfterSeconds=seconds)
            created.append(RETENTION_INDEX)
        elif existing:
            coll.drop_index(RETENTION_INDEX)
    return created


def insert_unordered(name, docs):
    """Insert `docs` in one unordered bulk write.

    Returns (inserted_positions, duplicate_positions): positions index `docs`.
    A duplicate `_id` is how a resent item is recognised, so it is not an
    error. Any other failure raises StoreUnavailable.
    """
    if not docs:
        return [], []
    try:
        collection(name).insert_many(docs, ordered=False)
        return list(range(len(docs))), []
    except BulkWriteError as exc:
        duplicates, other = [], []
        for error in exc.details.get("writeErrors", []):
            (duplicates if error.get("code") == 11000 else other).append(error["index"])
        if other:
            raise StoreUnavailable(f"{len(other)} writes failed") from exc
        dup = set(duplicates)
        return [i for i in range(len(docs)) if i not in dup], sorted(dup)
    except PyMongoError as exc:
        raise StoreUnavailable(str(exc)) from exc


def holds_sessions():
    """Whether any client's sessions are in this database (the embedded guard's question)."""
    from . import host

    ids = host.all_client_ids()
    return bool(ids) and sessions().find_one({"client_id": {"$in": ids}}, {"_id": 1}) is not None


def ping():
    try:
        get_client().admin.command("ping")
        return True
    except PyMongoError:
        return False
    except Exception:  # the embedded engine has no admin database
        return is_embedded()


# ------------------------------------------------------------ shared UA cache
# Small helpers for viewstats/enrich/uacache.py and enrich/reclassify.py.

def ua_cache_get(key):
    return collection(UA_CACHE).find_one({"_id": key})


def ua_cache_done(key, ua, version, user_agent, x_user_agent, now):
    """Store a string's full classification (`ua` as sessions carry it)."""
    collection(UA_CACHE).update_one(
        {"_id": key},
        {"$set": {"ua": ua, "version": version, "state": "done", "done_at": now},
         "$setOnInsert": {"user_agent": user_agent, "x_user_agent": x_user_agent, "first_seen": now},
         "$unset": {"claimed_at": "", "claimed_by": ""}},
        upsert=True)


def ua_cache_pending(key, user_agent, x_user_agent, now):
    """Record a never-seen string whose full classification is still to come."""
    collection(UA_CACHE).update_one(
        {"_id": key},
        {"$setOnInsert": {"user_agent": user_agent, "x_user_agent": x_user_agent, "state": "pending",
                          "first_seen": now}},
        upsert=True)


def ua_cache_waiting(limit):
    """Pending strings, oldest first."""
    return list(collection(UA_CACHE).find({"state": "pending"}).sort("first_seen", ASCENDING).limit(limit))


def ua_cache_claim(key, owner, now, stale_before):
    """Take a pending string for classification unless another worker holds it."""
    return collection(UA_CACHE).find_one_and_update(
        {"_id": key, "state": "pending",
         "$or": [{"claimed_at": {"$exists": False}}, {"claimed_at": {"$lt": stale_before}}]},
        {"$set": {"claimed_at": now, "claimed_by": owner}})


def ua_fill_sessions(client_id, since, key, ua):
    """Give a client's sessions received since `since` that wait for `key` their device fields."""
    result = sessions().update_many(
        {"client_id": client_id, "received_at": {"$gte": since}, "ua_hash": key, "ua_pending": True},
        # updated_at: the rollups regroup the days whose device cells changed.
        {"$set": {"ua": ua, "updated_at": utcnow()}, "$unset": {"ua_pending": ""}})
    return result.modified_count


def ua_pending_sessions(client_id, since, limit):
    """A client's sessions received since `since` still waiting for their device fields."""
    return list(sessions().find(
        {"client_id": client_id, "received_at": {"$gte": since}, "ua_pending": True},
        {"_id": 1, "ua_hash": 1, "user_agent": 1, "x_user_agent": 1}).limit(limit))


def ua_session_batch(client_id, after_id, limit, pending_only=False):
    """The next `limit` sessions of a client after `after_id`, by _id (reclassification)."""
    query = {"client_id": client_id}
    if after_id is not None:
        query["_id"] = {"$gt": after_id}
    if pending_only:
        query["ua_pending"] = True
    return list(sessions().find(query, {"_id": 1, "user_agent": 1, "x_user_agent": 1, "ua": 1, "ua_hash": 1})
                .sort("_id", ASCENDING).limit(limit))


def ua_set_sessions(client_id, updates):
    """Apply (session _id, fields) device updates in one unordered bulk write."""
    if not updates:
        return 0
    now = utcnow()
    ops = [pymongo.UpdateOne({"client_id": client_id, "_id": _id},
                             {"$set": {**fields, "updated_at": now}, "$unset": {"ua_pending": ""}})
           for _id, fields in updates]
    return sessions().bulk_write(ops, ordered=False).modified_count


def ua_client_ids():
    """The clients that have sessions (a DISTINCT_SCAN of the client_id-prefixed indexes)."""
    return [c for c in sessions().distinct("client_id") if c is not None]


def ua_checkpoint(name):
    return collection(UA_CACHE).find_one({"_id": f"checkpoint:{name}"})


def ua_save_checkpoint(name, fields):
    collection(UA_CACHE).update_one({"_id": f"checkpoint:{name}"},
                                    {"$set": {**fields, "state": "checkpoint"}}, upsert=True)


def ua_drop_checkpoint(name):
    collection(UA_CACHE).delete_one({"_id": f"checkpoint:{name}"})


def sessions_aggregate(pipeline, hint=None):
    """Aggregate over sessions, naming the index a real server must use.

    The hint matters where the planner could pick an index that walks the
    client's whole history; big groupings may spill to disk. The embedded
    engine takes neither option (_SerializedCollection drops them).
    """
    options = {"allowDiskUse": True}
    if hint:
        options["hint"] = hint
    return sessions().aggregate(pipeline, **options)


def latest_session_start(client_id):
    """When the client's latest session started, or None without any (one index key read)."""
    doc = next(iter(sessions().find({"client_id": client_id}, {"start": 1})
                    .sort([("start", DESCENDING), ("_id", DESCENDING)]).hint("client_start_id").limit(1)),
               None)
    return doc["start"] if doc else None


def save_embedded():
    """Write the embedded engine's data to VIEWSTATS_EMBEDDED_PATH now (nothing without it)."""
    from .embedded import save
    return save()


def mark_daily_dirty(client_id, day):
    """Mark a client's local day (a date) for its daily statistics to be recomputed.

    `v` counts the marks, so a recomputation clears only the mark it saw.
    client_id is in the filter: it leads the shard key, and an upsert on a
    sharded collection must name the whole key.
    """
    collection(DAILY_DIRTY).update_one({"client_id": client_id, "_id": f"{client_id}:{day}"},
                                       {"$set": {"day": day.isoformat()}, "$inc": {"v": 1}}, upsert=True)


def ending_after(client_id, after, upto, inclusive=False, **conditions):
    """[(filter, index)] of a client's sessions ending after `after` that started before `upto`.

    Together the filters hold every such session, once: those ending up to
    `upto` + LONG_SESSION_SECONDS on `client_end_id` (a range bounded on both
    sides, so an old window never walks the history after it), and the
    longer ones ending later on the partial `client_long_end_id`, which
    holds only sessions longer than that. `inclusive` also takes sessions
    ending exactly at `after` (a zero-length session at a day's midnight);
    `conditions` are added to both filters (`start` included).
    """
    cut = upto + timedelta(seconds=LONG_SESSION_SECONDS)
    low = {"$gte" if inclusive else "$gt": after}
    return [
        ({"client_id": client_id, "end": {**low, "$lte": cut}, **conditions}, "client_end_id"),
        # Naming the duration is what lets the partial index serve this part.
        ({"client_id": client_id, "end": {"$gt": max(after, cut)}, **conditions,
          "duration": {"$gt": LONG_SESSION_SECONDS}}, "client_long_end_id"),
    ]


# ------------------------------------------------------------------ monitoring
# What viewstats/metrics.py reads when Prometheus scrapes: never sessions.

def push_sessions_open(since, limit):
    """Devices whose last stat/push was stored at or after `since` (wall clock): their session is open.

    A count on the push-state TTL index (`seen_at`), stopped at `limit`
    keys, so a scrape's cost is bounded whatever the size of the base.
    """
    return collection(PUSH_STATE).count_documents({"seen_at": {"$gte": since}}, limit=limit,
                                                  hint="push_state_ttl")


def rollup_fill_times():
    """{client_id: when its rollups were last filled (wall clock), or None} (one document per client)."""
    return {d["client_id"]: d.get("filled_at")
            for d in collection(ROLLUP_STATE).find({}, {"client_id": 1, "filled_at": 1})}
