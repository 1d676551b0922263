"""Account sharing and restreaming (viewstats/sharing.py): time and documents examined at scale.

    .venv/bin/python bench/sharing.py [--sizes 10000 100000] [--examined-max 100000 | --no-examined]

For each size N, N sessions of one client (A) and N of a second client (B),
which the checks must not touch, are spread over the 60 days before now and
inserted straight into the store, with bench/scale.py's generator (500
accounts, each with its device, address and favourite channels; 25 %
media-server sessions). Client A also gets planted suspects over its last 28
days: 5 shared logins (4 households at once most evenings, one of them in
the US) and 2 restreamers (10 channels at once around the clock from one
address, one with an xTeVe User-Agent); every 1000 generated sessions add
one more shared login, so the flagged accounts grow with N.

Then, for periods of the last 7 and 28 whole days before today:
  * sharing.analyse (what the page, the API and the command compute: the three
    aggregations and the account look-ups; no evidence);
  * one flagged account's detail (analyse with evidence + the hourly timeline),
    as the page's ?account=ID computes it;
  * the admin page and the JSON API through Django's test client (rendering
    included, unmetered).
Wall and CPU seconds, and documents examined (store.examined(); the meter's
own work is left out of the times, bench/_common.py). Prints numbers and
asserts only that the planted suspects are flagged.

The embedded engine has no secondary index and runs $setWindowFields
partitions in Python (each running window costs the square of its
partition), so its times are far above a real MongoDB's; "examined" is what
a real server with the declared indexes reads. MONGODB_URI runs the same on
a real server (a throw-away database, dropped at the end).
"""
import argparse
import os
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scale  # noqa: E402  (sets up Django on tests.settings and a throw-away SQLite file)
from _common import measure  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client, override_settings  # noqa: E402

from viewstats import sharing, store  # noqa: E402
from viewstats.documents import session_document  # noqa: E402

WINDOWS = (7, 28)
PLANTED_SHARED, PLANTED_RESTREAM = 5, 2


def say(text=""):
    print(text, flush=True)


