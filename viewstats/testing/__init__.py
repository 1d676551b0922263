"""A kit a middleware runs to check its host implementation (pytest + pytest-django).

    # tests/test_stats_host.py of the middleware
    from viewstats.testing import HostBuilder, HostContractTests

    class MyBuilder(HostBuilder):
        ...  # create operators, channels, accounts ... in the middleware's tables

    class TestMyHost(HostContractTests):
        builder_class = MyBuilder

Every test of HostContractTests builds the same small sample through the
builder (two operators, channels with an EPG, accounts with a tariff change
and a status history, payments, a device login) and checks one contract
method's meaning on it, including that nothing of one operator is answered
for the other. The builder is also what the suite's own tests use to run
its features on any host. Only HostContractTests needs pytest; the builder
and the sample import without it. `insert_rows` inserts many rows of a
model in a few statements, for a builder's plural methods.
"""
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from .. import contract
from .rows import insert_rows  # noqa: F401  (for builders' plural methods)


class HostBuilder(ABC):
    """Writes sample data into the host's own tables; returns the host's ids."""

    @abstractmethod
    def operator(self, name, time_zone="UTC") -> int:
        """A new operator."""

    @abstractmethod
    def device_type(self, client_id, system_name, collection_enabled=True):
        """Let the operator serve devices of `system_name`."""

    def device_types(self, client_id, system_names, collection_enabled=True):
        """Let the operator serve devices of each of `system_names`.

        One `device_type` each by default; a host may insert them at once
        (so may it the other plural methods: tests build many operators).
        """
        for system_name in system_names:
            self.device_type(client_id, system_name, collection_enabled)

    @abstractmethod
    def set_collection(self, client_id, system_name, enabled):
        """Tick or untick "Enable statistical data collection" for the device type."""

    @abstractmethod
    def tariff(self, client_id, name) -> int: ...

    @abstractmethod
    def category(self, client_id, name) -> int: ...

    def categories(self, client_id, names):
        """Ids of new categories named `names`, in that order."""
        return [self.category(client_id, name) for name in names]

    @abstractmethod
    def channel(self, client_id, name, number, category_ids=(), enabled=True) -> int:
        """A channel; channels come back from Host.channels in ascending `number`."""

    def channels(self, client_id, rows):
        """Ids of many channels, rows of (name, number, category_ids), in their order."""
        return [self.channel(client_id, name, number, category_ids) for name, number, category_ids in rows]

    @abstractmethod
    def programme(self, client_id, channel_id, begin, end, title) -> int: ...

    def programmes(self, client_id, rows):
        """Ids of many programmes, rows of (channel_id, begin, end, title), in their order.

        One `programme` each by default; a host may insert them at once.
        """
        return [self.programme(client_id, *row) for row in rows]

    @abstractmethod
    def customer(self, client_id, created_at):
        """A customer's id, or None where the host has no customer layer."""

    @abstractmethod
    def account(self, client_id, customer_id, created_at, tariff_ids=(), active_until=None,
                status=contract.ACTIVE):
        """An account active from `created_at` (until `active_until`, if given)
        with `tariff_ids` from `created_at`; `status` is its current status.
        `customer_id` is None for hosts without customers."""

    def customers(self, client_id, created_ats):
        """Ids of one new customer per `created_ats` (Nones for hosts without customers)."""
        return [self.customer(client_id, created_at) for created_at in created_ats]

    def accounts(self, client_id, rows):
        """Ids of many active accounts, rows of (customer_id, created_at, tariff_ids)."""
        return [self.account(client_id, customer_id, created_at, tariff_ids)
                for customer_id, created_at, tariff_ids in rows]

    @abstractmethod
    def change_tariffs(self, client_id, account_id, tariff_ids, at):
        """From `at` on the account has exactly `tariff_ids`."""

    @abstractmethod
    def login(self, client_id, account_id, device_type, device_uid="") -> str:
        """A device login of the account; returns its authkey."""

    @abstractmethod
    def payment(self, client_id, customer_id, amount, currency, at, processed=True):
        """A payment by the customer (the account, for hosts without customers)."""

    def staff(self, user, client_id):
        """Make `user` staff of the operator (the suite's own rows by default)."""
        from ..models import OperatorStaff

        OperatorStaff.objects.update_or_create(user=user, defaults={"client_id": client_id})


