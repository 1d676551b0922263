"""stat/push sessionisation against an independent model of the documented rules."""
import random
from datetime import datetime, timedelta, timezone

import pytest

from viewstats import host, store
from viewstats.origin import Origin
from viewstats.push import PushParams, record_push

TIMEOUT = 180


def expected_sessions(pushes):
    """The README's rules, replayed naively: [(channel_session, start, end)]."""
    sessions = []
    timeout = timedelta(seconds=TIMEOUT)
    for t, cs in pushes:
        last = sessions[-1] if sessions else None
        if last and last[0] != cs:
            earlier = [x for x in sessions if x[0] == cs]
            if earlier and t - earlier[-1][2] <= timeout:
                continue  # a late retry of a channel the device already left
        if last and t - last[2] <= timeout:
            if last[0] == cs:
                last[2] = max(last[2], t)
                continue
            last[2] = max(last[2], t)  # switched channel: previous ends now
        sessions.append([cs, t, t])
    return sorted((cs, s, e) for cs, s, e in sessions)


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_random_push_streams_match_the_model(operator, seed):
    rng = random.Random(seed)
    login = host.login_for_authkey(operator.login(operator.accounts[0]))
    t = datetime(2026, 11, 20, 18, 0, tzinfo=timezone.utc)
    cs = 1
    pushes = []
    for _ in range(120):
        t += timedelta(seconds=rng.choice((0, 30, 60, 60, 60, 90, 179, 180, 181, 400)))
        if rng.random() < 0.15:
            cs = rng.choice((cs + 1, cs + 1, max(1, cs - 1)))  # reuse happens: counters reset
        pushes.append((t, cs))
    for t, cs in pushes:
        record_push(login, PushParams(channel_id=operator.channels[cs % 3].id, channel_session=cs,
                                      program_id=None, timeshift_offset=0, kind="live",
                                      previous_channel_id=None), Origin(), now=t)
    stored = sorted((s["channel_session"], s["start"], s["end"])
                    for s in store.sessions().find({"client_id": operator.client.id}))
    assert stored == expected_sessions(pushes)
    for s in store.sessions().find({"client_id": operator.client.id}):
        assert s["duration"] == (s["end"] - s["start"]).total_seconds()
