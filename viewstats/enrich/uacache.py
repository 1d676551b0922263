"""A string is classified once per deployment, and never slowly inside a request.

    request ──> process cache (bounded dict, ~0.3 µs)
                  └─ miss ──> MongoDB `ua_cache` (one point read by hash; skipped
                              on the embedded engine, which is per process)
                                └─ miss ──> our fast rules (≈ 0.5 ms)
                                              ├─ complete: stored as done
                                              └─ not: stored as pending, the session
                                                 gets the rules' provisional fields
                                                 and `ua_pending: true`
                 (in the deferred mode the filler thread does these writes)
    filler (background thread, or the reclassify command) ──> the device
        database classifies pending strings, stores them as done, and sets the
        waiting sessions' `ua` (received since the string was first seen,
        through the client_id + received_at index), unsetting `ua_pending`.

Every session carries `ua_hash`, the key of its strings in `ua_cache`. Cache
entries carry the classifier version (`devices.RULES_VERSION` and the device
database's name and version); an entry of another version is a miss, so a
rules or database update reclassifies strings as they come, and the
reclassify command refreshes stored sessions.

A lost race (a session stored just after its string was filled, by a request
that read the cache before) is caught by the filler's sweep of recent
pending sessions and, whatever happened, by `viewstats_reclassify_devices
--pending`.
"""
import logging
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass
from datetime import timedelta, timezone

from pymongo.errors import PyMongoError

from .. import store
from ..conf import setting
from ..documents import utcnow
from . import devices, uadb

log = logging.getLogger(__name__)

FILL_BATCH = 200
# Sessions are matched from a little before their string was first seen: the
# clocks of two web processes need not agree to the second.
CLOCK_MARGIN = timedelta(minutes=5)
CLAIM_LEASE = timedelta(minutes=2)
SWEEP_EVERY = timedelta(seconds=60)
SWEEP_WINDOW = timedelta(minutes=30)
RECHECK_PENDING = timedelta(seconds=5)
# A request that read "pending" just before the string was filled stores its
# session a moment later: the filler fills each string's sessions once more
# after this delay (and the sweep catches anything later still).
REFILL_AFTER = timedelta(seconds=2)


@dataclass(frozen=True)
class Entry:
    ua: dict          # the session's `ua` fields
    key: str          # ua_hash
    pending: bool
    checked_at: float = 0.0

    def fields(self):
        out = {"ua": dict(self.ua), "ua_hash": self.key}
        if self.pending:
            out["ua_pending"] = True
        return out


def _version():
    return f"{devices.RULES_VERSION}:{_database_version()}"


_db_version = None


def _database_version():
    global _db_version
    if _db_version is None:
        name = uadb.name()
        try:
            from importlib.metadata import version
            _db_version = f"{name}-{version(name)}"
        except Exception:
            _db_version = name
    return _db_version


def version():
    """What a cache entry must say to be current."""
    return _version()


def _now():
    # The sessions' own clock (simulations such as the demo replace it), so
    # that `first_seen` and the sessions' `received_at` compare.
    return utcnow()


# ------------------------------------------------------------ process cache
_local = {}
_local_lock = threading.Lock()
_stats = {"hits": 0, "misses": 0, "shared_hits": 0, "pending": 0}


