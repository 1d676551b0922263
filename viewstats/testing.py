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
its features on any host.
"""
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from . import caching, contract
from . import host as host_module


class HostBuilder(ABC):
    """Writes sample data into the host's own tables; returns the host's ids."""

    @abstractmethod
    def operator(self, name, time_zone="UTC") -> int:
        """A new operator."""

    @abstractmethod
    def device_type(self, client_id, system_name, collection_enabled=True):
        """Let the operator serve devices of `system_name`."""

    @abstractmethod
    def set_collection(self, client_id, system_name, enabled):
        """Tick or untick "Enable statistical data collection" for the device type."""

    @abstractmethod
    def tariff(self, client_id, name) -> int: ...

    @abstractmethod
    def category(self, client_id, name) -> int: ...

    @abstractmethod
    def channel(self, client_id, name, number, category_ids=(), enabled=True) -> int:
        """A channel; channels come back from Host.channels in ascending `number`."""

    @abstractmethod
    def programme(self, client_id, channel_id, begin, end, title) -> int: ...

    @abstractmethod
    def customer(self, client_id, created_at):
        """A customer's id, or None where the host has no customer layer."""

    @abstractmethod
    def account(self, client_id, customer_id, created_at, tariff_ids=(), active_until=None,
                status=contract.ACTIVE):
        """An account active from `created_at` (until `active_until`, if given)
        with `tariff_ids` from `created_at`; `status` is its current status.
        `customer_id` is None for hosts without customers."""

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
        from .models import OperatorStaff

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


