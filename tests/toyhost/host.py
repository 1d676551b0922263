"""The toy middleware's implementation of viewstats.contract.Host."""
from decimal import Decimal

from django.db import transaction

from viewstats import contract as c

from . import models as m

ON = "on"
STATUS_NAMES = {"suspended": "BLOCK", "closed": "INACTIVE"}


def _active_periods(changes):
    periods, since = [], None
    for change in changes:
        if change.status == ON and since is None:
            since = change.at
        elif change.status != ON and since is not None:
            periods.append(c.Period(since, change.at))
            since = None
    if since is not None:
        periods.append(c.Period(since, None))
    return tuple(periods)


def _tariff_periods(snapshots):
    """Snapshots of package sets -> one period per package and stretch held."""
    periods, held = [], {}
    for snap in snapshots:
        now = set(snap.package_ids)
        for package_id in sorted(set(held) - now):
            periods.append(c.TariffPeriod(package_id, held.pop(package_id), snap.at))
        for package_id in sorted(now - set(held)):
            held[package_id] = snap.at
    periods += [c.TariffPeriod(p, since, None) for p, since in sorted(held.items())]
    return tuple(periods)


def _subscriber(sub):
    statuses = sorted(sub.statuses.all(), key=lambda s: (s.at, s.pk))
    current = statuses[-1].status if statuses else "closed"
    return c.Account(
        id=sub.id, customer_id=sub.id, created_at=sub.joined_at,
        active_periods=_active_periods(statuses),
        status=c.ACTIVE if current == ON else STATUS_NAMES.get(current, current.upper()),
        tariff_periods=_tariff_periods(sorted(sub.package_changes.all(), key=lambda s: (s.at, s.pk))),
        device_types=tuple(sorted({b.kind for b in sub.boxes.all()})))


def _subscribers(client_id):
    return (m.Subscriber.objects.filter(tenant_id=client_id).order_by("id")
            .prefetch_related("statuses", "package_changes", "boxes"))


def _broadcast(b):
    return c.Programme(b.id, b.stream_id, b.starts, b.stops, b.caption)


class ToyHost(c.Host):
    def operators(self):
        return [c.Operator(t.id, t.title, t.tz) for t in m.Tenant.objects.order_by("id")]

    def _login(self, box):
        return c.DeviceLogin(box.subscriber.tenant_id, box.subscriber_id, box.subscriber_id, box.kind, box.id)

    def login(self, authkey):
        box = m.Box.objects.select_related("subscriber").filter(token=authkey).first()
        return self._login(box) if box else None

    def device_types(self, client_id):
        return [c.DeviceType(k.code, k.label, k.stats_on)
                for k in m.BoxKind.objects.filter(tenant_id=client_id).order_by("code")]

    def media_viewer(self, client_id, token, user_id):
        if token:
            box = m.Box.objects.select_related("subscriber").filter(
                token=token, subscriber__tenant_id=client_id).first()
            if box:
                return self._login(box)
        if user_id:
            sub = m.Subscriber.objects.filter(id=user_id, tenant_id=client_id).first()
            if sub:
                return c.DeviceLogin(client_id, sub.id, sub.id, None)
        return None

    def channels(self, client_id):
        rows = (m.Stream.objects.filter(tenant_id=client_id).order_by("lcn", "id")
                .prefetch_related("genres"))
        return [c.Channel(s.id, s.title, s.lcn, s.visible, tuple(sorted(g.id for g in s.genres.all())))
                for s in rows]

    def categories(self, client_id):
        return [c.Category(g.id, g.label)
                for g in m.Genre.objects.filter(tenant_id=client_id).order_by("position", "id")]

    def programmes(self, client_id, channel_ids, start, end):
        rows = m.Broadcast.objects.filter(stream__tenant_id=client_id, stream_id__in=list(channel_ids),
                                          starts__lt=end, stops__gt=start).order_by("stream_id", "starts")
        return [_broadcast(b) for b in rows]

    def programmes_by_id(self, client_id, programme_ids):
        ids = [i for i in programme_ids if isinstance(i, int)]
        return {b.id: _broadcast(b)
                for b in m.Broadcast.objects.filter(id__in=ids, stream__tenant_id=client_id)}

    def tariffs(self, client_id):
        return [c.Tariff(p.id, p.label) for p in m.Package.objects.filter(tenant_id=client_id).order_by("id")]

    def account(self, client_id, account_id):
        sub = _subscribers(client_id).filter(id=str(account_id)).first()
        return _subscriber(sub) if sub else None

    def accounts(self, client_id):
        return [_subscriber(s) for s in _subscribers(client_id)]

    def customers(self, client_id):
        return [c.Customer(s.id, s.joined_at) for s in m.Subscriber.objects.filter(tenant_id=client_id)]

    def payments(self, client_id, start, end):
        rows = m.Charge.objects.filter(tenant_id=client_id, settled=True, paid_at__gte=start, paid_at__lt=end)
        return [c.Payment(ch.subscriber_id, Decimal(ch.cents) / 100, ch.currency, ch.paid_at)
                for ch in rows.order_by("paid_at", "id")]

    def _save(self, client_id, kind, key, title, params, computed_at, items):
        with transaction.atomic():
            row, created = m.Playlist.objects.select_for_update().get_or_create(
                tenant_id=client_id, kind=kind, key=key, generated=True, defaults={"title": title})
            row.title, row.params, row.computed_at = title, params, computed_at
            row.entries = [object_id for object_id, _metrics in items]
            row.save()
        return row.id, created

    def save_channel_sorting(self, client_id, key, name, parameters, computed_at, items):
        return self._save(client_id, "order", key, name, parameters, computed_at, items)

    def save_selection(self, client_id, key, name, content_type, parameters, computed_at, items):
        kind = {"channel": "channels", "epg": "shows"}[content_type]
        return self._save(client_id, kind, key, name, parameters, computed_at, items)

    def _lists(self, client_id, kinds):
        rows = m.Playlist.objects.filter(tenant_id=client_id, kind__in=kinds, hidden=False).order_by("id")
        return [c.GeneratedList(p.id, p.title, p.generated, "epg" if p.kind == "shows" else "channel",
                                p.computed_at, tuple(p.entries)) for p in rows]

    def channel_sortings(self, client_id):
        return self._lists(client_id, ["order"])

    def selections(self, client_id):
        return self._lists(client_id, ["channels", "shows"])
