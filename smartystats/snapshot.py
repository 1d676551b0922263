"""save_stats and the "online now" part of cache_max_online."""
from django.utils import timezone

from . import host, online, zones
from .models import OnlineNow, StatsSnapshot
from .timeutils import floor_to_day, start_of_month


def measure_online_now(client_id, now):
    counts = online.online_now(client_id, now)
    OnlineNow.objects.update_or_create(client_id=client_id, defaults={"measured_at": now, **counts})
    return counts


def take_snapshot(client_id, at, zone=None):
    """Compute and store the widgets' current numbers for one client at `at`.

    "Today" and "this month" start at the client's local midnight and first
    of the month (UTC ones with SMARTYSTATS_USE_UTC).
    """
    zone = zone or zones.zone_for(client_id)
    day = floor_to_day(at, zone)
    data = host.current_state(client_id, at, day, start_of_month(at, zone))
    source = data.pop("customer_status")
    data["online_now"] = measure_online_now(client_id, at)
    # Today's peak is swept afresh so it is exact even if cache_max_online
    # has not run since midnight; the sweep reads one day of sessions.
    [(acc, cust)] = online.peaks(client_id, [day, at + online.SECOND])
    data["peak_today"] = {"accounts": acc, "customers": cust}
    StatsSnapshot.objects.create(client_id=client_id, taken_at=at, data=data, zone=zone,
                                 customer_status=source)
    return data


def latest_snapshot(client_id):
    return StatsSnapshot.objects.filter(client_id=client_id).order_by("-taken_at", "-id").first()


def now():
    return timezone.now()
