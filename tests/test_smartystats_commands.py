"""save_stats, collect_daily_stats, cache_max_online, health, locks, options and RQ."""
import os
import uuid
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from smartystats import locks
from tvmiddleware.fixtures import generate
from smartystats.models import DailyPayments, DailyStats, MaxOnline, OnlineNow, StatsSnapshot
from tests.test_smartystats_dynamics import NOW, bf_peak, isolated_locks  # noqa: F401
from tvmiddleware.models import Payment

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def run(name, **options):
    out = StringIO()
    call_command(name, stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


# --- save_stats ---------------------------------------------------------------

def bf_snapshot(world, at):
    day = at.replace(hour=0, minute=0, second=0)
    month = day.replace(day=1)
    accs, custs = world.accounts, world.customers
    gone = {}
    for c in custs:
        mine = [a for a in accs if a.customer_id == c.id]
        if mine and all(a.deactivation_date for a in mine):
            gone[c.id] = max(a.deactivation_date for a in mine)
    reasons = defaultdict(int)
    for a in accs:
        if not a.active:
            reasons[a.status_reason] += 1
    active_customers = {a.customer_id for a in accs if a.active}
    devices = defaultdict(lambda: {"total": 0, "active": 0})
    for a in accs:
        for name in world.devices[a.id]:
            devices[name]["total"] += 1
            devices[name]["active"] += a.active
    live = [s for s in world.sessions if s["account_id"] is not None
            and s["end"] >= at - timedelta(seconds=180) and s["start"] <= at]
    return {
        "customers": {
            "total": len(custs), "active": len(active_customers), "inactive": len(custs) - len(active_customers),
            "new_today": sum(day <= c.created_at <= at for c in custs),
            "new_month": sum(month <= c.created_at <= at for c in custs),
            "deactivated_today": sum(day <= t <= at for t in gone.values()),
            "deactivated_month": sum(month <= t <= at for t in gone.values()),
        },
        "accounts": {
            "total": len(accs), "active": sum(a.active for a in accs), "inactive": sum(not a.active for a in accs),
            "inactive_by_reason": {r: reasons[r] for r in sorted(reasons) if reasons[r]},
            "new_today": sum(day <= a.created_at <= at for a in accs),
            "new_month": sum(month <= a.created_at <= at for a in accs),
            "deactivated_today": sum(a.deactivation_date is not None and day <= a.deactivation_date <= at
                                     for a in accs),
            "deactivated_month": sum(a.deactivation_date is not None and month <= a.deactivation_date <= at
                                     for a in accs),
        },
        "accounts_by_device_type": dict(sorted(devices.items())),
        "online_now": {"accounts": len({s["account_id"] for s in live}),
                       "customers": len({s["customer_id"] for s in live})},
        "peak_today": dict(zip(("accounts", "customers"),
                               bf_peak(world.sessions, day, at + timedelta(seconds=1)))),
    }


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [31, 32, 33])
def test_save_stats_matches_brute_force(operator, other_operator, seed):
    world = generate(operator.client, now=NOW, seed=seed)
    theirs = generate(other_operator.client, now=NOW, seed=seed + 50, customers=10, sessions=120)
    out = run("save_stats", time=NOW.isoformat())
    assert "save_stats: 2 client(s) done" in out
    for w in (world, theirs):
        snap = StatsSnapshot.objects.get(client_id=w.client_id)
        expected = bf_snapshot(w, NOW)
        tariffs = snap.data.pop("accounts_by_tariff")
        assert snap.data == expected
        assert len(tariffs) == 2
        for t in tariffs:
            mine = [a for a in w.accounts if t["id"] in w.tariffs[a.id]]
            assert (t["total"], t["active"]) == (len(mine), sum(a.active for a in mine))


# --- collect_daily_stats ------------------------------------------------------

def bf_day(world, day):
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    end = start + timedelta(days=1)
    pays = [p for p in world.payments if p.processed and start <= p.created_at < end]
    per = defaultdict(lambda: [Decimal("0"), 0, set()])
    for p in pays:
        per[p.currency][0] += p.amount
        per[p.currency][1] += 1
        per[p.currency][2].add(p.customer_id)
    return ({c: (v[0], v[1], len(v[2])) for c, v in per.items()},
            {"new_customers": sum(start <= c.created_at < end for c in world.customers),
             "new_accounts": sum(start <= a.created_at < end for a in world.accounts),
             "deactivated_accounts": sum(a.deactivation_date is not None and start <= a.deactivation_date < end
                                         for a in world.accounts),
             "paying_customers": len({p.customer_id for p in pays}), "payments_count": len(pays)})


