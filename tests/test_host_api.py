"""The middleware calls devices make around statistics: login and settings."""
import pytest
from django.core.checks import run_checks
from django.test import override_settings
from django.utils import timezone

from tvmiddleware.models import AccountAuthKey, AccountDevice, ClientPlayDevice
from viewstats import host

LOGIN = "/tvmiddleware/api/login/"
SETTINGS = "/tvmiddleware/api/portal/settings/list/"


def creds(op, **extra):
    return {"client_id": op.client.id, "api_key": op.client.api_key, "device": "mag", **extra}


@pytest.mark.django_db
class TestLogin:
    def test_login_returns_an_authkey_bound_to_account_and_device(self, client, operator):
        acc = operator.accounts[2]
        body = client.get(LOGIN, creds(operator, abonement=acc.abonement, password="pw",
                                       device_uid="00:1A:79:00:00:01")).json()
        assert body["error"] == 0 and body["account_id"] == acc.id
        login = host.login_for_authkey(body["authkey"])
        assert (login.client_id, login.account_id, login.device_type) == (operator.client.id, acc.id, "mag")
        assert AccountDevice.objects.get(pk=login.device_id).device_uid == "00:1A:79:00:00:01"
        assert host.tariffs_at(login.client_id, login.account_id, timezone.now()) == [operator.tariffs[0].id]

    def test_wrong_password_and_wrong_api_key(self, client, operator, other_operator):
        acc = operator.accounts[0]
        assert client.get(LOGIN, creds(operator, abonement=acc.abonement, password="x")).json()["error"] == 1
        r = client.get(LOGIN, {**creds(operator, abonement=acc.abonement, password="pw"),
                               "api_key": other_operator.client.api_key})
        assert r.status_code == 403
        assert AccountAuthKey.objects.count() == 0

    def test_account_of_another_client_cannot_log_in(self, client, operator, other_operator):
        foreign = other_operator.accounts[0]
        body = client.get(LOGIN, creds(operator, abonement=foreign.abonement, password="pw")).json()
        assert body["error"] == 1

    def test_unknown_device_type(self, client, operator):
        acc = operator.accounts[0]
        body = client.get(LOGIN, creds(operator, abonement=acc.abonement, password="pw", device="vcr")).json()
        assert body["error"] == 2


@pytest.mark.django_db
class TestPortalSettings:
    def test_reports_enabled_follows_the_checkbox(self, client, operator):
        assert client.get(SETTINGS, creds(operator)).json()["reports_enabled"] == 1
        ClientPlayDevice.objects.filter(client=operator.client, play_device__system_name="mag") \
            .update(reports_enabled=False)
        r = client.get(SETTINGS, creds(operator))
        assert r.json()["reports_enabled"] == 0
        assert r.json()["settings_refresh_interval"] <= 60 and r["Cache-Control"] == "max-age=60"

    def test_checkbox_is_per_client(self, client, operator, other_operator):
        ClientPlayDevice.objects.filter(client=operator.client).update(reports_enabled=False)
        assert client.get(SETTINGS, creds(operator)).json()["reports_enabled"] == 0
        assert client.get(SETTINGS, creds(other_operator)).json()["reports_enabled"] == 1

    def test_errors(self, client, operator):
        assert client.get(SETTINGS, {**creds(operator), "device": ""}).json()["error"] == 1
        assert client.get(SETTINGS, {**creds(operator), "device": "vcr"}).json()["error"] == 2
        assert client.get(SETTINGS, {**creds(operator), "api_key": "nope"}).status_code == 403

    def test_collection_is_off_by_default(self, db):
        field = ClientPlayDevice._meta.get_field("reports_enabled")
        assert field.default is False
        assert field.verbose_name == "Enable statistical data collection"


class TestSystemChecks:
    def test_timeout_shorter_than_heartbeat_is_an_error(self):
        with override_settings(VIEWSTATS_PUSH_HEARTBEAT=120, VIEWSTATS_PUSH_SESSION_TIMEOUT=60):
            ids = [m.id for m in run_checks()]
        assert "viewstats.E001" in ids

    def test_missing_geoip_file_is_a_warning(self):
        with override_settings(VIEWSTATS_GEOIP_PATH="/nonexistent/GeoLite2-Country.mmdb"):
            ids = [m.id for m in run_checks()]
        assert "viewstats.W002" in ids

    def test_bad_retention_is_an_error(self):
        with override_settings(VIEWSTATS_RAW_RETENTION_DAYS=-3):
            assert "viewstats.E002" in [m.id for m in run_checks()]

    def test_embedded_engine_is_flagged_for_deploy(self):
        assert "viewstats.E004" in [m.id for m in run_checks(include_deployment_checks=True)]


@pytest.mark.django_db
def test_a_device_logging_in_again_replaces_its_authkey(client, operator):
    acc = operator.accounts[0]
    params = creds(operator, abonement=acc.abonement, password="pw", device_uid="00:1A:79:00:00:09")
    keys = [client.get(LOGIN, params).json()["authkey"] for _ in range(5)]
    assert len(set(keys)) == 5
    assert list(AccountAuthKey.objects.filter(account=acc).values_list("key", flat=True)) == [keys[-1]]
    other = client.get(LOGIN, {**params, "device_uid": "00:1A:79:00:00:10"}).json()["authkey"]
    assert AccountAuthKey.objects.filter(account=acc).count() == 2 and other != keys[-1]
