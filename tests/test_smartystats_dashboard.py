"""The JSON endpoint and the admin tab: numbers against brute force, and who sees what."""
import base64
import threading
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from tvmiddleware.fixtures import generate
from smartystats.models import IndexWidgets
from tests.test_smartystats_dynamics import NOW, bf_bucket, bf_peak, isolated_locks  # noqa: F401
from viewstats.models import OperatorStaff

API = "/smartystats/api/dynamics"
PAGE = "/admin/smartystats/dynamics/"
DAY = timedelta(days=1)


def day0(d):
    return datetime(d.year, d.month, d.day, tzinfo=timezone.utc)


def num(v):
    return int(v) if v == int(v) else float(v)


def bf_series(world, name, first, last, step):
    ends, t = [], day0(first) + step
    while t <= day0(last) + DAY:
        ends.append(t)
        t += step
    return ends, [bf_bucket(world, name, e - step, e) for e in ends]


@pytest.fixture
def filled(operator, other_operator, settings):
    settings.SMARTYSTATS_HOURLY_DAYS = 1
    mine = generate(operator.client, now=NOW, seed=81)
    theirs = generate(other_operator.client, now=NOW, seed=82, customers=10, sessions=100)
    for command in ("cache_customers_dynamic", "save_stats"):
        call_command(command, time=NOW.isoformat())
    return mine, theirs


def staff(name, client=None, superuser=False):
    user = User.objects.create_user(name, password="pw", is_staff=True, is_superuser=superuser)
    if client is not None:
        OperatorStaff.objects.create(user=user, client_id=client.id)
    return user


@pytest.mark.django_db
def test_json_series_and_widgets_match_brute_force(client, filled, operator):
    world, _ = filled
    client.force_login(staff("alice", operator.client))
    first, last = date(2024, 2, 25), date(2024, 3, 5)
    data = client.get(API, {"from": first, "to": last}).json()
    assert data["client"]["id"] == operator.client.id
    assert data["labels"][0] == "2024-02-25" and data["labels"][-1] == "2024-03-05" and len(data["labels"]) == 10
    n = len(data["labels"])
    for name in ("customers_active", "accounts_active", "customers_new", "accounts_new",
                 "customers_deactivated", "accounts_deactivated", "paying_customers"):
        ends, values = bf_series(world, name, first - timedelta(days=n), last, DAY)
        dense = [v.get(None, 0) for v in values]
        assert data["series"][name] == dense[n:], name
        w = data["widgets"][name]
        if name.endswith("_active") or name == "paying_customers":
            assert (w["value"], w["previous"]) == (dense[-1], dense[n - 1]), name
        else:
            assert (w["value"], w["previous"]) == (sum(dense[n:]), sum(dense[:n])), name
        assert w["change"] == w["value"] - w["previous"]
    for name in ("payments_sum", "payments_count"):
        ends, values = bf_series(world, name, first - timedelta(days=n), last, DAY)
        currencies = {c for v in values[n:] for c in v} | {c for v in values[:n] for c in v}
        assert set(data["series"][name]) == {c for v in values[n:] for c in v}
        for cur in data["series"][name]:
            assert data["series"][name][cur] == [num(v.get(cur, Decimal(0))) for v in values[n:]]
        for cur, w in data["widgets"][name].items():
            assert w["value"] == num(sum(v.get(cur, 0) for v in values[n:]))
        assert currencies
    peaks = [bf_peak(world.sessions, day0(first) + i * DAY, day0(first) + (i + 1) * DAY) for i in range(n)]
    assert data["series"]["online_peak_accounts"] == [p[0] for p in peaks]
    assert data["series"]["online_peak_customers"] == [p[1] for p in peaks]
    assert data["widgets"]["online_peak"]["value"] == max(p[0] for p in peaks)


@pytest.mark.django_db
def test_hourly_json_is_dense_and_stops_at_the_last_filled_hour(client, filled, operator):
    world, _ = filled
    client.force_login(staff("su", superuser=True))
    data = client.get(API, {"client_id": operator.client.id, "from": "2024-03-09", "to": "2024-03-10",
                            "frequency": "hour"}).json()
    assert data["filled_to"] == "2024-03-10T14:00:00+00:00"
    assert len(data["labels"]) == 24 + 14 and data["labels"][-1] == "2024-03-10 13:00"
    start = datetime(2024, 3, 9, tzinfo=timezone.utc)
    hours = [start + timedelta(hours=i) for i in range(38)]
    assert data["series"]["accounts_active"] == [
        bf_bucket(world, "accounts_active", h, h + timedelta(hours=1))[None] for h in hours]
    assert data["series"]["online_peak_accounts"] == [
        bf_peak(world.sessions, h, h + timedelta(hours=1))[0] for h in hours]


