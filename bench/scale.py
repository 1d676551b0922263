"""Costs at scale: ingestion per request, reports and commands, ingestion against its floor.

    .venv/bin/python bench/scale.py [--sizes 10000 100000] [--requests 200] [--budget 20]
                                    [--examined-max 20000 | --no-examined]

For each size N, N sessions of one client (A) and N of a second client (B),
which no report or command here may touch, are spread over the 60 days before
now and inserted straight into the store (store.insert_unordered, in chunks,
documents built by viewstats.documents.session_document): 2N sessions in all.
Client A has 500 accounts (each with its device, address and three favourite
channels) on 20 channels with an EPG over the last 8 days (older sessions
carry no programme: the EPG goes back a week), 25 % media-server sessions
with 5-minute traffic buckets, and payments; B is a smaller operator. Then,
on tests.settings (the reference host on a throw-away SQLite file) and the
engine configured (embedded by default; a real MongoDB with MONGODB_URI, on a
throw-away database dropped at the end):

1. Per-request cost, in-process through Django's test Client with the 2N
   sessions stored: a stat/push heartbeat (the device's open session grows),
   a channel switch (stat/push with a new channel_session and channel: the
   previous session closes, a new one opens) and a batch of 50 events
   (POST stat/batch). CPU (time.process_time) and wall time, median and p99,
   over --requests requests of each, or fewer when --budget seconds of wall
   time are spent first (at least 3; "n" says how many). "examined" is one
   more request of each kind under the documents-examined meter
   (viewstats/examined.py). The sessions these requests store are deleted
   afterwards, so section 2 sees exactly N sessions of A.
2. Time (wall and CPU) and documents examined of each report over the 28
   whole days before today, through viewstats/reports/run.py (channel,
   programme, device, country, protocol, unique, sessions' first page,
   daily cold = first call after the rollup build marked every day, daily
   warm = the second call) and reports/counters.py (viewers: a month's days,
   a year's months, a day's hours); and of the commands, each limited to
   client A: viewstats_fill_rollups (first build, before the reports; and an
   incremental run after 100 more sessions of the last three hours, at the
   end), the three popularity commands over 7 days (the options of
   bench/popularity.py), cache_max_online and cache_customers_dynamic (first
   runs: from the start of the previous month), collect_daily_stats and
   save_stats. The reports run with VIEWSTATS_ROLLUP_REFRESH_SECONDS=3600,
   so they read the rollups the command just built, as between two cron
   fills; tests.settings' 0 would add one incremental fill to every report
   (the cost of that fill is the last row). The meter's own work (a count
   per candidate index on the embedded engine, an explain on a server) is
   timed apart and left out of the times (bench/_common.py).
3. Batch ingestion as a share of a floor measured in the same run on the
   same bodies: the floor is JSON parse (orjson when installed, else json)
   + datetime parsing of start/end + BSON encoding of each event. Against it:
   parse + validation + session documents (the batch view's work without the
   store), and full ingestion (the HTTP batches of section 1, stored), in
   events per CPU second (wall in brackets).

Prints numbers and asserts nothing. The machine may be shared with other
jobs: treat single numbers as noisy, CPU time less so than wall time. The
embedded engine reads `_id` points and a client's range of a date field
from indexes of its own but runs every stage in Python, so its times grow
with the documents in the window, while the examined counts show what a
real MongoDB with the declared indexes would read. At the default sizes the
run takes about 2 minutes on the embedded engine of a current 2-core
machine (about 30 s at 10000, 90 s at 100000; a slower machine took 4 to
5 times as long); --sizes 1000000 takes far longer there and needs several
GB of memory (use MONGODB_URI for that size). On the embedded engine the
meter counts by passing over the collection too, so documents examined are
metered there only up to --examined-max sessions per client (20000; metering
100000 there adds an estimated 5 to 10 minutes); --no-examined skips the
meter everywhere.
"""
import argparse
import gc
import io
import json
import os
import random
import re
import shutil
import sys
import tempfile
import time
import traceback
from bisect import bisect_right
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")  # tests.factories builds the data
os.environ.setdefault("SQLITE_PATH", os.path.join(tempfile.mkdtemp(), "bench.sqlite3"))
os.environ.pop("DATABASE", None)
if os.environ.get("MONGODB_URI"):
    os.environ["MONGODB_NAME"] = f"viewstats_scale_{os.getpid()}"

