"""A small per-process cache with expiry for host lookups on the ingest path.

Host data (authkeys, the collection checkbox, a client's channels) changes
rarely and is read on every event, so each process keeps it for
VIEWSTATS_HOST_CACHE_SECONDS. A change therefore takes effect within that
time without any invalidation message between processes.
"""
import functools
import threading
import time

from .conf import setting

_registry = []
_MISSING = object()


def host_cached(func):
    entries = {}
    lock = threading.Lock()

    @functools.wraps(func)
    def wrapper(*args):
        now = time.monotonic()
        hit = entries.get(args, _MISSING)
        if hit is not _MISSING and hit[0] > now:
            return hit[1]
        value = func(*args)
        with lock:
            if len(entries) > 100_000:
                entries.clear()
            entries[args] = (now + setting("VIEWSTATS_HOST_CACHE_SECONDS"), value)
        return value

    wrapper.cache_clear = entries.clear
    _registry.append(entries)
    return wrapper


def clear_all():
    for entries in _registry:
        entries.clear()
