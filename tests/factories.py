"""Small, explicit host data for tests (the demo has its own, larger operator).

Built through a viewstats.testing.HostBuilder, so the same operator exists on
the reference host or on the toy host (tests/toyhost), whichever
VIEWSTATS_HOST names. On the reference host the objects are its model rows
(tests may use their extra fields, e.g. `client.api_key`); on the toy host
they carry `id`, `name` and, for accounts, `customer_id`.
"""
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from django.conf import settings

from tests.reference_builder import ReferenceBuilder
from tests.toyhost.builder import ToyBuilder

DEVICE_TYPES = ["mag", "android_stb", "tizen_tv", "lg_webos", "ios", "android", "pc"]

HOSTS = {
    "reference": ("tvmiddleware.stats_host.ReferenceHost", ReferenceBuilder),
    "toy": ("tests.toyhost.host.ToyHost", ToyBuilder),
}


def empty_store():
    """An empty statistics store with its indexes: the embedded engine anew, a real server emptied."""
    from viewstats import caching, store

    caching.clear_all()
    if store.is_embedded():
        store.reset()
    else:
        db = store.get_db()
        for name in db.list_collection_names():
            db[name].delete_many({})
    store.ensure_indexes()


def current_builder():
    for path, builder in HOSTS.values():
        if settings.VIEWSTATS_HOST == path:
            return builder()
    raise LookupError(f"no test builder for VIEWSTATS_HOST={settings.VIEWSTATS_HOST!r}")


@dataclass
class Operator:
    client: object
    tariffs: list
    categories: list
    channels: list
    builder: object = None
    accounts: list = field(default_factory=list)
    schedule: dict = field(default_factory=dict)  # channel id -> [programme] by begin
    disabled: set = field(default_factory=set)    # ids of disabled channels
    blocked: set = field(default_factory=set)     # ids of accounts blocked now

    def block(self, account):
        """The account is blocked from now on (its current status, no end date)."""
        self.builder.block_now(self.client.id, account.id)
        self.blocked.add(account.id)

    def disable_channel(self, channel):
        self.builder.set_channel_enabled(self.client.id, channel.id, False)
        self.disabled.add(channel.id)

    def first_programme(self, channel):
        """The channel's earliest programme (id, channel_id, begin, end, title)."""
        return self.schedule[channel.id][0]

    def login(self, account, device_type="mag", device_uid=None):
        """An authkey for `account` on a device of `device_type` (the middleware's login)."""
        return self.builder.login(self.client.id, account.id, device_type,
                                  device_uid or f"{account.id}-{device_type}")

    def set_collection(self, device_type, enabled):
        self.builder.set_collection(self.client.id, device_type, enabled)


def _reference_rows(op):
    from tvmiddleware import models as m

    op.client = m.Client.objects.get(pk=op.client.id)
    op.tariffs = list(m.Tariff.objects.filter(pk__in=[t.id for t in op.tariffs]).order_by("id"))
    op.categories = list(m.ChannelCategory.objects.filter(pk__in=[c.id for c in op.categories]).order_by("id"))
    categories = {c.id: c.category_ids for c in op.channels}
    op.channels = list(m.Channel.objects.filter(pk__in=[c.id for c in op.channels]).order_by("id"))
    for channel in op.channels:
        channel.category_ids = categories[channel.id]
    tariff_ids = {a.id: a.tariff_ids for a in op.accounts}
    op.accounts = list(m.Account.objects.filter(pk__in=[a.id for a in op.accounts]).order_by("id"))
    for account in op.accounts:
        account.tariff_ids = tariff_ids[account.id]
    return op


def make_operator(name, channels=6, accounts=4, enabled=True, epg_day=None):
    b = current_builder()
    now = datetime.now(timezone.utc)
    client_id = b.operator(name)
    b.device_types(client_id, DEVICE_TYPES, enabled)
    op = Operator(client=SimpleNamespace(id=client_id, name=name), tariffs=[], categories=[],
                  channels=[], builder=b)
    op.tariffs = [SimpleNamespace(id=b.tariff(client_id, f"{name} {t}"), name=f"{name} {t}")
                  for t in ("Basic", "Premium")]
    names = ("News", "Kids", "Sport")
    op.categories = [SimpleNamespace(id=i, name=c) for i, c in zip(b.categories(client_id, names), names)]
    rows = [(f"{name} ch{i + 1}", i + 1, (op.categories[i % len(op.categories)].id,)) for i in range(channels)]
    op.channels = [SimpleNamespace(id=channel_id, name=channel_name, number=number, category_ids=category_ids)
                   for channel_id, (channel_name, number, category_ids)
                   in zip(b.channels(client_id, rows), rows)]
    customer_ids = b.customers(client_id, [now] * accounts)
    rows = [(customer_id, now, [op.tariffs[i % 2].id]) for i, customer_id in enumerate(customer_ids)]
    for account_id, (customer_id, _, tariff_ids) in zip(b.accounts(client_id, rows), rows):
        op.accounts.append(SimpleNamespace(id=account_id, customer_id=customer_id or account_id,
                                           tariff_ids=tariff_ids))
    day = epg_day or now.replace(hour=0, minute=0, second=0, microsecond=0)
    rows = [(ch.id, day + timedelta(days=d, hours=h), day + timedelta(days=d, hours=h + 2), f"{ch.name} show {d}/{h}")
            for ch in op.channels for d in (-1, 0, 1) for h in range(0, 24, 2)]
    for programme_id, (channel_id, begin, end, title) in zip(b.programmes(client_id, rows), rows):
        op.schedule.setdefault(channel_id, []).append(SimpleNamespace(
            id=programme_id, channel_id=channel_id, begin=begin, end=end, title=title))
    return _reference_rows(op) if isinstance(b, ReferenceBuilder) else op