import django  # noqa: E402

django.setup()

import bson  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402
from django.test import Client, override_settings  # noqa: E402

import ingest as ingest_bench  # noqa: E402  bench/ingest.py: its User-Agent strings
import popularity as popularity_bench  # noqa: E402  bench/popularity.py: the commands' options
from _common import measure, percentile  # noqa: E402
from tests.factories import DEVICE_TYPES, make_operator  # noqa: E402
from viewstats import batch, host, jsonbody, origin, store  # noqa: E402
from viewstats.documents import session_document, set_clock, utcnow  # noqa: E402
from viewstats.reports import counters  # noqa: E402
from viewstats.reports.run import run as run_report  # noqa: E402

try:
    import orjson

    LOADS, PARSER = orjson.loads, "orjson"
except ImportError:
    LOADS, PARSER = json.loads, "json (orjson is not installed)"

HISTORY_DAYS = 60
WINDOW_DAYS = 28
EPG_DAYS = 8
ACCOUNTS, CHANNELS = 500, 20
BOXES = 20  # pushing boxes and batch-sending apps of section 1
BATCH = 50
MIN_SAMPLES = 3
CHUNK = 5000
# User-Agent of each device type (strings of bench/ingest.py).
UA_OF = {"mag": 0, "tizen_tv": 1, "lg_webos": 2, "android_stb": 3, "ios": 4, "android": 5, "pc": 7}
# Share of session starts per UTC hour: quiet nights, busy evenings.
HOUR_WEIGHTS = [3, 2, 1, 1, 1, 1, 2, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 9, 12, 14, 14, 12, 9, 5]
DURATIONS = [((5, 60), 20), ((60, 1800), 50), ((1800, 7200), 25), ((7200, 21600), 5)]
FAILURES = []  # (size, what, traceback)


def say(text=""):
    print(text, flush=True)


# --------------------------------------------------------------------- data

def build_operator(name, accounts, epg_days, payments, rng):
    """An operator of tests.factories with `epg_days` days of EPG before today and payments."""
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    with transaction.atomic():  # one commit, not one per row
        op = make_operator(name, channels=CHANNELS, accounts=accounts)
        for channel in op.channels:
            for d in range(-epg_days, -1):  # make_operator has yesterday, today and tomorrow
                for h in range(0, 24, 2):
                    begin = today + timedelta(days=d, hours=h)
                    title = f"{channel.name} show {d}/{h}"
                    pid = op.builder.programme(op.client.id, channel.id, begin, begin + timedelta(hours=2),
                                               title)
                    op.schedule[channel.id].append(SimpleNamespace(id=pid, channel_id=channel.id, begin=begin,
                                                                   end=begin + timedelta(hours=2),
                                                                   title=title))
        for _ in range(payments):
            account = rng.choice(op.accounts)
            at = datetime.now(timezone.utc) - timedelta(seconds=rng.randrange(HISTORY_DAYS * 86400))
            op.builder.payment(op.client.id, account.customer_id, Decimal(rng.randrange(300, 3000)) / 100,
                               rng.choice(["EUR", "USD"]), at)
    for channel in op.channels:
        op.schedule[channel.id].sort(key=lambda p: p.begin)
    op.begins = {c: [p.begin for p in rows] for c, rows in op.schedule.items()}
    return op


def device_fields():
    """The ua / ua_hash fields each device type's User-Agent gets (classified once, inline)."""
    with override_settings(VIEWSTATS_UA_CLASSIFY="inline"):
        return {dt: origin.device_fields(ingest_bench.USER_AGENTS[i]) for dt, i in UA_OF.items()}


def viewers(op, rng, ua_fields):
    """Per account: its device, User-Agent, address, country, favourite channels and protocols, fixed."""
    out = []
    weights = [1 / (i + 1) for i in range(len(op.channels))]  # a few channels get most viewing
    for i, account in enumerate(op.accounts):
        device_type = rng.choice(DEVICE_TYPES)
        favourites = []
        while len(favourites) < 3:
            channel = rng.choices(op.channels, weights)[0]
            if channel not in favourites:
                favourites.append(channel)
        out.append(SimpleNamespace(
            login=SimpleNamespace(account_id=account.id, customer_id=account.customer_id,
                                  device_type=device_type, device_id=f"d{i}"),
            tariff_ids=account.tariff_ids, user_agent=ingest_bench.USER_AGENTS[UA_OF[device_type]],
            ua=ua_fields[device_type], ip=f"{rng.choice((85, 81, 90))}.{i // 250}.{i % 250}.{rng.randrange(1, 255)}",
            country="DE" if rng.random() < 0.85 else rng.choice(["FR", "PL", "NL", "AT"]),
            favourites=favourites, weights=weights,
            device_protocol="batch" if device_type in ("ios", "android") else "push",
            media=(rng.choice(["hls", "hls", "dash"]), rng.randrange(1, 4))))
    return out


