"""Documents examined: the meter itself, and every report and command against history.

A real MongoDB is judged by the documents a query examines. The embedded
engine the suite runs on has no index, so store.examined() counts what a
server would examine with the declared indexes (viewstats/examined.py).

The history test runs each report and command twice, from scratch: once
over a client's data, once over the same data plus as many sessions again,
all months before any window (and before the smartystats fill start, and
arrived back then, so no cache has them to catch up on). Each run warms up
as that report or command would in production (its caches filled by an
earlier run), then new sessions arrive, then the measured run. What it
examines must not change: it follows the window and the answer, not the
stored history.

Two figures per run (see viewstats/examined.py): `total`, with the plan
examining fewest documents (or the hinted one), and `worst_total`, had a
query without a hint got the rival plan that a real planner may prefer
(as tight on paper, but walking more).
"""
import io
import random
import threading
import uuid
from datetime import datetime, timedelta, timezone

import bson
import pytest
from bson.codec_options import CodecOptions
from django.core.management import call_command

from smartystats import models as smarty
from tests.factories import DEVICE_TYPES, empty_store, make_operator
from viewstats import documents, rollups, store
from viewstats.documents import session_document
from viewstats.reports import counters, run

# --- the meter ------------------------------------------------------------------

T0 = datetime(2024, 3, 1, tzinfo=timezone.utc)


def _plain_sessions(n, client_id=1, every=timedelta(hours=1)):
    docs = [{"_id": f"m{client_id}-{i}", "client_id": client_id, "start": T0 + i * every,
             "end": T0 + i * every + timedelta(minutes=30), "duration": 1800, "account_id": i % 3,
             "received_at": T0, "updated_at": T0} for i in range(n)]
    store.sessions().insert_many(docs)
    return docs


def test_nothing_is_metered_outside_the_context():
    plain = type(store.sessions())
    with store.examined():
        assert type(store.sessions()) is not plain
    assert type(store.sessions()) is plain


def test_a_collection_scan_counts_every_document():
    _plain_sessions(30, client_id=1)
    _plain_sessions(20, client_id=2)
    with store.examined() as meter:
        list(store.sessions().aggregate([{"$group": {"_id": "$client_id"}}]))  # no leading $match
        list(store.sessions().find({"account_id": 1}))  # no index starts with account_id
    assert [(c.examined, c.index) for c in meter.calls] == [(50, "COLLSCAN"), (50, "COLLSCAN")]
    assert meter.total == 100 and meter.by_collection == {store.SESSIONS: 100}


def test_an_indexed_range_counts_the_range():
    _plain_sessions(100, client_id=1)
    _plain_sessions(100, client_id=2)
    a, b = T0 + timedelta(hours=40), T0 + timedelta(hours=50)
    with store.examined() as meter:
        found = list(store.sessions().find({"client_id": 1, "start": {"$gte": a, "$lt": b}, "duration": 1800}))
        store.sessions().find_one({"_id": "m1-7"})
    assert len(found) == 10
    assert meter.calls[0].examined == 10 and meter.calls[0].index.startswith("client_start")
    assert (meter.calls[1].examined, meter.calls[1].index) == (1, "_id_")


def test_a_hint_decides_the_index_and_other_plans_are_noted():
    _plain_sessions(100)
    a, b = T0 + timedelta(hours=90), T0 + timedelta(hours=95)
    match = {"client_id": 1, "end": {"$gt": a}, "start": {"$lt": b}}
    start_index = next(i.name for i in _declared() if i.fields[:2] == ["client_id", "start"])
    with store.examined() as meter:
        list(store.sessions().aggregate([{"$match": match}], hint="client_end"))
        list(store.sessions().aggregate([{"$match": match}], hint=start_index))
        list(store.sessions().find(match).hint("client_end"))
        list(store.sessions().aggregate([{"$match": match}]))
    hinted_end, hinted_start, cursor, free = meter.calls
    assert (hinted_end.examined, hinted_end.index) == (10, "client_end")  # ends after a: 90..99
    assert (hinted_start.examined, hinted_start.index) == (95, start_index)  # starts before b: 0..94
    assert (cursor.examined, cursor.index) == (10, "client_end")
    assert free.examined == 10  # fewest, as a planner would likely pick...
    assert meter.ambiguous == [(store.SESSIONS, "aggregate", 95, start_index)]  # ...but might not
    assert meter.worst_total == meter.total + 95 - 10


