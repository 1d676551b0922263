"""The reference middleware's implementation of the statistics host contract.

    VIEWSTATS_HOST = "tvmiddleware.stats_host.ReferenceHost"

Each method is a query or two over this app's tables; see
viewstats/contract.py for what each must mean. Porting the suite to another
middleware means writing a class like this one over that middleware's tables.
"""
from django.db import transaction
from django.db.models import Prefetch

from viewstats import contract as c

from . import models as m


_ACCOUNT_FIELDS = ("id", "customer_id", "created_at", "activation_date", "deactivation_date", "active",
                   "status_reason", "abonement")
ACCOUNTS_PER_QUERY = 2000


def _account_values(rows):
    """Contract Accounts of account rows (tuples of _ACCOUNT_FIELDS), with their
    tariff periods and device types: two more queries for the lot.

    Value rows, not model instances with prefetches: a big operator's
    accounts are read whole by every dynamics run.
    """
    ids = [r[0] for r in rows]
    periods, devices = {}, {}
    for account_id, tariff_id, start, end in (
            m.AccountTariffPeriod.objects.filter(account_id__in=ids)
            .order_by("account", "start", "tariff").values_list("account_id", "tariff_id", "start", "end")):
        periods.setdefault(account_id, []).append(c.TariffPeriod(tariff_id, start, end))
    for account_id, name in (m.AccountDevice.objects.filter(account_id__in=ids)
                             .values_list("account_id", "play_device__system_name")):
        devices.setdefault(account_id, set()).add(name)
    out = []
    for (account_id, customer_id, created_at, activation_date, deactivation_date, active, reason,
         login) in rows:
        status = c.ACTIVE if active else (reason if reason != c.ACTIVE else m.Account.Status.INACTIVE)
        out.append(c.Account(
            id=account_id, customer_id=customer_id, created_at=created_at,
            active_periods=(c.Period(activation_date or created_at, deactivation_date),), status=status,
            tariff_periods=tuple(periods.get(account_id, ())),
            device_types=tuple(sorted(devices.get(account_id, ()))), login=login))
    return out


def _accounts(client_id, **filters):
    """The client's accounts in id order, read ACCOUNTS_PER_QUERY at a time (keyset paging)."""
    rows = m.Account.objects.filter(client_id=client_id, **filters).order_by("id").values_list(*_ACCOUNT_FIELDS)
    after = None
    while True:
        page = list((rows if after is None else rows.filter(id__gt=after))[:ACCOUNTS_PER_QUERY])
        yield from _account_values(page)
        if len(page) < ACCOUNTS_PER_QUERY:
            return
        after = page[-1][0]