@pytest.mark.django_db
class HostContractTests:
    """Set `builder_class`; VIEWSTATS_HOST must name the host under test."""

    builder_class = None

    @pytest.fixture
    def host(self):
        host_module.reset()
        caching.clear_all()
        yield host_module.get_host()
        caching.clear_all()

    @pytest.fixture
    def s(self, host):
        return build_sample(self.builder_class())

    def test_operators(self, host, s):
        ops = {o.id: o for o in host.operators()}
        assert ops[s.a].name == "Alpha" and ops[s.a].time_zone == "Europe/Moscow"
        assert ops[s.b].name == "Beta" and ops[s.b].time_zone == "UTC"
        ids = [o.id for o in host.operators()]
        assert ids == sorted(ids) and all(isinstance(i, int) for i in ids)

    def test_operator_of_user(self, host, s, django_user_model):
        user = django_user_model.objects.create_user("staff-a", is_staff=True)
        other = django_user_model.objects.create_user("nobody", is_staff=True)
        self.builder_class().staff(user, s.a)
        assert host.operator_of_user(user) == s.a
        assert host.operator_of_user(other) is None

    def test_login(self, host, s):
        login = host.login(s.key)
        assert (login.client_id, login.account_id, login.customer_id, login.device_type) == (
            s.a, s.a1, s.c1, "mag")
        assert login.device_id not in (None, "")
        assert host.login(s.b_key).client_id == s.b
        assert host.login("no-such-key") is None
        assert host.login("") is None

    def test_device_types(self, host, s):
        kinds = {d.system_name: d.collection_enabled for d in host.device_types(s.a)}
        assert kinds == {"mag": True, "android": False}
        assert {d.system_name for d in host.device_types(s.b)} == {"tizen"}
        self.builder_class().set_collection(s.a, "android", True)
        assert {d.system_name: d.collection_enabled for d in host.device_types(s.a)}["android"]

    def test_media_viewer(self, host, s):
        viewer = host.media_viewer(s.a, s.key, None)
        assert (viewer.client_id, viewer.account_id, viewer.customer_id, viewer.device_type) == (
            s.a, s.a1, s.c1, "mag")
        by_id = host.media_viewer(s.a, None, str(s.a3))
        assert (by_id.account_id, by_id.customer_id) == (s.a3, s.c2)
        assert host.media_viewer(s.b, s.key, None) is None  # another operator's key
        assert host.media_viewer(s.b, None, str(s.a1)) is None
        assert host.media_viewer(s.a, "nope", "nope") is None
        assert host.media_viewer(s.a, None, None) is None

    def test_channels_in_default_order(self, host, s):
        channels = host.channels(s.a)
        assert [c.id for c in channels] == [s.ch1, s.ch2, s.ch3]
        one, two, three = channels
        assert (one.name, one.number, one.enabled, one.category_ids) == ("One", 1, True, (s.news,))
        assert two.category_ids == (s.sport,)
        assert not three.enabled and set(three.category_ids) == {s.news, s.sport}
        assert [c.id for c in host.channels(s.b)] == [s.b_ch]

    def test_categories(self, host, s):
        assert [(c.id, c.name) for c in host.categories(s.a)] == [(s.news, "News"), (s.sport, "Sport")]
        assert host.categories(s.b) == []

    def test_programmes_overlapping_an_interval(self, host, s):
        at = DAY + timedelta(hours=10, minutes=30)
        found = list(host.programmes(s.a, [s.ch1, s.ch2, s.b_ch], at, at + timedelta(hours=1)))
        ids = [p.id for p in found]
        assert ids.index(s.p1) < ids.index(s.p2)  # a channel's programmes by begin
        assert {(p.id, p.channel_id) for p in found} == {(s.p1, s.ch1), (s.p2, s.ch1), (s.p3, s.ch2)}
        p1 = next(p for p in found if p.id == s.p1)
        assert (p1.begin, p1.end, p1.title) == (DAY + timedelta(hours=10), DAY + timedelta(hours=11),
                                                "Morning news")
        # [begin, end): a programme ending at the start, or starting at the end, does not overlap.
        edge = list(host.programmes(s.a, [s.ch1], DAY + timedelta(hours=11), DAY + timedelta(hours=11, minutes=1)))
        assert [p.id for p in edge] == [s.p2]
        assert list(host.programmes(s.a, [s.ch1], DAY, DAY + timedelta(hours=10))) == []
        assert list(host.programmes(s.b, [s.ch1], DAY, DAY + timedelta(days=1))) == []

    def test_programmes_by_id(self, host, s):
        found = host.programmes_by_id(s.a, [s.p1, s.p3, s.b_p, 10 ** 12])
        assert set(found) == {s.p1, s.p3}
        assert (found[s.p3].channel_id, found[s.p3].title) == (s.ch2, "Match")
        assert host.programmes_by_id(s.b, [s.p1]) == {}

    def test_tariffs(self, host, s):
        assert [(t.id, t.name) for t in host.tariffs(s.a)] == [(s.basic, "Basic"), (s.premium, "Premium")]
        assert s.basic not in {t.id for t in host.tariffs(s.b)}

    def test_tariffs_at_an_instant(self, host, s):
        a1 = host.account(s.a, s.a1)
        assert a1.tariffs_at(DAY + timedelta(hours=11)) == (s.basic,)
        assert a1.tariffs_at(DAY + timedelta(hours=12)) == (s.premium,)  # [start, end)
        assert a1.tariffs_at(DAY + timedelta(days=10)) == (s.premium,)
        assert host.account(s.a, s.a3).tariffs_at(DAY) == tuple(sorted([s.basic, s.premium]))

    def test_account(self, host, s):
        a1 = host.account(s.a, s.a1)
        assert (a1.id, a1.customer_id, a1.created_at) == (s.a1, s.c1, DAY - timedelta(days=30))
        assert a1.active and a1.active_at(DAY) and "mag" in a1.device_types
        a2 = host.account(s.a, s.a2)
        assert not a2.active and a2.status != contract.ACTIVE
        assert a2.active_at(DAY - timedelta(days=10)) and not a2.active_at(DAY - timedelta(days=5))
        assert not a2.active_at(DAY - timedelta(days=21))
        assert host.account(s.b, s.a1) is None  # another operator's account
        assert host.account(s.a, "no-such-account") is None

    def test_accounts_and_customers(self, host, s):
        assert {a.id for a in host.accounts(s.a)} == {s.a1, s.a2, s.a3}
        assert {a.id for a in host.accounts(s.b)} == {s.b_acc}
        by_customer = {a.id: a.customer_id for a in host.accounts(s.a)}
        assert by_customer[s.a3] == s.c2 and by_customer[s.a1] == s.c1
        customers = {c.id: c.created_at for c in host.customers(s.a)}
        assert set(by_customer.values()) <= set(customers)
        assert customers[s.c1] <= DAY - timedelta(days=20)

    def test_payments_in_an_interval(self, host, s):
        found = list(host.payments(s.a, DAY, DAY + timedelta(days=1)))
        assert sorted((p.customer_id == s.c1, Decimal(p.amount), p.currency) for p in found) == [
            (False, Decimal("5.50"), "USD"), (True, Decimal("10.00"), "EUR")]
        assert all(DAY <= p.at < DAY + timedelta(days=1) for p in found)
        assert len(list(host.payments(s.a, DAY + timedelta(days=1), DAY + timedelta(days=2)))) == 1
        assert len(list(host.payments(s.b, DAY, DAY + timedelta(days=1)))) == 1

    def test_generated_sorting_is_kept_by_key(self, host, s):
        at = DAY + timedelta(days=1)
        sid, created = host.save_channel_sorting(s.a, "k1", "Popular", {"days": 7}, at,
                                                 [(s.ch2, {"watch": 5}), (s.ch1, {"watch": 1})])
        assert created
        again, created = host.save_channel_sorting(s.a, "k1", "Popular", {"days": 7}, at,
                                                   [(s.ch1, {}), (s.ch3, {}), (s.ch2, {})])
        assert (again, created) == (sid, False)
        [sorting] = [x for x in host.channel_sortings(s.a) if x.id == sid]
        assert sorting.generated and sorting.name == "Popular" and sorting.computed_at == at
        assert list(sorting.item_ids) == [s.ch1, s.ch3, s.ch2]
        assert sid not in {x.id for x in host.channel_sortings(s.b)}
        other, created = host.save_channel_sorting(s.a, "k2", "Other", {}, at, [])
        assert created and other != sid

    def test_generated_selections(self, host, s):
        at = DAY + timedelta(days=1)
        channels, _ = host.save_selection(s.a, "c", "Popular channels", "channel", {}, at,
                                          [(s.ch2, {}), (s.ch1, {})])
        shows, _ = host.save_selection(s.a, "e", "Popular now", "epg", {}, at, [(s.p3, {}), (s.p1, {})])
        lists = {x.id: x for x in host.selections(s.a)}
        assert (lists[channels].content_type, list(lists[channels].item_ids)) == ("channel", [s.ch2, s.ch1])
        assert (lists[shows].content_type, list(lists[shows].item_ids)) == ("epg", [s.p3, s.p1])
        assert lists[shows].generated and lists[shows].name == "Popular now"
        again, created = host.save_selection(s.a, "e", "Popular now", "epg", {}, at, [(s.p2, {})])
        assert (again, created) == (shows, False)
        assert list({x.id: x for x in host.selections(s.a)}[shows].item_ids) == [s.p2]
        assert not {channels, shows} & {x.id for x in host.selections(s.b)}
