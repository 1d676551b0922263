"""By channel / programme / device / country / protocol, raw and unique, against brute force."""
from datetime import timedelta

import pytest
from django.test import override_settings

from tests.test_reports_data import (ROW_KEYS, base_time, brute_breakdown, brute_unique,
                                     in_range, make_sessions, viewer)
from viewstats.reports import breakdowns
from viewstats.reports.filters import FilterError, parse_filters

HOST_KINDS = ("reference", "toy")  # the feature works the same on any host


def window(hours_from=6, hours_to=40):
    t0 = base_time()
    return t0 + timedelta(hours=hours_from), t0 + timedelta(hours=hours_to)


def filters(op, start, end, **params):
    return parse_filters({"from": start.isoformat(), "to": end.isoformat(), **params},
                         [op.client.id])


def as_map(rows, dimension):
    return {tuple(r.get(k) for k in ROW_KEYS[dimension]): r for r in rows}


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [11, 12, 13])
@pytest.mark.parametrize("dimension", ["channel", "programme", "device", "country", "protocol"])
def test_breakdown_matches_brute_force(operator, other_operator, seed, dimension):
    docs = make_sessions(operator, seed)
    make_sessions(other_operator, seed + 100)  # must never leak in
    start, end = window()
    report = breakdowns.report(filters(operator, start, end), dimension)
    expected = brute_breakdown(in_range(docs, start, end), dimension)
    got = as_map(report["rows"], dimension)
    assert set(got) == set(expected)
    for key, want in expected.items():
        row = got[key]
        assert (row["sessions"], row["watch_time"], row["bytes"], row["viewers"]) == (
            want["sessions"], want["watch_time"], want["bytes"], want["viewers"]), key
    totals = report["totals"]
    for metric in ("sessions", "watch_time", "bytes"):
        assert totals[metric] == sum(r[metric] for r in report["rows"])
    # Viewers over the range are counted over the range, not summed.
    assert totals["viewers"] == len({viewer(d) for d in in_range(docs, start, end)})


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [21, 22])
def test_filters_match_brute_force(operator, seed):
    docs = make_sessions(operator, seed)
    start, end = window(0, 48)
    ch = operator.channels[1]
    cases = [
        ({"channel": str(ch.id)}, lambda d: d["channel_id"] == ch.id),
        ({"category": str(operator.categories[0].id)},
         lambda d: d["channel_id"] in {c.id for c in operator.channels
                                      if operator.categories[0].id in c.category_ids}),
        ({"device_type": "mag"}, lambda d: d["device_type"] == "mag"),
        ({"tariff": str(operator.tariffs[1].id)}, lambda d: operator.tariffs[1].id in d["tariff_ids"]),
        ({"country": "de"}, lambda d: d["country"] == "DE"),
        ({"source": "media_server"}, lambda d: d["source"] == "media_server"),
        ({"source": "device", "country": "FR"},
         lambda d: d["source"] == "device" and d["country"] == "FR"),
    ]
    for params, keep in cases:
        report = breakdowns.report(filters(operator, start, end, **params), "channel")
        subset = [d for d in in_range(docs, start, end) if keep(d)]
        assert report["totals"]["sessions"] == len(subset), params
        assert report["totals"]["watch_time"] == sum(d["duration"] for d in subset), params
        assert report["totals"]["viewers"] == len({viewer(d) for d in subset}), params


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [31, 32, 33])
@pytest.mark.parametrize("dimension", ["channel", "device", "country"])
def test_unique_mode_matches_brute_force(operator, seed, dimension):
    docs = make_sessions(operator, seed, n=200, span_hours=6)
    start, end = base_time(), base_time() + timedelta(hours=6)
    with override_settings(VIEWSTATS_UNIQUE_GAP_SECONDS=300):
        report = breakdowns.report(filters(operator, start, end), dimension, unique=True)
    merged = brute_unique(in_range(docs, start, end), 300)
    assert len(merged) < len(in_range(docs, start, end))  # the data does glue something
    expected = brute_breakdown(merged, dimension)
    got = as_map(report["rows"], dimension)
    assert set(got) == set(expected)
    for key, want in expected.items():
        row = got[key]
        assert (row["sessions"], row["raw_sessions"], row["watch_time"], row["bytes"],
                row["viewers"]) == (want["sessions"], want["raw_sessions"], want["watch_time"],
                                    want["bytes"], want["viewers"]), key
    assert report["totals"]["sessions"] == len(merged)
    assert report["totals"]["raw_sessions"] == len(in_range(docs, start, end))


@pytest.mark.django_db
def test_bad_filters_are_explained(operator):
    for params, words in (({"date_from": "2024-13-01"}, "date_from"),
                          ({"channel": "x"}, "channel"), ({"source": "tv"}, "source"),
                          ({"date_from": "2024-02-02", "date_to": "2024-02-01"}, "empty"),
                          ({"from": "2024-01-01T00:00:00Z"}, "together")):
        with pytest.raises(FilterError, match=words):
            parse_filters(params, [operator.client.id])


@pytest.mark.django_db
def test_category_without_channels_matches_nothing(operator):
    make_sessions(operator, 5, n=30)
    empty_id = operator.builder.category(operator.client.id, "Empty")
    start, end = window(0, 48)
    report = breakdowns.report(filters(operator, start, end, category=str(empty_id)), "channel")
    assert report["rows"] == [] and report["totals"]["sessions"] == 0


@pytest.mark.django_db
def test_account_filter_takes_the_hosts_own_ids(operator):
    """Account ids are opaque: numbers on the reference host, strings on the toy host."""
    docs = make_sessions(operator, 9, n=40)
    wanted = operator.accounts[1].id
    start, end = window(0, 48)
    report = breakdowns.report(filters(operator, start, end, account=str(wanted)), "channel")
    expected = [d for d in docs if d["account_id"] == wanted and start <= d["start"] < end]
    assert expected and report["totals"]["sessions"] == len(expected)
