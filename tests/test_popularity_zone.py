"""The popularity commands count the operator's local days.

"The last N whole days before today" in UTC, Moscow, New York (the window
holding each DST day), Kolkata (+05:30) and Kathmandu (+05:45): the window
and every channel's sessions and watch time against a brute-force clip
written here. VIEWSTATS_POPULARITY_UTC_DAYS brings back Smarty's UTC days.
"""
import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tests.test_boundaries_daily import in_zone
from tests.test_popularity_bruteforce import _doc
from viewstats import store
from viewstats.popularity import service

UTC = timezone.utc
CASES = [("UTC", datetime(2024, 5, 2, 9, 0)), ("Europe/Moscow", datetime(2024, 5, 2, 1, 30)),
         ("America/New_York", datetime(2024, 3, 11, 12, 0)),   # window holds 2024-03-10 (23 h)
         ("America/New_York", datetime(2024, 11, 4, 12, 0)),   # window holds 2024-11-03 (25 h)
         ("Asia/Kolkata", datetime(2024, 5, 2, 0, 10)), ("Asia/Kathmandu", datetime(2024, 5, 1, 23, 0))]


@pytest.fixture
def alpha(db, host_kind):
    from tests.factories import make_operator

    return make_operator("Alpha", channels=4, accounts=2)


def expected_window(zone, now_utc, days):
    local_today = now_utc.astimezone(ZoneInfo(zone)).date()
    start_day = local_today - timedelta(days=days)
    to_utc = lambda d: datetime(d.year, d.month, d.day, tzinfo=ZoneInfo(zone)).astimezone(UTC)  # noqa: E731
    return to_utc(start_day), to_utc(local_today)


def brute(docs, start, end):
    """{channel: (sessions with >= 1 ms inside, clipped seconds)}."""
    out = {}
    for d in docs:
        s, e = max(d["start"], start), min(d["end"], end)
        if e > s:
            n, t = out.get(d["channel_id"], (0, 0))
            out[d["channel_id"]] = (n + 1, t + (e - s).total_seconds())
    return out


@pytest.mark.django_db
@pytest.mark.parametrize("zone,now", CASES)
@pytest.mark.parametrize("days", [1, 3])
def test_window_is_the_operators_local_days(alpha, zone, now, days):
    in_zone(alpha, zone)
    now = now.replace(tzinfo=UTC)
    start, end = expected_window(zone, now, days)
    rnd = random.Random(hash((zone, days)) & 0xffff)
    docs = []
    for i in range(150):
        # Around both edges of the window and inside it.
        anchor = rnd.choice([start, end, start + (end - start) / 2])
        begin = anchor + timedelta(seconds=rnd.randrange(-4 * 3600, 4 * 3600))
        docs.append(_doc(f"z{i}", alpha, rnd.choice(alpha.channels).id, begin, rnd.choice([0, 60, 1800, 7200]),
                         alpha.accounts[0], [alpha.tariffs[0].id], "mag"))
    store.sessions().insert_many([dict(d) for d in docs])
    for d in docs:
        d["start"], d["end"] = d["start"].replace(tzinfo=UTC), d["end"].replace(tzinfo=UTC)
    result = service.build_channel_sorting(alpha.client.id, days_number=days, criterion="watch",
                                           as_of=now)
    assert result["window"] == {"start": start.isoformat().replace("+00:00", "Z"),
                                "end": end.isoformat().replace("+00:00", "Z"), "zone": zone}
    expected = brute(docs, start, end)
    got = {item["id"]: (item["metrics"]["watch_sessions"], item["metrics"]["watch"])
           for item in result["items"] if item["watched"]}
    assert got.keys() == expected.keys()
    for channel, (n, seconds) in expected.items():
        assert got[channel][0] == n and abs(got[channel][1] - seconds) < 1, channel
    hours = (end - start).total_seconds() / 3600
    if zone == "America/New_York" and days == 1:
        assert hours in (23, 25)


@pytest.mark.django_db
def test_utc_days_setting_keeps_smartys_window(alpha, settings):
    in_zone(alpha, "Asia/Kolkata")
    settings.VIEWSTATS_POPULARITY_UTC_DAYS = True
    now = datetime(2024, 5, 2, 0, 10, tzinfo=UTC)
    result = service.build_channel_sorting(alpha.client.id, days_number=2, criterion="watch", as_of=now)
    assert result["window"] == {"start": "2024-04-30T00:00:00Z", "end": "2024-05-02T00:00:00Z", "zone": "UTC"}
