"""The reference host's tariff history: admin edits, dated changes, the migration's backfill."""
from datetime import datetime, timedelta, timezone

import pytest

from tvmiddleware import models as m
from tvmiddleware.stats_host import ReferenceHost
from tvmiddleware.tariffs import backfill, change_tariffs, recording_paused

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def shop(db):
    client = m.Client.objects.create(name="Shop")
    customer = m.Customer.objects.create(client=client, created_at=T0)
    account = m.Account.objects.create(client=client, customer=customer, abonement="1", password="x",
                                       created_at=T0, activation_date=T0 + timedelta(hours=1))
    basic, premium, kids = (m.Tariff.objects.create(client=client, name=n) for n in ("B", "P", "K"))
    return client, account, basic, premium, kids


def periods(account):
    return sorted((p.tariff_id, p.start, p.end) for p in m.AccountTariffPeriod.objects.filter(account=account))


def test_first_tariffs_count_from_the_accounts_activation(shop):
    client, account, basic, _, _ = shop
    account.tariffs.add(basic)
    assert periods(account) == [(basic.id, T0 + timedelta(hours=1), None)]
    host = ReferenceHost()
    assert host.account(client.id, account.id).tariffs_at(T0 + timedelta(hours=2)) == (basic.id,)


def test_admin_edits_close_and_open_periods_when_saved(shop):
    client, account, basic, premium, kids = shop
    account.tariffs.add(basic)
    before = datetime.now(timezone.utc)
    account.tariffs.remove(basic)
    account.tariffs.add(premium)
    kids.accounts.add(account)  # from the tariff's side
    after = datetime.now(timezone.utc)
    rows = periods(account)
    assert rows[0][:2] == (basic.id, T0 + timedelta(hours=1)) and before <= rows[0][2] <= after
    assert {(t, end) for t, _, end in rows[1:]} == {(premium.id, None), (kids.id, None)}
    account.tariffs.clear()
    assert all(end is not None for _, _, end in periods(account))
    kids.accounts.add(account)
    kids.accounts.clear()
    assert m.AccountTariffPeriod.objects.filter(account=account, end__isnull=True).count() == 0


def test_dated_change_and_tariffs_at_each_side_of_it(shop):
    client, account, basic, premium, kids = shop
    account.tariffs.set([basic, kids])
    change = T0 + timedelta(days=10)
    change_tariffs(account, [premium.id, kids.id], change)
    assert sorted(account.tariffs.values_list("id", flat=True)) == sorted([premium.id, kids.id])
    value = ReferenceHost().account(client.id, account.id)
    assert value.tariffs_at(change - timedelta(seconds=1)) == tuple(sorted([basic.id, kids.id]))
    assert value.tariffs_at(change) == tuple(sorted([premium.id, kids.id]))
    assert len(periods(account)) == 3  # kids kept its one period


def test_backfill_gives_todays_tariffs_one_period_since_the_start(shop):
    client, account, basic, premium, _ = shop
    with recording_paused():
        account.tariffs.set([basic, premium])
    assert periods(account) == []
    backfill()
    assert periods(account) == sorted([(basic.id, T0 + timedelta(hours=1), None),
                                       (premium.id, T0 + timedelta(hours=1), None)])
