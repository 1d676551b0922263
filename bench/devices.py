"""Device classification speed, uncached and cached, and what never-seen strings cost ingest.

Prints:
  * uncached classifications per second: our fast rules alone, the provisional
    answer (rules + user-agents), and the full classifier (rules + device
    database + split), each over distinct strings of the labelled corpus;
  * the cached path: µs per event for a known string (process cache) and for
    the shared MongoDB cache;
  * ingest latency (p50 / p99 / max per stat/push request, through the whole
    Django view stack) with 0 % and 10 % never-seen strings, in the deferred
    mode, and how long the background filler then needs to complete them.

    .venv/bin/python bench/devices.py [--requests 2000]

Runs on the engine configured (embedded by default, a real MongoDB with MONGODB_URI).
"""
import argparse
import csv
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ.setdefault("SQLITE_PATH", os.path.join(tempfile.mkdtemp(), "bench.sqlite3"))

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from tests.factories import make_operator  # noqa: E402
from viewstats import origin, store  # noqa: E402
from viewstats.documents import set_clock  # noqa: E402
from viewstats.enrich import devices, uacache, uadb, uarules  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "ua_corpus.tsv"


def corpus():
    with CORPUS.open(newline="", encoding="utf-8") as f:
        return [(r["ua"], r["x_user_agent"] or None) for r in csv.DictReader(f, delimiter="\t")]


def rate(fn, items):
    began = time.perf_counter()
    for item in items:
        fn(*item)
    elapsed = time.perf_counter() - began
    return len(items) / elapsed, elapsed / len(items) * 1e6


def bench_uncached(pairs):
    print(f"uncached, {len(pairs)} distinct strings of the corpus (device database: {uadb.name()}):")
    per_s, _ = rate(lambda ua, xua: uarules.scan(ua, xua or ""), pairs)
    print(f"  our fast rules alone:                 {per_s:10.0f} strings/s")
    per_s, _ = rate(lambda ua, xua: devices.combine(uarules.scan(ua, xua or ""), uadb.hint_lookup(ua)), pairs)
    print(f"  provisional (rules + token hints):    {per_s:10.0f} strings/s")
    per_s, _ = rate(lambda ua, xua: uadb.quick_lookup(ua), pairs)
    print(f"  user-agents alone (for comparison):   {per_s:10.0f} strings/s")
    uadb.lookup(pairs[0][0])  # the database loads its regexes on first use
    devices._classify.cache_clear()
    per_s, us = rate(lambda ua, xua: devices._classify_uncached(devices.normalize(ua), devices.normalize(xua)),
                     pairs)
    print(f"  full (rules + database + split):      {per_s:10.0f} strings/s ({us / 1000:.1f} ms each)")


def bench_never_seen(count=500):
    """The CPU a never-seen string costs the request: our rules' provisional answer."""
    rng = random.Random(99)
    strings = [new_string(rng) for _ in range(count)]
    latencies = []
    for ua in strings:
        began = time.perf_counter()
        devices.quick(ua)
        latencies.append((time.perf_counter() - began) * 1000)
    p50, p99, worst = percentiles(latencies)
    print(f"never-seen strings, provisional answer in the request (no store): p50 {p50:.3f} ms, "
          f"p99 {p99:.3f} ms, max {worst:.2f} ms")


def bench_cached(pairs, rounds=20):
    with override_settings(VIEWSTATS_UA_CLASSIFY="external"):
        for ua, xua in pairs:
            uacache.lookup(ua, xua)
        while uacache.fill_pending(client_ids=[])[0]:
            pass
    events = pairs * rounds
    _, us = rate(uacache.lookup, events)
    _, us_fields = rate(uacache.session_fields, events)
    print(f"cached, {len(events)} events over {len(pairs)} strings:")
    print(f"  process cache lookup:                 {us:10.2f} us per event")
    print(f"  ... and the session's fields (copy):  {us_fields:10.2f} us per event")
    uacache.clear_local()
    _, us_shared = rate(uacache.lookup, pairs)
    print(f"  shared MongoDB cache (first lookup in a new process): {us_shared:.0f} us per string")


class Clock:
    now = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=1)


def new_string(rng):
    """A string no cache has seen that only the device database classifies."""
    model = f"{rng.choice(['BX', 'TX', 'GT', 'KM', 'HK'])}{rng.randrange(10, 99)}-{rng.randrange(10**6):06d}"
    return (f"Mozilla/5.0 (Linux; Android {rng.choice([9, 10, 11, 12])}; {model} Build/QP1A.191105.004; wv) "
            f"AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/{rng.randrange(80, 120)}.0 Safari/537.36")


