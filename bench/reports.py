"""Report timings at three data sizes.

    .venv/bin/python bench/reports.py [sizes...]      (default: 2000 4000 8000)

For each size, N sessions of one client over a month (plus as many of a
second client, which no report may touch) are generated; each report is
timed over the month. "examined": with MONGODB_URI set, totalDocsExamined
from explain(executionStats) of the report's first stage; on the embedded
engine (which scans everything and has no real planner) it is the number of
session documents matching the client + date-range index prefix, i.e. what
the client_start index gives MongoDB to examine.
"""
import os
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")  # tests.factories builds the data
os.environ.setdefault("SQLITE_PATH", os.path.join(tempfile.mkdtemp(), "bench.sqlite3"))

import django  # noqa: E402

django.setup()
from django.core.management import call_command  # noqa: E402

call_command("migrate", verbosity=0)

from tests.factories import make_operator  # noqa: E402
from viewstats import store  # noqa: E402
from viewstats.documents import session_document  # noqa: E402
from viewstats.reports import breakdowns, counters, daily, sessions  # noqa: E402
from viewstats.reports.filters import parse_filters  # noqa: E402


def generate(op, n, month_start, rnd):
    docs = []
    for i in range(n):
        start = month_start + timedelta(seconds=rnd.randrange(28 * 86400))
        source = rnd.choice(["device", "media_server"])
        extra = {"ip": f"10.0.{rnd.randrange(4)}.{rnd.randrange(250)}",
                 "user_agent": rnd.choice(["VLC/3", "MAG200 stbapp", "Kodi/19"]),
                 "ua": {"type": "stb", "brand": "", "model": "", "os": "", "app": ""},
                 "country": rnd.choice(["DE", "FR", "PL"])}
        if source == "media_server":
            extra.update(server_id=1, bytes=rnd.randrange(10 ** 8),
                         traffic=[{"t": start.replace(second=0, minute=start.minute // 5 * 5),
                                   "bytes": 1000}])
        doc = session_document(_id=f"{op.client.id}:{i}", client_id=op.client.id, source=source,
                               protocol="hls" if source == "media_server" else "push",
                               start=start, end=start + timedelta(seconds=rnd.randrange(3600)),
                               channel_id=rnd.choice(op.channels).id, **extra)
        doc["account_id"] = rnd.choice(op.accounts).id
        docs.append(doc)
    store.sessions().insert_many(docs)


def examined(match):
    if store.is_embedded():
        return store.sessions().count_documents(match)
    plan = store.get_db().command("explain", {"find": store.SESSIONS, "filter": match},
                                  verbosity="executionStats")
    return plan["executionStats"]["totalDocsExamined"]


def timed(label, func, match):
    t = time.perf_counter()
    func()
    print(f"  {label:<22} {time.perf_counter() - t:8.3f} s   examined {examined(match)}")


def main(sizes):
    rnd = random.Random(1)
    month_start = (datetime.now(timezone.utc) - timedelta(days=29)).replace(
        hour=0, minute=0, second=0, microsecond=0)
    ops = [make_operator(f"Bench {i}", channels=20, accounts=200) for i in range(2)]
    for n in sizes:
        store.reset()
        store.ensure_indexes()
        for op in ops:
            generate(op, n, month_start, rnd)
        client_ids = [ops[0].client.id]
        f = parse_filters({"from": month_start.isoformat(),
                           "to": (month_start + timedelta(days=28)).isoformat()}, client_ids)
        m = f.match()
        print(f"{n} sessions of the client (+{n} of another client), a 28-day range:")
        for dim in ("channel", "programme", "device", "country"):
            timed(f"by {dim}", lambda d=dim: breakdowns.report(f, d), m)
        timed("unique sessions", lambda: breakdowns.report(f, "channel", unique=True), m)
        timed("raw sessions page", lambda: sessions.page(f, limit=100), m)
        timed("raw sessions csv walk", lambda: sum(1 for _ in sessions.iterate(f)), m)
        first = month_start.date()
        timed("daily (28 days, cold)",
              lambda: daily.report(client_ids, first, first + timedelta(days=27)), m)
        timed("daily (28 days, warm)",
              lambda: daily.report(client_ids, first, first + timedelta(days=27)), m)
        timed("counters month/days",
              lambda: counters.counters(client_ids, "viewers", first.year, first.month), m)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [2000, 4000, 8000])
