"""A realistic simulated operator: subscribers, device types, tariffs, channels, EPG, payments."""
import random
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model

from tvmiddleware import models as m
from tvmiddleware.tariffs import change_tariffs

# (system name, share of devices, collection enabled). `pc` is left off so
# the demo shows what a device type without the checkbox gets.
DEVICE_MIX = [
    ("mag", 0.22, True), ("android_stb", 0.18, True), ("tizen_tv", 0.12, True),
    ("lg_webos", 0.10, True), ("samsung_smart_tv", 0.04, True), ("dune", 0.03, True),
    ("kodi", 0.04, True), ("ios", 0.10, True), ("android", 0.14, True), ("pc", 0.03, False),
]
# What an operator's admin calls them (the middleware's "name" field).
DEVICE_NAMES = {"mag": "MAG set-top box", "android_stb": "Android STB", "tizen_tv": "Samsung Tizen TV",
                "lg_webos": "LG webOS TV", "samsung_smart_tv": "Samsung Smart TV (Orsay)",
                "dune": "Dune HD", "kodi": "Kodi", "ios": "iOS app", "android": "Android app",
                "pc": "PC browser"}
TARIFFS = [("Basic", "5.00"), ("Standard", "9.00"), ("Premium", "15.00"), ("Kids add-on", "3.00")]
CATEGORIES = ["News", "Sport", "Movies", "Kids", "Music", "Documentary", "Entertainment", "Regional"]
CHANNEL_NAMES = {
    "News": ["World News 24", "Business Today", "City News", "Euro Report", "Headline TV", "Parliament Live"],
    "Sport": ["Sport 1", "Sport 2", "Football Club TV", "Motor Racing", "Tennis Channel", "Fight Night", "Outdoor"],
    "Movies": ["Cinema Classic", "Action Movies", "Romance", "Comedy Central Plus", "Thriller Zone", "Family Cinema",
               "Premiere"],
    "Kids": ["Cartoon Land", "Baby TV", "Teen Planet", "Kids Learn", "Animation Station"],
    "Music": ["Hits FM TV", "Rock Arena", "Classic Hall", "Dance Floor", "Folk Music"],
    "Documentary": ["Discovery World", "Nature HD", "History Channel", "Science Now", "Travel Guide", "Food Network"],
    "Entertainment": ["First Channel", "Channel Two", "Show TV", "Reality One", "Comedy Plus", "Series Hub",
                      "Talk Show TV", "Lifestyle"],
    "Regional": ["Capital TV", "North Region", "South Region", "Coast TV", "Mountain TV", "River Valley"],
}
SHOW_WORDS = ["Morning", "Evening", "Live", "Weekly", "Grand", "Family", "Night", "Prime", "Special", "Daily"]
SHOW_KINDS = {"News": "News", "Sport": "Match", "Movies": "Film", "Kids": "Cartoons", "Music": "Concert",
              "Documentary": "Documentary", "Entertainment": "Show", "Regional": "Magazine"}
FIRST_NAMES = ["Anna", "Boris", "Clara", "Dmitri", "Elena", "Farid", "Greta", "Hugo", "Ivana", "Jonas", "Katya",
               "Leo", "Maria", "Nikolai", "Olga", "Pavel", "Rosa", "Sergei", "Tamara", "Viktor"]
LAST_NAMES = ["Ivanova", "Petrov", "Smith", "Novak", "Kowalski", "Muller", "Rossi", "Garcia", "Berg", "Lind"]


@dataclass
class DemoOperator:
    client: m.Client
    channels: list
    channel_weights: list  # popularity prior of each channel (Zipf-like)
    device_types: dict = field(default_factory=dict)  # system name -> ClientPlayDevice
    accounts: list = field(default_factory=list)  # (Account, [system names of its devices])
    tariff_changes: int = 0  # accounts whose tariff changed during the simulated days


def build_operator(rng: random.Random, name, *, accounts, days, now):
    """Create an operator with `accounts` logins and `days` of EPG before `now`."""
    client = m.Client.objects.create(name=name, default_currency="EUR")
    op = DemoOperator(client=client, channels=[], channel_weights=[])
    for system_name, _share, enabled in DEVICE_MIX:
        device = m.PlayDevice.objects.get_or_create(
            system_name=system_name, defaults={"name": DEVICE_NAMES[system_name]})[0]
        op.device_types[system_name] = m.ClientPlayDevice.objects.create(
            client=client, play_device=device, reports_enabled=enabled)
    tariffs = [m.Tariff.objects.create(client=client, name=t, price=Decimal(p)) for t, p in TARIFFS]
    _channels(rng, op, tariffs)
    _epg(rng, op, now - timedelta(days=days + 1), now + timedelta(days=1))
    _subscribers(rng, op, tariffs, accounts, now)
    _tariff_changes(op, tariffs, now, days)
    return op


