"""The batch API's fast paths answer exactly as the code they replaced.

viewstats/batch.py checks the common item (string id, integer channel,
ISO 8601 start and end, live) on a fast path and leaves everything else to
the full, reason-collecting path; viewstats/documents.py builds a session
without whole_seconds() calls or a float duration; viewstats/jsonbody.py
measures a UTF-8 body's nesting from its bytes. Below are frozen copies of
that code as it was before (commit 4608b3f), and thousands of generated
items, sessions and bodies go through both: every answer (reasons, their
order, the index of the item they belong to, exceptions) and every document
(compared as BSON bytes) must be the same.
"""
import json
import random
import re
from collections import OrderedDict
from datetime import datetime, timedelta, timezone

import bson
import pytest
from django.test import override_settings

from tests.test_fuzz import (HOSTILE_BODIES, HOSTILE_JSON_VALUES, HOSTILE_NUMBERS, HOSTILE_TEXT,
                             bad_batch_field)
from viewstats import batch, host, jsonbody, store
from viewstats.batch import INT64_MAX, KIND_ALIASES, BatchResult, _current_limits
from viewstats.documents import session_document, set_clock, utcnow
from viewstats.origin import Origin
from viewstats.timeparse import parse_instant

HOST_KINDS = ("reference", "toy")  # the host lookups the fast path makes are the host's own
UTC = timezone.utc


# --- frozen copies of the code before the change ----------------------------------------------
# Verbatim but for the names (old_ prefix); the _Limits snapshot, host lookups and
# parse_instant were not changed and are the live ones.

_INTEGER = re.compile(r"-?[0-9]{1,19}")


def old_int_field(item, name, reasons, required=False, minimum=0, maximum=INT64_MAX):
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


def old_item_id(item, reasons):
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
        reasons.append("id: must be printable Unicode text")
        return None
    return value


def old_whole_seconds(instant):
    return instant.replace(microsecond=0) if instant.microsecond else instant


def old_instant(item, name, reasons):
    value = item.get(name)
    if value is None:
        reasons.append(f"{name}: required")
        return None
    try:
        return old_whole_seconds(parse_instant(value))
    except ValueError as exc:
        reasons.append(f"{name}: {exc}")
        return None


def old_check_interval(start, end, now, limits, reasons):
    skew = limits.skew
    if end < start:
        reasons.append("end: before start")
    elif end - start > limits.session:
        reasons.append(f"end: session longer than {limits.session_hours} hours")
    if end > now + skew:
        reasons.append(f"end: in the future (more than {skew.seconds} s ahead of the server clock)")
    if start < now - limits.age:
        reasons.append(f"start: older than {limits.age_days} days")


def old_validate_item(item, login, now):
    if not isinstance(item, dict):
        return None, None, ["item: expected a JSON object"]
    limits = _current_limits()
    reasons = []
    item_id = old_item_id(item, reasons)
    client_id = old_int_field(item, "client_id", reasons) if "client_id" in item else None
    if client_id is not None and client_id != login.client_id:
        reasons.append("client_id: does not match the authenticated client")
    channel_id = old_int_field(item, "channel_id", reasons, required=True)
    if channel_id is not None and channel_id not in host.client_channel_ids(login.client_id):
        reasons.append(f"channel_id: {channel_id} is not a channel of this client")
        channel_id = None
    kind = item.get("type", "live")
    kind = KIND_ALIASES.get(kind) if isinstance(kind, str) else None
    if kind is None:
        reasons.append(f"type: expected live or archive, got {item.get('type')!r}"[:200])
    start = old_instant(item, "start", reasons)
    end = old_instant(item, "end", reasons)
    if start and end:
        old_check_interval(start, end, now, limits, reasons)
    program_id = old_int_field(item, "program_id", reasons) if "program_id" in item else None
    if program_id is not None and channel_id is not None:
        if host.programme_channel(login.client_id, program_id) != channel_id:
            reasons.append(f"program_id: {program_id} is not a programme of channel {channel_id}")
    if kind == "archive" and program_id is None and not any(r.startswith("program_id") for r in reasons):
        reasons.append("program_id: required for archive viewing")
    timeshift = 0
    if "timeshift_offset" in item:
        timeshift = old_int_field(item, "timeshift_offset", reasons, maximum=limits.timeshift_hours) or 0
    archive_offset = old_int_field(item, "archive_offset", reasons) if "archive_offset" in item else None
    if reasons:
        return item_id, None, reasons
    if program_id is None and kind == "live":
        on_air_at = start - timedelta(hours=timeshift) if timeshift else start
        program_id = host.programme_on_air(login.client_id, channel_id, on_air_at)
    fields = {"channel_id": channel_id, "program_id": program_id, "kind": kind, "start": start, "end": end,
              "timeshift_offset": timeshift, "archive_offset": archive_offset}
    return item_id, fields, []