DAY = datetime(2024, 3, 18, tzinfo=timezone.utc)


@dataclass
class Sample:
    a: int
    b: int
    key: str
    b_key: str
    basic: int
    premium: int
    news: int
    sport: int
    ch1: int
    ch2: int
    ch3: int
    b_ch: int
    p1: int
    p2: int
    p3: int
    b_p: int
    c1: object
    c2: object
    a1: object
    a2: object
    a3: object
    b_acc: object


def build_sample(b: HostBuilder) -> Sample:
    a = b.operator("Alpha", "Europe/Moscow")
    other = b.operator("Beta")
    b.device_type(a, "mag", True)
    b.device_type(a, "android", False)
    b.device_type(other, "tizen", True)
    basic, premium = b.tariff(a, "Basic"), b.tariff(a, "Premium")
    b_tariff = b.tariff(other, "Beta basic")
    news, sport = b.category(a, "News"), b.category(a, "Sport")
    ch1 = b.channel(a, "One", 1, [news])
    ch2 = b.channel(a, "Two", 2, [sport])
    ch3 = b.channel(a, "Three", 3, [news, sport], enabled=False)
    b_ch = b.channel(other, "Beta one", 1)
    at = DAY + timedelta(hours=10)
    p1 = b.programme(a, ch1, at, at + timedelta(hours=1), "Morning news")
    p2 = b.programme(a, ch1, at + timedelta(hours=1), at + timedelta(hours=2), "Noon news")
    p3 = b.programme(a, ch2, at, at + timedelta(hours=3), "Match")
    b_p = b.programme(other, b_ch, at, at + timedelta(hours=1), "Beta show")
    c1 = b.customer(a, DAY - timedelta(days=30))
    c2 = b.customer(a, DAY - timedelta(days=20))
    a1 = b.account(a, c1, DAY - timedelta(days=30), [basic])
    b.change_tariffs(a, a1, [premium], DAY + timedelta(hours=12))
    a2 = b.account(a, c1, DAY - timedelta(days=20), [basic], active_until=DAY - timedelta(days=5),
                   status="BLOCK")
    a3 = b.account(a, c2, DAY - timedelta(days=20), [basic, premium])
    b_c = b.customer(other, DAY - timedelta(days=3))
    b_acc = b.account(other, b_c, DAY - timedelta(days=3), [b_tariff])
    key = b.login(a, a1, "mag", "00:1A:79:00:00:01")
    b_key = b.login(other, b_acc, "tizen")
    payer1 = c1 if c1 is not None else a1
    payer2 = c2 if c2 is not None else a3
    b.payment(a, payer1, Decimal("10.00"), "EUR", DAY + timedelta(hours=9))
    b.payment(a, payer2, Decimal("5.50"), "USD", DAY + timedelta(hours=13))
    b.payment(a, payer2, Decimal("7.00"), "EUR", DAY + timedelta(days=1))  # the next day
    b.payment(a, payer1, Decimal("3.00"), "EUR", DAY + timedelta(hours=14), processed=False)
    b.payment(other, b_c if b_c is not None else b_acc, Decimal("1.00"), "EUR", DAY + timedelta(hours=9))
    return Sample(a, other, key, b_key, basic, premium, news, sport, ch1, ch2, ch3, b_ch, p1, p2, p3,
                  b_p, c1 if c1 is not None else a1, c2 if c2 is not None else a3, a1, a2, a3, b_acc)


def __getattr__(name):
    if name == "HostContractTests":
        from .contract_tests import HostContractTests

        return HostContractTests
    raise AttributeError(name)
