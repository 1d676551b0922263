"""Play sessions pushed by streaming servers (Flussonic's event sink shape).

A server posts a JSON array of flat events (play_opened, play_started,
play_updated, play_closed). Each raw event is kept in MEDIA_EVENTS under
`<server>:<event_id>`, so an event the server resends from its buffer is a
duplicate and changes nothing. Every session an event touches is then
brought up to date in `sessions` (`_id = m:<client>:<server>:<session id>`,
source "media_server"): the result is what a recomputation from all of its
stored events gives, whatever the order or number of deliveries.

Every documented variant of Flussonic's play events is accepted (the 2023
OpenAPI schema and the 2025 Go model; see tests/data/flussonic/README.md):
    event_id  optional in every version. Without it the event is kept under
              `<server>:<session id>/<event>/<its time in ms>` (its time is
              the latest of utc_ms/opened_at/started_at/updated_at/closed_at),
              so a resend is still a duplicate.
    media     optional too; session objects name the stream `name`, which is
              used when `media` is absent. A session none of whose events
              names its stream is kept with channel_id and media None.
    times     Unix seconds (the 2023 examples) or milliseconds (the 2025
              model, possibly written as a float), told apart by magnitude.
Events of other types (stream_*, source_*, push_*, server_*, play_* types
not listed above ...) are not stored: the answer counts them in `ignored`
(and per type in `ignored_events`); only malformed events are rejected.

How a session is derived from its events, taken in time order (`at`; ties
by key, shorter first, so numeric event ids in number order):
    start     earliest `opened_at` (else the earliest event time)
    end       latest event time (`utc_ms`, `updated_at`, `closed_at`)
    bytes     the largest `bytes` seen (a running total, so resends and
              reordering never count twice)
    traffic   bytes per fixed 5-minute bucket: each increase of `bytes`
              between two consecutive events is spread evenly over the
              seconds between them (the first from `start`, at 0 bytes),
              rounded so the buckets add up exactly to `bytes`
    channel   the stream name (`media`, else `name`) matched to a channel,
              see host.channel_for_stream; unmatched streams keep
              channel_id None and their `media` name
    account   `token` as a device authkey, else `user_id` as an abonement
    kind      "archive" for manifest types archive/timeshiftAbs/
              timeshiftRel/rewind (or `dvr` true without a manifest type)

Every one of those figures can be carried forward: the session document
keeps, in `media_state`, what the next event needs (the latest text fields,
whether any event asked for DVR, the key of its last event and the instant
its traffic is spread up to). An event is stored `pending` and taken into
its session once, then unmarked. So an update reads the session and its
pending events only, not the session's whole history of events. Only when a
pending event sorts before the session's last event (it came late, or it is
already in the session and its mark outlived a failure) or moves the start
of a session whose traffic is already spread, is the session recomputed
from all its events, which is always exact; a resend never counts twice.

Sessions named by duplicate events are updated too. Events are stored
before their session is updated, so an update that failed (listed in the
answer's `sessions_failed`, with a 200: the events themselves are safe,
still pending) is repaired when the server resends them or the session gets
a new event.
"""
import logging
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from pymongo.errors import DuplicateKeyError, PyMongoError, WriteError

from . import host, origin, peers, store
from .conf import setting
from .documents import session_document, utcnow, whole_seconds
from .enrich import geo
from .reports import daily
from .timeparse import parse_instant

EVENTS = ("play_opened", "play_authorized", "play_started", "play_updated", "play_closed")
TIME_FIELDS = ("utc_ms", "opened_at", "started_at", "updated_at", "closed_at")
# What an event type of another kind looks like (stream_opened, source_closed,
# a future play_* ...): it is counted and ignored. Anything else is rejected.
EVENT_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,63}")
IGNORED_TYPES_LISTED = 50  # distinct types named in `ignored_events`; `ignored` counts all
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
ARCHIVE_MANIFESTS = {"archive", "timeshiftabs", "timeshiftrel", "rewind"}
BUCKET_SECONDS = 300
TEXT_FIELDS = ("media", "ip", "user_agent", "token", "user_id", "proto", "manifest_type",
               "server", "country", "referer", "x_user_agent", "peer")
INT64 = 2 ** 63  # BSON integers are signed 64-bit: a bigger one fails the whole insert

log = logging.getLogger(__name__)


