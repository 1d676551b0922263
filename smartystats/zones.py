"""The time zone an operator's caches are cut in, and whether they are in it.

Every smartystats day, hour, "today" and "this month" is the operator's
local one (the host's `Operator.time_zone`, as in the viewstats reports),
or UTC for everyone with SMARTYSTATS_USE_UTC.

Each fill state records the zone its rows were cut in. When the operator's
zone (or SMARTYSTATS_USE_UTC) changes, those rows are *stale*: pages refuse
them rather than mix two zones' days, and the next fill of each series
drops them and starts over in the new zone from the same history (fill.py,
daily.py). A start over is resumable like any fill: the fill state moves
bucket by bucket, so a killed run continues after the last finished one.
The per-client REBUILD fill state says a rebuild of the page's caches (the
chart series and max online) is under way (STARTED, `start_time` when it
began, `end_time` the fill target it must reach) until every one is back in
the zone and caught up (DONE). The daily statistics keep their own state
(daily.py): the page does not read them.
"""
from dataclasses import dataclass, field
from datetime import datetime

from . import host
from .conf import setting
from .models import FillState
from .series import ALL_SERIES, MAX_ONLINE, STATS
from .timeutils import HOUR, check_zone, floor

REBUILD = "zone:rebuild"
REBUILD_COMMAND = "manage.py smartystats_rebuild --client_id {client_id}"
OK, STALE, REBUILDING = "ok", "stale", "rebuilding"


def zone_for(client_id):
    """The IANA zone the client's caches are cut in now."""
    if setting("SMARTYSTATS_USE_UTC"):
        return "UTC"
    name = host.time_zone(client_id) or "UTC"
    try:
        return check_zone(name)
    except ValueError as exc:
        raise ValueError(f"client {client_id}: its time zone {exc}") from None


@dataclass
class CacheState:
    """What the page says about the client's caches."""

    zone: str
    status: str = OK
    built_in: list = field(default_factory=list)  # zones of stale fill states
    since: datetime | None = None                 # a rebuild under way began then
    command: str = ""

    def as_dict(self):
        return {"zone": self.zone, "status": self.status, "built_in": self.built_in,
                "since": self.since.isoformat() if self.since else None, "command": self.command,
                "message": self.message()}

    def message(self):
        if self.status == STALE:
            return (f"The caches were built in {', '.join(self.built_in)}; this operator's days and "
                    f"hours are now those of {self.zone}. They are not shown until rebuilt: they are "
                    f"being rebuilt by the next runs of cache_customers_dynamic and cache_max_online "
                    f"(cron), or run `{self.command}` to rebuild them now.")
        if self.status == REBUILDING:
            return (f"The caches are being rebuilt in {self.zone} (since "
                    f"{self.since:%Y-%m-%d %H:%M} UTC): what is shown is rebuilt, the rest is "
                    f"still to come. `{self.command}` finishes it now.")
        return ""


def cache_state(client_id, zone):
    """Whether the page's caches are in `zone`, stale, or being rebuilt in it."""
    states = list(FillState.objects.filter(client_id=client_id, series__in=[*ALL_SERIES, REBUILD]))
    state = CacheState(zone, command=REBUILD_COMMAND.format(client_id=client_id))
    stale = sorted({fs.zone for fs in states if fs.series != REBUILD and fs.zone != zone})
    marker = next((fs for fs in states if fs.series == REBUILD), None)
    if stale:
        state.status, state.built_in = STALE, stale
    elif marker is not None and marker.state == FillState.STARTED and marker.zone == zone:
        state.status, state.since = REBUILDING, marker.start_time
    return state


def is_stale(client_id, zone, series):
    return FillState.objects.filter(client_id=client_id, series__in=series).exclude(zone=zone).exists()


def mark_rebuilding(client_id, zone, target, now):
    """Note that a series of the client was started over in `zone`, to be caught up to `target`."""
    marker = FillState.objects.filter(client_id=client_id, series=REBUILD).first()
    if marker is None:
        FillState.objects.create(client_id=client_id, series=REBUILD, zone=zone, start_time=now,
                                 end_time=target, state=FillState.STARTED)
        return
    if marker.state == FillState.STARTED and marker.zone == zone:
        marker.end_time = max(marker.end_time, target)
    else:
        marker.start_time, marker.end_time = now, target
    marker.zone, marker.state = zone, FillState.STARTED
    marker.save()


def settle(client_id, zone):
    """Close the client's rebuild once every series is in `zone` and caught up; whether it is done."""
    from .fill import last_successful_fill

    marker = FillState.objects.filter(client_id=client_id, series=REBUILD).first()
    if marker is None or marker.state == FillState.DONE:
        return True
    if marker.zone != zone:
        return False
    for fs in FillState.objects.filter(client_id=client_id, series__in=ALL_SERIES):
        if fs.zone != zone:
            return False
        frequency = HOUR if fs.series == MAX_ONLINE else STATS[fs.series].frequency
        if last_successful_fill(client_id, fs.series) < floor(marker.end_time, frequency, zone):
            return False
    marker.state = FillState.DONE
    marker.save(update_fields=["state", "last_modified"])
    return True