def old_session_document(*, _id, client_id, source, protocol, start, end, channel_id,
                         program_id=None, kind="live", login=None, tariff_ids=(), timeshift_offset=0,
                         archive_offset=None, origin=None, received_at=None, **extra):
    start, end = old_whole_seconds(start), old_whole_seconds(end)
    if login:
        account_id, customer_id, device_type = login.account_id, login.customer_id, login.device_type
        device_key = f"{account_id}:{login.device_id}"
    else:
        account_id = customer_id = device_type = device_key = None
    received_at = received_at or utcnow()
    doc = {
        "_id": _id,
        "client_id": client_id,
        "source": source,
        "protocol": protocol,
        "account_id": account_id,
        "customer_id": customer_id,
        "tariff_ids": list(tariff_ids),
        "device_type": device_type,
        "device_key": device_key,
        "channel_id": channel_id,
        "program_id": program_id,
        "kind": kind,
        "timeshift_offset": timeshift_offset,
        "archive_offset": archive_offset,
        "start": start,
        "end": end,
        "duration": int((end - start).total_seconds()),
        "received_at": received_at,
        "updated_at": received_at,
    }
    if origin is not None:
        doc.update(origin.as_fields())
    doc.update(extra)
    return doc


_OLD_ESCAPE = re.compile(r"\\.", re.S)
_OLD_STRING = re.compile(r'"[^"]*"')
_OLD_BRACKET = re.compile(r"[\[\]{}]")


def old_nesting_depth_exceeds(text, limit=jsonbody.MAX_DEPTH):
    if text.count("[") + text.count("{") <= limit:
        return False
    bare = _OLD_STRING.sub("", _OLD_ESCAPE.sub("", text))
    depth = 0
    for match in _OLD_BRACKET.finditer(bare):
        if match.group() in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
            if depth < 0:
                return False
    return False


def _old_no_constants(name):
    raise ValueError(f"{name} is not valid JSON")


def old_parse(raw, max_depth=jsonbody.MAX_DEPTH):
    BodyError = jsonbody.BodyError
    if isinstance(raw, (bytes, bytearray)):
        try:
            text = bytes(raw).decode(json.detect_encoding(raw), "surrogatepass")
        except (UnicodeDecodeError, LookupError) as exc:
            raise BodyError(f"malformed JSON: {exc}") from None
    else:
        text = raw
    if old_nesting_depth_exceeds(text, max_depth):
        raise BodyError(f"malformed JSON: nested deeper than {max_depth} levels")
    try:
        return json.loads(text, parse_constant=_old_no_constants)
    except RecursionError:
        raise BodyError(f"malformed JSON: nested deeper than {max_depth} levels") from None
    except ValueError as exc:
        raise BodyError(f"malformed JSON: {exc}") from None


# --- helpers ----------------------------------------------------------------------------------

def outcome(fn, *args, **kwargs):
    """What a call gives: its value, or the class and text of what it raised."""
    try:
        return "value", fn(*args, **kwargs)
    except Exception as exc:  # the comparison is the point
        return "raised", type(exc), str(exc)


