"""The viewing report pages in headless Chromium: numbers, charts, width, names.

Every report page (and the index) is loaded at a viewport 1,440 px wide and
checked against the JSON API for the same query: the cards carry the raw
figure in data-value, the charts must be drawn, nothing may scroll sideways
and no raw dict or id may show where a name exists. Needs Debian's chromium
at /usr/bin/chromium (.ci/run installs it); without it the tests fail rather
than skip. Screenshots land in test-output/report-<name>.png.
"""
from datetime import datetime, timezone
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.factories import make_operator
from tests.test_reports_data import in_range, make_sessions
from viewstats import store
from viewstats.mediaserver import traffic_buckets
from viewstats.models import OperatorStaff
from viewstats.reports.run import BREAKDOWNS, REPORTS

OUTPUT = Path(__file__).resolve().parent.parent / "test-output"
WIDTH = 1440

# A fixed period (the operator's local days; its time zone is UTC) holding
# every generated session: they start within 48 h of T0 and last at most 1 h.
T0 = datetime(2024, 3, 4, tzinfo=timezone.utc)
PERIOD = {"date_from": "2024-03-04", "date_to": "2024-03-06"}
PERIOD_END = datetime(2024, 3, 7, tzinfo=timezone.utc)
EMPTY_PERIOD = {"date_from": "2023-01-02", "date_to": "2023-01-08"}
N_SESSIONS = 160
CARD_KEYS = ["viewers", "sessions", "watch_time", "avg_watch_time", "bytes"]
CHARTS = {**{name: {"bars", "timeline"} for name in BREAKDOWNS}, "unique": {"bars"},
          "sessions": {"timeline"}, "daily": {"daily-connections", "daily-traffic"}}

# What one page shows, read in the browser.
INSPECT = """() => {
  const q = (s) => Array.from(document.querySelectorAll(s));
  const text = (el) => el ? el.innerText.trim() : null;
  return {
    header: !!document.querySelector('#header'),
    breadcrumbs: text(document.querySelector('.breadcrumbs')),
    cards: q('.vs-card[data-key]').map(c => [c.dataset.key, c.dataset.value]),
    cardsWithoutKey: q('.vs-card:not([data-key])').length,
    chartSpecs: (() => { const s = document.getElementById('vs-chart-data');
                         return s ? JSON.parse(s.textContent).map(c => c.id) : []; })(),
    charts: q('.vs-chart').map(f => {
      const c = f.querySelector('canvas');
      if (!c) { return {id: f.dataset.chart, canvas: false}; }
      const chart = (typeof Chart !== 'undefined') ? Chart.getChart(c) : undefined;
      const px = c.width && c.height ? c.getContext('2d').getImageData(0, 0, c.width, c.height).data : [];
      let ink = 0; for (let i = 3; i < px.length; i += 4) { if (px[i]) ink++; }
      return {id: f.dataset.chart, canvas: true, chart: !!chart,
              points: chart ? chart.data.labels.length : 0, ink: ink};
    }),
    canvasesOutsideCharts: q('canvas').filter(c => !c.closest('.vs-chart')).length,
    drawn: document.querySelector('#vs-report') ? document.querySelector('#vs-report').dataset.chartsDrawn : null,
    scrollWidth: document.documentElement.scrollWidth,
    bodyScrollWidth: document.body.scrollWidth,
    wideTables: q('.vs-table-wrap').filter(w => w.scrollWidth > w.clientWidth + 1)
                  .map(w => [w.scrollWidth, w.clientWidth]),
    tables: q('table.vs-table').length,
    headers: q('table.vs-table thead th').map(th => th.firstChild ? th.firstChild.textContent.trim() : ''),
    rows: q('table.vs-table tbody tr').map(tr => Array.from(tr.cells).map(td => td.innerText.trim())),
    foot: q('table.vs-table tfoot tr').map(tr => Array.from(tr.cells).map(td => td.innerText.trim())),
    empty: text(document.querySelector('.vs-empty')),
    errornote: text(document.querySelector('.errornote')),
    operatorSelect: !!document.querySelector('select[name=client]'),
    operatorName: text(document.querySelector('.vs-operator')),
    text: document.body.innerText,
  };
}"""