def test_a_limit_stops_the_scan_unless_a_sort_must_read_the_range_first():
    _plain_sessions(100)
    with store.examined() as meter:
        list(store.sessions().find({"client_id": 1}).limit(3))
        list(store.sessions().find({"client_id": 1}).sort("start", -1).limit(3))  # the index's order
        list(store.sessions().find({"client_id": 1}).sort("duration", 1).limit(3))  # no index has it
    assert [c.examined for c in meter.calls] == [3, 3, 100]


def test_a_count_the_index_holds_reads_no_document():
    _plain_sessions(40)
    with store.examined() as meter:
        assert store.sessions().count_documents({"client_id": 1}) == 40
        assert store.sessions().count_documents({"client_id": 1, "account_id": {"$ne": 0}}) == 26
    assert [c.examined for c in meter.calls] == [0, 40]


def test_a_hint_naming_no_index_is_an_error():
    _plain_sessions(3)
    with store.examined(), pytest.raises(ValueError, match="no declared index"):
        list(store.sessions().aggregate([{"$match": {"client_id": 1}}], hint="client_nothing"))


def test_writes_count_what_they_search():
    _plain_sessions(20)
    with store.examined() as meter:
        store.sessions().update_many({"client_id": 1, "start": {"$lt": T0 + timedelta(hours=5)}},
                                     {"$set": {"x": 1}})
        store.sessions().delete_one({"client_id": 1, "_id": "m1-3"})
        store.sessions().insert_many([{"_id": "new", "client_id": 1}])
    assert [c.examined for c in meter.calls] == [5, 1]


def test_threads_are_metered_when_asked():
    _plain_sessions(10)

    def read():
        list(store.sessions().find({"client_id": 1}))

    for everywhere, expected in ((False, 0), (True, 10)):
        with store.examined(all_threads=everywhere) as meter:
            worker = threading.Thread(target=read)
            worker.start()
            worker.join()
        assert meter.total == expected


def _declared():
    from viewstats.examined import declared_indexes

    return declared_indexes(store.SESSIONS)


# --- every report and command against a doubled history ----------------------------

NOW = datetime(2024, 3, 20, 10, 30, tzinfo=timezone.utc)
TODAY = NOW.replace(hour=0, minute=0, second=0)
EARLIER = NOW - timedelta(hours=3)  # the warm-up run of the smartystats caches
BASE_DAYS = 45  # the client's data: since early February (the fill starts on 1 February)
SHIFT = timedelta(days=150)  # the added history: October and November 2023
WINDOW = {"date_from": "2024-03-14", "date_to": "2024-03-20"}


def _sessions(op, rng, n, since, until, prefix, arrived=None):
    """`n` sessions of `op` starting in [since, until), of both sources.

    Each arrived when it ended (`arrived` overrides): stored long ago, as
    old sessions were.
    """
    docs = []
    span = int((until - since).total_seconds())
    for i in range(n):
        start = since + timedelta(seconds=rng.randrange(span))
        seconds = rng.choice([0, 30, 300, 900, 1800, 3600, 3 * 3600, 30 * 3600 if i % 40 == 0 else 600])
        end = min(start + timedelta(seconds=seconds), NOW)
        channel = rng.choice(op.channels)
        media = rng.random() < 0.4
        account = rng.choice(op.accounts + ([None] if media else []))
        kind = rng.choice(["live", "live", "archive"])
        extra = {"ip": rng.choice(["10.0.0.1", "10.0.0.2", "192.0.2.9"]),
                 "user_agent": rng.choice(["MAG250 stbapp", "VLC/3.0.18"]), "country": rng.choice(["DE", "FR"]),
                 "ua": {"type": "stb", "brand": "Infomir", "model": "MAG250", "os": "", "app": ""}}
        if media:
            buckets = []
            t = start.replace(minute=start.minute - start.minute % 5, second=0)
            while t < end:
                buckets.append({"t": t, "bytes": rng.randrange(1, 10 ** 6)})
                t += timedelta(minutes=5)
            extra.update(server_id=rng.choice([1, 2]), traffic=buckets,
                         bytes=sum(b["bytes"] for b in buckets))
        programme = rng.choice(op.schedule[channel.id]) if kind == "archive" else None
        doc = session_document(
            _id=f"{prefix}-{i}", client_id=op.client.id, source="media_server" if media else "device",
            protocol=rng.choice(["hls", "dash"] if media else ["push", "batch"]), start=start, end=end,
            channel_id=channel.id, program_id=programme.id if programme else None, kind=kind,
            timeshift_offset=rng.choice([0, 0, 1]) if kind == "live" else 0,
            received_at=arrived or end, **extra)
        doc.update(account_id=account.id if account else None,
                   customer_id=account.customer_id if account else None,
                   tariff_ids=list(account.tariff_ids) if account else [],
                   device_type=rng.choice(DEVICE_TYPES) if account else None)
        docs.append(doc)
    return docs