def _as_int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class ReferenceHost(c.Host):

    # Operators -------------------------------------------------------------------

    def operators(self):
        return [c.Operator(r.id, r.name, r.time_zone or "UTC") for r in m.Client.objects.order_by("id")]

    # Devices ---------------------------------------------------------------------

    def _login(self, row):
        return c.DeviceLogin(client_id=row.account.client_id, account_id=row.account_id,
                             customer_id=row.account.customer_id,
                             device_type=row.device.play_device.system_name, device_id=row.device_id)

    def login(self, authkey):
        row = (m.AccountAuthKey.objects.select_related("account", "device__play_device")
               .filter(key=authkey).first())
        return self._login(row) if row is not None else None

    def device_types(self, client_id):
        return [c.DeviceType(r.play_device.system_name, r.play_device.name, r.reports_enabled)
                for r in (m.ClientPlayDevice.objects.filter(client_id=client_id)
                          .select_related("play_device").order_by("play_device__system_name"))]

    def media_viewer(self, client_id, token, user_id):
        if token:
            row = (m.AccountAuthKey.objects.select_related("account", "device__play_device")
                   .filter(key=token, account__client_id=client_id).first())
            if row is not None:
                return self._login(row)
        if user_id:
            accounts = m.Account.objects.filter(client_id=client_id)
            account = accounts.filter(abonement=user_id).first()
            number = _as_int(user_id) if user_id.isascii() and user_id.isdecimal() else None
            if account is None and number is not None and number < 2 ** 63:
                account = accounts.filter(id=number).first()
            if account is not None:
                return c.DeviceLogin(client_id, account.id, account.customer_id, None)
        return None

    # Content ---------------------------------------------------------------------

    def channels(self, client_id):
        rows = (m.Channel.objects.filter(client_id=client_id).order_by("sort", "number", "id")
                .prefetch_related("categories"))
        return [c.Channel(r.id, r.name, r.number, r.enabled, tuple(sorted(k.id for k in r.categories.all())))
                for r in rows]

    def categories(self, client_id):
        return [c.Category(r.id, r.name)
                for r in m.ChannelCategory.objects.filter(client_id=client_id).order_by("sort", "id")]

    def programmes(self, client_id, channel_ids, start, end):
        rows = (m.EpgProgramme.objects
                .filter(channel__client_id=client_id, channel_id__in=list(channel_ids),
                        begin__lt=end, end__gt=start)
                .order_by("channel_id", "begin")
                .values_list("id", "channel_id", "begin", "end", "title"))
        return (c.Programme(*row) for row in rows.iterator(chunk_size=2000))

    def programmes_by_id(self, client_id, programme_ids):
        ids = [i for i in programme_ids if isinstance(i, int)]
        rows = (m.EpgProgramme.objects.filter(id__in=ids, channel__client_id=client_id)
                .values_list("id", "channel_id", "begin", "end", "title"))
        return {row[0]: c.Programme(*row) for row in rows}

    # Subscribers and money ---------------------------------------------------------

    def tariffs(self, client_id):
        return [c.Tariff(r.id, r.name) for r in m.Tariff.objects.filter(client_id=client_id).order_by("id")]

    def account(self, client_id, account_id):
        account_id = _as_int(account_id)
        if account_id is None:
            return None
        return next(_accounts(client_id, id=account_id), None)

    def accounts(self, client_id):
        return _accounts(client_id)

    def account_logins(self, client_id, account_ids):
        wanted = {_as_int(a): a for a in account_ids if _as_int(a) is not None}
        rows = (m.Account.objects.filter(client_id=client_id, id__in=list(wanted))
                .exclude(abonement="").values_list("id", "abonement"))
        return {wanted[i]: login for i, login in rows}

    def customers(self, client_id):
        rows = m.Customer.objects.filter(client_id=client_id).order_by("id").values_list("id", "created_at")
        return (c.Customer(*row) for row in rows.iterator(chunk_size=5000))

    def payments(self, client_id, start, end):
        rows = (m.Payment.objects
                .filter(client_id=client_id, processed=True, created_at__gte=start, created_at__lt=end)
                .order_by("created_at", "id")
                .values_list("customer_id", "amount", "currency", "created_at"))
        return (c.Payment(*row) for row in rows.iterator(chunk_size=5000))

    # Generated channel sortings and selections -----------------------------------------

    def _save(self, model, lookup, name, parameters, computed_at, new_items):
        with transaction.atomic():
            row, created = model.objects.select_for_update().get_or_create(**lookup, defaults={"name": name})
            row.name, row.parameters, row.computed_at = name, parameters, computed_at
            row.save(update_fields=["name", "parameters", "computed_at"])
            row.items.all().delete()
            row.items.model.objects.bulk_create(new_items(row))
        return row.id, created

    def save_channel_sorting(self, client_id, key, name, parameters, computed_at, items):
        return self._save(
            m.ChannelSorting,
            dict(client_id=client_id, kind=m.ChannelSorting.Kind.GENERATED, generator_key=key),
            name, parameters, computed_at,
            lambda sorting: [m.ChannelSortingItem(sorting=sorting, channel_id=channel_id,
                                                  position=position, metrics=metrics)
                             for position, (channel_id, metrics) in enumerate(items, start=1)])

    def save_selection(self, client_id, key, name, content_type, parameters, computed_at, items):
        kind = {"channel": m.Selection.ContentType.CHANNEL,
                "epg": m.Selection.ContentType.EPG_PROGRAMME}[content_type]
        field = "channel_id" if content_type == "channel" else "programme_id"
        return self._save(
            m.Selection,
            dict(client_id=client_id, type=m.Selection.Type.GENERATED, content_type=kind,
                 generator_key=key),
            name, parameters, computed_at,
            lambda selection: [m.SelectionItem(selection=selection, position=position, metrics=metrics,
                                               **{field: object_id})
                               for position, (object_id, metrics) in enumerate(items, start=1)])

    def channel_sortings(self, client_id):
        rows = (m.ChannelSorting.objects.filter(client_id=client_id).order_by("id")
                .prefetch_related(Prefetch("items", m.ChannelSortingItem.objects.order_by("position"))))
        return [c.GeneratedList(r.id, r.name, r.kind == m.ChannelSorting.Kind.GENERATED, "channel",
                                r.computed_at, tuple(i.channel_id for i in r.items.all()))
                for r in rows]

    def selections(self, client_id):
        rows = (m.Selection.objects.filter(client_id=client_id, is_hidden=False).order_by("id")
                .prefetch_related(Prefetch("items", m.SelectionItem.objects.order_by("position"))))
        out = []
        for r in rows:
            epg = r.content_type == m.Selection.ContentType.EPG_PROGRAMME
            ids = tuple(i.programme_id if epg else i.channel_id for i in r.items.all())
            out.append(c.GeneratedList(r.id, r.name, r.type == m.Selection.Type.GENERATED,
                                       "epg" if epg else "channel", r.computed_at, ids))
        return out
