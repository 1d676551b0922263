"""Smarty-compatible `stat/push`: heartbeats that grow viewing sessions.

A device pushes when a channel starts playing and then every
VIEWSTATS_PUSH_HEARTBEAT seconds (60 by default) while it plays, with a
`channel_session` that changes on every channel switch. The server keeps one
session per (account, device, channel_session):

* the first push opens the session with start = end = push time;
* each later push moves `end` to its time, so the duration grows;
* a push with a new `channel_session` from the same device closes the
  device's previous session at this push's time (the viewer watched it until
  the switch), provided that session was still open;
* a session is open while its last push is at most
  VIEWSTATS_PUSH_SESSION_TIMEOUT seconds old (180 by default). A push that
  arrives later for the same `channel_session` (the box slept, the network
  dropped) opens a new segment instead of crediting the silent gap;
* a repeated push (a retry of the same request) moves nothing backwards and
  so cannot count time twice.
"""
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from pymongo.errors import DuplicateKeyError, PyMongoError

from . import host, store
from .conf import setting
from .documents import session_document, utcnow, whole_seconds

OK, BAD_PARAMETER, STORE_UNAVAILABLE, NOT_ENABLED, LIMIT_EXCEEDED = 0, 1, 2, 3, 4
TYPES = {"live": "live", "pvr": "archive", "archive": "archive"}


class PushError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class PushParams:
    channel_id: int
    channel_session: int
    program_id: int | None
    timeshift_offset: int
    kind: str
    previous_channel_id: int | None


INT64_MIN, INT64_MAX = -2 ** 63, 2 ** 63 - 1  # what BSON stores
_INTEGER = re.compile(r"-?[0-9]{1,19}")  # ASCII digits only: str.isdigit() takes "²"


def _number(query, name, required=False, minimum=0, maximum=INT64_MAX):
    """An integer parameter within [minimum, maximum]; both bounds always apply."""
    raw = query.get(name, "")
    if raw == "":
        if required:
            raise PushError(BAD_PARAMETER, f"{name} is required")
        return None
    if not _INTEGER.fullmatch(raw):
        raise PushError(BAD_PARAMETER, f"{name} must be a number, got {raw[:40]!r}")
    value = int(raw)
    if value < minimum:
        raise PushError(BAD_PARAMETER, f"{name} must be >= {minimum}")
    if value > maximum:
        raise PushError(BAD_PARAMETER, f"{name} must be <= {maximum}")
    return value


def parse_params(query):
    """Validate the push query string; raise PushError(1, ...) naming the parameter.

    Ids are 0..2^63-1; `channel_session` is any 64-bit integer (devices
    number their viewings as they like, some with signed counters).
    """
    kind = TYPES.get(query.get("type", "") or "live")
    if kind is None:
        raise PushError(BAD_PARAMETER, f"type must be live or pvr, got {str(query.get('type'))[:40]!r}")
    return PushParams(
        channel_id=_number(query, "channel_id", required=True),
        channel_session=_number(query, "channel_session", required=True, minimum=INT64_MIN),
        program_id=_number(query, "program_id"),
        timeshift_offset=_number(query, "timeshift_offset",
                                 maximum=setting("VIEWSTATS_MAX_TIMESHIFT_HOURS")) or 0,
        kind=kind,
        previous_channel_id=_number(query, "previous_channel_id"),
    )


def _check_content(login, params):
    if params.channel_id not in host.client_channel_ids(login.client_id):
        raise PushError(BAD_PARAMETER, f"channel_id {params.channel_id} is not a channel of this client")
    if params.program_id is not None and \
            host.programme_channel(login.client_id, params.program_id) != params.channel_id:
        raise PushError(BAD_PARAMETER,
                        f"program_id {params.program_id} is not a programme of channel {params.channel_id}")


def record_push(login, params, origin, now=None):
    """Apply one push; return the stored session's id. Raises PushError."""
    now = whole_seconds(now or utcnow())
    _check_content(login, params)
    try:
        return _apply(login, params, origin, now)
    except PyMongoError as exc:
        raise PushError(STORE_UNAVAILABLE, "the viewing statistics database is unreachable") from exc