def _shifted(docs):
    out = []
    for doc in docs:
        old = {**doc, "_id": "old-" + doc["_id"]}
        for field in ("start", "end", "received_at", "updated_at"):
            old[field] = doc[field] - SHIFT
        if "traffic" in doc:
            old["traffic"] = [{"t": b["t"] - SHIFT, "bytes": b["bytes"]} for b in doc["traffic"]]
        out.append(old)
    return out


def _fresh_store():
    empty_store()
    for model in (smarty.FillState, smarty.MaxOnline, smarty.Count, smarty.OnlineNow, smarty.StatsSnapshot,
                  smarty.DailyStats, smarty.DailyPayments):
        model.objects.all().delete()


def _command(name, *args, **options):
    call_command(name, *args, stdout=io.StringIO(), stderr=io.StringIO(), **options)


def _smarty(name, at):
    return lambda op: _command(name, client_id=str(op.client.id), time=at.isoformat())


def _popularity(name, *args):
    return lambda op: _command(name, f"--client_id={op.client.id}", "--days_number=7", *args)


def _report(name, **params):
    return lambda op: run.run(name, {**WINDOW, **params}, [op.client.id])


def _counter(metric, *period):
    return lambda op: counters.counters([op.client.id], metric, *period)


# name -> (warm-up or None, measured run). A warm-up is the earlier run whose
# caches the measured one builds on; "first run" cases have none.
CASES = {
    **{f"report {name}": (_report(name), _report(name))
       for name in ("channel", "programme", "device", "country", "protocol", "unique", "sessions")},
    "report timeline (days)": (_report("timeline"), _report("timeline")),
    "report timeline (hours)": (_report("timeline", step="hour"), _report("timeline", step="hour")),
    "report daily (days recomputed)": (None, _report("daily")),
    "report daily (days stored)": (_report("daily"), _report("daily")),
    **{f"counters {metric} {label}": (None, _counter(metric, *period))
       for metric in counters.METRICS
       for label, period in (("year", (2024,)), ("month", (2024, 3)), ("day", (2024, 3, 18)))},
    "create_channel_sorting_by_popularity": (None, _popularity("create_channel_sorting_by_popularity",
                                                               "--criterion=watch")),
    "create_channel_sorting_by_popularity --accounts_active": (
        None, _popularity("create_channel_sorting_by_popularity", "--criterion=median_watch_time",
                          "--accounts_active")),
    "create_channel_selection_by_popularity": (None, _popularity("create_channel_selection_by_popularity",
                                                                 "--criterion=watch", "--selection_size=3")),
    "create_epg_selection_by_popularity": (None, _popularity("create_epg_selection_by_popularity",
                                                             "--selection_size=5")),
    "cache_max_online (first run)": (None, _smarty("cache_max_online", NOW)),
    "cache_max_online": (_smarty("cache_max_online", EARLIER), _smarty("cache_max_online", NOW)),
    "cache_customers_dynamic (first run)": (None, _smarty("cache_customers_dynamic", NOW)),
    "cache_customers_dynamic": (_smarty("cache_customers_dynamic", EARLIER),
                                _smarty("cache_customers_dynamic", NOW)),
    "collect_daily_stats": (None, _smarty("collect_daily_stats", NOW)),
    "save_stats": (None, _smarty("save_stats", NOW)),
}