def same_value(a, b):
    """Equal, of the same types all the way down and with dict keys in the same order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, datetime):
        return a == b and a.tzinfo == b.tzinfo and a.utcoffset() == b.utcoffset()
    return a == b


def assert_same_outcome(new, old, what):
    assert new[0] == old[0], (what, new, old)
    if new[0] == "raised":
        assert new[1:] == old[1:], (what, new, old)
    else:
        assert same_value(new[1], old[1]), (what, new, old)


def iso(t):
    return t.isoformat()


class Text(str):
    """A str subclass: not what JSON gives, but validate_item takes any object."""


class Number(int):
    pass


class Items:
    """Batch items: the valid kinds and, field by field, every kind of invalid value."""

    def __init__(self, op, other, now, seed):
        self.rng = random.Random(seed)
        self.op, self.now = op, now
        self.channels = [c.id for c in op.channels]
        self.other_channel = other.channels[0].id
        self.programmes = {c: [p.id for p in rows] for c, rows in op.schedule.items()}
        limits = _current_limits()
        self.skew = timedelta(seconds=limits.skew_seconds)
        self.session = timedelta(hours=limits.session_hours)
        self.age = timedelta(days=limits.age_days)
        self.timeshift_hours = limits.timeshift_hours
        self.serial = 0

    def pick(self, values):
        return values[self.rng.randrange(len(values))]

    # Instants near every edge the interval check has, some with fractions of a second.
    def instants(self, base):
        now, skew, age = self.now, self.skew, self.age
        half = timedelta(microseconds=500_000)
        return [base, base + half, now + skew, now + skew + half, now + skew + timedelta(seconds=1),
                now - age, now - age - half, now - age + timedelta(seconds=1), now - age - timedelta(seconds=1),
                now, now - timedelta(hours=3), now - timedelta(days=2)]

    def stamp(self, t):
        form = self.rng.randrange(12)
        if form == 0:
            return iso(t).replace("+00:00", "Z")
        if form == 1:
            return int(t.timestamp())
        if form == 2:
            return int(t.timestamp() * 1000)
        if form == 3:
            return t.timestamp()  # a float, maybe with a fraction
        if form == 4:
            return iso(t.astimezone(timezone(timedelta(hours=5, minutes=30))))
        if form == 5:
            return f"  {iso(t)} "
        if form == 6:
            return iso(t.replace(tzinfo=None))  # no offset
        if form == 7:
            return iso(t.astimezone(timezone(timedelta(hours=-8))))
        if form == 8:
            return iso(t).replace("T", " ")
        return iso(t)

    def odd_instant(self):
        return self.pick([None, True, False, [], {}, "", " ", "tomorrow", "2020-01-01T00:00:00",
                          "0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00", "9999-12-31T23:59:59+00:00",
                          10 ** 400, -(10 ** 30), 1e308, -1e308, 0, -1, 1.5, 10_000_000_000, 9_999_999_999,
                          "２０２６-01-01T00:00:00+00:00", "2026-13-01T00:00:00+00:00", "2026-01-01T00:00:00+24:00",
                          "2026-01-01T00:00:00.1234567+00:00", "2026-01-01T00:00:00z", "2026-01-01T00:00:00ZZ",
                          "2026-01-01T00:00:00+00:00\x00", Text(iso(self.now)), "x" * 300, "\ud800"])

    def odd_integer(self, good=()):
        return self.pick([None, 0, 1, -1, INT64_MAX, INT64_MAX + 1, -INT64_MAX - 2, 10 ** 30, True, False,
                          1.0, 1.5, "7", " 7 ", "-7", "0x1f", "1e3", "²", "１２", "", [], {}, Number(3),
                          *HOSTILE_NUMBERS, *good, *[str(g) for g in good]])

    def odd_id(self):
        return self.pick([None, "", " ", "x" * 128, "x" * 129, "é" * 128, "😀", "a\x00b", "\ud800", "\x07",
                          "\u202e", "\u00a0", 0, -5, 7, 10 ** 127, 10 ** 128, 10 ** 5000, True, False, 1.5,
                          [], {}, Text("t"), Number(9), *HOSTILE_TEXT, *HOSTILE_JSON_VALUES])

    def valid(self):
        """An item validate_item accepts, in any of its accepted forms."""
        self.serial += 1
        channel = self.pick(self.channels)
        start = self.now - timedelta(seconds=self.rng.randrange(60, 3 * 86400))
        end = start + timedelta(seconds=self.rng.randrange(0, 7200))
        item = {"id": f"i{self.serial}" if self.rng.random() < 0.8 else self.serial,
                "channel_id": channel if self.rng.random() < 0.8 else str(channel),
                "start": self.stamp(start), "end": self.stamp(end)}
        roll = self.rng.random()
        if roll < 0.1:
            item["type"] = self.pick(["live", "archive", "pvr"])
            if item["type"] != "live":
                item["program_id"] = self.pick(self.programmes[channel])
                item["archive_offset"] = self.rng.randrange(0, 7200)
        elif roll < 0.15:
            item["timeshift_offset"] = self.rng.randrange(0, self.timeshift_hours + 1)
        elif roll < 0.18:
            item["client_id"] = self.op.client.id
        if self.rng.random() < 0.1:
            item["extra"] = self.pick([1, "x", None, [1], {"a": 1}])
        return item

    def mutated(self):
        """A valid item with one to three fields changed, removed or set to an edge."""
        item = self.valid()
        for _ in range(self.rng.randrange(1, 4)):
            field = self.pick(["id", "channel_id", "start", "end", "type", "program_id", "timeshift_offset",
                               "archive_offset", "client_id", "edge"])
            if field == "edge":
                base = self.now - timedelta(hours=1)
                start, end = self.pick(self.instants(base)), self.pick(self.instants(base))
                if self.rng.random() < 0.3:
                    end = start + self.session + self.pick([timedelta(0), timedelta(seconds=1),
                                                            timedelta(microseconds=1), -timedelta(seconds=1)])
                item["start"], item["end"] = self.stamp(start), self.stamp(end)
            elif self.rng.random() < 0.15:
                item.pop(field, None)
            elif field == "id":
                item["id"] = self.odd_id()
            elif field == "channel_id":
                item["channel_id"] = self.odd_integer([self.other_channel, *self.channels[:2]])
            elif field in ("start", "end"):
                item[field] = self.odd_instant() if self.rng.random() < 0.6 else self.stamp(
                    self.pick(self.instants(self.now - timedelta(hours=1))))
            elif field == "type":
                item["type"] = self.pick(["live", "archive", "pvr", "LIVE", "", None, 1, [], {"a": 1},
                                          Text("live"), "x" * 300])
            elif field == "program_id":
                channel = item.get("channel_id")
                channel = channel if type(channel) is int and channel in self.programmes else self.channels[0]
                item["program_id"] = self.odd_integer([*self.programmes[channel][:3],
                                                       self.programmes[self.channels[-1]][0]])
            elif field == "timeshift_offset":
                item["timeshift_offset"] = self.odd_integer([self.timeshift_hours, self.timeshift_hours + 1, 2])
            elif field == "archive_offset":
                item["archive_offset"] = self.odd_integer([60])
            else:
                item["client_id"] = self.odd_integer([self.op.client.id, self.op.client.id + 1])
        return item

    def fuzz_field(self, field):
        """tests/test_fuzz.py's invalid values for a field, on an otherwise valid live item."""
        item = {"id": f"f{self.serial}", "channel_id": self.channels[0],
                "start": iso(self.now - timedelta(hours=2)), "end": iso(self.now - timedelta(hours=1))}
        value = bad_batch_field(self.op, field, self.rng.randrange(100))
        if value is None:
            item.pop(field, None)
        else:
            item[field] = value
        return item

    def common(self):
        """The item nearly every app sends (the bench's): string id, channel, ISO 8601 start and end."""
        self.serial += 1
        start = self.now - timedelta(seconds=self.rng.randrange(60, 3 * 86400))
        return {"id": f"c{self.serial}", "channel_id": self.pick(self.channels), "start": iso(start),
                "end": iso(start + timedelta(seconds=self.rng.randrange(0, 7200)))}

    def any(self):
        roll = self.rng.random()
        if roll < 0.15:
            return self.common()
        if roll < 0.35:
            return self.valid()
        if roll < 0.85:
            return self.mutated()
        if roll < 0.95:
            return self.fuzz_field(self.pick(["id", "channel_id", "start", "end", "type", "program_id",
                                              "timeshift_offset", "archive_offset", "client_id"]))
        return self.pick([None, 1, "x", [], [{"id": "x"}], {}, True, OrderedDict(self.valid()),
                          {"id": "x", "channel_id": self.channels[0]}])


