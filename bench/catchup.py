"""Catch-up depth report (viewstats/catchup.py): time and documents examined at several sizes.

    .venv/bin/python bench/catchup.py [--sizes 10000 100000] [--no-examined]

For each size N, N sessions of one operator (A) and N of a second (B), which
the report must never touch, are spread over the 60 days before today and
inserted straight into the store (documents of viewstats.documents.
session_document). A has 20 channels with an EPG of a 2-hour programme
every 2 hours over the 45 days before today (10,800 programmes); a quarter
of its sessions are archive viewing of a programme aired 0 to 30 days
before (ages skewed young, as catch-up is), a tenth are live behind live
(timeshift 1 to 48 h), 2 % are archive viewing without a programme; the
rest is live. Then, on tests.settings (the reference host on a throw-away
SQLite file) and the configured engine (embedded by default; a real MongoDB
with MONGODB_URI, on a throw-away database dropped at the end), the report
is computed over the last 7 and the last 28 whole days, all channels and one
channel, under the documents-examined meter (bench/_common.py leaves the
meter's own work out of the times).

What to read: "examined" is what the declared indexes select (two passes over
the period's range of client_start_id, or client_channel_start with a
channel): it follows the period, never the history or the other operator.
"in period" is the number of A's sessions that started in the period;
"programmes" how many distinct programmes went into the pipeline. The
embedded engine has no index, so its times still grow with the collection.
Prints numbers and asserts nothing.
"""
import argparse
import os
import random
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ.setdefault("SQLITE_PATH", os.path.join(tempfile.mkdtemp(), "bench.sqlite3"))
os.environ.pop("DATABASE", None)
if os.environ.get("MONGODB_URI"):
    os.environ["MONGODB_NAME"] = f"viewstats_catchup_{os.getpid()}"

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402

from _common import measure  # noqa: E402
from tests.factories import make_operator  # noqa: E402
from viewstats import caching, catchup, store  # noqa: E402
from viewstats.documents import session_document  # noqa: E402

HISTORY_DAYS = 60
EPG_DAYS = 45
CHANNELS = 20
CHUNK = 5000


def build_operator(name, epg_days):
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    with transaction.atomic():
        op = make_operator(name, channels=CHANNELS, accounts=50)
        op.epg = []  # (id, channel_id, begin)
        for channel in op.channels:
            op.epg += [(p.id, channel.id, p.begin) for p in op.schedule[channel.id]]
            for d in range(-epg_days, -1):  # make_operator has yesterday, today and tomorrow
                for h in range(0, 24, 2):
                    begin = today + timedelta(days=d, hours=h)
                    pid = op.builder.programme(op.client.id, channel.id, begin, begin + timedelta(hours=2),
                                               f"{channel.name} show {d}/{h}")
                    op.epg.append((pid, channel.id, begin))
    op.by_channel = {}
    for pid, cid, begin in op.epg:
        op.by_channel.setdefault(cid, []).append((begin, pid))
    for rows in op.by_channel.values():
        rows.sort()
    return op


def sessions_of(op, n, now, rng, prefix):
    since = now - timedelta(days=HISTORY_DAYS)
    span = int((now - since).total_seconds())
    slots = {}
    for c in op.channels:
        slots[c.id] = {begin: pid for begin, pid in op.by_channel[c.id]}
    for i in range(n):
        start = since + timedelta(seconds=rng.randrange(span))
        channel = rng.choice(op.channels)
        duration = rng.choice([30, 300, 1200, 2400, 3600, 5400])
        kind, program_id, shift = "live", None, 0
        r = rng.random()
        if r < 0.25:
            age = timedelta(seconds=min(30 * 86400, int(rng.expovariate(1 / (2 * 86400)))))
            aired = start - age
            slot = aired.replace(minute=0, second=0, microsecond=0)
            slot -= timedelta(hours=slot.hour % 2)
            kind, program_id = "archive", slots[channel.id].get(slot)
            if program_id is None:
                kind, program_id = "archive", 10 ** 12 + i  # older than the EPG: not in it
        elif r < 0.27:
            kind = "archive"  # a media server's DVR: no programme
        elif r < 0.37:
            shift = rng.randrange(1, 49)
        yield session_document(_id=f"{prefix}:{i}", client_id=op.client.id, source="device", protocol="push",
                               start=start, end=start + timedelta(seconds=duration), channel_id=channel.id,
                               program_id=program_id, kind=kind, timeshift_offset=shift,
                               ip="10.1.2.3", user_agent="MAG250")


def insert(docs):
    batch = []
    for d in docs:
        batch.append(d)
        if len(batch) == CHUNK:
            store.insert_unordered(store.SESSIONS, batch)
            batch = []
    if batch:
        store.insert_unordered(store.SESSIONS, batch)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000])
    parser.add_argument("--no-examined", action="store_true", help="skip the documents-examined meter")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    rng = random.Random(7)
    a = build_operator("Catchup A", EPG_DAYS)
    b = build_operator("Catchup B", 10)
    now = datetime.now(timezone.utc)
    today = now.date()
    engine = "MongoDB " + os.environ["MONGODB_URI"].split("@")[-1] if os.environ.get("MONGODB_URI") else "embedded"
    print(f"engine: {engine}; operator A: {CHANNELS} channels, {len(a.epg)} programmes over {EPG_DAYS} days")
    try:
        for n in args.sizes:
            if store.is_embedded():
                store.reset()
            else:
                store.sessions().delete_many({})
            store.ensure_indexes()
            caching.clear_all()
            insert(sessions_of(a, n, now, rng, "a"))
            insert(sessions_of(b, n, now, rng, "b"))
            print(f"\n{n} sessions of A over {HISTORY_DAYS} days (+{n} of B): {2 * n} in the collection")
            print(f"  {'query':<34} {'wall s':>8} {'cpu s':>8} {'examined':>10} {'in period':>10} "
                  f"{'archive':>8} {'programmes':>10}")
            channel = a.channels[0].id
            for days, label, extra in ((7, "last 7 days, all channels", {}),
                                       (28, "last 28 days, all channels", {}),
                                       (28, "last 28 days, one channel", {"channel": str(channel)})):
                first = today - timedelta(days=days - 1)
                params = {"date_from": first.isoformat(), "date_to": today.isoformat(), **extra}
                query = catchup.parse(params, [a.client.id])
                match = {"client_id": a.client.id, "start": {"$gte": query.start, "$lt": query.end}}
                if extra:
                    match["channel_id"] = channel
                in_period = store.sessions().count_documents(match)
                with measure(metered=not args.no_examined) as cost:
                    data = catchup.compute(query)
                examined = "-" if cost.examined is None else str(cost.examined)
                print(f"  {label:<34} {cost.wall:8.3f} {cost.cpu:8.3f} {examined:>10} {in_period:>10} "
                      f"{data['archive']['sessions']:>8} {data['programmes_looked_up']:>10}")
    finally:
        if not store.is_embedded():
            store.get_client().drop_database(store.get_db().name)


if __name__ == "__main__":
    main()
