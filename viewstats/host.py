"""Everything viewstats reads from or writes to the middleware (the host).

This is the one module to change when porting the suite to another
middleware: the rest of viewstats sees only the plain values returned here.
Lookups on the ingest path are cached per process (see caching.py).
"""
import bisect
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone

from django.db import transaction

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


# --- popularity commands ---
# Reads for validating the commands' options and building rankings, and the
# writes of their results (generated channel sortings and selections). None
# of these is cached: the commands run rarely and must see current data.

def client_names(client_ids):
    """{id: name} of those of `client_ids` that exist."""
    return dict(host.Client.objects.filter(id__in=client_ids).values_list("id", "name"))


def channels_in_default_order(client_id, enabled_only=False):
    """The client's channels as dicts (id, name, number), in the standard order."""
    rows = host.Channel.objects.filter(client_id=client_id)
    if enabled_only:
        rows = rows.filter(enabled=True)
    return list(rows.order_by("sort", "number", "id").values("id", "name", "number"))


def known_device_types():
    return set(host.PlayDevice.objects.values_list("system_name", flat=True))


def tariff_clients(tariff_ids):
    """{tariff id: client id} for the tariffs that exist."""
    return dict(host.Tariff.objects.filter(id__in=tariff_ids).values_list("id", "client_id"))


def category_clients(category_ids):
    return dict(host.ChannelCategory.objects.filter(id__in=category_ids)
                .values_list("id", "client_id"))


def channel_clients(channel_ids):
    return dict(host.Channel.objects.filter(id__in=channel_ids).values_list("id", "client_id"))


def active_account_ids(client_id):
    """Accounts that are active now (Account.active), whatever they were before."""
    return list(host.Account.objects.filter(client_id=client_id, active=True)
                .order_by("id").values_list("id", flat=True))


def iter_programmes_airing(channel_ids, start, end, chunk_size=2000):
    """(id, channel_id, begin, end) of programmes overlapping [start, end), streamed."""
    return (host.EpgProgramme.objects
            .filter(channel_id__in=channel_ids, begin__lt=end, end__gt=start)
            .order_by("id").values_list("id", "channel_id", "begin", "end")
            .iterator(chunk_size=chunk_size))


def programmes_airing(channel_ids, start, end):
    """Programmes overlapping [start, end) as dicts, newest first (the fill order)."""
    return list(host.EpgProgramme.objects
                .filter(channel_id__in=channel_ids, begin__lt=end, end__gt=start)
                .order_by("-begin", "id")
                .values("id", "title", "channel_id", "channel__name", "begin", "end"))


def programmes_by_id(programme_ids, channel_ids):
    """{id: dict} of the given programmes that air on one of `channel_ids`."""
    rows = (host.EpgProgramme.objects
            .filter(id__in=programme_ids, channel_id__in=channel_ids)
            .values("id", "title", "channel_id", "channel__name", "begin", "end"))
    return {row["id"]: row for row in rows}


def _save_generated(model, lookup, name, parameters, computed_at, new_items):
    """Create or update the generated row `lookup` finds and replace its items.

    The row keeps its id across re-runs, so apps holding its id keep getting
    the fresh content. `new_items(row)` returns the unsaved item objects.
    """
    with transaction.atomic():
        row, created = model.objects.select_for_update().get_or_create(**lookup, defaults={"name": name})
        row.name, row.parameters, row.computed_at = name, parameters, computed_at
        row.save(update_fields=["name", "parameters", "computed_at"])
        row.items.all().delete()
        row.items.model.objects.bulk_create(new_items(row))
    return row.id, created


def save_generated_sorting(client_id, generator_key, name, parameters, computed_at, items):
    """Create or update the client's generated sorting for `generator_key`.

    `items` is [(channel_id, metrics)] in order. Returns (sorting id, created).
    """
    return _save_generated(
        host.ChannelSorting,
        dict(client_id=client_id, kind=host.ChannelSorting.Kind.GENERATED, generator_key=generator_key),
        name, parameters, computed_at,
        lambda sorting: [host.ChannelSortingItem(sorting=sorting, channel_id=channel_id, position=position,
                                                 metrics=metrics)
                         for position, (channel_id, metrics) in enumerate(items, start=1)])