@dataclass
class EventsResult:
    accepted: int = 0
    duplicates: list = field(default_factory=list)
    rejected: list = field(default_factory=list)
    sessions: int = 0
    sessions_failed: list = field(default_factory=list)
    ignored: Counter = field(default_factory=Counter)

    def as_dict(self):
        return {"accepted": self.accepted, "duplicates": self.duplicates,
                "rejected": self.rejected, "ignored": sum(self.ignored.values()),
                "ignored_events": dict(sorted(self.ignored.items())),
                "sessions_updated": self.sessions, "sessions_failed": self.sessions_failed}

    def ignore(self, event_type):
        if event_type in self.ignored or len(self.ignored) < IGNORED_TYPES_LISTED:
            self.ignored[event_type] += 1
        else:
            self.ignored["(other)"] += 1


def _int64(value):
    return -INT64 <= value < INT64


def _utf8(text):
    # A lone surrogate ("\ud800" in the JSON) cannot be stored as BSON.
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _instant(event, name, reasons):
    value = event.get(name)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and not _int64(value):
        reasons.append(f"{name}: out of range")
        return None
    try:
        return parse_instant(value)
    except ValueError as exc:
        reasons.append(f"{name}: {exc}")
        return None


def ignored_type(event):
    """The type of an event this sink does not use (stream_opened, ...), else None.

    Such an event is counted and dropped: a server sends every type its
    event sink is not told to filter out, and none of them is an error.
    """
    if not isinstance(event, dict):
        return None
    name = event.get("event")
    if isinstance(name, str) and name not in EVENTS and EVENT_TYPE.fullmatch(name):
        return name
    return None


def _x_user_agent(event):
    """The player's X-User-Agent when the event carries it.

    Flussonic's play events have no such field; a sink in front of it, or a
    server configured to pass request headers, may add `x_user_agent` or a
    `headers` object (Infomir MAG boxes name their real model only there).
    """
    value = event.get("x_user_agent")
    if value is None:
        headers = event.get("headers")
        if isinstance(headers, dict):
            for name, header in headers.items():
                if isinstance(name, str) and name.lower() in ("x-user-agent", "x_user_agent"):
                    value = header
                    break
    return value if isinstance(value, str) and value else None


def _epoch_ms(at):
    return (at - EPOCH) // timedelta(milliseconds=1)


def validate_event(event, now):
    """Return (key, fields, reasons); reasons empty means valid.

    `key` names the event among its server's events: its `event_id`, or
    without one `<session id>/<event>/<its time in ms>`, the same whether
    the times came in seconds or milliseconds. On rejection it is the
    event_id as sent (None when absent or unusable).
    """
    if not isinstance(event, dict):
        return None, None, ["event: expected a JSON object"]
    reasons = []
    event_id = event.get("event_id")
    if event_id is None:
        pass  # optional in every schema version: the key is derived below
    elif isinstance(event_id, bool) or not isinstance(event_id, (int, str)) or event_id == "":
        reasons.append("event_id: expected an integer or a non-empty string")
        event_id = None
    elif isinstance(event_id, int) and not _int64(event_id):
        reasons.append("event_id: out of range (a 64-bit integer)")
        event_id = None
    elif isinstance(event_id, str) and not _utf8(event_id):
        reasons.append("event_id: not valid Unicode text")
        event_id = None
    else:
        event_id = str(event_id)[:128]
    name = event.get("event")
    if name not in EVENTS:
        reasons.append(f"event: expected an event type name ({', '.join(EVENTS)}; "
                       f"other types are ignored), got {repr(name)[:60]}")
    session_id = event.get("id")
    if not isinstance(session_id, (str, int)) or isinstance(session_id, bool) or session_id == "":
        reasons.append("id: required (the play session id)")
    elif len(str(session_id)) > 128:
        reasons.append("id: longer than 128 characters")
    elif isinstance(session_id, str) and not _utf8(session_id):
        reasons.append("id: not valid Unicode text")
    media = None
    for n in ("media", "name"):  # events name the stream `media`, session objects `name`
        value = event.get(n)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            reasons.append(f"{n}: expected a string (the stream name)")
        elif not _utf8(value):
            reasons.append(f"{n}: not valid Unicode text")
        else:
            media = value[:512]
        break
    times = {n: _instant(event, n, reasons) for n in TIME_FIELDS}
    moments = [t for t in times.values() if t is not None]
    if not moments and not reasons:
        reasons.append("utc_ms: required (or opened_at/started_at/updated_at/closed_at)")
    at = max(moments) if moments else None
    if at is not None:
        skew = timedelta(seconds=setting("VIEWSTATS_MAX_CLOCK_SKEW_SECONDS"))
        if at > now + skew:
            reasons.append(f"utc_ms: in the future (more than {skew.seconds} s ahead of the server clock)")
        if at < now - timedelta(days=setting("VIEWSTATS_MAX_EVENT_AGE_DAYS")):
            reasons.append(f"utc_ms: older than {setting('VIEWSTATS_MAX_EVENT_AGE_DAYS')} days")
        if times["opened_at"] and at - times["opened_at"] > timedelta(
                hours=setting("VIEWSTATS_MAX_SESSION_HOURS")):
            reasons.append(f"opened_at: session longer than {setting('VIEWSTATS_MAX_SESSION_HOURS')} hours")
    size = event.get("bytes")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        reasons.append("bytes: expected a non-negative integer")
    elif size is not None and not _int64(size):
        reasons.append("bytes: out of range (a 64-bit integer)")
    xua = _x_user_agent(event)
    if xua is not None:
        event = {**event, "x_user_agent": xua}
    reasons += [f"{n}: not valid Unicode text" for n in TEXT_FIELDS
                if n != "media" and isinstance(event.get(n), str) and not _utf8(event[n])]
    if reasons:
        return event_id, None, reasons
    fields = {n: str(event[n])[:512] for n in TEXT_FIELDS
              if n != "media" and event.get(n) not in (None, "")}
    if media is not None:
        fields["media"] = media
    fields.update(event=name, session=str(session_id), at=whole_seconds(at),
                  opened_at=whole_seconds(times["opened_at"]) if times["opened_at"] else None,
                  bytes=size, dvr=bool(event.get("dvr")))
    key = event_id if event_id is not None else f"{session_id}/{name}/{_epoch_ms(at)}"
    return key, fields, []