def stored_day(client_id, day):
    pays = {r.currency: (r.payments_sum, r.payments_count, r.paying_customers)
            for r in DailyPayments.objects.filter(client_id=client_id, day=day)}
    row = DailyStats.objects.get(client_id=client_id, day=day)
    return pays, {k: getattr(row, k) for k in ("new_customers", "new_accounts", "deactivated_accounts",
                                               "paying_customers", "payments_count")}


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [41, 42])
def test_collect_daily_stats_matches_brute_force_and_rerun_replaces(operator, other_operator, seed):
    world = generate(operator.client, now=NOW, seed=seed, payments=300)
    generate(other_operator.client, now=NOW, seed=seed + 1, customers=8, payments=60)
    out = run("collect_daily_stats", time=NOW.isoformat())
    yesterday = date(2024, 3, 9)
    assert f"{yesterday}" in out
    assert stored_day(world.client_id, yesterday) == bf_day(world, yesterday)
    run("collect_daily_stats", time=NOW.isoformat(), day_from="2024-02-20", day_to="2024-03-08")
    for i in range(18):
        d = date(2024, 2, 20) + timedelta(days=i)
        assert stored_day(world.client_id, d) == bf_day(world, d), d
    # A late payment, then a re-run of that day: replaced, not added to.
    late = Payment.objects.create(client=operator.client, customer=world.customers[0], amount=Decimal("12.50"),
                                  currency="EUR", created_at=datetime(2024, 3, 1, 23, 59, 59, tzinfo=timezone.utc))
    world.payments.append(late)
    for _ in range(2):
        run("collect_daily_stats", time=NOW.isoformat(), day="2024-03-01")
    assert stored_day(world.client_id, date(2024, 3, 1)) == bf_day(world, date(2024, 3, 1))
    assert DailyStats.objects.filter(client_id=world.client_id, day=date(2024, 3, 1)).count() == 1


@pytest.mark.django_db
def test_collect_daily_stats_catches_up_missed_days(operator):
    world = generate(operator.client, now=NOW, seed=44)
    run("collect_daily_stats", time=(NOW - timedelta(days=4)).isoformat())
    out = run("collect_daily_stats", time=NOW.isoformat())
    for d in ("2024-03-06", "2024-03-07", "2024-03-08", "2024-03-09"):
        assert d in out
        assert stored_day(world.client_id, date.fromisoformat(d)) == bf_day(world, date.fromisoformat(d))


# --- cache_max_online ---------------------------------------------------------

@pytest.mark.django_db
def test_cache_max_online_fills_peaks_and_online_now(operator):
    world = generate(operator.client, now=NOW, seed=51)
    out = run("cache_max_online", time=NOW.isoformat(), client_id=str(operator.client.id))
    assert "cache_max_online: 1 client(s) done" in out
    now_row = OnlineNow.objects.get(client_id=world.client_id)
    live = [s for s in world.sessions if s["account_id"] and s["end"] >= NOW - timedelta(seconds=180)]
    assert now_row.accounts == len({s["account_id"] for s in live}) > 0
    day = datetime(2024, 3, 9, tzinfo=timezone.utc)
    row = MaxOnline.objects.get(client_id=world.client_id, frequency="day", bucket_start=day)
    assert (row.accounts, row.customers) == bf_peak(world.sessions, day, day + timedelta(days=1))
    today = MaxOnline.objects.get(client_id=world.client_id, frequency="day", bucket_start=day + timedelta(days=1))
    assert not today.complete  # today so far, up to 14:00


