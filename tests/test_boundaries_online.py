"""Max online, online now and the days late sessions touch: a session is online during [start, end).

Brute force written from that definition alone, over generated sessions that
start and end exactly on hour boundaries, cross UTC midnight and have zero
length, for operators in several zones. The chunks here are filled in UTC
hours (zone="UTC"); local hours are tested in test_smartystats_zone.py.
"""
import random
from datetime import datetime, timedelta, timezone

import pytest

from smartystats import fill, online
from smartystats.models import MaxOnline
from viewstats import caching, store

HOUR, SEC = timedelta(hours=1), timedelta(seconds=1)
DAY0 = datetime(2024, 3, 9, tzinfo=timezone.utc)  # the 9th, 10th (New York's spring DST) and 11th
ZONES = ["UTC", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu"]


def in_zone(operator, zone):
    operator.client.time_zone = zone
    operator.client.save()
    caching.clear_all()
    return operator


def online_at(sessions, t):
    """(accounts, customers) whose session holds instant t in its [start, end)."""
    live = [s for s in sessions if s["account_id"] is not None and s["start"] <= t < s["end"]]
    return len({s["account_id"] for s in live}), len({s["customer_id"] for s in live})


def brute_peak(sessions, a, b):
    # The count only changes at a start or an end: its maximum over [a, b) is
    # reached at a or at one of those instants inside.
    instants = {a} | {t for s in sessions for t in (s["start"], s["end"]) if a <= t < b}
    peak = (0, 0)
    for t in instants:
        n = online_at(sessions, t)
        peak = (max(peak[0], n[0]), max(peak[1], n[1]))
    return peak


def generate(client_id, seed, n=120):
    rnd = random.Random(seed)
    docs = []
    for i in range(n):
        hour = DAY0 + rnd.randrange(3 * 24) * HOUR
        kind = rnd.choice(["on_hours", "ends_on_hour", "starts_on_hour", "zero", "midnight", "any"])
        if kind == "on_hours":
            start, end = hour, hour + rnd.randrange(1, 4) * HOUR
        elif kind == "ends_on_hour":
            start, end = hour - rnd.randrange(1, 5400) * SEC, hour
        elif kind == "starts_on_hour":
            start, end = hour, hour + rnd.randrange(1, 7200) * SEC
        elif kind == "zero":
            start = end = rnd.choice([hour, hour + rnd.randrange(3600) * SEC])
        elif kind == "midnight":  # ends at, starts at, or crosses UTC midnight
            midnight = DAY0 + rnd.randrange(1, 3) * timedelta(days=1)
            start = midnight - rnd.choice([0, 1, 600, 3600]) * SEC
            end = rnd.choice([midnight, midnight + rnd.randrange(1, 7200) * SEC, start])
            start = min(start, end)
        else:
            start = hour + rnd.randrange(3600) * SEC
            end = start + rnd.randrange(0, 10800) * SEC
        account = rnd.randrange(12)
        docs.append({"_id": f"b:{client_id}:{seed}:{i}", "client_id": client_id, "source": "device",
                     "protocol": "batch", "start": start, "end": end,
                     "duration": int((end - start).total_seconds()),
                     "account_id": None if rnd.random() < 0.05 else 1000 + account,
                     "customer_id": 2000 + account // 3, "channel_id": 1,
                     "received_at": end, "updated_at": end})
    store.sessions().insert_many([dict(d) for d in docs])
    return docs


@pytest.mark.django_db
@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("seed", [1, 2])
def test_hourly_and_daily_peaks_match_brute_force(operator, zone, seed):
    in_zone(operator, zone)
    cid = operator.client.id
    docs = generate(cid, seed)
    hours = [DAY0 + i * HOUR for i in range(3 * 24 + 1)]
    assert online.peaks(cid, hours) == [brute_peak(docs, a, b) for a, b in zip(hours, hours[1:])]
    # Through the cache: each day's chunk and its day row.
    for d in range(3):
        day = DAY0 + timedelta(days=d)
        fill.fill_max_online_chunk(cid, day, day + timedelta(days=1), zone="UTC")
        rows = {r.bucket_start: (r.accounts, r.customers)
                for r in MaxOnline.objects.filter(client_id=cid, frequency=MaxOnline.HOUR,
                                                  bucket_start__gte=day,
                                                  bucket_start__lt=day + timedelta(days=1))}
        for h in range(24):
            a = day + h * HOUR
            assert rows.get(a, (0, 0)) == brute_peak(docs, a, a + HOUR), a
        row = MaxOnline.objects.get(client_id=cid, frequency=MaxOnline.DAY, bucket_start=day)
        assert (row.accounts, row.customers) == brute_peak(docs, day, day + timedelta(days=1))


@pytest.mark.django_db
def test_a_session_ending_on_the_hour_is_not_in_that_hour(operator):
    cid = operator.client.id
    noon = datetime(2024, 3, 10, 12, tzinfo=timezone.utc)
    store.sessions().insert_many([
        {"_id": "a", "client_id": cid, "start": noon - HOUR, "end": noon, "account_id": 1, "customer_id": 1},
        {"_id": "b", "client_id": cid, "start": noon + 30 * SEC, "end": noon + 30 * SEC,  # zero length
         "account_id": 2, "customer_id": 2},
        {"_id": "c", "client_id": cid, "start": noon + HOUR, "end": noon + 2 * HOUR, "account_id": 3,
         "customer_id": 3},
    ])
    assert online.peaks(cid, [noon - HOUR, noon, noon + HOUR, noon + 2 * HOUR]) == [
        (1, 1), (0, 0), (1, 1)]
    # A hand-over at 13:00: "c" starts the instant "a2" ends, never both online.
    store.sessions().insert_one({"_id": "a2", "client_id": cid, "start": noon + 30 * SEC,
                                 "end": noon + HOUR, "account_id": 4, "customer_id": 4})
    assert online.peaks(cid, [noon, noon + HOUR, noon + 2 * HOUR]) == [(1, 1), (1, 1)]
    assert online.peaks(cid, [noon, noon + 2 * HOUR]) == [(1, 1)]


@pytest.mark.django_db
def test_online_now_is_start_to_end_plus_timeout_half_open(operator, settings):
    settings.VIEWSTATS_PUSH_SESSION_TIMEOUT = 180
    cid = operator.client.id
    now = datetime(2024, 11, 3, 6, 0, tzinfo=timezone.utc)
    timeout = timedelta(seconds=180)
    cases = {  # account: (start, end, online now?)
        1: (now - HOUR, now - timeout, False),             # last heartbeat exactly timeout old
        2: (now - HOUR, now - timeout + SEC, True),
        3: (now, now, True),                               # first push just now (zero length)
        4: (now - timeout, now - timeout, False),           # one push, exactly timeout ago
        5: (now + SEC, now + HOUR, False),                 # not started yet
        6: (now - HOUR, now + HOUR, True),
    }
    store.sessions().insert_many([
        {"_id": str(a), "client_id": cid, "start": s, "end": e, "account_id": a, "customer_id": a}
        for a, (s, e, _) in cases.items()])
    expected = sum(1 for _, _, on in cases.values() if on)
    assert online.online_now(cid, now) == {"accounts": expected, "customers": expected}


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_late_sessions_touch_the_utc_days_of_their_online_instants(operator, seed):
    cid = operator.client.id
    docs = generate(cid, seed, n=60)
    since, until = DAY0 - timedelta(days=30), DAY0 + timedelta(days=10)
    filled = DAY0 + timedelta(days=2, hours=5)
    expected = set()
    for d in docs:
        if d["account_id"] is None or d["start"] >= filled:
            continue
        t = d["start"]
        while t < min(d["end"], filled):  # every online second (sessions are whole seconds)
            expected.add(t.replace(hour=0, minute=0, second=0))
            t = t.replace(minute=0, second=0) + HOUR
    got = {t.astimezone(timezone.utc) if t.tzinfo else t.replace(tzinfo=timezone.utc)
           for t in online.days_touched_by_arrivals(cid, since, until, filled)}
    assert got == expected


@pytest.mark.django_db
def test_a_late_session_ending_at_midnight_touches_one_day(operator):
    cid = operator.client.id
    midnight = DAY0 + timedelta(days=1)
    late = {"client_id": cid, "account_id": 1, "customer_id": 1, "received_at": DAY0 + timedelta(days=5)}
    store.sessions().insert_many([{"_id": "x", "start": midnight - HOUR, "end": midnight, **late}])
    touched = online.days_touched_by_arrivals(cid, DAY0, DAY0 + timedelta(days=6), DAY0 + timedelta(days=3))
    assert {t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t for t in touched} == {DAY0}
    store.sessions().insert_one({"_id": "y", "start": midnight - HOUR, "end": midnight + SEC, **late})
    touched = online.days_touched_by_arrivals(cid, DAY0, DAY0 + timedelta(days=6), DAY0 + timedelta(days=3))
    assert {t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t for t in touched} == {DAY0, midnight}
