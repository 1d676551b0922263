"""Per-period counters API against brute force over generated sessions."""
from collections import defaultdict

import pytest

from tests.test_reports_data import base_time, make_sessions, viewer

HOST_KINDS = ("reference", "toy")  # the feature works the same on any host


def brute(docs, metric, segment_of):
    values = defaultdict(int)
    viewers = defaultdict(set)
    for d in docs:
        seg = segment_of(d["start"])
        if seg is None:
            continue
        values[seg] += {"sessions": 1, "watch_time": d["duration"]}.get(metric, 0)
        viewers[seg].add(viewer(d))
    if metric == "viewers":
        return {k: len(v) for k, v in viewers.items()}
    return dict(values)


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [41, 42, 43])
@pytest.mark.parametrize("metric", ["sessions", "viewers", "watch_time"])
def test_day_hours_and_month_days(admin_client, operator, other_operator, seed, metric):
    docs = make_sessions(operator, seed, n=200)
    make_sessions(other_operator, seed + 1, n=50)
    day = base_time() .date()
    url = f"/viewstats/api/stats/{operator.client.id}/{metric}/{day.year}/{day.month}/{day.day}"
    body = admin_client.get(url).json()
    assert (body["year"], body["month"], body["day"], body["hour"]) == (day.year, day.month, day.day, None)
    assert len(body["data"]) == 24
    # A day's hours are keyed by the local clock hour they start at, with its offset (UTC here).
    assert list(body["data"]) == [f"{day.isoformat()}T{h:02d}:00:00+00:00" for h in range(24)]
    expected = brute(docs, metric, lambda t: t.replace(minute=0, second=0).isoformat()
                     if t.date() == day else None)
    assert {k: v for k, v in body["data"].items() if v} == {k: v for k, v in expected.items() if v}
    body = admin_client.get(f"/viewstats/api/stats/{operator.client.id}/{metric}/{day.year}/{day.month}").json()
    expected = brute(docs, metric, lambda t: t.day if (t.year, t.month) == (day.year, day.month) else None)
    assert {int(k): v for k, v in body["data"].items() if v} == {k: v for k, v in expected.items() if v}


@pytest.mark.django_db
def test_hour_minutes_year_months_and_all(admin_client, operator, other_operator):
    docs = make_sessions(operator, 44, n=300, span_hours=2)
    others = make_sessions(other_operator, 45, n=100, span_hours=2)
    t = base_time()
    body = admin_client.get(f"/viewstats/api/stats/{operator.client.id}/sessions/"
                            f"{t.year}/{t.month}/{t.day}/{t.hour}").json()
    assert len(body["data"]) == 60
    expected = brute(docs, "sessions", lambda s: s.minute if s.replace(minute=0, second=0) == t else None)
    assert {int(k): v for k, v in body["data"].items() if v} == expected
    body = admin_client.get(f"/viewstats/api/stats/all/sessions/{t.year}").json()
    assert body["client"] == "all" and len(body["data"]) == 12
    assert body["data"][str(t.month)] == len([d for d in docs + others if d["start"].month == t.month
                                              and d["start"].year == t.year])
    # Viewers over a month are counted over the month, not summed over days.
    month = admin_client.get(f"/viewstats/api/stats/{operator.client.id}/viewers/{t.year}").json()
    in_month = [d for d in docs if (d["start"].year, d["start"].month) == (t.year, t.month)]
    assert month["data"][str(t.month)] == len({viewer(d) for d in in_month})


@pytest.mark.django_db
def test_bad_periods_and_metrics(admin_client, operator):
    base = f"/viewstats/api/stats/{operator.client.id}"
    assert admin_client.get(f"{base}/bogus/2024").status_code == 400
    assert admin_client.get(f"{base}/sessions/2024/13").status_code == 400
    assert admin_client.get(f"{base}/sessions/2024/2/30").status_code == 400
    assert admin_client.get(f"{base}/sessions/2024/2/3/24").status_code == 400
    assert admin_client.get(f"{base}/sessions/2024/2/29").status_code == 200