def _remember(key, entry):
    limit = int(setting("VIEWSTATS_UA_LOCAL_CACHE_SIZE"))
    with _local_lock:
        if len(_local) >= limit and key not in _local:
            # Drop the oldest eighth: cheap, and keeps the busy strings (they
            # come back at once and are re-added from the shared cache).
            for old in list(_local)[: max(1, limit // 8)]:
                _local.pop(old, None)
        _local[key] = entry


def clear_local():
    """Forget this process's cache (tests, after a rules update)."""
    with _local_lock:
        _local.clear()
    _clients["ids"] = None
    _refill.clear()
    _writes.clear()
    for name in _stats:
        _stats[name] = 0


def stats():
    total = _stats["hits"] + _stats["misses"]
    return {**_stats, "size": len(_local), "hit_ratio": _stats["hits"] / total if total else 0.0}


# ------------------------------------------------------------- the lookup
def lookup(user_agent, x_user_agent=None):
    """The Entry for a header pair: fast for a known string, never slow for a new one."""
    key = (user_agent or "", x_user_agent or "")
    entry = _local.get(key)
    if entry is not None and (not entry.pending or _fresh(entry)):
        _stats["hits"] += 1
        return entry
    _stats["misses"] += 1
    return _miss(key, entry)


def session_fields(user_agent, x_user_agent=None):
    """The device fields a session stores: ua, ua_hash and, while provisional, ua_pending."""
    return lookup(user_agent, x_user_agent).fields()


def _fresh(entry):
    return (_clock() - entry.checked_at) < RECHECK_PENDING.total_seconds()


def _clock():
    return time.monotonic()


def _shared(key):
    try:
        doc = store.ua_cache_get(key)
    except PyMongoError as exc:
        log.debug("ua_cache unreachable: %s", exc)
        return None
    if doc and doc.get("state") == "done" and doc.get("version") == _version():
        return doc
    return None


def _miss(pair, previous):
    ua, xua = devices.normalize(pair[0]), devices.normalize(pair[1])
    key = devices.ua_hash(ua, xua)
    # The embedded engine is one per process: nothing another process wrote
    # is in it, so it is not read on the request path (it scans).
    doc = None if store.is_embedded() and previous is None else _shared(key)
    if doc is not None:
        _stats["shared_hits"] += 1
        entry = Entry(doc["ua"], key, False)
        _remember(pair, entry)
        return entry
    mode = setting("VIEWSTATS_UA_CLASSIFY")
    if previous is not None:  # still pending: keep the provisional answer
        entry = Entry(previous.ua, key, True, _clock())
        _write(mode, ("pending", key, ua, xua or None, None))  # again: the database may have been emptied
        _remember(pair, entry)
        return entry
    if mode == "inline":
        info, complete = devices.classify(ua, xua), True
    else:
        info, complete = devices.quick(ua, xua)
    entry = Entry(info.as_dict(), key, not complete, _clock())
    _remember(pair, entry)
    _write(mode, ("done", key, ua, xua or None, entry.ua) if complete else ("pending", key, ua, xua or None, None))
    if not complete:
        _stats["pending"] += 1
    return entry


# Cache writes of the deferred mode wait here for the filler thread, so a
# never-seen string costs the request no database round trip at all.
_writes = []


def _write(mode, item):
    if mode == "deferred":
        if len(_writes) < 100000:
            _writes.append((item, _now()))
        _worker.wake()
        return
    _apply_write(item, _now())


def _apply_write(item, now):
    state, key, ua, xua, fields = item
    try:
        if state == "done":
            store.ua_cache_done(key, fields, _version(), ua, xua, now)
        else:
            store.ua_cache_pending(key, ua, xua, now)
    except PyMongoError as exc:  # the session write will report the outage
        log.debug("ua_cache write failed: %s", exc)


def flush_writes():
    """Apply the cache writes queued by requests (the filler does this first)."""
    while _writes:
        item, at = _writes.pop(0)
        _apply_write(item, at)


# ------------------------------------------------------------ the filler
def _owner():
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def classify_and_store(key, user_agent, x_user_agent, now=None):
    """Classify one string fully, store it as done, and update this process's cache."""
    info = devices.classify(user_agent, x_user_agent)
    ua = info.as_dict()
    store.ua_cache_done(key, ua, _version(), user_agent, x_user_agent, now or _now())
    _remember((user_agent or "", x_user_agent or ""), Entry(ua, key, False))
    return ua


_clients = {"ids": None, "at": 0.0}
CLIENTS_TTL = 5.0


def _client_ids():
    """The clients with sessions, read from MongoDB at most every few seconds.

    Not from the host: the filler runs in a thread of its own, and MongoDB
    answers this from the client_id-prefixed indexes.
    """
    if not _clients["ids"] or _clock() - _clients["at"] > CLIENTS_TTL:
        _clients["ids"] = store.ua_client_ids()
        _clients["at"] = _clock()
    return _clients["ids"]


def full(user_agent, x_user_agent=None):
    """(key, ua) of the full classification: the shared cache's if current, else computed and stored."""
    ua_, xua = devices.normalize(user_agent), devices.normalize(x_user_agent)
    key = devices.ua_hash(ua_, xua)
    doc = _shared(key)
    if doc is not None:
        return key, doc["ua"]
    return key, classify_and_store(key, ua_, xua or None)


def fill_pending(limit=FILL_BATCH, client_ids=None, pause=False):
    """Classify up to `limit` pending strings and fill the sessions waiting for them.

    Returns (strings classified, sessions filled).
    """
    waiting = store.ua_cache_waiting(limit)
    if not waiting:
        return 0, 0
    now = _now()
    owner = _owner()
    done = []
    for doc in waiting:
        if store.ua_cache_claim(doc["_id"], owner, now, now - CLAIM_LEASE) is None:
            continue  # another process has it
        began = time.monotonic()
        ua = classify_and_store(doc["_id"], doc.get("user_agent") or "", doc.get("x_user_agent") or "", now)
        done.append((doc["_id"], ua, doc.get("first_seen") or now))
        if pause:
            # In a web process the filler shares the interpreter with the
            # requests: it takes at most about half of it.
            time.sleep(min(0.1, time.monotonic() - began))
    filled = _fill_sessions(done, client_ids)
    due = time.monotonic() + REFILL_AFTER.total_seconds()
    _refill.extend((due, item) for item in done)
    return len(done), filled


_refill = []


def _fill_sessions(done, client_ids=None):
    filled = 0
    for client_id in client_ids if client_ids is not None else (_client_ids() if done else []):
        for key, ua, first_seen in done:
            filled += store.ua_fill_sessions(client_id, _aware(first_seen) - CLOCK_MARGIN, key, ua)
    return filled


def refill_due(force=False):
    """Fill once more the sessions of strings classified REFILL_AFTER ago (all with `force`)."""
    now = float("inf") if force else time.monotonic()
    due = [item for at, item in _refill if at <= now]
    _refill[:] = [(at, item) for at, item in _refill if at > now]
    return _fill_sessions(due) if due else 0


def sweep(since, client_ids=None, limit=5000):
    """Fill sessions received since `since` that still wait although their string is known.

    Returns the number of sessions filled; strings still pending are left to fill_pending.
    """
    filled = 0
    for client_id in client_ids if client_ids is not None else _client_ids():
        by_key = {}
        for doc in store.ua_pending_sessions(client_id, since, limit):
            by_key.setdefault(doc.get("ua_hash"), doc)
        for key, doc in by_key.items():
            if not key:
                continue
            cached = _shared(key)
            if cached is None:
                continue
            filled += store.ua_fill_sessions(client_id, since, key, cached["ua"])
    return filled


def _aware(value):
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class _Worker:
    """One daemon thread per process that runs the filler when woken."""

    def __init__(self):
        self._event = threading.Event()
        self._thread = None
        self._pid = None
        self._lock = threading.Lock()
        self._last_sweep = None
        self.busy = False

    def wake(self):
        if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                    self._pid = os.getpid()
                    self._thread = threading.Thread(target=self._run, name="viewstats-ua-filler", daemon=True)
                    self._thread.start()
        self._event.set()

    def _run(self):
        while True:
            self._event.wait(timeout=0.5 if _refill else 1.0)
            self._event.clear()
            if setting("VIEWSTATS_UA_CLASSIFY") != "deferred":
                # Switched to "external" (or "inline") since the thread started:
                # the command fills now, and two fillers would race for claims.
                continue
            self.busy = True
            # The device database is pure Python: while it works, requests of
            # this process wait for the interpreter lock. A 1 ms switch
            # interval (instead of 5) bounds that wait; restored when idle.
            interval = sys.getswitchinterval()
            sys.setswitchinterval(min(interval, 0.001))
            try:
                flush_writes()
                while fill_pending(pause=True)[0]:
                    pass
                refill_due()
                now = _now()
                if self._last_sweep is None:
                    self._last_sweep = now
                elif now - self._last_sweep >= SWEEP_EVERY:
                    self._last_sweep = now
                    sweep(now - SWEEP_WINDOW)
            except Exception as exc:  # keep the thread alive; the command catches up
                log.warning("device classification filler failed: %s", exc)
            finally:
                sys.setswitchinterval(interval)
                self.busy = False

    def drain(self, timeout=30.0):
        """Wait until nothing is pending (tests, the bench)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not self.busy and not self._event.is_set() and not _writes and not store.ua_cache_waiting(1):
                refill_due(force=True)
                return True
            time.sleep(0.02)
        return False


_worker = _Worker()


def drain(timeout=30.0):
    return _worker.drain(timeout)
