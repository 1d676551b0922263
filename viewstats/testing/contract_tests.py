"""The contract kit's tests: subclass HostContractTests (see viewstats.testing)."""
from datetime import timedelta
from decimal import Decimal

import pytest

from .. import caching, contract
from .. import host as host_module
from . import DAY, build_sample


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
