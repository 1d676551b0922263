"""Popularity rankings against an independent brute force in plain Python.

Random sessions (several seeds) for two clients side by side: sessions
crossing both window edges, zero-length ones, accounts that turn inactive
after watching, accounts whose tariff changes mid-window, timeshifted live
and archive viewing. The expected rankings are computed here from the
generated list, without any code of viewstats.popularity.
"""
import random
import statistics
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from fractions import Fraction

import pytest

from tests.factories import make_operator
from viewstats import store
from viewstats.popularity import service

HOST_KINDS = ("reference", "toy")  # the feature works the same on any host

DAY0 = datetime(2024, 3, 10, tzinfo=timezone.utc)   # EPG "today" of make_operator
AS_OF = DAY0 + timedelta(days=1, hours=7, minutes=13)  # window end = DAY0 + 1 day
DEVICES = ["mag", "android_stb", "ios"]


def _doc(i, op, channel_id, start, seconds, account, tariff_ids, device, kind="live",
         program_id=None, timeshift=0, client_id=None):
    return {"_id": f"t{op.client.id}-{i}", "client_id": client_id or op.client.id,
            "source": "device", "protocol": "batch", "account_id": account.id if account else None,
            "customer_id": account.customer_id if account else None, "tariff_ids": tariff_ids,
            "device_type": device, "channel_id": channel_id, "program_id": program_id,
            "kind": kind, "timeshift_offset": timeshift, "archive_offset": None,
            "start": start, "end": start + timedelta(seconds=seconds), "duration": seconds}