def save_generated_selection(client_id, generator_key, name, content_type, parameters,
                             computed_at, items):
    """Create or update a generated selection; `content_type` is "channel" or "epg".

    `items` is [(object id, metrics)] in order. Returns (selection id, created).
    """
    kind = {"channel": host.Selection.ContentType.CHANNEL,
            "epg": host.Selection.ContentType.EPG_PROGRAMME}[content_type]
    field = "channel_id" if content_type == "channel" else "programme_id"
    return _save_generated(
        host.Selection,
        dict(client_id=client_id, type=host.Selection.Type.GENERATED, content_type=kind,
             generator_key=generator_key),
        name, parameters, computed_at,
        lambda selection: [host.SelectionItem(selection=selection, position=position, metrics=metrics,
                                              **{field: object_id})
                           for position, (object_id, metrics) in enumerate(items, start=1)])


# --- reports and media servers ---
def staff_client_id(user):
    """The client a staff user works for, or None."""
    row = host.StaffMembership.objects.filter(user_id=user.pk).values_list("client_id").first()
    return row[0] if row else None


def all_client_ids():
    return list(host.Client.objects.order_by("id").values_list("id", flat=True))


@host_cached
def client_time_zone(client_id):
    return host.Client.objects.filter(id=client_id).values_list("time_zone", flat=True).first() or "UTC"


def channel_names(client_ids):
    return dict(host.Channel.objects.filter(client_id__in=client_ids).values_list("id", "name"))


def programme_titles(ids):
    return dict(host.EpgProgramme.objects.filter(id__in=ids).values_list("id", "title"))


def channel_ids_in_categories(client_ids, category_ids):
    """Ids of the clients' channels in any of `category_ids`, sorted."""
    return sorted(set(host.Channel.objects.filter(client_id__in=client_ids,
                                                  categories__id__in=category_ids)
                      .values_list("id", flat=True)))


def category_names(client_ids):
    return dict(host.ChannelCategory.objects.filter(client_id__in=client_ids).order_by("sort", "id")
                .values_list("id", "name"))


def client_device_types(client_ids):
    return sorted(set(host.ClientPlayDevice.objects.filter(client_id__in=client_ids)
                      .values_list("play_device__system_name", flat=True)))


def tariff_names(client_ids):
    return dict(host.Tariff.objects.filter(client_id__in=client_ids).values_list("id", "name"))


@host_cached
def channel_for_stream(client_id, stream):
    """A media server's stream name -> channel id of this client, or None.

    Matched against the channel's name (case-insensitive), then, for a
    stream named `ch<number>` or just `<number>`, against the channel number.
    """
    rows = host.Channel.objects.filter(client_id=client_id)
    hit = rows.filter(name__iexact=stream).values_list("id", flat=True).first()
    if hit is not None:
        return hit
    number = _number(stream[2:] if stream.lower().startswith("ch") else stream)
    if number is not None:
        return rows.filter(number=number).values_list("id", flat=True).first()
    return None


@dataclass(frozen=True)
class Viewer:
    account_id: int
    customer_id: int
    tariff_ids: tuple
    device_type: str | None


def _viewer(account, device_type=None):
    return Viewer(account.id, account.customer_id,
                  tuple(sorted(account.tariffs.values_list("id", flat=True))), device_type)


@host_cached
def viewer_for_token(client_id, token, user_id):
    """Who a media-server session belongs to: the token as a device authkey,
    else the user id as an abonement (then as an account id); None if neither."""
    if token:
        row = (host.AccountAuthKey.objects.select_related("account", "device__play_device")
               .filter(key=token, account__client_id=client_id).first())
        if row is not None:
            return _viewer(row.account, row.device.play_device.system_name)
    if user_id:
        accounts = host.Account.objects.filter(client_id=client_id)
        account = accounts.filter(abonement=user_id).first()
        number = _number(user_id)
        if account is None and number is not None:
            account = accounts.filter(id=number).first()
        if account is not None:
            return _viewer(account)
    return None


def _number(text):
    """`text` as an int when it is 1 to 18 ASCII digits, else None.

    str.isdigit() also takes "²", which int() refuses, and a longer number
    would not fit the database's 64-bit integers.
    """
    if 0 < len(text) <= 18 and text.isascii() and text.isdecimal():
        return int(text)
    return None
