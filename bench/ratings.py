"""Audience ratings (viewstats/ratings.py): time and documents examined at 10k and 100k sessions.

    .venv/bin/python bench/ratings.py [--sizes 10000 100000] [--examined-max 100000 | --no-examined]

For each size N, the world of bench/scale.py: N sessions of client A (500
accounts, all active since 90 days ago, 20 channels, an EPG over the last 8
days, 25 % media-server sessions, 10 % archive viewing, evenings busiest)
and N of client B, which no rating may touch, spread over the 60 days before
now. Each item computes ratings as the API does (ratings.compute, plus
ratings.hourly for the profile) over whole local days before today, and is
timed (wall and CPU, the meter's own work left out: bench/_common.py) and
metered: documents examined with the declared indexes
(viewstats/examined.py; on a MongoDB server, explain).

Then N more sessions of A are added 200 to 260 days back (history outside
every window) and the prime-time item runs again: what it examines must not
change, since both index ranges it reads (store.ending_after) stop a day
past the window.

The embedded engine has no secondary index: its times grow with all 2N
(then 3N) stored sessions, while the examined counts show what a real
MongoDB reads. Prints numbers and asserts nothing.
"""
import argparse
import gc
import os
import random
import sys
import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scale  # noqa: E402  (sets Django up on tests.settings, and builds the world)
from _common import measure  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402

from viewstats import ratings, store  # noqa: E402
from viewstats.documents import utcnow  # noqa: E402
from viewstats.reports.filters import zone_for  # noqa: E402

ACCOUNTS = 500


def build(n, rng):
    """Client A with accounts active since 90 days ago (the universe of every window), and client B."""
    a = scale.build_operator(f"Ratings {n} A", 0, scale.EPG_DAYS, 0, rng)
    since = utcnow() - timedelta(days=90)
    with transaction.atomic():
        for i in range(ACCOUNTS):
            tariff = a.tariffs[i % 2].id
            customer = a.builder.customer(a.client.id, since)
            account_id = a.builder.account(a.client.id, customer, since, [tariff])
            a.accounts.append(SimpleNamespace(id=account_id, customer_id=customer or account_id,
                                              tariff_ids=[tariff]))
    b = scale.build_operator(f"Ratings {n} B", ACCOUNTS // 5, 0, 0, rng)
    return a, b


def items(client_id, today):
    def days(count):
        return {"date_from": (today - timedelta(days=count)).isoformat(),
                "date_to": (today - timedelta(days=1)).isoformat()}

    def rate(label, **params):
        def fn():
            return ratings.compute(ratings.parse(params, [client_id]))
        return label, fn, lambda d: (f"{len(d['rows'])} rows, universe {d['universe']['size']}, "
                                     f"all channels AMA {d['totals']['average_audience']}, "
                                     f"rating {d['totals']['rating']} %, reach {d['totals']['reach']}")

    def profile():
        query = ratings.parse({**days(28), "band": "19:00-23:00"}, [client_id])
        top = ratings.compute(query)["rows"][0]["channel_id"]
        return ratings.hourly(query, top)

    return [
        rate("28 days, whole day, by channel", **days(28)),
        rate("28 days, prime time 19:00-23:00, by channel", **days(28), band="19:00-23:00"),
        rate("28 days, 22:00-02:00, by programme, 5 min", **days(28), band="22:00-02:00", by="programme",
             threshold="5"),
        rate("28 days, prime time, device_type=mag", **days(28), band="19:00-23:00", device_type="mag"),
        rate("7 days, prime time, by channel", **days(7), band="19:00-23:00"),
        rate("60 days, prime time, by channel", **days(60), band="19:00-23:00"),
        ("28 days, rating by hour of the top channel (+ its ranking)", profile,
         lambda d: f"{d['channel']}: peak hour "
                   f"{max(d['points'], key=lambda p: p['rating'] or 0)['label']}"),
    ]


def run_size(n, args, rng, ua_fields):
    gc.unfreeze()
    scale.fresh_store()
    now = utcnow().replace(microsecond=0)
    a, b = build(n, rng)
    t = time.perf_counter()
    stored = scale.insert(scale.sessions_of(a, n, now, rng, ua_fields)) + \
        scale.insert(scale.sessions_of(b, n, now, rng, ua_fields))
    inserted = time.perf_counter() - t
    gc.collect()
    gc.freeze()
    metered = not args.no_examined and (not store.is_embedded() or n <= args.examined_max)
    today = now.astimezone(zone_for([a.client.id])).date()
    scale.say(f"== N = {n}: client A (id {a.client.id}) {n} sessions over the {scale.HISTORY_DAYS} days to "
              f"{now:%Y-%m-%d %H:%M} UTC, {ACCOUNTS} accounts, {scale.CHANNELS} channels; client B {n}; "
              f"{stored} inserted in {inserted:.1f} s")
    scale.say(f"   {'':<58}{'wall s':>8}{'cpu s':>8}{'examined':>10}  by collection; result")
    for label, fn, note in items(a.client.id, today):
        with measure(metered) as cost:
            result = fn()
        examined = "" if cost.examined is None else f"{cost.examined:>10}"
        scale.say(f"   {label:<58}{cost.wall:>8.2f}{cost.cpu:>8.2f}{examined:>10}  "
                  f"{'; '.join(x for x in (cost.examined_text(), note(result)) if x)}")
    # History outside every window: what the prime-time ratings examine must not change.
    old = now - timedelta(days=200)
    scale.insert(scale.sessions_of(a, n, old, rng, ua_fields, prefix="h"))
    label, fn, note = items(a.client.id, today)[1]
    with measure(metered) as cost:
        fn()
    examined = "" if cost.examined is None else f"{cost.examined:>10}"
    scale.say(f"   {'same, after +' + str(n) + ' sessions 200-260 days back':<58}{cost.wall:>8.2f}"
              f"{cost.cpu:>8.2f}{examined:>10}  {cost.examined_text()}")
    scale.say()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000])
    parser.add_argument("--examined-max", type=int, default=100000,
                        help="on the embedded engine, meter sizes up to this only: there the meter "
                             "costs several passes over the collection per query")
    parser.add_argument("--no-examined", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    began = time.perf_counter()
    call_command("migrate", verbosity=0)
    rng = random.Random(args.seed)
    ua_fields = scale.device_fields()
    engine = "embedded (mongomock-ng + viewstats/embedded.py)" if store.is_embedded() else \
        f"MongoDB server, database {os.environ.get('MONGODB_NAME')}"
    scale.say(f"engine: {engine}; {os.cpu_count()} CPUs; sizes {args.sizes}")
    try:
        for n in args.sizes:
            run_size(n, args, rng, ua_fields)
    finally:
        if not store.is_embedded():
            db = store.get_db()
            db.client.drop_database(db.name)
    scale.say(f"total {time.perf_counter() - began:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