def make_world(seed, sessions=220):
    """Two operators, random sessions around a 2-day window; returns (ops, docs)."""
    rng = random.Random(seed)
    ops = [make_operator("Alpha", channels=7, accounts=6, epg_day=DAY0),
           make_operator("Beta", channels=5, accounts=3, epg_day=DAY0)]
    ops[0].disable_channel(ops[0].channels[6])
    docs = []
    for op in ops:
        basic, premium = op.tariffs
        switch_at = DAY0 - timedelta(hours=rng.randint(0, 30))
        programmes = [(p.id, p.channel_id) for ch in op.channels for p in op.schedule[ch.id]]
        # Leave one channel unwatched so filling is exercised.
        watched = op.channels[:-1] if seed % 2 else op.channels[:-2]
        for i in range(sessions if op is ops[0] else sessions // 3):
            account = rng.choice(op.accounts + [None] * 1)
            start = (DAY0 - timedelta(days=1, hours=6)
                     + timedelta(minutes=rng.randrange(0, 60 * 60, 5)))
            seconds = rng.choice([0, 60, 60, 120, 300, 900, 1800, 3600, 5 * 3600, 14 * 3600])
            if account is not None and account is op.accounts[0]:
                # This account's tariff changes during the window.
                tariffs = [basic.id] if start < switch_at else [premium.id]
            elif account is not None:
                tariffs = sorted(account.tariff_ids)
            else:
                tariffs = []
            device = rng.choice(DEVICES)
            if rng.random() < 0.25:
                programme_id, channel_id = rng.choice(programmes)
                docs.append(_doc(i, op, channel_id, start, seconds, account, tariffs, device,
                                 kind="archive", program_id=programme_id))
            else:
                channel = rng.choice(watched)
                docs.append(_doc(i, op, channel.id, start, seconds, account, tariffs, device,
                                 timeshift=rng.choice([0, 0, 0, 1, 3])))
    # Another client's sessions that name Alpha's channels must never count for Alpha.
    for i in range(15):
        docs.append(_doc(10_000 + i, ops[1], ops[0].channels[0].id, DAY0 + timedelta(hours=i),
                         3600, None, [], "mag"))
    store.sessions().insert_many(docs)
    # Accounts that watched, then turned inactive.
    for op in ops:
        for account in op.accounts[1::3]:
            op.block(account)
    return ops, docs


# --- the brute force ---------------------------------------------------------

def window_of(days):
    end = AS_OF.replace(hour=0, minute=0, second=0)
    return end - timedelta(days=days), end


def counted(docs, op, days, devices, tariffs, accounts_active):
    start, end = window_of(days)
    client_id = op.client.id
    active = {a.id for a in op.accounts} - op.blocked
    for doc in docs:
        if doc["client_id"] != client_id:
            continue
        if devices and doc["device_type"] not in devices:
            continue
        if tariffs and not set(doc["tariff_ids"]) & set(tariffs):
            continue
        if accounts_active and doc["account_id"] not in active:
            continue
        lo, hi = max(doc["start"], start), min(doc["end"], end)
        seconds = int((hi - lo).total_seconds())
        if seconds >= 1:
            yield doc, lo, hi, seconds


def expected_channels(docs, op, days, criterion, devices=(), tariffs=(), accounts_active=False,
                      enabled_only=False):
    durations = defaultdict(list)
    for doc, _, _, seconds in counted(docs, op, days, devices, tariffs, accounts_active):
        durations[doc["channel_id"]].append(seconds)
    channels = sorted((c for c in op.channels if c.id not in op.disabled or not enabled_only),
                      key=lambda c: (c.number, c.id))
    rows = []
    for index, channel in enumerate(channels):
        d = durations.get(channel.id, [])
        if d:
            values = {"watch": sum(d), "watch_sessions": len(d), "average": Fraction(sum(d), len(d)),
                      "median_watch_time": Fraction(statistics.median(sorted(d)))}
            key = (0, -values[criterion], -values["watch"], -values["watch_sessions"], index)
        else:
            values = {"watch": 0, "watch_sessions": 0, "average": None, "median_watch_time": None}
            key = (1, index)
        rows.append((key, channel.id, values))
    rows.sort(key=lambda r: r[0])
    return [(channel_id, values) for _, channel_id, values in rows]


def as_json(value):
    if value is None or isinstance(value, int):
        return value
    return int(value) if value.denominator == 1 else round(float(value), 3)


def check_channels(result, expected):
    got = [(item["id"], item["metrics"]) for item in result["items"]]
    want = [(channel_id, {k: as_json(v) for k, v in values.items()}) for channel_id, values in expected]
    assert got == want


CRITERIA = ["watch", "watch_sessions", "average", "median_watch_time"]


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_channel_rankings_match_brute_force(seed, host_kind):
    ops, docs = make_world(seed)
    alpha, beta = ops
    filter_sets = [
        {},
        {"devices": ["mag", "ios"]},
        {"tariffs": [alpha.tariffs[0].id]},
        {"accounts_active": True},
        {"devices": ["android_stb"], "tariffs": [alpha.tariffs[1].id], "accounts_active": True},
    ]
    for criterion in CRITERIA:
        for filters in filter_sets:
            for days in (1, 2):
                result = service.build_channel_sorting(alpha.client.id, days_number=days,
                                                       criterion=criterion, as_of=AS_OF, **filters)
                check_channels(result, expected_channels(docs, alpha, days, criterion, **filters))
        result = service.build_channel_selection(alpha.client.id, days_number=2, criterion=criterion,
                                                 selection_size=5, as_of=AS_OF,
                                                 devices=["mag", "android_stb"])
        check_channels(result, expected_channels(docs, alpha, 2, criterion,
                                                 devices=["mag", "android_stb"],
                                                 enabled_only=True)[:5])
    # Beta side by side: only its own viewing, never Alpha's.
    result = service.build_channel_sorting(beta.client.id, days_number=2, criterion="watch",
                                           as_of=AS_OF, tariffs=[beta.tariffs[1].id])
    check_channels(result, expected_channels(docs, beta, 2, "watch", tariffs=[beta.tariffs[1].id]))


@pytest.mark.django_db
def test_selection_fills_with_unwatched_channels_in_standard_order(host_kind):
    ops, docs = make_world(8, sessions=40)
    alpha = ops[0]
    unwatched = [alpha.channels[1].id, alpha.channels[5].id]
    store.sessions().delete_many({"client_id": alpha.client.id, "channel_id": {"$in": unwatched}})
    docs = [d for d in docs if d["channel_id"] not in unwatched]
    result = service.build_channel_selection(alpha.client.id, days_number=2, criterion="average",
                                             selection_size=17, as_of=AS_OF)
    expected = expected_channels(docs, alpha, 2, "average", enabled_only=True)
    check_channels(result, expected)
    assert result["filled"] == 2 and result["watched"] == 4
    assert [i["id"] for i in result["items"][-2:]] == unwatched  # standard order
    assert ops[0].channels[6].id not in [i["id"] for i in result["items"]]  # disabled


def expected_programmes(docs, op, days, size, devices=(), tariffs=(), channels=(), categories=()):
    start, end = window_of(days)
    selected = [c for c in op.channels if c.id not in op.disabled]
    if channels:
        selected = [c for c in selected if c.id in channels]
    if categories:
        selected = [c for c in selected if set(c.category_ids) & set(categories)]
    selected_ids = {c.id for c in selected}
    programmes = {p.id: p for c in selected for p in op.schedule[c.id]}
    live = defaultdict(int)
    archive = defaultdict(int)
    views = defaultdict(int)
    for doc, lo, hi, seconds in counted(docs, op, days, devices, tariffs, False):
        if doc["channel_id"] not in selected_ids:
            continue
        if doc["kind"] == "archive":
            if doc["program_id"] in programmes:
                archive[doc["program_id"]] += seconds
                views[doc["program_id"]] += 1
            continue
        shift = timedelta(hours=doc["timeshift_offset"])
        for p in programmes.values():
            if p.channel_id != doc["channel_id"]:
                continue
            overlap = int((min(hi - shift, p.end) - max(lo - shift, p.begin)).total_seconds())
            if overlap > 0:
                live[p.id] += overlap
                views[p.id] += 1
    watched = sorted((p for p in programmes.values() if live[p.id] + archive[p.id] > 0),
                     key=lambda p: (-(live[p.id] + archive[p.id]), -views[p.id],
                                    -p.begin.timestamp(), p.id))[:size]
    rows = [(p.id, {"watch": live[p.id] + archive[p.id], "live_watch": live[p.id],
                    "archive_watch": archive[p.id], "watch_sessions": views[p.id]}) for p in watched]
    fill = sorted((p for p in programmes.values() if p.begin < end and p.end > start),
                  key=lambda p: (-p.begin.timestamp(), p.id))
    taken = {p.id for p in watched}
    for p in fill:
        if len(rows) >= size:
            break
        if p.id not in taken:
            rows.append((p.id, {"watch": 0, "live_watch": 0, "archive_watch": 0, "watch_sessions": 0}))
    return rows


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [11, 12, 13])
def test_epg_selection_matches_brute_force(seed, host_kind):
    ops, docs = make_world(seed, sessions=150)
    alpha, beta = ops
    cases = [
        dict(days=1, size=17),
        dict(days=2, size=40, devices=["mag"]),
        dict(days=2, size=10, tariffs=[alpha.tariffs[1].id]),
        dict(days=1, size=30, categories=[alpha.categories[0].id, alpha.categories[2].id]),
        dict(days=2, size=200, channels=[alpha.channels[0].id, alpha.channels[5].id]),
    ]
    for case in cases:
        days, size = case.pop("days"), case.pop("size")
        result = service.build_epg_selection(alpha.client.id, days_number=days, selection_size=size,
                                             as_of=AS_OF, **case)
        got = [(item["id"], item["metrics"]) for item in result["items"]]
        assert got == expected_programmes(docs, alpha, days, size, **case), case
    result = service.build_epg_selection(beta.client.id, days_number=2, selection_size=25, as_of=AS_OF)
    assert [(i["id"], i["metrics"]) for i in result["items"]] == expected_programmes(docs, beta, 2, 25)
