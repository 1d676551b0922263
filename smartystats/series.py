"""The chart series cache_customers_dynamic fills (a Zulip-style registry).

Each stat computes one bucket (a local hour or day ending at `end`) from the
host's SQL data and returns {subgroup: value}; level stats ("active") are
measured at the bucket's end. Series are named `name:subgroup:frequency`. Online peaks are
not here: they come from sessions and live in MaxOnline (see fill.py).
"""
from dataclasses import dataclass, replace
from typing import Callable

from . import host
from .timeutils import DAY, HOUR

MAX_ONLINE = "max_online::hour"
DAILY_STATS = "daily_stats::day"  # collect_daily_stats' fill state (smartystats.daily)


@dataclass(frozen=True)
class Stat:
    name: str
    subgroup: str
    frequency: str
    collector: Callable
    zone: str = "UTC"  # the zone its buckets are cut in: fill.py binds the client's

    @property
    def series(self):
        return f"{self.name}:{self.subgroup}:{self.frequency}"

    def in_zone(self, zone):
        return replace(self, zone=zone)


def _level(fn):
    return lambda client_id, start, end: {None: fn(client_id, end)}


def _flow(fn):
    return lambda client_id, start, end: {None: fn(client_id, start, end)}


def _payments(index):
    def collect(client_id, start, end):
        return {cur: row[index] for cur, row in host.payments(client_id, start, end).items()}
    return collect


# name -> (subgroup dimension, collector, kind); kind says how the page
# compares periods: "level" (value at the end), "flow" (sum).
DEFINITIONS = {
    "customers_active": ("", _level(host.active_customers), "level"),
    "accounts_active": ("", _level(host.active_accounts), "level"),
    "customers_new": ("", _flow(host.new_customers), "flow"),
    "accounts_new": ("", _flow(host.new_accounts), "flow"),
    "customers_deactivated": ("", _flow(host.deactivated_customers), "flow"),
    "accounts_deactivated": ("", _flow(host.deactivated_accounts), "flow"),
    "payments_sum": ("currency", _payments(0), "flow"),
    "payments_count": ("currency", _payments(1), "flow"),
    # Distinct per bucket, so not additive: the page shows the last bucket.
    "paying_customers": ("", _flow(host.paying_customers), "last"),
}

STATS = {}
for _name, (_sub, _fn, _kind) in DEFINITIONS.items():
    for _freq in (DAY, HOUR):
        _stat = Stat(_name, _sub, _freq, _fn)
        STATS[_stat.series] = _stat

ALL_SERIES = [*STATS, MAX_ONLINE]
# Every fill state whose rows are cut in the operator's zone.
ZONED_SERIES = [*ALL_SERIES, DAILY_STATS]


def kind(name):
    return DEFINITIONS[name][2]
