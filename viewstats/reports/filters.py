"""Report filters from query parameters, and the $match they become.

    date_from, date_to  YYYY-MM-DD, inclusive, in the client's time zone
                        (UTC when several clients are read); default: the
                        last 7 days up to today
    from, to            ISO 8601 instants instead (to is exclusive)
    channel, programme, category, tariff, account, server   ids (64-bit), comma-separated
    device_type, country, source, kind, protocol  names, comma-separated
    brand, model        the device's brand and model (as the device report shows them)
    ip, user_agent      exact values
    inter_server=1      only other media servers' pulls (inter-server traffic),
                        which every report otherwise leaves out
A session is in the range when it started in it.
"""
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .. import host
from ..documents import VIEWING, utcnow
from ..timeparse import parse_instant

SOURCES = ("device", "media_server")
FILTER_PARAMS = ("channel", "programme", "category", "device_type", "tariff", "country",
                 "source", "kind", "protocol", "account", "server", "brand", "model", "ip",
                 "user_agent", "inter_server")
MAX_RANGE_DAYS = 366
# The days a report may name: the day after, the next month or year and a
# local midnight in any time zone all stay within what datetime can hold.
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9998, 12, 31)
INT64 = 2 ** 63  # ids are BSON 64-bit integers; a bigger one fails the query


class FilterError(ValueError):
    pass


def _ints(value, name):
    try:
        ids = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise FilterError(f"{name}: expected ids separated by commas, got {value!r}") from None
    if not all(-INT64 <= i < INT64 for i in ids):
        raise FilterError(f"{name}: an id is out of range (64-bit integers), got {value!r}")
    return ids


_INTEGER = re.compile(r"-?[0-9]{1,19}")  # ASCII digits only: str.isdigit() takes "²"


def _account_ids(value):
    """Accounts are the host's opaque ids: "42" stands for the number 42 or the text "42"."""
    ids = []
    for token in _names(value):
        if len(token) > 128:
            raise FilterError(f"account: an id is longer than 128 characters, got {token[:20]!r}…")
        ids.append(token)
        if _INTEGER.fullmatch(token) and -INT64 <= int(token) < INT64:
            ids.append(int(token))
    return ids


def _names(value):
    return [v.strip() for v in value.split(",") if v.strip()]


def _day(value, name):
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise FilterError(f"{name}: expected YYYY-MM-DD, got {value!r}") from None
    return check_day(day, name)


def check_day(day, name):
    if not FIRST_DAY <= day <= LAST_DAY:
        raise FilterError(f"{name}: {day} is out of range ({FIRST_DAY}..{LAST_DAY})")
    return day


def _instant(value, name):
    try:
        return parse_instant(value)
    except (ValueError, OverflowError) as exc:  # OverflowError: shifting year 1 or 9999 to UTC
        raise FilterError(f"{name}: {exc}") from None


def zone_for(client_ids):
    return ZoneInfo(host.client_time_zone(client_ids[0]) if len(client_ids) == 1 else "UTC")


def local_midnight(day, zone):
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(ZoneInfo("UTC"))


@dataclass
class Filters:
    client_ids: list
    start: datetime
    end: datetime
    channel: list = field(default_factory=list)
    programme: list = field(default_factory=list)
    device_type: list = field(default_factory=list)
    tariff: list = field(default_factory=list)
    country: list = field(default_factory=list)
    source: list = field(default_factory=list)
    kind: list = field(default_factory=list)
    protocol: list = field(default_factory=list)
    account: list = field(default_factory=list)
    server: list = field(default_factory=list)
    brand: list = field(default_factory=list)
    model: list = field(default_factory=list)
    ip: str = ""
    user_agent: str = ""
    inter_server: bool = False  # only the pulls of other servers, instead of viewing

    def match(self):
        """The $match: client first, then the start range, then the rest."""
        ids = self.client_ids
        m = {"client_id": ids[0] if len(ids) == 1 else {"$in": ids},
             "start": {"$gte": self.start, "$lt": self.end}}
        for name, key in (("channel", "channel_id"), ("programme", "program_id"),
                          ("device_type", "device_type"),
                          ("tariff", "tariff_ids"), ("country", "country"), ("source", "source"),
                          ("kind", "kind"), ("protocol", "protocol"), ("account", "account_id"),
                          ("server", "server_id"), ("brand", "ua.brand"), ("model", "ua.model")):
            values = getattr(self, name)
            if values:
                m[key] = {"$in": values}
        if self.ip:
            m["ip"] = self.ip
        if self.user_agent:
            m["user_agent"] = self.user_agent
        m.update({"inter_server": True} if self.inter_server else VIEWING)
        return m

    def as_dict(self):
        return {"start": self.start.isoformat(), "end": self.end.isoformat(),
                **{k: getattr(self, k) for k in FILTER_PARAMS
                   if k != "category" and getattr(self, k)}}


def parse_filters(params, client_ids):
    """Filters from a QueryDict/dict of strings; raises FilterError saying what is wrong."""
    get = lambda name: (params.get(name) or "").strip()  # noqa: E731
    zone = zone_for(client_ids)
    if get("from") or get("to"):
        start = _instant(get("from"), "from") if get("from") else None
        end = _instant(get("to"), "to") if get("to") else None
        if start is None or end is None:
            raise FilterError("from and to go together")
    else:
        today = utcnow().astimezone(zone).date()
        last = _day(get("date_to"), "date_to") if get("date_to") else today
        first = _day(get("date_from"), "date_from") if get("date_from") else last - timedelta(days=6)
        start, end = local_midnight(first, zone), local_midnight(last + timedelta(days=1), zone)
    if end <= start:
        raise FilterError("the range is empty: the end is not after the start")
    if end - start > timedelta(days=MAX_RANGE_DAYS):
        raise FilterError(f"the range is longer than {MAX_RANGE_DAYS} days")
    f = Filters(client_ids=client_ids, start=start, end=end,
                channel=_ints(get("channel"), "channel"),
                programme=_ints(get("programme"), "programme"), tariff=_ints(get("tariff"), "tariff"),
                account=_account_ids(get("account")), server=_ints(get("server"), "server"),
                device_type=_names(get("device_type")),
                country=[c.upper() if len(c) == 2 else c for c in _names(get("country"))],
                source=_names(get("source")), kind=_names(get("kind")),
                protocol=_names(get("protocol")), brand=_names(get("brand")),
                model=_names(get("model")), ip=get("ip"), user_agent=get("user_agent"),
                inter_server=get("inter_server").lower() in ("1", "true", "yes", "on"))
    bad = [s for s in f.source if s not in SOURCES]
    if bad:
        raise FilterError(f"source: expected {' or '.join(SOURCES)}, got {bad[0]!r}")
    categories = _ints(get("category"), "category")
    if categories:
        in_categories = host.channel_ids_in_categories(client_ids, categories)
        f.channel = [c for c in f.channel if c in in_categories] if f.channel else in_categories
        if not f.channel:
            f.channel = [-1]  # no channel in these categories: match nothing, not everything
    return f
