"""Load test: hundreds of simulated set-top boxes against gunicorn on 127.0.0.1.

What it does, in order:

1. a fresh SQLite file in a temporary directory gets the project's tables and
   an operator built through the reference host (tvmiddleware.demo.operator:
   accounts, device types, channels, an EPG), plus a staff user with an API
   token for the reports;
2. gunicorn starts as a subprocess with deploy/gunicorn.conf.py on a free
   127.0.0.1 port, with production-style settings (a random DJANGO_SECRET_KEY,
   DJANGO_ALLOWED_HOSTS=127.0.0.1, VIEWSTATS_TRUSTED_PROXIES=127.0.0.1: the
   bench plays the nginx in front and sends each box's public address in
   X-Forwarded-For);
3. BOXES boxes, all alive at once (asyncio, one connection per request, at most
   --max-inflight requests open), log in via /tvmiddleware/api/login/ over a
   ramp of a few seconds, then push /viewstats/api/stat/push heartbeats until
   the time is up. Time is compressed: a box pushes every --interval seconds
   (with jitter) where a real one pushes every 60 s, and switches channel (a new
   channel_session) now and then. The server keeps its own 180 s session
   timeout, far above the compressed interval, so every heartbeat extends its
   session;
4. it prints requests/s, p50/p99 latency, the error rate, and the sessions the
   boxes opened against those the server stored, read back through the reports
   API (/viewstats/api/reports/channel, totals.sessions), since with the
   embedded MongoDB engine the sessions live inside the gunicorn worker.

The embedded engine is per process, so without MONGODB_URI gunicorn runs ONE
worker process with threads (the output says so). With MONGODB_URI set, it runs
--workers processes (2 by default) on a throw-away database viewstats_load_<pid>
that is dropped at the end. Traffic goes to 127.0.0.1 only; the run stops by
itself after about --ramp + --duration seconds.

    .venv/bin/pip install gunicorn          # or: pip install -e '.[deploy]'
    nice -n 10 .venv/bin/python bench/load.py [--boxes 600] [--duration 90] [--interval 20]
"""
import argparse
import asyncio
import importlib.util
import json
import math
import os
import random
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TMP = tempfile.mkdtemp(prefix="viewstats-load-")
os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
os.environ["SQLITE_PATH"] = os.path.join(TMP, "load.sqlite3")
os.environ.pop("DATABASE", None)  # a fresh SQLite file, shared by this process and gunicorn
if os.environ.get("MONGODB_URI"):
    os.environ["MONGODB_NAME"] = f"viewstats_load_{os.getpid()}"

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connections, transaction  # noqa: E402

from tvmiddleware.demo.operator import DEVICE_MIX, build_operator  # noqa: E402
from tvmiddleware.demo.server import JsonHttp  # noqa: E402
from tvmiddleware.demo.viewing import MAG_MODELS, USER_AGENTS  # noqa: E402
from viewstats import store  # noqa: E402
from viewstats.conf import setting  # noqa: E402
from viewstats.models import ApiToken, OperatorStaff  # noqa: E402

ENABLED = {name for name, _share, enabled in DEVICE_MIX if enabled}
REAL_HEARTBEAT = 60  # seconds between a real box's pushes


