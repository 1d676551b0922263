"""Idempotency under concurrency: the same push or batch from many threads at once counts once.

Both paths rest on one rule that holds on a real MongoDB as well: every
session has a deterministic `_id` (the push key and segment; the batch item
id), so of two concurrent writers one inserts and the other gets a
duplicate-key error, which it treats as "already stored". Nothing is
checked-then-written without that `_id` behind it.
"""
import threading
from datetime import datetime, timedelta, timezone

import pytest
from django.db import connections

from viewstats import batch, host, push, store
from viewstats.origin import Origin

THREADS = 8


def run_together(target, n=THREADS):
    barrier = threading.Barrier(n)
    errors, results = [], [None] * n

    def work(i):
        try:
            barrier.wait()
            results[i] = target(i)
        except Exception as exc:  # collected and failed on below
            errors.append(exc)
        finally:
            # A thread's database connections are its own: left open, they kept
            # PostgreSQL from dropping the test database at the end of the run.
            connections.close_all()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


@pytest.fixture
def login(operator):
    key = operator.login(operator.accounts[0], "mag")
    login = host.login_for_authkey(key)
    # Warm the host lookups here: the threads must not need the test's SQL connection.
    now = datetime.now(timezone.utc)
    host.client_channel_ids(login.client_id)
    for channel in operator.channels[:3]:
        for days in (0, 1):
            host.programme_on_air(login.client_id, channel.id, now - timedelta(days=days))
    host.tariffs_at(login.client_id, login.account_id, now)
    return login


@pytest.mark.django_db
def test_the_same_first_push_from_many_workers_opens_one_session(operator, login):
    params = push.parse_params({"channel_id": str(operator.channels[0].id), "channel_session": "7"})
    now = datetime.now(timezone.utc).replace(microsecond=0)
    ids = run_together(lambda i: push.record_push(login, params, Origin(), now=now))
    stored = list(store.sessions().find({"client_id": login.client_id}))
    assert len(stored) == 1 and set(ids) == {stored[0]["_id"]}

    # Heartbeats racing each other move the end once, never backwards, never a second session.
    later = now + timedelta(seconds=60)
    run_together(lambda i: push.record_push(login, params, Origin(), now=later + timedelta(seconds=i % 2)))
    [session] = store.sessions().find({"client_id": login.client_id})
    assert session["end"] == later + timedelta(seconds=1) and session["duration"] == 61


@pytest.mark.django_db
def test_the_same_batch_from_many_workers_is_stored_once(operator, login):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    items = [{"id": f"item-{n}", "channel_id": operator.channels[n % 3].id,
              "start": (now - timedelta(hours=3, minutes=n)).isoformat(),
              "end": (now - timedelta(hours=2, minutes=n)).isoformat()} for n in range(50)]
    results = run_together(lambda i: batch.ingest_batch(login, items, Origin(), now=now))
    accepted = [item for r in results for item in r.accepted]
    duplicates = [item for r in results for item in r.duplicates]
    assert sorted(accepted) == sorted(i["id"] for i in items)  # each accepted by exactly one worker
    assert len(duplicates) == (THREADS - 1) * len(items)
    assert store.sessions().count_documents({"client_id": login.client_id}) == len(items)
