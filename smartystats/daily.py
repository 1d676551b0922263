"""collect_daily_stats: one local day of payments and arrivals per client.

Days are the client's local days (zones.zone_for): "the day that ended" is
yesterday on the operator's clock, so one run at 01:00 UTC collects 1 May
for an operator in Moscow and 30 April for one in New York. A day is
written whole inside one transaction and replaces what was there, so
re-running a day (late payments, a corrected import) never adds to it.

The FillState "daily_stats::day" holds the end of the latest day collected
and the zone, so a run after missed nights catches up. When the client's
zone changed, the days collected in the old zone are dropped and every day
since the first one collected is collected again in the new zone: the fill
state is STARTED meanwhile and moves day by day, so a killed run continues
after its last finished day.
"""
from datetime import timedelta

from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from . import host, zones
from .models import DailyPayments, DailyStats, FillState
from .series import DAILY_STATS
from .timeutils import day_of, day_start

SERIES = DAILY_STATS
MAX_CATCH_UP = 31  # days a late run catches up (a rebuild recollects them all)


def _fill_state(client_id):
    return FillState.objects.filter(client_id=client_id, series=SERIES).first()


def collect_day(client_id, day, zone="UTC"):
    """Replace client's row(s) for the local `day` (a date) of `zone`; return a summary dict."""
    start, end = day_start(day, zone), day_start(day + timedelta(days=1), zone)
    payments = host.payments(client_id, start, end)
    with transaction.atomic():
        DailyPayments.objects.filter(client_id=client_id, day=day).delete()
        DailyPayments.objects.bulk_create([
            DailyPayments(client_id=client_id, day=day, currency=cur, payments_sum=total,
                          payments_count=n, paying_customers=payers, zone=zone)
            for cur, (total, n, payers) in sorted(payments.items())])
        stats, _ = DailyStats.objects.update_or_create(client_id=client_id, day=day, defaults={
            "new_customers": host.new_customers(client_id, start, end),
            "new_accounts": host.new_accounts(client_id, start, end),
            "deactivated_accounts": host.deactivated_accounts(client_id, start, end),
            "paying_customers": host.paying_customers(client_id, start, end),
            "payments_count": sum(n for _, n, _ in payments.values()),
            "zone": zone,
            "collected_at": timezone.now(),
        })
        fs = _fill_state(client_id)
        if fs is None:
            FillState.objects.create(client_id=client_id, series=SERIES, end_time=end, start_time=start,
                                     zone=zone, state=FillState.DONE)
        elif fs.end_time < end:
            fs.end_time = end
            fs.save(update_fields=["end_time", "last_modified"])
    return {"day": day.isoformat(), "payments": {c: str(p[0]) for c, p in sorted(payments.items())},
            "paying_customers": stats.paying_customers, "new_customers": stats.new_customers}


def restart(client_id, fs, zone):
    """Drop the days collected in another zone; recollect from the first one in `zone`."""
    first = DailyStats.objects.filter(client_id=client_id).aggregate(d=Min("day"))["d"]
    if first is None:
        first = day_of(fs.start_time or fs.end_time, fs.zone)
    start = day_start(first, zone)
    with transaction.atomic():
        DailyPayments.objects.filter(client_id=client_id).delete()
        DailyStats.objects.filter(client_id=client_id).delete()
        fs.zone, fs.start_time, fs.end_time, fs.state = zone, start, start, FillState.STARTED
        fs.save()
    return fs


def days_to_collect(fs, yesterday, max_catch_up=MAX_CATCH_UP):
    """The days after the last collected one up to `yesterday` (just yesterday at first)."""
    if fs is None:
        return [yesterday]
    first = day_of(fs.end_time, fs.zone)  # the day after the last one collected
    if fs.state != FillState.STARTED:
        first = max(first, yesterday - timedelta(days=max_catch_up - 1))
    return [first + timedelta(days=i) for i in range((yesterday - first).days + 1)]


def collect(client_id, now, days=None, zone=None):
    """Collect the given days, or catch up to the client's yesterday; return per-day summaries."""
    zone = zone or zones.zone_for(client_id)
    fs = _fill_state(client_id)
    if fs is not None and fs.zone != zone:
        fs = restart(client_id, fs, zone)
    yesterday = day_of(now, zone) - timedelta(days=1)
    if days is None:
        days = days_to_collect(fs, yesterday)
    done = [collect_day(client_id, d, zone) for d in days]
    fs = _fill_state(client_id)
    if fs is not None and fs.state == FillState.STARTED and day_of(fs.end_time, zone) > yesterday:
        fs.state = FillState.DONE
        fs.save(update_fields=["state", "last_modified"])
    return done


def caught_up(client_id):
    """False while the days of another zone are still being collected again."""
    fs = _fill_state(client_id)
    return fs is None or fs.state == FillState.DONE


def ended(day, now, zone):
    """Whether the local `day` of `zone` is over at `now`."""
    return day_start(day + timedelta(days=1), zone) <= now
