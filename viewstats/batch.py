"""Batch API: apps that buffer offline send finished viewing intervals.

Each item carries an id the app generated. The stored `_id` is derived from
it, so a resent item is recognised as a duplicate and never stored twice.
Valid items are stored even when others in the same batch are rejected.

Item fields:
    id              required; string or integer, at most 128 characters
    channel_id      required; a channel of the authenticated client
    start, end      required; ISO 8601 with offset, or Unix seconds/milliseconds
    type            "live" (default) or "archive" ("pvr" is accepted too)
    program_id      optional for live (the programme on air at `start` is
                    used), required for archive; must air on `channel_id`
    timeshift_offset  optional, hours behind live (>= 0)
    archive_offset    optional, seconds into the programme (>= 0)
    client_id       optional; must equal the authenticated client
"""
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cached_property

from django.core.signals import setting_changed
from django.dispatch import receiver
from pymongo.errors import PyMongoError

from . import host, store
from .conf import setting
from .documents import session_document, utcnow, whole_seconds
from .timeparse import parse_instant

KIND_ALIASES = {"live": "live", "archive": "archive", "pvr": "archive"}
logger = logging.getLogger(__name__)


@dataclass
class BatchResult:
    accepted: list = field(default_factory=list)
    duplicates: list = field(default_factory=list)
    rejected: list = field(default_factory=list)

    def reject(self, index, item_id, reasons):
        self.rejected.append({"index": index, "id": item_id, "reasons": reasons})

    def as_dict(self):
        return {"accepted": len(self.accepted), "accepted_ids": self.accepted,
                "duplicates": self.duplicates, "rejected": self.rejected}


INT64_MAX = 2 ** 63 - 1
_INTEGER = re.compile(r"-?[0-9]{1,19}")  # ASCII digits only: str.isdigit() takes "²"


def _int_field(item, name, reasons, required=False, minimum=0, maximum=INT64_MAX):
    """An integer (or a string of ASCII digits) within [minimum, maximum].

    Every integer field is an id or an offset, so 0..2^63-1 by default: a
    negative one is meaningless, a bigger one does not fit in BSON or SQL.
    """
    value = item.get(name)
    if value is None:
        if required:
            reasons.append(f"{name}: required")
        return None
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        reasons.append(f"{name}: expected an integer, got {value!r}"[:200])
        return None
    if value < minimum:
        reasons.append(f"{name}: must be >= {minimum}")
        return None
    if value > maximum:
        reasons.append(f"{name}: must be <= {maximum}")
        return None
    return value


def _item_id(item, reasons):
    value = item.get("id")
    if value is None or value == "":
        reasons.append("id: required")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        reasons.append("id: expected a string or integer")
        return None
    value = str(value)
    if len(value) > 128:
        reasons.append("id: longer than 128 characters")
        return None
    if not value.isprintable():
        # BSON cannot store a lone surrogate, and a control character in an
        # id is a client bug, not an id. Surrogates (category Cs) are never
        # printable, so this one test refuses both.
        reasons.append("id: must be printable Unicode text")
        return None
    return value


def _instant(item, name, reasons):
    value = item.get(name)
    if value is None:
        reasons.append(f"{name}: required")
        return None
    try:
        return whole_seconds(parse_instant(value))
    except ValueError as exc:
        reasons.append(f"{name}: {exc}")
        return None


class _Limits:
    """The settings that bound a batch item, read once until a setting changes.

    setting() goes through Django's lazy settings object, which costs
    microseconds per call (more for a name left to its default), and every
    item needs four of them. Settings do not change in a running server;
    tests change them with override_settings, whose `setting_changed`
    signal drops this snapshot.
    """

    def __init__(self):
        self.skew_seconds = setting("VIEWSTATS_MAX_CLOCK_SKEW_SECONDS")
        self.session_hours = setting("VIEWSTATS_MAX_SESSION_HOURS")
        self.age_days = setting("VIEWSTATS_MAX_EVENT_AGE_DAYS")
        self.timeshift_hours = setting("VIEWSTATS_MAX_TIMESHIFT_HOURS")

    # The timedeltas are built on first use, so a malformed setting fails at
    # the same check (and item) as when it was read there.
    @cached_property
    def skew(self):
        return timedelta(seconds=self.skew_seconds)

    @cached_property
    def session(self):
        return timedelta(hours=self.session_hours)

    @cached_property
    def age(self):
        return timedelta(days=self.age_days)


