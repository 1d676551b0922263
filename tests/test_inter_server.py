"""Inter-server traffic: other media servers pulling streams are traffic, never viewers.

An origin's play events include an edge server's pulls. Sessions from an
address in the operator's media-server list, or whose events say
"peer": "server", must be in no viewer figure (reports from rollups and from
raw sessions, unique, counters, popularity) and appear in daily statistics
as inter-server connections and bytes beside the viewers' traffic. The
expected figures are worked out here from the events sent.
"""

from datetime import datetime, timedelta, timezone

import pytest

from tests.test_mediaserver import ms, post
from viewstats import caching, peers
from viewstats.models import MediaServer
from viewstats.popularity import service
from viewstats.reports import breakdowns, counters, daily
from viewstats.reports.filters import parse_filters
from viewstats.reports.run import run

DAY = (datetime.now(timezone.utc) - timedelta(days=3)).replace(hour=0, minute=0, second=0, microsecond=0)


def session(sid, ip, channel, opened, minutes, total, user_id="", peer=None):
    base = {"id": sid, "media": channel.name, "ip": ip, "proto": "hls", "user_agent": "VLC/3.0.18",
            "token": "", "user_id": user_id, "opened_at": ms(opened), "server": "origin"}
    if peer:
        base["peer"] = peer
    end = opened + timedelta(minutes=minutes)
    return [{**base, "event": "play_opened", "event_id": f"{sid}-0", "utc_ms": ms(opened), "bytes": 0},
            {**base, "event": "play_closed", "event_id": f"{sid}-1", "utc_ms": ms(end), "bytes": total,
             "closed_at": ms(end)}]


@pytest.fixture
def origin(operator):
    server = MediaServer.objects.create(name="Origin", client_id=operator.client.id)
    MediaServer.objects.create(name="Edge Paris", client_id=operator.client.id,
                               addresses="203.0.113.7, 198.51.100.0/24\n2001:db8::/48")
    caching.clear_all()
    return server


def send(client, operator, origin):
    ch = operator.channels
    viewers = [("v1", "10.1.0.1", ch[0], 60, 4_000_000, str(operator.accounts[0].id)),
               ("v2", "10.1.0.2", ch[1], 30, 1_000_000, str(operator.accounts[1].id)),
               ("v3", "10.1.0.3", ch[0], 90, 2_500_000, "")]
    pulls = [("e1", "203.0.113.7", ch[0], 600, 90_000_000, None),       # listed address
             ("e2", "198.51.100.44", ch[1], 300, 40_000_000, None),     # listed network
             ("e3", "2001:db8::5", ch[0], 120, 9_000_000, None),        # IPv6 network
             ("e4", "192.0.2.9", ch[2], 60, 7_000_000, "server")]       # said by its events
    events = []
    for i, (sid, ip, channel, minutes, total, user) in enumerate(viewers):
        events += session(sid, ip, channel, DAY + timedelta(hours=8 + i), minutes, total, user)
    for i, (sid, ip, channel, minutes, total, peer) in enumerate(pulls):
        events += session(sid, ip, channel, DAY + timedelta(hours=9 + i), minutes, total, peer=peer)
    r = post(client, origin, events)
    assert r.status_code == 200, r.content
    return viewers, pulls


