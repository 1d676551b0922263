"""Reports from rollups equal the same reports from raw sessions, to the session.

Generated data in several time zones (UTC, Moscow, New York on both DST
days, Kolkata +05:30, Kathmandu +05:45) with sessions crossing local
midnight and starting exactly on it, then late uploads, resends, sessions
that grow over midnight or move their start back a day, device classes
refined later and a zone change. After each step every breakdown (and its
totals) is computed from the rollups and from raw sessions and must be
identical, over one-day and multi-day ranges and every filter a cell can
answer. The raw path itself is checked against brute force elsewhere
(tests/test_reports_breakdowns.py).
"""
import random
from datetime import date, datetime, timedelta, timezone
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from tests.test_boundaries_daily import in_zone
from tests.test_reports_data import make_sessions
from viewstats import rollups, store
from viewstats.documents import utcnow
from viewstats.reports import breakdowns
from viewstats.reports.filters import parse_filters

DIMENSIONS = ("channel", "programme", "device", "country", "protocol")
ZONES = [("UTC", None), ("Europe/Moscow", None), ("America/New_York", date(2024, 3, 10)),
         ("America/New_York", date(2024, 11, 3)), ("Asia/Kolkata", None), ("Asia/Kathmandu", None)]


def local_midnight_utc(day, zone):
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(zone)).astimezone(timezone.utc)


def first_day(zone, dst_day):
    return dst_day - timedelta(days=1) if dst_day else utcnow().astimezone(ZoneInfo(zone)).date() - timedelta(days=4)


def seed_data(operator, zone, day0, seed, n=160):
    """Sessions over three local days from day0, many crossing or starting at local midnight."""
    t0 = local_midnight_utc(day0, zone) - timedelta(hours=3)
    docs = make_sessions(operator, seed, n=n, t0=t0, span_hours=78)
    rnd = random.Random(seed)
    extra = []
    for i in range(20):
        m = local_midnight_utc(day0 + timedelta(days=rnd.randrange(1, 3)), zone)
        start = m if i % 3 == 0 else m - timedelta(seconds=rnd.randrange(1, 5000))
        end = start + timedelta(seconds=rnd.choice([0, 1, 600, 7200]))
        doc = dict(docs[i], _id=f"edge:{seed}:{i}", start=start, end=end,
                   duration=int((end - start).total_seconds()))
        extra.append(doc)
    store.sessions().insert_many([dict(d) for d in extra])
    return docs + extra


def params_for(operator, rnd):
    """A random filter a cell can answer (or none)."""
    choice = rnd.randrange(9)
    if choice == 0:
        return {"channel": ",".join(str(c.id) for c in rnd.sample(operator.channels, 2))}
    if choice == 1:
        return {"device_type": rnd.choice(["mag", "android_stb"])}
    if choice == 2:
        return {"country": rnd.choice(["DE", "FR"])}
    if choice == 3:
        return {"source": rnd.choice(["device", "media_server"])}
    if choice == 4:
        return {"kind": "archive"}
    if choice == 5:
        return {"protocol": rnd.choice(["push", "hls"])}
    if choice == 6:
        return {"account": str(rnd.choice(operator.accounts).id)}
    if choice == 7:
        return {"server": "1", "tariff": str(rnd.choice(operator.tariffs).id)}
    return {}


def assert_same(operator, day0, seed, days=(1, 3)):
    rnd = random.Random(seed)
    for span in days:
        for offset in ([0, rnd.randrange(1, 3)] if span == 1 else [0]):
            first = day0 + timedelta(days=offset)
            days = {"date_from": first.isoformat(), "date_to": (first + timedelta(days=span - 1)).isoformat()}
            for params in (days, {**days, **params_for(operator, rnd)}):
                f = parse_filters(params, [operator.client.id])
                for dimension in DIMENSIONS:
                    cells = breakdowns.report(f, dimension)
                    raw = breakdowns.report(f, dimension, use_rollups=False)
                    assert cells["computed_from"] == "rollups", (params, dimension)
                    assert raw["computed_from"] == "sessions"
                    assert sorted_rows(cells) == sorted_rows(raw), (params, dimension)
                    assert cells["totals"] == raw["totals"], (params, dimension)


def sorted_rows(report):
    return sorted(report["rows"], key=lambda r: repr(sorted(r.items())))


