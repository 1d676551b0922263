"""The one session shape every source lands in.

A session is one viewer on one piece of content for a stretch of time:

    _id              deterministic per source, so a resent event finds itself
    client_id        operator (shard-key prefix)
    source           "device" (boxes and apps) or "media_server"
    protocol         "push" (stat/push), "batch" or a media server's name
    account_id, customer_id, tariff_ids, device_type, device_key
                     who watched, as known at the time of viewing
    channel_id, program_id, kind ("live" | "archive"),
    timeshift_offset (hours behind live), archive_offset (seconds into
                     the programme for archive viewing)
    start, end, duration (seconds, = end - start)
    ip, user_agent, x_user_agent, ua {type, brand, model, os, app}, country
    received_at, updated_at
    inter_server     True for a media-server session whose peer is another
                     media server (viewstats/peers.py); absent otherwise
"""
from datetime import datetime, timezone

KINDS = ("live", "archive")
# The condition every figure about viewers adds: inter-server pulls are
# traffic, not viewing. `$ne` also matches documents without the field.
VIEWING = {"inter_server": {"$ne": True}}


def _system_clock():
    return datetime.now(timezone.utc)


_clock = _system_clock


def utcnow():
    """The server's idea of now. Simulations (the demo) replace the clock."""
    return _clock()


def set_clock(clock=None):
    """Use `clock()` for now; None restores the system clock."""
    global _clock
    _clock = clock or _system_clock


def whole_seconds(instant):
    """Sessions are kept to the second: finer is noise for viewing statistics."""
    # Most instants are whole already and replace() costs microseconds; a
    # datetime is immutable, so a whole one is returned as it is.
    return instant.replace(microsecond=0) if instant.microsecond else instant


def session_document(*, _id, client_id, source, protocol, start, end, channel_id,
                      program_id=None, kind="live", login=None, tariff_ids=(), timeshift_offset=0,
                      archive_offset=None, origin=None, received_at=None, **extra):
    # whole_seconds() inline: this runs once per stored event, and the batch
    # API hands over instants that are whole already.
    if start.microsecond:
        start = start.replace(microsecond=0)
    if end.microsecond:
        end = end.replace(microsecond=0)
    if login:
        account_id, customer_id, device_type = login.account_id, login.customer_id, login.device_type
        device_key = f"{account_id}:{login.device_id}"
    else:
        account_id = customer_id = device_type = device_key = None
    received_at = received_at or utcnow()
    # start and end are whole seconds, so this is int(total_seconds())
    # exactly, without the float (any span datetime allows is far below the
    # 2^53 s where a float stops being exact).
    span = end - start
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
        "duration": span.days * 86400 + span.seconds,
        "received_at": received_at,
        "updated_at": received_at,
    }
    if origin is not None:
        doc.update(origin.as_fields())
    if extra:
        doc.update(extra)
    return doc
