"""Account sharing and restreaming, explained per account.

For one operator and a period of its local days, every account whose viewing
suggests a shared login or a restream is flagged, each flag with a score and
the evidence an operator can check. Nothing is flagged without evidence.

What is looked at (every time is the operator's; a session is playing during
its [start, end), clipped to the period; sessions without an account are
left out: they are nobody's login):

Shared login
    concurrent_streams   more devices playing at the same instant than the
                         account may have: its allowance is the number of
                         device types registered to it (Account.device_types,
                         the only device count the host contract gives), at
                         least VIEWSTATS_SHARING_MIN_STREAMS (2), or
                         VIEWSTATS_SHARING_MAX_STREAMS for every account when
                         that is set. A device is the session's device login
                         (`device_key`), or its IP address + User-Agent when
                         it has none (media-server sessions). Evidence: the
                         sessions playing at the first instant of the peak.
    concurrent_networks  viewing from more than
                         VIEWSTATS_SHARING_MAX_NETWORKS_AT_ONCE (2) IP
                         networks at the same instant (a network: the /24 of
                         an IPv4 address, the /48 of an IPv6 one). Evidence:
                         the sessions playing at its first peak instant.
    daily_spread         a local day with viewing from more than
                         VIEWSTATS_SHARING_MAX_NETWORKS_PER_DAY (3) networks,
                         VIEWSTATS_SHARING_MAX_COUNTRIES_PER_DAY (2) countries
                         or VIEWSTATS_SHARING_MAX_DEVICE_TYPES_PER_DAY (4)
                         device types. A session counts on the day it starts
                         and the day it ends. Evidence: each such day's
                         networks with their countries, device types,
                         sessions and first and last times.
    impossible_travel    two sessions from countries at least
                         VIEWSTATS_SHARING_TRAVEL_KM (1000) km apart, the
                         second starting at most VIEWSTATS_SHARING_TRAVEL_MINUTES
                         (60) after the first ended (or overlapping it). The
                         distance is between the countries' population
                         centres (CENTROIDS, a small built-in table: a rough
                         rule that never flags neighbours); a country outside
                         the table, or unknown, is never part of a pair.
                         Evidence: the sessions of both countries around the
                         closest pair.
Restream
    restream_channels    at least VIEWSTATS_SHARING_RESTREAM_CHANNELS (4)
                         distinct channels playing at once from one IP
                         address for at least VIEWSTATS_SHARING_RESTREAM_HOURS
                         (8) hours of a local day. Evidence: the sessions from
                         that address at the first instant of its peak, and
                         the hours per day.
    restreamer_ua        sessions whose User-Agent the device classifier calls
                         a restreamer / stream proxy (ua.type "restreamer":
                         xTeVe, Threadfin, Tvheadend, Jellyfin, Plex Media
                         Server...). Evidence: those sessions.

Score: the points of the account's flags (_points), at most 100:
    concurrent_streams   20, +10 per stream over the allowance (at most 40)
    concurrent_networks  20, +10 per network over the limit (at most 40)
    daily_spread         10, +5 per network, +10 per country and +5 per device
                         type over the limits on the worst day (at most 30)
    impossible_travel    40; 50 when the two sessions overlap
    restream_channels    40, +5 per channel over the threshold (at most 60)
    restreamer_ua        50

How it is computed. In MongoDB, with MongoDB 5.0 operators ($setWindowFields
with document windows, $shift; no $median or $sortArray), grouped per account:
  1. one pass over the period's sessions, bounded by the period's index range
     (store.ending_after: `client_end_id` over the period and a day past it;
     the few sessions longer than a day that end later come from the partial
     `client_long_end_id` and join by `_id` through $unionWith). Per account,
     local day and network: sessions, countries, device types, restreamer
     User-Agents; only the days over a threshold, or with a restreamer, come
     back. Per account also whether it could reach a floor at all: more
     distinct devices or networks than the lowest allowance, the channel time
     a restream needs (N channels x H hours), two countries of CENTROIDS.
     An honest account stops here;
  2. for those candidates only, read on the account index
     (`client_account_start`), a sweep: each session becomes one item per kind
     (its device; its network; its channel, per IP address); the intervals
     of each item are merged (a running max of `end`, then a running count of
     new groups), their starts and ends become +1 / -1 events, and a running
     sum over the events sorted by time gives how many devices, networks or
     channels (per address) play at every instant ($shift gives until when).
     Only the levels above the floors come back, per level (and per local day
     for channels);
  3. for the accounts seen in two such countries: per country, the sessions
     merged into stretches of continuous viewing; each stretch is compared
     with the TRAVEL_LOOKBACK (50) stretches before it; the pairs of countries
     within the travel minutes come back with their closest times, and the
     distance rule is applied to those few pairs.
Only the flagged accounts' evidence sessions are then read, at most
VIEWSTATS_SHARING_EVIDENCE_ROWS per flag, on the account index. Nothing else
of a session reaches Python. Documents examined: the period's range once,
plus the candidates' own sessions.
"""
import ipaddress
import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from django.conf import settings

from . import host, store
from .documents import utcnow
from .reports import present
from .reports.filters import FIRST_DAY, LAST_DAY, local_midnight

UTC = timezone.utc
LONG = timedelta(seconds=store.LONG_SESSION_SECONDS)
HOUR_MS = 3600 * 1000
# Each merged stretch of one country is compared with this many stretches
# before it (of the same account, by start): far more than any honest
# account has within the travel minutes.
TRAVEL_LOOKBACK = 50
RESTREAMER = "restreamer"

# Settings, read when a check runs (tests override them): name -> default.
DEFAULTS = {
    "VIEWSTATS_SHARING_MIN_STREAMS": 2,
    "VIEWSTATS_SHARING_MAX_STREAMS": None,
    "VIEWSTATS_SHARING_MAX_NETWORKS_AT_ONCE": 2,
    "VIEWSTATS_SHARING_MAX_NETWORKS_PER_DAY": 3,
    "VIEWSTATS_SHARING_MAX_COUNTRIES_PER_DAY": 2,
    "VIEWSTATS_SHARING_MAX_DEVICE_TYPES_PER_DAY": 4,
    "VIEWSTATS_SHARING_TRAVEL_KM": 1000,
    "VIEWSTATS_SHARING_TRAVEL_MINUTES": 60,
    "VIEWSTATS_SHARING_RESTREAM_CHANNELS": 4,
    "VIEWSTATS_SHARING_RESTREAM_HOURS": 8,
    "VIEWSTATS_SHARING_EVIDENCE_ROWS": 20,
    "VIEWSTATS_SHARING_MAX_DAYS": 92,
}


def conf(name):
    return getattr(settings, name, DEFAULTS[name])


