"""The suite's side of the host contract: load the host, ask it, cache the answers.

`VIEWSTATS_HOST` names a `viewstats.contract.Host` subclass. Everything in
viewstats and smartystats reaches the middleware through the functions here,
so each question is asked one way and the ingest path's lookups are cached
per process for VIEWSTATS_HOST_CACHE_SECONDS (see caching.py).
"""
import bisect
from datetime import datetime, time, timedelta, timezone
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from . import contract
from .caching import host_cached


@lru_cache(maxsize=None)
def _load(path):
    cls = import_string(path)
    if not (isinstance(cls, type) and issubclass(cls, contract.Host)):
        raise ImproperlyConfigured(f"VIEWSTATS_HOST = {path!r} is not a viewstats.contract.Host subclass")
    return cls()


def get_host() -> contract.Host:
    """The configured host; one instance per process and setting."""
    path = getattr(settings, "VIEWSTATS_HOST", None)
    if not path:
        raise ImproperlyConfigured(
            "VIEWSTATS_HOST is not set: name your middleware's viewstats.contract.Host "
            "implementation, e.g. VIEWSTATS_HOST = 'mymiddleware.stats.StatsHost'")
    return _load(path)


def reset():
    """Forget the loaded host (tests that switch VIEWSTATS_HOST)."""
    _load.cache_clear()


# --- operators -------------------------------------------------------------------

def all_client_ids():
    return [o.id for o in get_host().operators()]


def clients():
    """[(id, name)] of every operator."""
    return [(o.id, o.name) for o in get_host().operators()]


def client_names(client_ids):
    """{id: name} of those of `client_ids` that exist."""
    wanted = set(client_ids)
    return {o.id: o.name for o in get_host().operators() if o.id in wanted}


def client_name(client_id):
    return client_names([client_id]).get(client_id)


@host_cached
def client_time_zone(client_id):
    for o in get_host().operators():
        if o.id == client_id:
            return o.time_zone or "UTC"
    return "UTC"


def staff_client_id(user):
    """The operator a staff user works for, or None."""
    return get_host().operator_of_user(user)


# --- devices -----------------------------------------------------------------------

# Longest authkey or media-server token looked up; anything longer is unknown.
MAX_KEY_LENGTH = 256


def lookup_key(value):
    """`value` if a request-supplied key may be looked up at all, else None.

    A key is text of 1 to MAX_KEY_LENGTH characters without NUL: longer ones
    are nobody's, and PostgreSQL refuses NUL in a query (a 500, not "unknown").
    """
    if isinstance(value, str) and 0 < len(value) <= MAX_KEY_LENGTH and "\x00" not in value:
        return value
    return None


@host_cached(found_only=True)
def login_for_authkey(authkey):
    if lookup_key(authkey) is None:
        return None
    return get_host().login(authkey)


@host_cached
def _device_types(client_id):
    return tuple(get_host().device_types(client_id))


def collection_enabled(client_id, device_type):
    """The "Enable statistical data collection" checkbox of this device type."""
    return any(d.system_name == device_type and d.collection_enabled
               for d in _device_types(client_id))


def device_type_known(client_id, device_type):
    return any(d.system_name == device_type for d in _device_types(client_id))


def known_device_types():
    return {d.system_name for client_id in all_client_ids() for d in _device_types(client_id)}


def client_device_types(client_ids):
    return sorted({d.system_name for c in client_ids for d in _device_types(c)})


@host_cached(found_only=True)
def viewer_for_token(client_id, token, user_id):
    """Who a media-server session belongs to (see Host.media_viewer)."""
    if isinstance(user_id, int) and not isinstance(user_id, bool):
        user_id = str(user_id)
    token, user_id = lookup_key(token), lookup_key(user_id)
    if not token and not user_id:
        return None
    return get_host().media_viewer(client_id, token, user_id)


# --- subscribers ---------------------------------------------------------------------

@host_cached
def _account(client_id, account_id):
    return get_host().account(client_id, account_id)


def tariffs_at(client_id, account_id, at):
    """The account's tariff ids at instant `at`: what a session starting then is stamped with."""
    account = _account(client_id, account_id) if account_id is not None else None
    return list(account.tariffs_at(at)) if account is not None else []


def account_logins(client_ids, account_ids):
    """{account id: login} over the clients' accounts (for labels; ids stay the key)."""
    ids = [a for a in dict.fromkeys(account_ids) if a is not None]
    found = {}
    for client_id in client_ids:
        if ids:
            found.update(get_host().account_logins(client_id, ids))
    return found


def device_type_names(client_ids):
    """{system name: display name} of the clients' device types."""
    return {d.system_name: d.name for c in client_ids for d in _device_types(c) if d.name}


def active_account_ids(client_id):
    """Accounts that are active now (their current status), whatever they were before."""
    return sorted((a.id for a in get_host().accounts(client_id) if a.active), key=str)


def tariff_names(client_ids):
    return {t.id: t.name for c in client_ids for t in get_host().tariffs(c)}


def tariff_clients(tariff_ids, client_ids):
    """{tariff id: client id} for those of `tariff_ids` that belong to one of `client_ids`."""
    wanted = set(tariff_ids)
    return {t.id: c for c in client_ids for t in get_host().tariffs(c) if t.id in wanted}


