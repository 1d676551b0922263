"""Customers' active status from the middleware when its host gives it, else derived from accounts.

The host here is the reference host whose customers() also carries each
customer's own active periods (the optional `active_periods` a Customer may
have; None means "not known": derive it from the accounts). Brute force
reads those periods, or the accounts, directly; buckets are Moscow's local
days and hours, found minute by minute as in test_smartystats_zone.
"""
import random
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from django.core.management import call_command

from smartystats.models import Count, StatsSnapshot
from tests.test_smartystats_dynamics import bf_active_account
from tests.test_smartystats_zone import (API, DAY, bf_day_starts, case_now, expected_windows,
                                         isolated_locks, local_date, make_world, superuser_client)
from tvmiddleware.stats_host import ReferenceHost
from viewstats import contract

assert isolated_locks  # an autouse fixture, imported to apply here
ZONE, DST_DAY = "Europe/Moscow", date(2024, 3, 10)


@dataclass(frozen=True)
class CustomerWithStatus(contract.Customer):
    active_periods: tuple | None = None


def own_periods(world, mode, seed):
    """{customer id: its own periods} for every customer ("all") or about two thirds ("some")."""
    rnd = random.Random(seed)
    midnights = list(bf_day_starts(ZONE, DST_DAY - 30 * DAY, DST_DAY + DAY).values())
    periods = {}
    for c in world.customers:
        if mode == "some" and rnd.random() < 0.35:
            continue
        spans = []
        for _ in range(rnd.choice([0, 1, 1, 2])):
            start = rnd.choice([c.created_at + rnd.randrange(0, 10 * 86400) * timedelta(seconds=1),
                                rnd.choice(midnights)])
            end = rnd.choice([None, start + rnd.randrange(3600, 20 * 86400) * timedelta(seconds=1),
                              rnd.choice([m for m in midnights if m > start] or [None])])
            spans.append(contract.Period(start, end))
        periods[c.id] = tuple(spans)
    return periods


@pytest.fixture
def host_with_status(monkeypatch):
    def install(periods):
        real = ReferenceHost.customers

        def customers(self, client_id):
            for c in real(self, client_id):
                yield CustomerWithStatus(c.id, c.created_at, periods.get(c.id))
        monkeypatch.setattr(ReferenceHost, "customers", customers)
    return install


def bf_active(world, periods, customer, t):
    if customer.id in periods:
        return any(p.start <= t and (p.end is None or t < p.end) for p in periods[customer.id])
    return any(bf_active_account(a, t) for a in world.accounts if a.customer_id == customer.id)


def bf_gone(world, periods, customer):
    """When the customer's last active period ended for good, or None."""
    if customer.id in periods:
        ends = [p.end for p in periods[customer.id]]
    else:
        ends = [a.deactivation_date for a in world.accounts if a.customer_id == customer.id]
    return max(ends) if ends and all(e is not None for e in ends) else None


def check(world, periods, now):
    today, first, days, hours, fill_to = expected_windows(ZONE, now)
    day_edges = [days[first + i * DAY] for i in range((today - first).days + 1)]
    hour_edges = [h for h in hours if h >= days[today - 3 * DAY]]
    gone = [t for t in (bf_gone(world, periods, c) for c in world.customers) if t is not None]
    for frequency, edges in (("day", day_edges), ("hour", hour_edges)):
        active = {r.end_time: r.value for r in Count.objects.filter(
            client_id=world.client_id, series=f"customers_active::{frequency}")}
        left = {r.end_time: r.value for r in Count.objects.filter(
            client_id=world.client_id, series=f"customers_deactivated::{frequency}")}
        for a, b in zip(edges, edges[1:]):
            assert active.get(b, 0) == sum(bf_active(world, periods, c, b) for c in world.customers), b
            assert left.get(b, 0) == sum(a <= t < b for t in gone), b


@pytest.mark.django_db
@pytest.mark.parametrize("mode, source, text", [
    ("all", "middleware", "Customer status: from the middleware."),
    ("some", "mixed", "Customer status: from the middleware where it has one, else derived from accounts."),
    ("none", "accounts", "Customer status: derived from accounts."),
])
def test_customer_status_from_the_middleware_or_the_accounts(client, operator, host_with_status,
                                                             mode, source, text):
    now = case_now(ZONE, DST_DAY)
    world = make_world(operator, ZONE, DST_DAY, seed=31, now=now, sessions=100)
    periods = own_periods(world, mode, seed=32) if mode != "none" else {}
    if mode != "none":
        host_with_status(periods)
    for command in ("cache_customers_dynamic", "save_stats"):
        call_command(command, time=now.isoformat(), stdout=None)
    check(world, periods, now)

    snap = StatsSnapshot.objects.get(client_id=world.client_id)
    assert snap.customer_status == source
    here = local_date(now, ZONE)
    starts = bf_day_starts(ZONE, here.replace(day=1), here)
    gone = [t for t in (bf_gone(world, periods, c) for c in world.customers) if t is not None]

    def active_now(c):
        if c.id in periods:
            return bf_active(world, periods, c, now)
        return any(a.active for a in world.accounts if a.customer_id == c.id)  # the account's status now
    assert snap.data["customers"]["active"] == sum(active_now(c) for c in world.customers)
    assert snap.data["customers"]["deactivated_today"] == sum(starts[here] <= t <= now for t in gone)
    assert snap.data["customers"]["deactivated_month"] == sum(starts[here.replace(day=1)] <= t <= now
                                                              for t in gone)
    if mode != "none":
        assert sum(starts[here.replace(day=1)] <= t <= now for t in gone) > 0

    superuser_client(client)
    data = client.get(API, {"client_id": world.client_id}).json()
    assert data["customer_status"]["source"] == source
    page = client.get("/admin/smartystats/dynamics/", {"client_id": world.client_id}).content.decode()
    assert f'data-source="{source}">{text}</span>' in page
