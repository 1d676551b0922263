"""Country of an IP address, from a MaxMind-format (.mmdb) database.

Reads GeoLite2-Country / GeoLite2-City and DB-IP Lite country files: both keep
the ISO code under `country.iso_code`; GeoLite2 leaves `country` out for some
networks (anycast, satellite) and then `registered_country` is the best guess.

`country_for_ip` is what the request path uses: it never raises, and answers
UNKNOWN when no database is configured or readable, for private and invalid
addresses, and for addresses the database does not know.
"""
import ipaddress
import logging
import os
import threading
import time
from functools import lru_cache

import maxminddb

log = logging.getLogger(__name__)

UNKNOWN = "unknown"
CACHE_SIZE = 65536
# A file that failed to open is tried again after this long, or at once when
# it changes (a download finished, geoipupdate replaced it).
RETRY_SECONDS = 60


def _normalize(ip):
    """The address as a global ipaddress object, or None if it has no country."""
    try:
        addr = ipaddress.ip_address(str(ip).strip())
    except ValueError:
        return None
    if addr.version == 6 and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    return addr if addr.is_global else None


def _iso_code(record):
    if not isinstance(record, dict):
        return None
    for key in ("country", "registered_country"):
        section = record.get(key)
        code = section.get("iso_code") if isinstance(section, dict) else None
        if isinstance(code, str) and len(code) == 2 and code.isalpha():
            return code.upper()
    return None


class GeoIP:
    """A MaxMind-format database; opening a missing or broken file raises."""

    def __init__(self, path):
        self.path = str(path)
        self._reader = maxminddb.open_database(self.path)

    def country_code(self, ip) -> str:
        """ISO 3166 alpha-2 code (upper case) for `ip`, or UNKNOWN."""
        addr = _normalize(ip)
        if addr is None:
            return UNKNOWN
        try:
            record = self._reader.get(addr)
        except ValueError:  # an IPv6 address against an IPv4-only database
            return UNKNOWN
        return _iso_code(record) or UNKNOWN

    def close(self):
        self._reader.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def configured_path():
    """settings.VIEWSTATS_GEOIP_PATH when Django is configured, else None."""
    try:
        from django.conf import settings
        if not (settings.configured or os.environ.get("DJANGO_SETTINGS_MODULE")):
            return None
        return getattr(settings, "VIEWSTATS_GEOIP_PATH", None) or None
    except Exception:  # Django missing or its settings broken: no database
        return None


_lock = threading.Lock()
_state = {"path": None, "geoip": None, "failed_at": None, "failed_mtime": None}


def _mtime(path):
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _geoip():
    """The reader for the configured path, opened once; None if unusable."""
    path = configured_path()
    if not path:
        return None
    with _lock:
        if _state["path"] != path:
            _close_locked()
            _state["path"] = path
        failed_at = _state["failed_at"]
        if _state["geoip"] is None and (
                failed_at is None or time.monotonic() - failed_at >= RETRY_SECONDS
                or _mtime(path) != _state["failed_mtime"]):
            try:
                _state["geoip"] = GeoIP(path)
            except Exception as exc:
                if failed_at is None:  # warn once, not at every retry
                    log.warning("GeoIP database %s cannot be opened (%s); countries will be %r",
                                path, exc, UNKNOWN)
                _state.update(failed_at=time.monotonic(), failed_mtime=_mtime(path))
            else:
                if failed_at is not None:
                    # Every address asked meanwhile was answered UNKNOWN.
                    _lookup.cache_clear()
                    log.info("GeoIP database %s opened", path)
                _state.update(failed_at=None, failed_mtime=None)
        return _state["geoip"]


def _close_locked():
    if _state["geoip"] is not None:
        try:
            _state["geoip"].close()
        except Exception:
            pass
    _state.update(path=None, geoip=None, failed_at=None, failed_mtime=None)


@lru_cache(maxsize=CACHE_SIZE)
def _lookup(ip):
    geoip = _geoip()
    if geoip is None:
        return UNKNOWN
    try:
        return geoip.country_code(ip)
    except Exception as exc:  # a corrupt database must not break requests
        log.debug("GeoIP lookup of %s failed: %s", ip, exc)
        return UNKNOWN


def country_for_ip(ip: str | None) -> str:
    """Country code of `ip` from the configured database, or UNKNOWN; never raises."""
    if not ip:
        return UNKNOWN
    if _state["failed_at"] is not None:
        # No database: an answer now is no answer to keep, and this call may
        # be the one that retries opening it.
        return _lookup.__wrapped__(str(ip).strip())
    return _lookup(str(ip).strip())


def reset():
    """Forget the opened database and cached answers (tests, settings changes)."""
    with _lock:
        _close_locked()
    _lookup.cache_clear()
