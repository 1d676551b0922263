"""SIGKILL a command at a random point, rerun it at once: the caches equal a clean run's.

Every command runs in a process of its own through Django's command line
(execute_from_command_line, as manage.py does; exit status included) on a
SQLite file of its own, with Redis locks on the real Redis under a namespace
of this test run. The embedded MongoDB lives and dies
with each process, so each process loads the same sessions from a dump made
once; the SQL caches (FillState, Count, MaxOnline, OnlineNow, the popularity
sortings) survive the kill in the SQLite file, as in production.

The processes are forked from a "zygote" that has set Django up and read the
dump once (through a server per namespace, itself forked from it): a run's
process starts with nothing but what a fresh `manage.py` would have after
`django.setup()`, without paying for the interpreter and the imports each time.

A kill lands either just before or just after a random SQL statement of the
run (a hook in this driver, nothing in the product: every state the SQL caches
can be left in), or after a random delay.
The killed run leaves its Redis locks behind: the rerun starts at once and
must not be refused or skip a client. Its tables must then equal those of a
clean run from the same starting copy (ids and auto-now stamps aside).

The file runs itself as the driver: `python -m tests.test_kill_and_rerun MODE`.
"""
import json
import os
import pickle
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
NOW = datetime(2024, 3, 1, 14, 37, 21, tzinfo=timezone.utc)  # first runs fill from 1 February
DAY0 = datetime(2024, 3, 1, tzinfo=timezone.utc)
TIME = "--time=2024-03-01T14:37:21Z"
EXIT_BUSY = 3  # smartystats.commandutils.EXIT_BUSY


# --- the driver (runs in the subprocess) ------------------------------------

def _driver(mode):
    import django
    from django.conf import settings

    # A killed process loses nothing the OS already has: skip the fsyncs
    # (thousands of small commits), which only an OS crash would need.
    settings.DATABASES["default"].setdefault("OPTIONS", {})["init_command"] = "PRAGMA synchronous=OFF"
    django.setup()
    settings.SMARTYSTATS_HOURLY_DAYS = 1  # fewer hourly buckets: shorter runs, same protocol
    settings.SMARTYSTATS_LOCK_BACKEND = "redis"
    settings.SMARTYSTATS_LOCK_REDIS_URL = REDIS_URL
    if mode == "setup":
        from viewstats import store

        settings.VIEWSTATS_REDIS_NAMESPACE = os.environ["KILLTEST_NAMESPACE"]
        db = store.get_db()
        for name in db.list_collection_names():
            db.drop_collection(name)
        return _setup(db)
    return _zygote(json.loads(sys.argv[2]))


def _zygote(spec):
    """Serve each namespace of `spec` ({namespace: [request fd, answer fd, MongoDB name]})
    from a process of its own, forked once Django is set up and the dump read."""
    from django.core.management import get_commands, load_command_class

    from viewstats import documents

    with open(os.environ["KILLTEST_DUMP"], "rb") as f:
        dump = pickle.load(f)
    for name, app in get_commands().items():  # what execute_from_command_line would import
        if app in ("viewstats", "smartystats", "tvmiddleware"):
            load_command_class(app, name)
    documents.set_clock(lambda: NOW)  # the popularity commands' "now"
    fds = [fd for requests, answers, _ in spec.values() for fd in (requests, answers)]
    servers = []
    for namespace, (requests, answers, mongo_name) in spec.items():
        pid = os.fork()
        if pid == 0:
            for fd in fds:
                if fd not in (requests, answers):
                    os.close(fd)
            _serve(namespace, mongo_name, os.fdopen(requests), os.fdopen(answers, "w"), dump)
            os._exit(0)
        servers.append(pid)
    for fd in fds:
        os.close(fd)
    for pid in servers:
        os.waitpid(pid, 0)


def _serve(namespace, mongo_name, requests, answers, dump):
    """Fork one run per request line (JSON: db, argv, env, out, err).

    The child writes "READY <pid>" to `answers`, then its output goes to the
    files `out` and `err`; this process writes "EXIT <status>" (negative: the
    signal that ended it, as subprocess reports it) when the child is gone."""
    from django.conf import settings

    settings.VIEWSTATS_REDIS_NAMESPACE = namespace
    settings.MONGODB_NAME = mongo_name  # with MONGODB_URI set
    for line in requests:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request, dump, answers)  # never returns
        _, status = os.waitpid(pid, 0)
        print(f"EXIT {os.waitstatus_to_exitcode(status)}", file=answers, flush=True)


