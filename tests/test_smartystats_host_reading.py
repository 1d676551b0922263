"""smartystats.host inside reading(): payments read a stretch at a time give
what the host gives bucket by bucket, with far fewer queries."""
import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from smartystats import host
from tests.factories import make_operator

HOST_KINDS = ("reference", "toy")
T0 = datetime(2024, 3, 1, tzinfo=timezone.utc)


class Counting:
    """The host, counting its payments() and accounts() calls."""

    def __init__(self, real):
        self.real, self.calls, self.account_reads = real, 0, 0

    def __getattr__(self, name):
        return getattr(self.real, name)

    def payments(self, *args):
        self.calls += 1
        return self.real.payments(*args)

    def accounts(self, *args):
        self.account_reads += 1
        return self.real.accounts(*args)


@pytest.mark.django_db
def test_payments_read_ahead_answer_as_the_host_bucket_by_bucket(host_kind, monkeypatch):
    op, other = make_operator("Payers"), make_operator("Other")
    rng = random.Random(5)
    at = [T0 + timedelta(minutes=rng.randrange(20 * 24 * 60)) for _ in range(120)]
    # Payments on bucket edges, and the other operator's at the same instants.
    at += [T0 + timedelta(days=d) for d in (0, 3, 7, 8, 14)] + [T0 + timedelta(days=7, hours=-1)]
    for t in at:
        account = rng.choice(op.accounts)
        op.builder.payment(op.client.id, account.customer_id, Decimal(rng.randrange(100, 2000)) / 100,
                           rng.choice(["EUR", "USD"]), t, processed=rng.random() < 0.9)
        other.builder.payment(other.client.id, other.accounts[0].customer_id, Decimal("1.00"), "EUR", t)
    # Hours, then days, then irregular windows, as fills and rebuilds ask.
    windows = [(T0 + timedelta(hours=h), T0 + timedelta(hours=h + 1)) for h in range(0, 20 * 24, 5)]
    windows += [(T0 + timedelta(days=d), T0 + timedelta(days=d + 1)) for d in range(21)]
    windows += [(T0 + timedelta(hours=s), T0 + timedelta(hours=s + n))
                for s, n in ((30, 400), (2, 1), (200, 300), (0, 24 * 20))]
    expected = [(host.payments(op.client.id, s, e), host.paying_customers(op.client.id, s, e))
                for s, e in windows]
    assert sum(sum(count for _, count, _ in p.values()) for p, _ in expected) > 100  # the windows hold payments

    from viewstats import host as viewstats_host

    counting = Counting(viewstats_host.get_host())
    monkeypatch.setattr(host, "get_host", lambda: counting)
    with host.reading():
        got = [(host.payments(op.client.id, s, e), host.paying_customers(op.client.id, s, e))
               for s, e in windows]
    assert got == expected
    assert counting.calls < len(windows) / 4, counting.calls
    # Outside reading() every call asks the host.
    counting.calls = 0
    host.payments(op.client.id, *windows[0])
    host.payments(op.client.id, *windows[0])
    assert counting.calls == 2


@pytest.mark.django_db
def test_a_series_fill_reads_the_subscribers_once_and_nested_blocks_share_reads(host_kind, monkeypatch):
    from smartystats import fill
    from smartystats.models import Count
    from smartystats.series import STATS
    from viewstats import host as viewstats_host

    op = make_operator("Readers")
    counting = Counting(viewstats_host.get_host())
    monkeypatch.setattr(host, "get_host", lambda: counting)
    # Called directly, as a cron command's job calls it: a month of daily buckets
    # or more (the operator's accounts start now), one read.
    fill_to = datetime.now(timezone.utc) + timedelta(days=2)
    assert fill.process_stat(op.client.id, STATS["accounts_active::day"], fill_to) > 28
    assert counting.account_reads == 1
    assert Count.objects.filter(client_id=op.client.id, series="accounts_active::day").exists()
    with host.reading():
        outer = host.timeline(op.client.id)
        with host.reading():
            assert host.timeline(op.client.id) is outer
        assert host.timeline(op.client.id) is outer  # the inner block left the outer's reads alone
    assert counting.account_reads == 2
    assert host.timeline(op.client.id) is not outer  # outside any block: read afresh
