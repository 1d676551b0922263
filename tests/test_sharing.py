"""Account sharing and restreaming (viewstats/sharing.py): who is flagged, why, and with what evidence.

Generated households: honest ones (several devices at home on one network,
a phone on the mobile network, a family using every device at once) must not
be flagged; a shared login, an impossible traveller, a restream of many
channels and a restreamer User-Agent must be, each with its reasons. The
figures behind every flag are recomputed here by brute force in plain
Python over the generated documents (the pipelines are never consulted), on
fixed scenarios and on random accounts with low thresholds; then the page,
the JSON API, the command and tenant scoping.
"""
import io
import ipaddress
import json
import math
import random
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.factories import make_operator
from tests.test_reports_access import staff
from viewstats import caching, sharing, store
from viewstats.documents import session_document

HOST_KINDS = ("reference", "toy")
UTC = timezone.utc

UAS = {
    "mag": ("Mozilla/5.0 (QtEmbedded; U; Linux; C) MAG200 stbapp", {"type": "stb", "brand": "Infomir",
                                                                   "model": "MAG250", "os": "", "app": ""}),
    "tizen_tv": ("Mozilla/5.0 (SMART-TV; LINUX; Tizen 6.0) TV Safari/537.36",
                 {"type": "smarttv", "brand": "Samsung", "model": "", "os": "Tizen", "app": ""}),
    "lg_webos": ("Mozilla/5.0 (Web0S; Linux/SmartTV) WebAppManager",
                 {"type": "smarttv", "brand": "LG", "model": "", "os": "webOS", "app": ""}),
    "android": ("Mozilla/5.0 (Linux; Android 13; SM-A536B) Mobile Safari/537.36",
                {"type": "mobile", "brand": "Samsung", "model": "SM-A536B", "os": "Android", "app": ""}),
    "ios": ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) Mobile/15E148",
            {"type": "mobile", "brand": "Apple", "model": "iPhone", "os": "iOS", "app": ""}),
    "lavf": ("Lavf/58.76.100", {"type": "player_app", "brand": "", "model": "", "os": "", "app": "Lavf 58.76.100"}),
    "xteve": ("xTeVe/2.2.0.200", {"type": "restreamer", "brand": "", "model": "", "os": "", "app": "xTeVe 2.2.0.200"}),
}


def day0():
    """The first day of the period: four days ago, at UTC midnight."""
    return (datetime.now(UTC) - timedelta(days=4)).replace(hour=0, minute=0, second=0, microsecond=0)


def params(days=2):
    t = day0()
    return {"date_from": t.date().isoformat(), "date_to": (t.date() + timedelta(days=days - 1)).isoformat()}


class Maker:
    """Session documents of one operator, kept for the brute force."""

    def __init__(self, op, prefix="s"):
        self.op, self.prefix, self.docs = op, prefix, []

    def add(self, account, start, minutes, *, ip, device, device_type="mag", ua="mag", country="DE", channel=0,
            source="device"):
        login = None
        if account is not None:
            login = SimpleNamespace(account_id=account.id, customer_id=account.customer_id, device_type=device_type,
                                    device_id=device)
        user_agent, fields = UAS[ua]
        doc = session_document(
            _id=f"{self.prefix}:{self.op.client.id}:{len(self.docs)}", client_id=self.op.client.id, source=source,
            protocol="push" if source == "device" else "hls", start=start,
            end=start + timedelta(minutes=minutes), channel_id=self.op.channels[channel % len(self.op.channels)].id,
            login=login, ip=ip, user_agent=user_agent, ua=dict(fields), country=country)
        self.docs.append(doc)
        return doc

    def save(self):
        store.sessions().insert_many([dict(d) for d in self.docs])
        return self.docs


def register(op, account, *device_types):
    for i, device_type in enumerate(device_types):
        op.login(account, device_type, f"{account.id}-{device_type}-{i}")


def set_zone(op, zone):
    from tests.factories import current_builder
    from tests.reference_builder import ReferenceBuilder

    if isinstance(current_builder(), ReferenceBuilder):
        from tvmiddleware import models as m
        m.Client.objects.filter(pk=op.client.id).update(time_zone=zone)
    else:
        from tests.toyhost import models as toy
        toy.Tenant.objects.filter(pk=op.client.id).update(tz=zone)
    caching.clear_all()


# ------------------------------------------------------------------ brute force

def brute_network(ip):
    if not ip:
        return None
    addr = ipaddress.ip_address(ip)
    if addr.version == 6 and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    prefix = 24 if addr.version == 4 else 48
    return ipaddress.ip_network(f"{addr}/{prefix}", strict=False)


def km(a, b):
    (la1, lo1), (la2, lo2) = sharing.CENTROIDS[a], sharing.CENTROIDS[b]
    x1, y1, z1 = _xyz(la1, lo1)
    x2, y2, z2 = _xyz(la2, lo2)
    chord = math.sqrt((x1 - x2) ** 2 + (y1 - y2) ** 2 + (z1 - z2) ** 2)
    return 2 * 6371.0 * math.asin(chord / 2)


