"""Counters key a day's hours by the local clock hour with its offset, never by elapsed time.

Brute force from the definition: a session belongs to the clock hour its
start shows on the operator's clock, written "YYYY-MM-DDTHH:00:00+hh:mm";
the day's list of hours is every label the clock shows during that date,
found by reading the clock each minute. Operators in UTC, New York on both
2024 DST days, Kolkata and Kathmandu.
"""
import random
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tests.test_boundaries_daily import CASES, HOUR, SEC, in_zone
from tests.test_reports_data import viewer
from viewstats import store
from viewstats.documents import session_document


def hour_label(local):
    return local.replace(minute=0, second=0, microsecond=0).isoformat()


def day_hours(zone, day):
    """The labels the local clock shows on `day`, in the order it shows them."""
    z = ZoneInfo(zone)
    t = datetime(day.year, day.month, day.day, tzinfo=timezone.utc) - 16 * HOUR
    labels = []
    while t < datetime(day.year, day.month, day.day, tzinfo=timezone.utc) + 40 * HOUR:
        local = t.astimezone(z)
        if local.date() == day and hour_label(local) not in labels:
            labels.append(hour_label(local))
        t += timedelta(minutes=1)
    return labels


def generate(client_id, zone, day, seed, n=250):
    rnd = random.Random(seed)
    z = ZoneInfo(zone)
    t0 = datetime(day.year, day.month, day.day, tzinfo=z).astimezone(timezone.utc) - 3 * HOUR
    docs = []
    for i in range(n):
        start = t0 + rnd.randrange(30 * 3600) * SEC
        if rnd.random() < 0.3:  # exactly on a UTC or a local hour
            start = start.replace(minute=0, second=0) if rnd.random() < 0.5 else \
                start.astimezone(z).replace(minute=0, second=0).astimezone(timezone.utc)
        end = start + rnd.choice([0, 1, 600, 3600]) * SEC
        source = rnd.choice(["device", "media_server"])
        doc = session_document(_id=f"c:{client_id}:{seed}:{i}", client_id=client_id, source=source,
                               protocol="hls" if source == "media_server" else "push",
                               start=start, end=end, channel_id=1, ip=f"10.0.0.{rnd.randrange(20)}",
                               user_agent="VLC")
        doc["account_id"] = rnd.choice([None, 1, 2, 3, 4, 5, 6])
        docs.append(doc)
    store.sessions().insert_many([dict(d) for d in docs])
    return docs


def brute(docs, metric, key_of):
    values, viewers = defaultdict(int), defaultdict(set)
    for d in docs:
        key = key_of(d["start"])
        if key is None:
            continue
        values[key] += {"sessions": 1, "watch_time": d["duration"]}.get(metric, 0)
        viewers[key].add(viewer(d))
    return {k: len(v) for k, v in viewers.items()} if metric == "viewers" else dict(values)


@pytest.mark.django_db
@pytest.mark.parametrize("zone,day", CASES)
@pytest.mark.parametrize("metric", ["sessions", "viewers", "watch_time"])
def test_a_days_hours_are_local_clock_hours_with_offset(admin_client, operator, zone, day, metric):
    in_zone(operator, zone)
    z = ZoneInfo(zone)
    docs = generate(operator.client.id, zone, day, seed=CASES.index((zone, day)))
    body = admin_client.get(f"/viewstats/api/stats/{operator.client.id}/{metric}/"
                            f"{day.year}/{day.month}/{day.day}").json()
    labels = day_hours(zone, day)
    assert list(body["data"]) == labels
    assert len(labels) == {("America/New_York", date(2024, 3, 10)): 23,
                           ("America/New_York", date(2024, 11, 3)): 25}.get((zone, day), 24)
    expected = brute(docs, metric, lambda t: hour_label(t.astimezone(z))
                     if t.astimezone(z).date() == day else None)
    assert {k: v for k, v in body["data"].items() if v} == {k: v for k, v in expected.items() if v}
    # A month's days are unchanged: keyed by the local date.
    body = admin_client.get(f"/viewstats/api/stats/{operator.client.id}/{metric}/{day.year}/{day.month}").json()
    expected = brute(docs, metric, lambda t: str(t.astimezone(z).day)
                     if (t.astimezone(z).year, t.astimezone(z).month) == (day.year, day.month) else None)
    assert {k: v for k, v in body["data"].items() if v} == {k: v for k, v in expected.items() if v}


