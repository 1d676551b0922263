"""Everything viewstats reads from or writes to the middleware (the host).

This is the one module to change when porting the suite to another
middleware: the rest of viewstats sees only the plain values returned here.
Lookups on the ingest path are cached per process (see caching.py).
"""
import bisect
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone

from tvmiddleware import models as host

from .caching import host_cached


@dataclass(frozen=True)
class DeviceLogin:
    """Who is behind an authkey: resolved once, then stamped on every session."""

    client_id: int
    account_id: int
    customer_id: int
    tariff_ids: tuple
    device_type: str  # the device type's system name, e.g. "mag"
    device_uid: str
    device_id: int


@host_cached
def login_for_authkey(authkey):
    row = (host.AccountAuthKey.objects
           .select_related("account", "device__play_device")
           .filter(key=authkey).first())
    if row is None:
        return None
    account = row.account
    return DeviceLogin(
        client_id=account.client_id,
        account_id=account.id,
        customer_id=account.customer_id,
        tariff_ids=tuple(sorted(account.tariffs.values_list("id", flat=True))),
        device_type=row.device.play_device.system_name,
        device_uid=row.device.device_uid,
        device_id=row.device_id,
    )


@host_cached
def collection_enabled(client_id, device_type):
    """The "Enable statistical data collection" checkbox of this device type."""
    return host.ClientPlayDevice.objects.filter(
        client_id=client_id, play_device__system_name=device_type, reports_enabled=True).exists()


@host_cached
def client_channel_ids(client_id):
    return frozenset(host.Channel.objects.filter(client_id=client_id).values_list("id", flat=True))


@host_cached
def programme_channel(program_id):
    """The channel a programme airs on, with its client; None if unknown."""
    row = (host.EpgProgramme.objects.filter(id=program_id)
           .values_list("channel_id", "channel__client_id").first())
    return row


@host_cached
def _day_schedule(channel_id, day):
    start = datetime.combine(day, time.min, tzinfo=timezone.utc)
    rows = list(host.EpgProgramme.objects
                .filter(channel_id=channel_id, begin__lt=start + timedelta(days=1),
                        end__gt=start)
                .order_by("begin").values_list("begin", "end", "id"))
    return [r[0] for r in rows], rows


def programme_on_air(channel_id, at):
    """The programme on `channel_id` at instant `at` (UTC), or None."""
    begins, rows = _day_schedule(channel_id, at.astimezone(timezone.utc).date())
    i = bisect.bisect_right(begins, at) - 1
    if i >= 0 and rows[i][1] > at:
        return rows[i][2]
    return None
