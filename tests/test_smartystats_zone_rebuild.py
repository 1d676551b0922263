"""When an operator's zone (or SMARTYSTATS_USE_UTC) changes: stale caches are refused, then rebuilt.

The rebuild is killed in each of its parts (chart series, max online, daily
statistics) and run again: it continues after the last finished bucket, day
chunk or day, and ends equal to brute force in the new zone over the whole
history the old caches held.
"""
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from smartystats import daily, fill
from smartystats.models import Count, DailyStats, FillState, StatsSnapshot
from smartystats.series import ALL_SERIES, STATS
from smartystats.zones import REBUILD
from tests.test_smartystats_dynamics import bf_bucket
from tests.test_smartystats_zone import (API, DAY, bf_day_starts, bf_daily, check_count_series,
                                         check_max_online, expected_windows, in_zone, isolated_locks,
                                         make_world, stored_daily, superuser_client)
from tvmiddleware import models as tv

assert isolated_locks  # an autouse fixture, imported to apply here
UTC = timezone.utc
SPRING = date(2024, 3, 10)
EARLIER = datetime(2024, 2, 20, 10, 0, tzinfo=UTC)  # the caches' first run: they hold January on
NOW = datetime(2024, 3, 11, 11, 37, 21, tzinfo=UTC)  # 14:37 in Moscow


def run(name, **options):
    out, err = StringIO(), StringIO()
    call_command(name, stdout=out, stderr=err, **{"time": NOW.isoformat(), **options})
    return out.getvalue()


def fill_everything(at=NOW):
    for name in ("cache_customers_dynamic", "cache_max_online", "save_stats", "collect_daily_stats"):
        run(name, time=at.isoformat())


def utc_caches(operator, seed):
    """A world whose caches were filled in UTC, first on 20 February then now."""
    world = make_world(operator, "UTC", SPRING, seed=seed, now=NOW, days=75, sessions=300)
    fill_everything(EARLIER)
    fill_everything()
    run("collect_daily_stats", day_from="2024-03-01", day_to="2024-03-09")
    return world


def dying(real, after, exc=KeyboardInterrupt):
    calls = []

    def wrapper(*args, **kwargs):
        calls.append(args)
        result = real(*args, **kwargs)  # the work reaches the database ...
        if after is not None and len(calls) == after:
            raise exc("killed")  # ... but the run never marks it done
        return result
    wrapper.calls = calls
    return wrapper


