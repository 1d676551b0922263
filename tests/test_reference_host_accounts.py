"""The reference host reads accounts a page at a time, with their tariff periods and devices."""
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
