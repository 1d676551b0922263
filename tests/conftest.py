"""Shared fixtures.

MongoDB: the embedded engine by default, a fresh one per test. With
MONGODB_URI set, the suite runs against that server in a database of its own
(dropped at the end), emptied between tests.
"""
import os

import pytest

from tests.factories import make_operator


@pytest.fixture(scope="session", autouse=True)
def _mongo_test_database():
    from django.conf import settings

    from viewstats import store

    settings.MONGODB_NAME = f"test_{settings.MONGODB_NAME}_{os.getpid()}"
    store.reset()
    yield
    if not store.is_embedded():
        store.get_client().drop_database(settings.MONGODB_NAME)
    store.reset()


@pytest.fixture(autouse=True)
def _fresh_state():
    from viewstats import caching, store

    caching.clear_all()
    if store.is_embedded():
        store.reset()
    else:
        db = store.get_db()
        for name in db.list_collection_names():
            db[name].delete_many({})
    store.ensure_indexes()
    yield
    caching.clear_all()


@pytest.fixture
def operator(db):
    return make_operator("Alpha TV")


@pytest.fixture
def other_operator(db):
    return make_operator("Beta Net")
