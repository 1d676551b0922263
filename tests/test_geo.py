"""Country lookup from MaxMind-format databases (viewstats.enrich.geo).

Needs no Django: the configured path is supplied by monkeypatching
`geo.configured_path`, and `configured_path` itself is tested against a
stand-in settings object.
"""
import logging
import types

import maxminddb
import pytest

from tests.mmdb_factory import build_country_db
from viewstats.enrich import geo

NETWORKS = {
    "81.2.69.0/24": "GB",
    "89.160.20.112/28": "SE",
    "2a02:db8::/32": "DE",
    "2c0f:f248::/32": "ZA",
}


@pytest.fixture(autouse=True)
def _fresh_geo():
    geo.reset()
    yield
    geo.reset()


@pytest.fixture(params=["geolite2", "dbip"])
def db_path(request, tmp_path):
    return build_country_db(tmp_path / f"{request.param}.mmdb", NETWORKS, layout=request.param)


@pytest.fixture
def configured(monkeypatch):
    """Point the module at a path, as settings.VIEWSTATS_GEOIP_PATH would."""
    def configure(path):
        monkeypatch.setattr(geo, "configured_path", lambda: None if path is None else str(path))
    return configure


# --- the factory ---------------------------------------------------------

def test_factory_geolite2_layout_reads_back(tmp_path):
    path = build_country_db(tmp_path / "g.mmdb", NETWORKS)
    with maxminddb.open_database(path) as reader:
        assert reader.metadata().database_type == "GeoLite2-Country"
        assert reader.metadata().ip_version == 6
        record = reader.get("81.2.69.160")
        assert record["country"]["iso_code"] == "GB"
        assert record["registered_country"]["iso_code"] == "GB"
        assert reader.get("2a02:db8::1")["country"]["iso_code"] == "DE"
        assert reader.get("8.8.8.8") is None


def test_factory_dbip_layout_reads_back(tmp_path):
    path = build_country_db(tmp_path / "d.mmdb", NETWORKS, layout="dbip")
    with maxminddb.open_database(path) as reader:
        assert reader.metadata().database_type == "DBIP-Country-Lite"
        record = reader.get("89.160.20.115")
        assert record["country"]["iso_code"] == "SE"
        assert record["continent"]["code"] == "EU"
        assert "registered_country" not in record


def test_factory_rejects_unknown_layout(tmp_path):
    with pytest.raises(ValueError):
        build_country_db(tmp_path / "x.mmdb", NETWORKS, layout="ip2location")


# --- GeoIP ---------------------------------------------------------------

@pytest.mark.parametrize("ip, expected", [
    ("81.2.69.160", "GB"),
    ("81.2.69.0", "GB"),
    ("89.160.20.120", "SE"),
    ("89.160.20.128", geo.UNKNOWN),       # just past the /28
    ("2a02:db8::1", "DE"),
    ("2a02:db8:ffff::42", "DE"),
    ("2c0f:f248::1", "ZA"),
    ("::ffff:81.2.69.160", "GB"),         # IPv4-mapped IPv6
    (" 81.2.69.160 ", "GB"),
    ("8.8.8.8", geo.UNKNOWN),             # not in the database
    ("2a03:2880::1", geo.UNKNOWN),
])
def test_geoip_country_code(db_path, ip, expected):
    with geo.GeoIP(db_path) as db:
        assert db.country_code(ip) == expected


@pytest.mark.parametrize("ip", [
    "10.1.2.3", "192.168.0.10", "172.16.5.4", "127.0.0.1", "100.64.0.1", "169.254.1.1",
    "::1", "fe80::1", "fd00::1", "0.0.0.0",
    "", "garbage", "81.2.69", "999.2.69.1", "81.2.69.160/24", None,
])
def test_geoip_private_and_invalid_are_unknown(db_path, ip):
    with geo.GeoIP(db_path) as db:
        assert db.country_code(ip) == geo.UNKNOWN


def test_geoip_falls_back_to_registered_country(tmp_path):
    path = build_country_db(tmp_path / "r.mmdb", {
        "81.2.69.0/24": {"registered_country": {"iso_code": "GB"}},
        "2a02:db8::/32": {"country": {"names": {"en": "?"}}, "registered_country": {"iso_code": "DE"}},
        "89.160.20.112/28": {"continent": {"code": "EU"}},
    })
    with geo.GeoIP(path) as db:
        assert db.country_code("81.2.69.1") == "GB"
        assert db.country_code("2a02:db8::1") == "DE"
        assert db.country_code("89.160.20.113") == geo.UNKNOWN


