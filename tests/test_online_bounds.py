"""Max online, online now and late arrivals read a window, not the history, and answer as before.

Answers are checked against brute force from the definitions (online during
[start, end)), over sessions that include some longer than
store.LONG_SESSION_SECONDS: a box left playing for days is online in every
hour it spans, though the queries look only that far past a window on the
end index. What the queries read on a real server is worked out with the
index-scan model of tests/test_sessions_paging.py.
"""
import random
from datetime import datetime, timedelta, timezone

import pytest
from mongomock_ng.filtering import filter_applies

from smartystats import online
from tests.test_boundaries_online import brute_peak
from tests.test_sessions_paging import _predicates, index_model, keys_examined
from viewstats import store

HOUR, SEC, DAY = timedelta(hours=1), timedelta(seconds=1), timedelta(days=1)
DAY0 = datetime(2024, 6, 1, tzinfo=timezone.utc)
LONG = timedelta(seconds=store.LONG_SESSION_SECONDS)


def session(client_id, n, start, end, account, **extra):
    return {"_id": f"t:{client_id}:{n}", "client_id": client_id, "source": "device", "protocol": "push",
            "start": start, "end": end, "duration": int((end - start).total_seconds()),
            "account_id": account, "customer_id": None if account is None else 500 + account // 2,
            "channel_id": 1, "received_at": start, "updated_at": end, **extra}


def generate(client_id, seed, days=12, n=900):
    """Sessions over `days` days from DAY0; about one in twelve lasts one to
    four days, a few end exactly on an hour, a few have no length."""
    rnd = random.Random(seed)
    docs = []
    for i in range(n):
        start = DAY0 + rnd.randrange(days * 24 * 60) * 60 * SEC
        kind = rnd.random()
        if kind < 0.08:
            length = LONG + rnd.choice([SEC, HOUR, DAY, 2 * DAY, 3 * DAY])
        elif kind < 0.12:
            length = LONG - rnd.choice([0, 1]) * SEC
        elif kind < 0.15:
            length = timedelta(0)
        elif kind < 0.25:
            end = (start + rnd.randrange(1, 4) * HOUR).replace(minute=0)
            length = max(end - start, timedelta(0))
        else:
            length = rnd.randrange(1, 4 * 3600) * SEC
        account = None if rnd.random() < 0.05 else rnd.randrange(40)
        docs.append(session(client_id, i, start, start + length, account))
    store.sessions().insert_many([dict(d) for d in docs])
    return docs


def online_now_brute(docs, now, timeout):
    live = [d for d in docs if d["account_id"] is not None and d["start"] <= now and d["end"] > now - timeout]
    return {"accounts": len({d["account_id"] for d in live}),
            "customers": len({d["customer_id"] for d in live if d["customer_id"] is not None})}


@pytest.fixture
def calls(monkeypatch):
    """Every (pipeline, index, rows returned) online.py sends, in order."""
    seen = []
    real = online._aggregate

    def recording(pipeline, index):
        rows = list(real(pipeline, index))
        seen.append((pipeline, index, len(rows)))
        return iter(rows)
    monkeypatch.setattr(online, "_aggregate", recording)
    return seen


def assert_hinted_and_bounded(pipeline, index, field):
    """The $match leads with client_id and bounds the hinted index's `field` on
    both sides, or names what makes a partial index hold every row it wants."""
    match = pipeline[0]["$match"]
    model = index_model(index)
    assert list(match)[0] == "client_id" and list(model["key"])[:2] == ["client_id", field]
    bounds = _predicates(match, field)
    assert any("$gt" in b or "$gte" in b for b in bounds), (index, match)
    partial = model.get("partialFilterExpression")
    if partial:
        assert {k: match[k] for k in partial} == partial
    else:
        assert any("$lt" in b or "$lte" in b for b in bounds), (index, match)


# ------------------------------------------------------------------ results

@pytest.mark.parametrize("seed", [1, 2])
def test_peaks_of_any_window_match_brute_force(seed, calls):
    docs = generate(7, seed)
    generate(8, seed + 10)  # another client's sessions: never counted
    for first, hours in [(DAY0 + 5 * DAY, 24), (DAY0 + 8 * DAY + 3 * HOUR, 5), (DAY0 - DAY, 30),
                         (DAY0 + 11 * DAY, 72), (DAY0 + 2 * DAY, 24 * 7)]:
        boundaries = [first + i * HOUR for i in range(hours + 1)]
        want = [brute_peak(docs, a, b) for a, b in zip(boundaries, boundaries[1:])]
        assert online.peaks(7, boundaries) == want, first
    # Some sessions ending more than LONG after a window came from the long-session index.
    assert any(index == online.LONG_END_INDEX and rows for _, index, rows in calls)
    for pipeline, index, _ in calls:
        assert_hinted_and_bounded(pipeline, index, "end")


def test_a_session_longer_than_the_lookback_is_online_all_along():
    start = DAY0 + 10 * HOUR
    docs = [session(9, 1, start, start + 3 * DAY, 1),                # online for three days
            session(9, 2, start + DAY, start + DAY + LONG, 2),       # exactly the lookback
            session(9, 3, start + DAY, start + DAY + LONG + SEC, 3),
            session(9, 4, start + 2 * DAY, start + 2 * DAY, 4)]      # zero length: never online
    store.sessions().insert_many([dict(d) for d in docs])
    for day in range(4):
        boundaries = [DAY0 + day * DAY + i * HOUR for i in range(25)]
        want = [brute_peak(docs, a, b) for a, b in zip(boundaries, boundaries[1:])]
        assert online.peaks(9, boundaries) == want


