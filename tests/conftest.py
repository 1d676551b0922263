"""Shared fixtures.

MongoDB: the embedded engine by default, a fresh one per test. With
MONGODB_URI set, the suite runs against that server in a database of its own
(dropped at the end), emptied between tests.
"""
import os

import pytest

from tests.factories import HOSTS, make_operator


def pytest_generate_tests(metafunc):
    """A module that sets HOST_KINDS = ("reference", "toy") runs on both hosts."""
    if "host_kind" in metafunc.fixturenames:
        kinds = getattr(metafunc.module, "HOST_KINDS", ("reference",))
        metafunc.parametrize("host_kind", kinds, indirect=True, scope="function")


@pytest.fixture
def host_kind(request, settings):
    """Which host VIEWSTATS_HOST names for this test (tests/factories.HOSTS)."""
    from viewstats import caching, host

    kind = getattr(request, "param", "reference")
    settings.VIEWSTATS_HOST = HOSTS[kind][0]
    host.reset()
    caching.clear_all()
    yield kind
    host.reset()
    caching.clear_all()


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
def operator(db, host_kind):
    return make_operator("Alpha TV")


@pytest.fixture
def other_operator(db, host_kind):
    return make_operator("Beta Net")
