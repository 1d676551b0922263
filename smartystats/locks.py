"""Non-blocking named locks, so overlapping cron runs and RQ jobs cannot collide.

With Redis reachable (SMARTYSTATS_LOCK_BACKEND "auto" or "redis") a lock is a
Redis key on the RQ queue's Redis (or SMARTYSTATS_LOCK_REDIS_URL): it works
across hosts, which RQ workers need. It is a short lease
(SMARTYSTATS_LOCK_LEASE_SECONDS, 60 s by default) that a daemon heartbeat
thread renews every third of the lease while the holder runs, and that is
deleted on every way out of the block. A killed holder therefore frees it
within one lease at most, and at once for a run on the same machine: the key's
value names its owner (host, pid, process start time), and a taker that finds
the owner's process gone on this machine breaks the lock instead of waiting.

Otherwise the lock is an flock(2) on a file in SMARTYSTATS_LOCK_DIR (default:
the system temp directory): one host only, freed by the kernel when the
process dies; the file names its current owner for the busy message.

Keys are `SMARTYSTATS_LOCK_PREFIX + name`; the prefix defaults to
"<VIEWSTATS_REDIS_NAMESPACE>:smartystats:lock:" ("smartystats:lock:" with no
namespace), so two middlewares, or two test runs, sharing one Redis never
share a lock.

If a lease is lost while its holder still runs (the process was frozen for
longer than a lease and another run took the lock), the holding thread gets
LockLost raised at its next Python instruction: the fills are crash-safe, so
stopping is always safe, and going on could double-count.
"""
import ctypes
import fcntl
import hashlib
import json
import logging
import os
import socket
import tempfile
import threading
import uuid
from contextlib import contextmanager

from .conf import setting

logger = logging.getLogger(__name__)


class LockBusy(Exception):
    """Someone else holds the lock."""

    def __init__(self, message, key=None, owner=None):
        super().__init__(message)
        self.key = key
        self.owner = owner  # "host:pid", or None when unknown


class LockLost(Exception):
    """The lease ran out while held and another run took the lock."""


# --- names --------------------------------------------------------------------

def namespace():
    """The deployment's Redis namespace (VIEWSTATS_REDIS_NAMESPACE), "" for none."""
    return setting("VIEWSTATS_REDIS_NAMESPACE") or ""


def prefix():
    explicit = setting("SMARTYSTATS_LOCK_PREFIX")
    if explicit:
        return explicit
    ns = namespace()
    return f"{ns}:smartystats:lock:" if ns else "smartystats:lock:"


def key_for(name):
    return prefix() + name


# --- owners -------------------------------------------------------------------

def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def _start_time(pid):
    """The process's start time in clock ticks since boot ("" where unknown)."""
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return ""
    try:
        return stat.rsplit(")", 1)[1].split()[19]
    except IndexError:
        return ""


def _machine():
    """What tells this machine and PID namespace apart: pids compare only within one."""
    try:
        pidns = os.readlink("/proc/self/ns/pid")
    except OSError:
        pidns = ""
    return {"host": socket.gethostname(), "boot": _read("/proc/sys/kernel/random/boot_id"),
            "pidns": pidns}


def _new_owner():
    pid = os.getpid()
    return json.dumps({**_machine(), "pid": pid, "start": _start_time(pid),
                       "token": uuid.uuid4().hex}, sort_keys=True)


def _parse_owner(value):
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    try:
        owner = json.loads(value)
    except (TypeError, ValueError):
        return None
    return owner if isinstance(owner, dict) and "pid" in owner else None


def describe(owner):
    """ "host:pid" of a parsed owner, or "an unknown owner"."""
    if not owner:
        return "an unknown owner"
    return f"{owner.get('host', '?')}:{owner.get('pid', '?')}"


def owner_is_dead(owner):
    """True only when `owner` surely ran on this machine and its process is gone.

    An owner on another host (or in another PID namespace) cannot be judged
    from here: its lease runs out instead.
    """
    if not owner or any(owner.get(k) != v for k, v in _machine().items()):
        return False
    pid = owner.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, another user's
    # Alive, but maybe a new process that got the dead owner's pid.
    start = _start_time(pid)
    return bool(owner.get("start") and start and start != owner["start"])


# --- backends -----------------------------------------------------------------

def redis_connection():
    import redis

    url = setting("SMARTYSTATS_LOCK_REDIS_URL")
    if url:
        return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    import django_rq

    return django_rq.get_connection(setting("VIEWSTATS_RQ_QUEUE"))


def backend():
    choice = setting("SMARTYSTATS_LOCK_BACKEND")
    if choice not in ("auto", "redis", "file"):
        raise ValueError(f"SMARTYSTATS_LOCK_BACKEND must be auto, redis or file, not {choice!r}")
    if choice != "auto":
        return choice
    try:
        redis_connection().ping()
        return "redis"
    except Exception:  # any failure to reach Redis means: use the file lock
        return "file"


