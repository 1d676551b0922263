"""The store: indexes, retention, the unordered write path, the commands around it."""
import pytest
from django.core.management import call_command
from django.test import override_settings

from viewstats import store


def test_declared_indexes_lead_with_client_id():
    store.ensure_indexes()
    for name, models in store.INDEXES.items():
        if name == store.UA_CACHE:  # User-Agent answers shared by every tenant: no viewing data in it
            continue
        info = store.collection(name).index_information()
        for model in models:
            doc = model.document
            assert doc["name"] in info
            keys = list(doc["key"].keys())
            assert keys[0] == "client_id" or "expireAfterSeconds" in doc, (name, doc["name"])


def test_retention_ttl_follows_the_setting():
    with override_settings(VIEWSTATS_RAW_RETENTION_DAYS=30):
        store.ensure_indexes()
        ttl = store.sessions().index_information()[store.RETENTION_INDEX]
        assert ttl["expireAfterSeconds"] == 30 * 86400
    with override_settings(VIEWSTATS_RAW_RETENTION_DAYS=90):
        store.ensure_indexes()
        assert store.sessions().index_information()[store.RETENTION_INDEX]["expireAfterSeconds"] == 90 * 86400
    store.ensure_indexes()  # back to None: no TTL
    assert store.RETENTION_INDEX not in store.sessions().index_information()


def test_insert_unordered_reports_duplicates_by_position():
    docs = [{"_id": "a", "client_id": 1}, {"_id": "b", "client_id": 1}]
    assert store.insert_unordered(store.SESSIONS, docs) == ([0, 1], [])
    again = [{"_id": "c", "client_id": 1}, {"_id": "a", "client_id": 1}, {"_id": "d", "client_id": 1}]
    assert store.insert_unordered(store.SESSIONS, again) == ([0, 2], [1])
    assert store.sessions().count_documents({}) == 4


def test_indexes_command(capsys):
    call_command("viewstats_indexes")
    assert "client_start" in capsys.readouterr().out


@pytest.mark.django_db
def test_client_lives_per_process():
    client = store.get_client()
    assert store.get_client() is client
    store._client_pid = -1  # as seen from a forked RQ work horse
    assert store.get_client() is not client
