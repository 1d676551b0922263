"""The report pages as an operator reads them: names, units, periods, drill-down, empty states.

The figures themselves are checked against brute force elsewhere; here the
page must show the API's figures in words and units, never ids or dicts.
(The same pages in Chromium, charts and widths: test_reports_browser.py.)
"""
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User

from tests.test_reports_access import staff
from tests.test_reports_data import base_time, make_sessions
from viewstats.reports import present
from viewstats.reports.run import REPORTS


def period(days=2):
    t = base_time()
    return {"date_from": t.date().isoformat(), "date_to": (t.date() + timedelta(days=days - 1)).isoformat()}


@pytest.fixture
def admin_client(client, db):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    return client


def text_of(response):
    html = response.content.decode()
    html = re.sub(r"<script.*?</script>", "", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


@pytest.mark.django_db
@pytest.mark.parametrize("name", REPORTS)
def test_every_page_is_in_the_admin_with_its_period_and_no_raw_values(admin_client, operator, name):
    make_sessions(operator, 61, n=80)
    r = admin_client.get(f"/viewstats/reports/{name}/", {"client": operator.client.id, **period()})
    assert r.status_code == 200
    html = r.content.decode()
    assert 'id="header"' in html and 'class="breadcrumbs"' in html
    text = text_of(r)
    assert "{'" not in text and '{"' not in text and "object (" not in text
    assert f'value="{period()["date_from"]}"' in html and f'value="{period()["date_to"]}"' in html
    assert "Time zone: UTC" in text and "Showing" in text
    for preset in ("Today", "Yesterday", "Last 7 days", "Last 30 days", "Last 90 days",
                   "This month", "Last month"):
        assert preset in text
    assert 'id="vs-chart-data"' in html  # a chart on every page with data
    assert "errornote" not in html
    # Column headers are words, never field names.
    for field in ("watch_time", "avg_watch_time", "channel_id", "total_view_time", "traffic_bytes"):
        assert f">{field}<" not in html and f">{field.upper()}<" not in html


@pytest.mark.django_db
def test_channel_page_names_units_shares_and_drill_down(admin_client, operator):
    make_sessions(operator, 62, n=120)
    api = admin_client.get("/viewstats/api/reports/channel", {"client": operator.client.id, **period()}).json()
    r = admin_client.get("/viewstats/reports/channel/", {"client": operator.client.id, **period()})
    html, text = r.content.decode(), text_of(r)
    first = api["rows"][0]
    assert first["channel"] in text
    # The cards carry the API's exact figures and show them in units.
    for key in ("viewers", "sessions", "watch_time", "bytes"):
        assert f'data-key="{key}" data-value="{api["totals"][key]}"' in html
    assert present.hours(api["totals"]["watch_time"]) in text
    assert present.traffic(api["totals"]["bytes"]) in text
    assert "% of" not in text or "share" in text.lower()
    # Drill-down: the channel's programmes and sessions, keeping the period.
    assert (f'/viewstats/reports/programme/?client={operator.client.id}&amp;date_from={period()["date_from"]}'
            f'&amp;date_to={period()["date_to"]}&amp;channel={first["channel_id"]}') in html
    assert f'/viewstats/reports/sessions/?client={operator.client.id}' in html
    # The comparison with the period before says so when there was nothing.
    assert "no data before" in text


@pytest.mark.django_db
def test_sessions_page_account_history_names_and_zone(admin_client, operator):
    docs = make_sessions(operator, 63, n=60)
    account = next(d["account_id"] for d in docs if d["account_id"] is not None)
    r = admin_client.get("/viewstats/reports/sessions/",
                         {"client": operator.client.id, "account": account, **period()})
    text = text_of(r)
    assert "Viewing history of account" in text and "Account: " in text
    assert "Started (UTC)" in text
    # Every row is that account's; the UA is clipped with the full string on hover.
    api = admin_client.get("/viewstats/api/reports/sessions",
                           {"client": operator.client.id, "account": account, **period()}).json()
    assert api["rows"] and all(row["account_id"] == account for row in api["rows"])
    ua = next(row["user_agent"] for row in api["rows"] if row["user_agent"])
    assert f'title="{ua}"' in r.content.decode()


@pytest.mark.django_db
def test_daily_page_is_a_readable_table_with_server_names(admin_client, operator):
    from viewstats.models import MediaServer
    MediaServer.objects.create(id=1, name="Edge Frankfurt", client_id=operator.client.id)
    make_sessions(operator, 64, n=80)
    r = admin_client.get("/viewstats/reports/daily/", {"client": operator.client.id, **period()})
    text = text_of(r)
    assert "Edge Frankfurt" in text  # the server choice by name
    assert "connections_by_protocol" not in text and "{'" not in text
    assert re.search(r"(HLS|DASH|Device \(push\)|Device \(batch\)) \d", text)
    r = admin_client.get("/viewstats/reports/daily/", {"client": operator.client.id, "server": "1", **period()})
    assert r.status_code == 200 and "errornote" not in r.content.decode()


@pytest.mark.django_db
def test_filters_a_report_cannot_apply_are_not_offered_and_answer_400(admin_client, operator):
    r = admin_client.get("/viewstats/api/reports/daily", {"client": operator.client.id, "channel": "25"})
    assert r.status_code == 400 and "channel" in r.json()["error"] and "daily" in r.json()["error"]
    r = admin_client.get("/viewstats/api/reports/sessions", {"client": operator.client.id, "unique": "1"})
    assert r.status_code == 400 and "unique" in r.json()["error"]
    page = admin_client.get("/viewstats/reports/daily/", {"client": operator.client.id}).content.decode()
    assert 'name="channel"' not in page and 'name="device_type"' not in page
    page = admin_client.get("/viewstats/reports/channel/", {"client": operator.client.id}).content.decode()
    assert 'name="channel"' in page and 'name="sort"' not in page
    # A page names the refused filter instead of silently ignoring it.
    page = admin_client.get("/viewstats/reports/daily/", {"client": operator.client.id, "channel": "3"})
    assert "not a filter of the daily report" in page.content.decode()


@pytest.mark.django_db
def test_empty_states_say_why(admin_client, operator):
    r = admin_client.get("/viewstats/reports/channel/", {"client": operator.client.id, **period()})
    assert "No viewing data yet" in text_of(r)
    make_sessions(operator, 65, n=10)
    far = {"date_from": "2020-01-01", "date_to": "2020-01-07"}
    text = text_of(admin_client.get("/viewstats/reports/channel/", {"client": operator.client.id, **far}))
    assert "No sessions in this period" in text and "The latest session started" in text


@pytest.mark.django_db
def test_superuser_chooses_one_operator_staff_see_theirs(admin_client, client, operator, other_operator):
    make_sessions(operator, 66, n=20)
    make_sessions(other_operator, 67, n=20)
    page = admin_client.get("/viewstats/reports/channel/", period()).content.decode()
    assert 'name="client"' in page and other_operator.client.name in page  # a choice of operators
    assert page.count('selected>') >= 1
    client.force_login(staff(other_operator, "bea"))
    page = client.get("/viewstats/reports/channel/", period()).content.decode()
    assert other_operator.client.name in page and operator.client.name not in page
    assert "<select name=\"client\"" not in page


def test_units():
    assert present.duration(0) == "0:00:00"
    assert present.duration(3723) == "1:02:03"
    assert present.duration(44 * 60) == "0:44:00"
    assert present.hours(36000) == "10.0 h" and present.hours(1800) == "0.50 h"
    assert present.traffic(21_990_000_000) == "21.99 GB" and present.traffic(0) == "0"
    assert present.bandwidth(2_200_000) == "2.20 Mbit/s"
    assert present.change(10, 0) == "no data before"
    assert present.change(0, 0) == "no data before either"
    assert present.change(150, 100) == "+50.0 % on the period before"
    assert present.country_name("DE") == "Germany" and present.country_name("") == "unknown"
    assert present.protocol_name("hls") == "HLS" and present.protocol_name("push") == "Device (push)"


@pytest.mark.django_db
def test_definitions_page_serves_the_readme_section_and_every_page_links_it(admin_client, operator):
    r = admin_client.get("/viewstats/reports/definitions/")
    assert r.status_code == 200
    text = text_of(r)
    for term in ("Viewers", "Unique sessions", "Daily statistics", "Popularity window",
                 "EPG selection candidates", "Dynamics of subscribers", "avg_view_time"):
        assert term in text, term
    assert "**" not in text and "](#" not in text  # Markdown rendered, not shown
    for name in REPORTS:
        page = admin_client.get(f"/viewstats/reports/{name}/", {"client": operator.client.id})
        assert 'href="/viewstats/reports/definitions/"' in page.content.decode(), name