# Approximate population centres (latitude, longitude) of the countries an
# operator's viewers are likely to be in: viewers live where people live, so
# for a large country this is not its geographic centre (Russia's is near
# Moscow, not in Siberia). Good to a few hundred kilometres, which is what
# the rule needs: it flags only countries at least TRAVEL_KM apart.
CENTROIDS = {
    "AD": (42.5, 1.5), "AE": (24.4, 54.6), "AL": (41.2, 19.9), "AM": (40.2, 44.6), "AR": (-34.0, -61.0),
    "AT": (47.9, 15.0), "AU": (-33.5, 147.0), "AZ": (40.4, 48.5), "BA": (44.2, 17.9), "BE": (50.8, 4.4),
    "BG": (42.6, 25.0), "BR": (-17.0, -46.0), "BY": (53.7, 27.9), "CA": (46.5, -78.0), "CH": (47.1, 8.2),
    "CL": (-34.5, -71.0), "CN": (32.0, 114.0), "CO": (5.0, -74.5), "CY": (35.0, 33.3), "CZ": (49.9, 15.4),
    "DE": (50.9, 9.6), "DK": (55.8, 10.8), "DZ": (35.5, 3.5), "EE": (58.9, 25.2), "EG": (29.5, 31.0),
    "ES": (40.0, -3.5), "FI": (61.5, 25.0), "FR": (46.9, 2.5), "GB": (52.6, -1.5), "GE": (41.9, 44.2),
    "GR": (38.6, 23.2), "HK": (22.3, 114.2), "HR": (45.4, 16.2), "HU": (47.3, 19.3), "ID": (-6.5, 110.0),
    "IE": (53.2, -7.6), "IL": (32.0, 34.9), "IN": (23.0, 80.0), "IQ": (33.5, 44.0), "IR": (34.0, 51.5),
    "IS": (64.1, -21.9), "IT": (42.8, 12.4), "JP": (35.6, 137.5), "KE": (-0.5, 36.9), "KG": (41.9, 74.2),
    "KR": (36.8, 127.5), "KZ": (46.5, 70.0), "LB": (33.9, 35.7), "LT": (55.3, 24.1), "LU": (49.7, 6.1),
    "LV": (56.9, 24.4), "MA": (33.2, -7.0), "MD": (47.1, 28.6), "ME": (42.6, 19.2), "MK": (41.7, 21.6),
    "MT": (35.9, 14.4), "MX": (21.0, -100.0), "MY": (3.6, 102.3), "NG": (8.5, 6.5), "NL": (52.1, 5.2),
    "NO": (60.3, 10.2), "NZ": (-38.5, 175.0), "PE": (-11.0, -76.5), "PH": (13.5, 121.5), "PK": (30.0, 71.5),
    "PL": (51.9, 19.6), "PT": (39.8, -8.6), "RO": (45.6, 25.3), "RS": (44.4, 20.6), "RU": (55.5, 45.0),
    "SA": (24.0, 45.0), "SE": (59.0, 16.0), "SG": (1.35, 103.8), "SI": (46.1, 14.7), "SK": (48.6, 19.3),
    "TH": (14.5, 100.7), "TJ": (38.8, 69.2), "TM": (38.8, 59.0), "TN": (35.7, 10.0), "TR": (39.5, 32.5),
    "TW": (24.2, 120.9), "UA": (49.3, 31.5), "US": (37.4, -92.2), "UZ": (40.6, 69.0), "VE": (9.0, -67.0),
    "VN": (16.5, 106.5), "ZA": (-27.5, 27.5),
}


def distance_km(a, b):
    """Great-circle distance between two countries' CENTROIDS, or None if one is not in it."""
    if a not in CENTROIDS or b not in CENTROIDS:
        return None
    (la1, lo1), (la2, lo2) = CENTROIDS[a], CENTROIDS[b]
    p1, p2 = math.radians(la1), math.radians(la2)
    dp, dl = p2 - p1, math.radians(lo2 - lo1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))


# ------------------------------------------------------------------ reasons

REASONS = {
    # code: (group, short title, what it means)
    "concurrent_streams": ("shared", "More streams at once than devices",
                           "More devices played at the same instant than the account has device types "
                           "registered (or the allowance in the settings)."),
    "concurrent_networks": ("shared", "Several places at once",
                            "Viewing from several IP networks (/24 for IPv4, /48 for IPv6) at the same instant."),
    "daily_spread": ("shared", "Many places in one day",
                     "A day with viewing from more networks, countries or device types than one household uses."),
    "impossible_travel": ("shared", "Impossible travel",
                          "Sessions from far-apart countries within minutes of each other."),
    "restream_channels": ("restream", "Many channels at once, around the clock",
                          "Many distinct channels played at once from one IP address for hours of a day."),
    "restreamer_ua": ("restream", "Restreamer User-Agent",
                      "Sessions from software that fetches streams to re-serve them (stream proxies, media servers)."),
}
GROUPS = {"shared": "Shared login", "restream": "Restream"}


def _points(code, facts, t):
    """Points of one flag: what the score adds up (capped at 100 per account)."""
    if code == "concurrent_streams":
        return 20 + 10 * min(2, facts["peak"] - facts["allowance"])
    if code == "concurrent_networks":
        return 20 + 10 * min(2, facts["peak"] - t.max_networks_at_once)
    if code == "daily_spread":
        worst = facts["days"][0]
        return min(30, 10 + 5 * min(3, max(0, worst["networks"] - t.max_networks_per_day))
                   + 10 * min(2, max(0, len(worst["countries"]) - t.max_countries_per_day))
                   + 5 * min(2, max(0, len(worst["device_types"]) - t.max_device_types_per_day)))
    if code == "impossible_travel":
        return 50 if facts["pairs"][0]["gap_seconds"] == 0 else 40
    if code == "restream_channels":
        return 40 + 5 * min(4, facts["peak"] - t.restream_channels)
    if code == "restreamer_ua":
        return 50
    raise KeyError(code)


@dataclass(frozen=True)
class Thresholds:
    min_streams: int
    max_streams: object
    max_networks_at_once: int
    max_networks_per_day: int
    max_countries_per_day: int
    max_device_types_per_day: int
    travel_km: float
    travel_minutes: float
    restream_channels: int
    restream_hours: float
    evidence_rows: int

    @classmethod
    def from_settings(cls):
        return cls(
            min_streams=int(conf("VIEWSTATS_SHARING_MIN_STREAMS")),
            max_streams=(None if conf("VIEWSTATS_SHARING_MAX_STREAMS") is None
                         else int(conf("VIEWSTATS_SHARING_MAX_STREAMS"))),
            max_networks_at_once=int(conf("VIEWSTATS_SHARING_MAX_NETWORKS_AT_ONCE")),
            max_networks_per_day=int(conf("VIEWSTATS_SHARING_MAX_NETWORKS_PER_DAY")),
            max_countries_per_day=int(conf("VIEWSTATS_SHARING_MAX_COUNTRIES_PER_DAY")),
            max_device_types_per_day=int(conf("VIEWSTATS_SHARING_MAX_DEVICE_TYPES_PER_DAY")),
            travel_km=float(conf("VIEWSTATS_SHARING_TRAVEL_KM")),
            travel_minutes=float(conf("VIEWSTATS_SHARING_TRAVEL_MINUTES")),
            restream_channels=int(conf("VIEWSTATS_SHARING_RESTREAM_CHANNELS")),
            restream_hours=float(conf("VIEWSTATS_SHARING_RESTREAM_HOURS")),
            evidence_rows=int(conf("VIEWSTATS_SHARING_EVIDENCE_ROWS")))

    @property
    def stream_floor(self):
        """No account may have fewer streams at once than this."""
        return self.max_streams if self.max_streams is not None else self.min_streams

    def allowance(self, device_types):
        if self.max_streams is not None:
            return self.max_streams
        return max(self.min_streams, len(device_types or ()))

    def as_dict(self):
        return {
            "VIEWSTATS_SHARING_MIN_STREAMS": self.min_streams,
            "VIEWSTATS_SHARING_MAX_STREAMS": self.max_streams,
            "VIEWSTATS_SHARING_MAX_NETWORKS_AT_ONCE": self.max_networks_at_once,
            "VIEWSTATS_SHARING_MAX_NETWORKS_PER_DAY": self.max_networks_per_day,
            "VIEWSTATS_SHARING_MAX_COUNTRIES_PER_DAY": self.max_countries_per_day,
            "VIEWSTATS_SHARING_MAX_DEVICE_TYPES_PER_DAY": self.max_device_types_per_day,
            "VIEWSTATS_SHARING_TRAVEL_KM": self.travel_km,
            "VIEWSTATS_SHARING_TRAVEL_MINUTES": self.travel_minutes,
            "VIEWSTATS_SHARING_RESTREAM_CHANNELS": self.restream_channels,
            "VIEWSTATS_SHARING_RESTREAM_HOURS": self.restream_hours,
            "VIEWSTATS_SHARING_EVIDENCE_ROWS": self.evidence_rows,
        }