@pytest.mark.django_db
def test_a_zone_change_is_refused_then_rebuilt_resuming_after_kills(client, operator, monkeypatch):
    world = utc_caches(operator, seed=5)
    cid = world.client_id
    superuser_client(client)
    assert client.get(API, {"client_id": cid}).json()["cache_state"]["status"] == "ok"

    in_zone(operator, "Europe/Moscow")
    data = client.get(API, {"client_id": cid, "from": "2024-03-01", "to": "2024-03-10"}).json()
    state = data["cache_state"]
    assert (state["status"], state["built_in"], data["time_zone"]) == ("stale", ["UTC"], "Europe/Moscow")
    assert f"manage.py smartystats_rebuild --client_id {cid}" in state["message"]
    assert data["labels"] == [] and data["series"]["accounts_active"] == [] and data["filled_to"] is None
    assert data["snapshot"] is None and "UTC" in data["snapshot_refused"]
    page = client.get("/admin/smartystats/dynamics/", {"client_id": cid}).content.decode()
    assert 'id="sm-cache-state" data-status="stale"' in page and "smartystats_rebuild --client_id" in page
    with pytest.raises(CommandError) as health:
        run("smartystats_health", client_id=str(cid), time=(NOW + timedelta(minutes=5)).isoformat())
    assert health.value.returncode == 1

    # 1. Killed while refilling the chart series.
    writes = dying(fill.write_bucket, after=300)
    monkeypatch.setattr(fill, "write_bucket", writes)
    with pytest.raises(KeyboardInterrupt):
        run("smartystats_rebuild", client_id=str(cid))
    assert client.get(API, {"client_id": cid}).json()["cache_state"]["status"] == "stale"  # never mixed
    moved = FillState.objects.filter(client_id=cid, series__in=ALL_SERIES, zone="Europe/Moscow")
    assert 0 < moved.count() < len(ALL_SERIES)

    # 2. Killed while recomputing max online: the chart series finish first.
    writes = dying(fill.write_bucket, after=None)
    monkeypatch.setattr(fill, "write_bucket", writes)
    chunks = dying(fill.fill_max_online_chunk, after=10, exc=SystemExit)
    monkeypatch.setattr(fill, "fill_max_online_chunk", chunks)
    with pytest.raises(SystemExit):
        run("smartystats_rebuild", client_id=str(cid))
    today, first, days, hours, fill_to = expected_windows("Europe/Moscow", NOW, date(2024, 1, 1))
    hourly = [h for h in hours if h >= days[date(2024, 2, 17)]]
    total = len(STATS) // 2 * ((today - first).days + len(hourly) - 1)
    # The killed run's unfinished batch (the 300th bucket and those before it in its
    # transaction) is redone, no more.
    assert total - 299 <= len(writes.calls) < total - 300 + fill.BUCKETS_PER_COMMIT
    data = client.get(API, {"client_id": cid, "from": "2024-01-01", "to": "2024-03-10"}).json()
    assert data["cache_state"]["status"] == "rebuilding"
    assert "being rebuilt in Europe/Moscow" in data["cache_state"]["message"]
    assert data["labels"] and data["labels"][0] == "2024-01-01" and data["labels"][-1] < "2024-01-12"

    # 3. Killed while collecting the daily statistics again.
    killed_chunk = chunks.calls[-1][1]
    monkeypatch.undo()
    chunks = dying(fill.fill_max_online_chunk, after=None)
    monkeypatch.setattr(fill, "fill_max_online_chunk", chunks)
    collected = dying(daily.collect_day, after=4)
    monkeypatch.setattr(daily, "collect_day", collected)
    with pytest.raises(KeyboardInterrupt):
        run("smartystats_rebuild", client_id=str(cid))
    assert chunks.calls[0][1] == killed_chunk  # the killed day is redone, nothing before it
    assert min(c[1] for c in chunks.calls) == killed_chunk
    collected_days = [date(2024, 2, 19) + i * DAY for i in range(21)]  # what the UTC caches held
    assert [c[1] for c in collected.calls] == collected_days[:4]
    assert not DailyStats.objects.filter(client_id=cid, zone="UTC").exists()

    # 4. Run again: it finishes.
    collected = dying(daily.collect_day, after=None)
    monkeypatch.setattr(daily, "collect_day", collected)
    out = run("smartystats_rebuild", client_id=str(cid))
    assert [c[1] for c in collected.calls] == collected_days[4:]
    assert "customers_active::day: 0 bucket(s)" in out and "daily statistics: 17 day(s)" in out
    assert "now in Europe/Moscow" in out and "rebuild complete" in out
    assert "smartystats_rebuild: 1 client(s) done" in out

    data = client.get(API, {"client_id": cid}).json()
    assert data["cache_state"]["status"] == "ok" and data["snapshot"]["taken_at"].endswith("+03:00")
    assert FillState.objects.get(client_id=cid, series=REBUILD).state == FillState.DONE
    assert StatsSnapshot.objects.filter(client_id=cid).order_by("-id").first().zone == "Europe/Moscow"
    # The whole history the UTC caches held, now in Moscow's days and hours.
    check_count_series(world, "Europe/Moscow", NOW, first=date(2024, 1, 1), hourly_first=date(2024, 2, 17))
    check_max_online(world, "Europe/Moscow", NOW, first=date(2024, 1, 1))
    starts = bf_day_starts("Europe/Moscow", collected_days[0], collected_days[-1] + DAY)
    assert sorted(DailyStats.objects.filter(client_id=cid).values_list("day", flat=True)) == collected_days
    for d in collected_days:
        assert stored_daily(cid, d) == bf_daily(world, starts[d], starts[d + DAY]), d
    assert set(DailyStats.objects.filter(client_id=cid).values_list("zone", flat=True)) == {"Europe/Moscow"}
    assert "OK" in run("smartystats_health", client_id=str(cid), time=(NOW + timedelta(minutes=5)).isoformat())


