"""Hostile and out-of-range input: a clear reason for that item, never a 500."""
import json
from datetime import datetime, timedelta, timezone
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from viewstats import store

BATCH = "/viewstats/api/stat/batch"
PUSH = "/viewstats/api/stat/push"


def iso(t):
    return t.isoformat()


@pytest.mark.django_db
@pytest.mark.parametrize("field, value, needle", [
    ("type", [], "type: expected live or archive"),
    ("type", {"a": 1}, "type: expected live or archive"),
    ("channel_id", "--5", "channel_id: expected an integer"),
    ("channel_id", "²", "channel_id: expected an integer"),
    ("channel_id", 10 ** 25, "channel_id: must be <="),
    ("program_id", 10 ** 25, "program_id: must be <="),
    ("start", "0001-01-01T00:00:00+05:00", "start:"),
    ("end", "9999-12-31T23:00:00-05:00", "end:"),
    ("start", 1e300, "start:"),
    ("timeshift_offset", 1_000_000_000, "timeshift_offset: must be <= 168"),
    ("archive_offset", 10 ** 25, "archive_offset: must be <="),
    ("client_id", 10 ** 30, "client_id: must be <="),
    ("id", "\ud800x", "id: must be printable"),
    ("id", "a\x00b", "id: must be printable"),
])
def test_bad_field_rejects_its_item_and_keeps_the_rest(client, operator, field, value, needle):
    key = operator.login(operator.accounts[0])
    t = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=2)
    good = {"id": "good", "channel_id": operator.channels[0].id, "start": iso(t),
            "end": iso(t + timedelta(minutes=5))}
    bad = {**good, "id": "bad", field: value}
    r = client.post(BATCH, data=json.dumps([good, bad]), content_type="application/json",
                    HTTP_AUTHORIZATION=f"Bearer {key}")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["accepted_ids"] == ["good"]
    [rejected] = body["rejected"]
    assert rejected["index"] == 1
    assert any(needle in reason for reason in rejected["reasons"]), rejected


@pytest.mark.django_db
def test_archive_with_null_programme_is_rejected(client, operator):
    key = operator.login(operator.accounts[0])
    t = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=2)
    item = {"id": "a", "channel_id": operator.channels[0].id, "type": "archive", "program_id": None,
            "start": iso(t), "end": iso(t + timedelta(minutes=5))}
    body = client.post(BATCH, data=json.dumps([item]), content_type="application/json",
                       HTTP_AUTHORIZATION=f"Bearer {key}").json()
    assert body["rejected"][0]["reasons"] == ["program_id: required for archive viewing"]


@pytest.mark.django_db
@pytest.mark.parametrize("params, needle", [
    ({"previous_channel_id": "1" + "0" * 25}, "previous_channel_id must be a number"),
    ({"channel_session": "1e25"}, "channel_session must be a number"),
    ({"channel_session": "9" * 19}, "channel_session must be <="),
    ({"timeshift_offset": "1000000000"}, "timeshift_offset must be <= 168"),
    ({"channel_id": "²"}, "channel_id must be a number"),
])
def test_push_out_of_range_is_error_1(client, operator, params, needle):
    key = operator.login(operator.accounts[0])
    query = {"authkey": key, "client_id": operator.client.id, "channel_id": operator.channels[0].id,
             "channel_session": 1, **params}
    body = client.get(PUSH, query).json()
    assert body["error"] == 1 and needle in body["error_message"], body
    assert store.sessions().count_documents({}) == 0


@pytest.mark.django_db
def test_sessions_without_a_channel_do_not_break_the_channel_commands(operator):
    """A media-server stream that maps to no channel leaves channel_id None."""
    day = datetime.now(timezone.utc).replace(hour=10, minute=0, second=0, microsecond=0) - timedelta(days=1)
    base = {"client_id": operator.client.id, "source": "media_server", "kind": "live", "tariff_ids": [],
            "device_type": None, "account_id": operator.accounts[0].id, "timeshift_offset": 0,
            "start": day, "end": day + timedelta(minutes=30), "duration": 1800}
    store.sessions().insert_many([{**base, "_id": "m1", "channel_id": operator.channels[2].id},
                                  {**base, "_id": "m2", "channel_id": None, "media": "promo_stream"}])
    for criterion in ("watch", "median_watch_time"):
        out = StringIO()
        call_command("create_channel_sorting_by_popularity", f"--client_id={operator.client.id}",
                     "--days_number=3", f"--criterion={criterion}", "--format=json", stdout=out)
        [result] = json.loads(out.getvalue())["results"]
        assert result["items"][0]["id"] == operator.channels[2].id
        assert result["items"][0]["metrics"]["watch_sessions"] == 1


@pytest.mark.django_db
def test_absurd_days_number_names_the_option(operator):
    with pytest.raises(CommandError, match="days_number"):
        call_command("create_channel_sorting_by_popularity", f"--client_id={operator.client.id}",
                     "--days_number=1000000", "--criterion=watch")