def _xyz(lat, lon):
    lat, lon = math.radians(lat), math.radians(lon)
    return math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat)


def aware(t):
    return t if t.tzinfo else t.replace(tzinfo=UTC)


class Brute:
    """Every figure of the checks, from the documents, in plain Python."""

    def __init__(self, docs, first, last, zone):
        self.zone = ZoneInfo(zone)
        self.p0 = datetime.combine(first, datetime.min.time(), tzinfo=self.zone).astimezone(UTC)
        self.p1 = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=self.zone).astimezone(UTC)
        self.by_account = defaultdict(list)
        for d in docs:
            if d.get("account_id") is None:
                continue
            start, end = aware(d["start"]), aware(d["end"])
            if not (start < self.p1 and end >= self.p0):
                continue
            s, e = max(start, self.p0), min(end, self.p1)
            if e <= s and start < self.p0:
                continue  # ended at the period's start: no viewing in it
            self.by_account[d["account_id"]].append({
                "id": d["_id"], "s": s, "e": e, "dev": d.get("device_key") or f"{d.get('ip') or ''}|{d.get('user_agent') or ''}",
                "net": brute_network(d.get("ip")), "ip": d.get("ip") or "", "country": d.get("country"),
                "dt": d.get("device_type"), "ch": d.get("channel_id"), "ua_type": (d.get("ua") or {}).get("type")})

    @staticmethod
    def peak(sessions, key):
        """(largest number of distinct keys playing at one instant, its first instant, {level: seconds})."""
        playing = [x for x in sessions if x["e"] > x["s"] and key(x) is not None]
        level = lambda t: len({key(x) for x in playing if x["s"] <= t < x["e"]})  # noqa: E731
        best, at = 0, None
        for t in sorted({x["s"] for x in playing}):
            n = level(t)
            if n > best:
                best, at = n, t
        marks = sorted({x["s"] for x in playing} | {x["e"] for x in playing})
        seconds = defaultdict(float)
        for a, b in zip(marks, marks[1:]):
            seconds[level(a)] += (b - a).total_seconds()
        return best, at, seconds

    def level_seconds_per_day(self, sessions, key, at_least):
        """{local day: seconds with at least `at_least` distinct keys playing}."""
        playing = [x for x in sessions if x["e"] > x["s"] and key(x) is not None]
        marks = {x["s"] for x in playing} | {x["e"] for x in playing}
        day = self.p0
        while day < self.p1:
            marks.add(day)
            local = day.astimezone(self.zone).date() + timedelta(days=1)
            day = datetime.combine(local, datetime.min.time(), tzinfo=self.zone).astimezone(UTC)
        marks = sorted(marks)
        out = defaultdict(float)
        for a, b in zip(marks, marks[1:]):
            if len({key(x) for x in playing if x["s"] <= a < x["e"]}) >= at_least:
                out[a.astimezone(self.zone).date()] += (b - a).total_seconds()
        return dict(out)

    def days(self, sessions):
        out = defaultdict(lambda: {"nets": set(), "countries": set(), "dts": set()})
        for x in sessions:
            last = max(x["s"], x["e"] - timedelta(seconds=1))
            for day in {x["s"].astimezone(self.zone).date(), last.astimezone(self.zone).date()}:
                row = out[day]
                if x["net"] is not None:
                    row["nets"].add(x["net"])
                if x["country"] not in (None, "", "unknown"):
                    row["countries"].add(x["country"])
                if x["dt"]:
                    row["dts"].add(x["dt"])
        return out

    @staticmethod
    def travel(sessions, t):
        """{frozenset(countries): smallest gap in seconds} of far-apart pairs within the minutes."""
        known = [x for x in sessions if x["country"] in sharing.CENTROIDS]
        out = {}
        for i, x in enumerate(known):
            for y in known[i + 1:]:
                if x["country"] == y["country"] or km(x["country"], y["country"]) < t.travel_km:
                    continue
                gap = max(0.0, (max(x["s"], y["s"]) - min(x["e"], y["e"])).total_seconds())
                if gap <= t.travel_minutes * 60:
                    pair = frozenset((x["country"], y["country"]))
                    out[pair] = min(out.get(pair, gap), gap)
        return out

    def expected(self, account_id, t, device_types):
        """{reason code: facts to compare} the checks must find for the account."""
        sessions = self.by_account.get(account_id, [])
        out = {}
        peak, at, seconds = self.peak(sessions, lambda x: x["dev"])
        allowance = t.allowance(device_types)
        if peak > allowance:
            out["concurrent_streams"] = {"peak": peak, "peak_at": at, "allowance": allowance,
                                         "seconds_over": int(sum(v for k, v in seconds.items() if k > allowance))}
        peak, at, seconds = self.peak(sessions, lambda x: x["net"])
        if peak > t.max_networks_at_once:
            out["concurrent_networks"] = {"peak": peak, "peak_at": at,
                                          "seconds": int(sum(v for k, v in seconds.items()
                                                             if k > t.max_networks_at_once))}
        spread = {day: row for day, row in self.days(sessions).items()
                  if len(row["nets"]) > t.max_networks_per_day or len(row["countries"]) > t.max_countries_per_day
                  or len(row["dts"]) > t.max_device_types_per_day}
        if spread:
            out["daily_spread"] = {day: (len(r["nets"]), sorted(r["countries"]), sorted(r["dts"]))
                                   for day, r in spread.items()}
        pairs = self.travel(sessions, t)
        if pairs:
            out["impossible_travel"] = pairs
        restream = {}
        for ip in {x["ip"] for x in sessions if x["ip"]}:
            mine = [x for x in sessions if x["ip"] == ip]
            hours = {d: round(s / 3600, 1) for d, s in
                     self.level_seconds_per_day(mine, lambda x: x["ch"], t.restream_channels).items()
                     if s >= t.restream_hours * 3600}
            if hours:
                restream[ip] = (self.peak(mine, lambda x: x["ch"])[0], hours)
        if restream:
            out["restream_channels"] = restream
        rs = [x for x in sessions if x["ua_type"] == "restreamer"]
        if rs:
            out["restreamer_ua"] = {"sessions": len(rs)}
        return out