def build(validate, make_document, items, login, where, now):
    """ingest_batch's loop before the store, with the given functions: (result, [(index, id, BSON)])."""
    result, candidates, seen = BatchResult(), [], set()
    for index, item in enumerate(items):
        answer = outcome(validate, item, login, now)
        if answer[0] == "raised":
            item_id, fields, reasons = None, None, ["item: could not be validated"]
        else:
            item_id, fields, reasons = answer[1]
        if reasons:
            result.reject(index, item_id, reasons)
        elif item_id in seen:
            result.duplicates.append(item_id)
        else:
            seen.add(item_id)
            doc = make_document(
                _id=f"b:{login.client_id}:{login.account_id}:{item_id}", client_id=login.client_id,
                source="device", protocol="batch", login=login, origin=where, received_at=now,
                tariff_ids=host.tariffs_at(login.client_id, login.account_id, fields["start"]), **fields)
            candidates.append((index, item_id, bson.encode(doc)))
    return result.as_dict(), candidates


@pytest.fixture
def setup(operator, other_operator):
    login = host.login_for_authkey(operator.login(operator.accounts[1], "android_stb", device_uid="eq"))
    where = Origin(ip="81.2.69.160", user_agent="TiviMate/4.7.0 (Linux; Android 11; AFTKA)",
                   device={"type": "tv_stick", "brand": "Amazon"}, country="DE", ua_hash="h")
    now = datetime.now(UTC).replace(microsecond=0)
    return operator, other_operator, login, where, now