def lease_seconds():
    lease = float(setting("SMARTYSTATS_LOCK_LEASE_SECONDS"))
    if lease <= 0:
        raise ValueError(f"SMARTYSTATS_LOCK_LEASE_SECONDS must be positive, not {lease!r}")
    return lease


# Compare-and-act on the key's value, so nobody touches a lock that is no longer theirs.
_IF_VALUE_DELETE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_IF_VALUE_EXTEND = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""


@contextmanager
def hold(name):
    """Hold lock `name` for the block, or raise LockBusy at once."""
    key = key_for(name)
    if backend() == "redis":
        with _hold_redis(key):
            yield
    else:
        with _hold_file(key):
            yield


def _take_redis(conn, key, token, lease_ms):
    if conn.set(key, token, nx=True, px=lease_ms):
        return
    current = conn.get(key)
    owner = _parse_owner(current)
    if current is not None and owner_is_dead(owner):
        # The holder died without releasing: take over, unless it changed meanwhile.
        if conn.register_script(_IF_VALUE_DELETE)(keys=[key], args=[current]):
            logger.warning("lock %s: its owner %s is dead; taking it over", key, describe(owner))
        if conn.set(key, token, nx=True, px=lease_ms):
            return
        current = conn.get(key)
        owner = _parse_owner(current)
    ttl = conn.pttl(key)
    left = f"; its lease ends in {max(ttl, 0) / 1000:.0f} s unless renewed" if ttl and ttl > 0 else ""
    raise LockBusy(f"lock {key!r} is held by {describe(owner)} (Redis{left})",
                   key=key, owner=describe(owner) if owner else None)


@contextmanager
def _hold_redis(key):
    conn = redis_connection()
    token = _new_owner()
    lease = lease_seconds()
    lease_ms = max(int(lease * 1000), 1)
    _take_redis(conn, key, token, lease_ms)
    beat = _Heartbeat(conn, key, token, lease, lease_ms, threading.get_ident())
    beat.start()
    try:
        try:
            yield
        except LockLost:
            raise LockLost(beat.lost_message or f"lock {key!r} was lost") from None
    finally:
        beat.finish()
        if not beat.lost_message:
            try:
                conn.register_script(_IF_VALUE_DELETE)(keys=[key], args=[token])
            except Exception:  # Redis gone: the lease runs out by itself
                logger.warning("lock %s: could not release; its lease runs out", key, exc_info=True)


class _Heartbeat(threading.Thread):
    """Renews a Redis lease every third of it until `finish()`."""

    def __init__(self, conn, key, token, lease, lease_ms, holder):
        super().__init__(name=f"lock-heartbeat {key}", daemon=True)
        self.conn, self.key, self.token = conn, key, token
        self.interval, self.lease_ms, self.holder = lease / 3, lease_ms, holder
        self.stopped = threading.Event()
        self.guard = threading.Lock()
        self.active = True
        self.lost_message = None

    def finish(self):
        with self.guard:
            self.active = False
        self.stopped.set()

    def run(self):
        extend = self.conn.register_script(_IF_VALUE_EXTEND)
        while not self.stopped.wait(self.interval):
            try:
                if extend(keys=[self.key], args=[self.token, self.lease_ms]):
                    continue
                # Our key is gone (expired while Redis was out of reach, or flushed):
                # take it again if nobody else has.
                if self.conn.set(self.key, self.token, nx=True, px=self.lease_ms):
                    logger.warning("lock %s: the lease had lapsed; re-took it", self.key)
                    continue
                owner = _parse_owner(self.conn.get(self.key))
            except Exception:  # Redis unreachable: try again next beat
                logger.warning("lock %s: could not renew the lease", self.key, exc_info=True)
                continue
            self._lost(f"lock {self.key!r} was lost: its lease ran out and {describe(owner)} "
                       f"took it; this run stopped")
            return

    def _lost(self, message):
        with self.guard:
            if not self.active:
                return
            self.lost_message = message
            logger.error("%s", message)
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self.holder),
                                                       ctypes.py_object(LockLost))


@contextmanager
def _hold_file(key):
    directory = setting("SMARTYSTATS_LOCK_DIR") or tempfile.gettempdir()
    path = os.path.join(directory, "smartystats-" + hashlib.sha1(key.encode()).hexdigest()[:16] + ".lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _parse_owner(os.pread(fd, 4096, 0))
            raise LockBusy(f"lock {key!r} is held by {describe(owner)} (file {path})",
                           key=key, owner=describe(owner) if owner else None) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, _new_owner().encode(), 0)
        yield
    finally:
        os.close(fd)  # the kernel drops the flock with the last descriptor, or with the process
