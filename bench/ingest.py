"""Ingestion throughput, in-process through the full Django view stack.

Prints, for the engine configured (embedded by default, a real MongoDB with
MONGODB_URI): stat/push requests and sessions per second, batch sessions per
second, the per-event cost of validation plus enrichment alone (wall time,
and CPU time: steadier on a shared machine), and the User-Agent cache hit
ratio; and the batch view's work before the store (parse, validate, build
the documents) in events per CPU second against its floor (JSON parse +
datetime + BSON encode of the same bodies), as section 3 of bench/scale.py
measures it, without that bench's minutes of setup.

    .venv/bin/python bench/ingest.py [--sessions 3000] [--floor-only] [--repeat 3]
"""
import argparse
import json
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
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")  # tests.factories builds the data
os.environ.setdefault("SQLITE_PATH", os.path.join(tempfile.mkdtemp(), "bench.sqlite3"))

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

import bson  # noqa: E402
from tests.factories import make_operator  # noqa: E402
from viewstats import batch, host, jsonbody, origin, store  # noqa: E402
from viewstats.documents import session_document, set_clock  # noqa: E402
from viewstats.enrich import devices  # noqa: E402

try:
    import orjson

    LOADS, PARSER = orjson.loads, "orjson"
except ImportError:
    LOADS, PARSER = json.loads, "json"

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


def floor_bodies(op, count=202, size=50, seed=7):
    """Bodies as bench/scale.py's section 3 sends them: `size` live viewings each, one second apart."""
    rng = random.Random(seed)
    first = Clock.now - timedelta(hours=5)
    bodies = []
    for b in range(count):
        items = []
        for j in range(size):
            start = first + timedelta(seconds=b * size + j)
            items.append({"id": f"e{b}-{j}", "channel_id": rng.choice(op.channels).id,
                          "start": start.isoformat(), "end": (start + timedelta(seconds=300)).isoformat()})
        bodies.append(json.dumps(items).encode())
    return bodies


def cpu_rate(fn, events, minimum=1.0):
    """Events per CPU second of `fn`, repeated until `minimum` CPU seconds."""
    passes, cpu = 0, 0.0
    while cpu < minimum:
        began = time.process_time()
        fn()
        cpu += time.process_time() - began
        passes += 1
    return events * passes / cpu


def floor_pass(bodies):
    for body in bodies:
        for item in LOADS(body):
            item["start"] = datetime.fromisoformat(item["start"])
            item["end"] = datetime.fromisoformat(item["end"])
            bson.encode(item)


class FakeRequest:
    def __init__(self, user_agent):
        self.META = {"HTTP_USER_AGENT": user_agent, "REMOTE_ADDR": "127.0.0.1"}


def build_pass(bodies, login, request, now):
    """The batch view's work before the store: parse, origin, validate, build the documents."""
    for body in bodies:
        items = jsonbody.parse(body)
        where = origin.from_request(request)
        for item in items:
            item_id, fields, reasons = batch.validate_item(item, login, now)
            if reasons:
                raise RuntimeError(f"item {item_id} rejected: {reasons}")
            session_document(_id=f"b:{login.client_id}:{login.account_id}:{item_id}", client_id=login.client_id,
                             source="device", protocol="batch", login=login, origin=where, received_at=now,
                             tariff_ids=host.tariffs_at(login.client_id, login.account_id, fields["start"]),
                             **fields)


def bench_floor(op, repeat):
    """[(floor, validation + build)] in events per CPU second, `repeat` times, floor and build alternating."""
    bodies = floor_bodies(op)
    events = sum(len(json.loads(b)) for b in bodies)
    login = host.login_for_authkey(op.login(op.accounts[2], "android_stb", device_uid="bench-floor"))
    request = FakeRequest(USER_AGENTS[3])
    build_pass(bodies, login, request, Clock.now)  # host lookups cached, User-Agent classified
    return [(cpu_rate(lambda: floor_pass(bodies), events),
             cpu_rate(lambda: build_pass(bodies, login, request, Clock.now), events)) for _ in range(repeat)]


def print_floor(op, repeat):
    rates = bench_floor(op, repeat)
    for floor, build in rates:
        print(f"floor ({PARSER} parse + datetime + BSON encode): {floor:8.0f} events/CPU s; parse + validate "
              f"+ build documents: {build:8.0f} events/CPU s, {100 * build / floor:6.2f} % of the floor")
    if len(rates) > 1:
        floor, build = statistics.median(f for f, _ in rates), statistics.median(b for _, b in rates)
        share = statistics.median(100 * b / f for f, b in rates)
        print(f"median of {len(rates)}: floor {floor:.0f}, validate + build {build:.0f} events/CPU s, {share:.2f} %")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--floor-only", action="store_true",
                        help="only the validation + build rate against its floor (no HTTP, no store)")
    parser.add_argument("--repeat", type=int, default=1, help="measurements of that rate (median printed)")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    store.ensure_indexes()
    set_clock(lambda: Clock.now)
    op = make_operator("Bench", channels=40, accounts=100)
    if args.floor_only:
        print_floor(op, args.repeat)
        return
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
    print_floor(op, args.repeat)


if __name__ == "__main__":
    main()
