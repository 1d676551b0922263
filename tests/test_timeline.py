"""The report charts' timeline against a brute-force count over the generated sessions.

Hours and days are the operator's local ones: whole-hour, +05:30 and +05:45
zones, and New York on the days its clocks go forward (23 hours) and back
(25 hours, the repeated 01:00 kept apart). Daily points come from the
rollup cells and must equal the raw sessions' figures too.
"""
import random
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tests.test_boundaries_daily import in_zone
from tests.test_reports_data import make_sessions, viewer
from tests.test_rollups import ZONES, first_day, local_midnight_utc, seed_data
from viewstats.reports import timeline
from viewstats.reports.filters import FilterError, parse_filters
from viewstats.reports.run import run

UTC = timezone.utc


def brute(docs, zone, first, last, step, keep=lambda d: True):
    """{local bucket start ISO: figures}, every bucket of the local days first..last."""
    z = ZoneInfo(zone)
    start = local_midnight_utc(first, zone)
    end = local_midnight_utc(last + timedelta(days=1), zone)
    buckets = []
    t = start
    while t < end:  # walk by the minute: slow, obviously right
        local = t.astimezone(z)
        key = (local.replace(minute=0, second=0, microsecond=0) if step == "hour"
               else datetime(local.year, local.month, local.day, tzinfo=z))
        iso = key.isoformat()
        if not buckets or buckets[-1][0] != iso:
            buckets.append((iso, t))
        t += timedelta(minutes=15)
    out = {iso: {"sessions": 0, "watch_time": 0, "bytes": 0, "viewers": set()} for iso, _ in buckets}
    for d in docs:
        s = d["start"].replace(tzinfo=UTC) if d["start"].tzinfo is None else d["start"]
        if not (start <= s < end) or not keep(d):
            continue
        iso = [b for b, at in buckets if at <= s][-1]
        row = out[iso]
        row["sessions"] += 1
        row["watch_time"] += d["duration"]
        row["bytes"] += d.get("bytes") or 0
        row["viewers"].add(viewer(d))
    return [{"t": iso, **{k: (len(v) if k == "viewers" else v) for k, v in row.items()}}
            for iso, row in out.items()]


@pytest.mark.django_db
@pytest.mark.parametrize("zone,dst_day", ZONES)
def test_timeline_by_hour_and_by_day_equals_brute_force(operator, zone, dst_day):
    in_zone(operator, zone)
    day0 = first_day(zone, dst_day)
    docs = seed_data(operator, zone, day0, seed=41)
    docs += make_sessions(operator, 42, n=40, t0=local_midnight_utc(day0, zone), span_hours=30)
    client = [operator.client.id]
    for first, last, step in ((day0, day0 + timedelta(days=2), "hour"),
                              (day0 + timedelta(days=1), day0 + timedelta(days=1), "hour"),
                              (day0, day0 + timedelta(days=2), "day")):
        params = {"date_from": first.isoformat(), "date_to": last.isoformat(), "step": step}
        got = timeline.timeline(parse_filters(params, client), step)
        assert got["step"] == step and got["zone"] == zone
        assert got["points"] == brute(docs, zone, first, last, step), (first, last, step)
        if step == "day":
            assert got["computed_from"] == "rollups"
    if dst_day is not None:
        hours = timeline.timeline(parse_filters({"date_from": dst_day.isoformat(),
                                                 "date_to": dst_day.isoformat()}, client), "hour")
        assert len(hours["points"]) == (23 if dst_day.month == 3 else 25)


@pytest.mark.django_db
def test_timeline_with_filters_and_the_api(operator):
    in_zone(operator, "Asia/Kolkata")
    day0 = first_day("Asia/Kolkata", None)
    docs = seed_data(operator, "Asia/Kolkata", day0, seed=43)
    channel = operator.channels[0].id
    params = {"date_from": day0.isoformat(), "date_to": (day0 + timedelta(days=5)).isoformat(),
              "channel": str(channel), "source": "device"}
    got = run("timeline", params, [operator.client.id])
    assert got["step"] == "day" and len(got["points"]) == 6
    expected = brute(docs, "Asia/Kolkata", day0, day0 + timedelta(days=5), "day",
                     keep=lambda d: d.get("channel_id") == channel and d["source"] == "device")
    assert got["points"] == expected
    assert sum(p["sessions"] for p in got["points"]) > 0


@pytest.mark.django_db
def test_timeline_steps_are_checked(operator):
    client = [operator.client.id]
    month = parse_filters({"date_from": "2024-01-01", "date_to": "2024-03-01"}, client)
    with pytest.raises(FilterError, match="step"):
        timeline.timeline(month, "hour")
    with pytest.raises(FilterError, match="step"):
        timeline.timeline(month, "week")
    assert timeline.timeline(month)["step"] == "day"
    short = parse_filters({"date_from": "2024-01-01", "date_to": "2024-01-02"}, client)
    assert timeline.timeline(short)["step"] == "hour"


def test_bucket_tree_finds_the_last_boundary_not_after_the_value():
    """The $cond tree, evaluated the way the database does, on random boundaries."""
    rnd = random.Random(7)

    def evaluate(expr, value):
        if not isinstance(expr, dict):
            return expr
        test, yes, no = expr["$cond"]
        return evaluate(yes if value >= test["$gte"][1] else no, value)

    for n in (1, 2, 3, 7, 24, 25, 744):
        bounds = sorted(rnd.sample(range(10 ** 6), n))
        expr = timeline.bucket_of("$x", bounds)
        for value in [bounds[0] - 1, *bounds, *(rnd.randrange(10 ** 6 + 10) for _ in range(200))]:
            below = [b for b in bounds if b <= value]
            assert evaluate(expr, value) == (below[-1] if below else None), (n, value)


def test_brute_force_helper_counts_dst_hours():
    # The reference itself: New York's 2024-11-03 has 25 local hours.
    assert len(brute([], "America/New_York", date(2024, 11, 3), date(2024, 11, 3), "hour")) == 25
    assert len(brute([], "Asia/Kathmandu", date(2024, 1, 1), date(2024, 1, 2), "hour")) == 48