_limits = None


def _current_limits():
    global _limits
    if _limits is None:
        _limits = _Limits()
    return _limits


@receiver(setting_changed)
def _forget_limits(**kwargs):
    global _limits
    _limits = None


def _check_interval(start, end, now, limits, reasons):
    skew = limits.skew
    if end < start:
        reasons.append("end: before start")
    elif end - start > limits.session:
        reasons.append(f"end: session longer than {limits.session_hours} hours")
    if end > now + skew:
        reasons.append(f"end: in the future (more than {skew.seconds} s ahead of the server clock)")
    if start < now - limits.age:
        reasons.append(f"start: older than {limits.age_days} days")


def validate_item(item, login, now):
    """Return (item_id, session fields, reasons). Reasons empty = valid."""
    return _common_item(item, login, now) or _validate_in_full(item, login, now)


# Fields the common item does without. With any of them (even null) an item
# goes through _validate_in_full, which knows what each one means.
_RARE_FIELDS = frozenset(("client_id", "program_id", "timeshift_offset", "archive_offset"))


def _common_item(item, login, now):
    """validate_item's answer for the item nearly every app sends, or None.

    That item is a JSON object with a string id, an integer channel_id, ISO
    8601 start and end, and no type but "live". It is checked with exact
    type tests and without building reason strings. Anything else, and
    anything wrong with it, gives None: _validate_in_full then decides, so
    the reasons, their order and their wording stay in one place. An answer
    given here is the one _validate_in_full would give
    (tests/test_batch_speed_equivalence.py holds the two to that).

    Limits and host lookups are used in _validate_in_full's order, so one
    that raises does so for the same items on either path.
    """
    # type() is, not isinstance(): JSON gives exact dicts, strs and ints,
    # and a bool (an int subclass) or a str subclass goes the full way.
    if type(item) is not dict or not _RARE_FIELDS.isdisjoint(item):
        return None
    item_id, channel_id = item.get("id"), item.get("channel_id")
    start, end = item.get("start"), item.get("end")
    kind = item.get("type", "live")
    if not (type(item_id) is str and 0 < len(item_id) <= 128 and item_id.isprintable()
            and type(channel_id) is int and 0 <= channel_id <= INT64_MAX
            and type(start) is str and type(end) is str and type(kind) is str and kind == "live"):
        return None
    limits = _current_limits()
    if channel_id not in host.client_channel_ids(login.client_id):
        return None
    start, end = _iso_instant(start), _iso_instant(end)
    if start is None or end is None:
        return None
    # _check_interval's tests, in its order: the first that fails is left to it.
    skew = limits.skew
    if end < start or end - start > limits.session or end > now + skew or start < now - limits.age:
        return None
    fields = {"channel_id": channel_id, "program_id": host.programme_on_air(login.client_id, channel_id, start),
              "kind": "live", "start": start, "end": end, "timeshift_offset": 0, "archive_offset": None}
    return item_id, fields, []


def _iso_instant(text):
    """whole_seconds(parse_instant(text)) for a str, or None where that raises.

    parse_instant's string branch without its error messages (the full path
    writes those) and without a call per step: an ISO 8601 string is what
    nearly every app sends.
    """
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    try:
        parsed = parsed.astimezone(timezone.utc)
    except OverflowError:
        return None
    return parsed.replace(microsecond=0) if parsed.microsecond else parsed