class SharingError(ValueError):
    """A bad period or account; the message names the parameter."""


# ------------------------------------------------------------------ the period

@dataclass(frozen=True)
class Period:
    client_id: int
    first: date
    last: date
    zone: ZoneInfo

    @property
    def start(self):
        return local_midnight(self.first, self.zone)

    @property
    def end(self):
        return local_midnight(self.last + timedelta(days=1), self.zone)

    @property
    def days(self):
        """[(day, utc start, utc end)] of the local days."""
        out, day = [], self.first
        while day <= self.last:
            out.append((day, local_midnight(day, self.zone), local_midnight(day + timedelta(days=1), self.zone)))
            day += timedelta(days=1)
        return out

    def params(self):
        return {"date_from": self.first.isoformat(), "date_to": self.last.isoformat()}


def zone_of(client_id):
    return ZoneInfo(host.client_time_zone(client_id))


def period_of(client_id, first=None, last=None):
    """The period [first, last] of the operator's local days; default: yesterday."""
    zone = zone_of(client_id)
    if first is None and last is None:
        first = last = utcnow().astimezone(zone).date() - timedelta(days=1)
    first = first or last
    last = last or first
    for day, name in ((first, "date_from"), (last, "date_to")):
        if not FIRST_DAY <= day <= LAST_DAY:
            raise SharingError(f"{name}: {day} is out of range ({FIRST_DAY}..{LAST_DAY})")
    if last < first:
        raise SharingError("date_from: the period starts after it ends")
    most = int(conf("VIEWSTATS_SHARING_MAX_DAYS"))
    if (last - first).days + 1 > most:
        raise SharingError(f"date_to: the period is longer than {most} days (VIEWSTATS_SHARING_MAX_DAYS)")
    return Period(client_id, first, last, zone)


def account_variants(value):
    """Stored forms of an account id given as text: "42" is the number 42 or the text "42"."""
    if isinstance(value, int) and not isinstance(value, bool):
        return [value, str(value)]
    text = str(value).strip()
    if not text or len(text) > 128:
        raise SharingError("account: expected an account id")
    out = [text]
    if text.lstrip("-").isascii() and text.lstrip("-").isdigit() and len(text) < 19:
        out.append(int(text))
    return out


# ------------------------------------------------------------------ expressions

def _hex_value(group):
    """The value of a hex group of at most 4 digits ($indexOfArray: MongoDB 5.0 and the embedded engine)."""
    digits = list("0123456789abcdef")
    return {"$reduce": {"input": [0, 1, 2, 3], "initialValue": 0, "in": {"$let": {
        "vars": {"d": {"$indexOfArray": [digits, {"$substr": [group, "$$this", 1]}]}},
        "in": {"$cond": [{"$lt": ["$$d", 0]}, "$$value", {"$add": [{"$multiply": ["$$value", 16]}, "$$d"]}]}}}}}


def network_expr(ip="$ip"):
    """The session's network: "a.b.c.0/24" for IPv4, "g0:g1:g2::/48" for IPv6, None without an address.

    Addresses are stored as Python's ipaddress prints them (lower case, no
    leading zeros, "::" compression), which is what this reads. An IPv4-mapped
    IPv6 address (::ffff:1.2.3.4, or ::ffff:102:304) is its IPv4 /24.
    """
    head = {"$arrayElemAt": ["$$halves", 0]}
    tail = {"$cond": [{"$gt": [{"$size": "$$halves"}, 1]}, {"$arrayElemAt": ["$$halves", 1]}, ""]}
    groups_of = lambda part: {"$cond": [{"$eq": [part, ""]}, [], {"$split": [part, ":"]}]}  # noqa: E731
    v6 = {"$let": {"vars": {"halves": {"$split": ["$$ip", "::"]}}, "in": {"$let": {
        "vars": {"h": groups_of(head), "t": groups_of(tail)},
        "in": {"$let": {
            "vars": {"g": {"$concatArrays": [
                "$$h",
                # "::" stands for at least one group of zeros, as many as make 8.
                {"$cond": [{"$gt": [{"$size": "$$halves"}, 1]},
                           {"$slice": [["0"] * 8, {"$max": [1, {"$subtract": [
                               8, {"$add": [{"$size": "$$h"}, {"$size": "$$t"}]}]}]}]}, []]},
                "$$t"]}},
            "in": {"$cond": [
                {"$and": [{"$eq": [{"$slice": ["$$g", 5]}, ["0"] * 5]}, {"$eq": [{"$arrayElemAt": ["$$g", 5]}, "ffff"]},
                          {"$eq": [{"$size": "$$g"}, 8]}]},
                {"$let": {"vars": {"hi": _hex_value({"$arrayElemAt": ["$$g", 6]}),
                                   "lo": _hex_value({"$arrayElemAt": ["$$g", 7]})},
                          "in": {"$concat": [
                              {"$toString": {"$toLong": {"$floor": {"$divide": ["$$hi", 256]}}}}, ".",
                              {"$toString": {"$toLong": {"$mod": ["$$hi", 256]}}}, ".",
                              {"$toString": {"$toLong": {"$floor": {"$divide": ["$$lo", 256]}}}}, ".0/24"]}}},
                {"$concat": [{"$arrayElemAt": ["$$g", 0]}, ":", {"$arrayElemAt": ["$$g", 1]}, ":",
                             {"$arrayElemAt": ["$$g", 2]}, "::/48"]}]}}}}}}}
    v4 = {"$let": {"vars": {"q": {"$split": [{"$arrayElemAt": [{"$split": ["$$ip", ":"]}, -1]}, "."]}},
                   "in": {"$concat": [{"$arrayElemAt": ["$$q", 0]}, ".", {"$arrayElemAt": ["$$q", 1]}, ".",
                                      {"$arrayElemAt": ["$$q", 2]}, ".0/24"]}}}
    return {"$let": {"vars": {"ip": {"$ifNull": [ip, ""]}}, "in": {"$switch": {"branches": [
        {"case": {"$eq": ["$$ip", ""]}, "then": None},
        {"case": {"$eq": [{"$size": {"$split": ["$$ip", "."]}}, 4]}, "then": v4},
        {"case": {"$gt": [{"$size": {"$split": ["$$ip", ":"]}}, 2]}, "then": v6}],
        "default": None}}}}