# Cases that fail today: (case, check) -> (why, the exception it fails with).
KNOWN = {}


def _params():
    out = []
    for case in CASES:
        for check in ("total", "worst_total"):
            why, raises = KNOWN.get((case, check), (None, None))
            marks = [pytest.mark.xfail(strict=True, reason=why, raises=raises)] if why else []
            out.append(pytest.param(case, check, marks=marks, id=f"{case} [{check}]"))
    return out


@pytest.fixture
def metered_operator(db, host_kind):
    return make_operator("Metered", channels=5, accounts=8, epg_day=TODAY)


@pytest.fixture
def clock():
    yield lambda at: documents.set_clock(lambda: at)
    documents.set_clock(None)


# Both checks of a case read the same pair of runs (they are deterministic).
_measured = {}
# The store after the rollups' first build, per operator (its ids) and history:
# the same for every case, so built once while the operator's ids repeat.
# Kept as BSON, as the store would hold it.
_built = {}
_CODEC = CodecOptions(tz_aware=True, tzinfo=timezone.utc)


def _identity(op):
    return (op.client.id, tuple(c.id for c in op.channels), tuple(a.id for a in op.accounts),
            tuple(p.id for c in op.channels for p in op.schedule[c.id]))


def _first_build(op, doubled):
    key = (_identity(op), doubled)
    db = store.get_db()
    if key in _built:
        for name, encoded in _built[key].items():
            if encoded:  # fresh copies, decoded (faster than deepcopy)
                db[name].insert_many(bson.decode_all(encoded, _CODEC))
        return
    rng = random.Random(7)
    base = _sessions(op, rng, 200, NOW - timedelta(days=BASE_DAYS), NOW, "s")
    store.sessions().insert_many(base + (_shifted(base) if doubled else []))
    # The rollups' first build reads the whole history once, as a cron run
    # after installation does; what a report costs is measured after it.
    rollups.fill(op.client.id)
    _built[key] = {name: b"".join(bson.encode(doc, codec_options=_CODEC) for doc in db[name].find())
                   for name in db.list_collection_names()}


def _scenario(op, case, clock, doubled):
    warm_up, measured = CASES[case]
    _fresh_store()
    late = _sessions(op, random.Random(8), 6, TODAY, NOW - timedelta(minutes=40), "late",
                     arrived=NOW - timedelta(minutes=10))
    clock(EARLIER)
    _first_build(op, doubled)
    if warm_up:
        warm_up(op)
    store.sessions().insert_many(late)  # what arrived since: uploaded late, as apps do
    clock(NOW)
    with store.examined() as meter:
        measured(op)
    return meter


@pytest.mark.django_db
@pytest.mark.parametrize("case, check", _params())
def test_examined_follows_the_window_not_the_history(metered_operator, clock, settings, case, check):
    settings.SMARTYSTATS_LOCK_PREFIX = f"test-examined-{uuid.uuid4().hex}:"  # runs side by side
    if case not in _measured:
        before = _scenario(metered_operator, case, clock, doubled=False)
        after = _scenario(metered_operator, case, clock, doubled=True)
        _measured[case] = before, after
    before, after = _measured[case]
    grown = [(b, a) for b, a in zip(before.calls, after.calls) if b != a]
    assert getattr(after, check) == getattr(before, check), (
        f"{case}: {check} {getattr(before, check)} -> {getattr(after, check)} with the history doubled; "
        f"calls that grew: {grown[:5]}; rival plans after: {after.ambiguous[:5]}")


def test_the_added_history_is_outside_every_window():
    """The copies end months before the earliest window a case reads (the counters
    of 2024; the smartystats fill starts on 1 February), margins included."""
    assert NOW - SHIFT < datetime(2024, 1, 1, tzinfo=timezone.utc) - timedelta(days=30)
