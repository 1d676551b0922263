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


MAX_ENTRIES = 100_000


def host_cached(func=None, *, found_only=False):
    """Cache `func(*args)` per process for VIEWSTATS_HOST_CACHE_SECONDS.

    `found_only`: keep only answers that are not None. For lookups keyed on
    what a request brings (an authkey, a media server's token), so unknown
    values sent by anyone cannot fill the cache; only values the host knew
    are kept.
    """
    if func is None:
        return functools.partial(host_cached, found_only=found_only)
    entries = {}
    lock = threading.Lock()

    @functools.wraps(func)
    def wrapper(*args):
        now = time.monotonic()
        hit = entries.get(args, _MISSING)
        if hit is not _MISSING and hit[0] > now:
            return hit[1]
        value = func(*args)
        if found_only and value is None:
            return value
        with lock:
            if len(entries) > MAX_ENTRIES:
                entries.clear()
            entries[args] = (now + setting("VIEWSTATS_HOST_CACHE_SECONDS"), value)
        return value

    wrapper.cache_clear = entries.clear
    wrapper.cache_size = entries.__len__
    _registry.append(entries)
    return wrapper


def clear_all():
    for entries in _registry:
        entries.clear()