# ---------------------------------------------------------------- fixtures

def add_sessions(op, seed):
    """make_sessions' documents, with what ingestion would have stored besides:
    the media-server ones their 5-minute traffic (so the daily report has
    traffic and a peak), those with a programme the one of the operator's EPG
    on air at their start (so the programme pages have titles to show)."""
    docs = make_sessions(op, seed, n=N_SESSIONS, t0=T0, span_hours=48)
    for d in docs:
        changes = {}
        if d["source"] == "media_server" and d.get("bytes"):
            changes["traffic"] = traffic_buckets(d["start"], [(d["end"], d["bytes"])])
        if d["program_id"] is not None and d["channel_id"] is not None:
            on_air = [p for p in op.schedule[d["channel_id"]] if p.begin <= d["start"] < p.end]
            changes["program_id"] = on_air[0].id
        if changes:
            d.update(changes)
            store.sessions().update_one({"client_id": op.client.id, "_id": d["_id"]}, {"$set": changes})
    return docs


@pytest.fixture
def alpha(db, host_kind):
    """The operator, with its EPG around the period (conftest's has it around today)."""
    return make_operator("Alpha TV", epg_day=T0)


@pytest.fixture
def beta(db, host_kind):
    return make_operator("Beta Net", epg_day=T0)


@pytest.fixture
def docs(alpha):
    return add_sessions(alpha, seed=73)


@pytest.fixture
def admin(client, settings):
    """(session cookie of a superuser, the Django test client logged in as them)."""
    user = User.objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value, client


def api(http, name, **params):
    r = http.get(f"/viewstats/api/reports/{name}", params)
    assert r.status_code == 200, r.content[:300]
    return r.json()


def load(chromium, live_server, settings, cookie, path, shot=None):
    """Open `path` at 1,440 px, wait for its charts; (what INSPECT reads, page errors)."""
    with chromium.admin_page(live_server, settings, cookie, WIDTH, 900) as (page, errors):
        response = page.goto(live_server.url + path)
        assert response.status == 200, (path, response.status)
        if page.query_selector(".vs-chart"):
            page.wait_for_selector('#vs-report[data-charts-drawn="yes"]', state="attached")
        seen = page.evaluate(INSPECT)
        if shot:
            OUTPUT.mkdir(exist_ok=True)
            page.screenshot(path=str(OUTPUT / shot), full_page=True)
        return seen, errors


def query(params):
    return "&".join(f"{k}={v}" for k, v in params.items())


def check_layout(seen, errors):
    """Rules every page keeps: admin layout, no JS error, no sideways scrolling, no raw data."""
    assert errors == []
    assert seen["header"], "not inside the admin layout (#header)"
    assert seen["breadcrumbs"] and seen["breadcrumbs"].startswith("Home")
    assert seen["scrollWidth"] <= WIDTH, f"page is {seen['scrollWidth']} px wide"
    assert seen["bodyScrollWidth"] <= WIDTH
    assert seen["wideTables"] == [], f"tables scroll sideways: {seen['wideTables']}"
    for raw in ("{'", '{"', "object ("):
        assert raw not in seen["text"], f"{raw!r} on the page"
    assert seen["errornote"] is None, seen["errornote"]


def check_charts(seen, expected_ids):
    assert seen["drawn"] == "yes"
    assert seen["canvasesOutsideCharts"] == 0
    assert {c["id"] for c in seen["charts"]} == set(seen["chartSpecs"]) == expected_ids
    for chart in seen["charts"]:
        assert chart["canvas"] and chart["chart"] and chart["points"] > 0, chart
        assert chart["ink"] > 1000, chart


def names_by_id(op):
    return {c.id: c.name for c in op.channels}


def cards(seen):
    assert seen["cardsWithoutKey"] == 0
    keys = [k for k, _ in seen["cards"]]
    assert len(keys) == len(set(keys)), keys
    return {k: float(v) for k, v in seen["cards"]}