@pytest.mark.django_db
@pytest.mark.parametrize("zone,dst_day", ZONES)
def test_rollups_equal_raw_sessions_through_late_data_and_changes(operator, zone, dst_day):
    in_zone(operator, zone)
    day0 = first_day(zone, dst_day)
    docs = seed_data(operator, zone, day0, seed=31)
    assert_same(operator, day0, seed=1)

    # A late upload into the first day, and a resend of stored sessions.
    late = make_sessions(operator, 77, n=30, t0=local_midnight_utc(day0, zone), span_hours=20)
    inserted, duplicates = store.insert_unordered(store.SESSIONS, [dict(d) for d in docs[:15]])
    assert inserted == [] and len(duplicates) == 15
    # An open session grows over the next local midnight; another's start
    # moves back into the previous day (media-server events out of order),
    # leaving a day no other change touches.
    now = utcnow()
    z = ZoneInfo(zone)
    on = lambda d, k: d.astimezone(z).date() == day0 + timedelta(days=k)  # noqa: E731
    grow = next(d for d in docs if on(d["start"], 0) and on(d["end"], 0) and d["duration"] > 0)
    move = next(d for d in docs if on(d["start"], 2) and on(d["end"], 2) and d["duration"] > 0)
    new_end = local_midnight_utc(day0 + timedelta(days=1), zone) + timedelta(minutes=17)
    store.sessions().update_one({"_id": grow["_id"]}, {"$set": {
        "end": new_end, "duration": int((new_end - grow["start"]).total_seconds()), "updated_at": now}})
    new_start = local_midnight_utc(day0 + timedelta(days=2), zone) - timedelta(minutes=5)
    store.sessions().update_one({"_id": move["_id"]}, {"$set": {
        "start": new_start, "duration": int((move["end"] - new_start).total_seconds()), "updated_at": now}})
    # A refined device class changes a session's device cell.
    refined = next(d for d in docs if on(d["start"], 1))
    store.sessions().update_one({"_id": refined["_id"]}, {"$set": {
        "ua.model": "MAG524", "ua.brand": "Infomir", "updated_at": now}})
    assert late
    assert_same(operator, day0 - timedelta(days=1), seed=2, days=(1, 3))
    assert_same(operator, day0, seed=3)


@pytest.mark.django_db
def test_zone_change_reads_raw_until_rebuilt_then_rollups_in_the_new_zone(operator, settings):
    in_zone(operator, "UTC")
    day0 = first_day("UTC", None)
    seed_data(operator, "UTC", day0, seed=5)
    assert_same(operator, day0, seed=4)
    settings.VIEWSTATS_ROLLUP_INLINE_BUILD = 10  # too many sessions for a report to rebuild
    in_zone(operator, "Asia/Kathmandu")
    assert not rollups.usable(operator.client.id)
    f = parse_filters({"date_from": day0.isoformat(), "date_to": day0.isoformat()}, [operator.client.id])
    assert breakdowns.report(f, "channel")["computed_from"] == "sessions"
    out = StringIO()
    call_command("viewstats_fill_rollups", "--client", str(operator.client.id), stdout=out)
    assert "rebuilt" in out.getvalue() and "total:" in out.getvalue()
    assert rollups.usable(operator.client.id)
    assert_same(operator, day0, seed=6)


@pytest.mark.django_db
def test_killed_rebuild_resumes_after_its_last_finished_run(operator, monkeypatch):
    in_zone(operator, "Asia/Kolkata")
    day0 = first_day("Asia/Kolkata", None)
    seed_data(operator, "Asia/Kolkata", day0, seed=8)
    late_start = local_midnight_utc(day0 - timedelta(days=20), "Asia/Kolkata") + timedelta(hours=2)
    make_sessions(operator, 98, n=5, t0=late_start, span_hours=1)  # a second run of days
    real, done = rollups.fill_days, []

    def dies_on_second_run(client_id, days, zone):
        if len(done) == 1:
            raise KeyboardInterrupt("killed")
        real(client_id, days, zone)
        done.append(days)

    monkeypatch.setattr(rollups, "fill_days", dies_on_second_run)
    with pytest.raises(KeyboardInterrupt):
        rollups.fill(operator.client.id)
    assert not rollups.usable(operator.client.id)
    monkeypatch.setattr(rollups, "fill_days", lambda *a: (done.append(a[1]), real(*a)))
    result = rollups.fill(operator.client.id)
    assert result.rebuilt and done[1][0] > done[0][-1]  # went on after the first run, not from it
    assert result.days == len(done[1])
    assert rollups.usable(operator.client.id)
    assert_same(operator, day0, seed=9)