def _validate_in_full(item, login, now):
    """validate_item for any item: every reason it is refused, in a fixed order."""
    if not isinstance(item, dict):
        return None, None, ["item: expected a JSON object"]
    limits = _current_limits()
    reasons = []
    item_id = _item_id(item, reasons)
    # The optional fields are mostly absent: a key test is much cheaper than
    # the call that would find nothing (a None value still goes through it).
    client_id = _int_field(item, "client_id", reasons) if "client_id" in item else None
    if client_id is not None and client_id != login.client_id:
        reasons.append("client_id: does not match the authenticated client")
    channel_id = _int_field(item, "channel_id", reasons, required=True)
    if channel_id is not None and channel_id not in host.client_channel_ids(login.client_id):
        reasons.append(f"channel_id: {channel_id} is not a channel of this client")
        channel_id = None
    kind = item.get("type", "live")
    kind = KIND_ALIASES.get(kind) if isinstance(kind, str) else None
    if kind is None:
        reasons.append(f"type: expected live or archive, got {item.get('type')!r}"[:200])
    start = _instant(item, "start", reasons)
    end = _instant(item, "end", reasons)
    if start and end:
        _check_interval(start, end, now, limits, reasons)
    program_id = _int_field(item, "program_id", reasons) if "program_id" in item else None
    if program_id is not None and channel_id is not None:
        if host.programme_channel(login.client_id, program_id) != channel_id:
            reasons.append(f"program_id: {program_id} is not a programme of channel {channel_id}")
    if kind == "archive" and program_id is None and not any(r.startswith("program_id") for r in reasons):
        reasons.append("program_id: required for archive viewing")
    timeshift = 0
    if "timeshift_offset" in item:
        timeshift = _int_field(item, "timeshift_offset", reasons, maximum=limits.timeshift_hours) or 0
    archive_offset = _int_field(item, "archive_offset", reasons) if "archive_offset" in item else None
    if reasons:
        return item_id, None, reasons
    if program_id is None and kind == "live":
        # Most items watch live: skip building a zero timedelta for them.
        on_air_at = start - timedelta(hours=timeshift) if timeshift else start
        program_id = host.programme_on_air(login.client_id, channel_id, on_air_at)
    fields = {"channel_id": channel_id, "program_id": program_id, "kind": kind, "start": start, "end": end,
              "timeshift_offset": timeshift, "archive_offset": archive_offset}
    return item_id, fields, []


def _existing_ids(login, ids):
    # The `_id` index reads one key per id; a planner racing client_end (also
    # led by client_id) could otherwise walk the client's history.
    return {d["_id"] for d in store.sessions().find({"client_id": login.client_id, "_id": {"$in": ids}},
                                                     {"_id": 1}, hint="_id_")}


def _sessions_opened_on(login, day_start):
    return store.sessions().count_documents({
        "client_id": login.client_id, "account_id": login.account_id,
        "start": {"$gte": day_start, "$lt": day_start + timedelta(days=1)}})


def ingest_batch(login, items, origin, now=None):
    """Validate and store a batch; return a BatchResult. Raises StoreUnavailable."""
    now = now or utcnow()
    result = BatchResult()
    candidates = []  # (index, item_id, doc)
    seen = set()
    for index, item in enumerate(items):
        try:
            item_id, fields, reasons = validate_item(item, login, now)
        except Exception:  # a bug must cost one item, not the batch
            logger.exception("batch item %d could not be validated", index)
            item_id, fields, reasons = None, None, ["item: could not be validated"]
        if reasons:
            result.reject(index, item_id, reasons)
        elif item_id in seen:
            result.duplicates.append(item_id)
        else:
            seen.add(item_id)
            doc = session_document(
                _id=f"b:{login.client_id}:{login.account_id}:{item_id}", client_id=login.client_id,
                source="device", protocol="batch", login=login, origin=origin, received_at=now,
                tariff_ids=host.tariffs_at(login.client_id, login.account_id, fields["start"]),
                **fields)
            candidates.append((index, item_id, doc))
    if not candidates:
        return result
    try:
        existing = _existing_ids(login, [doc["_id"] for _, _, doc in candidates])
        fresh = []
        for index, item_id, doc in candidates:
            (result.duplicates.append(item_id) if doc["_id"] in existing
             else fresh.append((index, item_id, doc)))
        fresh = _apply_record_limit(login, fresh, result)
    except PyMongoError as exc:
        raise store.StoreUnavailable(str(exc)) from exc
    inserted, duplicates = store.insert_unordered(store.SESSIONS, [doc for _, _, doc in fresh])
    result.accepted += [fresh[i][1] for i in inserted]
    result.duplicates += [fresh[i][1] for i in duplicates]
    return result


def _apply_record_limit(login, fresh, result):
    """Keep an account within its daily session limit; reject the overflow."""
    limit = setting("VIEWSTATS_MAX_SESSIONS_PER_ACCOUNT_DAY")
    room = {}
    kept = []
    for index, item_id, doc in fresh:
        day = doc["start"].replace(hour=0, minute=0, second=0)
        if day not in room:
            room[day] = limit - _sessions_opened_on(login, day)
        if room[day] <= 0:
            result.reject(index, item_id, [f"limit: more than {limit} sessions for this account on "
                                           f"{day:%Y-%m-%d}"])
            continue
        room[day] -= 1
        kept.append((index, item_id, doc))
    return kept