# --- channels and EPG -------------------------------------------------------------------

@host_cached
def _channels(client_id):
    return tuple(get_host().channels(client_id))


@host_cached
def client_channel_ids(client_id):
    # Cached as a set: every pushed and batched event asks it.
    return frozenset(c.id for c in _channels(client_id))


def channels_in_default_order(client_id, enabled_only=False):
    """The client's channels as dicts (id, name, number), in the standard order."""
    return [{"id": c.id, "name": c.name, "number": c.number} for c in _channels(client_id)
            if c.enabled or not enabled_only]


def channel_names(client_ids):
    return {c.id: c.name for client_id in client_ids for c in _channels(client_id)}


def channel_clients(channel_ids, client_ids):
    wanted = set(channel_ids)
    return {c.id: client_id for client_id in client_ids for c in _channels(client_id) if c.id in wanted}


def category_names(client_ids):
    return {c.id: c.name for client_id in client_ids for c in get_host().categories(client_id)}


def category_clients(category_ids, client_ids):
    wanted = set(category_ids)
    return {c.id: client_id for client_id in client_ids
            for c in get_host().categories(client_id) if c.id in wanted}


def channel_ids_in_categories(client_ids, category_ids):
    """Ids of the clients' channels in any of `category_ids`, sorted."""
    wanted = set(category_ids)
    return sorted({c.id for client_id in client_ids for c in _channels(client_id)
                   if wanted.intersection(c.category_ids)})


@host_cached(found_only=True)
def channel_for_stream(client_id, stream):
    """A media server's stream name -> channel id of this client, or None.

    Matched against the channel's name (case-insensitive), then, for a
    stream named `ch<number>` or just `<number>`, against the channel number.
    """
    channels = _channels(client_id)
    folded = stream.casefold()
    for c in channels:
        if c.name.casefold() == folded:
            return c.id
    number = _number(stream[2:] if stream.lower().startswith("ch") else stream)
    if number is not None:
        for c in channels:
            if c.number == number:
                return c.id
    return None


@host_cached
def programme_channel(client_id, program_id):
    """The channel `program_id` airs on if it is this client's programme, else None."""
    programme = get_host().programmes_by_id(client_id, [program_id]).get(program_id)
    return programme.channel_id if programme is not None else None


@host_cached
def _day_schedule(client_id, channel_id, day):
    start = datetime.combine(day, time.min, tzinfo=timezone.utc)
    rows = sorted(get_host().programmes(client_id, [channel_id], start, start + timedelta(days=1)),
                  key=lambda p: p.begin)
    return [p.begin for p in rows], rows


def programme_on_air(client_id, channel_id, at):
    """The programme on `channel_id` at instant `at`, or None."""
    begins, rows = _day_schedule(client_id, channel_id, at.astimezone(timezone.utc).date())
    i = bisect.bisect_right(begins, at) - 1
    if i >= 0 and rows[i].end > at:
        return rows[i].id
    return None


def iter_programmes_airing(client_id, channel_ids, start, end):
    """(id, channel_id, begin, end) of programmes overlapping [start, end), streamed."""
    return ((p.id, p.channel_id, p.begin, p.end)
            for p in get_host().programmes(client_id, channel_ids, start, end))


def _programme_dict(p, names):
    return {"id": p.id, "title": p.title, "channel_id": p.channel_id,
            "channel__name": names.get(p.channel_id, ""), "begin": p.begin, "end": p.end}


def programmes_airing(client_id, channel_ids, start, end):
    """Programmes overlapping [start, end) as dicts, newest first (the fill order)."""
    names = channel_names([client_id])
    rows = [_programme_dict(p, names) for p in get_host().programmes(client_id, channel_ids, start, end)]
    rows.sort(key=lambda r: r["id"])
    rows.sort(key=lambda r: r["begin"], reverse=True)
    return rows


def programmes_by_id(client_id, programme_ids, channel_ids=None):
    """{id: dict} of the given programmes of the client (airing on one of `channel_ids`)."""
    names = channel_names([client_id])
    found = get_host().programmes_by_id(client_id, list(programme_ids))
    return {pid: _programme_dict(p, names) for pid, p in found.items()
            if channel_ids is None or p.channel_id in channel_ids}


def programme_titles(client_ids, ids):
    ids = list(ids)
    return {pid: p.title for c in client_ids
            for pid, p in get_host().programmes_by_id(c, ids).items()}


# --- generated sortings and selections ------------------------------------------------------

def save_generated_sorting(client_id, generator_key, name, parameters, computed_at, items):
    """Create or update the client's generated sorting for `generator_key`; (id, created)."""
    return get_host().save_channel_sorting(client_id, generator_key, name, parameters,
                                           computed_at, items)


def save_generated_selection(client_id, generator_key, name, content_type, parameters,
                             computed_at, items):
    """Create or update a generated selection ("channel" or "epg"); (id, created)."""
    return get_host().save_selection(client_id, generator_key, name, content_type, parameters,
                                     computed_at, items)


def _number(text):
    """`text` as an int when it is 1 to 18 ASCII digits, else None.

    str.isdigit() also takes "²", which int() refuses, and a longer number
    would not fit the database's 64-bit integers.
    """
    if 0 < len(text) <= 18 and text.isascii() and text.isdecimal():
        return int(text)
    return None