def test_new_york_labels_spelled_out():
    hours = day_hours("America/New_York", date(2024, 3, 10))
    assert hours[:3] == ["2024-03-10T00:00:00-05:00", "2024-03-10T01:00:00-05:00", "2024-03-10T03:00:00-04:00"]
    hours = day_hours("America/New_York", date(2024, 11, 3))
    assert hours[1:4] == ["2024-11-03T01:00:00-04:00", "2024-11-03T01:00:00-05:00", "2024-11-03T02:00:00-05:00"]


@pytest.mark.django_db
def test_a_session_at_0330_edt_is_in_hour_03(admin_client, operator):
    in_zone(operator, "America/New_York")
    at = datetime(2024, 3, 10, 7, 30, tzinfo=timezone.utc)  # 03:30 EDT, 2.5 h after local midnight
    store.sessions().insert_one(session_document(_id="x", client_id=operator.client.id, source="device",
                                                 protocol="push", start=at, end=at + HOUR, channel_id=1))
    data = admin_client.get(f"/viewstats/api/stats/{operator.client.id}/sessions/2024/3/10").json()["data"]
    assert {k: v for k, v in data.items() if v} == {"2024-03-10T03:00:00-04:00": 1}
    minutes = admin_client.get(f"/viewstats/api/stats/{operator.client.id}/sessions/2024/3/10/3").json()
    assert list(minutes["data"]) == [str(m) for m in range(60)]
    assert {k: v for k, v in minutes["data"].items() if v} == {"30": 1}
    r = admin_client.get(f"/viewstats/api/stats/{operator.client.id}/sessions/2024/3/10/2")
    assert r.status_code == 400 and "hour 2" in r.json()["error"]


@pytest.mark.django_db
@pytest.mark.parametrize("zone,day,hour", [("America/New_York", date(2024, 11, 3), 1),
                                           ("America/New_York", date(2024, 3, 10), 3),
                                           ("America/New_York", date(2024, 3, 10), 1),
                                           ("Asia/Kathmandu", date(2024, 11, 3), 0),
                                           ("Asia/Kolkata", date(2024, 3, 10), 5),
                                           ("UTC", date(2024, 3, 10), 23)])
def test_an_hours_minutes_are_local_clock_minutes(admin_client, operator, zone, day, hour):
    in_zone(operator, zone)
    z = ZoneInfo(zone)
    docs = generate(operator.client.id, zone, day, seed=hour, n=400)
    body = admin_client.get(f"/viewstats/api/stats/{operator.client.id}/sessions/"
                            f"{day.year}/{day.month}/{day.day}/{hour}").json()

    def in_hour(t):
        local = t.astimezone(z)
        return local if (local.date(), local.hour) == (day, hour) else None
    # Minutes the clock shows in that hour, in order; an hour shown twice keeps both passes apart.
    shown, t = [], datetime(day.year, day.month, day.day, tzinfo=timezone.utc) - 16 * HOUR
    while t < datetime(day.year, day.month, day.day, tzinfo=timezone.utc) + 40 * HOUR:
        if in_hour(t) is not None:
            shown.append(in_hour(t))
        t += timedelta(minutes=1)
    twice = len({m.minute for m in shown}) < len(shown)
    assert len(shown) == (120 if twice else 60)
    key = (lambda local: local.replace(second=0).isoformat()) if twice else (lambda local: str(local.minute))
    assert list(body["data"]) == [key(m) for m in shown]
    expected = brute(docs, "sessions", lambda t: key(in_hour(t)) if in_hour(t) is not None else None)
    assert sum(expected.values()) > 0
    assert {k: v for k, v in body["data"].items() if v} == expected
