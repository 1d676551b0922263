"""The popularity commands: options, window edges, median, output, re-runs."""
import io
import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command

from tests.test_popularity_bruteforce import AS_OF, DAY0, _doc
from tvmiddleware import models as m
from viewstats import documents, host, store
from viewstats.popularity import demo_run, pipelines

HOST_KINDS = ("reference", "toy")  # the feature works the same on any host

SORTING = "create_channel_sorting_by_popularity"
CHANNELS = "create_channel_selection_by_popularity"
EPG = "create_epg_selection_by_popularity"


@pytest.fixture
def clock():
    documents.set_clock(lambda: AS_OF)
    yield
    documents.set_clock(None)


@pytest.fixture
def alpha(db, host_kind):
    from tests.factories import make_operator

    return make_operator("Alpha", channels=4, accounts=2, epg_day=DAY0)


def run(*args):
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def run_json(*args):
    return json.loads(run(*args, "--format=json"))["results"]


def sessions(op, *spans, channel=0, **kw):
    """Insert sessions (start, seconds) on one channel of `op`."""
    docs = [_doc(f"{channel}-{i}", op, op.channels[channel].id, start, seconds, op.accounts[0],
                 [op.tariffs[0].id], "mag", **kw) for i, (start, seconds) in enumerate(spans)]
    store.sessions().insert_many(docs)


# --- window edges and the median -------------------------------------------

@pytest.mark.django_db
def test_sessions_crossing_window_edges_count_only_their_inside_part(alpha, clock):
    start, end = DAY0, DAY0 + timedelta(days=1)  # --days_number=1 at AS_OF
    sessions(alpha,
             (start - timedelta(seconds=100), 160),   # 60 s inside
             (end - timedelta(seconds=30), 500),      # 30 s inside
             (start - timedelta(seconds=100), 100),   # ends exactly at the start: out
             (end, 600),                              # starts exactly at the end (today): out
             (start + timedelta(hours=1), 0),         # zero length: not a view
             (start - timedelta(hours=3), 4 * 3600 + 86400),  # spans the whole window
             )
    [result] = run_json(SORTING, f"--client_id={alpha.client.id}", "--days_number=1",
                        "--criterion=watch_sessions")
    assert result["window"] == {"start": "2024-03-10T00:00:00Z", "end": "2024-03-11T00:00:00Z", "zone": "UTC"}
    top = result["items"][0]
    assert top["id"] == alpha.channels[0].id
    assert top["metrics"] == {"watch": 60 + 30 + 86400, "watch_sessions": 3,
                              "average": round((60 + 30 + 86400) / 3, 3), "median_watch_time": 60}


@pytest.mark.django_db
@pytest.mark.parametrize("durations, median", [
    ([7], 7), ([5, 1], 3), ([4, 1, 9], 4), ([10, 1, 2, 7], 4.5), ([3, 3, 3, 100, 100, 100], 51.5),
])
def test_median_is_exact_for_odd_and_even_counts(alpha, clock, durations, median):
    sessions(alpha, *[(DAY0 + timedelta(hours=i), d) for i, d in enumerate(durations)], channel=1)
    [result] = run_json(SORTING, f"--client_id={alpha.client.id}", "--days_number=1",
                        "--criterion=median_watch_time")
    assert result["items"][0]["metrics"]["median_watch_time"] == median


def test_middle_ranks():
    assert pipelines.middle_ranks(1) == [1]
    assert pipelines.middle_ranks(2) == [1, 2]
    assert pipelines.middle_ranks(5) == [3]
    assert pipelines.middle_ranks(6) == [3, 4]


# --- options -----------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("command, args, needle", [
    (SORTING, ["--client_id=999999", "--days_number=7", "--criterion=watch"], "--client_id"),
    (SORTING, ["--days_number=0", "--criterion=watch"], "--days_number: must be greater than 0"),
    (SORTING, ["--days_number=-3", "--criterion=watch"], "'-3'"),
    (SORTING, ["--days_number=x", "--criterion=watch"], "--days_number"),
    (SORTING, ["--days_number=7", "--criterion=loudest"], "--criterion: unknown criterion"),
    (SORTING, ["--days_number=7", "--criterion=watch", "--devices=mag,toaster"], "'toaster'"),
    (SORTING, ["--days_number=7", "--criterion=watch", "--tariffs=999999"], "--tariffs"),
    (SORTING, ["--days_number=7", "--criterion=watch", "--tariffs=abc"], "'abc'"),
    (SORTING, ["--days_number=7", "--criterion=watch", "--accounts_active=maybe"], "'maybe'"),
    (SORTING, ["--days_number=7", "--criterion=watch", "--format=xml"], "--format"),
    (CHANNELS, ["--days_number=7", "--criterion=watch", "--selection_size=0"], "--selection_size"),
    (EPG, ["--days_number=7", "--categories=999999"], "--categories"),
    (EPG, ["--days_number=7", "--channels=999999"], "--channels"),
    (EPG, ["--days_number=7", "--selection_size=-1"], "--selection_size"),
])
def test_bad_options_exit_with_the_option_and_value(alpha, command, args, needle):
    if not any(a.startswith("--client_id") for a in args):
        args = [f"--client_id={alpha.client.id}"] + args
    with pytest.raises(CommandError) as exc:
        run(command, *args)
    assert needle in str(exc.value)