# ---------------------------------------------------------------- tests

@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", REPORTS)
def test_report_page_matches_the_api_and_draws_its_charts(chromium, live_server, settings, alpha,
                                                          docs, admin, name):
    cookie, client = admin
    params = {"client": alpha.client.id, **PERIOD}
    seen, errors = load(chromium, live_server, settings, cookie,
                        f"/viewstats/reports/{name}/?{query(params)}", f"report-{name}.png")
    check_layout(seen, errors)
    assert seen["empty"] is None
    check_charts(seen, CHARTS[name])
    shown = cards(seen)

    # The figures the API must give for these sessions (all start and end in the period).
    mine = in_range(docs, T0, PERIOD_END)
    assert len(mine) == N_SESSIONS
    all_bytes = sum(d.get("bytes") or 0 for d in mine)
    channel_totals = api(client, "channel", **params)["totals"]
    assert channel_totals["sessions"] == N_SESSIONS
    assert channel_totals["watch_time"] == sum(d["duration"] for d in mine)
    assert channel_totals["bytes"] == all_bytes > 0

    if name in BREAKDOWNS:
        data = api(client, name, **params)
        assert shown == {k: data["totals"][k] for k in CARD_KEYS}
        assert data["totals"]["sessions"] == N_SESSIONS
        assert len(seen["rows"]) == min(20, len(data["rows"])) > 0
        assert len(seen["foot"]) == 1 and seen["foot"][0][0] == "Total"
        if name == "programme":
            titles = {p.title for ps in alpha.schedule.values() for p in ps}
            shown_rows = data["rows"][:len(seen["rows"])]
            # Unmatched media-server streams say so rather than "unknown".
            assert [r[1] for r in seen["rows"]] == [
                r["channel"] if r["channel_id"] is not None else "streams no channel plays"
                for r in shown_rows]
            named = [(cells, r) for cells, r in zip(seen["rows"], shown_rows) if r["programme"]]
            assert named, "no programme with a title among the rows shown"
            for cells, r in named:
                assert r["programme"] in titles
                assert cells[0].startswith(r["programme"] + " · "), (cells, r)
        if name == "channel":
            names = {c.name for c in alpha.channels}
            first = data["rows"][0]["channel"]
            assert first in names, data["rows"][0]
            assert seen["rows"][0][0] == first
            # Every label is a name (the API's), never an id.
            labels = [r[0] for r in seen["rows"]]
            assert labels == [r["channel"] for r in data["rows"][:len(labels)]]
            assert set(labels) <= names | {"unmapped-stream", "unknown"}
    elif name == "unique":
        data = api(client, "unique", **params)
        assert shown == {**{k: data["totals"][k] for k in CARD_KEYS},
                         "raw_sessions": data["raw_totals"]["sessions"]}
        assert data["raw_totals"]["sessions"] == N_SESSIONS > data["totals"]["sessions"]
        assert len(seen["rows"]) == min(20, len(data["rows"])) > 0
        assert seen["rows"][0][0] == data["rows"][0]["channel"]
    elif name == "sessions":
        assert shown == {k: channel_totals[k] for k in CARD_KEYS}
        listed = api(client, "sessions", **params, limit=50)["rows"]
        assert len(seen["rows"]) == len(listed) == 50
        col = seen["headers"].index("Channel or stream")
        names = {c.name for c in alpha.channels}
        shown_channels = [r[col] for r in seen["rows"]]
        assert set(shown_channels) <= names | {"unmapped-stream"}, shown_channels
        assert shown_channels[0] == (names_by_id(alpha)[listed[0]["channel_id"]]
                                     if listed[0]["channel_id"] is not None else listed[0]["media"])
        # Accounts by their login (the reference host's abonement), not their id.
        logins = {a.id: a.abonement for a in alpha.accounts}
        assert {str(i) for i in logins}.isdisjoint(logins.values())
        accounts = [r[seen["headers"].index("Account")] for r in seen["rows"]]
        assert accounts == [logins[r["account_id"]] if r["account_id"] is not None else "—" for r in listed]
    else:  # daily
        rows = [r for r in api(client, "daily", **params)["rows"] if r["server"] == "all"]
        assert [r["day"] for r in rows] == ["2024-03-04", "2024-03-05", "2024-03-06"]
        expected = {k: sum(r[k] for r in rows) for k in ("connections", "total_view_time", "traffic_bytes")}
        assert expected == {"connections": N_SESSIONS,
                            "total_view_time": sum(d["duration"] for d in mine),
                            "traffic_bytes": all_bytes}
        expected["peak_out_bps"] = max(r["peak_out_bps"] for r in rows)
        assert expected["peak_out_bps"] > 0
        # No server here pulls from another: the inter-server card is there, at zero.
        expected["inter_server_bytes"] = sum(r["inter_server_bytes"] for r in rows)
        assert expected["inter_server_bytes"] == 0
        assert shown == expected
        assert len(seen["rows"]) == 3


