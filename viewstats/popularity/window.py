"""The viewing window the popularity commands look at.

`--days_number=N` means the last N whole days before today, in the
operator's time zone: from local midnight N days ago up to local midnight
today, end excluded. Days are the operator's calendar days, as in the
reports and daily statistics, so a DST day counts its 23 or 25 hours and a
+05:30 operator's days start at 18:30 UTC. With VIEWSTATS_POPULARITY_UTC_DAYS
= True the days are UTC days, as in Smarty. Today is left out so that every
day counted is complete and a run gives the same ranking whatever the hour
it runs at (cron at 03:00 or a rerun at 17:00); the window is printed and
stored with each result.

A session counts by its overlap with the window: its start and end are
clipped to the window, and only sessions with at least one second inside
count (so a zero-length session, a single push without a heartbeat, is not
a view). For every criterion the clipped duration is what is used: total
time is the sum of clipped durations, sessions is the number of sessions
with a positive overlap, average and median are over clipped durations.
"""
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from .. import host
from ..conf import setting


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    zone: str = field(default="UTC")

    @property
    def start_ms(self):
        return epoch_ms(self.start)

    @property
    def end_ms(self):
        return epoch_ms(self.end)

    def as_dict(self):
        return {"start": iso(self.start), "end": iso(self.end), "zone": self.zone}


def epoch_ms(instant):
    """Milliseconds since the epoch: pipelines compare and subtract instants as numbers."""
    return int(instant.timestamp()) * 1000 + instant.microsecond // 1000


def iso(instant):
    return instant.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def window_zone(client_id):
    """The zone whose days the client's windows count in."""
    if setting("VIEWSTATS_POPULARITY_UTC_DAYS"):
        return "UTC"
    return host.client_time_zone(client_id)


def viewing_window(days, now, zone="UTC"):
    """[local midnight `days` days before today, local midnight today) in `zone`."""
    tz = ZoneInfo(zone)
    today = now.astimezone(tz).date()

    def midnight(day):
        return datetime.combine(day, time.min, tzinfo=tz).astimezone(timezone.utc)
    return Window(start=midnight(today - timedelta(days=days)), end=midnight(today), zone=zone)
