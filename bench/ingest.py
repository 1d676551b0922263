"""Ingestion throughput, in-process through the full Django view stack.

Prints, for the engine configured (embedded by default, a real MongoDB with
MONGODB_URI): stat/push requests and sessions per second, batch sessions per
second, the per-event cost of validation plus enrichment alone (wall time,
and CPU time: steadier on a shared machine), and the User-Agent cache hit
ratio.

    .venv/bin/python bench/ingest.py [--sessions 3000]
"""
import argparse
import json
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")  # tests.factories builds the data
os.environ.setdefault("SQLITE_PATH", os.path.join(tempfile.mkdtemp(), "bench.sqlite3"))

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from tests.factories import make_operator  # noqa: E402
from viewstats import batch, host, origin, store  # noqa: E402
from viewstats.documents import set_clock  # noqa: E402
from viewstats.enrich import devices  # noqa: E402

USER_AGENTS = [
    "Mozilla/5.0 (QtEmbedded; U; Linux; C) AppleWebKit/533.3 (KHTML, like Gecko) MAG200 stbapp ver: 2 rev: 250 "
    "Safari/533.3",
    "Mozilla/5.0 (SMART-TV; LINUX; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) 76.0.3809.146/6.0 TV "
    "Safari/537.36",
    "Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0.3945.79 Safari/537.36",
    "TiviMate/4.7.0 (Linux; Android 11; AFTKA)",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 13; SM-A536B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Mobile "
    "Safari/537.36",
    "Kodi/19.3 (Linux; Android 9.0; MAG425A Build/PPR1.180610.011) Android/9.0.0 Sys_CPU/armv8l",
    "VLC/3.0.18 LibVLC/3.0.18",
]


class Clock:
    now = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=1)


def bench_push(http, op, sessions, heartbeats=5):
    keys = [op.login(acc, "mag", device_uid=f"bench-{i}") for i, acc in enumerate(op.accounts)]
    requests = 0
    began = time.perf_counter()
    for n in range(sessions):
        key = keys[n % len(keys)]
        for beat in range(heartbeats):
            Clock.now += timedelta(seconds=1)
            r = http.get("/viewstats/api/stat/push", {
                "authkey": key, "client_id": op.client.id, "channel_id": op.channels[n % len(op.channels)].id,
                "channel_session": n}, HTTP_USER_AGENT=USER_AGENTS[n % len(USER_AGENTS)])
            assert r.json()["error"] == 0, r.json()
            requests += 1
    elapsed = time.perf_counter() - began
    return requests / elapsed, sessions / elapsed


def bench_batch(http, op, sessions, size=50):
    keys = [op.login(acc, "android_stb", device_uid=f"bench-batch-{i}") for i, acc in enumerate(op.accounts)]
    t0 = Clock.now - timedelta(hours=12)
    began = time.perf_counter()
    sent = 0
    while sent < sessions:
        items = [{"id": f"b{sent + i}", "channel_id": op.channels[(sent + i) % len(op.channels)].id,
                  "start": (t0 + timedelta(seconds=sent + i)).isoformat(),
                  "end": (t0 + timedelta(seconds=sent + i + 300)).isoformat()} for i in range(size)]
        r = http.post("/viewstats/api/stat/batch", data=json.dumps(items), content_type="application/json",
                      HTTP_AUTHORIZATION=f"Bearer {keys[(sent // size) % len(keys)]}", HTTP_USER_AGENT=USER_AGENTS[sent % len(USER_AGENTS)])
        assert r.json()["accepted"] == size, r.json()
        sent += size
    return sessions / (time.perf_counter() - began)


def bench_validation(op, events=20000):
    """Validation of a batch item plus UA and country enrichment, no storage."""
    login = host.login_for_authkey(op.login(op.accounts[1], "tizen_tv", device_uid="bench-v"))
    t0 = Clock.now - timedelta(hours=3)

    class Request:
        def __init__(self, ua, ip):
            self.META = {"HTTP_USER_AGENT": ua, "REMOTE_ADDR": ip}

    requests = [Request(USER_AGENTS[i % len(USER_AGENTS)] + ("" if i % 10 else f" build/{i % 400}"),
                        f"81.2.{i % 250}.{i % 200 + 1}") for i in range(events)]
    items = [{"id": f"v{i}", "channel_id": op.channels[i % len(op.channels)].id,
              "start": (t0 + timedelta(seconds=i)).isoformat(),
              "end": (t0 + timedelta(seconds=i + 60)).isoformat()} for i in range(events)]
    began, began_cpu = time.perf_counter(), time.process_time()
    for request, item in zip(requests, items):
        origin.from_request(request)
        batch.validate_item(item, login, Clock.now)
    wall, cpu = time.perf_counter() - began, time.process_time() - began_cpu
    return wall / events * 1e6, cpu / events * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=2000)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    store.ensure_indexes()
    set_clock(lambda: Clock.now)
    op = make_operator("Bench", channels=40, accounts=100)
    http = Client()
    engine = "embedded (mongomock-ng)" if store.is_embedded() else "MongoDB server"
    print(f"engine: {engine}; {args.sessions} sessions per protocol")
    push_rps, push_sps = bench_push(http, op, args.sessions // 5)
    print(f"stat/push: {push_rps:8.0f} requests/s, {push_sps:8.1f} sessions/s (5 heartbeats each)")
    batch_sps = bench_batch(http, op, args.sessions)
    print(f"batch:     {batch_sps:8.0f} sessions/s (50 per request)")
    print(f"sessions in store at the end: {store.sessions().count_documents({'client_id': op.client.id})}")
    before = devices.cache_info()
    micros, cpu_micros = bench_validation(op)
    info = devices.cache_info()
    print(f"validation + enrichment alone: {micros:.1f} us per event ({cpu_micros:.1f} us CPU, time.process_time)")
    print(f"User-Agent cache: {info['hits']} hits, {info['misses']} misses, hit ratio {info['hit_ratio']:.3f} "
          f"(validation run alone: {(info['hits'] - before['hits']) / max(1, (info['hits'] + info['misses']) - (before['hits'] + before['misses'])):.3f})")


if __name__ == "__main__":
    main()
