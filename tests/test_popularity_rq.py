"""With SMARTY_USE_RQ on, the commands queue one job per client on the real Redis.

A SimpleWorker in burst mode runs the jobs in this process, so they see the
embedded MongoDB and the test database. django-rq's default commit mode
defers an enqueue to the end of the surrounding transaction, which in a test
never comes; COMMIT_MODE "auto" enqueues at once. If Redis is down this
test fails: it is not skipped.
"""
import io
import json
import os
from datetime import timedelta

import django_rq
import pytest
from django.core.management import call_command
from django.test import override_settings
from rq import SimpleWorker
from rq.job import Job

from tests.test_popularity_bruteforce import AS_OF, DAY0
from tests.test_popularity_commands import SORTING, sessions
from tvmiddleware import models as m
from viewstats import documents

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
QUEUE = f"test_popularity_{os.getpid()}"


@pytest.fixture
def rq_on():
    queues = {QUEUE: {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 60}}
    with override_settings(SMARTY_USE_RQ=True, VIEWSTATS_RQ_QUEUE=QUEUE, RQ_QUEUES=queues,
                           RQ={"COMMIT_MODE": "auto"}):
        queue = django_rq.get_queue(QUEUE)
        queue.empty()
        documents.set_clock(lambda: AS_OF)
        yield queue
        documents.set_clock(None)
        queue.empty()
        queue.delete(delete_jobs=True)


@pytest.mark.django_db
def test_commands_queue_one_job_per_client_and_a_worker_runs_them(rq_on):
    from tests.factories import make_operator

    alpha = make_operator("Alpha", channels=4, epg_day=DAY0)
    beta = make_operator("Beta", channels=3, epg_day=DAY0)
    sessions(alpha, (DAY0 + timedelta(hours=1), 700), channel=3)
    sessions(beta, (DAY0 + timedelta(hours=1), 700), channel=1)
    out = io.StringIO()
    call_command(SORTING, f"--client_id={alpha.client.id},{beta.client.id}", "--days_number=2",
                 "--criterion=watch", "--format=json", stdout=out)
    payload = json.loads(out.getvalue())
    assert payload["queue"] == QUEUE
    jobs = {row["client_id"]: row["job_id"] for row in payload["queued"]}
    assert set(jobs) == {alpha.client.id, beta.client.id}
    assert rq_on.count == 2
    assert not m.ChannelSorting.objects.exists()  # nothing ran yet

    text = io.StringIO()
    call_command(SORTING, f"--client_id={alpha.client.id}", "--days_number=2", "--criterion=watch",
                 stdout=text)
    assert f"on queue '{QUEUE}'" in text.getvalue() and "rqworker" in text.getvalue()

    SimpleWorker([rq_on], connection=rq_on.connection).work(burst=True)
    assert rq_on.count == 0
    results = {}
    for client_id, job_id in jobs.items():
        job = Job.fetch(job_id, connection=rq_on.connection)
        assert job.is_finished, job.latest_result()
        results[client_id] = job.return_value()
    assert results[alpha.client.id]["items"][0]["id"] == alpha.channels[3].id
    assert results[beta.client.id]["items"][0]["id"] == beta.channels[1].id
    # Two runs for Alpha (the second updated the first), one for Beta.
    assert m.ChannelSorting.objects.filter(client=alpha.client).count() == 1
    assert m.ChannelSorting.objects.filter(client=beta.client).count() == 1
    sorting = m.ChannelSorting.objects.get(client=alpha.client)
    assert sorting.items.first().channel_id == alpha.channels[3].id
