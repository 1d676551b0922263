"""Locks that survive crashes: short renewed leases, named owners, dead owners' locks
taken over at once, release on every way out, namespaces, and the commands' exit status."""
import json
import os
import signal
import socket
import subprocess
import time
from datetime import datetime, timezone
from io import StringIO

import pytest
from django.core.management import call_command, load_command_class
from django.core.management.base import CommandError
from django.test import override_settings

from smartystats import commandutils, locks
from tests.conftest import RUN_NAMESPACE

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ME = f"{socket.gethostname()}:{os.getpid()}"
NOW = datetime(2024, 3, 10, 14, 37, 21, tzinfo=timezone.utc)


@pytest.fixture(params=["redis", "file"])
def backend(request, tmp_path):
    with override_settings(SMARTYSTATS_LOCK_BACKEND=request.param, SMARTYSTATS_LOCK_REDIS_URL=REDIS_URL,
                           SMARTYSTATS_LOCK_DIR=str(tmp_path)):
        yield request.param


@pytest.fixture
def redis_locks():
    with override_settings(SMARTYSTATS_LOCK_BACKEND="redis", SMARTYSTATS_LOCK_REDIS_URL=REDIS_URL):
        yield locks.redis_connection()


def owner_value(**fields):
    return json.dumps({"host": "elsewhere", "boot": "b", "pidns": "pid:[1]", "pid": 4242, "start": "7",
                       "token": "t", **fields})


def test_keys_are_namespaced_per_deployment_and_per_test_run():
    assert locks.key_for("x") == f"{RUN_NAMESPACE}:smartystats:lock:x"  # tests/conftest.py
    with override_settings(VIEWSTATS_REDIS_NAMESPACE="middleware-a"):
        assert locks.key_for("x") == "middleware-a:smartystats:lock:x"
        with override_settings(SMARTYSTATS_LOCK_PREFIX="own:"):
            assert locks.key_for("x") == "own:x"
    with override_settings(VIEWSTATS_REDIS_NAMESPACE=""):
        assert locks.key_for("x") == "smartystats:lock:x"


def test_two_namespaces_hold_the_same_lock_at_once(backend):
    with override_settings(VIEWSTATS_REDIS_NAMESPACE=f"{RUN_NAMESPACE}-a"):
        with locks.hold("command:cache_max_online"):
            with override_settings(VIEWSTATS_REDIS_NAMESPACE=f"{RUN_NAMESPACE}-b"):
                with locks.hold("command:cache_max_online"):
                    pass
            with pytest.raises(locks.LockBusy):
                with locks.hold("command:cache_max_online"):
                    pass


def test_the_busy_message_names_the_owner(backend):
    with locks.hold("named"):
        with pytest.raises(locks.LockBusy) as busy:
            with locks.hold("named"):
                pass
    assert f"held by {ME}" in str(busy.value) and busy.value.owner == ME


def test_released_on_every_way_out(backend):
    for exc in (ValueError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(exc)):
            with locks.hold("exits"):
                raise exc
        with locks.hold("exits"):
            pass
    if backend == "redis":
        assert not locks.redis_connection().exists(locks.key_for("exits"))


def test_a_redis_lease_is_short_and_renewed_while_held(redis_locks):
    key = locks.key_for("lease")
    with override_settings(SMARTYSTATS_LOCK_LEASE_SECONDS=0.6):
        with locks.hold("lease"):
            time.sleep(2.0)  # over three leases
            assert 0 < redis_locks.pttl(key) <= 600
            assert json.loads(redis_locks.get(key))["pid"] == os.getpid()
    assert not redis_locks.exists(key)