def programme_at(op, channel_id, at):
    rows = op.schedule.get(channel_id) or []
    i = bisect_right(op.begins.get(channel_id) or [], at) - 1
    return rows[i] if i >= 0 and rows[i].end > at else None


def sessions_of(op, n, now, rng, ua_fields, prefix="g", since=None):
    """`n` session documents of `op` between `since` (default: HISTORY_DAYS before `now`) and `now`.

    History (no `since`) was received when each session ended; later ones now.
    """
    received_late = since is not None
    people = viewers(op, rng, ua_fields)
    since = since or now - timedelta(days=HISTORY_DAYS)
    days = max(1, (now - since).days)
    durations, duration_weights = zip(*DURATIONS)
    for i in range(n):
        viewer = rng.choice(people)
        day = since + timedelta(days=rng.randrange(days))
        start = day.replace(hour=0, minute=0, second=0) + timedelta(
            hours=rng.choices(range(24), HOUR_WEIGHTS)[0], seconds=rng.randrange(3600))
        if not since <= start < now:
            start = since + timedelta(seconds=rng.randrange(int((now - since).total_seconds())))
        low, high = rng.choices(durations, duration_weights)[0]
        end = min(start + timedelta(seconds=rng.randrange(low, high)), now)
        channel = (rng.choice(viewer.favourites) if rng.random() < 0.8
                   else rng.choices(op.channels, viewer.weights)[0])
        on_air = programme_at(op, channel.id, start)
        kind, program_id, archive_offset = "live", on_air.id if on_air else None, None
        if rng.random() < 0.1:
            past = programme_at(op, channel.id, start - timedelta(hours=rng.randrange(2, 72)))
            if past is not None:
                kind, program_id, archive_offset = "archive", past.id, rng.randrange(0, 3600)
        extra = {"ip": viewer.ip, "user_agent": viewer.user_agent, "x_user_agent": None,
                 "country": viewer.country, **viewer.ua}
        login = viewer.login
        if rng.random() < 0.25:
            source, (protocol, server_id) = "media_server", viewer.media
            buckets, t = [], start.replace(second=0, minute=start.minute // 5 * 5)
            while t < end:
                buckets.append({"t": t, "bytes": rng.randrange(10 ** 6, 10 ** 8)})
                t += timedelta(minutes=5)
            extra.update(server_id=server_id, traffic=buckets,
                         bytes=sum(b["bytes"] for b in buckets))
            if rng.random() < 0.1:
                login = None  # a stream opened without a known viewer: counted by IP + User-Agent
        else:
            source, protocol = "device", viewer.device_protocol
        yield session_document(
            _id=f"{prefix}:{op.client.id}:{i}", client_id=op.client.id, source=source, protocol=protocol,
            start=start, end=end, channel_id=channel.id, program_id=program_id, kind=kind, login=login,
            tariff_ids=viewer.tariff_ids if login else (), archive_offset=archive_offset,
            received_at=None if received_late else end, **extra)


def insert(docs):
    chunk, count = [], 0
    for doc in docs:
        chunk.append(doc)
        if len(chunk) >= CHUNK:
            count += len(store.insert_unordered(store.SESSIONS, chunk)[0])
            chunk = []
    if chunk:
        count += len(store.insert_unordered(store.SESSIONS, chunk)[0])
    return count


def fresh_store():
    if store.is_embedded():
        store.reset()  # a new, empty embedded engine
    else:
        db = store.get_db()
        db.client.drop_database(db.name)
    store.ensure_indexes()


# ---------------------------------------------------------------- section 1

class Clock:
    now = None


def batch_bodies(op, count, first_start, rng):
    """`count` JSON bodies of BATCH finished live viewings each, one second apart from `first_start`."""
    bodies = []
    for b in range(count):
        items = []
        for j in range(BATCH):
            start = first_start + timedelta(seconds=b * BATCH + j)
            items.append({"id": f"e{b}-{j}", "channel_id": rng.choice(op.channels).id,
                          "start": start.isoformat(), "end": (start + timedelta(seconds=300)).isoformat()})
        bodies.append(json.dumps(items).encode())
    return bodies


def ingestion(op, args, bodies, metered_on):
    """{kind: [(cpu, wall)]} and {kind: Cost of one metered request}."""
    http = Client()
    client_id = op.client.id
    push_keys = [op.login(a, "mag", device_uid=f"scale-push-{i}") for i, a in enumerate(op.accounts[:BOXES])]
    batch_keys = [op.login(a, "android_stb", device_uid=f"scale-batch-{i}")
                  for i, a in enumerate(op.accounts[BOXES:2 * BOXES])]
    mag_ua, app_ua = ingest_bench.USER_AGENTS[UA_OF["mag"]], ingest_bench.USER_AGENTS[UA_OF["android_stb"]]
    channels = [c.id for c in op.channels]
    boxes = [{"key": k, "session": 1, "channel": channels[i % len(channels)]} for i, k in enumerate(push_keys)]
    step = timedelta(seconds=60 / BOXES)  # each box pushes once a minute
    state = {"box": 0, "body": 0}

    def push(box):
        Clock.now += step
        r = http.get("/viewstats/api/stat/push", {
            "authkey": box["key"], "client_id": client_id, "channel_id": box["channel"],
            "channel_session": box["session"]}, HTTP_USER_AGENT=mag_ua)
        answer = r.json()
        if answer.get("error") != 0:
            raise RuntimeError(f"stat/push answered {answer}")

    def next_box():
        box = boxes[state["box"] % BOXES]
        state["box"] += 1
        return box

    def heartbeat():
        push(next_box())

    def switch():
        box = next_box()
        box["session"] += 1
        box["channel"] = channels[(channels.index(box["channel"]) + 1 + state["box"] % 3) % len(channels)]
        push(box)

    def send_batch():
        body = bodies[state["body"]]
        key = batch_keys[state["body"] % BOXES]
        state["body"] += 1
        Clock.now += timedelta(seconds=1)
        r = http.post("/viewstats/api/stat/batch", data=body, content_type="application/json",
                      HTTP_AUTHORIZATION=f"Bearer {key}", HTTP_USER_AGENT=app_ua)
        answer = r.json()
        if r.status_code != 200 or answer.get("accepted") != BATCH:
            raise RuntimeError(f"stat/batch answered {r.status_code} {str(answer)[:300]}")

    # Warm-up, not timed: every box opens its session and beats once, one batch
    # goes in (host lookups cached, User-Agents classified).
    with override_settings(VIEWSTATS_UA_CLASSIFY="inline"):
        for _ in range(2 * BOXES):
            heartbeat()
        send_batch()
    samples, metered = {}, {}
    for kind, fn in (("heartbeat", heartbeat), ("channel switch", switch), ("batch of 50", send_batch)):
        times, began = [], time.perf_counter()
        while len(times) < args.requests and (time.perf_counter() - began < args.budget
                                              or len(times) < MIN_SAMPLES):
            if kind == "batch of 50" and state["body"] >= len(bodies) - 1:
                break
            cpu, wall = time.process_time(), time.perf_counter()
            fn()
            times.append((time.process_time() - cpu, time.perf_counter() - wall))
        samples[kind] = times
        if metered_on:
            with measure() as cost:
                fn()
            metered[kind] = cost
    return samples, metered


def remove_ingested(client_id):
    """Drop what section 1 stored (its `_id`s start with "p:" or "b:"; the history's with "g:")."""
    store.sessions().delete_many({"client_id": client_id, "_id": {"$regex": "^[pb]:"}})
    store.collection(store.PUSH_STATE).delete_many({"client_id": client_id})


# ---------------------------------------------------------------- section 2

def command(name, *options):
    out = io.StringIO()
    call_command(name, *options, stdout=out, stderr=out)
    return out.getvalue()


def fill_note(output):
    found = re.search(r"(rebuilt|updated), (\d+) day\(s\)", output)
    return f"{found.group(1)}, {found.group(2)} days" if found else output.strip().splitlines()[-1][:60]


def report_items(a, today):
    first, last = today - timedelta(days=WINDOW_DAYS), today - timedelta(days=1)
    params = {"date_from": first.isoformat(), "date_to": last.isoformat()}
    month_start = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    yesterday = today - timedelta(days=1)

    def rows(result):
        return f"{len(result.get('rows', []))} rows, computed from {result.get('computed_from', 'sessions')}"

    def report(name):
        return lambda: run_report(name, dict(params), [a])

    items = [(f"report {name}", report(name), rows)
             for name in ("channel", "programme", "device", "country", "protocol", "unique")]
    items += [
        ("report sessions (first page)", report("sessions"),
         lambda r: f"{len(r.get('rows', []))} rows"),
        (f"report daily, {WINDOW_DAYS} days, cold", report("daily"), lambda r: f"{len(r['rows'])} rows"),
        (f"report daily, {WINDOW_DAYS} days, warm", report("daily"), lambda r: f"{len(r['rows'])} rows"),
        (f"counters viewers {month_start:%Y-%m} days",
         lambda: counters.counters([a], "viewers", month_start.year, month_start.month),
         lambda r: f"{len(r['data'])} segments"),
        (f"counters viewers {today.year} months", lambda: counters.counters([a], "viewers", today.year),
         lambda r: f"{len(r['data'])} segments"),
        (f"counters viewers {yesterday} hours",
         lambda: counters.counters([a], "viewers", yesterday.year, yesterday.month, yesterday.day),
         lambda r: f"{len(r['data'])} segments"),
    ]
    return items, (first, last)


def command_items(a):
    client = f"--client_id={a}"
    items = [(f"{name} ({popularity_bench.DAYS} days)",
              lambda name=name, extra=extra: command(name, client, f"--days_number={popularity_bench.DAYS}",
                                                     *extra),
              lambda out: "")
             for name, extra in popularity_bench.COMMANDS]
    for name, note in (("cache_max_online", "first run"), ("cache_customers_dynamic", "first run"),
                       ("collect_daily_stats", ""), ("save_stats", "")):
        items.append((f"{name}" + (f" ({note})" if note else ""),
                      lambda name=name: command(name, client), lambda out: ""))
    return items


def row(label, cost, note=""):
    examined = "" if cost.examined is None else f"{cost.examined:>10}"
    detail = "; ".join(x for x in (cost.examined_text(), note) if x)
    meter = "" if cost.meter is None else f"{cost.meter_wall:>8.1f}"
    columns = f" {examined:>10}{meter:>8} " if cost.meter is not None else " "
    say(f"   {label:<48}{cost.wall:>9.2f}{cost.cpu:>9.2f}{columns} {detail}")


def attempt(size, label, fn, note, metered):
    """Run and print one item; a failure is printed, kept for the summary and does not stop the bench."""
    try:
        with measure(metered) as cost:
            result = fn()
    except Exception:
        FAILURES.append((size, label, traceback.format_exc()))
        say(f"   {label:<48}   FAILED: {traceback.format_exc().strip().splitlines()[-1][:120]}")
        return None
    try:
        text = note(result)
    except Exception as exc:  # a note is decoration
        text = f"(note failed: {exc!r})"
    row(label, cost, text)
    return result


# ---------------------------------------------------------------- section 3

def rate(fn, events, minimum=1.0):
    """Events per CPU second and per wall second of `fn`, repeated until `minimum` CPU seconds."""
    passes, cpu, wall = 0, 0.0, 0.0
    while cpu < minimum:
        c, w = time.process_time(), time.perf_counter()
        fn()
        cpu += time.process_time() - c
        wall += time.perf_counter() - w
        passes += 1
    return events * passes / cpu, events * passes / wall


def floor_pass(bodies):
    for body in bodies:
        for item in LOADS(body):
            item["start"] = datetime.fromisoformat(item["start"])
            item["end"] = datetime.fromisoformat(item["end"])
            bson.encode(item)


class FakeRequest:
    def __init__(self, user_agent):
        self.META = {"HTTP_USER_AGENT": user_agent, "REMOTE_ADDR": "127.0.0.1"}


def validation_pass(bodies, login, request, now):
    """What the batch view does before the store: parse, origin, validate, build the documents."""
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


# --------------------------------------------------------------------- main

def ms(seconds):
    return f"{seconds * 1000:9.2f} ms"


def run_size(n, args, rng, ua_fields):
    size_began = time.perf_counter()
    gc.unfreeze()
    fresh_store()
    now = utcnow().replace(microsecond=0)
    t = time.perf_counter()
    a = build_operator(f"Scale {n} A", ACCOUNTS, EPG_DAYS, 300, rng)
    b = build_operator(f"Scale {n} B", ACCOUNTS // 5, 0, 50, rng)
    built = time.perf_counter() - t
    t = time.perf_counter()
    stored = insert(sessions_of(a, n, now, rng, ua_fields)) + insert(sessions_of(b, n, now, rng, ua_fields))
    inserted = time.perf_counter() - t
    gc.collect()
    gc.freeze()  # the stored documents stay out of the collector's passes (as bench/engine.py)
    metered_on = not args.no_examined and (not store.is_embedded() or n <= args.examined_max)
    say(f"== N = {n}: client A (id {a.client.id}) {n} sessions, client B (id {b.client.id}) {n}, over the "
        f"{HISTORY_DAYS} days to {now:%Y-%m-%d %H:%M} UTC; A: {ACCOUNTS} accounts, {CHANNELS} channels")
    say(f"   setup: operators {built:.1f} s; {stored} sessions inserted in {inserted:.1f} s "
        f"({stored / inserted:.0f}/s)")
    if not metered_on and not args.no_examined:
        say(f"   documents examined: not metered above N = {args.examined_max} on the embedded engine (its "
            f"meter passes over the collection several times per query; --examined-max raises the limit)")

    # 1. ingestion per request
    began = time.perf_counter()
    Clock.now = now - timedelta(hours=6)
    bodies = batch_bodies(a, args.requests + 2, Clock.now - timedelta(hours=5), rng)
    set_clock(lambda: Clock.now)
    try:
        samples, metered = ingestion(a, args, bodies, metered_on)
        ingest_now = Clock.now
    except Exception:
        FAILURES.append((n, "ingestion", traceback.format_exc()))
        samples, metered, ingest_now = None, {}, Clock.now
        say(f"   ingestion FAILED: {traceback.format_exc().strip().splitlines()[-1][:160]}")
    finally:
        set_clock(None)
    remove_ingested(a.client.id)
    say(f"-- 1. ingestion per request, Django test Client, {2 * n} sessions stored "
        f"[{time.perf_counter() - began:.1f} s]")
    if samples:
        say(f"   {'request':<16}{'n':>5}{'cpu p50':>13}{'cpu p99':>13}{'wall p50':>13}{'wall p99':>13}"
            + (f"{'examined':>10}  (one more request; by collection)" if metered else ""))
        for kind, times in samples.items():
            cpu, wall = [c for c, _ in times], [w for _, w in times]
            cost = metered.get(kind)
            say(f"   {kind:<16}{len(times):>5} {ms(percentile(cpu, 50))} {ms(percentile(cpu, 99))} "
                f"{ms(percentile(wall, 50))} {ms(percentile(wall, 99))}"
                + (f"{cost.examined:>10}  {cost.examined_text()}" if cost else ""))

    # 2. reports and commands
    began = time.perf_counter()
    today = now.date()
    items, (first, last) = report_items(a.client.id, today)
    window = {"client_id": a.client.id, "start": {"$gte": datetime.combine(first, datetime.min.time(), timezone.utc),
                                                  "$lt": datetime.combine(today, datetime.min.time(), timezone.utc)}}
    say(f"-- 2. reports over {first} .. {last} ({WINDOW_DAYS} days: {store.sessions().count_documents(window)} "
        f"sessions of A start in it) and commands, client A only")
    say(f"   {'':<48}{'wall s':>9}{'cpu s':>9} " + (f"{'examined':>10}{'meter s':>8}  by collection; result"
                                                      if metered_on else "result"))
    lock_dir = tempfile.mkdtemp(prefix="bench-scale-locks-")
    with override_settings(SMARTYSTATS_LOCK_BACKEND="file", SMARTYSTATS_LOCK_DIR=lock_dir):
        out = attempt(n, "viewstats_fill_rollups (first build)",
                      lambda: command("viewstats_fill_rollups", f"--client={a.client.id}", "--quiet"),
                      fill_note, metered_on)
        if out is not None:
            cells = store.collection(store.ROLLUPS).count_documents({"client_id": a.client.id})
            say(f"   {'  rollup cells of client A after the build':<48}{cells:>9}  (for {n} sessions)")
        with override_settings(VIEWSTATS_ROLLUP_REFRESH_SECONDS=3600):
            for label, fn, note in items:
                attempt(n, label, fn, note, metered_on)
        for label, fn, note in command_items(a.client.id):
            attempt(n, label, fn, note, metered_on)
        later = utcnow().replace(microsecond=0)
        insert(sessions_of(a, 100, later, rng, ua_fields, prefix="late", since=later - timedelta(hours=3)))
        attempt(n, "viewstats_fill_rollups (+100 sessions)",
                lambda: command("viewstats_fill_rollups", f"--client={a.client.id}", "--quiet"),
                fill_note, metered_on)
    shutil.rmtree(lock_dir, ignore_errors=True)
    say(f"   [section 2: {time.perf_counter() - began:.1f} s]")

    # 3. ingestion against its floor
    began = time.perf_counter()
    events = len(bodies) * BATCH
    say(f"-- 3. batch ingestion against its floor ({len(bodies)} bodies of {BATCH} events; "
        f"events per CPU second, per wall second in brackets)")
    floor_cpu, floor_wall = rate(lambda: floor_pass(bodies), events)
    say(f"   {'floor: ' + PARSER.split()[0] + ' parse + datetime + BSON encode':<52}{floor_cpu:>10.0f} "
        f"({floor_wall:.0f})  100.00 %")
    try:
        login = host.login_for_authkey(a.login(a.accounts[BOXES], "android_stb", device_uid="scale-batch-0"))
        request = FakeRequest(ingest_bench.USER_AGENTS[UA_OF["android_stb"]])
        v_cpu, v_wall = rate(lambda: validation_pass(bodies, login, request, ingest_now), events)
        say(f"   {'parse + validate + build documents (no store)':<52}{v_cpu:>10.0f} ({v_wall:.0f})"
            f"{100 * v_cpu / floor_cpu:>8.2f} %")
    except Exception:
        FAILURES.append((n, "validation rate", traceback.format_exc()))
        say(f"   validation FAILED: {traceback.format_exc().strip().splitlines()[-1][:160]}")
    if samples and samples.get("batch of 50"):
        times = samples["batch of 50"]
        cpu, wall = sum(c for c, _ in times), sum(w for _, w in times)
        full_cpu, full_wall = BATCH * len(times) / cpu, BATCH * len(times) / wall
        say(f"   {f'full ingestion: HTTP + store ({len(times)} batches of 1.)':<52}{full_cpu:>10.0f} "
            f"({full_wall:.0f}){100 * full_cpu / floor_cpu:>8.2f} %")
    say(f"   [section 3: {time.perf_counter() - began:.1f} s; size {n}: {time.perf_counter() - size_began:.1f} s]")
    say()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000],
                        help="sessions per client (default: 10000 100000; 1000000 takes hours on the "
                             "embedded engine)")
    parser.add_argument("--requests", type=int, default=200, help="requests of each kind in section 1 (200)")
    parser.add_argument("--budget", type=float, default=20,
                        help="wall seconds at most per kind of request in section 1 (20; at least 3 requests)")
    parser.add_argument("--no-examined", action="store_true", help="skip the documents-examined meter")
    parser.add_argument("--examined-max", type=int, default=20000,
                        help="on the embedded engine, meter sizes up to this only (20000): there the meter "
                             "costs several passes over the collection per query")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    began = time.perf_counter()
    call_command("migrate", verbosity=0)
    rng = random.Random(args.seed)
    ua_fields = device_fields()
    engine = "embedded (mongomock-ng + viewstats/embedded.py)" if store.is_embedded() else \
        f"MongoDB server, database {os.environ.get('MONGODB_NAME')}"
    say(f"engine: {engine}; settings {os.environ['DJANGO_SETTINGS_MODULE']}; {os.cpu_count()} CPUs; "
        f"sizes {args.sizes}; JSON parser of the floor: {PARSER}")
    say("times on a shared machine are noisy: CPU time less than wall time")
    say()
    try:
        for n in args.sizes:
            run_size(n, args, rng, ua_fields)
    finally:
        if not store.is_embedded():
            db = store.get_db()
            db.client.drop_database(db.name)
    say(f"total {time.perf_counter() - began:.1f} s")
    for size, what, trace in FAILURES:
        say(f"\nFAILED at N = {size}: {what}\n{trace}")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