def _child(request, dump, answers):
    from django.db import connections

    from viewstats import store

    code = 1
    try:
        os.environ.update(request["env"])
        connections["default"].settings_dict["NAME"] = request["db"]
        db = store.get_db()  # a client of this process's own
        for name in db.list_collection_names():
            db.drop_collection(name)
        for name, docs in dump.items():
            if docs:
                db[name].insert_many(docs)
        store.ensure_indexes()
        # The files exist before READY: a kill right after it leaves them empty, not missing.
        files = [os.open(request[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC) for name in ("out", "err")]
        print(f"READY {os.getpid()}", file=answers, flush=True)
        for fd, target in zip((1, 2), files):
            os.dup2(target, fd)
            os.close(target)
        try:
            _run(request["argv"])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            import traceback

            traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _setup(db):
    from django.core.management import call_command

    from tests.factories import make_operator
    from tvmiddleware.fixtures import generate

    call_command("migrate", verbosity=0)
    clients = []
    for name, seed, customers, sessions in (("Alpha", 7, 20, 300), ("Beta", 8, 8, 120)):
        op = make_operator(name, channels=8, accounts=2, epg_day=DAY0)
        generate(op.client, now=NOW, seed=seed, customers=customers, sessions=sessions)
        clients.append(op.client.id)
    with open(os.environ["KILLTEST_DUMP"], "wb") as f:
        pickle.dump({name: list(db[name].find()) for name in db.list_collection_names()}, f)
    print(json.dumps(clients))


def _run(argv):
    """Run `manage.py *argv`; with KILL_AT=N, SIGKILL this process before/after statement N."""
    from django.core.management import execute_from_command_line
    from django.db import connection

    kill_at = int(os.environ.get("KILL_AT", "0"))
    when = os.environ.get("KILL_WHEN", "before")
    count = 0

    def killer(execute, sql, params, many, context):
        nonlocal count
        count += 1
        if count == kill_at and when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        result = execute(sql, params, many, context)
        if count == kill_at and when == "after":
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    from smartystats import locks

    hold, released = locks.hold, []

    @contextmanager
    def noting_release(name):
        # The last statements (the command-run log) come after the command's
        # lock is released: a kill there leaves no lock behind.
        with hold(name):
            yield
        if name.startswith("command:"):
            released.append(count)

    locks.hold = noting_release
    try:
        with connection.execute_wrapper(killer):
            execute_from_command_line(["manage.py", *argv])
    finally:
        print(f"STATEMENTS={count} RELEASED={released[-1] if released else count}",
              file=sys.stderr, flush=True)


# --- the test (runs in pytest) ----------------------------------------------

class World:
    """The starting SQLite file and session dump, and how to run a command on a copy."""

    def __init__(self, tmp, namespace):
        self.tmp, self.namespace = tmp, namespace
        self.template, self.dump = tmp / "template.sqlite3", tmp / "sessions.pickle"
        self.copies = 0
        self.clients = []
        self.zygotes = {}  # namespace -> (request pipe, answer pipe) of the zygote's server
        self.zygote = self.log = None
        self.lock = threading.Lock()

    def mongo_name(self, namespace=None):
        return "test_" + (namespace or self.namespace).replace("-", "_")  # with MONGODB_URI set

    def environment(self, db, namespace=None):
        # SQLite files whatever the suite runs on (DATABASE=postgres in CI): the
        # test copies and compares the killed run's database file with a clean one.
        return {**{k: v for k, v in os.environ.items() if k != "DATABASE"},
                "DJANGO_SETTINGS_MODULE": "tests.settings", "SQLITE_PATH": str(db),
                "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or "kill-and-rerun-test",
                "KILLTEST_NAMESPACE": namespace or self.namespace, "KILLTEST_DUMP": str(self.dump),
                "MONGODB_NAME": self.mongo_name(namespace)}

    def setup(self):
        """Migrate the template, make the operators and their sessions; the clients' ids."""
        proc = subprocess.run([sys.executable, "-m", "tests.test_kill_and_rerun", "setup"], cwd=ROOT,
                              env=self.environment(self.template), capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, proc.stderr
        self.clients = json.loads(proc.stdout.strip().splitlines()[-1])

    def start_zygote(self, namespaces):
        """One zygote for `namespaces`, with a request pipe and an answer pipe each."""
        spec, passed = {}, []
        for namespace in namespaces:
            requests, to_requests = os.pipe()
            from_answers, answers = os.pipe()
            spec[namespace] = [requests, answers, self.mongo_name(namespace)]
            passed += [requests, answers]
            self.zygotes[namespace] = (os.fdopen(to_requests, "w"), os.fdopen(from_answers))
        self.log = self.tmp / "zygote.err"
        with open(self.log, "w") as stderr:
            self.zygote = subprocess.Popen(
                [sys.executable, "-m", "tests.test_kill_and_rerun", "zygote", json.dumps(spec)], cwd=ROOT,
                env=self.environment(self.template), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=stderr, pass_fds=passed)
        for fd in passed:
            os.close(fd)

    def run(self, db, argv, delay=None, namespace=None, **extra):
        """(exit status, stdout, stderr, seconds after READY, pid); `delay`: SIGKILL then.

        Runs one at a time per namespace, forked by the zygote's server of that namespace."""
        requests, answers = self.zygotes[namespace or self.namespace]
        with self.lock:
            self.copies += 1
            out, err = self.tmp / f"run{self.copies}.out", self.tmp / f"run{self.copies}.err"
        requests.write(json.dumps({"db": str(db), "argv": argv, "out": str(out), "err": str(err),
                                   "env": {k: str(v) for k, v in extra.items()}}) + "\n")
        requests.flush()
        ready = answers.readline().split()
        assert ready and ready[0] in ("READY", "EXIT"), f"the zygote died: {self.log.read_text()}"
        began = time.monotonic()
        pid = int(ready[1]) if ready[0] == "READY" else None
        if delay is not None and pid:
            time.sleep(delay)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # the run finished first (and the zygote reaped it)
        done = ready if ready[0] == "EXIT" else answers.readline().split()
        assert done and done[0] == "EXIT", f"the zygote died: {self.log.read_text()}"
        return int(done[1]), out.read_text(), err.read_text(), time.monotonic() - began, pid

    def close(self):
        for requests, answers in self.zygotes.values():
            requests.close()  # each server ends at the end of its requests
            answers.close()
        self.zygote.wait(timeout=60)

    def copy(self):
        with self.lock:
            self.copies += 1
            db = self.tmp / f"run{self.copies}.sqlite3"
        shutil.copyfile(self.template, db)
        return db


def redis_client():
    import redis

    return redis.Redis.from_url(REDIS_URL)


def locks_left(namespace):
    """{key: (owner pid, ms of lease left)} of the Redis keys under `namespace`."""
    r = redis_client()
    return {k.decode(): (json.loads(r.get(k) or b"{}").get("pid"), r.pttl(k))
            for k in r.keys(namespace + ":*")}


def tables(db):
    """Every table's rows (the command-run log, ids and auto-now stamps left out), as sorted lists."""
    con = sqlite3.connect(db)
    try:
        # The command-run log records when and how long each run took: a
        # killed run and its rerun are bound to differ from a clean run there.
        names = [n for (n,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
                 if n not in ("sqlite_sequence", "viewstats_commandrun")]
        out = {}
        for name in names:
            cols = [c[1] for c in con.execute(f'PRAGMA table_info("{name}")')
                    if c[1] not in ("id", "last_modified")]
            quoted = ", ".join(f'"{c}"' for c in cols)
            out[name] = sorted(map(repr, con.execute(f'SELECT {quoted} FROM "{name}"')))
        return out
    finally:
        con.close()


def differences(got, want):
    return {t: f"{len(got.get(t, []))} rows, clean run {len(want[t])}"
            for t in want if got.get(t) != want[t]}


CACHES = ("smartystats_fillstate", "smartystats_count", "smartystats_maxonline",
          "smartystats_onlinenow", "tvmiddleware_channelsorting", "tvmiddleware_channelsortingitem")
COMMANDS = ("cache_max_online", "cache_customers_dynamic", "popularity")


def argv_of(command, clients):
    if command == "popularity":
        return ["create_channel_sorting_by_popularity", f"--client_id={','.join(map(str, clients))}",
                "--days_number=7", "--criterion=watch"]
    return [command, TIME]


def kill_and_rerun(world, command, seed):
    """Clean run; then on another copy: SIGKILL at a random statement, SIGKILL the
    recovering rerun after a random delay (it may finish first), rerun to the end.
    Returns a report."""
    rng = random.Random(f"{seed}-{command}")
    namespace = f"{world.namespace}-{command}"  # the scenarios run side by side
    argv = argv_of(command, world.clients)
    clean_db = world.copy()
    code, out, err, duration, _ = world.run(clean_db, argv, namespace=namespace)
    assert code == 0, err
    statements = int(err.rsplit("STATEMENTS=", 1)[1].split()[0])
    released = int(err.rsplit("RELEASED=", 1)[1].split()[0])  # statements run under the command's lock
    clean = tables(clean_db)
    assert any(clean.get(t) for t in CACHES), "the clean run filled nothing"

    db = world.copy()
    first = 10 if statements > 20 else 1  # past the run lock: the kill leaves it behind
    kill_at = rng.randrange(first, released + 1)  # while the command's lock is held
    left_over = (statements - kill_at + 1) / statements  # about what the recovering run redoes
    kills = [dict(KILL_AT=kill_at, KILL_WHEN=rng.choice(["before", "after"])),
             dict(delay=round(rng.uniform(0.0, duration * left_over), 2))]
    report = {"command": command, "statements": statements, "clean_s": round(duration, 1),
              "kills": [], "stale_locks": 0}
    for kill in kills:
        code, out, err, _, pid = world.run(db, argv, namespace=namespace, **kill)
        assert code in (-signal.SIGKILL, 0), f"{kill}: {err}"
        # The killed run's locks outlive it, as short leases the rerun must not wait out.
        held = [key for key, (owner, ms) in locks_left(namespace).items() if owner == pid]
        for key in held:
            assert 0 < locks_left(namespace)[key][1] <= 60_000, (kill, key)
        report["stale_locks"] += len(held)
        report["kills"].append({**kill, "killed": code == -signal.SIGKILL, "locks_left": held})
    started = time.monotonic()
    code, out, err, _, _ = world.run(db, argv, namespace=namespace)
    report["rerun_s"] = round(time.monotonic() - started, 1)
    assert code == 0, f"rerun after {report}: exit {code}: {err}"
    assert "already running" not in err and "skipped" not in out, err
    got = tables(db)
    assert got == clean, f"after {report}: {differences(got, clean)}"
    assert not locks_left(namespace), "the rerun released its locks"
    if command != "popularity":
        assert report["stale_locks"], f"no kill left a lock behind: {report}"
    return report


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    namespace = f"kill-{uuid.uuid4().hex[:12]}"
    w = World(tmp_path_factory.mktemp("kill"), namespace)
    w.setup()
    # The scenarios run side by side, each in a namespace of its own; the CLI test in the world's.
    w.start_zygote([namespace, *(f"{namespace}-{command}" for command in COMMANDS)])
    yield w
    w.close()
    r = redis_client()
    for key in r.keys(namespace + "*"):
        r.delete(key)
    if os.environ.get("MONGODB_URI"):
        import pymongo

        client = pymongo.MongoClient(os.environ["MONGODB_URI"])
        for name in client.list_database_names():
            if name.startswith(w.mongo_name()):
                client.drop_database(name)


@pytest.fixture(scope="module")
def scenarios(world):
    """The three commands' kill-and-rerun scenarios, started side by side."""
    seed = int(os.environ.get("KILLTEST_SEED", random.randrange(10**6)))
    pool = ThreadPoolExecutor(max_workers=len(COMMANDS))
    futures = {c: pool.submit(kill_and_rerun, world, c, seed) for c in COMMANDS}
    yield seed, futures
    pool.shutdown(wait=True)


@pytest.mark.parametrize("command", COMMANDS)
def test_sigkill_then_rerun_at_once_equals_a_clean_run(scenarios, command):
    seed, futures = scenarios
    try:
        report = futures[command].result()
    except AssertionError as exc:
        raise AssertionError(f"KILLTEST_SEED={seed}: {exc}") from None
    print(f"KILLTEST_SEED={seed} {report}")


def test_cli_exits_3_naming_the_holder_when_already_running_or_a_client_is_busy(world):
    from django.test import override_settings

    from smartystats import locks

    me = f"{socket.gethostname()}:{os.getpid()}"
    with override_settings(VIEWSTATS_REDIS_NAMESPACE=world.namespace, SMARTYSTATS_LOCK_PREFIX="",
                           SMARTYSTATS_LOCK_BACKEND="redis", SMARTYSTATS_LOCK_REDIS_URL=REDIS_URL):
        db = world.copy()
        with locks.hold("command:cache_max_online"):
            code, out, err, _, _ = world.run(db, ["cache_max_online", TIME])
        assert code == EXIT_BUSY, err
        assert "cache_max_online is already running" in err and f"held by {me}" in err

        busy, free = world.clients
        with locks.hold(f"fill:{busy}"):
            code, out, err, _, _ = world.run(db, ["cache_customers_dynamic", TIME,
                                               "--series=accounts_active::day"])
        assert code == EXIT_BUSY, err
        assert f"skipped (another run holds their lock): {busy}" in out
        assert f"client {busy}: lock" in err and f"held by {me}" in err
        assert f"client {free}:" not in err
        con = sqlite3.connect(db)
        filled = {c for (c,) in con.execute("SELECT DISTINCT client_id FROM smartystats_count")}
        con.close()
        assert filled == {free}


if __name__ == "__main__":
    _driver(sys.argv[1])