def _hold_in_a_child(name):
    """Fork a process that holds lock `name` until killed; its pid."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(read)
            with locks.hold(name):
                os.write(write, b"held")
                time.sleep(60)
        finally:
            os._exit(0)
    os.close(write)
    assert os.read(read, 4) == b"held"
    os.close(read)
    return pid


def test_a_killed_holder_frees_the_lock_at_once(backend):
    child = _hold_in_a_child("command:killed")
    try:
        with pytest.raises(locks.LockBusy, match=f"held by {socket.gethostname()}:{child}"):
            with locks.hold("command:killed"):
                pass
    finally:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
    if backend == "redis":  # still there, with up to a minute of lease left
        assert locks.redis_connection().pttl(locks.key_for("command:killed")) > 0
    started = time.monotonic()
    with locks.hold("command:killed"):
        pass
    assert time.monotonic() - started < 1


def test_an_owner_on_another_machine_is_waited_for_not_taken_over(redis_locks):
    key = locks.key_for("remote")
    redis_locks.set(key, owner_value(), px=800)
    with pytest.raises(locks.LockBusy, match=r"held by elsewhere:4242 \(Redis; its lease ends in"):
        with locks.hold("remote"):
            pass
    time.sleep(1.0)  # its lease ran out: nobody renewed it
    with locks.hold("remote"):
        pass


def test_a_value_of_unknown_shape_is_never_broken(redis_locks):
    key = locks.key_for("legacy")
    redis_locks.set(key, "0123456789abcdef", px=60_000)  # e.g. a redis-py Lock token
    try:
        with pytest.raises(locks.LockBusy, match="held by an unknown owner"):
            with locks.hold("legacy"):
                pass
    finally:
        redis_locks.delete(key)


def test_owner_liveness():
    machine = locks._machine()
    me = {**machine, "pid": os.getpid(), "start": locks._start_time(os.getpid())}
    assert not locks.owner_is_dead(me)
    assert locks.owner_is_dead({**me, "start": "1"})  # the pid now belongs to another process
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert locks.owner_is_dead({**machine, "pid": gone.pid, "start": "1"})
    assert not locks.owner_is_dead({**me, "pid": gone.pid, "host": "elsewhere"})
    assert not locks.owner_is_dead({**me, "pid": gone.pid, "pidns": "pid:[0]"})  # another container
    assert not locks.owner_is_dead(None)


def test_a_lost_lease_stops_the_holder(redis_locks):
    key = locks.key_for("stolen")
    with override_settings(SMARTYSTATS_LOCK_LEASE_SECONDS=0.6):
        with pytest.raises(locks.LockLost, match="was lost: its lease ran out and elsewhere:4242 took it"):
            with locks.hold("stolen"):
                # Frozen past the lease, say, and another run took the lock.
                redis_locks.set(key, owner_value(), xx=True, px=60_000)
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    time.sleep(0.02)
    assert json.loads(redis_locks.get(key))["host"] == "elsewhere"  # theirs, left alone
    redis_locks.delete(key)


def test_a_lapsed_lease_nobody_took_is_taken_again(redis_locks):
    key = locks.key_for("lapsed")
    with override_settings(SMARTYSTATS_LOCK_LEASE_SECONDS=0.6):
        with locks.hold("lapsed"):
            redis_locks.delete(key)  # e.g. Redis restarted without persistence
            time.sleep(1.0)
            assert json.loads(redis_locks.get(key))["pid"] == os.getpid()
    assert not redis_locks.exists(key)


# --- the commands' exit status ---------------------------------------------------

@pytest.mark.django_db
def test_a_busy_client_makes_the_command_exit_3(operator, backend, capsys):
    from viewstats import store

    # From the shell, an empty embedded store is refused (command_guard): give it a session.
    store.sessions().insert_one({"_id": "one", "client_id": operator.client.id, "account_id": None,
                                 "start": NOW, "end": NOW, "duration": 0})
    with locks.hold(f"fill:{operator.client.id}"):
        command = load_command_class("smartystats", "cache_max_online")
        call_command(command, time=NOW.isoformat())
        assert [c for c, _ in command.busy_clients] == [operator.client.id]
        assert ME in command.busy_clients[0][1]
        with pytest.raises(SystemExit) as exited:
            load_command_class("smartystats", "cache_max_online").run_from_argv(
                ["manage.py", "cache_max_online", f"--time={NOW.isoformat()}"])
    assert exited.value.code == commandutils.EXIT_BUSY == 3
    err = capsys.readouterr().err
    assert f"client {operator.client.id}: lock" in err and f"held by {ME}" in err and "Exit status 3" in err


@pytest.mark.django_db
def test_a_busy_run_lock_exits_3_and_a_lost_lock_4(operator, monkeypatch):
    with locks.hold("command:save_stats"):
        with pytest.raises(CommandError, match=f"save_stats is already running .*held by {ME}") as busy:
            call_command("save_stats", time=NOW.isoformat())
    assert busy.value.returncode == 3

    def lose(*args):
        raise locks.LockLost("lock 'x' was lost")

    monkeypatch.setattr(commandutils.StatsCommand, "run", lose)
    with pytest.raises(CommandError, match="was lost. Run it again") as lost:
        call_command("save_stats", time=NOW.isoformat())
    assert lost.value.returncode == commandutils.EXIT_LOCK_LOST == 4


@pytest.mark.django_db(transaction=True)
def test_on_rq_a_busy_client_fails_its_job_naming_the_holder(operator):
    import django_rq
    from rq import SimpleWorker
    from rq.job import Job

    queue_name = f"{RUN_NAMESPACE}-busy"
    with override_settings(SMARTY_USE_RQ=True, VIEWSTATS_RQ_QUEUE=queue_name,
                           RQ_QUEUES={queue_name: {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 60}},
                           RQ={"COMMIT_MODE": "auto"}, SMARTYSTATS_LOCK_BACKEND="redis",
                           SMARTYSTATS_LOCK_REDIS_URL=REDIS_URL):
        queue = django_rq.get_queue(queue_name)
        try:
            out = StringIO()
            call_command("cache_max_online", time=NOW.isoformat(), stdout=out)
            [job_id] = [line.split()[-1] for line in out.getvalue().splitlines() if "queued RQ job" in line]
            with locks.hold(f"fill:{operator.client.id}"):
                SimpleWorker([queue], connection=queue.connection).work(burst=True)
            assert queue.failed_job_registry.get_job_ids() == [job_id]
            failure = Job.fetch(job_id, connection=queue.connection).latest_result().exc_string
            assert "LockBusy" in failure and f"held by {ME}" in failure
        finally:
            queue.empty()
            queue.delete(delete_jobs=True)
            for key in queue.connection.keys(f"rq:*{queue_name}*"):
                queue.connection.delete(key)