@pytest.mark.django_db
def test_other_clients_ids_are_refused(alpha, other_operator):
    base = [f"--client_id={alpha.client.id}", "--days_number=7"]
    with pytest.raises(CommandError, match=f"--tariffs: .*{other_operator.tariffs[0].id}"):
        run(SORTING, *base, "--criterion=watch", f"--tariffs={other_operator.tariffs[0].id}")
    with pytest.raises(CommandError, match="--channels"):
        run(EPG, *base, f"--channels={other_operator.channels[0].id}")
    with pytest.raises(CommandError, match="--categories"):
        run(EPG, *base, f"--categories={other_operator.categories[0].id}")
    with pytest.raises(CommandError, match="--client_id: this command takes one client id"):
        run(CHANNELS, f"--client_id={alpha.client.id},{other_operator.client.id}",
            "--days_number=7", "--criterion=watch")


@pytest.mark.django_db
def test_missing_required_option_fails(alpha):
    with pytest.raises(CommandError, match="--criterion"):
        run(SORTING, f"--client_id={alpha.client.id}", "--days_number=7")


@pytest.mark.django_db
def test_aliases_lists_and_flags(alpha, other_operator, clock):
    sessions(alpha, (DAY0 + timedelta(hours=2), 600))
    ids = f"{alpha.client.id},{other_operator.client.id}"
    both = run_json(SORTING, f"--client_id={ids}", "--days_number=3", "--criterion=watch_time",
                    "--devices=mag", "--devices=ios,android_stb",
                    f"--tariffs={alpha.tariffs[0].id},{other_operator.tariffs[0].id}",
                    "--accounts_active")
    assert [r["client_id"] for r in both] == [alpha.client.id, other_operator.client.id]
    first = both[0]
    assert first["parameters"]["criterion"] == "watch"
    assert first["parameters"]["devices"] == ["android_stb", "ios", "mag"]
    assert first["parameters"]["tariffs"] == [alpha.tariffs[0].id]  # only its own
    assert first["parameters"]["accounts_active"] is True
    assert both[1]["parameters"]["tariffs"] == [other_operator.tariffs[0].id]
    for spelling, expected in (("sessions", "watch_sessions"), ("average_watch_time", "average"),
                               ("median_watch_time", "median_watch_time")):
        [r] = run_json(CHANNELS, f"--client_id={alpha.client.id}", "--days_number=3",
                       f"--criterion={spelling}", "--accounts_active=false")
        assert r["parameters"]["criterion"] == expected
        assert r["parameters"]["accounts_active"] is False
    [r] = run_json(CHANNELS, f"--client_id={alpha.client.id}", "--days_number=3",
                   "--criterion=watch", "--accounts_active=true", "--selection_size=2")
    assert r["parameters"]["accounts_active"] is True and len(r["items"]) == 2


# --- results are host objects, re-runs update in place -----------------------

@pytest.mark.django_db
def test_rerun_updates_in_place_and_keeps_how_it_was_computed(alpha, clock, host_kind):
    sessions(alpha, (DAY0 + timedelta(hours=2), 600), channel=2)
    args = [f"--client_id={alpha.client.id}", "--days_number=2", "--criterion=watch"]
    [first] = run_json(SORTING, *args)
    sessions(alpha, (DAY0 + timedelta(hours=3), 900), channel=3)
    [second] = run_json(SORTING, *args)
    assert first["created"] and not second["created"] and first["id"] == second["id"]
    [sorting] = host.get_host().channel_sortings(alpha.client.id)
    assert sorting.generated and sorting.computed_at == AS_OF
    assert list(sorting.item_ids) == [
        alpha.channels[3].id, alpha.channels[2].id, alpha.channels[0].id, alpha.channels[1].id]
    if host_kind == "reference":  # what the reference host also keeps
        row = m.ChannelSorting.objects.get(client=alpha.client)
        assert row.parameters["window"] == second["window"] and row.parameters["criterion"] == "watch"
        assert row.items.first().metrics["watch"] == 900
    [other] = run_json(SORTING, *args[:-1], "--criterion=average")
    assert other["id"] != first["id"] and len(host.get_host().channel_sortings(alpha.client.id)) == 2

    epg = [f"--client_id={alpha.client.id}", "--days_number=2"]
    [a] = run_json(EPG, *epg)
    [b] = run_json(EPG, *epg, "--selection_size=3", "--selection_name=Tonight's best")
    assert a["id"] == b["id"] and a["name"] == "2 days (17)"
    [selection] = [s for s in host.get_host().selections(alpha.client.id) if s.id == b["id"]]
    assert selection.name == "Tonight's best" and len(selection.item_ids) == 3
    assert selection.content_type == "epg" and selection.generated


@pytest.mark.django_db
def test_text_summary_and_help(alpha, clock):
    sessions(alpha, (DAY0 + timedelta(hours=2), 600), channel=1)
    text = run(SORTING, f"--client_id={alpha.client.id}", "--days_number=1", "--criterion=watch")
    assert "created channel sorting" in text and "1 by popularity, 3 without viewing" in text
    assert "Done: 1 client(s)" in text
    text = run(EPG, f"--client_id={alpha.client.id}", "--days_number=1", "--selection_size=2")
    assert "EPG selection" in text and "2 items: 1 by popularity, 1 without viewing" in text
    for command in (SORTING, CHANNELS, EPG):
        parser = __import__(f"viewstats.management.commands.{command}", fromlist=["Command"]) \
            .Command().create_parser("manage.py", command)
        help_text = parser.format_help()
        assert "--days_number" in help_text and "Window: the last DAYS_NUMBER whole UTC days" in help_text


@pytest.mark.django_db
def test_demo_run_prints_top_five_of_each(alpha, clock):
    sessions(alpha, (DAY0 + timedelta(hours=2), 600), channel=1)
    out = io.StringIO()
    results = demo_run(alpha.client.id, out)
    assert set(results) == {SORTING, CHANNELS, EPG}
    assert out.getvalue().count("  1. ") == 3