def found_facts(finding):
    """The same comparable facts, from an analysis' finding."""
    out = {}
    for r in finding.reasons:
        f = r.facts
        if r.code == "concurrent_streams":
            out[r.code] = {k: f[k] for k in ("peak", "peak_at", "allowance", "seconds_over")}
        elif r.code == "concurrent_networks":
            out[r.code] = {k: f[k] for k in ("peak", "peak_at", "seconds")}
        elif r.code == "daily_spread":
            out[r.code] = {d["day"]: (d["networks"], d["countries"], d["device_types"]) for d in f["days"]}
        elif r.code == "impossible_travel":
            pairs = {}
            for p in f["pairs"]:
                key = frozenset((p["from"], p["to"]))
                pairs[key] = min(pairs.get(key, p["gap_seconds"]), p["gap_seconds"])
            out[r.code] = pairs
        elif r.code == "restream_channels":
            out[r.code] = {a["ip"]: (a["peak"], {d["day"]: d["hours"] for d in a["days"]}) for a in f["addresses"]}
        elif r.code == "restreamer_ua":
            out[r.code] = {"sessions": f["sessions"]}
    return out


def compare(expected, found):
    assert set(found) == set(expected), (found, expected)
    for code, want in expected.items():
        got = found[code]
        if code in ("concurrent_streams", "concurrent_networks"):
            assert {k: (aware(v) if isinstance(v, datetime) else v) for k, v in got.items()} == want, code
        else:
            assert got == want, code


# ------------------------------------------------------------------ scenarios