def network_of(ip):
    """The same network as network_expr, in Python (evidence rows, tests)."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if addr.version == 6 and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    if addr.version == 4:
        return str(ipaddress.ip_network(f"{addr}/24", strict=False))
    g = addr.exploded.split(":")
    return ":".join(format(int(x, 16), "x") for x in g[:3]) + "::/48"


def _day_expr(instant, zone):
    """The local day of `instant` as the number YYYYMMDD."""
    part = lambda op: {op: {"date": instant, "timezone": zone}}  # noqa: E731
    return {"$add": [{"$multiply": [part("$year"), 10000]}, {"$multiply": [part("$month"), 100]},
                     part("$dayOfMonth")]}


def _day_of(number):
    return date(number // 10000, number // 100 % 100, number % 100)


def _aware(value):
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC) if isinstance(value, datetime) else value


# ------------------------------------------------------------------ reading the period

def _source(period, accounts=None, playing=False, **conditions):
    """(stages, hint): the first stages of an aggregation over the period's
    sessions with an account (of `accounts`, a list of stored ids, when given),
    and the index they read.

    playing=True: the sessions playing at some instant of the period (a
    zero-length session never plays); else every session with viewing in it:
    those, and the zero-length ones that started in it.

    One range of one index, plus the sessions longer than a day that a range
    bounded to a day past the period cannot hold: their ids are read first on
    the small partial index and joined with $unionWith by `_id`.
    """
    client_id, d0, d1 = period.client_id, period.start, period.end
    if playing:
        conditions["duration"] = {"$gt": 0}
    else:
        conditions["$or"] = [{"end": {"$gt": d0}}, {"start": {"$gte": d0}}]
    if accounts is None:
        (main, main_index), (late, late_index) = store.ending_after(
            client_id, d0, d1, inclusive=not playing, start={"$lt": d1}, account_id={"$ne": None}, **conditions)
    else:
        end = {"$gt": d0} if playing else {"$gte": d0}
        main = {"client_id": client_id, "account_id": {"$in": list(accounts)},
                "start": {"$gte": d0 - LONG, "$lt": d1}, "end": end, **conditions}
        main_index = "client_account_start"
        late = {"client_id": client_id, "end": end, "start": {"$lt": d0 - LONG},
                "account_id": {"$in": list(accounts)}, **conditions,
                "duration": {"$gt": store.LONG_SESSION_SECONDS}}
        late_index = "client_long_end_id"
    long_ids = [d["_id"] for d in store.sessions().find(late, {"_id": 1}).hint(late_index)]
    stages = [{"$match": main}]
    if long_ids:
        stages.append({"$unionWith": {"coll": store.SESSIONS, "pipeline": [
            {"$match": {"client_id": client_id, "_id": {"$in": long_ids}}}]}})
    return stages, main_index


def _run(period, tail, accounts=None, playing=False, **conditions):
    stages, index = _source(period, accounts, playing, **conditions)
    return list(store.sessions_aggregate(stages + tail, hint=index))


def _clip(period):
    """The session's part inside the period: (s, e) expressions."""
    return {"$max": ["$start", period.start]}, {"$min": ["$end", period.end]}


def _merge(partition, end="$e", extra=None):
    """Stages merging the intervals [s, end) of each `partition` into disjoint ones.

    A running max of the ends before each interval (by start) tells whether it
    opens a new group; a running sum of those numbers the groups. Output: one
    document per merged interval, _id {p: partition, g}, s, e (+ `extra` accumulators).
    """
    return [
        {"$setWindowFields": {"partitionBy": partition, "sortBy": {"s": 1}, "output": {
            "pe": {"$max": end, "window": {"documents": ["unbounded", -1]}}}}},
        {"$set": {"n": {"$cond": [{"$or": [{"$eq": [{"$ifNull": ["$pe", None]}, None]},
                                           {"$gt": ["$s", "$pe"]}]}, 1, 0]}}},
        {"$setWindowFields": {"partitionBy": partition, "sortBy": {"s": 1}, "output": {
            "g": {"$sum": "$n", "window": {"documents": ["unbounded", "current"]}}}}},
        {"$group": {"_id": {"p": partition, "g": "$g"}, "s": {"$min": "$s"}, "e": {"$max": end},
                    **(extra or {})}},
    ]


def _sweep_stages(period, kinds):
    """Stages from the period's playing sessions to one document per event with
    `lvl`, how many items of its kind play from its instant `ev.t` until `nt`.

    kinds: "dev" (devices of an account), "net" (networks of an account), "ch"
    (channels of an account per IP address, g = the address); a list, or
    {kind: [accounts]} to sweep each kind only for the accounts that need it.
    """
    s, e = _clip(period)
    items = {
        "dev": {"k": "dev", "g": "", "i": {"$ifNull": ["$device_key", {"$concat": [
            {"$ifNull": ["$ip", ""]}, "|", {"$ifNull": ["$user_agent", ""]}]}]}},
        "net": {"k": "net", "g": "", "i": network_expr()},
        "ch": {"k": "ch", "g": {"$ifNull": ["$ip", ""]}, "i": {"$ifNull": ["$channel_id", "$media"]}},
    }
    partition = {"a": "$a", "k": "$it.k", "g": "$it.g", "i": "$it.i"}
    if isinstance(kinds, dict):
        it = {"$concatArrays": [{"$cond": [{"$in": ["$account_id", list(accounts)]}, [items[k]], []]}
                                for k, accounts in kinds.items() if accounts]}
    else:
        it = [items[k] for k in kinds]
    return [
        {"$project": {"_id": 0, "a": "$account_id", "s": s, "e": e, "it": it}},
        {"$unwind": "$it"},
        {"$match": {"it.i": {"$ne": None}, "$or": [{"it.k": {"$ne": "ch"}}, {"it.g": {"$ne": ""}}]}},
        *_merge(partition),
        {"$project": {"_id": 0, "a": "$_id.p.a", "k": "$_id.p.k", "g": "$_id.p.g",
                      "ev": [{"t": "$s", "d": 1}, {"t": "$e", "d": -1}]}},
        {"$unwind": "$ev"},
        # Ends before starts at one instant: [start, end) never overlaps the
        # session that starts when another ends.
        {"$setWindowFields": {"partitionBy": {"a": "$a", "k": "$k", "g": "$g"},
                              "sortBy": {"ev.t": 1, "ev.d": 1}, "output": {
                                  "lvl": {"$sum": "$ev.d", "window": {"documents": ["unbounded", "current"]}},
                                  "nt": {"$shift": {"output": "$ev.t", "by": 1}}}}},
    ]


def _concurrency(period, t, accounts=None, kinds=None):
    """{account: {"dev": {...}, "net": {...}, "ch": {ip: {...}}}} of the levels above the floors.

    Each {...} is {"levels": {lvl: [ms, first instant]}, "days": {day: ms at the floor or above}}.
    `kinds` ({kind: [accounts]}) limits each kind's sweep to the accounts that may reach its floor.
    """
    floors = {"dev": t.stream_floor + 1, "net": t.max_networks_at_once + 1, "ch": t.restream_channels}
    days = [{"day": d.year * 10000 + d.month * 100 + d.day, "s": s, "e": e} for d, s, e in period.days]
    # A channel segment's time per local day: most lie inside one day; the
    # others are cut at the local midnights (the period's days, given).
    zone = period.zone.key
    first_day, last_day = _day_expr("$ev.t", zone), _day_expr({"$subtract": ["$nt", 1]}, zone)
    split = {"$cond": [{"$eq": [first_day, last_day]}, [{"day": first_day, "ms": {"$subtract": ["$nt", "$ev.t"]}}],
                       {"$map": {"input": {"$filter": {"input": days, "as": "d", "cond": {
                           "$and": [{"$lt": ["$$d.s", "$nt"]}, {"$gt": ["$$d.e", "$ev.t"]}]}}}, "as": "d", "in": {
                           "day": "$$d.day", "ms": {"$subtract": [{"$min": ["$nt", "$$d.e"]},
                                                                  {"$max": ["$ev.t", "$$d.s"]}]}}}}]}
    tail = _sweep_stages(period, kinds or list(floors)) + [
        {"$match": {"$expr": {"$gte": ["$lvl", {"$switch": {"branches": [
            {"case": {"$eq": ["$k", k]}, "then": floor} for k, floor in floors.items()]}}]}}},
        {"$project": {"a": 1, "k": 1, "g": 1, "lvl": 1, "t": "$ev.t", "parts": {"$cond": [
            {"$eq": ["$k", "ch"]}, split, [{"day": None, "ms": {"$subtract": ["$nt", "$ev.t"]}}]]}}},
        {"$unwind": "$parts"},
        {"$group": {"_id": {"a": "$a", "k": "$k", "g": "$g", "lvl": "$lvl", "day": "$parts.day"},
                    "ms": {"$sum": "$parts.ms"}, "first": {"$min": "$t"}}},
    ]
    out = {}
    for row in _run(period, tail, accounts, playing=True):
        key = row["_id"]
        per_account = out.setdefault(key["a"], {"dev": None, "net": None, "ch": {}})
        if key["k"] == "ch":
            slot = per_account["ch"].setdefault(key["g"], {"levels": {}, "days": {}})
        else:
            slot = per_account[key["k"]] = per_account[key["k"]] or {"levels": {}, "days": {}}
        level = slot["levels"].setdefault(key["lvl"], [0, None])
        level[0] += row["ms"]
        first = _aware(row["first"])
        level[1] = first if level[1] is None else min(level[1], first)
        if key["day"] is not None:
            slot["days"][key["day"]] = slot["days"].get(key["day"], 0) + row["ms"]
    return out