@pytest.mark.django_db
def test_staff_see_only_their_client(client, operator, other_operator):
    client.force_login(staff("bob", other_operator.client))
    assert client.get(API).json()["client"]["id"] == other_operator.client.id
    r = client.get(API, {"client_id": operator.client.id})
    assert r.status_code == 403
    page = client.get(PAGE, {"client_id": operator.client.id})
    assert page.status_code == 403
    assert operator.client.name not in client.get(PAGE).content.decode()


@pytest.mark.django_db
def test_staff_without_membership_get_403_and_anonymous_401(client, operator):
    assert client.get(API).status_code == 401
    client.force_login(staff("nobody"))
    assert client.get(API).status_code == 403
    assert client.get(PAGE).status_code == 403


@pytest.mark.django_db
def test_superuser_chooses_a_client_and_scripts_use_basic_auth(client, operator, other_operator):
    staff("root", superuser=True)
    auth = "Basic " + base64.b64encode(b"root:pw").decode()
    r = client.get(API, {"client_id": other_operator.client.id}, HTTP_AUTHORIZATION=auth)
    assert r.status_code == 200 and r.json()["client"]["id"] == other_operator.client.id
    bad = "Basic " + base64.b64encode(b"root:wrong").decode()
    assert client.get(API, HTTP_AUTHORIZATION=bad).status_code == 401
    client.force_login(User.objects.get(username="root"))
    page = client.get(PAGE, {"client_id": other_operator.client.id}).content.decode()
    assert "Dynamics of subscribers" in page and operator.client.name in page  # the chooser
    assert "chart.umd.min.js" in page


@pytest.mark.django_db
@pytest.mark.parametrize("params, message", [
    ({"from": "2024-02-31"}, "from: '2024-02-31' is not a date"),
    ({"from": "2024-03-05", "to": "2024-03-01"}, "to: 2024-03-01 is before from 2024-03-05"),
    ({"frequency": "week"}, "frequency: 'week'"),
    ({"frequency": "hour", "from": "2024-02-01", "to": "2024-03-01"}, "frequency: hour covers at most 7 days"),
    ({"client_id": "x"}, "client_id: 'x' is not a number"),
])
def test_bad_parameters_get_400_naming_them(client, operator, params, message):
    client.force_login(staff("su", superuser=True))
    r = client.get(API, params)
    assert r.status_code == 400 and message in r.json()["error"]


@pytest.mark.django_db
def test_widgets_chosen_for_the_admin_index_appear_there(client, filled, operator):
    user = staff("carol", operator.client)
    client.force_login(user)
    r = client.post("/smartystats/index-widgets", {"widgets": ["accounts_new", "bogus"], "next": "/admin/"})
    assert r.status_code == 302
    assert IndexWidgets.objects.get(user=user).widgets == ["accounts_new"]
    index = client.get("/admin/").content.decode()
    assert 'data-widget="accounts_new"' in index and 'data-widget="customers_active"' not in index
    assert "Dynamics of subscribers" in index
    # Another user keeps the defaults.
    client.force_login(staff("dave", operator.client))
    assert 'data-widget="customers_active"' in client.get("/admin/").content.decode()


@pytest.mark.django_db
def test_the_page_never_reads_sessions(client, filled, operator, monkeypatch):
    from viewstats import store

    real, reads = store.sessions, []

    def sessions():
        # The User-Agent filler, a background thread an earlier test may have
        # started, reads sessions on its own schedule; requests run here.
        if threading.current_thread() is threading.main_thread():
            reads.append(1)
        return real()

    monkeypatch.setattr(store, "sessions", sessions)
    client.force_login(staff("erin", operator.client))
    assert client.get(API, {"frequency": "day"}).status_code == 200
    assert client.get(PAGE).status_code == 200
    assert client.get("/admin/").status_code == 200
    assert not reads, "a request read raw sessions"


@pytest.mark.django_db
def test_filled_to_reads_every_series_watermark_in_one_query(filled, operator, django_assert_max_num_queries):
    """The page's "cached up to": the least finished end over the series, as each
    series' own watermark gives it (a STARTED one counts up to its bucket's start)."""
    from smartystats import dashboard, fill
    from smartystats.models import FillState
    from smartystats.timeutils import DAY as DAILY, HOUR as HOURLY

    FillState.objects.filter(client_id=operator.client.id, series="accounts_new::hour").update(
        state=FillState.STARTED)
    for frequency in (HOURLY, DAILY):
        series = [fs.series for fs in FillState.objects.filter(client_id=operator.client.id)
                  if fs.series.endswith(f":{'hour' if frequency == HOURLY else 'day'}")]
        one_by_one = min(fill.last_successful_fill(operator.client.id, name) for name in series)
        with django_assert_max_num_queries(2):
            got = dashboard.filled_to(operator.client.id, frequency)
        assert got == (one_by_one if frequency == HOURLY else datetime(2024, 3, 10, tzinfo=timezone.utc))
    assert dashboard.filled_to(operator.client.id, HOURLY) == datetime(2024, 3, 10, 13, tzinfo=timezone.utc)