def scenario(op, maker):
    """The households of the fixed scenario, by name -> account."""
    t0 = day0()
    acc = dict(zip(("family", "mobile", "shared", "traveller", "restream", "xteve", "big_family", "idle"),
                   op.accounts))
    register(op, acc["family"], "mag", "tizen_tv", "android")
    register(op, acc["mobile"], "mag", "android")
    register(op, acc["shared"], "android")
    register(op, acc["traveller"], "android")
    register(op, acc["restream"], "android_stb")
    register(op, acc["xteve"], "android_stb")
    register(op, acc["big_family"], "mag", "tizen_tv", "lg_webos", "ios")
    for day in (0, 1):
        d = t0 + timedelta(days=day)
        # Family: three devices at home on one /24, all three at once in the evening.
        maker.add(acc["family"], d + timedelta(hours=19), 180, ip="85.10.1.10", device="box", channel=1)
        maker.add(acc["family"], d + timedelta(hours=19, minutes=30), 120, ip="85.10.1.11", device="tv",
                  device_type="tizen_tv", ua="tizen_tv", channel=2)
        maker.add(acc["family"], d + timedelta(hours=20), 45, ip="85.10.1.12", device="phone",
                  device_type="android", ua="android", channel=3)
        maker.add(acc["family"], d + timedelta(hours=8), 30, ip="85.10.1.12", device="phone",
                  device_type="android", ua="android", channel=0)
        # Mobile: the box at home, the phone on two mobile networks, at most two places at once.
        maker.add(acc["mobile"], d + timedelta(hours=18), 240, ip="85.10.3.5", device="box", channel=4)
        maker.add(acc["mobile"], d + timedelta(hours=7, minutes=40), 25, ip="85.10.201.7", device="phone",
                  device_type="android", ua="android", channel=0)
        maker.add(acc["mobile"], d + timedelta(hours=19), 30, ip="85.10.202.9", device="phone",
                  device_type="android", ua="android", channel=0)
        # Big family: four device types at once, one network.
        for i, (dt, ua) in enumerate((("mag", "mag"), ("tizen_tv", "tizen_tv"), ("lg_webos", "lg_webos"),
                                      ("ios", "ios"))):
            maker.add(acc["big_family"], d + timedelta(hours=20, minutes=5 * i), 90, ip=f"2001:db8:1:0::{i + 1}",
                      device=dt, device_type=dt, ua=ua, channel=i)
    # Shared: one login (one device type), four households at once, one of them in the US.
    d = t0 + timedelta(hours=20)
    for i, (ip, country) in enumerate((("85.10.50.2", "DE"), ("85.10.60.3", "DE"), ("90.60.7.8", "FR"),
                                       ("2001:db8:aa::5", "US"))):
        maker.add(acc["shared"], d + timedelta(minutes=[0, 5, 10, 12][i]), 90, ip=ip, device=f"app{i}",
                  device_type="android", ua="android", country=country, channel=i)
    # Traveller: Germany, then the United States 30 minutes later.
    maker.add(acc["traveller"], t0 + timedelta(days=1, hours=8), 60, ip="85.10.70.1", device="phone",
              device_type="android", ua="android", country="DE")
    maker.add(acc["traveller"], t0 + timedelta(days=1, hours=9, minutes=30), 40, ip="23.40.1.1", device="phone",
              device_type="android", ua="android", country="US")
    # Restream: six channels at once around the clock from one address (an ffmpeg client).
    for slot in range(6):
        t = t0 + timedelta(minutes=7 * slot)
        n = 0
        while t < t0 + timedelta(days=2):
            maker.add(acc["restream"], t, 120, ip="81.2.9.9", device="proxy", device_type="android_stb", ua="lavf",
                      country="GB", channel=slot + 6 * (n % 2))
            t += timedelta(minutes=120)
            n += 1
    # A restreamer User-Agent, one channel now and then.
    for h in (3, 15):
        maker.add(acc["xteve"], t0 + timedelta(hours=h), 50, ip="81.2.10.10", device="xteve",
                  device_type="android_stb", ua="xteve", country="GB")
    # Viewers without an account (a media server's anonymous streams) are nobody's login.
    for i in range(8):
        maker.add(None, t0 + timedelta(hours=12), 600, ip=f"198.51.100.{i}", device="-", ua="lavf",
                  channel=i, source="media_server")
    return acc


@pytest.fixture
def world(db, host_kind):
    op = make_operator("Sharing TV", channels=12, accounts=8)
    maker = Maker(op)
    accounts = scenario(op, maker)
    maker.save()
    return SimpleNamespace(op=op, maker=maker, accounts=accounts)


def analyse(op, **kwargs):
    p = params()
    return sharing.analyse(op.client.id, datetime.fromisoformat(p["date_from"]).date(),
                           datetime.fromisoformat(p["date_to"]).date(), **kwargs)


def device_types_of(op, account):
    found = sharing.host.get_host().account(op.client.id, account.id)
    return found.device_types


@pytest.mark.django_db
def test_honest_households_are_not_flagged_and_the_others_are(world):
    op, acc = world.op, world.accounts
    result = analyse(op)
    flagged = {f.account_id: f for f in result.findings}
    for name in ("family", "mobile", "big_family", "idle"):
        assert acc[name].id not in flagged, (name, flagged.get(acc[name].id))
    codes = {name: {r.code for r in flagged[acc[name].id].reasons}
             for name in ("shared", "traveller", "restream", "xteve")}
    assert codes == {
        "shared": {"concurrent_streams", "concurrent_networks", "daily_spread", "impossible_travel"},
        "traveller": {"impossible_travel"},
        "restream": {"restream_channels"},
        "xteve": {"restreamer_ua"},
    }
    assert len(result.findings) == 4
    assert result.findings[0].account_id == acc["shared"].id and result.findings[0].score == 100
    assert flagged[acc["shared"].id].verdict == "Shared login"
    assert flagged[acc["restream"].id].verdict == "Restream"
    # Every flag's figures are the brute force's.
    brute = Brute(world.maker.docs, day0().date(), day0().date() + timedelta(days=1), "UTC")
    for name, account in acc.items():
        want = brute.expected(account.id, result.thresholds, device_types_of(op, account))
        got = found_facts(flagged[account.id]) if account.id in flagged else {}
        compare(want, got)