def ingest_events(server, events, now=None):
    """Store a batch of events from `server` (a MediaServer); update their sessions.

    Raises store.StoreUnavailable, before acknowledging anything, when the
    store fails: the server keeps the batch and resends it. A session whose
    update fails otherwise is logged and listed in `sessions_failed`; the
    other sessions of the batch are updated all the same.
    """
    now = now or utcnow()
    result = EventsResult()
    docs, ids = [], []
    for index, event in enumerate(events):
        unused = ignored_type(event)
        if unused is not None:
            result.ignore(unused)
            continue
        key, fields, reasons = validate_event(event, now)
        if reasons:
            result.rejected.append({"index": index, "event_id": key, "reasons": reasons})
            continue
        session_key = f"m:{server.client_id}:{server.pk}:{fields.pop('session')}"
        docs.append({"_id": f"{server.pk}:{key}", "client_id": server.client_id,
                     "server_id": server.pk, "session_id": session_key, "received_at": now,
                     # By the wall clock, as the retention TTL counts (the server's
                     # clock can be a simulation's, as in the demo).
                     "stored_at": datetime.now(timezone.utc), "pending": True, **fields})
        ids.append(key)
    inserted, duplicates = store.insert_unordered(store.MEDIA_EVENTS, docs)
    result.accepted = len(inserted)
    result.duplicates = [ids[i] for i in duplicates]
    # Duplicates name their session too: the update is idempotent, and a
    # resend is what repairs a session whose update failed after its events
    # were stored.
    touched = sorted({docs[i]["session_id"] for i in inserted + duplicates})
    for key in touched:
        try:
            doc = update_session(server.client_id, server.pk, key, now)
            if doc is not None:
                daily.mark_dirty(server.client_id, doc["start"], doc["end"])
        except PyMongoError as exc:
            if not isinstance(exc, WriteError):
                raise store.StoreUnavailable(str(exc)) from exc
            _rebuild_failed(result, key, exc)  # the server refused this one document
        except Exception as exc:
            _rebuild_failed(result, key, exc)
        else:
            if doc is not None:
                result.sessions += 1
    return result


def _rebuild_failed(result, key, exc):
    log.exception("media-server session %s could not be updated", key)
    result.sessions_failed.append({"id": key.split(":", 3)[3],
                                   "error": f"{type(exc).__name__}: {exc}"[:300]})


