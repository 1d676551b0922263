"""Small, explicit host data for tests (the demo has its own, larger operator)."""
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from tvmiddleware import models as m

DEVICE_TYPES = ["mag", "android_stb", "tizen_tv", "lg_webos", "ios", "android", "pc"]


@dataclass
class Operator:
    client: m.Client
    tariffs: list
    categories: list
    channels: list
    accounts: list = field(default_factory=list)
    device_types: dict = field(default_factory=dict)

    def login(self, account, device_type="mag", device_uid=None):
        """An authkey for `account` on a device of `device_type` (the TVMW login)."""
        dev, _ = m.AccountDevice.objects.get_or_create(
            account=account, play_device=self.device_types[device_type].play_device,
            device_uid=device_uid or f"{account.abonement}-{device_type}")
        return m.AccountAuthKey.objects.create(account=account, device=dev,
                                               key=secrets.token_hex(20)).key


def play_device(system_name):
    return m.PlayDevice.objects.get_or_create(system_name=system_name,
                                              defaults={"name": system_name})[0]


def make_operator(name, channels=6, accounts=4, enabled=True, epg_day=None):
    client = m.Client.objects.create(name=name)
    op = Operator(client=client, tariffs=[], categories=[], channels=[])
    for system_name in DEVICE_TYPES:
        op.device_types[system_name] = m.ClientPlayDevice.objects.create(
            client=client, play_device=play_device(system_name), reports_enabled=enabled)
    op.tariffs = [m.Tariff.objects.create(client=client, name=f"{name} {t}", price=p)
                  for t, p in (("Basic", 5), ("Premium", 12))]
    op.categories = [m.ChannelCategory.objects.create(client=client, name=c, sort=i)
                     for i, c in enumerate(("News", "Kids", "Sport"))]
    for i in range(channels):
        ch = m.Channel.objects.create(client=client, name=f"{name} ch{i + 1}", number=i + 1, sort=i)
        ch.categories.add(op.categories[i % len(op.categories)])
        ch.tariffs.add(op.tariffs[0] if i < channels // 2 else op.tariffs[1])
        op.channels.append(ch)
    for i in range(accounts):
        customer = m.Customer.objects.create(client=client, first_name=f"c{i}")
        acc = m.Account.objects.create(client=client, customer=customer,
                                       abonement=f"{client.id}{i:04d}", password="pw")
        acc.tariffs.add(op.tariffs[i % 2])
        op.accounts.append(acc)
    day = epg_day or datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    for ch in op.channels:
        for d in (-1, 0, 1):
            for h in range(0, 24, 2):
                begin = day + timedelta(days=d, hours=h)
                m.EpgProgramme.objects.create(channel=ch, begin=begin, end=begin + timedelta(hours=2),
                                              title=f"{ch.name} show {d}/{h}")
    return op