# --- validate_item and the documents ------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("seed", [1, 2])
def test_every_item_gets_the_old_answer(setup, seed):
    op, other, login, where, now = setup
    gen = Items(op, other, now, seed)
    items = [gen.any() for _ in range(3000)]
    fast = 0
    for item in items:
        new, old = outcome(batch.validate_item, item, login, now), outcome(old_validate_item, item, login, now)
        assert_same_outcome(new, old, item)
        fast += batch._common_item(item, login, now) is not None
    # Both paths were exercised, and the items were every kind of answer.
    assert 300 < fast < len(items) - 300
    answers = [outcome(old_validate_item, i, login, now) for i in items]
    rejected = [a for a in answers if a[0] == "value" and a[1][2]]
    assert 500 < len(rejected) < len(items) - 500
    # The same reasons at the same indices, the same documents byte for byte.
    assert build(batch.validate_item, session_document, items, login, where, now) == \
        build(old_validate_item, old_session_document, items, login, where, now)


@pytest.mark.django_db
def test_the_fast_path_takes_the_common_item_and_only_answers_valid(setup):
    op, other, login, where, now = setup
    t = now - timedelta(hours=2)
    item = {"id": "a", "channel_id": op.channels[0].id, "start": iso(t), "end": iso(t + timedelta(minutes=5))}
    assert batch._common_item(item, login, now) == old_validate_item(item, login, now)
    assert batch._common_item({**item, "type": "live", "note": [1]}, login, now) is not None
    for odd in ({"id": 5}, {"channel_id": str(op.channels[0].id)}, {"type": "archive"}, {"program_id": None},
                {"start": int(t.timestamp())}, {"end": iso(t - timedelta(minutes=1))}, {"id": True},
                {"channel_id": True}, {"id": Text("a")}, {"end": iso(now + timedelta(hours=1))},
                {"client_id": login.client_id}, {"timeshift_offset": 0}, {"archive_offset": None}):
        assert batch._common_item({**item, **odd}, login, now) is None, odd
    assert batch._common_item(OrderedDict(item), login, now) is None


@pytest.mark.django_db
@pytest.mark.parametrize("limits", [
    {"VIEWSTATS_MAX_CLOCK_SKEW_SECONDS": 0, "VIEWSTATS_MAX_SESSION_HOURS": 1, "VIEWSTATS_MAX_EVENT_AGE_DAYS": 1},
    {"VIEWSTATS_MAX_CLOCK_SKEW_SECONDS": 3600, "VIEWSTATS_MAX_SESSION_HOURS": 48,
     "VIEWSTATS_MAX_EVENT_AGE_DAYS": 400, "VIEWSTATS_MAX_TIMESHIFT_HOURS": 2},
])
def test_limits_at_their_edges(setup, limits):
    op, other, login, where, now = setup
    with override_settings(**limits):
        gen = Items(op, other, now, 3)
        items = [gen.mutated() for _ in range(1500)]
        for item in items:
            assert_same_outcome(outcome(batch.validate_item, item, login, now),
                                outcome(old_validate_item, item, login, now), item)
        assert build(batch.validate_item, session_document, items, login, where, now) == \
            build(old_validate_item, old_session_document, items, login, where, now)


