"""The periods a report page offers, in the operator's local days.

A page always shows the period its figures cover (the API's default, the
last 7 days up to today, included), with presets and the period just
before it for comparison.
"""
from dataclasses import dataclass
from datetime import date, timedelta

from ..documents import utcnow
from .filters import FilterError, check_day


@dataclass(frozen=True)
class Period:
    first: date
    last: date

    @property
    def days(self):
        return (self.last - self.first).days + 1

    def before(self):
        """The period of the same length that ends the day before this one starts."""
        last = self.first - timedelta(days=1)
        return Period(last - timedelta(days=self.days - 1), last)

    def params(self):
        return {"date_from": self.first.isoformat(), "date_to": self.last.isoformat()}

    def label(self):
        if self.first == self.last:
            return self.first.strftime("%a %d %b %Y")
        same_year = self.first.year == self.last.year
        first = self.first.strftime("%a %d %b" if same_year else "%a %d %b %Y")
        return f"{first} – {self.last.strftime('%a %d %b %Y')} ({self.days} days)"


def today(zone):
    return utcnow().astimezone(zone).date()


def presets(zone):
    """[(label, Period)] relative to the operator's today."""
    now = today(zone)
    month_start = now.replace(day=1)
    last_month_end = month_start - timedelta(days=1)
    return [
        ("Today", Period(now, now)),
        ("Yesterday", Period(now - timedelta(days=1), now - timedelta(days=1))),
        ("Last 7 days", Period(now - timedelta(days=6), now)),
        ("Last 30 days", Period(now - timedelta(days=29), now)),
        ("Last 90 days", Period(now - timedelta(days=89), now)),
        ("This month", Period(month_start, now)),
        ("Last month", Period(last_month_end.replace(day=1), last_month_end)),
    ]


def _day(value, name):
    try:
        return check_day(date.fromisoformat(value), name)
    except ValueError:
        raise FilterError(f"{name}: expected YYYY-MM-DD, got {value!r}") from None


def from_params(params, zone):
    """The period named by date_from/date_to, with the reports' defaults."""
    last = _day(params["date_to"], "date_to") if params.get("date_to") else today(zone)
    first = (_day(params["date_from"], "date_from") if params.get("date_from")
             else last - timedelta(days=6))
    if last < first:
        raise FilterError("date_from: the period starts after it ends")
    return Period(first, last)