def test_geoip_upper_cases_and_validates_codes(tmp_path):
    path = build_country_db(tmp_path / "c.mmdb", {
        "81.2.69.0/24": {"country": {"iso_code": "gb"}},
        "89.160.20.112/28": {"country": {"iso_code": "SWE"}},
    })
    with geo.GeoIP(path) as db:
        assert db.country_code("81.2.69.1") == "GB"
        assert db.country_code("89.160.20.113") == geo.UNKNOWN


def test_geoip_missing_file_raises(tmp_path):
    with pytest.raises(OSError):
        geo.GeoIP(tmp_path / "absent.mmdb")


# --- country_for_ip ------------------------------------------------------

def test_country_for_ip_uses_configured_path(db_path, configured):
    configured(db_path)
    assert geo.country_for_ip("81.2.69.160") == "GB"
    assert geo.country_for_ip("2a02:db8::7") == "DE"
    assert geo.country_for_ip("8.8.8.8") == geo.UNKNOWN
    assert geo.country_for_ip("192.168.1.1") == geo.UNKNOWN
    assert geo.country_for_ip("not an ip") == geo.UNKNOWN
    assert geo.country_for_ip(None) == geo.UNKNOWN
    assert geo.country_for_ip("") == geo.UNKNOWN


def test_country_for_ip_without_configuration_is_unknown(configured):
    configured(None)
    assert geo.country_for_ip("81.2.69.160") == geo.UNKNOWN


def test_country_for_ip_missing_file_is_unknown_and_warns_once(tmp_path, configured, caplog):
    configured(tmp_path / "missing.mmdb")
    with caplog.at_level(logging.WARNING, logger=geo.__name__):
        assert geo.country_for_ip("81.2.69.160") == geo.UNKNOWN
        assert geo.country_for_ip("2a02:db8::1") == geo.UNKNOWN
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "missing.mmdb" in warnings[0].getMessage()


def test_country_for_ip_corrupt_file_is_unknown(tmp_path, configured):
    bad = tmp_path / "corrupt.mmdb"
    bad.write_bytes(b"this is not a maxmind database" * 10)
    configured(bad)
    assert geo.country_for_ip("81.2.69.160") == geo.UNKNOWN


def test_country_for_ip_caches_lookups(db_path, configured):
    configured(db_path)
    before = geo._lookup.cache_info()
    assert geo.country_for_ip("81.2.69.160") == "GB"
    assert geo.country_for_ip("81.2.69.160") == "GB"
    after = geo._lookup.cache_info()
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 1)
    assert after.maxsize == geo.CACHE_SIZE


def test_reset_forgets_reader_and_cache(tmp_path, configured):
    first = build_country_db(tmp_path / "one.mmdb", {"81.2.69.0/24": "GB"})
    second = build_country_db(tmp_path / "two.mmdb", {"81.2.69.0/24": "FR"})
    configured(first)
    assert geo.country_for_ip("81.2.69.160") == "GB"
    configured(second)
    assert geo.country_for_ip("81.2.69.160") == "GB"   # cached until reset
    geo.reset()
    assert geo.country_for_ip("81.2.69.160") == "FR"
    assert geo._lookup.cache_info().currsize == 1


def test_reset_retries_a_file_that_failed(tmp_path, configured):
    path = tmp_path / "later.mmdb"
    configured(path)
    assert geo.country_for_ip("81.2.69.160") == geo.UNKNOWN
    build_country_db(path, {"81.2.69.0/24": "GB"})
    geo.reset()
    assert geo.country_for_ip("81.2.69.160") == "GB"


# --- configured_path -----------------------------------------------------

@pytest.fixture
def fake_settings(monkeypatch):
    conf = pytest.importorskip("django.conf")

    def install(**values):
        monkeypatch.setattr(conf, "settings", types.SimpleNamespace(**values))
    return install


def test_configured_path_reads_setting(fake_settings):
    fake_settings(configured=True, VIEWSTATS_GEOIP_PATH="/var/lib/GeoIP/GeoLite2-Country.mmdb")
    assert geo.configured_path() == "/var/lib/GeoIP/GeoLite2-Country.mmdb"


@pytest.mark.parametrize("values", [
    {"configured": True},                              # setting absent
    {"configured": True, "VIEWSTATS_GEOIP_PATH": ""},
    {"configured": True, "VIEWSTATS_GEOIP_PATH": None},
    {"configured": False, "VIEWSTATS_GEOIP_PATH": "/x.mmdb"},
])
def test_configured_path_defaults_to_none(fake_settings, monkeypatch, values):
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)
    fake_settings(**values)
    assert geo.configured_path() is None
