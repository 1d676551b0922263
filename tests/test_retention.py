"""What does not grow forever: media events expire, hourly rows are pruned, caches hold only known keys."""
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import override_settings

from smartystats import fill
from smartystats.models import Count, MaxOnline
from tests.test_smartystats_dynamics import FILL_TO, NOW, isolated_locks  # noqa: F401
from tvmiddleware.fixtures import generate
from viewstats import caching, host, store


def test_media_events_expire_after_the_default_and_follow_the_setting():
    store.ensure_indexes()
    ttl = store.collection(store.MEDIA_EVENTS).index_information()[store.RETENTION_INDEX]
    assert ttl["expireAfterSeconds"] == 35 * 86400 and list(ttl["key"]) == [("stored_at", 1)]
    with override_settings(VIEWSTATS_MEDIA_EVENT_RETENTION_DAYS=None):
        store.ensure_indexes()
        assert store.RETENTION_INDEX not in store.collection(store.MEDIA_EVENTS).index_information()
    # Raw sessions are what reports are computed from: kept unless the operator says otherwise.
    assert store.RETENTION_INDEX not in store.sessions().index_information()


@pytest.mark.django_db
def test_hourly_rows_older_than_the_retention_are_pruned_and_days_stay(operator):
    generate(operator.client, now=NOW, seed=3, days=45)
    with override_settings(SMARTYSTATS_HOURLY_RETENTION_DAYS=10):
        call_command("cache_customers_dynamic", time=NOW.isoformat(), stdout=None)
    cut = FILL_TO.replace(hour=0) - timedelta(days=10)
    hourly = Count.objects.filter(client_id=operator.client.id, series__endswith=":hour")
    assert hourly.exists() and not hourly.filter(end_time__lte=cut).exists()
    hours = MaxOnline.objects.filter(client_id=operator.client.id, frequency=MaxOnline.HOUR)
    assert hours.exists() and not hours.filter(bucket_start__lt=cut).exists()
    days = MaxOnline.objects.filter(client_id=operator.client.id, frequency=MaxOnline.DAY)
    assert days.filter(bucket_start__lt=cut - timedelta(days=5)).exists()  # days keep their history
    assert Count.objects.filter(client_id=operator.client.id, series__endswith=":day",
                                end_time__lte=cut).exists()
    with override_settings(SMARTYSTATS_HOURLY_RETENTION_DAYS=None):
        assert fill.prune_hourly(operator.client.id, FILL_TO) == 0


@pytest.mark.django_db
def test_unknown_authkeys_and_tokens_do_not_fill_the_caches(operator):
    caching.clear_all()
    for i in range(200):
        assert host.login_for_authkey(f"guess-{i}") is None
        assert host.viewer_for_token(operator.client.id, f"token-{i}", f"user-{i}") is None
        assert host.channel_for_stream(operator.client.id, f"stream-{i}") is None
    assert host.login_for_authkey("x" * 10_000) is None
    keyed_by_requests = (host.login_for_authkey, host.viewer_for_token, host.channel_for_stream)
    assert [f.cache_size() for f in keyed_by_requests] == [0, 0, 0]
    key = operator.login(operator.accounts[0])
    assert host.login_for_authkey(key).account_id == operator.accounts[0].id
    assert host.login_for_authkey.cache_size() == 1  # a known key is kept