def planted(op, n, now, rng, ua_fields):
    """Session documents of the planted suspects (last 28 days), and their account ids."""
    docs, shared, restreamers = [], [], []
    accounts = op.accounts[-(PLANTED_SHARED + n // 1000 + PLANTED_RESTREAM):]
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    households = (("85.10.{}.7", "DE"), ("85.11.{}.9", "DE"), ("90.60.{}.3", "FR"), ("23.40.{}.5", "US"))

    def add(account, start, minutes, ip, device, country, ua, ua_type, channel):
        login = type("Login", (), {"account_id": account.id, "customer_id": account.customer_id,
                                   "device_type": "android", "device_id": device})
        docs.append(session_document(
            _id=f"x:{op.client.id}:{len(docs)}", client_id=op.client.id, source="device", protocol="batch",
            start=start, end=min(start + timedelta(minutes=minutes), now), channel_id=channel.id, login=login,
            tariff_ids=account.tariff_ids, ip=ip, user_agent=ua, x_user_agent=None, country=country,
            **(ua_fields["android"] if ua_type is None else
               {"ua": {"type": ua_type, "brand": "", "model": "", "os": "", "app": ua}})))

    for i, account in enumerate(accounts[:-PLANTED_RESTREAM]):
        shared.append(account.id)
        for day in range(28, 0, -1):
            if rng.random() < 0.2:
                continue
            t = today - timedelta(days=day) + timedelta(hours=19, minutes=rng.randrange(90))
            for h, (ip, country) in enumerate(households):
                add(account, t + timedelta(minutes=rng.randrange(10)), rng.randrange(40, 120),
                    ip.format(i % 250), f"h{h}", country, "Mozilla/5.0 (Linux; Android 13)", None,
                    rng.choice(op.channels))
    for j, account in enumerate(accounts[-PLANTED_RESTREAM:]):
        restreamers.append(account.id)
        ua, ua_type = ("xTeVe/2.2.0.200", "restreamer") if j == 0 else ("Lavf/58.76.100", "player_app")
        for channel in op.channels[:10]:
            t = today - timedelta(days=28) + timedelta(minutes=rng.randrange(30))
            while t < now - timedelta(hours=3):
                minutes = rng.randrange(60, 180)
                add(account, t, minutes, f"81.2.77.{10 + j}", "proxy", "GB", ua, ua_type, channel)
                t += timedelta(minutes=minutes, seconds=rng.randrange(5, 60))
    return docs, shared, restreamers


def run_size(n, args, rng, ua_fields):
    scale.fresh_store()
    now = datetime.now(timezone.utc).replace(microsecond=0)
    a = scale.build_operator("Sharing A", scale.ACCOUNTS, 2, 0, rng)
    b = scale.build_operator("Sharing B", scale.ACCOUNTS // 5, 2, 0, rng)
    began = time.perf_counter()
    stored = scale.insert(scale.sessions_of(a, n, now, rng, ua_fields, prefix="g"))
    stored += scale.insert(scale.sessions_of(b, n, now, rng, ua_fields, prefix="g"))
    docs, shared, restreamers = planted(a, n, now, rng, ua_fields)
    stored += scale.insert(docs)
    say(f"N = {n}: {stored} sessions stored ({n} of A + {len(docs)} planted, {n} of B) "
        f"in {time.perf_counter() - began:.1f} s")
    metered = not args.no_examined and (not store.is_embedded() or n <= args.examined_max)
    today = now.date()
    user = User.objects.create_superuser(f"bench{n}", f"bench{n}@example.com", "pw")
    http = Client()
    http.force_login(user)
    rows = []
    for days in WINDOWS:
        first, last = today - timedelta(days=days), today - timedelta(days=1)
        in_window = store.sessions().count_documents({"client_id": a.client.id, "start": {
            "$gte": datetime.combine(first, datetime.min.time(), tzinfo=timezone.utc),
            "$lt": datetime.combine(today, datetime.min.time(), tzinfo=timezone.utc)}})
        with measure(metered) as cost:
            analysis = sharing.analyse(a.client.id, first, last)
        flagged = {f.account_id for f in analysis.findings}
        missing = set(shared + restreamers) - flagged
        if missing:
            raise AssertionError(f"planted suspects not flagged over {days} days: {sorted(missing, key=str)}")
        rows.append((f"analyse, {days} days ({in_window} sessions of A started in them)", cost,
                     f"{len(analysis.findings)} flagged: " + ", ".join(
                         f"{k} {v}" for k, v in analysis.by_reason().items() if v)))
        target = shared[0]
        with measure(metered) as cost:
            detail, timeline = sharing.analysis_with_timeline(a.client.id, first, last, target)
        evidence = sum(len(r.evidence.get("sessions", [])) for f in detail.findings for r in f.reasons)
        rows.append((f"one account's evidence + timeline, {days} days", cost,
                     f"{len(detail.findings[0].reasons)} flags, {evidence} evidence sessions, "
                     f"{len(timeline['hours'])} hours"))
        query = {"client": a.client.id, "date_from": first.isoformat(), "date_to": last.isoformat()}
        for what, url, extra in (("admin page", "/viewstats/reports/sharing/", {}),
                                 ("JSON API", "/viewstats/api/sharing", {}),
                                 ("admin page, one account", "/viewstats/reports/sharing/", {"account": target})):
            with measure(False) as cost:
                response = http.get(url, {**query, **extra})
            if response.status_code != 200:
                raise AssertionError(f"{what}: HTTP {response.status_code}")
            rows.append((f"{what}, {days} days", cost, f"{len(response.content) // 1024} kB"))
    width = max(len(r[0]) for r in rows)
    say(f"  {'what'.ljust(width)}  {'wall s':>8}  {'cpu s':>8}  {'examined':>9}  notes")
    for what, cost, note in rows:
        examined = "" if cost.examined is None else str(cost.examined)
        say(f"  {what.ljust(width)}  {cost.wall:8.2f}  {cost.cpu:8.2f}  {examined:>9}  {note}")
    say()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000])
    parser.add_argument("--examined-max", type=int, default=100000,
                        help="on the embedded engine, meter sizes up to this only (100000)")
    parser.add_argument("--no-examined", action="store_true")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    began = time.perf_counter()
    call_command("migrate", verbosity=0)
    rng = random.Random(args.seed)
    ua_fields = scale.device_fields()
    engine = "embedded (mongomock-ng + viewstats/embedded.py)" if store.is_embedded() else \
        f"MongoDB server, database {os.environ.get('MONGODB_NAME')}"
    say(f"engine: {engine}; {os.cpu_count()} CPUs; sizes {args.sizes}")
    say("times on a shared machine are noisy: CPU time less than wall time")
    say()
    try:
        with override_settings(VIEWSTATS_ROLLUP_REFRESH_SECONDS=3600):
            for n in args.sizes:
                run_size(n, args, rng, ua_fields)
    finally:
        if not store.is_embedded():
            db = store.get_db()
            db.client.drop_database(db.name)
    say(f"total {time.perf_counter() - began:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
