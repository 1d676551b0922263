"""Max online takes in sessions that arrive after their hours were cached."""
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from django.test import override_settings

from smartystats import jobs
from tvmiddleware.fixtures import generate
from tests.test_smartystats_dynamics import NOW, check_max_online
from viewstats import store

SETTLED = NOW + timedelta(minutes=10)
LATER = NOW + timedelta(hours=3)
CHECK_UNTIL = datetime(2024, 3, 10, 17, tzinfo=timezone.utc)  # LATER minus the timeout, floored


@pytest.fixture(autouse=True)
def isolated_locks():
    with override_settings(SMARTYSTATS_LOCK_PREFIX=f"test-smartystats-{uuid.uuid4().hex}:"):
        yield


def session(i, account, start, minutes, **extra):
    doc = {"_id": f"late-{i}", "client_id": account.client_id, "source": "device", "protocol": "batch",
           "account_id": account.id, "customer_id": account.customer_id, "channel_id": 1,
           "start": start, "end": start + timedelta(minutes=minutes), "duration": minutes * 60,
           "received_at": LATER - timedelta(minutes=30), "updated_at": LATER - timedelta(minutes=30)}
    doc.update(extra)
    return doc


@pytest.mark.django_db
def test_late_uploads_and_resent_backlogs_update_cached_peaks(operator):
    world = generate(operator.client, now=NOW, seed=21)
    first = jobs.cache_max_online(world.client_id, NOW.isoformat())
    assert first["hours"] > 0 and first["late_days"] == 0
    check_max_online(world)
    jobs.cache_max_online(world.client_id, SETTLED.isoformat())  # takes in the world's own stragglers
    # Two days later an app uploads a buffered evening of six accounts watching
    # together, and a media server resends a backlog that extends an old
    # session (stored long ago, rebuilt now) across midnight.
    evening = datetime(2024, 3, 8, 20, 0, tzinfo=timezone.utc)
    late = [session(i, acc, evening + timedelta(minutes=i), 120)
            for i, acc in enumerate(world.accounts[:6])]
    late.append(session(99, world.accounts[7], datetime(2024, 3, 3, 23, 30, tzinfo=timezone.utc), 90,
                        source="media_server", received_at=NOW - timedelta(days=7)))
    store.sessions().insert_many(late)
    world.sessions.extend(late)
    second = jobs.cache_max_online(world.client_id, LATER.isoformat())
    assert second["late_days"] == 3  # 8 March, and 3 and 4 March
    check_max_online(world, until=CHECK_UNTIL)
    # Nothing new arrived: nothing is recomputed.
    assert jobs.cache_max_online(world.client_id, (LATER + timedelta(minutes=5)).isoformat())["late_days"] == 0


@pytest.mark.django_db
def test_heartbeats_of_an_old_push_session_are_not_arrivals(operator):
    world = generate(operator.client, now=NOW, seed=22)
    jobs.cache_max_online(world.client_id, NOW.isoformat())
    jobs.cache_max_online(world.client_id, SETTLED.isoformat())
    # A push session first stored long ago whose document a heartbeat touched
    # since (updated_at is new, received_at old): not an arrival.
    old = session(1, world.accounts[0], datetime(2024, 3, 5, 10, tzinfo=timezone.utc), 30, protocol="push",
                  received_at=datetime(2024, 3, 5, 10, tzinfo=timezone.utc))
    store.sessions().insert_one(old)
    assert jobs.cache_max_online(world.client_id, LATER.isoformat())["late_days"] == 0
