"""Seeded random subscriber data for demos, benchmarks and tests.

Writes customers, accounts (with devices and tariffs), payments into the
reference host app and viewing sessions into MongoDB (through
viewstats.store), spread over `days` days before `now`, with sessions that
cross hour and day edges, zero-length sessions, unidentified viewers and a
few sessions still open at `now`.
"""
import random
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from tvmiddleware import models as host
from tvmiddleware.tariffs import add_first_tariffs

from viewstats import store

REASONS = ["DEBT", "BLOCK", "INACTIVE", "WAIT"]
CURRENCIES = ["EUR", "USD"]


@dataclass
class World:
    client_id: int
    customers: list = field(default_factory=list)   # host.Customer
    accounts: list = field(default_factory=list)    # host.Account
    payments: list = field(default_factory=list)    # host.Payment
    sessions: list = field(default_factory=list)    # session dicts as stored
    devices: dict = field(default_factory=dict)     # account id -> set of system names
    tariffs: dict = field(default_factory=dict)     # account id -> set of tariff ids


def _insert_subscribers(world, customers, accounts):
    """Insert the customers and the (account, tariffs, play devices) rows, with
    what saving them one by one would have written besides (tariff periods)."""
    host.Customer.objects.bulk_create(customers)
    host.Account.objects.bulk_create([acc for acc, _, _ in accounts])
    add_first_tariffs([(acc, [t.id for t in chosen]) for acc, chosen, _ in accounts])
    host.AccountDevice.objects.bulk_create([
        host.AccountDevice(account=acc, play_device=pd, device_uid=f"{acc.id}-{pd.id}")
        for acc, _, devices in accounts for pd in devices])
    world.customers += customers
    for acc, chosen, devices in accounts:
        world.tariffs[acc.id] = {t.id for t in chosen}
        world.devices[acc.id] = {pd.system_name for pd in devices}
        world.accounts.append(acc)


def _instant(rng, start, end):
    return start + timedelta(seconds=rng.randrange(int((end - start).total_seconds())))


def generate(client, *, now, seed, customers=30, days=45, sessions=400, payments=80,
             session_batch=5000):
    """Create a random subscriber base for `client`; return a World."""
    rng = random.Random(seed)
    now = now.replace(microsecond=0)
    origin = now - timedelta(days=days)
    world = World(client_id=client.id)
    tariffs = list(host.Tariff.objects.filter(client=client)) or [
        host.Tariff.objects.create(client=client, name=f"{client.name} Basic")]
    play_devices = [cpd.play_device for cpd in
                    host.ClientPlayDevice.objects.filter(client=client).select_related("play_device")]
    if not play_devices:
        for name in ("mag", "android", "ios"):
            pd, _ = host.PlayDevice.objects.get_or_create(system_name=name, defaults={"name": name})
            host.ClientPlayDevice.objects.create(client=client, play_device=pd, reports_enabled=True)
            play_devices.append(pd)
    # What the client already has is part of the world the caches will see.
    world.customers = list(host.Customer.objects.filter(client=client))
    world.accounts = list(host.Account.objects.filter(client=client))
    world.payments = list(host.Payment.objects.filter(client=client))
    for acc in world.accounts:
        world.tariffs[acc.id] = set(acc.tariffs.values_list("id", flat=True))
        world.devices[acc.id] = set(acc.devices.values_list("play_device__system_name", flat=True))
    n_existing = len(world.accounts)
    # Rows are made in memory, in the order (and with the random draws) of
    # creating them one by one, then inserted a table at a time.
    new_customers, new_accounts = [], []  # new_accounts: (account, tariffs, play devices)
    for i in range(customers):
        created = _instant(rng, origin - timedelta(days=20), now)
        if rng.random() < 0.1:  # arrivals right at midnight test the edges
            created = created.replace(hour=0, minute=0, second=0)
        cust = host.Customer(client=client, first_name=f"gen{seed}-{i}", created_at=created)
        new_customers.append(cust)
        for j in range(rng.choice([1, 1, 1, 2, 3])):
            acc_created = min(created + timedelta(hours=rng.randrange(0, 72)), now)
            activation = None if rng.random() < 0.4 else min(
                acc_created + timedelta(minutes=rng.randrange(0, 3000)), now)
            deactivation = None
            begin = activation or acc_created
            if rng.random() < 0.35:
                deactivation = begin + timedelta(seconds=rng.randrange(0, 40 * 86400))
            active = deactivation is None or deactivation > now
            if active and rng.random() < 0.08:
                active = False  # blocked by hand, no date recorded
            acc = host.Account(
                client=client, customer=cust,
                abonement=f"g{client.id}-{seed}-{n_existing + len(world.accounts) + len(new_accounts)}",
                password="pw", created_at=acc_created, activation_date=activation,
                deactivation_date=deactivation, active=active,
                status_reason="ACTIVE" if active else rng.choice(REASONS))
            chosen = rng.sample(tariffs, rng.randrange(0, len(tariffs) + 1))
            devices = rng.sample(play_devices, rng.randrange(0, min(3, len(play_devices)) + 1))
            new_accounts.append((acc, chosen, devices))
    _insert_subscribers(world, new_customers, new_accounts)
    pay_rows = []
    for _ in range(payments):
        cust = rng.choice(world.customers)
        at = _instant(rng, origin, now)
        if rng.random() < 0.1:
            at = at.replace(hour=0, minute=0, second=0)
        pay_rows.append(host.Payment(
            client=client, customer=cust, amount=Decimal(rng.randrange(100, 5000)) / 100,
            currency=rng.choice(CURRENCIES), created_at=at, processed=rng.random() < 0.9))
    world.payments += host.Payment.objects.bulk_create(pay_rows)
    batch = []
    for k in range(sessions):
        acc = rng.choice(world.accounts)
        roll = rng.random()
        if roll < 0.1:  # crosses midnight
            day = now.replace(hour=0, minute=0, second=0) - timedelta(days=rng.randrange(0, days))
            start = day - timedelta(seconds=rng.randrange(1, 7200))
            end = day + timedelta(seconds=rng.randrange(0, 7200))
        elif roll < 0.15:  # still open now
            start = now - timedelta(seconds=rng.randrange(0, 3 * 3600))
            end = now - timedelta(seconds=rng.randrange(0, 170))
            start = min(start, end)
        else:
            start = _instant(rng, origin, now)
            length = 0 if rng.random() < 0.08 else rng.randrange(1, 4 * 3600)
            end = min(start + timedelta(seconds=length), now)
        unidentified = rng.random() < 0.05
        doc = {
            "_id": f"gen-{client.id}-{seed}-{k}", "client_id": client.id,
            "source": "media_server" if unidentified else "device",
            "protocol": "flussonic" if unidentified else "push",
            "account_id": None if unidentified else acc.id,
            "customer_id": None if unidentified else acc.customer_id,
            "tariff_ids": sorted(world.tariffs[acc.id]) if not unidentified else [],
            "device_type": None if unidentified else (sorted(world.devices[acc.id]) or ["mag"])[0],
            "channel_id": rng.randrange(1, 20), "program_id": None, "kind": "live",
            "timeshift_offset": 0, "archive_offset": None,
            "start": start, "end": end, "duration": int((end - start).total_seconds()),
            "received_at": end, "updated_at": end,
        }
        world.sessions.append(doc)
        batch.append(doc)
        if len(batch) >= session_batch:
            store.sessions().insert_many(batch)
            batch = []
    if batch:
        store.sessions().insert_many(batch)
    return world
