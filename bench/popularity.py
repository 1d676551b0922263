"""Run time and MongoDB documents examined of the popularity commands at three sizes.

    .venv/bin/python bench/popularity.py [--sizes 2000,8000,32000] [--channels 20]

Sessions are spread over twice the window (14 days for a 7-day window), so
about half of each client's history lies before the window: the documents
examined should follow the window, not the history. On the embedded engine
(no MONGODB_URI) "examined" is the number of the client's session
documents the client_end index range {client_id, end > window start}
covers, i.e. what a real server's explain reports as totalDocsExamined
for that plan (the embedded engine itself scans every document). With
MONGODB_URI set, it is the explain executionStats totalDocsExamined of
the command's session $match. Prints numbers, asserts nothing.
"""
import argparse
import io
import os
import random
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")  # tests.factories builds the data
os.environ.setdefault("SQLITE_PATH", os.path.join(tempfile.mkdtemp(), "bench.sqlite3"))
os.environ.pop("DATABASE", None)

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

from tests.factories import DEVICE_TYPES, make_operator  # noqa: E402
from viewstats import documents, store  # noqa: E402
from viewstats.popularity import pipelines  # noqa: E402
from viewstats.popularity.window import viewing_window  # noqa: E402

DAYS = 7
COMMANDS = [
    ("create_channel_sorting_by_popularity", ["--criterion=median_watch_time"]),
    ("create_channel_selection_by_popularity", ["--criterion=watch"]),
    ("create_epg_selection_by_popularity", []),
]


def generate(op, count, now, rng):
    programmes = [(p.id, p.channel_id) for ch in op.channels for p in ch.programmes.all()]
    docs = []
    for i in range(count):
        account = rng.choice(op.accounts)
        start = now - timedelta(days=2 * DAYS, seconds=-rng.randrange(0, 2 * DAYS * 86400))
        seconds = rng.choice([30, 60, 300, 900, 1800, 3600, 7200])
        archive = rng.random() < 0.2
        programme_id, channel_id = rng.choice(programmes) if archive else \
            (None, rng.choice(op.channels).id)
        docs.append({
            "_id": f"b{op.client.id}-{i}", "client_id": op.client.id, "source": "device",
            "protocol": "batch", "account_id": account.id, "customer_id": account.customer_id,
            "tariff_ids": [op.tariffs[i % 2].id], "device_type": rng.choice(DEVICE_TYPES),
            "channel_id": channel_id, "program_id": programme_id,
            "kind": "archive" if archive else "live", "timeshift_offset": rng.choice([0, 0, 0, 1]),
            "archive_offset": None, "start": start, "end": start + timedelta(seconds=seconds),
            "duration": seconds})
    for chunk in range(0, len(docs), 5000):
        store.sessions().insert_many(docs[chunk:chunk + 5000])


def total_docs_examined(explain):
    if isinstance(explain, dict):
        own = explain.get("totalDocsExamined", 0) if "executionStats" not in explain else 0
        return own + sum(total_docs_examined(v) for v in explain.values())
    if isinstance(explain, list):
        return sum(total_docs_examined(v) for v in explain)
    return 0


def examined(client_id, window):
    match = pipelines.session_match(client_id, window, {})
    if store.is_embedded():
        return store.sessions().count_documents({"client_id": client_id, "end": {"$gt": window.start}}), \
            "index range (embedded engine)"
    explain = store.get_db().command(
        "explain", {"aggregate": store.SESSIONS, "pipeline": [{"$match": match}, {"$count": "n"}],
                    "cursor": {}, "hint": pipelines.SESSION_INDEX}, verbosity="executionStats")
    return total_docs_examined(explain), "explain totalDocsExamined"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,8000,32000")
    parser.add_argument("--channels", type=int, default=10)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    now = documents.utcnow().replace(microsecond=0)
    rng = random.Random(42)
    print(f"engine: {'embedded (mongomock-ng)' if store.is_embedded() else 'MongoDB'}; "
          f"window {DAYS} days; history {2 * DAYS} days; {args.channels} channels")
    print(f"{'sessions':>9} {'in window':>10} {'examined':>9}  {'command':<40} {'seconds':>8}")
    for size in [int(s) for s in args.sizes.split(",")]:
        op = make_operator(f"Bench {size}", channels=args.channels, accounts=50)
        generate(op, size, now, rng)
        window = viewing_window(DAYS, now)
        in_window = store.sessions().count_documents(
            {"client_id": op.client.id, "end": {"$gt": window.start}, "start": {"$lt": window.end}})
        docs, how = examined(op.client.id, window)
        for command, extra in COMMANDS:
            started = time.perf_counter()
            call_command(command, f"--client_id={op.client.id}", f"--days_number={DAYS}", *extra,
                         stdout=io.StringIO())
            elapsed = time.perf_counter() - started
            print(f"{size:>9} {in_window:>10} {docs:>9}  {command:<40} {elapsed:>8.2f}")
    print(f"examined = {how}")


if __name__ == "__main__":
    main()