@pytest.mark.django_db
def test_a_running_fill_makes_reports_read_raw_sessions(operator):
    in_zone(operator, "UTC")
    day0 = first_day("UTC", None)
    seed_data(operator, "UTC", day0, seed=10)
    rollups.fill(operator.client.id)
    rollups._take_lease(operator.client.id, "someone-else")
    # With nothing new the cells are current whoever holds the lease; with
    # new sessions they are being regrouped, and the report must not wait.
    f = parse_filters({"date_from": day0.isoformat(), "date_to": day0.isoformat()}, [operator.client.id])
    assert breakdowns.report(f, "country")["computed_from"] == "rollups"
    make_sessions(operator, 55, n=3, t0=local_midnight_utc(day0, "UTC"), span_hours=2)
    f = parse_filters({"date_from": day0.isoformat(), "date_to": day0.isoformat()}, [operator.client.id])
    report = breakdowns.report(f, "country")
    assert report["computed_from"] == "sessions"
    assert report["totals"]["sessions"] > 0
    with pytest.raises(CommandError) as exc:
        call_command("viewstats_fill_rollups", "--client", str(operator.client.id), stdout=StringIO(),
                     stderr=StringIO())
    assert exc.value.returncode == 3


@pytest.mark.django_db
def test_what_cells_cannot_answer_comes_from_sessions(operator):
    in_zone(operator, "Europe/Moscow")
    day0 = first_day("Europe/Moscow", None)
    seed_data(operator, "Europe/Moscow", day0, seed=12)
    client = [operator.client.id]
    by_ip = parse_filters({"date_from": day0.isoformat(), "ip": "10.0.0.1"}, client)
    assert breakdowns.report(by_ip, "channel")["computed_from"] == "sessions"
    # Instants that are not the operator's local midnights.
    start = local_midnight_utc(day0, "UTC")
    odd = parse_filters({"from": start.isoformat(), "to": (start + timedelta(days=1)).isoformat()}, client)
    assert breakdowns.report(odd, "channel")["computed_from"] == "sessions"
    whole = parse_filters({"from": local_midnight_utc(day0, "Europe/Moscow").isoformat(),
                           "to": local_midnight_utc(day0 + timedelta(days=1), "Europe/Moscow").isoformat()},
                          client)
    assert breakdowns.report(whole, "channel")["computed_from"] == "rollups"


@pytest.mark.django_db
def test_fill_command_options(operator):
    with pytest.raises(CommandError, match="--client"):
        call_command("viewstats_fill_rollups", "--client", "987654", stdout=StringIO())


@override_settings(VIEWSTATS_ROLLUP_INLINE_BUILD=0)
@pytest.mark.django_db
def test_incremental_fill_recomputes_only_touched_days(operator):
    in_zone(operator, "UTC")
    day0 = first_day("UTC", None)
    seed_data(operator, "UTC", day0, seed=14)
    call_command("viewstats_fill_rollups", stdout=StringIO())
    assert rollups.fill(operator.client.id).days >= 0
    later = rollups.fill(operator.client.id)
    assert later.days == 0  # nothing changed since
    late_start = local_midnight_utc(day0 - timedelta(days=6), "UTC") + timedelta(hours=2)
    make_sessions(operator, 99, n=3, t0=late_start, span_hours=1)
    touched = []
    rollups.fill(operator.client.id, on_day=touched.append)
    assert day0 - timedelta(days=6) in touched


@pytest.mark.django_db
@pytest.mark.parametrize("zone,dst_day", [("Asia/Kathmandu", None), ("America/New_York", date(2024, 11, 3))])
def test_counters_of_months_and_days_from_rollups_equal_raw(operator, zone, dst_day, monkeypatch):
    from viewstats.reports import counters

    in_zone(operator, zone)
    day0 = first_day(zone, dst_day)
    seed_data(operator, zone, day0, seed=21)
    client = [operator.client.id]
    asked = []
    real = counters._from_cells
    monkeypatch.setattr(counters, "_from_cells", lambda *a: asked.append(a) or real(*a))
    periods = [(day0.year, None), (day0.year, day0.month), (day0.year, (day0 + timedelta(days=2)).month)]
    for metric in ("sessions", "watch_time", "viewers"):
        for source in (None, "device", "media_server"):
            for year, month in periods:
                from_cells = counters.counters(client, metric, year, month, source=source)
                monkeypatch.setattr(counters, "_from_cells", lambda *a: None)
                raw = counters.counters(client, metric, year, month, source=source)
                monkeypatch.setattr(counters, "_from_cells", lambda *a: asked.append(a) or real(*a))
                assert from_cells == raw, (metric, source, year, month)
                assert any(from_cells["data"].values()) or source == "media_server"
    assert asked and all(real(*a) is not None for a in asked[:1])