@pytest.mark.parametrize("seed", [3, 4])
def test_online_now_matches_brute_force_at_any_instant(seed, settings, calls):
    settings.VIEWSTATS_PUSH_SESSION_TIMEOUT = 180
    docs = generate(7, seed)
    rnd = random.Random(seed)
    instants = [DAY0 + rnd.randrange(12 * 24 * 60) * 60 * SEC for _ in range(25)]
    instants += [d["end"] for d in docs[:10]] + [d["start"] for d in docs[:10]]
    for now in instants:
        assert online.online_now(7, now) == online_now_brute(docs, now, 180 * SEC), now
    assert any(index == online.LONG_END_INDEX and rows for _, index, rows in calls)
    for pipeline, index, _ in calls:
        assert_hinted_and_bounded(pipeline, index, "end")


def test_online_now_counts_an_account_once_across_long_and_short_sessions(settings):
    settings.VIEWSTATS_PUSH_SESSION_TIMEOUT = 180
    now = DAY0 + 5 * DAY
    docs = [session(9, 1, now - HOUR, now + 3 * DAY, 1),        # ends long after `now`
            session(9, 2, now - 60 * SEC, now + 60 * SEC, 1),   # the same account on another box
            session(9, 3, now - DAY, now + 2 * DAY, 2),
            session(9, 4, now - HOUR, now, 3),
            session(9, 5, now - HOUR, now + 2 * DAY, None)]     # no account: not a subscriber
    store.sessions().insert_many([dict(d) for d in docs])
    assert online_now_brute(docs, now, 180 * SEC) == {"accounts": 3, "customers": 2}
    assert online.online_now(9, now) == {"accounts": 3, "customers": 2}


@pytest.mark.parametrize("seed", [5, 6])
def test_late_arrivals_touch_the_same_days(seed, calls):
    rnd = random.Random(seed)
    docs = generate(7, seed, n=300)
    # Media-server sessions rebuilt later (updated_at), device sessions only
    # extended (updated_at, but arrived before), and late uploads.
    for d in docs:
        roll = rnd.random()
        if roll < 0.3:
            d.update(source="media_server", updated_at=d["end"] + rnd.randrange(0, 5 * 86400) * SEC)
        elif roll < 0.5:
            d["received_at"] = d["start"] + rnd.randrange(0, 5 * 86400) * SEC
        store.sessions().replace_one({"_id": d["_id"]}, d)
    since, until, filled = DAY0 + 4 * DAY, DAY0 + 9 * DAY, DAY0 + 8 * DAY + 5 * HOUR
    want = set()
    for d in docs:
        arrived = since < d["received_at"] <= until or (
            d["source"] == "media_server" and since < d["updated_at"] <= until)
        if not arrived or d["account_id"] is None or d["start"] >= filled or d["end"] <= d["start"]:
            continue
        t = d["start"]
        while t < min(d["end"], filled):
            want.add(t.replace(hour=0, minute=0, second=0, microsecond=0))
            t = t.replace(minute=0, second=0, microsecond=0) + HOUR
    got = {t if t.tzinfo else t.replace(tzinfo=timezone.utc)
           for t in online.days_touched_by_arrivals(7, since, until, filled)}
    assert got == want and want
    assert [index for _, index, _ in calls] == ["client_received", "client_updated"]
    for pipeline, index, _ in calls:
        field = list(index_model(index)["key"])[1]
        assert_hinted_and_bounded(pipeline, index, field)
        assert _predicates(pipeline[0]["$match"], field) == [{"$gt": since, "$lte": until}]


# ------------------------------------------------------------ what they read

def examined(docs, pipeline, index):
    """Keys the hinted index scan reads (every one in bounds: the sweep sorts by start itself)."""
    return keys_examined(docs, pipeline[0]["$match"], index, [("start", 1)])


def test_the_cron_sweep_reads_the_hour_not_the_history(calls):
    docs = generate(7, 11, days=30, n=3000)
    now = DAY0 + 30 * DAY
    hour = now - HOUR  # the hour the cron fills: it ends about now
    online.peaks(7, [hour, now])
    read = sum(examined(docs, pipeline, index) for pipeline, index, _ in calls)
    online_in_hour = sum(1 for d in docs
                         if d["end"] > hour and d["start"] < now and d["account_id"] is not None)
    ending = sum(1 for d in docs if d["end"] > hour)  # on a live system: the hour and the minutes since
    assert online_in_hour <= read <= ending < len(docs) / 20
    # A past week swept at once: the week and the day after it, not the rest.
    calls.clear()
    first = DAY0 + 10 * DAY
    online.peaks(7, [first + i * HOUR for i in range(7 * 24 + 1)])
    read = sum(examined(docs, pipeline, index) for pipeline, index, _ in calls)
    reach = sum(1 for d in docs if first < d["end"] <= first + 8 * DAY
                or (d["end"] > first + 8 * DAY and d["duration"] > store.LONG_SESSION_SECONDS))
    assert read <= reach < len(docs) / 2


def test_online_now_reads_the_last_heartbeats_only(settings, calls):
    settings.VIEWSTATS_PUSH_SESSION_TIMEOUT = 180
    docs = generate(7, 12, days=30, n=3000)
    now = max(d["end"] for d in docs) - 10 * SEC
    online.online_now(7, now)
    read = sum(keys_examined(docs, pipeline[0]["$match"], index, []) for pipeline, index, _ in calls)
    assert read == sum(1 for d in docs if d["end"] > now - 180 * SEC)
    assert read < 20


def test_the_long_session_index_holds_exactly_the_sessions_past_the_lookback():
    partial = index_model(online.LONG_END_INDEX)["partialFilterExpression"]
    assert filter_applies(partial, {"duration": store.LONG_SESSION_SECONDS + 1})
    assert not filter_applies(partial, {"duration": store.LONG_SESSION_SECONDS})