def _apply(login, params, origin, now):
    timeout = timedelta(seconds=setting("VIEWSTATS_PUSH_SESSION_TIMEOUT"))
    push_key = f"{login.account_id}:{login.device_id}:{params.channel_session}"
    # The device's state is one point read; the sessions collection is only
    # written by _id. That keeps a heartbeat cheap however large it grows.
    state_id = f"{login.client_id}:{login.account_id}:{login.device_id}"
    states = store.collection(store.PUSH_STATE)
    state = states.find_one({"client_id": login.client_id, "_id": state_id})
    fresh = state is not None and now - state["end"] <= timeout
    if state is not None and state["push_key"] == push_key:
        if fresh:
            if now > state["end"]:
                _extend(state, now)
                states.update_one({"client_id": login.client_id, "_id": state_id, "end": {"$lt": now}},
                                  {"$set": {"end": now, "seen_at": datetime.now(timezone.utc)}})
            return state["session_id"]
        segment = state["segment"] + 1
    else:
        if state is not None and _is_stale_retry(login, push_key, state, now, timeout):
            return None
        if fresh and now > state["end"]:
            _extend(state, now)  # a channel switch: the previous channel played until now
        segment = 0
    _check_limit(login, now)
    doc = _open(login, params, origin, now, push_key, segment)
    states.replace_one({"client_id": login.client_id, "_id": state_id},
                       {"client_id": login.client_id, "push_key": push_key, "session_id": doc["_id"],
                        "segment": doc["segment"], "start": doc["start"], "end": now,
                        "seen_at": datetime.now(timezone.utc)},
                       upsert=True)
    return doc["_id"]


def _is_stale_retry(login, push_key, state, now, timeout):
    """A late or retried push of a channel this device has already left.

    The device moved on to another channel_session after this one, so the
    push repeats the past; reopening the old channel would credit it with the
    new channel's time. A channel_session reused after a long pause (a
    counter reset by a reboot) is not stale: its session ended long ago.
    """
    left = store.sessions().find_one({"client_id": login.client_id, "push_key": push_key},
                                     sort=[("start", -1)])
    return (left is not None and left["start"] <= state["start"]
            and now - left["end"] <= timeout)


def _open(login, params, origin, now, push_key, segment):
    program_id = params.program_id
    if program_id is None and params.kind == "live":
        program_id = host.programme_on_air(login.client_id, params.channel_id,
                                           now - timedelta(hours=params.timeshift_offset))
    sessions = store.sessions()
    for _ in range(2):
        doc = session_document(
            _id=f"p:{login.client_id}:{push_key}:{segment}", client_id=login.client_id,
            source="device", protocol="push", login=login, origin=origin, received_at=now,
            tariff_ids=host.tariffs_at(login.client_id, login.account_id, now),
            start=now, end=now, channel_id=params.channel_id, program_id=program_id,
            kind=params.kind, timeshift_offset=params.timeshift_offset,
            push_key=push_key, segment=segment, channel_session=params.channel_session,
            previous_channel_id=params.previous_channel_id)
        try:
            sessions.insert_one(doc)
            return doc
        except DuplicateKeyError:
            latest = sessions.find_one({"client_id": login.client_id, "push_key": push_key},
                                       sort=[("start", -1)])
            if now - latest["end"] <= timedelta(seconds=setting("VIEWSTATS_PUSH_SESSION_TIMEOUT")):
                # A concurrent push opened the same session first: this one
                # is a heartbeat of it.
                _extend({"session_id": latest["_id"], "client_id": login.client_id,
                         "start": latest["start"]}, now)
                return latest
            # The device reused a channel_session number (a counter reset by a
            # reboot): continue after the latest segment of that key.
            segment = latest["segment"] + 1
    raise PushError(BAD_PARAMETER, "channel_session collides with a concurrent push; retry")


def _extend(state, now):
    # `end < now` makes a retried or reordered push a no-op.
    store.sessions().update_one(
        {"client_id": state["client_id"], "_id": state["session_id"], "end": {"$lt": now}},
        {"$set": {"end": now, "duration": int((now - state["start"]).total_seconds()),
                  "updated_at": now}})


def _check_limit(login, now):
    limit = setting("VIEWSTATS_MAX_SESSIONS_PER_ACCOUNT_DAY")
    day = now.replace(hour=0, minute=0, second=0)
    opened = store.sessions().count_documents({
        "client_id": login.client_id, "account_id": login.account_id,
        "start": {"$gte": day, "$lt": day + timedelta(days=1)}})
    if opened >= limit:
        raise PushError(LIMIT_EXCEEDED,
                        f"record limit exceeded: {limit} sessions for this account today")