@pytest.mark.django_db
def test_shared_login_evidence_names_the_overlapping_sessions(world):
    op, acc, docs = world.op, world.accounts, world.maker.docs
    shared = acc["shared"]
    result = analyse(op, account=str(shared.id), evidence=True)
    [finding] = result.findings
    streams = finding.reason("concurrent_streams")
    assert streams.facts["peak"] == 4 and streams.facts["allowance"] == 2
    assert streams.facts["device_types"] == ["android"]
    at = streams.evidence["at"]
    assert at == day0() + timedelta(hours=20, minutes=12)
    playing = sorted(d["_id"] for d in docs if d["account_id"] == shared.id and d["start"] <= at < d["end"])
    assert sorted(d["_id"] for d in streams.evidence["sessions"]) == playing and len(playing) == 4
    assert {d["network"] for d in streams.evidence["sessions"]} == {
        "85.10.50.0/24", "85.10.60.0/24", "90.60.7.0/24", "2001:db8:aa::/48"}
    travel = finding.reason("impossible_travel")
    pairs = {frozenset((p["from"], p["to"])) for p in travel.facts["pairs"]}
    assert pairs == {frozenset(("DE", "US")), frozenset(("FR", "US"))}   # DE-FR are neighbours
    assert {d["country"] for d in travel.evidence["sessions"][:2]} <= {"DE", "FR", "US"}
    spread = finding.reason("daily_spread")
    [day] = spread.facts["days"]
    assert day["networks"] == 4 and day["countries"] == ["DE", "FR", "US"]
    assert {n["network"] for n in day["by_network"]} == {"85.10.50.0/24", "85.10.60.0/24", "90.60.7.0/24",
                                                         "2001:db8:aa::/48"}
    assert "Up to 4 devices played at once (2 allowed: 1 device type registered, at least 2)" in streams.text


@pytest.mark.django_db
def test_restream_evidence_and_hours(world):
    op, acc, docs = world.op, world.accounts, world.maker.docs
    result = analyse(op, account=acc["restream"].id, evidence=True)
    [finding] = result.findings
    r = finding.reason("restream_channels")
    assert r.facts["ip"] == "81.2.9.9" and r.facts["peak"] == 6
    assert [d["hours"] for d in r.facts["addresses"][0]["days"]] == [23.6, 24.0]  # 4+ channels from 00:21
    at = r.evidence["at"]
    playing = sorted(d["_id"] for d in docs if d["account_id"] == acc["restream"].id and d["start"] <= at < d["end"])
    assert sorted(d["_id"] for d in r.evidence["sessions"]) == playing and len(playing) == 6
    ua = analyse(op, account=acc["xteve"].id, evidence=True).findings[0].reason("restreamer_ua")
    assert ua.facts == {"sessions": 2, "apps": ["xTeVe 2.2.0.200"], "addresses": ["81.2.10.10"]}
    assert len(ua.evidence["sessions"]) == 2


@pytest.mark.django_db
@pytest.mark.parametrize("seed, low", [(1, True), (2, True), (3, True), (4, False), (5, False)])
def test_random_accounts_agree_with_brute_force(db, host_kind, settings, seed, low):
    """Random viewing: every figure of every flag, against brute force, in a +05:45 zone.

    Low thresholds flag nearly everyone; the defaults, on busier accounts, flag
    some and leave others out before the sweep (the candidate filter)."""
    if low:
        settings.VIEWSTATS_SHARING_MIN_STREAMS = 1
        settings.VIEWSTATS_SHARING_MAX_NETWORKS_AT_ONCE = 1
        settings.VIEWSTATS_SHARING_MAX_NETWORKS_PER_DAY = 2
        settings.VIEWSTATS_SHARING_MAX_COUNTRIES_PER_DAY = 1
        settings.VIEWSTATS_SHARING_MAX_DEVICE_TYPES_PER_DAY = 1
        settings.VIEWSTATS_SHARING_RESTREAM_CHANNELS = 2
        settings.VIEWSTATS_SHARING_RESTREAM_HOURS = 0.5
        settings.VIEWSTATS_SHARING_TRAVEL_MINUTES = 45
    settings.VIEWSTATS_SHARING_EVIDENCE_ROWS = 1000
    rnd = random.Random(seed)
    op = make_operator("Random TV", channels=5, accounts=6)
    set_zone(op, "Asia/Kathmandu")
    maker = Maker(op)
    ips = ["85.10.1.2", "85.10.1.3", "85.10.2.2", "90.60.1.1", "23.40.5.5", "2001:db8::7", "2001:db8:0:1::9",
           "::ffff:102:304", "1.2.3.9", "81.2.3.4", ""]
    countries = ["DE", "DE", "FR", "US", "GB", "NL", "unknown", "JP"]
    t0 = day0()
    for account in op.accounts:
        kinds = rnd.sample(["mag", "tizen_tv", "android", "ios"], rnd.randrange(0, 3))
        register(op, account, *kinds)
        for _ in range(rnd.randrange(5, 30) if low else rnd.randrange(5, 90)):
            start = t0 + timedelta(minutes=rnd.randrange(-600, 3 * 1440))
            device = rnd.choice(["a", "b", "c", "d"])
            maker.add(account, start, rnd.choice([0, 1, 10, 45, 90, 200, 1600]), ip=rnd.choice(ips),
                      device=device, device_type=rnd.choice(["mag", "tizen_tv", "android"]),
                      ua=rnd.choice(["mag", "android", "xteve", "lavf"]), country=rnd.choice(countries),
                      channel=rnd.randrange(5))
    maker.save()
    zone = ZoneInfo("Asia/Kathmandu")
    first = (t0.astimezone(zone)).date()
    last = first + timedelta(days=1)
    result = sharing.analyse(op.client.id, first, last)
    brute = Brute(maker.docs, first, last, "Asia/Kathmandu")
    flagged = {f.account_id: f for f in result.findings}
    assert flagged, "the low thresholds flag someone"
    for account in op.accounts:
        want = brute.expected(account.id, result.thresholds, device_types_of(op, account))
        got = found_facts(flagged[account.id]) if account.id in flagged else {}
        compare(want, got)