def _tariff_changes(op, tariffs, now, days):
    """About one active account in ten moves to the next tariff in the middle of the week,
    so the statistics must credit its earlier viewing to the old tariff. A random
    generator of its own keeps the rest of the demo's data as it was."""
    rng = random.Random(len(op.accounts))
    for account, _devices in op.accounts:
        current = sorted(account.tariffs.values_list("id", flat=True))
        base = next((t for t in tariffs[:2] if t.id in current), None)
        if not account.active or base is None or rng.random() >= 0.1:
            continue
        upgrade = tariffs[tariffs.index(base) + 1]
        at = now - timedelta(days=days / 2, hours=rng.uniform(-48, 48))
        if account.created_at >= at:
            continue
        change_tariffs(account, [t for t in current if t != base.id] + [upgrade.id], at)
        op.tariff_changes += 1


def _channels(rng, op, tariffs):
    number = 1
    for sort, category_name in enumerate(CATEGORIES):
        category = m.ChannelCategory.objects.create(client=op.client, name=category_name, sort=sort)
        for channel_name in CHANNEL_NAMES[category_name]:
            channel = m.Channel.objects.create(client=op.client, name=channel_name, number=number, sort=number)
            channel.categories.add(category)
            # Basic carries the first channels of each category, Premium all.
            channel.tariffs.add(tariffs[2])
            if number % 3 != 0:
                channel.tariffs.add(tariffs[1])
            if number % 3 == 1:
                channel.tariffs.add(tariffs[0])
            if category_name == "Kids":
                channel.tariffs.add(tariffs[3])
            op.channels.append(channel)
            number += 1
    order = list(range(len(op.channels)))
    rng.shuffle(order)
    weights = [0.0] * len(op.channels)
    for rank, index in enumerate(order):
        weights[index] = 1.0 / (rank + 1) ** 0.9
    op.channel_weights = weights


def _epg(rng, op, begin, end):
    rows = []
    for channel in op.channels:
        category = channel.categories.first().name
        t = begin
        while t < end:
            length = timedelta(minutes=rng.choice((30, 45, 60, 60, 90, 120)))
            title = f"{rng.choice(SHOW_WORDS)} {SHOW_KINDS[category]}"
            rows.append(m.EpgProgramme(channel=channel, begin=t, end=t + length, title=title, category=category))
            t += length
    m.EpgProgramme.objects.bulk_create(rows, batch_size=2000)


def _subscribers(rng, op, tariffs, accounts, now):
    systems = [s for s, _, _ in DEVICE_MIX]
    shares = [share for _, share, _ in DEVICE_MIX]
    n_customers = max(1, int(accounts * 0.85))
    customers = []
    for i in range(n_customers):
        created = now - timedelta(days=rng.uniform(0, 120))
        customers.append(m.Customer.objects.create(
            client=op.client, first_name=rng.choice(FIRST_NAMES), last_name=rng.choice(LAST_NAMES),
            created_at=created))
    for i in range(accounts):
        customer = customers[i] if i < n_customers else rng.choice(customers)
        created = customer.created_at + timedelta(hours=rng.uniform(0, 48))
        active, reason, deactivated = True, m.Account.Status.ACTIVE, None
        roll = rng.random()
        if roll < 0.06:
            active, reason = False, m.Account.Status.DEBT
            deactivated = now - timedelta(days=rng.uniform(0, 10))
        elif roll < 0.09:
            active, reason = False, m.Account.Status.BLOCK
            deactivated = now - timedelta(days=rng.uniform(0, 30))
        deactivated = max(deactivated, created + timedelta(hours=1)) if deactivated else None
        account = m.Account.objects.create(
            client=op.client, customer=customer, abonement=f"{100000 + i}", password=f"pw{i}",
            active=active, status_reason=reason, created_at=created, activation_date=created,
            deactivation_date=deactivated)
        base = rng.choices(tariffs[:3], weights=(5, 3, 2))[0]
        account.tariffs.add(base)
        if rng.random() < 0.2:
            account.tariffs.add(tariffs[3])
        n_devices = rng.choices((1, 2, 3), weights=(6, 3, 1))[0]
        devices = sorted(set(rng.choices(systems, weights=shares, k=n_devices)))
        op.accounts.append((account, devices))
        _payments(rng, op, customer, base, created, now)


def _payments(rng, op, customer, tariff, since, now):
    t = since
    while t < now:
        m.Payment.objects.create(client=op.client, customer=customer, amount=tariff.price, currency="EUR",
                                 created_at=t, processed=True, source=rng.choice(("card", "card", "terminal")))
        t += timedelta(days=30)


def create_superuser(username="admin", password="admin"):
    user_model = get_user_model()
    user = user_model.objects.filter(username=username).first()
    if user is None:
        user = user_model.objects.create_superuser(username, f"{username}@example.com", password)
    return user
