"""viewstats.testing.HostBuilder over the toy middleware's tables."""
from datetime import datetime, timezone

from viewstats import contract
from viewstats.testing import HostBuilder, insert_rows

from . import models as m

STATUS = {contract.ACTIVE: "on", "BLOCK": "suspended", "DEBT": "suspended", "INACTIVE": "closed",
          "WAIT": "suspended"}


class ToyBuilder(HostBuilder):
    def operator(self, name, time_zone="UTC"):
        return m.Tenant.objects.create(title=name, tz=time_zone).id

    def device_type(self, client_id, system_name, collection_enabled=True):
        m.BoxKind.objects.create(tenant_id=client_id, code=system_name, label=system_name.upper(),
                                 stats_on=collection_enabled)

    def device_types(self, client_id, system_names, collection_enabled=True):
        m.BoxKind.objects.bulk_create([m.BoxKind(tenant_id=client_id, code=s, label=s.upper(),
                                                 stats_on=collection_enabled) for s in system_names])

    def set_collection(self, client_id, system_name, enabled):
        m.BoxKind.objects.filter(tenant_id=client_id, code=system_name).update(stats_on=enabled)

    def tariff(self, client_id, name):
        return m.Package.objects.create(tenant_id=client_id, label=name).id

    def category(self, client_id, name):
        position = m.Genre.objects.filter(tenant_id=client_id).count()
        return m.Genre.objects.create(tenant_id=client_id, label=name, position=position).id

    def categories(self, client_id, names):
        position = m.Genre.objects.filter(tenant_id=client_id).count()
        return [g.id for g in m.Genre.objects.bulk_create(
            [m.Genre(tenant_id=client_id, label=name, position=position + i) for i, name in enumerate(names)])]

    def channels(self, client_id, rows):
        streams = m.Stream.objects.bulk_create([m.Stream(tenant_id=client_id, title=name, lcn=number)
                                                for name, number, _ in rows])
        through = m.Stream.genres.through
        through.objects.bulk_create([through(stream_id=s.id, genre_id=genre_id)
                                     for s, (_, _, genre_ids) in zip(streams, rows) for genre_id in genre_ids])
        return [s.id for s in streams]

    def channel(self, client_id, name, number, category_ids=(), enabled=True):
        stream = m.Stream.objects.create(tenant_id=client_id, title=name, lcn=number, visible=enabled)
        stream.genres.set(category_ids)
        return stream.id

    def set_channel_enabled(self, client_id, channel_id, enabled):
        m.Stream.objects.filter(tenant_id=client_id, pk=channel_id).update(visible=enabled)

    def block_now(self, client_id, account_id):
        m.StatusChange.objects.create(subscriber_id=account_id, at=datetime.now(timezone.utc),
                                      status="suspended")

    def programme(self, client_id, channel_id, begin, end, title):
        return m.Broadcast.objects.create(stream_id=channel_id, starts=begin, stops=end, caption=title).id

    def programmes(self, client_id, rows):
        return insert_rows(m.Broadcast, ("stream", "starts", "stops", "caption"), rows)

    def customer(self, client_id, created_at):
        return None  # no customer layer

    def account(self, client_id, customer_id, created_at, tariff_ids=(), active_until=None,
                status=contract.ACTIVE):
        sub = m.Subscriber.objects.create(tenant_id=client_id, joined_at=created_at)
        m.StatusChange.objects.create(subscriber=sub, at=created_at, status="on")
        if active_until is not None or status != contract.ACTIVE:
            m.StatusChange.objects.create(subscriber=sub, at=active_until or datetime.now(timezone.utc),
                                          status=STATUS.get(status, "closed"))
        m.PackageChange.objects.create(subscriber=sub, at=created_at, package_ids=sorted(tariff_ids))
        return sub.id

    def accounts(self, client_id, rows):
        subs = m.Subscriber.objects.bulk_create([m.Subscriber(tenant_id=client_id, joined_at=created_at)
                                                 for _, created_at, _ in rows])
        m.StatusChange.objects.bulk_create([m.StatusChange(subscriber=sub, at=created_at, status="on")
                                            for sub, (_, created_at, _) in zip(subs, rows)])
        m.PackageChange.objects.bulk_create([
            m.PackageChange(subscriber=sub, at=created_at, package_ids=sorted(tariff_ids))
            for sub, (_, created_at, tariff_ids) in zip(subs, rows)])
        return [sub.id for sub in subs]

    def change_tariffs(self, client_id, account_id, tariff_ids, at):
        m.PackageChange.objects.create(subscriber_id=account_id, at=at, package_ids=sorted(tariff_ids))

    def login(self, client_id, account_id, device_type, device_uid=""):
        return m.Box.objects.create(subscriber_id=account_id, kind=device_type).token

    def payment(self, client_id, customer_id, amount, currency, at, processed=True):
        m.Charge.objects.create(tenant_id=client_id, subscriber_id=customer_id, cents=int(amount * 100),
                                currency=currency, paid_at=at, settled=processed)