@pytest.mark.django_db
def test_sessions_longer_than_a_day_count(operator):
    """A box left playing for days is in the period through the long-session index."""
    maker = Maker(operator, "long")
    t0 = day0()
    account = operator.accounts[0]
    long = maker.add(account, t0 - timedelta(days=2), 6 * 1440, ip="85.10.1.1", device="box")
    for i in range(2):
        maker.add(account, t0 + timedelta(hours=20), 60, ip=f"85.10.{2 + i}.1", device=f"app{i}",
                  device_type="android", ua="android")
    maker.save()
    assert long["duration"] > store.LONG_SESSION_SECONDS and long["end"] > t0 + timedelta(days=3)
    result = analyse(operator, evidence=True)
    [finding] = result.findings
    streams = finding.reason("concurrent_streams")
    assert streams.facts["peak"] == 3
    assert long["_id"] in {d["_id"] for d in streams.evidence["sessions"]}
    assert finding.reason("concurrent_networks").facts["peak"] == 3


@pytest.mark.django_db
def test_network_expression_matches_ipaddress(operator):
    samples = ["85.10.1.2", "1.2.3.4", "2001:db8::1", "2001::1:2:3:4:5:6", "2001:db8:aa::5", "::1", "::",
               "fe80::1:2", "2a00:1450:4001:82b::200e", "1:2:3:4:5:6:7:8", "::ffff:102:304", "::ffff:1.2.3.4",
               "2001:db8:0:1::", "2001:db8:ab:cd::", ""]
    docs = [{"_id": f"n{i}", "client_id": operator.client.id, "ip": ip} for i, ip in enumerate(samples)]
    store.sessions().insert_many(docs)
    got = {d["_id"]: d["net"] for d in store.sessions().aggregate([
        {"$match": {"client_id": operator.client.id}}, {"$project": {"net": sharing.network_expr()}}])}
    for i, ip in enumerate(samples):
        network = brute_network(ip)
        if network is None:
            want = None
        elif network.version == 4:
            want = str(network)
        else:
            want = ":".join(format(int(g, 16), "x") for g in network.network_address.exploded.split(":")[:3]) + "::/48"
        assert got[f"n{i}"] == want, ip
        assert sharing.network_of(ip) == want, ip


@pytest.mark.django_db
def test_documents_examined_follow_the_period_not_the_history(world):
    """Doubling the history outside the period leaves what the checks examine unchanged."""
    op = world.op
    with store.examined() as before:
        analyse(op)
    old = Maker(op, "old")
    for doc in world.maker.docs:
        for weeks in (3, 6):
            copy = old.add(None, doc["start"] - timedelta(weeks=weeks), doc["duration"] // 60, ip=doc["ip"] or "",
                           device="x")
            copy.update(account_id=doc["account_id"], device_key=doc["device_key"])
    old.save()
    with store.examined() as after:
        result = analyse(op)
    assert len(result.findings) == 4
    assert after.total == before.total and before.total > 0
    assert {c.index for c in after.calls if c.collection == "sessions"} <= {
        "client_end_id", "client_long_end_id", "client_account_start"}


# ------------------------------------------------------------------ pages, API, command

@pytest.fixture
def admin(client, db):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    return client


@pytest.mark.django_db
def test_page_lists_flagged_accounts_with_reasons_and_chart(world, admin):
    op, acc = world.op, world.accounts
    r = admin.get("/viewstats/reports/sharing/", {"client": op.client.id, **params()})
    assert r.status_code == 200
    html = r.content.decode()
    assert 'id="vs-chart-data"' in html and "Flagged accounts by reason" in html
    result = analyse(op)
    for f in result.findings:
        assert f">{f.login}</a>" in html
        assert f"account={f.account_id}" in html
    assert "Impossible travel" in html and "Many channels at once" in html
    honest = sharing.host.account_logins([op.client.id], [acc["family"].id]).get(acc["family"].id)
    if honest:
        assert f">{honest}<" not in html
    assert "/viewstats/reports/sessions/?client=" in html
    assert "errornote" not in html and "{'" not in html