# --- setup -------------------------------------------------------------------
def build(args, rng):
    """The operator, the boxes (one per active account first) and a reports token."""
    call_command("migrate", verbosity=0)
    began = time.monotonic()
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    with transaction.atomic():
        op = build_operator(rng, "Load Operator", accounts=args.accounts or args.boxes, days=1, now=now)
        user = get_user_model().objects.create_user("load-bench", is_staff=True)
        OperatorStaff.objects.create(user=user, client_id=op.client.id)
        token = ApiToken.objects.create(user=user)
    active = [(account, [d for d in devices if d in ENABLED]) for account, devices in op.accounts
              if account.active]
    boxes, round_ = [], 0
    while len(boxes) < args.boxes and any(len(d) > round_ for _, d in active):
        boxes += [(account, devices[round_]) for account, devices in active if len(devices) > round_]
        round_ += 1
    if len(boxes) < args.boxes:
        sys.exit(f"only {len(boxes)} devices of active accounts with collection enabled; "
                 f"raise --accounts")
    boxes = boxes[:args.boxes]
    setup = {"client_id": op.client.id, "api_key": op.client.api_key,
             "channels": [c.id for c in op.channels if c.enabled], "token": token.key,
             "accounts": len(op.accounts), "seconds": time.monotonic() - began}
    box_list = []
    for i, (account, system_name) in enumerate(boxes):
        ua, xua = USER_AGENTS[system_name]
        box_list.append({
            "i": i, "abonement": account.abonement, "password": account.password, "device": system_name,
            "uid": uuid.UUID(int=rng.getrandbits(128)).hex[:12], "ua": ua,
            "xua": xua.format(model=rng.choice(MAG_MODELS)),
            "ip": f"{rng.choice((85, 81, 90, 94, 83))}.{rng.randrange(256)}.{rng.randrange(256)}."
                  f"{rng.randrange(1, 255)}"})
    connections.close_all()  # gunicorn opens the same SQLite file next
    return setup, box_list


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(args, port):
    env = {**os.environ,
           "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": str(args.workers),
           "GUNICORN_THREADS": str(args.threads), "GUNICORN_LOGLEVEL": "warning",
           "GUNICORN_ACCESSLOG": os.path.join(TMP, "access.log"),
           "GUNICORN_ERRORLOG": os.path.join(TMP, "gunicorn.log"),
           "DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
           "DJANGO_ALLOWED_HOSTS": "127.0.0.1", "VIEWSTATS_TRUSTED_PROXIES": "127.0.0.1"}
    env.pop("GUNICORN_CONTROL_SOCKET", None)
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py")],
                            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(TMP, "gunicorn.stderr"), "w"))
    http = JsonHttp(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            http.get("/tvmiddleware/api/login/", {})  # 403 JSON: the app answers
            return proc
        except OSError:
            time.sleep(0.3)
    stop(proc)
    log = ""
    for name in ("gunicorn.stderr", "gunicorn.log"):
        with open(os.path.join(TMP, name)) as f:
            log += f.read()[-3000:]
    sys.exit(f"gunicorn did not start (exit {proc.returncode}):\n{log}")


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_seconds(pid):
    """User + system CPU of gunicorn's master and workers so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            pids = [pid] + [int(p) for p in f.read().split()]
    except OSError:
        return None
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            pass
    return total


# --- the boxes -----------------------------------------------------------------
class Tally:
    def __init__(self):
        self.t0 = time.perf_counter()
        self.latency = {"login": [], "push": []}  # (seconds since the start, latency) per request
        self.errors = Counter()
        self.sessions_acked = set()  # (box, channel_session) with at least one push answered error 0
        self.sessions_tried = set()  # (box, channel_session) sent at all
        self.inflight = self.max_inflight = 0
        self.logged_in = 0


async def call(port, sem, tally, kind, path, params, headers, timeout):
    """One GET on a fresh connection (boxes behind NAT rarely keep one open a minute).

    Returns the JSON body or None; records latency (connect to last byte) and errors.
    """
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items() if v)
    request = (f"GET {path}?{urlencode(params)} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{head}"
               f"Connection: close\r\n\r\n").encode()
    async with sem:
        tally.inflight += 1
        tally.max_inflight = max(tally.max_inflight, tally.inflight)
        began = time.perf_counter()
        writer = None
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
            writer.write(request)
            raw = await asyncio.wait_for(reader.read(), timeout)
        except (OSError, asyncio.TimeoutError) as exc:
            tally.latency[kind].append((began - tally.t0, time.perf_counter() - began))
            tally.errors[f"{kind}: {type(exc).__name__}"] += 1
            return None
        finally:
            tally.inflight -= 1
            if writer is not None:
                writer.close()
        tally.latency[kind].append((began - tally.t0, time.perf_counter() - began))
    head, _, body = raw.partition(b"\r\n\r\n")
    try:
        status = int(head.split(b" ", 2)[1])
        answer = json.loads(body)
    except (IndexError, ValueError):
        answer = None
    if not isinstance(answer, dict):
        tally.errors[f"{kind}: unreadable answer"] += 1
        return None
    if status != 200 or answer.get("error") != 0:
        tally.errors[f"{kind}: HTTP {status} error {answer.get('error')}"] += 1
        return None
    return answer


async def run_box(box, setup, args, port, sem, tally, t_end):
    rng = random.Random(box["i"])
    loop = asyncio.get_running_loop()
    await asyncio.sleep(rng.uniform(0, args.ramp))
    headers = {"User-Agent": box["ua"], "X-User-Agent": box["xua"], "X-Forwarded-For": box["ip"]}
    answer = None
    while answer is None and loop.time() < t_end - args.interval:
        answer = await call(port, sem, tally, "login", "/tvmiddleware/api/login/", {
            "client_id": setup["client_id"], "api_key": setup["api_key"], "abonement": box["abonement"],
            "password": box["password"], "device": box["device"], "device_uid": box["uid"]},
            headers, args.timeout)
        if answer is None:
            await asyncio.sleep(rng.uniform(1, 3))  # a box retries its login
    if answer is None:
        return
    tally.logged_in += 1
    authkey = answer["authkey"]
    channel = rng.choice(setup["channels"])
    channel_session = rng.randrange(1, 10 ** 6)
    while True:
        tally.sessions_tried.add((box["i"], channel_session))
        pushed = await call(port, sem, tally, "push", "/viewstats/api/stat/push", {
            "authkey": authkey, "client_id": setup["client_id"], "channel_id": channel,
            "channel_session": channel_session, "device": box["device"]}, headers, args.timeout)
        if pushed is not None:
            tally.sessions_acked.add((box["i"], channel_session))
        delay = args.interval * rng.uniform(1 - args.jitter, 1 + args.jitter)
        if loop.time() + delay >= t_end:
            return
        await asyncio.sleep(delay)
        if rng.random() < args.zap:  # channel switch: a new viewing, a new session
            channel = rng.choice([c for c in setup["channels"] if c != channel])
            channel_session += 1


async def drive(boxes, setup, args, port, tally):
    sem = asyncio.Semaphore(args.max_inflight)
    tally.t0 = time.perf_counter()
    loop = asyncio.get_running_loop()
    t_end = loop.time() + args.ramp + args.duration
    tasks = [asyncio.create_task(run_box(b, setup, args, port, sem, tally, t_end)) for b in boxes]
    # Bounded: every box stops pushing at t_end; a request may take --timeout more.
    done, pending = await asyncio.wait(tasks, timeout=args.ramp + args.duration + 2 * args.timeout + 10)
    for task in pending:
        task.cancel()
    for task in done:
        if task.exception() is not None:
            tally.errors[f"box crashed: {task.exception()!r}"] += 1


# --- report --------------------------------------------------------------------
def percentile(values, q):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def line(name, values, errors, seconds, note=""):
    n = len(values)
    return (f"  {name:<6} {n:6d} requests {n / seconds:7.1f}/s{note}  p50 {percentile(values, 50) * 1000:6.1f} ms"
            f"  p99 {percentile(values, 99) * 1000:7.1f} ms  max {max(values or [0]) * 1000:7.1f} ms"
            + (f"  errors {errors} ({errors / max(1, n):.2%})" if errors is not None else ""))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boxes", type=int, default=600, help="simulated boxes, all alive at once (default 600)")
    parser.add_argument("--accounts", type=int, default=0, help="accounts to create (default: as many as boxes)")
    parser.add_argument("--duration", type=float, default=90, help="seconds of heartbeats after the ramp (90)")
    parser.add_argument("--ramp", type=float, default=20, help="seconds over which the boxes log in (20)")
    parser.add_argument("--interval", type=float, default=20,
                        help="seconds between a box's pushes, standing for 60 s (default 20: time x3)")
    parser.add_argument("--jitter", type=float, default=0.25, help="+- share of the interval (0.25)")
    parser.add_argument("--zap", type=float, default=0.1, help="chance of a channel switch per heartbeat (0.1)")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker (8)")
    parser.add_argument("--workers", type=int, default=0,
                        help="gunicorn workers (default: 1 with the embedded engine, 2 with MONGODB_URI)")
    parser.add_argument("--max-inflight", type=int, default=600, help="requests open at once at most (600)")
    parser.add_argument("--timeout", type=float, default=30, help="seconds a request may take (30)")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # progress shows when piped too
    embedded = store.is_embedded()
    if not args.workers:
        args.workers = 1 if embedded else 2
    if embedded and args.workers != 1:
        parser.error("the embedded MongoDB engine is per process: use --workers 1, or set MONGODB_URI")
    session_timeout = setting("VIEWSTATS_PUSH_SESSION_TIMEOUT")
    if args.interval * (1 + args.jitter) >= session_timeout:
        parser.error(f"--interval with jitter must stay under the server's session timeout ({session_timeout} s)")
    if importlib.util.find_spec("gunicorn") is None:
        sys.exit("gunicorn is not installed: .venv/bin/pip install gunicorn (or -e '.[deploy]')")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, args.max_inflight + 256))
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    args.max_inflight = min(args.max_inflight, want - 64)

    rng = random.Random(args.seed)
    setup, boxes = build(args, rng)
    print(f"operator: {setup['accounts']} accounts, {len(setup['channels'])} channels, {len(boxes)} boxes "
          f"({dict(Counter(b['device'] for b in boxes))}); built in {setup['seconds']:.0f} s")
    port = free_port()
    engine = ("embedded MongoDB engine (per process): ONE gunicorn worker process with threads"
              if embedded else f"MongoDB at MONGODB_URI, database {os.environ['MONGODB_NAME']} (dropped at the end)")
    print(f"server: gunicorn -c deploy/gunicorn.conf.py on 127.0.0.1:{port}, {args.workers} worker(s) x "
          f"{args.threads} threads, gthread; {engine}; SQLite {os.environ['SQLITE_PATH']}")
    print(f"load: {len(boxes)} boxes log in over {args.ramp:.0f} s, then push every {args.interval:g} s "
          f"+-{args.jitter:.0%} for {args.duration:.0f} s (time x{REAL_HEARTBEAT / args.interval:.0f}: the request "
          f"rate of {len(boxes) * REAL_HEARTBEAT / args.interval:.0f} real boxes at one push a minute); "
          f"{args.zap:.0%} channel switches per heartbeat; server session timeout {session_timeout} s; "
          f"at most {args.max_inflight} requests open")
    proc = start_gunicorn(args, port)
    tally = Tally()
    try:
        cpu_before = cpu_seconds(proc.pid)
        began = time.monotonic()
        asyncio.run(drive(boxes, setup, args, port, tally))
        elapsed = time.monotonic() - began
        cpu_after = cpu_seconds(proc.pid)
        time.sleep(1)
        window = {"from": (datetime.now(timezone.utc) - timedelta(seconds=elapsed + 600)).isoformat(),
                  "to": (datetime.now(timezone.utc) + timedelta(seconds=600)).isoformat()}
        report = JsonHttp(f"http://127.0.0.1:{port}").get(
            "/viewstats/api/reports/channel", window, {"Authorization": f"Token {setup['token']}"})
    finally:
        stop(proc)
    try:
        with open(os.path.join(TMP, "access.log")) as f:
            logged = sum(1 for _ in f)
    except OSError:
        logged = None

    logins = [lat for _t, lat in tally.latency["login"]]
    pushes = [lat for _t, lat in tally.latency["push"]]
    everything = logins + pushes
    n_errors = sum(tally.errors.values())
    login_errors = sum(v for k, v in tally.errors.items() if k.startswith("login"))
    print(f"== {len(everything)} requests in {elapsed:.1f} s (server access log: {logged} lines)")
    print(f"  all    {len(everything):6d} requests {len(everything) / elapsed:7.1f}/s   p50 "
          f"{percentile(everything, 50) * 1000:.1f} ms   p99 {percentile(everything, 99) * 1000:.1f} ms   "
          f"error rate {n_errors / max(1, len(everything)):.2%}")
    print(line("login", logins, login_errors, args.ramp or elapsed, " over the ramp"))
    print(line("push", pushes, n_errors - login_errors, elapsed))
    # Steady state: the pushes after every box has logged in and pushed once.
    settle = args.ramp + args.interval
    steady = [lat for t, lat in tally.latency["push"] if settle <= t < args.ramp + args.duration]
    steady_seconds = max(1e-9, args.ramp + args.duration - settle)
    offered = tally.logged_in / args.interval
    achieved = len(steady) / steady_seconds
    print(line("steady", steady, None, steady_seconds)
          + f"  (pushes from {settle:.0f} s on; offered {offered:.1f}/s)")
    kept_up = achieved >= 0.9 * offered and percentile(steady, 99) < args.interval / 2
    print(f"  verdict: {'the server kept up' if kept_up else 'SATURATED: the server could not keep up, pushes queued'}"
          f" ({achieved:.1f} of {offered:.1f} pushes/s offered served, steady p99 "
          f"{percentile(steady, 99) * 1000:.0f} ms vs a {args.interval:g} s interval)")
    print(f"  boxes logged in: {tally.logged_in}/{len(boxes)}; most requests open at once: {tally.max_inflight}")
    if cpu_before is not None and cpu_after is not None:
        used = cpu_after - cpu_before
        print(f"  gunicorn CPU: {used:.1f} s over {elapsed:.1f} s = {used / elapsed:.0%} of one core "
              f"({os.cpu_count()} cores here, load generator on the same machine)")
    for kind, count in tally.errors.most_common():
        print(f"  error: {kind}: {count}")
    stored = (report.get("totals") or {}).get("sessions")
    print(f"== sessions: sent {len(tally.sessions_acked)} (distinct channel_session per box, acknowledged; "
          f"{len(tally.sessions_tried)} attempted), stored {stored} "
          f"(reports API totals: {report.get('totals') or report})")
    if stored != len(tally.sessions_acked):
        print("  MISMATCH between sessions sent and stored")
    if not embedded:
        import pymongo

        pymongo.MongoClient(os.environ["MONGODB_URI"]).drop_database(os.environ["MONGODB_NAME"])
    shutil.rmtree(TMP, ignore_errors=True)
    return 0 if stored == len(tally.sessions_acked) else 1


if __name__ == "__main__":
    sys.exit(main())
