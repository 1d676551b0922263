"""Seeded random subscriber bases built through a HostBuilder, on any host.

The World keeps what was created as plain records with the attribute names
the brute force in test_smartystats_dynamics reads (created_at,
activation_date, deactivation_date, customer_id, payments' created_at and
processed), so the same independent check runs on every host.
"""
import random
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

from tvmiddleware.fixtures import CURRENCIES, REASONS, World, _instant
from viewstats import contract, store


def generate_on(builder, client_id, *, now, seed, customers=30, days=45, sessions=400, payments=80):
    rng = random.Random(seed)
    now = now.replace(microsecond=0)
    origin = now - timedelta(days=days)
    world = World(client_id=client_id)
    tariffs = [builder.tariff(client_id, f"T{seed}-{i}") for i in range(2)]
    for name in ("mag", "android", "ios"):
        builder.device_type(client_id, f"{name}", True)
    for i in range(customers):
        created = _instant(rng, origin - timedelta(days=20), now)
        if rng.random() < 0.1:  # arrivals right at midnight test the edges
            created = created.replace(hour=0, minute=0, second=0)
        customer_id = builder.customer(client_id, created)
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            acc_created = min(created + timedelta(hours=rng.randrange(0, 72)), now)
            until = None
            if rng.random() < 0.35:
                until = acc_created + timedelta(seconds=rng.randrange(1, 40 * 86400))
            active = until is None or until > now
            status = contract.ACTIVE if active and rng.random() >= 0.08 else rng.choice(REASONS)
            chosen = rng.sample(tariffs, rng.randrange(0, len(tariffs) + 1))
            account_id = builder.account(client_id, customer_id, acc_created, chosen,
                                         active_until=until, status=status)
            owner = customer_id if customer_id is not None else account_id
            if customer_id is None or not any(c.id == owner for c in world.customers):
                world.customers.append(SimpleNamespace(id=owner, created_at=created if customer_id
                                                       is not None else acc_created))
            world.accounts.append(SimpleNamespace(
                id=account_id, customer_id=owner, created_at=acc_created, activation_date=None,
                deactivation_date=until, active=status == contract.ACTIVE))
            world.tariffs[account_id] = set(chosen)
    for _ in range(payments):
        payer = rng.choice(world.customers)
        at = _instant(rng, origin, now)
        if rng.random() < 0.1:
            at = at.replace(hour=0, minute=0, second=0)
        amount, currency = Decimal(rng.randrange(100, 5000)) / 100, rng.choice(CURRENCIES)
        processed = rng.random() < 0.9
        builder.payment(client_id, payer.id, amount, currency, at, processed=processed)
        world.payments.append(SimpleNamespace(customer_id=payer.id, amount=amount, currency=currency,
                                              created_at=at, processed=processed))
    for k in range(sessions):
        acc = rng.choice(world.accounts)
        start = _instant(rng, origin, now)
        end = min(start + timedelta(seconds=0 if rng.random() < 0.08 else rng.randrange(1, 4 * 3600)), now)
        doc = {"_id": f"any-{client_id}-{seed}-{k}", "client_id": client_id, "source": "device",
               "protocol": "push", "account_id": acc.id, "customer_id": acc.customer_id,
               "tariff_ids": sorted(world.tariffs[acc.id]), "device_type": "mag",
               "channel_id": rng.randrange(1, 20), "program_id": None, "kind": "live",
               "timeshift_offset": 0, "archive_offset": None, "start": start, "end": end,
               "duration": int((end - start).total_seconds()), "received_at": end, "updated_at": end}
        world.sessions.append(doc)
    store.sessions().insert_many(world.sessions)
    return world
