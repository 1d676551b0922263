"""No client sees another's data through any page, API, export or counter."""
import pytest
from django.contrib.auth.models import User

from tests.test_reports_data import base_time, make_sessions
from viewstats.models import OperatorStaff
from viewstats.models import ApiToken
from viewstats.reports.run import REPORTS


def staff(op, name):
    user = User.objects.create_user(name, password="pw", is_staff=True)
    OperatorStaff.objects.create(user=user, client_id=op.client.id)
    return user


def params():
    t = base_time()
    return {"date_from": t.date().isoformat(), "date_to": (t.date()).isoformat()}


@pytest.fixture
def two_tenants(operator, other_operator):
    make_sessions(operator, 51, n=60)
    make_sessions(other_operator, 52, n=60)
    return operator, other_operator


def ids_in(body):
    return {r.get("client_id") for r in body.get("rows", []) if "client_id" in r}


@pytest.mark.django_db
@pytest.mark.parametrize("name", REPORTS)
def test_staff_sees_only_own_client(client, two_tenants, name):
    a, b = two_tenants
    client.force_login(staff(a, "alice"))
    r = client.get(f"/viewstats/api/reports/{name}", params())
    assert r.status_code == 200
    assert ids_in(r.json()) <= {a.client.id}
    if name in ("sessions", "daily"):
        assert ids_in(r.json()) == {a.client.id}
    assert client.get(f"/viewstats/api/reports/{name}",
                      {**params(), "client": b.client.id}).status_code == 403
    assert client.get(f"/viewstats/api/reports/{name}.csv",
                      {**params(), "client": b.client.id}).status_code == 403
    csv = b"".join(client.get(f"/viewstats/api/reports/{name}.csv", params()).streaming_content)
    assert b"Beta Net" not in csv
    page = client.get(f"/viewstats/reports/{name}/", params())
    assert page.status_code == 200 and b"Beta Net" not in page.content
    assert client.get(f"/viewstats/reports/{name}/", {**params(), "client": b.client.id}).status_code == 403


@pytest.mark.django_db
def test_session_csv_streams_only_own_sessions(client, two_tenants):
    a, b = two_tenants
    client.force_login(staff(b, "bob"))
    r = client.get("/viewstats/api/reports/sessions.csv", params())
    lines = b"".join(r.streaming_content).decode().splitlines()
    header = lines[0].split(",")
    col = header.index("client_id")
    assert len(lines) > 1 and {line.split(",")[col] for line in lines[1:]} == {str(b.client.id)}


@pytest.mark.django_db
def test_counters_access(client, two_tenants, admin_user):
    a, b = two_tenants
    year = base_time().year
    user = staff(a, "carol")
    token = ApiToken.objects.create(user=user)
    auth = {"HTTP_AUTHORIZATION": f"Token {token.key}"}
    assert client.get(f"/viewstats/api/stats/{a.client.id}/sessions/{year}", **auth).status_code == 200
    assert client.get(f"/viewstats/api/stats/{b.client.id}/sessions/{year}", **auth).status_code == 403
    assert client.get(f"/viewstats/api/stats/all/sessions/{year}", **auth).status_code == 403
    assert client.get(f"/viewstats/api/stats/{a.client.id}/sessions/{year}").status_code == 401
    assert client.get(f"/viewstats/api/stats/{a.client.id}/sessions/{year}",
                      HTTP_AUTHORIZATION="Token nope").status_code == 401
    client.force_login(admin_user)
    assert client.get(f"/viewstats/api/stats/all/sessions/{year}").status_code == 200


@pytest.mark.django_db
def test_users_without_membership_and_anonymous_are_refused(client, two_tenants):
    assert client.get("/viewstats/api/reports/channel").status_code == 401
    assert client.get("/viewstats/reports/channel/").status_code == 302
    lone = User.objects.create_user("lone", password="pw", is_staff=True)
    client.force_login(lone)
    assert client.get("/viewstats/api/reports/channel").status_code == 403


@pytest.mark.django_db
def test_superuser_reads_all_or_one(admin_client, two_tenants):
    a, b = two_tenants
    both = admin_client.get("/viewstats/api/reports/sessions", {**params(), "limit": 1000}).json()
    assert ids_in(both) == {a.client.id, b.client.id}
    one = admin_client.get("/viewstats/api/reports/sessions",
                           {**params(), "limit": 1000, "client": b.client.id}).json()
    assert ids_in(one) == {b.client.id}
    assert admin_client.get("/admin/viewstats/viewingreport/").status_code == 302


@pytest.mark.django_db
def test_report_page_offers_only_own_channels_and_tariffs(client, two_tenants):
    a, b = two_tenants
    client.force_login(staff(a, "carol"))
    page = client.get("/viewstats/reports/channel/", params()).content.decode()
    assert '<select name="channel">' in page and '<input type="date" name="date_from"' in page
    assert a.channels[0].name in page and a.tariffs[1].name in page
    assert b.channels[0].name not in page and b.tariffs[1].name not in page
