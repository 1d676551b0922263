"""The reference host reads accounts a page at a time, with their tariff periods and devices;
the seeded generator writes the history saving them one by one would."""
from datetime import datetime, timezone

import pytest

from tvmiddleware import models as m
from tvmiddleware import stats_host
from tvmiddleware.fixtures import generate

NOW = datetime(2024, 3, 10, 14, tzinfo=timezone.utc)


@pytest.mark.django_db
def test_accounts_in_pages_are_the_accounts_one_by_one(operator, other_operator, monkeypatch):
    generate(operator.client, now=NOW, seed=3)
    generate(other_operator.client, now=NOW, seed=4)
    host = stats_host.ReferenceHost()
    whole = list(host.accounts(operator.client.id))
    rows = m.Account.objects.filter(client_id=operator.client.id).order_by("id")
    assert [a.id for a in whole] == [r.id for r in rows] and len(whole) > 20
    assert any(len(a.tariff_periods) > 1 for a in whole) and any(a.device_types for a in whole)
    for account, row in zip(whole, rows):
        assert account == host.account(operator.client.id, account.id)
        periods = list(row.tariff_periods.order_by("start", "tariff_id").values_list("tariff_id", "start", "end"))
        assert [(p.tariff_id, p.start, p.end) for p in account.tariff_periods] == periods
        assert account.device_types == tuple(sorted({d.play_device.system_name for d in row.devices.all()}))
        assert account.login == row.abonement and account.customer_id == row.customer_id
    monkeypatch.setattr(stats_host, "ACCOUNTS_PER_QUERY", 7)  # pages end inside and at the end
    assert list(host.accounts(operator.client.id)) == whole
    monkeypatch.setattr(stats_host, "ACCOUNTS_PER_QUERY", len(whole))
    assert list(host.accounts(operator.client.id)) == whole
    assert host.account(other_operator.client.id, whole[0].id) is None  # another operator's id
    assert host.account(operator.client.id, "not a number") is None


@pytest.mark.django_db
def test_generated_subscribers_carry_the_history_saving_them_one_by_one_writes(operator, other_operator):
    """tvmiddleware.fixtures.generate inserts a table at a time; the same accounts
    saved one by one (tariffs set through Account.tariffs, which records the
    periods) get the same tariff periods and devices."""
    now = datetime(2024, 3, 10, 14, 37, 21, tzinfo=timezone.utc)
    world = generate(operator.client, now=now, seed=11, customers=25, sessions=0, payments=0)
    assert any(world.tariffs.values()) and any(world.devices.values())
    for acc in world.accounts:
        copy = m.Account.objects.create(
            client=other_operator.client, customer=m.Customer.objects.create(client=other_operator.client),
            abonement=f"copy-{acc.id}", password="pw", created_at=acc.created_at,
            activation_date=acc.activation_date, deactivation_date=acc.deactivation_date)
        copy.tariffs.set(acc.tariffs.all())
        periods = [list(m.AccountTariffPeriod.objects.filter(account=a).order_by("tariff_id")
                        .values_list("tariff_id", "start", "end")) for a in (acc, copy)]
        assert periods[0] == periods[1], acc.abonement
        devices = acc.devices.values_list("play_device__system_name", flat=True)
        assert sorted(devices) == sorted(world.devices[acc.id])
        assert set(acc.tariffs.values_list("id", flat=True)) == world.tariffs[acc.id]
