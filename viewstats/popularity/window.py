"""The viewing window the popularity commands look at.

`--days_number=N` means the last N whole UTC days before today: from
00:00 UTC N days ago up to 00:00 UTC today, end excluded. Today is left out
so that every day counted is complete and a run gives the same ranking
whatever the hour it runs at (cron at 03:00 or a rerun at 17:00). UTC rather
than the operator's zone because sessions are stored in UTC and one command
may serve several clients at once; the window is printed and stored with
each result.

A session counts by its overlap with the window: its start and end are
clipped to the window, and only sessions with at least one second inside
count (so a zero-length session, a single push without a heartbeat, is not
a view). For every criterion the clipped duration is what is used: total
time is the sum of clipped durations, sessions is the number of sessions
with a positive overlap, average and median are over clipped durations.
"""
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @property
    def start_ms(self):
        return epoch_ms(self.start)

    @property
    def end_ms(self):
        return epoch_ms(self.end)

    def as_dict(self):
        return {"start": iso(self.start), "end": iso(self.end)}


def epoch_ms(instant):
    """Milliseconds since the epoch: pipelines compare and subtract instants as numbers."""
    return int(instant.timestamp()) * 1000 + instant.microsecond // 1000


def iso(instant):
    return instant.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def viewing_window(days, now):
    end = now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return Window(start=end - timedelta(days=days), end=end)