@pytest.mark.django_db
@pytest.mark.parametrize("broken", ["client_channel_ids", "programme_on_air", "programme_channel"])
def test_a_failing_host_lookup_fails_the_same_items(setup, monkeypatch, broken):
    op, other, login, where, now = setup
    gen = Items(op, other, now, 4)
    items = [gen.any() for _ in range(600)]

    def down(*args):
        raise RuntimeError("host down")

    monkeypatch.setattr(host, broken, down)
    raised = 0
    for item in items:
        new, old = outcome(batch.validate_item, item, login, now), outcome(old_validate_item, item, login, now)
        assert_same_outcome(new, old, item)
        raised += new[0] == "raised"
    assert raised > 20


@pytest.mark.django_db
def test_a_host_with_odd_channel_ids(setup, monkeypatch):
    """Channel ids out of 0..2^63-1 are refused even when the host has them."""
    op, other, login, where, now = setup
    odd = [-1, 0, INT64_MAX, INT64_MAX + 1, 10 ** 30, -(2 ** 63) - 1]
    channels = host.client_channel_ids(login.client_id) | frozenset(odd)
    monkeypatch.setattr(host, "client_channel_ids", lambda client_id: channels)
    gen = Items(op, other, now, 7)
    for n in range(600):
        item = gen.common() if n % 2 else gen.any()
        if isinstance(item, dict) and n % 3:
            item["channel_id"] = gen.pick(odd + [str(c) for c in odd])
        assert_same_outcome(outcome(batch.validate_item, item, login, now),
                            outcome(old_validate_item, item, login, now), item)


@pytest.mark.django_db
def test_ingest_batch_stores_the_old_documents(setup, settings):
    """End to end through the store: the same answer, and the old documents stored."""
    settings.VIEWSTATS_MAX_SESSIONS_PER_ACCOUNT_DAY = 10 ** 6
    op, other, login, where, now = setup
    gen = Items(op, other, now, 5)
    items = [gen.any() for _ in range(400)]
    answer, candidates = build(old_validate_item, old_session_document, items, login, where, now)
    result = batch.ingest_batch(login, items, where, now=now).as_dict()
    assert result["rejected"] == answer["rejected"]
    assert result["accepted_ids"] == [item_id for _, item_id, _ in candidates]
    assert result["duplicates"] == answer["duplicates"]
    for _, item_id, encoded in candidates:
        stored = store.sessions().find_one({"_id": f"b:{login.client_id}:{login.account_id}:{item_id}"})
        assert bson.encode(stored) == encoded, item_id


def test_session_documents_are_the_old_ones_byte_for_byte():
    rng = random.Random(6)
    fixed = datetime(2026, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC)
    set_clock(lambda: fixed)
    try:
        login = type("Login", (), {"account_id": 7, "customer_id": 8, "device_type": "ios", "device_id": "d"})()
        where = Origin(ip="", user_agent="ua", device={"os": "iOS"}, ua_pending=True)
        edges = [datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC),
                 datetime(1970, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 23, 59, 59, 999_999, tzinfo=UTC),
                 datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=timezone(timedelta(hours=3)))]
        for n in range(3000):
            start = rng.choice(edges) if rng.random() < 0.2 else fixed + timedelta(
                seconds=rng.randrange(-10 ** 9, 10 ** 9), microseconds=rng.choice([0, 0, 1, 999_999]))
            try:
                end = rng.choice(edges) if rng.random() < 0.2 else start + timedelta(
                    seconds=rng.randrange(-86400, 10 ** 6), microseconds=rng.choice([0, 0, 1, 500_000]))
            except OverflowError:  # past datetime.max
                end = start
            kwargs = {"_id": f"x{n}", "client_id": 1, "source": "device", "protocol": "push", "start": start,
                      "end": end, "channel_id": rng.randrange(5)}
            for name, values in (("login", [None, login]), ("origin", [None, where]),
                                 ("received_at", [None, fixed, start]), ("tariff_ids", [(), [1, 2], (3,)]),
                                 ("program_id", [None, 5]), ("kind", ["live", "archive"]),
                                 ("timeshift_offset", [0, 2]), ("archive_offset", [None, 30]),
                                 ("ip", ["1.2.3.4"]), ("traffic", [[{"t": fixed, "bytes": 1}]]),
                                 ("inter_server", [True]), ("ua", [{"type": "pc"}])):
                if rng.random() < 0.5:
                    kwargs[name] = rng.choice(values)
            new, old = outcome(session_document, **kwargs), outcome(old_session_document, **kwargs)
            assert_same_outcome(new, old, kwargs)
            if new[0] == "value":
                assert bson.encode(new[1]) == bson.encode(old[1]), kwargs
    finally:
        set_clock(None)


