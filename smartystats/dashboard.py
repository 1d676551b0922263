"""The data of the "Dynamics of subscribers" page and its JSON endpoint.

Reads only the caches (Count, MaxOnline, StatsSnapshot, OnlineNow), never
sessions. Series are dense (a bucket with no row is 0) and end at the last
bucket every series has filled, so a chart never shows a half-filled bucket.
Each widget compares the chosen range with the period of equal length just
before it: "level" widgets (active customers/accounts) the value at the end
of each period, "flow" widgets (new, deactivated, payments) the sums, the
online peak the maxima, paying customers the last bucket of each period.
The online widget shows accounts (what logs in and watches); customers are
given alongside.
"""
from collections import defaultdict
from datetime import date, timedelta

from django.conf import settings
from django.utils import timezone

from . import host
from .fill import last_successful_fill
from .models import Count, MaxOnline, OnlineNow, StatsSnapshot
from .series import DEFINITIONS, MAX_ONLINE, kind
from .timeutils import DAY, HOUR, INCREMENT, day_start, time_range

WIDGETS = {
    "customers_active": "Active customers",
    "accounts_active": "Active accounts",
    "customers_new": "New customers",
    "accounts_new": "New accounts",
    "customers_deactivated": "Deactivated customers",
    "accounts_deactivated": "Deactivated accounts",
    "online_peak": "Peak online (accounts)",
    "payments_sum": "Payments",
    "payments_count": "Number of payments",
    "paying_customers": "Customers who received a payment (last bucket)",
}


# The days a range may name: its comparison period before it and the bucket
# ends after it stay within the years a datetime holds.
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9998, 12, 31)


class BadRequest(ValueError):
    """A parameter the caller got wrong; the message names it."""


def max_range_days():
    """The longest range served: the series are dense, one value per bucket."""
    return getattr(settings, "SMARTYSTATS_MAX_RANGE_DAYS", 3660)


def check_day(day, name):
    if not FIRST_DAY <= day <= LAST_DAY:
        raise BadRequest(f"{name}: {day} is out of range ({FIRST_DAY}..{LAST_DAY})")
    return day


def check_range(first_day, last_day):
    check_day(first_day, "from")
    check_day(last_day, "to")
    if last_day < first_day:
        raise BadRequest(f"to: {last_day} is before from {first_day}")
    if (last_day - first_day).days + 1 > max_range_days():
        raise BadRequest(f"from: the range covers more than {max_range_days()} days")


def filled_to(client_id, frequency):
    """The end of the last bucket every series of `frequency` has filled, or None."""
    ends = [last_successful_fill(client_id, f"{name}:{sub}:{frequency}")
            for name, (sub, _, _) in DEFINITIONS.items()]
    ends.append(last_successful_fill(client_id, MAX_ONLINE))
    if any(e is None for e in ends):
        return None
    end = min(ends)
    if frequency == DAY:
        end = day_start(end.date())
    return end


def _change(value, previous):
    diff = value - previous
    return {"value": value, "previous": previous, "change": diff,
            "change_pct": round(100.0 * float(diff) / float(previous), 1) if previous else None}


def _number(value):
    return int(value) if value == int(value) else float(value)


def build(client_id, first_day, last_day, frequency=DAY):
    """Series and widgets of the days [first_day, last_day] (dates, UTC)."""
    if frequency not in (DAY, HOUR):
        raise BadRequest(f"frequency: {frequency!r} is not one of day, hour")
    check_range(first_day, last_day)
    step = INCREMENT[frequency]
    start, end = day_start(first_day), day_start(last_day) + INCREMENT[DAY]
    capped_to = filled_to(client_id, frequency)
    result = {
        "client": {"id": client_id, "name": host.client_name(client_id)},
        "range": {"from": first_day.isoformat(), "to": last_day.isoformat(), "frequency": frequency},
        "filled_to": capped_to.isoformat() if capped_to else None,
        "labels": [], "end_times": [], "series": {}, "widgets": {},
    }
    if capped_to is not None:
        end = min(end, capped_to)
    ends = time_range(start, end, frequency) if capped_to and end > start else []
    previous = [e - (len(ends) * step) for e in ends]
    all_ends = previous + ends
    fmt = "%Y-%m-%d" if frequency == DAY else "%Y-%m-%d %H:00"
    result["labels"] = [(e - step).strftime(fmt) for e in ends]
    result["end_times"] = [e.isoformat() for e in ends]

    rows = defaultdict(lambda: defaultdict(dict))  # name -> subgroup -> end -> value
    if all_ends:
        # The bucket just before the range is the "previous" of a level widget.
        lo = min(all_ends[0], ends[0] - step)
        for r in Count.objects.filter(client_id=client_id, series__endswith=f":{frequency}",
                                      end_time__gte=lo, end_time__lte=ends[-1]):
            rows[r.series.split(":", 1)[0]][r.subgroup][r.end_time] = r.value
    for name in DEFINITIONS:
        subgroups = sorted(k for k in rows[name])
        for sub in subgroups or [None]:
            values = rows[name][sub]
            # Sums are taken over the stored Decimals: summing floats would
            # show 204.26999999999998 for money.
            exact = [values.get(e, 0) for e in ends]
            dense = [_number(v) for v in exact]
            k = kind(name)
            if k == "level" or k == "last":
                widget = _change(dense[-1] if dense else 0,
                                 _number(values.get(ends[0] - step, 0)) if ends else 0)
            else:
                widget = _change(_number(sum(exact)), _number(sum(values.get(e, 0) for e in previous)))
            if DEFINITIONS[name][0]:  # per-currency series
                result["series"].setdefault(name, {})[sub or ""] = dense
                result["widgets"].setdefault(name, {})[sub or ""] = widget
            else:
                result["series"][name] = dense
                result["widgets"][name] = widget
        if DEFINITIONS[name][0] and name not in result["series"]:
            result["series"][name], result["widgets"][name] = {}, {}

    peaks = {}
    if all_ends:
        mo = MaxOnline.objects.filter(client_id=client_id, frequency=frequency,
                                      bucket_start__gte=all_ends[0] - step,
                                      bucket_start__lt=ends[-1])
        peaks = {r.bucket_start + step: (r.accounts, r.customers) for r in mo}
    for i, who in enumerate(("accounts", "customers")):
        dense = [peaks.get(e, (0, 0))[i] for e in ends]
        before = [peaks.get(e, (0, 0))[i] for e in previous]
        result["series"][f"online_peak_{who}"] = dense
        result["widgets"][f"online_peak_{who}"] = _change(max(dense, default=0), max(before, default=0))
    result["widgets"]["online_peak"] = result["widgets"]["online_peak_accounts"]

    snap = StatsSnapshot.objects.filter(client_id=client_id).order_by("-taken_at").first()
    result["snapshot"] = {"taken_at": snap.taken_at.isoformat(), **snap.data} if snap else None
    result["device_type_names"] = host.device_type_names(client_id)
    now = OnlineNow.objects.filter(client_id=client_id).first()
    result["online_now"] = ({"measured_at": now.measured_at.isoformat(), "accounts": now.accounts,
                             "customers": now.customers} if now else None)
    return result


def default_range(client_id, days=30):
    """The last `days` complete days the caches hold."""
    end = filled_to(client_id, DAY) or day_start(timezone.now().date())
    last_day = (end - timedelta(days=1)).date()
    return last_day - timedelta(days=days - 1), last_day
