"""collect_daily_stats: one UTC day of payments and arrivals per client.

A day is written whole inside one transaction and replaces what was there,
so re-running a day (late payments, a corrected import) never adds to it.
The FillState "daily_stats::day" remembers the latest day collected so a run
after missed nights catches up.
"""
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from . import host
from .models import DailyPayments, DailyStats, FillState
from .timeutils import day_start

SERIES = "daily_stats::day"


def collect_day(client_id, day):
    """Replace client's row(s) for `day` (a date); return a summary dict."""
    start = day_start(day)
    end = start + timedelta(days=1)
    payments = host.payments(client_id, start, end)
    with transaction.atomic():
        DailyPayments.objects.filter(client_id=client_id, day=day).delete()
        DailyPayments.objects.bulk_create([
            DailyPayments(client_id=client_id, day=day, currency=cur, payments_sum=total,
                          payments_count=n, paying_customers=payers)
            for cur, (total, n, payers) in sorted(payments.items())])
        stats, _ = DailyStats.objects.update_or_create(client_id=client_id, day=day, defaults={
            "new_customers": host.new_customers(client_id, start, end),
            "new_accounts": host.new_accounts(client_id, start, end),
            "deactivated_accounts": host.deactivated_accounts(client_id, start, end),
            "paying_customers": host.paying_customers(client_id, start, end),
            "payments_count": sum(n for _, n, _ in payments.values()),
            "collected_at": timezone.now(),
        })
        fs = FillState.objects.filter(client_id=client_id, series=SERIES).first()
        if fs is None or fs.end_time < end:
            FillState.objects.update_or_create(client_id=client_id, series=SERIES,
                                               defaults={"end_time": end, "state": FillState.DONE})
    return {"day": day.isoformat(), "payments": {c: str(p[0]) for c, p in sorted(payments.items())},
            "paying_customers": stats.paying_customers, "new_customers": stats.new_customers}


def days_to_collect(client_id, yesterday, max_catch_up=31):
    """The days after the last collected one up to `yesterday` (just yesterday at first)."""
    fs = FillState.objects.filter(client_id=client_id, series=SERIES).first()
    if fs is None:
        return [yesterday]
    first = max(fs.end_time.date(), yesterday - timedelta(days=max_catch_up - 1))
    return [first + timedelta(days=i) for i in range((yesterday - first).days + 1)]


def collect(client_id, days=None, yesterday=None):
    """Collect the given days, or catch up to `yesterday`; return per-day summaries."""
    if days is None:
        days = days_to_collect(client_id, yesterday)
    return [collect_day(client_id, d) for d in days]