@pytest.mark.django_db(transaction=True)
def test_report_index(chromium, live_server, settings, alpha, beta, admin):
    cookie, _ = admin
    seen, errors = load(chromium, live_server, settings, cookie,
                        f"/viewstats/reports/?client={alpha.client.id}", "report-index.png")
    check_layout(seen, errors)
    assert seen["operatorSelect"]  # a superuser chooses the operator
    for title in ("By channel", "By programme", "By device", "By country", "By source and protocol",
                  "Unique sessions", "Raw sessions", "Daily statistics"):
        assert title in seen["text"]


@pytest.mark.django_db(transaction=True)
def test_staff_sees_only_their_operator(chromium, live_server, settings, alpha, beta,
                                        docs, admin):
    _, admin_client = admin
    add_sessions(beta, seed=74)
    user = User.objects.create_user("alice", password="pw", is_staff=True)
    OperatorStaff.objects.create(user=user, client_id=alpha.client.id)
    staff_client = Client()
    staff_client.force_login(user)
    cookie = staff_client.cookies[settings.SESSION_COOKIE_NAME].value

    seen, errors = load(chromium, live_server, settings, cookie, f"/viewstats/reports/channel/?{query(PERIOD)}")
    check_layout(seen, errors)
    assert not seen["operatorSelect"]
    assert seen["operatorName"] == "Alpha TV"
    assert "Beta Net" not in seen["text"]
    assert {r[0] for r in seen["rows"]} <= {c.name for c in alpha.channels} | {"unmapped-stream"}
    totals = api(admin_client, "channel", client=alpha.client.id, **PERIOD)["totals"]
    assert cards(seen) == {k: totals[k] for k in CARD_KEYS}
    other = api(admin_client, "channel", client=beta.client.id, **PERIOD)["totals"]
    assert other["sessions"] == N_SESSIONS and other["bytes"] != totals["bytes"]

    seen, errors = load(chromium, live_server, settings, cookie, "/viewstats/reports/")
    check_layout(seen, errors)
    assert not seen["operatorSelect"]
    assert "Alpha TV" in seen["text"] and "Beta Net" not in seen["text"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", REPORTS)
def test_empty_period_explains_itself(chromium, live_server, settings, alpha, docs, admin, name):
    cookie, _ = admin
    seen, errors = load(chromium, live_server, settings, cookie,
                        f"/viewstats/reports/{name}/?client={alpha.client.id}&{query(EMPTY_PERIOD)}")
    check_layout(seen, errors)
    assert seen["empty"], "no empty state"
    # It says why, and when the latest session started (outside the period).
    latest = max(d["start"] for d in docs)
    assert seen["empty"].startswith("No sessions in this period."), seen["empty"]
    assert latest.strftime("%d %b") in seen["empty"] and latest.strftime("%H:%M") in seen["empty"], seen["empty"]
    assert seen["tables"] == 0, seen["rows"]
    assert seen["charts"] == []
    assert all(float(v) == 0 for _, v in seen["cards"]), seen["cards"]