def percentiles(values):
    values = sorted(values)
    return (statistics.median(values), values[min(len(values) - 1, int(0.99 * len(values)))], values[-1])


def bench_enrichment(known, requests, share_new, seed):
    """What the device fields cost inside a request: origin.from_request alone."""
    rng = random.Random(seed)

    class Request:
        def __init__(self, ua):
            self.META = {"HTTP_USER_AGENT": ua, "REMOTE_ADDR": "81.2.69.160"}

    latencies, new = [], 0
    for n in range(requests):
        if rng.random() < share_new:
            ua, new = new_string(rng), new + 1
        else:
            ua = known[n % len(known)][0]
        request = Request(ua)
        began = time.perf_counter()
        origin.from_request(request)
        latencies.append((time.perf_counter() - began) * 1000)
    return (new, *percentiles(latencies))


def bench_ingest(http, op, known, requests, share_new, seed):
    rng = random.Random(seed)
    keys = [op.login(acc, "mag", device_uid=f"bench-dev-{seed}-{i}") for i, acc in enumerate(op.accounts)]
    store.sessions().delete_many({"client_id": op.client.id})   # the embedded engine slows as it fills
    latencies = []
    new = 0
    for n in range(requests):
        Clock.now += timedelta(seconds=1)
        if rng.random() < share_new:
            ua = new_string(rng)
            new += 1
        else:
            ua = known[n % len(known)][0]
        began = time.perf_counter()
        r = http.get("/viewstats/api/stat/push", {
            "authkey": keys[n % len(keys)], "client_id": op.client.id,
            "channel_id": op.channels[n % len(op.channels)].id, "channel_session": n + seed * 100000},
            HTTP_USER_AGENT=ua)
        latencies.append((time.perf_counter() - began) * 1000)
        assert r.json()["error"] == 0, r.json()
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]  # noqa: E731
    return new, statistics.median(latencies), p(0.99), latencies[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    pairs = list(dict.fromkeys(corpus()))
    bench_uncached(pairs)
    bench_never_seen()

    call_command("migrate", verbosity=0)
    store.ensure_indexes()
    set_clock(lambda: Clock.now)
    bench_cached(pairs)

    op = make_operator("Bench devices", channels=20, accounts=50)
    http = Client()
    known = pairs[:200]
    for ua, xua in known:          # the known strings are in the caches already
        uacache.lookup(ua, None)
    uacache.drain(120)
    engine = "embedded engine (mongomock-ng, which scans)" if store.is_embedded() else "MongoDB server"
    print(f"ingest: the request's device enrichment (origin.from_request: caches, classification and, for a "
          f"never-seen string, one read and one upsert of ua_cache on the {engine}), {args.requests} requests each:")
    seed = 100
    for mode in ("external", "deferred"):
        with override_settings(VIEWSTATS_UA_CLASSIFY=mode):
            for share in (0.0, 0.10):
                seed += 1
                new, p50, p99, worst = bench_enrichment(known, args.requests, share, seed)
                print(f"  {mode:<8} {share:4.0%} never-seen ({new:4d}): p50 {p50:6.3f} ms, p99 {p99:6.3f} ms, "
                      f"max {worst:6.2f} ms")
        uacache.drain(600)
        while uacache.fill_pending()[0]:
            pass
    print(f"ingest, stat/push through the view stack ({engine}), {args.requests} requests each:")
    seed = 0
    for mode, note in (("external", "filler in a process of its own (manage.py viewstats_reclassify_devices "
                                    "--follow)"),
                       ("deferred", "filler thread inside the web process"),
                       ("inline", "classified inside the request")):
        print(f"  VIEWSTATS_UA_CLASSIFY={mode}: {note}")
        with override_settings(VIEWSTATS_UA_CLASSIFY=mode):
            for share in (0.0, 0.10):
                seed += 1
                new, p50, p99, worst = bench_ingest(http, op, known, args.requests, share, seed)
                print(f"    {share:4.0%} never-seen ({new:4d} strings): p50 {p50:6.2f} ms, p99 {p99:6.2f} ms, "
                      f"max {worst:7.2f} ms")
                if not new or mode == "inline":
                    continue
                began = time.perf_counter()
                if mode == "external":
                    while uacache.fill_pending()[0]:
                        pass
                    uacache.refill_due(force=True)
                else:
                    uacache.drain(600)
                waiting = store.sessions().count_documents({"client_id": op.client.id, "ua_pending": True})
                print(f"      the filler completed them in {time.perf_counter() - began:.1f} s "
                      f"({new / max(time.perf_counter() - began, 1e-9):.0f} strings/s); "
                      f"sessions still waiting: {waiting}")


if __name__ == "__main__":
    main()