@pytest.mark.django_db
def test_the_cron_commands_rebuild_on_their_own(client, operator):
    world = utc_caches(operator, seed=6)
    cid = world.client_id
    superuser_client(client)
    in_zone(operator, "Asia/Kolkata")
    out = run("cache_max_online")
    data = client.get(API, {"client_id": cid}).json()
    assert data["cache_state"]["status"] == "stale"  # the chart series are still UTC
    assert data["cache_state"]["built_in"] == ["UTC"] and "hours" in out
    out = run("cache_customers_dynamic")
    assert "customer status: derived from accounts" in out
    data = client.get(API, {"client_id": cid, "from": "2024-03-09", "to": "2024-03-11", "frequency": "hour"}).json()
    assert data["cache_state"]["status"] == "ok"
    assert data["bucket_starts"][0] == "2024-03-09T00:00:00+05:30"
    check_count_series(world, "Asia/Kolkata", NOW, first=date(2024, 1, 1), hourly_first=date(2024, 2, 17))
    check_max_online(world, "Asia/Kolkata", NOW, first=date(2024, 1, 1))
    run("collect_daily_stats")
    assert set(DailyStats.objects.filter(client_id=cid).values_list("zone", flat=True)) == {"Asia/Kolkata"}
    # 19 February (the first run's) .. 10 March again: 11 March is not over in Kolkata.
    assert DailyStats.objects.filter(client_id=cid).count() == 21


@pytest.mark.django_db
def test_switching_smartystats_use_utc_is_a_zone_change(client, operator, settings):
    world = make_world(operator, "Europe/Moscow", SPRING, seed=8, now=NOW, sessions=200)
    cid = world.client_id
    fill_everything()
    superuser_client(client)
    assert client.get(API, {"client_id": cid}).json()["cache_state"]["status"] == "ok"
    settings.SMARTYSTATS_USE_UTC = True
    data = client.get(API, {"client_id": cid}).json()
    assert (data["time_zone"], data["cache_state"]["status"], data["cache_state"]["built_in"]) == (
        "UTC", "stale", ["Europe/Moscow"])
    out = run("smartystats_rebuild", client_id=str(cid))
    assert "were built in Europe/Moscow; now in UTC" in out
    # Moscow's history began at its midnight of 1 February, 31 January in UTC: kept whole.
    check_count_series(world, "UTC", NOW, first=date(2024, 1, 31), hourly_first=date(2024, 3, 7))
    check_max_online(world, "UTC", NOW, first=date(2024, 1, 31))
    assert client.get(API, {"client_id": cid}).json()["cache_state"]["status"] == "ok"
    settings.SMARTYSTATS_USE_UTC = False
    assert client.get(API, {"client_id": cid}).json()["cache_state"]["built_in"] == ["UTC"]


@pytest.mark.django_db
def test_rebuild_ranges_are_local_days(operator):
    world = make_world(operator, "Europe/Moscow", SPRING, seed=9, now=NOW, sessions=100)
    run("cache_customers_dynamic")
    late = tv.Payment.objects.create(client=operator.client, customer=world.customers[0], amount=Decimal("7.77"),
                                     currency="EUR", created_at=datetime(2024, 3, 5, 22, 30, tzinfo=UTC))
    world.payments.append(late)  # 6 March, 01:30 in Moscow
    starts = bf_day_starts("Europe/Moscow", date(2024, 3, 6), date(2024, 3, 7))
    bucket = {r.subgroup: r.value for r in Count.objects.filter(client_id=world.client_id,
                                                                  series="payments_sum:currency:day",
                                                                  end_time=starts[date(2024, 3, 7)])}
    want = bf_bucket(world, "payments_sum", starts[date(2024, 3, 6)], starts[date(2024, 3, 7)])
    assert bucket != want
    run("cache_customers_dynamic", rebuild_from="2024-03-06", rebuild_to="2024-03-06",
        series="payments_sum:currency:day")
    bucket = {r.subgroup: r.value for r in Count.objects.filter(client_id=world.client_id,
                                                                  series="payments_sum:currency:day",
                                                                  end_time=starts[date(2024, 3, 7)])}
    assert bucket == want


@pytest.mark.django_db
def test_help_says_how_zones_work():
    from django.core.management import load_command_class

    for command in ("cache_customers_dynamic", "cache_max_online", "save_stats", "collect_daily_stats",
                    "smartystats_rebuild"):
        text = load_command_class("smartystats", command).create_parser("manage.py", command).format_help()
        flat = " ".join(text.split())
        assert "SMARTYSTATS_USE_UTC" in flat and "local" in flat, command
        assert "smartystats_rebuild" in flat, command
    text = load_command_class("smartystats", "smartystats_rebuild").create_parser(
        "manage.py", "smartystats_rebuild").format_help()
    assert "resumable" in text and "--client_id" in text
