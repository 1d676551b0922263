"""App-facing endpoints serve the stored sortings and selections, per client."""
from datetime import timedelta

import pytest

from tests.test_popularity_bruteforce import AS_OF, DAY0
from tests.test_popularity_commands import CHANNELS, EPG, SORTING, run_json, sessions
from viewstats import documents, host

HOST_KINDS = ("reference", "toy")  # the feature works the same on any host

API = "/tvmiddleware/api/"


@pytest.fixture
def world(db, host_kind):
    from tests.factories import make_operator

    operator = make_operator("Alpha TV", epg_day=DAY0)
    other_operator = make_operator("Beta Net", epg_day=DAY0)
    documents.set_clock(lambda: AS_OF)
    for op in (operator, other_operator):
        sessions(op, (DAY0 + timedelta(hours=1), 300), channel=0)
        sessions(op, (DAY0 + timedelta(hours=1), 900), (DAY0 + timedelta(hours=3), 900), channel=2)
    yield operator, other_operator
    documents.set_clock(None)


def get(client, path, **params):
    return client.get(API + path, params)


@pytest.mark.django_db
def test_channel_sortings_are_listed_and_applied(client, world):
    alpha, beta = world
    key = alpha.login(alpha.accounts[0])
    [mine] = run_json(SORTING, f"--client_id={alpha.client.id}", "--days_number=2", "--criterion=watch")
    [theirs] = run_json(SORTING, f"--client_id={beta.client.id}", "--days_number=2", "--criterion=watch")
    body = get(client, "channel/sort/list/", authkey=key).json()
    assert body["error"] == 0 and [s["id"] for s in body["channel_sort"]] == [mine["id"]]
    assert body["channel_sort"][0]["name"] == mine["name"]

    ordered = get(client, "channel/list/", authkey=key, channel_sort_id=mine["id"]).json()
    assert [c["id"] for c in ordered["channels"]] == [i["id"] for i in mine["items"]]
    assert ordered["channels"][0]["id"] == alpha.channels[2].id
    assert [c["channel_sort"] for c in ordered["channels"]] == list(range(1, 7))
    standard = get(client, "channel/list/", authkey=key).json()
    assert [c["id"] for c in standard["channels"]] == [c.id for c in alpha.channels]

    # A re-run keeps the id apps hold; the order follows the new viewing.
    sessions(alpha, (DAY0 + timedelta(hours=5), 5000), channel=4)
    [again] = run_json(SORTING, f"--client_id={alpha.client.id}", "--days_number=2", "--criterion=watch")
    assert again["id"] == mine["id"]
    assert len(host.get_host().channel_sortings(alpha.client.id)) == 1
    ordered = get(client, "channel/list/", authkey=key, channel_sort_id=mine["id"]).json()
    assert ordered["channels"][0]["id"] == alpha.channels[4].id

    r = get(client, "channel/list/", authkey=key, channel_sort_id=theirs["id"])
    assert r.status_code == 404 and r.json()["error"] == 404
    assert get(client, "channel/list/", authkey=key, channel_sort_id="x").status_code == 400
    assert get(client, "channel/sort/list/", authkey="nope").status_code == 403
    assert get(client, "channel/sort/list/").status_code == 403


@pytest.mark.django_db
def test_selections_are_listed_and_detailed(client, world):
    alpha, beta = world
    key = alpha.login(alpha.accounts[0])
    [channels] = run_json(CHANNELS, f"--client_id={alpha.client.id}", "--days_number=2",
                          "--criterion=watch_sessions", "--selection_size=4")
    [epg] = run_json(EPG, f"--client_id={alpha.client.id}", "--days_number=2", "--selection_size=5")
    [theirs] = run_json(EPG, f"--client_id={beta.client.id}", "--days_number=2")
    run_json(EPG, f"--client_id={alpha.client.id}", "--days_number=2", "--selection_size=5")
    assert len(host.get_host().selections(alpha.client.id)) == 2

    listed = get(client, "selection/list/", authkey=key).json()["selections"]
    assert [(s["id"], s["count"], s["type"]) for s in listed] == [(channels["id"], 4, 1), (epg["id"], 5, 1)]
    only_epg = get(client, "selection/list/", authkey=key, content_type=1).json()["selections"]
    assert [s["id"] for s in only_epg] == [epg["id"]]
    assert get(client, "selection/list/", authkey=key, content_type=9).status_code == 400

    detail = get(client, "selection/detail/", authkey=key, selection_id=channels["id"]).json()
    assert detail["count"] == 4 and detail["next_cursor"] is None
    assert [c["channel"]["id"] for c in detail["contents"]] == [i["id"] for i in channels["items"]]
    assert detail["contents"][0]["channel"]["id"] == alpha.channels[2].id

    page1 = get(client, "selection/detail/", authkey=key, selection_id=epg["id"], limit=3).json()
    page2 = get(client, "selection/detail/", authkey=key, selection_id=epg["id"], limit=3,
                cursor=page1["next_cursor"]).json()
    assert page1["next_cursor"] == "3" and page2["next_cursor"] is None
    programs = [c["program"] for c in page1["contents"] + page2["contents"]]
    assert [p["id"] for p in programs] == [i["id"] for i in epg["items"]]
    first = next(p for schedule in alpha.schedule.values() for p in schedule if p.id == programs[0]["id"])
    channel_name = next(c.name for c in alpha.channels if c.id == first.channel_id)
    assert programs[0] == {"id": first.id, "name": first.title,
                           "begin_time": int(first.begin.timestamp()),
                           "end_time": int(first.end.timestamp()),
                           "channel_id": first.channel_id, "channel_name": channel_name}

    r = get(client, "selection/detail/", authkey=key, selection_id=theirs["id"])
    assert r.status_code == 404
    assert get(client, "selection/detail/", authkey=key).status_code == 400