@pytest.mark.django_db
def test_pulls_of_other_servers_are_traffic_not_viewers(client, operator, origin):
    viewers, pulls = send(client, operator, origin)
    cid = [operator.client.id]
    params = {"date_from": DAY.date().isoformat(), "date_to": DAY.date().isoformat()}
    f = parse_filters(params, cid)
    expected = {"sessions": len(viewers), "watch_time": sum(v[3] * 60 for v in viewers),
                "bytes": sum(v[4] for v in viewers)}
    for use_rollups in (True, False):
        for dimension in ("channel", "device", "country", "protocol"):
            report = breakdowns.report(f, dimension, use_rollups=use_rollups)
            got = {k: report["totals"][k] for k in expected}
            assert got == expected, (dimension, use_rollups, report["computed_from"])
            assert report["totals"]["viewers"] == 3
    assert breakdowns.report(f, "channel", unique=True)["totals"]["raw_sessions"] == 3
    listed = run("sessions", params, cid)["rows"]
    assert sorted(r["ip"] for r in listed) == ["10.1.0.1", "10.1.0.2", "10.1.0.3"]
    # Asked for, the pulls are there, and only they.
    pulled = run("sessions", {**params, "inter_server": "1"}, cid)["rows"]
    assert sorted(r["ip"] for r in pulled) == sorted(p[1] for p in pulls)
    inter = run("channel", {**params, "inter_server": "1"}, cid)["totals"]
    assert inter["sessions"] == 4 and inter["bytes"] == sum(p[4] for p in pulls)

    # Counters: a month's days and a day's hours, traffic included.
    month = counters.counters(cid, "sessions", DAY.year, DAY.month)["data"]
    assert month[str(DAY.day)] == 3
    traffic = counters.counters(cid, "traffic", DAY.year, DAY.month, DAY.day)["data"]
    assert sum(traffic.values()) == expected["bytes"]

    # Daily statistics: viewers and inter-server side by side.
    row = next(r for r in daily.report(cid, DAY.date(), DAY.date()) if r["server"] == "all")
    assert row["connections"] == 3 and row["traffic_bytes"] == expected["bytes"]
    assert row["total_view_time"] == expected["watch_time"]
    assert row["inter_server_connections"] == 4
    assert row["inter_server_bytes"] == sum(p[4] for p in pulls)


@pytest.mark.django_db
def test_popularity_ignores_pulls(client, operator, origin):
    send(client, operator, origin)
    result = service.build_channel_sorting(operator.client.id, days_number=7, criterion="watch_sessions",
                                           as_of=DAY + timedelta(days=2))
    sessions = {i["id"]: i["metrics"]["watch_sessions"] for i in result["items"] if i["watched"]}
    assert sessions == {operator.channels[0].id: 2, operator.channels[1].id: 1}


@pytest.mark.django_db
def test_daily_page_and_api_show_inter_server_traffic(admin_client_for, operator, origin, client):
    send(client, operator, origin)
    c = admin_client_for()
    day = DAY.date().isoformat()
    api = c.get("/viewstats/api/reports/daily", {"client": operator.client.id, "date_from": day,
                                                   "date_to": day}).json()
    row = next(r for r in api["rows"] if r["server"] == "all")
    assert row["inter_server_bytes"] == 146_000_000
    page = c.get("/viewstats/reports/daily/", {"client": operator.client.id, "date_from": day,
                                                 "date_to": day}).content.decode()
    assert "Inter-server traffic" in page and "146.00 MB" in page
    csv = b"".join(c.get("/viewstats/api/reports/daily.csv", {"client": operator.client.id,
                                                             "date_from": day, "date_to": day}).streaming_content)
    assert b"inter_server_bytes" in csv.splitlines()[0]


def test_addresses_are_checked():
    assert [str(n) for n in peers.parse_networks("203.0.113.7, 198.51.100.0/24\n2001:db8::/48")] == [
        "203.0.113.7/32", "198.51.100.0/24", "2001:db8::/48"]
    with pytest.raises(ValueError, match="'edge-1'"):
        peers.parse_networks("203.0.113.7 edge-1")


@pytest.fixture
def admin_client_for(db):
    from django.contrib.auth.models import User
    from django.test import Client

    def make():
        c = Client()
        c.force_login(User.objects.create_superuser("root", "r@example.com", "pw"))
        return c
    return make




@pytest.mark.django_db
def test_command_prints_viewer_and_inter_server_traffic_side_by_side(client, operator, origin):
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    viewers, pulls = send(client, operator, origin)
    out = StringIO()
    day = DAY.date().isoformat()
    call_command("viewstats_inter_server", "--client", str(operator.client.id), "--date_from", day,
                 "--date_to", day, stdout=out)
    line = next(l for l in out.getvalue().splitlines() if l.startswith(day))
    assert line.split()[1] == "3" and "7.50 MB" in line  # 3 viewers' sessions, 7.5 MB
    assert line.split()[-3] == "4" and "146.00 MB" in line  # 4 pulls, 146 MB
    with pytest.raises(CommandError, match="--date_to"):
        call_command("viewstats_inter_server", "--client", str(operator.client.id), "--date_to", "May 1")
    with pytest.raises(CommandError, match="--client"):
        call_command("viewstats_inter_server", "--client", "999999")