@pytest.mark.django_db
def test_account_page_shows_evidence_in_the_operator_zone_and_links_to_its_sessions(world, admin):
    op, acc = world.op, world.accounts
    set_zone(op, "Europe/Berlin")
    shared = acc["shared"]
    p = {"date_from": (day0().date() - timedelta(days=1)).isoformat(), "date_to": params()["date_to"]}
    r = admin.get("/viewstats/reports/sharing/", {"client": op.client.id, **p, "account": shared.id})
    assert r.status_code == 200
    html = r.content.decode()
    # 20:12 UTC is 21:12 or 22:12 in Berlin.
    local = (day0() + timedelta(hours=20, minutes=12)).astimezone(ZoneInfo("Europe/Berlin"))
    assert local.strftime("%a %d %b %H:%M") in html
    assert "Started (Europe/Berlin)" in html
    assert (f"/viewstats/reports/sessions/?client={op.client.id}&amp;date_from={p['date_from']}&amp;"
            f"date_to={p['date_to']}&amp;account={shared.id}") in html
    assert "85.10.60.0/24" in html and "2001:db8:aa::/48" in html
    assert 'data-chart="at-once"' in html
    r = admin.get("/viewstats/reports/sharing/", {"client": op.client.id, **p, "account": acc["family"].id})
    assert r.status_code == 200 and "Nothing is flagged" in r.content.decode()


@pytest.mark.django_db
def test_api_answers_what_the_page_shows(world, admin):
    op, acc = world.op, world.accounts
    r = admin.get("/viewstats/api/sharing", {"client": op.client.id, **params()})
    assert r.status_code == 200
    body = r.json()
    assert body["flagged"] == 4 and body["zone"] == "UTC"
    assert [a["account_id"] for a in body["accounts"]] == [f.account_id for f in analyse(op).findings]
    first = body["accounts"][0]
    assert first["score"] == 100 and {x["code"] for x in first["reasons"]} >= {"concurrent_streams"}
    assert first["urls"]["sessions"].startswith("/viewstats/reports/sessions/?client=")
    r = admin.get("/viewstats/api/sharing", {"client": op.client.id, **params(), "account": acc["shared"].id})
    detail = r.json()
    assert detail["account"]["account_id"] == acc["shared"].id
    streams = next(x for x in detail["account"]["reasons"] if x["code"] == "concurrent_streams")
    assert len(streams["evidence"]["sessions"]) == 4
    assert {s["network"] for s in streams["evidence"]["sessions"]} >= {"90.60.7.0/24"}
    assert max(p["devices"] for p in detail["timeline"]["points"]) == 4
    assert len(detail["timeline"]["points"]) == 48
    for bad, word in (({"min_score": "x"}, "min_score"), ({"date_from": "2024-13-01"}, "date_from"),
                      ({"date_from": "2020-01-01", "date_to": "2021-01-01"}, "date_to"),
                      ({"account": "x" * 200}, "account")):
        r = admin.get("/viewstats/api/sharing", {"client": op.client.id, **params(), **bad})
        assert r.status_code == 400 and word in r.json()["error"], bad
    make_operator("Second Net", channels=1, accounts=1)
    r = admin.get("/viewstats/api/sharing", params())  # a superuser names one of the operators
    assert r.status_code == 400 and "client" in r.json()["error"]
    r = admin.get("/viewstats/api/sharing", {"client": op.client.id, **params(), "min_score": "50"})
    assert [a["score"] for a in r.json()["accounts"]] == [100, 50, 50] and r.json()["below_min_score"] == 1
    # The CSV: one row per flagged account, as the JSON orders them, reasons in words.
    csv_lines = b"".join(admin.get("/viewstats/api/sharing.csv", {"client": op.client.id, **params()})
                         .streaming_content).decode().splitlines()
    assert csv_lines[0] == "account_id,login,score,verdict,reasons,device_types"
    assert [line.split(",")[0] for line in csv_lines[1:]] == [str(a["account_id"]) for a in body["accounts"]]
    assert all(" | " in line or line.count(",") >= 5 for line in csv_lines[1:])
    r = admin.get("/viewstats/api/sharing.csv", {"client": op.client.id, **params(), "min_score": "x"})
    assert r.status_code == 400 and "min_score" in r.json()["error"]


@pytest.mark.django_db
def test_staff_see_only_their_operator(world, client):
    op = world.op
    other = make_operator("Other Net", channels=3, accounts=2)
    maker = Maker(other, "o")
    for i in range(4):   # the other operator's own shared login
        maker.add(other.accounts[0], day0() + timedelta(hours=20, minutes=i), 60, ip=f"90.60.{i}.1",
                  device=f"d{i}", country="FR")
    maker.save()
    assert [f.account_id for f in analyse(other).findings] == [other.accounts[0].id]
    assert other.accounts[0].id not in {f.account_id for f in analyse(op).findings}
    client.force_login(staff(op, "alice"))
    r = client.get("/viewstats/api/sharing", params())
    assert r.status_code == 200 and r.json()["client_id"] == op.client.id and r.json()["flagged"] == 4
    assert client.get("/viewstats/api/sharing", {**params(), "client": other.client.id}).status_code == 403
    page = client.get("/viewstats/reports/sharing/", params())
    assert page.status_code == 200 and b"Other Net" not in page.content
    assert client.get("/viewstats/reports/sharing/", {**params(), "client": other.client.id}).status_code == 403
    r = client.get("/viewstats/api/sharing", {**params(), "account": other.accounts[0].id})
    assert r.status_code == 200 and r.json()["account"] is None   # another operator's account: nothing
    client.logout()
    assert client.get("/viewstats/api/sharing", params()).status_code == 401
    assert client.get("/viewstats/reports/sharing/", params()).status_code == 302