# --- options, locks, RQ -------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("command, options, message", [
    ("cache_customers_dynamic", {"client_id": "1,x"}, "--client_id: 'x'"),
    ("cache_customers_dynamic", {"client_id": "999999"}, "--client_id: no client with id 999999"),
    ("cache_customers_dynamic", {"series": "bogus::day"}, "--series: unknown series 'bogus::day'"),
    ("cache_customers_dynamic", {"rebuild_from": "2024-01-01"}, "--rebuild-from and --rebuild-to"),
    ("cache_max_online", {"rebuild_from": "2024-13-01", "rebuild_to": "2024-01-02"}, "--rebuild-from: '2024-13-01'"),
    ("cache_max_online", {"time": "2024-03-01T00:00:00"}, "--time: '2024-03-01T00:00:00' has no time zone"),
    ("save_stats", {"time": "yesterday"}, "--time: 'yesterday' is not an ISO 8601"),
    ("collect_daily_stats", {"day": "2024-02-30"}, "--day: '2024-02-30' is not a date"),
    ("collect_daily_stats", {"day": "2999-01-01"}, "2999-01-01 has not ended yet"),
    ("collect_daily_stats", {"day_from": "2024-03-05", "day_to": "2024-03-01"}, "--to: '2024-03-01' is before"),
    ("smartystats_health", {"client_id": "abc"}, "--client_id: 'abc'"),
])
def test_bad_options_fail_with_a_message_naming_them(operator, command, options, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(")):
        run(command, **options)


@pytest.mark.django_db
def test_help_reads_like_docs():
    for command in ("cache_max_online", "save_stats", "collect_daily_stats", "cache_customers_dynamic",
                    "smartystats_health"):
        from django.core.management import load_command_class

        cmd = load_command_class("smartystats", command)
        text = cmd.create_parser("manage.py", command).format_help()
        assert len(cmd.help) > 200 and "--client_id" in text, command


@pytest.fixture(params=["file", "redis"])
def lock_backend(request, tmp_path):
    with override_settings(SMARTYSTATS_LOCK_BACKEND=request.param, SMARTYSTATS_LOCK_DIR=str(tmp_path),
                           SMARTYSTATS_LOCK_REDIS_URL=TEST_REDIS_URL,
                           SMARTYSTATS_LOCK_PREFIX=f"test-smartystats-{uuid.uuid4().hex}:"):
        yield request.param


@pytest.mark.django_db
def test_a_second_concurrent_run_is_refused(operator, lock_backend):
    with locks.hold("command:cache_customers_dynamic"):
        with pytest.raises(CommandError, match="cache_customers_dynamic is already running"):
            run("cache_customers_dynamic", time=NOW.isoformat())
    run("cache_customers_dynamic", time=NOW.isoformat())  # free again afterwards


@pytest.mark.django_db
def test_a_client_being_filled_elsewhere_is_skipped_not_doubled(operator, lock_backend):
    with locks.hold(f"fill:{operator.client.id}"):
        out = run("cache_max_online", time=NOW.isoformat())
    assert "skipped" in out and str(operator.client.id) in out
    assert not MaxOnline.objects.exists()


def test_auto_lock_backend_falls_back_to_a_file_without_redis(tmp_path):
    with override_settings(SMARTYSTATS_LOCK_BACKEND="auto", SMARTYSTATS_LOCK_REDIS_URL="redis://127.0.0.1:1/0",
                           SMARTYSTATS_LOCK_DIR=str(tmp_path)):
        assert locks.backend() == "file"
        with locks.hold("x"):
            with pytest.raises(locks.LockBusy):
                with locks.hold("x"):
                    pass


@pytest.mark.django_db(transaction=True)
def test_rq_offload_queues_one_job_per_client_and_the_jobs_fill(operator, other_operator):
    import django_rq
    from rq import SimpleWorker

    queue_name = f"test-smartystats-{uuid.uuid4().hex}"
    with override_settings(SMARTY_USE_RQ=True, VIEWSTATS_RQ_QUEUE=queue_name,
                           RQ_QUEUES={queue_name: {"URL": TEST_REDIS_URL, "DEFAULT_TIMEOUT": 600}},
                           RQ={"COMMIT_MODE": "auto"}, SMARTYSTATS_LOCK_BACKEND="file"):
        world = generate(operator.client, now=NOW, seed=61, sessions=100)
        out = run("cache_max_online", time=NOW.isoformat())
        queue = django_rq.get_queue(queue_name)
        try:
            assert "2 job(s) queued on RQ" in out
            assert queue.count == 2
            SimpleWorker([queue], connection=queue.connection).work(burst=True)
            day = datetime(2024, 3, 9, tzinfo=timezone.utc)
            row = MaxOnline.objects.get(client_id=world.client_id, frequency="day", bucket_start=day)
            assert (row.accounts, row.customers) == bf_peak(world.sessions, day, day + timedelta(days=1))
            assert OnlineNow.objects.count() == 2
        finally:
            queue.empty()
            queue.connection.delete(*queue.connection.keys(f"rq:*{queue_name}*") or ["none"])


# --- health -------------------------------------------------------------------

@pytest.mark.django_db
def test_health_reports_stale_caches(operator):
    generate(operator.client, now=NOW, seed=71, sessions=50)
    with pytest.raises(CommandError) as never:
        run("smartystats_health", time=NOW.isoformat())
    assert never.value.returncode == 1  # never filled: warning
    for name in ("cache_customers_dynamic", "save_stats", "collect_daily_stats"):
        run(name, time=NOW.isoformat())
    assert "OK: 0 of" in run("smartystats_health", time=(NOW + timedelta(minutes=30)).isoformat())
    later = NOW + timedelta(hours=3)  # hourly series are now 3 h behind: critical
    with pytest.raises(CommandError) as stale:
        run("smartystats_health", time=later.isoformat())
    assert stale.value.returncode == 2
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("smartystats_health", time=later.isoformat(), json=True, stdout=out)
    import json

    report = json.loads(out.getvalue())
    bad = {f["series"] for f in report["findings"] if f["status"] == "CRITICAL"}
    assert "accounts_active::hour" in bad and "accounts_active::day" not in bad