def _spread(buckets, prev_t, prev_b, t, total):
    """Spread the bytes from (prev_t, prev_b) to (t, total) over `buckets`; the new (prev_t, prev_b)."""
    delta = total - prev_b
    if delta <= 0:
        return max(prev_t, t), prev_b
    if t <= prev_t:
        buckets[t - t % BUCKET_SECONDS] += delta
    else:
        given, edge = 0, prev_t - prev_t % BUCKET_SECONDS
        while given < delta:
            edge += BUCKET_SECONDS
            upto = min(edge, t)
            share = delta * (upto - prev_t) // (t - prev_t) - given
            buckets[edge - BUCKET_SECONDS] += share
            given += share
    return t, total


def _bucket_list(buckets):
    return [{"t": datetime.fromtimestamp(k, timezone.utc), "bytes": v}
            for k, v in sorted(buckets.items()) if v]


def traffic_buckets(start, points):
    """Bytes per 5-minute bucket from (instant, running total) points; see the module doc."""
    buckets = defaultdict(int)
    prev_t, prev_b = int(start.timestamp()), 0
    for at, total in points:
        prev_t, prev_b = _spread(buckets, prev_t, prev_b, int(at.timestamp()), total)
    return _bucket_list(buckets)


# Concurrent updates of one session: each is a compare-and-set on what it
# read, and the loser reads again.
UPDATE_ATTEMPTS = 5


def _order(event):
    """Where an event falls in its session: its time, then its key (the `_id`
    without the server prefix, the same for all); shorter keys first, so that
    numeric event ids tie in number order."""
    return _position(event["at"], event["_id"].split(":", 1)[1])


def _position(at, key):
    return at, len(key), key


def _start_of(events):
    return min([e["opened_at"] for e in events if e.get("opened_at")] + [e["at"] for e in events])


@dataclass
class _State:
    """What a session's figures are made of, carried from event to event."""
    start: datetime
    end: datetime = None
    latest: dict = field(default_factory=dict)
    dvr: bool = False
    closed: bool = False
    n_events: int = 0
    received_at: datetime = None
    bytes: int = 0
    traffic_t: int = None  # the second the traffic is spread up to; None: no byte count yet
    buckets: dict = field(default_factory=lambda: defaultdict(int))
    last: tuple = None  # _order() of the last event taken in

    def take(self, events):
        """Take in `events`, sorted by _order() and all after `last`."""
        for e in events:
            self.latest.update({n: e[n] for n in TEXT_FIELDS if e.get(n)})
            self.dvr = self.dvr or bool(e.get("dvr"))
            self.closed = self.closed or e["event"] == "play_closed"
            self.n_events += 1
            self.received_at = min(filter(None, (self.received_at, e["received_at"])))
            self.end = max(filter(None, (self.end, e["at"])))
            self.last = _order(e)
            if e.get("bytes") is not None:
                prev_t = int(self.start.timestamp()) if self.traffic_t is None else self.traffic_t
                self.traffic_t, self.bytes = _spread(self.buckets, prev_t, self.bytes,
                                                     int(e["at"].timestamp()), max(self.bytes, e["bytes"]))
        return self

    @classmethod
    def of(cls, events):
        """The state after all of a session's events."""
        events = sorted(events, key=_order)
        return cls(start=_start_of(events)).take(events)

    @classmethod
    def resumed(cls, doc, pending):
        """The state of a stored session document with `pending` taken in, or
        None when they cannot simply follow what it holds."""
        carried = doc.get("media_state")
        if carried is None:
            return None  # stored before sessions kept their state
        last = _position(carried["last_at"], carried["last_key"])
        pending = sorted(pending, key=_order)
        if pending and _order(pending[0]) <= last:
            return None  # late, or already in the session
        start = min([doc["start"], _start_of(pending)] if pending else [doc["start"]])
        if start < doc["start"] and carried["traffic_t"] is not None:
            return None  # the traffic spread from the old start
        buckets = defaultdict(int)
        for b in doc.get("traffic") or ():
            buckets[int(b["t"].timestamp())] += b["bytes"]
        state = cls(start=start, end=doc["end"], latest=dict(carried["latest"]), dvr=carried["dvr"],
                    closed=doc["closed"], n_events=doc["n_events"], received_at=doc["received_at"],
                    bytes=doc["bytes"], traffic_t=carried["traffic_t"], buckets=buckets, last=last)
        return state.take(pending)


