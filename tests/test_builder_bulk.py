"""A builder's plural methods build what its singular ones do, as the host reads it.

Tests make most operators with the plural methods (one statement per kind of
row on the reference host); the host contract's sample and several tests use
the singular ones. Both operators here get the same things, one each way, and
every host answer about them must agree but for ids.
"""
from datetime import datetime, timedelta, timezone

import pytest

from tests.factories import DEVICE_TYPES, current_builder
from viewstats import host

HOST_KINDS = ("reference", "toy")
CREATED = datetime(2024, 2, 10, 9, 30, tzinfo=timezone.utc)


def build(b, name, plural):
    client_id = b.operator(name)
    # Device types another operator already made (the reference host shares
    # them between operators) and ones new to this test.
    kinds = [*DEVICE_TYPES[:3], f"{name.lower()}-box"]
    basic, premium = b.tariff(client_id, "Basic"), b.tariff(client_id, "Premium")
    names = ["News", "Kids", "Sport"]
    created = [CREATED, CREATED + timedelta(days=3), CREATED - timedelta(hours=1)]
    tariff_sets = [[basic], [premium, basic], []]
    if plural:
        b.device_types(client_id, kinds, True)
        news, kids, sport = b.categories(client_id, names)
        rows = [("One", 1, (news,)), ("Two", 2, (kids, sport)), ("Three", 3, ())]
        b.channels(client_id, rows)
        customers = b.customers(client_id, created)
        accounts = b.accounts(client_id, list(zip(customers, created, tariff_sets)))
    else:
        for kind in kinds:
            b.device_type(client_id, kind, True)
        news, kids, sport = (b.category(client_id, c) for c in names)
        b.channel(client_id, "One", 1, (news,))
        b.channel(client_id, "Two", 2, (kids, sport))
        b.channel(client_id, "Three", 3, ())
        customers = [b.customer(client_id, at) for at in created]
        accounts = [b.account(client_id, c, at, t) for c, at, t in zip(customers, created, tariff_sets)]
    # A later change goes through the singular method on both: the history
    # the plural method wrote must take it as the signal-written one does.
    b.change_tariffs(client_id, accounts[0], [premium], CREATED + timedelta(days=5))
    return client_id


def seen(client_id):
    """What the host answers about the operator, with its ids replaced by positions."""
    h = host.get_host()
    tariffs = {t.id: t.name for t in h.tariffs(client_id)}
    categories = {c.id: c.name for c in h.categories(client_id)}
    channels = [(c.name, c.number, c.enabled, sorted(categories[i] for i in c.category_ids))
                for c in h.channels(client_id)]
    devices = sorted((d.system_name, d.collection_enabled) for d in h.device_types(client_id))
    probes = [CREATED - timedelta(days=1), CREATED, CREATED + timedelta(days=4), CREATED + timedelta(days=6)]
    every = list(h.accounts(client_id))
    # Hosts list accounts in their own order; each account here starts at another time.
    accounts = sorted(
        (a.created_at, sum(b.customer_id == a.customer_id for b in every), a.status, a.active_periods,
         [sorted(tariffs[t] for t in a.tariffs_at(at)) for at in probes],
         sorted((tariffs[p.tariff_id], p.start, p.end) for p in a.tariff_periods))
        for a in every)
    customers = sorted(c.created_at for c in h.customers(client_id))
    return {"channels": channels, "categories": list(categories.values()), "devices": devices,
            "accounts": accounts, "customers": customers}


@pytest.mark.django_db
def test_plural_methods_build_what_the_singular_ones_do(host_kind):
    b = current_builder()
    one_by_one = seen(build(b, "Single", plural=False))
    at_once = seen(build(b, "Bulk", plural=True))
    assert len(one_by_one["accounts"]) == 3 and one_by_one["channels"][1][3] == ["Kids", "Sport"]
    # The device type named for the operator differs by name only.
    assert [d for d in at_once.pop("devices") if "box" not in d[0]] == \
        [d for d in one_by_one.pop("devices") if "box" not in d[0]]
    assert at_once == one_by_one
