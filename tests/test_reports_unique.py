"""Unique-session merge edges, and the raw session list with its cursor."""
from datetime import datetime, timedelta, timezone

import pytest
from django.test import override_settings

from tests.test_reports_data import make_sessions
from viewstats import store
from viewstats.documents import session_document
from viewstats.reports import breakdowns, sessions
from viewstats.reports.filters import FilterError, parse_filters

HOST_KINDS = ("reference", "toy")  # the feature works the same on any host

T0 = datetime.now(timezone.utc).replace(microsecond=0, second=0, minute=0) - timedelta(hours=5)


def add(op, n, start, end, ip="10.0.0.1", ua="VLC", channel=0):
    store.sessions().insert_one(session_document(
        _id=f"u{n}", client_id=op.client.id, source="device", protocol="batch",
        start=T0 + timedelta(seconds=start), end=T0 + timedelta(seconds=end),
        channel_id=op.channels[channel].id, ip=ip, user_agent=ua))


def unique_totals(op, gap=300):
    f = parse_filters({"from": (T0 - timedelta(hours=1)).isoformat(),
                       "to": (T0 + timedelta(hours=4)).isoformat()}, [op.client.id])
    with override_settings(VIEWSTATS_UNIQUE_GAP_SECONDS=gap):
        return breakdowns.totals(f, unique=True)


@pytest.mark.django_db
class TestMergeEdges:
    def test_gap_of_exactly_the_window_merges(self, operator):
        add(operator, 1, 0, 100)
        add(operator, 2, 400, 500)  # starts 300 s after the previous end
        t = unique_totals(operator)
        assert (t["sessions"], t["raw_sessions"], t["watch_time"]) == (1, 2, 500)

    def test_one_second_over_the_window_does_not(self, operator):
        add(operator, 1, 0, 100)
        add(operator, 2, 401, 500)
        assert unique_totals(operator)["sessions"] == 2

    def test_overlapping_and_nested_sessions_merge_once(self, operator):
        add(operator, 1, 0, 3000)
        add(operator, 2, 100, 200)
        add(operator, 3, 2000, 3500)  # far from #2's end, but inside #1
        t = unique_totals(operator, gap=60)
        assert (t["sessions"], t["raw_sessions"], t["watch_time"]) == (1, 3, 3500)

    def test_different_user_agent_ip_or_channel_stay_apart(self, operator):
        add(operator, 1, 0, 100)
        add(operator, 2, 110, 200, ua="Kodi")
        add(operator, 3, 120, 200, ip="10.0.0.2")
        add(operator, 4, 130, 200, channel=1)
        assert unique_totals(operator)["sessions"] == 4

    def test_window_is_configurable(self, operator):
        add(operator, 1, 0, 100)
        add(operator, 2, 400, 500)
        assert unique_totals(operator, gap=299)["sessions"] == 2


@pytest.mark.django_db
@pytest.mark.parametrize("sort", ["-start", "start", "duration", "-end"])
def test_cursor_pages_cover_every_session_once_in_order(operator, sort):
    docs = make_sessions(operator, 7, n=120, span_hours=10, t0=T0)
    f = parse_filters({"from": T0.isoformat(), "to": (T0 + timedelta(hours=10)).isoformat()},
                      [operator.client.id])
    seen, cursor = [], None
    while True:
        page = sessions.page(f, sort, cursor, limit=17)
        seen += page["rows"]
        cursor = page["next"]
        if not cursor:
            break
    field, reverse = sort.lstrip("-"), sort.startswith("-")
    want = sorted(docs, key=lambda d: (d[field], d["_id"]), reverse=reverse)
    assert [r["id"] for r in seen] == [d["_id"] for d in want]


@pytest.mark.django_db
def test_session_list_filters_by_ip_and_rejects_bad_sort(operator):
    docs = make_sessions(operator, 8, n=80, t0=T0)
    f = parse_filters({"from": T0.isoformat(), "to": (T0 + timedelta(days=3)).isoformat(),
                       "ip": "10.0.0.2"}, [operator.client.id])
    rows = sessions.page(f, limit=1000)["rows"]
    assert sorted(r["id"] for r in rows) == sorted(d["_id"] for d in docs if d["ip"] == "10.0.0.2")
    with pytest.raises(FilterError):
        sessions.page(f, "ip")
    with pytest.raises(FilterError):
        sessions.page(f, "start", "garbage")