@pytest.mark.django_db
def test_command_prints_table_and_json(world):
    op = world.op
    p = params()
    out = io.StringIO()
    call_command("viewstats_sharing", client=[str(op.client.id)], date_from=p["date_from"], date_to=p["date_to"],
                 stdout=out)
    text = out.getvalue()
    result = analyse(op)
    for f in result.findings:
        assert f.login in text
    assert f"[1/1] client {op.client.id} (UTC) {p['date_from']}..{p['date_to']}: 4 account(s) flagged" in text
    assert "total: 1 client(s), 4 account(s) flagged" in text
    out, err = io.StringIO(), io.StringIO()
    call_command("viewstats_sharing", client=[str(op.client.id)], date_from=p["date_from"], date_to=p["date_to"],
                 format="json", min_score="50", evidence=True, stdout=out, stderr=err)
    body = json.loads(out.getvalue())
    [one] = body["clients"]
    assert [a["score"] for a in one["accounts"]] == [100, 50, 50] and one["below_min_score"] == 1
    assert all("evidence" in r for a in one["accounts"] for r in a["reasons"])
    assert "3 account(s) flagged, 1 under --min_score 50" in err.getvalue()
    out = io.StringIO()
    call_command("viewstats_sharing", client=[str(op.client.id)], stdout=out)  # yesterday: nothing then
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    assert f"{yesterday}..{yesterday}: 0 account(s) flagged" in out.getvalue()


@pytest.mark.django_db
@pytest.mark.parametrize("options, option", [
    ({"client": ["x"]}, "--client"), ({"client": ["99999"]}, "--client"), ({"format": "xml"}, "--format"),
    ({"date_from": "yesterday"}, "--date_from"), ({"date_to": "2024-02-30"}, "--date_to"),
    ({"date_from": "2024-03-02", "date_to": "2024-03-01"}, "--date_from"),
    ({"date_from": "2020-01-01", "date_to": "2021-01-01"}, "--date_to"), ({"min_score": "101"}, "--min_score"),
])
def test_command_refuses_a_bad_option_naming_it(world, options, option):
    with pytest.raises(CommandError) as exc:
        call_command("viewstats_sharing", **options)
    assert str(exc.value).startswith(option) and exc.value.returncode == 1


def test_command_help_lists_the_checks():
    from viewstats.management.commands.viewstats_sharing import Command

    text = Command().create_parser("manage.py", "viewstats_sharing").format_help()
    for word in ("--client", "--date_from", "--date_to", "--format", "--min_score", "impossible_travel",
                 "restreamer_ua", "Exit status"):
        assert word in text


@pytest.mark.django_db(transaction=True)
def test_pages_in_chromium(chromium, live_server, client, settings):
    """The list and one account's evidence in headless Chromium: charts drawn, no script error, no overflow.

    Needs Debian's chromium at /usr/bin/chromium; screenshots land in test-output/sharing-*.png.
    """
    from pathlib import Path

    op = make_operator("Sharing TV", channels=12, accounts=8)
    maker = Maker(op)
    accounts = scenario(op, maker)
    maker.save()
    User.objects.create_superuser("admin", "admin@example.com", "pw")
    client.login(username="admin", password="pw")
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    output = Path(__file__).resolve().parent.parent / "test-output"
    output.mkdir(exist_ok=True)
    query = f"client={op.client.id}&date_from={params()['date_from']}&date_to={params()['date_to']}"
    with chromium.admin_page(live_server, settings, cookie, 1400, 1000) as (page, errors):
        for name, url, charts in (
                ("list", f"/viewstats/reports/sharing/?{query}", 2),
                ("account", f"/viewstats/reports/sharing/?{query}&account={accounts['shared'].id}", 1),
                ("restream", f"/viewstats/reports/sharing/?{query}&account={accounts['restream'].id}", 1)):
            page.goto(live_server.url + url)
            page.wait_for_selector('#vs-report[data-charts-drawn="yes"]')
            drawn = page.evaluate("""() => Array.from(document.querySelectorAll('.vs-chart canvas')).map(c => {
                const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let ink = 0; for (let i = 3; i < px.length; i += 4) { if (px[i]) ink++; }
                return ink; })""")
            assert len(drawn) == charts and all(ink > 1000 for ink in drawn), (name, drawn)
            wide = page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
            assert wide, f"{name}: the page is wider than the window"
            page.screenshot(path=str(output / f"sharing-{name}.png"), full_page=True)
        assert errors == []