def _union(arrays, drop_null=True):
    """The set union of an array of arrays (expression)."""
    union = {"$reduce": {"input": arrays, "initialValue": [], "in": {"$setUnion": ["$$value", "$$this"]}}}
    return {"$filter": {"input": union, "as": "x", "cond": {"$ne": ["$$x", None]}}} if drop_null else union


def _daily(period, t, accounts=None):
    """(days, {kind: sweep candidates}, travel candidates) of the period, in one pass over its sessions.

    days: {account: [rows of the local days over a threshold or with restreamer
    sessions]}. The candidates are the accounts that may play over a floor at
    once (more distinct devices or networks than the lowest allowance, or the
    channel time a restream needs: N channels x H hours) and those seen in two
    countries of CENTROIDS: only they go through the sweep and the travel
    check, read on the account index; an honest account stops here.
    """
    zone = period.zone.key
    s, e = _clip(period)
    first_day = _day_expr(s, zone)
    last_day = _day_expr({"$max": [s, {"$subtract": [e, 1000]}]}, zone)
    restreamer = {"$eq": ["$ua.type", RESTREAMER]}
    playing = {"$gt": [e, s]}
    device = {"$ifNull": ["$device_key", {"$concat": [{"$ifNull": ["$ip", ""]}, "|",
                                                       {"$ifNull": ["$user_agent", ""]}]}]}
    once = lambda value: {"$cond": [{"$eq": ["$days", "$d0"]}, value, 0]}  # noqa: E731  (a session's first day)
    channel_time = t.restream_channels * t.restream_hours * 3600 * 1000
    tail = [
        {"$project": {
            "_id": 0, "a": "$account_id", "s": s, "e": e, "net": network_expr(), "dt": "$device_type", "ip": 1,
            "c": {"$cond": [{"$in": [{"$ifNull": ["$country", ""]}, ["", "unknown"]]}, None, "$country"]},
            "far": {"$cond": [{"$in": ["$country", sorted(CENTROIDS)]}, "$country", None]},
            "dev": {"$cond": [playing, device, None]}, "ms": {"$cond": [playing, {"$subtract": [e, s]}, 0]},
            "rs": {"$cond": [restreamer, 1, 0]},
            "app": {"$cond": [restreamer, {"$ifNull": ["$ua.app", ""]}, None]},
            "d0": first_day, "days": {"$setUnion": [[first_day], [last_day]]}}},
        {"$unwind": "$days"},
        {"$group": {"_id": {"a": "$a", "d": "$days", "net": "$net"}, "n": {"$sum": 1},
                    "cs": {"$addToSet": "$c"}, "dts": {"$addToSet": "$dt"},
                    # A session counts once (restreamer, channel time) on the day it starts.
                    "rs": {"$sum": once("$rs")}, "ms": {"$sum": once("$ms")},
                    "apps": {"$addToSet": "$app"}, "ips": {"$addToSet": "$ip"},
                    "devs": {"$addToSet": "$dev"}, "far": {"$addToSet": "$far"},
                    "s": {"$min": "$s"}, "e": {"$max": "$e"}}},
        {"$group": {"_id": {"a": "$_id.a", "d": "$_id.d"},
                    "nets": {"$push": {"net": "$_id.net", "n": "$n", "cs": "$cs", "dts": "$dts", "rs": "$rs",
                                       "apps": "$apps", "ips": {"$slice": ["$ips", 5]}, "s": "$s", "e": "$e"}},
                    "cs": {"$push": "$cs"}, "dts": {"$push": "$dts"}, "rs": {"$sum": "$rs"}, "n": {"$sum": "$n"},
                    "devs": {"$push": "$devs"}, "far": {"$push": "$far"}, "ms": {"$sum": "$ms"},
                    "names": {"$push": "$_id.net"}}},
        {"$project": {
            "nets": 1, "rs": 1, "n": 1, "ms": 1, "devs": _union("$devs"), "far": _union("$far"),
            "names": 1, "nn": {"$size": {"$filter": {"input": "$names", "as": "x", "cond": {"$ne": ["$$x", None]}}}},
            "cs": _union("$cs"), "dts": _union("$dts")}},
        {"$group": {"_id": "$_id.a",
                    "days": {"$push": {"$cond": [{"$or": [
                        {"$gt": ["$nn", t.max_networks_per_day]},
                        {"$gt": [{"$size": "$cs"}, t.max_countries_per_day]},
                        {"$gt": [{"$size": "$dts"}, t.max_device_types_per_day]},
                        {"$gt": ["$rs", 0]}]},
                        {"d": "$_id.d", "nets": "$nets", "nn": "$nn", "cs": "$cs", "dts": "$dts", "rs": "$rs",
                         "n": "$n"}, None]}},
                    "devs": {"$push": "$devs"}, "names": {"$push": "$names"}, "far": {"$push": "$far"},
                    "ms": {"$sum": "$ms"}}},
        {"$project": {
            "days": {"$filter": {"input": "$days", "as": "x", "cond": {"$ne": ["$$x", None]}}},
            "devs": {"$size": _union("$devs")}, "nets": {"$size": _union("$names")},
            "far": {"$size": _union("$far")}, "ms": 1}},
        {"$match": {"$or": [{"days.0": {"$exists": True}}, {"devs": {"$gt": t.stream_floor}},
                            {"nets": {"$gt": t.max_networks_at_once}}, {"ms": {"$gte": channel_time}},
                            {"far": {"$gte": 2}}]}},
    ]
    days, sweep, travel = {}, {"dev": [], "net": [], "ch": []}, []
    for row in _run(period, tail, accounts):
        a = row["_id"]
        for d in row["days"]:
            days.setdefault(a, []).append({
                "day": _day_of(d["d"]), "networks": d["nn"], "countries": sorted(d["cs"]),
                "device_types": sorted(d["dts"]), "sessions": d["n"], "restreamer_sessions": d["rs"],
                "nets": d["nets"]})
        for kind, may in (("dev", row["devs"] > t.stream_floor), ("net", row["nets"] > t.max_networks_at_once),
                          ("ch", row["ms"] >= channel_time)):
            if may:
                sweep[kind].append(a)
        if row["far"] >= 2:
            travel.append(a)
    for rows in days.values():
        rows.sort(key=lambda r: r["day"])
    return days, sweep, travel


