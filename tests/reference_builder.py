"""viewstats.testing.HostBuilder over the reference host (tvmiddleware)."""
import secrets

from tvmiddleware import models as m
from tvmiddleware.tariffs import add_first_tariffs, change_tariffs
from viewstats import contract
from viewstats.testing import HostBuilder, insert_rows


class ReferenceBuilder(HostBuilder):
    def operator(self, name, time_zone="UTC"):
        return m.Client.objects.create(name=name, time_zone=time_zone).id

    def device_type(self, client_id, system_name, collection_enabled=True):
        play_device = m.PlayDevice.objects.get_or_create(system_name=system_name,
                                                         defaults={"name": system_name})[0]
        return m.ClientPlayDevice.objects.create(client_id=client_id, play_device=play_device,
                                                 reports_enabled=collection_enabled)

    def device_types(self, client_id, system_names, collection_enabled=True):
        known = {d.system_name: d for d in m.PlayDevice.objects.filter(system_name__in=system_names)}
        known.update((d.system_name, d) for d in m.PlayDevice.objects.bulk_create(
            [m.PlayDevice(system_name=s, name=s) for s in system_names if s not in known]))
        m.ClientPlayDevice.objects.bulk_create([
            m.ClientPlayDevice(client_id=client_id, play_device=known[s], reports_enabled=collection_enabled)
            for s in system_names])

    def set_collection(self, client_id, system_name, enabled):
        m.ClientPlayDevice.objects.filter(client_id=client_id, play_device__system_name=system_name) \
            .update(reports_enabled=enabled)

    def tariff(self, client_id, name):
        return m.Tariff.objects.create(client_id=client_id, name=name).id

    def category(self, client_id, name):
        sort = m.ChannelCategory.objects.filter(client_id=client_id).count()
        return m.ChannelCategory.objects.create(client_id=client_id, name=name, sort=sort).id

    def categories(self, client_id, names):
        sort = m.ChannelCategory.objects.filter(client_id=client_id).count()
        return [c.id for c in m.ChannelCategory.objects.bulk_create(
            [m.ChannelCategory(client_id=client_id, name=name, sort=sort + i)
             for i, name in enumerate(names)])]

    def channels(self, client_id, rows):
        channels = m.Channel.objects.bulk_create([
            m.Channel(client_id=client_id, name=name, number=number, sort=number) for name, number, _ in rows])
        through = m.Channel.categories.through
        through.objects.bulk_create([through(channel_id=c.id, channelcategory_id=category_id)
                                     for c, (_, _, category_ids) in zip(channels, rows)
                                     for category_id in category_ids])
        return [c.id for c in channels]

    def channel(self, client_id, name, number, category_ids=(), enabled=True):
        channel = m.Channel.objects.create(client_id=client_id, name=name, number=number, sort=number,
                                           enabled=enabled)
        channel.categories.set(category_ids)
        return channel.id

    def set_channel_enabled(self, client_id, channel_id, enabled):
        m.Channel.objects.filter(client_id=client_id, pk=channel_id).update(enabled=enabled)

    def block_now(self, client_id, account_id):
        m.Account.objects.filter(client_id=client_id, pk=account_id).update(
            active=False, status_reason=m.Account.Status.BLOCK)

    def programme(self, client_id, channel_id, begin, end, title):
        return m.EpgProgramme.objects.create(channel_id=channel_id, begin=begin, end=end, title=title).id

    def programmes(self, client_id, rows):
        return insert_rows(m.EpgProgramme, ("channel", "begin", "end", "title"), rows)

    def customer(self, client_id, created_at):
        return m.Customer.objects.create(client_id=client_id, created_at=created_at).id

    def account(self, client_id, customer_id, created_at, tariff_ids=(), active_until=None,
                status=contract.ACTIVE):
        n = m.Account.objects.filter(client_id=client_id).count()
        account = m.Account.objects.create(
            client_id=client_id, customer_id=customer_id, abonement=f"{client_id}{n:04d}", password="pw",
            created_at=created_at, deactivation_date=active_until, active=status == contract.ACTIVE,
            status_reason=status)
        account.tariffs.set(tariff_ids)
        return account.id

    def customers(self, client_id, created_ats):
        return [c.id for c in m.Customer.objects.bulk_create(
            [m.Customer(client_id=client_id, created_at=at) for at in created_ats])]

    def accounts(self, client_id, rows):
        """What `account` does row by row, in four statements."""
        n = m.Account.objects.filter(client_id=client_id).count()
        accounts = m.Account.objects.bulk_create([
            m.Account(client_id=client_id, customer_id=customer_id, abonement=f"{client_id}{n + i:04d}",
                      password="pw", created_at=created_at)
            for i, (customer_id, created_at, _) in enumerate(rows)])
        add_first_tariffs([(a, tariff_ids) for a, (_, _, tariff_ids) in zip(accounts, rows)])
        return [a.id for a in accounts]

    def change_tariffs(self, client_id, account_id, tariff_ids, at):
        change_tariffs(m.Account.objects.get(pk=account_id), tariff_ids, at)

    def login(self, client_id, account_id, device_type, device_uid=""):
        device, _ = m.AccountDevice.objects.get_or_create(
            account_id=account_id, play_device=m.PlayDevice.objects.get(system_name=device_type),
            device_uid=device_uid or f"{account_id}-{device_type}")
        return m.AccountAuthKey.objects.create(account_id=account_id, device=device,
                                               key=secrets.token_hex(20)).key

    def payment(self, client_id, customer_id, amount, currency, at, processed=True):
        m.Payment.objects.create(client_id=client_id, customer_id=customer_id, amount=amount,
                                 currency=currency, created_at=at, processed=processed)

