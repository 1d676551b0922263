"""Non-blocking named locks, so overlapping cron runs and RQ jobs cannot collide.

With Redis reachable (SMARTYSTATS_LOCK_BACKEND "auto" or "redis") the lock is
a redis-py Lock on the RQ queue's Redis: it works across hosts, which RQ
workers need, and expires after SMARTYSTATS_LOCK_TIMEOUT seconds so a killed
run frees it. Otherwise it is an flock(2) on a file in SMARTYSTATS_LOCK_DIR
(default: the system temp directory): one host only, freed by the kernel when
the process dies.
"""
import fcntl
import hashlib
import os
import tempfile
from contextlib import contextmanager

from .conf import setting


class LockBusy(Exception):
    """Someone else holds the lock."""


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


@contextmanager
def hold(name):
    """Hold lock `name` for the block, or raise LockBusy at once."""
    key = setting("SMARTYSTATS_LOCK_PREFIX") + name
    if backend() == "redis":
        lock = redis_connection().lock(key, timeout=setting("SMARTYSTATS_LOCK_TIMEOUT"),
                                       blocking=False)
        if not lock.acquire(blocking=False):
            raise LockBusy(f"lock {key!r} is held by another run (Redis)")
        try:
            yield
        finally:
            try:
                lock.release()
            except Exception:  # expired while we ran: nothing left to release
                pass
        return
    directory = setting("SMARTYSTATS_LOCK_DIR") or tempfile.gettempdir()
    path = os.path.join(directory, "smartystats-" + hashlib.sha1(key.encode()).hexdigest()[:16] + ".lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockBusy(f"lock {key!r} is held by another run (file {path})") from None
        yield
    finally:
        os.close(fd)
