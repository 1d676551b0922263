"""The data of the "Dynamics of subscribers" page and its JSON endpoint.

Reads only the caches (Count, MaxOnline, StatsSnapshot, OnlineNow), never
sessions. Days and hours are the operator's local ones (zones.zone_for):
instants are given with the operator's UTC offset, hours by local clock
time ("2024-11-03T01:00:00-04:00" and "2024-11-03T01:00:00-05:00" are the
two 01:00 of New York's 25-hour day). Caches cut in another zone are
refused (no series, a `cache_state` saying why and which command rebuilds
them). Series are dense (a bucket with no row is 0) and end at the last
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

from . import host, zones
from .fill import last_successful_fills
from .models import Count, MaxOnline, OnlineNow, StatsSnapshot
from .series import DEFINITIONS, MAX_ONLINE, kind
from .subscribers import STATUS_SOURCES
from .timeutils import (DAY, HOUR, day_of, day_start, floor_to_day, local_iso, previous_boundary,
                        time_range, tz)

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


def filled_to(client_id, frequency, zone="UTC"):
    """The end of the last bucket every series of `frequency` has filled, or None.

    None too while any series is cut in another zone than `zone`: stale
    caches are refused, never mixed with fresh ones.
    """
    series = [f"{name}:{sub}:{frequency}" for name, (sub, _, _) in DEFINITIONS.items()] + [MAX_ONLINE]
    if zones.is_stale(client_id, zone, series):
        return None
    ends = list(last_successful_fills(client_id, series).values())
    if any(e is None for e in ends):
        return None
    end = min(ends)
    if frequency == DAY:
        end = floor_to_day(end, zone)
    return end


def _change(value, previous):
    diff = value - previous
    return {"value": value, "previous": previous, "change": diff,
            "change_pct": round(100.0 * float(diff) / float(previous), 1) if previous else None}


def _number(value):
    return int(value) if value == int(value) else float(value)


def labels(starts, frequency, zone):
    """What the charts show under each bucket: the local date, or the local clock
    hour, with the UTC offset added where the hour repeats (a DST day's 01:00)."""
    if frequency == DAY:
        return [day_of(s, zone).isoformat() for s in starts]
    local = [s.astimezone(tz(zone)) for s in starts]
    shown = [t.strftime("%Y-%m-%d %H:%M") for t in local]
    repeated = {text for text in shown if shown.count(text) > 1}
    return [f"{text} (UTC{t.isoformat()[19:]})" if text in repeated else text
            for text, t in zip(shown, local)]


def buckets(first_day, last_day, frequency, zone, capped_to):
    """(starts, ends) of the range's buckets up to `capped_to`, and (starts, ends)
    of as many buckets just before it: the period it is compared with."""
    start, end = day_start(first_day, zone), day_start(last_day + timedelta(days=1), zone)
    if capped_to is None:
        return ([], []), ([], [])
    ends = time_range(start, min(end, capped_to), frequency, zone) if capped_to > start else []
    starts = [start, *ends[:-1]]
    before = [start]
    for _ in ends:
        before.insert(0, previous_boundary(before[0], frequency, zone))
    return (starts[:len(ends)], ends), (before[:-1], before[1:])


def build(client_id, first_day, last_day, frequency=DAY):
    """Series and widgets of the local days [first_day, last_day] (dates) of the client."""
    if frequency not in (DAY, HOUR):
        raise BadRequest(f"frequency: {frequency!r} is not one of day, hour")
    check_range(first_day, last_day)
    zone = zones.zone_for(client_id)
    state = zones.cache_state(client_id, zone)
    capped_to = filled_to(client_id, frequency, zone)
    (starts, ends), (previous_starts, previous) = buckets(first_day, last_day, frequency, zone, capped_to)
    result = {
        "client": {"id": client_id, "name": host.client_name(client_id)},
        "range": {"from": first_day.isoformat(), "to": last_day.isoformat(), "frequency": frequency},
        "time_zone": zone,
        "cache_state": state.as_dict(),
        "filled_to": local_iso(capped_to, zone) if capped_to else None,
        "labels": labels(starts, frequency, zone),
        "bucket_starts": [local_iso(s, zone) for s in starts],
        "end_times": [local_iso(e, zone) for e in ends],
        "series": {}, "widgets": {},
    }

    rows = defaultdict(lambda: defaultdict(dict))  # name -> subgroup -> end -> value
    if ends:
        # previous[-1], the bucket just before the range, is the "previous" of a level widget.
        for r in Count.objects.filter(client_id=client_id, series__endswith=f":{frequency}",
                                      end_time__gte=previous[0], end_time__lte=ends[-1]):
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
                                 _number(values.get(previous[-1], 0)) if ends else 0)
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
    if ends:
        mo = MaxOnline.objects.filter(client_id=client_id, frequency=frequency,
                                      bucket_start__gte=previous_starts[0], bucket_start__lt=ends[-1])
        peaks = {r.bucket_start: (r.accounts, r.customers) for r in mo}
    for i, who in enumerate(("accounts", "customers")):
        dense = [peaks.get(s, (0, 0))[i] for s in starts]
        before = [peaks.get(s, (0, 0))[i] for s in previous_starts]
        result["series"][f"online_peak_{who}"] = dense
        result["widgets"][f"online_peak_{who}"] = _change(max(dense, default=0), max(before, default=0))
    result["widgets"]["online_peak"] = result["widgets"]["online_peak_accounts"]

    snap = StatsSnapshot.objects.filter(client_id=client_id).order_by("-taken_at", "-id").first()
    result["snapshot"], result["snapshot_refused"] = None, None
    if snap is not None and snap.zone != zone:
        result["snapshot_refused"] = (f"The latest snapshot counted \"today\" and \"this month\" in "
                                      f"{snap.zone}; save_stats takes the next one in {zone}.")
    elif snap is not None:
        result["snapshot"] = {"taken_at": local_iso(snap.taken_at, zone), **snap.data}
    result["customer_status"] = customer_status(client_id, snap)
    result["device_type_names"] = host.device_type_names(client_id)
    now = OnlineNow.objects.filter(client_id=client_id).first()
    result["online_now"] = ({"measured_at": local_iso(now.measured_at, zone), "accounts": now.accounts,
                             "customers": now.customers} if now else None)
    return result


def customer_status(client_id, snap=None):
    """Where the latest snapshot's customer status came from, or None before any.

    {"source": "middleware" | "accounts" | "mixed", "text": "customer status: ..."}
    """
    snap = snap or StatsSnapshot.objects.filter(client_id=client_id).order_by("-taken_at", "-id").first()
    if snap is None:
        return None
    return {"source": snap.customer_status,
            "text": f"customer status: {STATUS_SOURCES[snap.customer_status]}"}


def default_range(client_id, days=30):
    """The last `days` complete local days the caches hold (up to today when they hold none)."""
    zone = zones.zone_for(client_id)
    end = filled_to(client_id, DAY, zone) or floor_to_day(timezone.now(), zone)
    last_day = day_of(end, zone) - timedelta(days=1)
    return last_day - timedelta(days=days - 1), last_day