# --- request bodies ------------------------------------------------------------------------------

STRUCTURE = ['[', ']', '{', '}', '"', '\\', '"', '[', '{', 'a', ' ', ',', ':', '1', 'é', '😀', '\n']


def bodies(seed, count):
    """Request bodies: batches (with brackets, quotes and escapes in strings), bracket soup, encodings."""
    rng = random.Random(seed)
    out = list(HOSTILE_BODIES)
    words = ["x", "[", "]", "{", "}", '"', "\\", "\\\"", "[[", "é", "\ud800", "😀", '\\"[', "\x00", "]\"["]
    for n in range(count):
        roll = rng.random()
        if roll < 0.3:
            items = [{"id": "".join(rng.choice(words) for _ in range(rng.randrange(4))),
                      "channel_id": rng.randrange(100), "start": "2026-01-01T00:00:00+00:00",
                      **({"extra": [[[]]] * rng.randrange(3)} if rng.random() < 0.2 else {})}
                     for _ in range(rng.randrange(0, 60))]
            text = json.dumps(items, ensure_ascii=rng.random() < 0.5)
        elif roll < 0.6:
            depth = rng.randrange(28, 37)
            inner = json.dumps(rng.choice(["[", "]]]", "x", '"', "{}", "\\"]))
            text = "[" * depth + inner + "]" * (depth - rng.randrange(0, 2))
            if rng.random() < 0.5:
                text = f'[{{"a": {text}}}, "{rng.choice(words)}"]'.replace("\\", "\\\\" * rng.randrange(1, 3))
        else:
            text = "".join(rng.choice(STRUCTURE) for _ in range(rng.randrange(0, 120)))
        raw = text.encode("utf-8", "surrogatepass")
        roll = rng.random()
        if roll < 0.05:
            raw = b"\xef\xbb\xbf" + raw
        elif roll < 0.1:
            raw = text.encode(rng.choice(["utf-16", "utf-16-le", "utf-32-be"]), "surrogatepass")
        elif roll < 0.13:
            raw = raw + b"\xff"
        out.append(bytearray(raw) if rng.random() < 0.05 else raw)
        if rng.random() < 0.05:
            out.append(text)
    return out


@pytest.mark.parametrize("max_depth", [0, 1, 2, 3, 31, 32, 33])
def test_bodies_parse_and_fail_as_before(max_depth):
    for body in bodies(max_depth, 2500):
        new, old = outcome(jsonbody.parse, body, max_depth), outcome(old_parse, body, max_depth)
        assert_same_outcome(new, old, body[:200])


def test_depth_from_bytes_agrees_with_the_text_count():
    rng = random.Random(9)
    decided = []
    for body in bodies(100, 4000):
        if not isinstance(body, (bytes, bytearray)) or json.detect_encoding(body) not in ("utf-8", "utf-8-sig"):
            continue
        try:
            text = bytes(body).decode(json.detect_encoding(body), "surrogatepass")
        except UnicodeDecodeError:
            continue
        limit = rng.choice([0, 1, 2, 5, 32])
        fast = jsonbody._utf8_nesting_depth_exceeds(body, limit)
        assert fast in (None, old_nesting_depth_exceeds(text, limit)), body[:200]
        if fast is not None:
            decided.append(fast)
    # Both answers are given from the bytes, often (what is left to the text is compared above).
    assert decided.count(True) > 100 and decided.count(False) > 300, (decided.count(True), decided.count(False))


def test_batch_bodies_of_the_bench_are_measured_from_bytes():
    items = [{"id": f"e{j}", "channel_id": 5, "start": "2026-01-01T00:00:00+00:00",
              "end": "2026-01-01T00:05:00+00:00"} for j in range(50)]
    body = json.dumps(items).encode()
    assert jsonbody._utf8_nesting_depth_exceeds(body, jsonbody.MAX_DEPTH) is False
    assert jsonbody.parse(body) == items
