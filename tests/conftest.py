"""Shared fixtures.

MongoDB: the embedded engine by default, a fresh one per test. With
MONGODB_URI set, the suite runs against that server in a database of its own
(dropped at the end), emptied between tests.
"""
import os
import uuid

import pytest

from tests.factories import HOSTS, empty_store, make_operator

# One name per test run (per process): Redis keys, RQ queues and lock files
# of two runs on one machine, or on one Redis, never meet.
RUN_NAMESPACE = f"test-{uuid.uuid4().hex[:12]}-{os.getpid()}"


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


@pytest.fixture(scope="session")
def _run_lock_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("locks"))


@pytest.fixture(autouse=True)
def _run_namespace(_run_lock_dir):
    """Redis namespace (lock keys), RQ queue and lock directory of this run.

    Tests may still override any of them (their override_settings nests inside).
    """
    from django.conf import settings
    from django.test import override_settings

    queues = getattr(settings, "RQ_QUEUES", {})
    default_queue = queues.get(getattr(settings, "VIEWSTATS_RQ_QUEUE", "statistics")) or \
        next(iter(queues.values()), {"URL": "redis://127.0.0.1:6379/0"})
    queue = f"{RUN_NAMESPACE}-statistics"
    with override_settings(VIEWSTATS_REDIS_NAMESPACE=RUN_NAMESPACE, VIEWSTATS_RQ_QUEUE=queue,
                           RQ_QUEUES={**queues, queue: default_queue},
                           SMARTYSTATS_LOCK_DIR=_run_lock_dir):
        yield RUN_NAMESPACE


@pytest.fixture(autouse=True)
def _fresh_state():
    from viewstats import caching

    empty_store()
    yield
    caching.clear_all()


@pytest.fixture
def operator(db, host_kind):
    return make_operator("Alpha TV")


@pytest.fixture
def other_operator(db, host_kind):
    return make_operator("Beta Net")


@pytest.fixture(scope="session")
def chromium():
    """The run's headless Chromium (Debian's, at /usr/bin/chromium): a
    tests.browser.Chromium. Without it the browser tests fail, not skip."""
    from django.test.testcases import QuietWSGIRequestHandler
    from playwright.sync_api import sync_playwright

    from tests.browser import Chromium

    # Playwright's sync API runs an event loop in this thread, which Django's
    # database calls would otherwise refuse to run beside.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    # The one browser context keeps its connections to the live server open
    # between tests; a connection's server thread then outlives its test and
    # closes a database connection that is no longer its own. As HTTP/1.0,
    # the live server closes each connection after its response.
    keep_alive = QuietWSGIRequestHandler.protocol_version
    QuietWSGIRequestHandler.protocol_version = "HTTP/1.0"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            try:
                yield Chromium(browser)
            finally:
                browser.close()
    finally:
        QuietWSGIRequestHandler.protocol_version = keep_alive