def _travel(period, t, accounts=None):
    """{account: [{from, to, end_first, start_second, gap_seconds, km, times}]} of far-apart country pairs.

    Per account and country the sessions are merged into stretches of
    continuous viewing (their union), so the gap between two stretches is the
    smallest gap between any of their sessions. Each stretch, by start, is
    compared with the TRAVEL_LOOKBACK stretches before it.
    """
    reach = int(t.travel_minutes * 60 * 1000)
    s, e = _clip(period)
    tail = [
        {"$project": {"_id": 0, "a": "$account_id", "c": "$country", "s": s, "e": e}},
        *_merge({"a": "$a", "c": "$c"}),
        {"$project": {"_id": 0, "a": "$_id.p.a", "c": "$_id.p.c", "s": 1, "e": 1}},
        {"$setWindowFields": {"partitionBy": "$a", "sortBy": {"s": 1}, "output": {
            "prev": {"$push": {"c": "$c", "e": "$e"}, "window": {"documents": [-TRAVEL_LOOKBACK, -1]}}}}},
        {"$project": {"a": 1, "c": 1, "s": 1, "hits": {"$filter": {"input": "$prev", "as": "p", "cond": {
            "$and": [{"$ne": ["$$p.c", "$c"]}, {"$gte": [{"$add": ["$$p.e", reach]}, "$s"]}]}}}}},
        {"$unwind": "$hits"},
        {"$project": {"a": 1, "from": "$hits.c", "to": "$c", "e1": "$hits.e", "s2": "$s",
                      "gap": {"$max": [0, {"$subtract": ["$s", "$hits.e"]}]}}},
        {"$sort": {"a": 1, "gap": 1, "s2": 1}},
        {"$group": {"_id": {"a": "$a", "from": "$from", "to": "$to"}, "gap": {"$first": "$gap"},
                    "e1": {"$first": "$e1"}, "s2": {"$first": "$s2"}, "times": {"$sum": 1}}},
    ]
    out = {}
    for row in _run(period, tail, accounts, country={"$in": sorted(CENTROIDS)}):
        key = row["_id"]
        km = distance_km(key["from"], key["to"])
        if km is None or km < t.travel_km:
            continue
        out.setdefault(key["a"], []).append({
            "from": key["from"], "to": key["to"], "km": round(km), "gap_seconds": int(row["gap"] // 1000),
            "end_first": _aware(row["e1"]), "start_second": _aware(row["s2"]), "times": row["times"]})
    for pairs in out.values():
        pairs.sort(key=lambda p: (p["gap_seconds"], -p["km"], p["start_second"]))
    return out


# ------------------------------------------------------------------ results

@dataclass
class Reason:
    code: str
    points: int
    text: str
    facts: dict
    evidence: dict = field(default_factory=dict)

    @property
    def group(self):
        return REASONS[self.code][0]

    @property
    def title(self):
        return REASONS[self.code][1]

    def as_dict(self, zone, row=None):
        out = {"code": self.code, "group": self.group, "title": self.title, "points": self.points,
               "text": self.text, "facts": _local(self.facts, zone)}
        if self.evidence:
            evidence = dict(self.evidence)
            if "sessions" in evidence and row is not None:
                evidence["sessions"] = [row(d) for d in evidence["sessions"]]
            out["evidence"] = _local(evidence, zone)
        return out


@dataclass
class Finding:
    account_id: object
    login: str
    reasons: list
    device_types: tuple = ()

    @property
    def score(self):
        return min(100, sum(r.points for r in self.reasons))

    @property
    def groups(self):
        return [g for g in GROUPS if any(r.group == g for r in self.reasons)]

    @property
    def verdict(self):
        return " and ".join(GROUPS[g] if i == 0 else GROUPS[g].lower() for i, g in enumerate(self.groups))

    def reason(self, code):
        return next((r for r in self.reasons if r.code == code), None)

    def as_dict(self, zone, row=None):
        return {"account_id": self.account_id, "login": self.login, "score": self.score,
                "verdict": self.verdict, "groups": self.groups, "device_types": list(self.device_types),
                "reasons": [r.as_dict(zone, row) for r in self.reasons]}


@dataclass
class Analysis:
    period: Period
    thresholds: Thresholds
    findings: list
    min_score: int = 0
    accounts_flagged_below: int = 0   # flagged, but under min_score

    def by_reason(self):
        counts = {code: 0 for code in REASONS}
        for f in self.findings:
            for r in f.reasons:
                counts[r.code] += 1
        return counts

    def finding(self, account_id):
        wanted = {str(a) for a in account_variants(account_id)}
        return next((f for f in self.findings if str(f.account_id) in wanted), None)

    def as_dict(self):
        p = self.period
        return {"client_id": p.client_id, "client_name": host.client_name(p.client_id), "zone": p.zone.key,
                "date_from": p.first.isoformat(), "date_to": p.last.isoformat(),
                "start": p.start.astimezone(p.zone), "end": p.end.astimezone(p.zone),
                "min_score": self.min_score, "thresholds": self.thresholds.as_dict(),
                "flagged": len(self.findings), "below_min_score": self.accounts_flagged_below,
                "by_reason": self.by_reason(),
                "accounts": [f.as_dict(p.zone, self.row_maker()) for f in self.findings]}

    def row_maker(self):
        """session_row with the operator's names, looked up once."""
        cid = self.period.client_id
        channels, devices = host.channel_names([cid]), host.device_type_names([cid])
        return lambda doc: session_row(doc, self.period.zone, channels, devices)


def _local(value, zone):
    """Instants in the operator's zone (ISO with its offset in JSON), recursively."""
    if isinstance(value, datetime):
        return _aware(value).astimezone(zone)
    if isinstance(value, dict):
        return {k: _local(v, zone) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_local(v, zone) for v in value]
    return value


def _words(seconds):
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    hours, rest = divmod(seconds // 60, 60)
    return f"{hours} h {rest:02} min" if hours else f"{rest} min"


def _when(instant, zone):
    return present.local_time(instant, zone)


def _countries(codes):
    return ", ".join(present.country_name(c) for c in codes)


def analyse(client_id, first=None, last=None, *, account=None, min_score=0, evidence=False,
            thresholds=None):
    """The flagged accounts of the operator's period, highest score first.

    `account` (an id, any form) narrows it to one account (its detail);
    `evidence` reads each flag's evidence sessions (bounded per flag).
    """
    period = period_of(client_id, first, last)
    t = thresholds or Thresholds.from_settings()
    accounts = account_variants(account) if account is not None else None
    daily, sweep, moving = _daily(period, t, accounts)
    candidates = list(dict.fromkeys(a for kind in sweep.values() for a in kind))
    concurrency = _concurrency(period, t, candidates, sweep) if candidates else {}
    travel = _travel(period, t, moving) if moving else {}
    zone = period.zone
    candidates = set(concurrency) | set(daily) | set(travel)
    # The allowance of the accounts above the lowest one: their registered device types.
    registered = {}
    if t.max_streams is None:
        for a in (a for a, c in concurrency.items() if c["dev"]):
            found = host.get_host().account(client_id, a)
            registered[a] = tuple(found.device_types) if found is not None else ()
    findings = []
    for a in candidates:
        reasons = []
        c = concurrency.get(a) or {"dev": None, "net": None, "ch": {}}
        if c["dev"]:
            r = _streams_reason(c["dev"], t, registered.get(a, ()), zone)
            if r:
                reasons.append(r)
        if c["net"]:
            reasons.append(_networks_reason(c["net"], t, zone))
        days = daily.get(a, [])
        r = _spread_reason(days, t)
        if r:
            reasons.append(r)
        if a in travel:
            reasons.append(_travel_reason(travel[a], t, zone))
        r = _restream_reason(c["ch"], t, zone)
        if r:
            reasons.append(r)
        r = _restreamer_ua_reason(days)
        if r:
            reasons.append(r)
        if reasons:
            findings.append(Finding(a, "", reasons, registered.get(a, ())))
    logins = host.account_logins([client_id], [f.account_id for f in findings])
    for f in findings:
        f.login = logins.get(f.account_id) or str(f.account_id)
    kept = [f for f in findings if f.score >= min_score]
    kept.sort(key=lambda f: (-f.score, str(f.login), str(f.account_id)))
    if evidence:
        for f in kept:
            read_evidence(period, f, t)
    return Analysis(period, t, kept, min_score, len(findings) - len(kept))


def _peak(levels):
    top = max(levels)
    return top, levels[top][1]


def _streams_reason(slot, t, device_types, zone):
    allowance = t.allowance(device_types)
    peak, at = _peak(slot["levels"])
    if peak <= allowance:
        return None
    over = {lvl: v for lvl, v in slot["levels"].items() if lvl > allowance}
    ms = sum(v[0] for v in over.values())
    first_over = min(v[1] for v in over.values())
    facts = {"peak": peak, "peak_at": at, "allowance": allowance, "device_types": list(device_types),
             "seconds_over": ms // 1000, "first_over": first_over}
    why = (f"{t.max_streams} for every account" if t.max_streams is not None else
           f"{len(device_types)} device type{'s' if len(device_types) != 1 else ''} registered"
           + (f", at least {t.min_streams}" if len(device_types) < t.min_streams else ""))
    text = (f"Up to {peak} devices played at once ({allowance} allowed: {why}); "
            f"{_words(ms / 1000)} over the allowance in the period, first {_when(first_over, zone)}.")
    return Reason("concurrent_streams", _points("concurrent_streams", facts, t), text, facts)


def _networks_reason(slot, t, zone):
    peak, at = _peak(slot["levels"])
    ms = sum(v[0] for v in slot["levels"].values())
    facts = {"peak": peak, "peak_at": at, "seconds": ms // 1000, "allowed": t.max_networks_at_once}
    text = (f"Watched from {peak} IP networks at the same time (more than {t.max_networks_at_once}), "
            f"first {_when(at, zone)}; {_words(ms / 1000)} in all.")
    return Reason("concurrent_networks", _points("concurrent_networks", facts, t), text, facts)


def _spread_reason(days, t):
    flagged = [d for d in days if d["networks"] > t.max_networks_per_day
               or len(d["countries"]) > t.max_countries_per_day
               or len(d["device_types"]) > t.max_device_types_per_day]
    if not flagged:
        return None
    flagged.sort(key=lambda d: (-(d["networks"] - t.max_networks_per_day)
                                - 2 * (len(d["countries"]) - t.max_countries_per_day)
                                - (len(d["device_types"]) - t.max_device_types_per_day), d["day"]))
    rows = []
    for d in flagged[:t.evidence_rows]:
        nets = sorted(d["nets"], key=lambda n: (-n["n"], str(n["net"])))[:t.evidence_rows]
        rows.append({"day": d["day"], "networks": d["networks"], "countries": d["countries"],
                     "device_types": d["device_types"], "sessions": d["sessions"],
                     "by_network": [{"network": n["net"], "sessions": n["n"],
                                     "countries": sorted(c for c in n["cs"] if c),
                                     "device_types": sorted(x for x in n["dts"] if x),
                                     "addresses": sorted(x for x in n["ips"] if x),
                                     "first": _aware(n["s"]), "last": _aware(n["e"])} for n in nets]})
    worst = rows[0]
    facts = {"days": rows, "days_flagged": len(flagged)}
    parts = [f"{worst['networks']} networks"]
    if worst["countries"]:
        parts.append(f"{len(worst['countries'])} countr{'ies' if len(worst['countries']) != 1 else 'y'} "
                     f"({_countries(worst['countries'])})")
    parts.append(f"{len(worst['device_types'])} device type{'s' if len(worst['device_types']) != 1 else ''}")
    text = (f"{len(flagged)} day{'s' if len(flagged) != 1 else ''} with viewing from more places than one "
            f"household: the most on {worst['day'].strftime('%a %d %b')}, " + ", ".join(parts)
            + f" (a household: at most {t.max_networks_per_day} networks, {t.max_countries_per_day} countries, "
            f"{t.max_device_types_per_day} device types a day).")
    return Reason("daily_spread", _points("daily_spread", facts, t), text, facts)


def _travel_reason(pairs, t, zone):
    best = pairs[0]
    facts = {"pairs": pairs[:t.evidence_rows], "minutes": t.travel_minutes, "km": t.travel_km}
    gap = ("while the other was still playing" if best["gap_seconds"] == 0
           else f"{_words(best['gap_seconds'])} after the other ended")
    text = (f"Viewing from {present.country_name(best['from'])} and then {present.country_name(best['to'])} "
            f"({best['km']:,} km apart), {gap}, at {_when(best['start_second'], zone)}"
            + (f"; {len(pairs) - 1} other pair{'s' if len(pairs) != 2 else ''} of countries" if len(pairs) > 1 else "")
            + ".")
    return Reason("impossible_travel", _points("impossible_travel", facts, t), text, facts)


def _restream_reason(per_ip, t, zone):
    need = t.restream_hours * 3600 * 1000
    found = []
    for ip, slot in per_ip.items():
        days = sorted(((d, ms) for d, ms in slot["days"].items() if ms >= need), key=lambda x: x[0])
        if days:
            peak, at = _peak(slot["levels"])
            found.append({"ip": ip, "peak": peak, "peak_at": at,
                          "days": [{"day": _day_of(d), "hours": round(ms / 3600000, 1)} for d, ms in days]})
    if not found:
        return None
    found.sort(key=lambda x: (-len(x["days"]), -x["peak"], x["ip"]))
    best = found[0]
    most = max(best["days"], key=lambda d: d["hours"])
    facts = {"addresses": found[:t.evidence_rows], "peak": best["peak"], "ip": best["ip"],
             "peak_at": best["peak_at"], "channels": t.restream_channels, "hours": t.restream_hours}
    text = (f"Up to {best['peak']} channels at once from {best['ip']}; {t.restream_channels} or more for at "
            f"least {t.restream_hours:g} h on {len(best['days'])} day{'s' if len(best['days']) != 1 else ''} "
            f"(most: {most['hours']:g} h on {most['day'].strftime('%a %d %b')})"
            + (f"; {len(found) - 1} other address{'es' if len(found) != 2 else ''} alike" if len(found) > 1 else "")
            + ".")
    return Reason("restream_channels", _points("restream_channels", facts, t), text, facts)


def _restreamer_ua_reason(days):
    sessions = sum(d["restreamer_sessions"] for d in days)
    if not sessions:
        return None
    apps = sorted({a for d in days for n in d["nets"] for a in n["apps"] if a})
    ips = sorted({ip for d in days for n in d["nets"] if n["rs"] for ip in n["ips"] if ip})
    facts = {"sessions": sessions, "apps": apps, "addresses": ips[:20]}
    text = (f"{sessions} session{'s' if sessions != 1 else ''} from a restreamer / stream proxy User-Agent"
            + (f" ({', '.join(apps)})" if apps else "") + (f" at {', '.join(ips[:3])}" if ips else "") + ".")
    return Reason("restreamer_ua", _points("restreamer_ua", facts, None), text, facts)


# ------------------------------------------------------------------ evidence

EVIDENCE_FIELDS = {"_id": 1, "start": 1, "end": 1, "duration": 1, "channel_id": 1, "media": 1, "program_id": 1,
                   "kind": 1, "account_id": 1, "device_type": 1, "device_key": 1, "ua": 1, "ip": 1, "country": 1,
                   "user_agent": 1, "source": 1, "protocol": 1, "server_id": 1}


def sessions_around(client_id, accounts, lo, hi, *, at=False, limit=20, **conditions):
    """The account's sessions playing in [lo, hi] (at=True: at the instant lo == hi), by start, at most `limit`.

    Read on the account's index: start within a day before `lo` up to `hi`;
    the rare longer sessions from the partial long-session index.
    """
    end = {"$gt": lo} if at else {"$gte": lo}
    near = {"client_id": client_id, "account_id": {"$in": list(accounts)},
            "start": {"$gte": lo - LONG, "$lte": hi}, "end": end, **conditions}
    far = {"client_id": client_id, "end": end, "duration": {"$gt": store.LONG_SESSION_SECONDS},
           "start": {"$lt": lo - LONG}, "account_id": {"$in": list(accounts)}, **conditions}
    coll = store.sessions()
    rows = list(coll.find(near, EVIDENCE_FIELDS).sort([("start", 1), ("_id", 1)]).hint("client_account_start")
                .limit(limit))
    rows += list(coll.find(far, EVIDENCE_FIELDS).hint("client_long_end_id").limit(limit))
    rows.sort(key=lambda d: (_aware(d["start"]), str(d["_id"])))
    return rows[:limit]


def read_evidence(period, finding, t):
    """Fill each flag's `evidence` with the sessions an operator can check (at most evidence_rows each)."""
    cid, limit, accounts = period.client_id, t.evidence_rows, [finding.account_id]
    for r in finding.reasons:
        f = r.facts
        if r.code in ("concurrent_streams", "concurrent_networks"):
            r.evidence = {"at": f["peak_at"], "sessions": sessions_around(
                cid, accounts, f["peak_at"], f["peak_at"], at=True, limit=limit)}
        elif r.code == "impossible_travel":
            p = f["pairs"][0]
            reach = timedelta(minutes=t.travel_minutes)
            lo = min(p["end_first"], p["start_second"]) - reach
            hi = max(p["end_first"], p["start_second"]) + reach
            rows = sessions_around(cid, accounts, lo, hi, limit=10 * limit, country={"$in": [p["from"], p["to"]]})
            # The two sessions that make the pair first, then the others by start.
            anchors = [d for d in rows
                       if (d.get("country") == p["from"] and min(_aware(d["end"]), period.end) == p["end_first"])
                       or (d.get("country") == p["to"] and max(_aware(d["start"]), period.start) == p["start_second"])]
            rest = [d for d in rows if d not in anchors]
            r.evidence = {"from": lo, "to": hi, "sessions": (anchors + rest)[:limit]}
        elif r.code == "restream_channels":
            r.evidence = {"at": f["peak_at"], "ip": f["ip"], "sessions": sessions_around(
                cid, accounts, f["peak_at"], f["peak_at"], at=True, limit=limit, ip=f["ip"])}
        elif r.code == "restreamer_ua":
            r.evidence = {"sessions": sessions_around(
                cid, accounts, period.start, period.end - timedelta(milliseconds=1), limit=limit,
                **{"ua.type": RESTREAMER})}
        elif r.code == "daily_spread":
            r.evidence = {"days": f["days"]}
        for row in r.evidence.get("sessions", []):
            row["network"] = network_of(row.get("ip") or "")
    return finding


def session_row(doc, zone, channels, device_names):
    """An evidence session for people: names and local times."""
    ua = doc.get("ua") or {}
    model = " ".join(v for v in (ua.get("brand"), ua.get("model")) if v)
    return {
        "id": doc["_id"], "start": _local(doc["start"], zone), "end": _local(doc["end"], zone),
        "duration": doc.get("duration"),
        "channel": channels.get(doc.get("channel_id")) or doc.get("media") or present.UNKNOWN,
        "channel_id": doc.get("channel_id"), "kind": doc.get("kind"),
        "device_type": doc.get("device_type"),
        "device": " · ".join(v for v in (device_names.get(doc.get("device_type"), doc.get("device_type") or ""),
                                          present.device_class(ua.get("type")) if ua.get("type") else "",
                                          model, ua.get("app")) if v),
        "ip": doc.get("ip") or "", "network": doc.get("network") or network_of(doc.get("ip") or ""),
        "country": doc.get("country") or "unknown", "user_agent": doc.get("user_agent") or "",
        "source": doc.get("source"), "protocol": doc.get("protocol"),
    }


# ------------------------------------------------------------------ one account over time

def timeline(period, account, t=None):
    """Devices, networks and channels (from one address) playing at once, per hour of the period.

    {"hours": [utc instants], "devices": [...], "networks": [...], "channels": [...]}: the
    largest number at any instant of each hour (hours counted from the
    period's first local midnight).
    """
    accounts = account_variants(account)
    d0 = period.start
    hours = int((period.end - d0).total_seconds() // 3600)
    hour_of = lambda instant: {"$floor": {"$divide": [{"$subtract": [instant, d0]}, HOUR_MS]}}  # noqa: E731
    tail = _sweep_stages(period, ["dev", "net", "ch"]) + [
        {"$match": {"lvl": {"$gt": 0}, "nt": {"$ne": None}}},
        {"$match": {"$expr": {"$gt": ["$nt", "$ev.t"]}}},
        {"$project": {"k": 1, "lvl": 1, "h0": hour_of("$ev.t"), "h1": hour_of({"$subtract": ["$nt", 1]})}},
        # A segment counts in the hour it starts in; one that runs on holds the
        # level of the following hours' first instants (one segment per hour).
        {"$project": {"k": 1, "out": {"$concatArrays": [
            [{"h": "$h0", "to": "$h0", "l": "$lvl"}],
            {"$cond": [{"$gt": ["$h1", "$h0"]}, [{"h": {"$add": ["$h0", 1]}, "to": "$h1", "l": "$lvl"}], []]}]}}},
        {"$unwind": "$out"},
        {"$group": {"_id": {"k": "$k", "h": "$out.h", "to": "$out.to"}, "l": {"$max": "$out.l"}}},
    ]
    series = {k: [0] * hours for k in ("dev", "net", "ch")}
    for row in _run(period, tail, accounts, playing=True):
        key = row["_id"]
        values = series[key["k"]]
        for h in range(max(0, int(key["h"])), min(hours, int(key["to"]) + 1)):
            values[h] = max(values[h], row["l"])
    return {"hours": [d0 + timedelta(hours=h) for h in range(hours)], "devices": series["dev"],
            "networks": series["net"], "channels": series["ch"]}


def analysis_with_timeline(client_id, first, last, account, min_score=0):
    """One account's detail: its finding (None when nothing is flagged) with evidence, and its timeline."""
    analysis = analyse(client_id, first, last, account=account, min_score=min_score, evidence=True)
    return analysis, timeline(analysis.period, account, analysis.thresholds)