def _events_find(client_id, query, index):
    # (The embedded engine scans everything and ignores the hint.)
    return list(store.collection(store.MEDIA_EVENTS).find({"client_id": client_id, **query}).hint(index))


def update_session(client_id, server_id, key, now):
    """Bring one session up to date with its pending events and store it.

    Returns the document, or None when no event of `key` is stored.
    """
    sessions = store.sessions()
    doc = None
    for _ in range(UPDATE_ATTEMPTS):
        stored = sessions.find_one({"client_id": client_id, "_id": key})
        # Read after the session: a pending event it already holds (its mark
        # outlived a failure, or its writer has not unmarked it yet) sorts
        # before its last event and sends us to the recomputation; one taken
        # in by a later writer makes our compare-and-set fail.
        pending = _events_find(client_id, {"session_id": key, "pending": True}, "client_session_pending")
        state = _State.resumed(stored, pending) if stored is not None else None
        if state is None:
            events = _events_find(client_id, {"session_id": key}, "client_session")
            if not events:  # a resent event_id that was first stored under another session
                return None
            state = _State.of(events)
            pending = [e for e in events if e.get("pending")]
        doc = session_from_state(client_id, server_id, key, state, now)
        if _compare_and_set(sessions, client_id, key, stored, doc):
            if pending:
                store.collection(store.MEDIA_EVENTS).update_many(
                    {"client_id": client_id, "_id": {"$in": [e["_id"] for e in pending]}},
                    {"$unset": {"pending": ""}})
            return doc
    # Others kept updating it: its events stay pending for the next update.
    return doc


def _compare_and_set(sessions, client_id, key, stored, doc):
    if stored is None:
        try:
            sessions.insert_one(doc)
            return True
        except DuplicateKeyError:
            return False
    carried = stored.get("media_state") or {}
    # `start` as read, too: with it the filter names the whole shard key
    # {client_id, start}, which MongoDB asks for when a replacement moves the
    # start (an earlier opened_at).
    return sessions.replace_one(
        {"client_id": client_id, "start": stored["start"], "_id": key, "n_events": stored.get("n_events"),
         "media_state.last_at": carried.get("last_at"), "media_state.last_key": carried.get("last_key")},
        doc).matched_count == 1


def session_from_state(client_id, server_id, key, state, now):
    """The session document of `state`, with what the host says of it now."""
    latest, start = state.latest, state.start
    manifest = latest.get("manifest_type", "").lower()
    archive = manifest in ARCHIVE_MANIFESTS or (not manifest and state.dvr)
    media = latest.get("media")  # None when no event of the session named its stream
    channel_id = host.channel_for_stream(client_id, media) if media else None
    program_id = host.programme_on_air(client_id, channel_id, start) if channel_id and not archive else None
    ip, ua, xua = latest.get("ip", ""), latest.get("user_agent", ""), latest.get("x_user_agent", "")
    country = latest.get("country", "")
    country = country.upper() if len(country) == 2 else geo.country_for_ip(ip)
    doc = session_document(
        _id=key, client_id=client_id, source="media_server",
        protocol=latest.get("proto", "unknown").lower(), start=start, end=state.end,
        channel_id=channel_id, program_id=program_id, kind="archive" if archive else "live",
        received_at=state.received_at,
        ip=ip or None, user_agent=ua, x_user_agent=xua or None, **origin.device_fields(ua, xua),
        country=country, server_id=server_id, media=media, token=latest.get("token"),
        user_id=latest.get("user_id"), bytes=state.bytes, traffic=_bucket_list(state.buckets),
        closed=state.closed, n_events=state.n_events)
    doc["updated_at"] = now
    if peers.is_inter_server(client_id, ip, latest.get("peer")):
        doc["inter_server"] = True
    viewer = host.viewer_for_token(client_id, latest.get("token"), latest.get("user_id"))
    if viewer is not None:
        doc.update(account_id=viewer.account_id, customer_id=viewer.customer_id,
                   tariff_ids=host.tariffs_at(client_id, viewer.account_id, start), device_type=viewer.device_type)
    doc["media_state"] = {"latest": dict(latest), "dvr": state.dvr, "last_at": state.last[0],
                          "last_key": state.last[-1], "traffic_t": state.traffic_t}
    return doc
