"""The raw session list: pages in order, none lost or repeated, and what a page reads.

Rows are checked against a sort of the stored sessions written here; the
sessions tie on every sort key, some last longer than
store.LONG_SESSION_SECONDS (they end far past the range) and two clients
are read at once; lists of one address or account too. What a page reads on a real server is worked out by
`keys_examined`, a model of an index scan over the declared indexes: the
keys inside the bounds the filter gives the hinted index's fields, in the
index's order, up to the page's last row when the index gives the sort, all
of them when the server has to sort.
"""
import random
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from mongomock_ng.filtering import filter_applies

from viewstats import store
from viewstats.reports import sessions
from viewstats.reports.filters import Filters

MIN = timedelta(minutes=1)
DAY = timedelta(days=1)
T0 = datetime(2024, 5, 1, tzinfo=timezone.utc)
LONG = timedelta(seconds=store.LONG_SESSION_SECONDS)
SORTS = ["-start", "start", "end", "-end", "duration", "-duration"]
BOUND_OPS = ("$eq", "$in", "$gt", "$gte", "$lt", "$lte")


def doc(client_id, n, start, end):
    return {"_id": f"s:{client_id}:{n:05d}", "client_id": client_id, "source": "device",
            "protocol": "batch", "start": start, "end": end,
            "duration": int((end - start).total_seconds()), "channel_id": 1, "account_id": n % 7,
            "ip": f"10.0.0.{n % 3}"}


def generate(client_ids, seed, days=6, per_day=40):
    """Sessions on a coarse grid (so starts, ends and durations tie), a few of
    them days long, over `days` days from T0."""
    rnd = random.Random(seed)
    docs = []
    for client_id in client_ids:
        for n in range(days * per_day):
            start = T0 + rnd.randrange(days * 24 * 6) * 10 * MIN
            length = rnd.choice([0, 10, 10, 20, 30, 60]) * MIN
            if rnd.random() < 0.06:
                length = LONG + rnd.choice([1, 600, 3 * 3600, 2 * 86400]) * timedelta(seconds=1)
            docs.append(doc(client_id, n, start, start + length))
    docs = [d for d in docs if d["end"] >= d["start"]]
    store.sessions().insert_many([dict(d) for d in docs])
    return docs


def brute(docs, filters, sort):
    field, reverse = sort.lstrip("-"), sort.startswith("-")
    rows = [d for d in docs if d["client_id"] in filters.client_ids
            and filters.start <= d["start"] < filters.end
            and (not filters.ip or d["ip"] == filters.ip)
            and (not filters.account or d["account_id"] in filters.account)]
    return [d["_id"] for d in sorted(rows, key=lambda d: (d[field], d["_id"]), reverse=reverse)]


def walk(filters, sort, limit):
    """Every page in turn: ([row ids per page], [cursor each page was read with])."""
    pages, cursors, cursor = [], [], None
    while True:
        page = sessions.page(filters, sort, cursor, limit=limit)
        pages.append([r["id"] for r in page["rows"]])
        cursors.append(cursor)
        cursor = page["next"]
        if not cursor:
            return pages, cursors


# ---------------------------------------------------------------- the model

def index_model(name):
    [model] = [m.document for m in store.INDEXES[store.SESSIONS] if m.document["name"] == name]
    return model


def _predicates(match, name):
    """The predicates on `name` an index scan can take its bounds from (top level and $and)."""
    out = []
    for part in [match] + list(match.get("$and", [])):
        if name in part:
            value = part[name]
            if isinstance(value, dict) and value and all(k.startswith("$") for k in value):
                if all(k in BOUND_OPS for k in value):
                    out.append(value)
            else:
                out.append({"$eq": value})
    return out


def keys_examined(docs, match, index, sort, limit=None):
    model = index_model(index)
    fields = list(model["key"])
    partial = model.get("partialFilterExpression")
    keys = [d for d in docs if (partial is None or filter_applies(partial, d))
            and all(filter_applies({f: p}, d) for f in fields for p in _predicates(match, f))]
    order = [(f, abs(d)) for f, d in sort]
    directions = {d for _, d in sort}
    if [f for f, _ in sort] != fields[1:len(sort) + 1] or len(directions) != 1:
        return len(keys)  # the server reads the whole range, then sorts
    keys.sort(key=lambda d: tuple(d[f] for f, _ in order), reverse=directions == {-1})
    examined = found = 0
    for d in keys:
        examined += 1
        found += filter_applies(match, d)
        if limit is not None and found == limit:
            break
    return examined


def examined_by_page(docs, filters, sort, cursor, limit):
    parts, order = sessions.query(filters, sort, cursor)
    total, left = 0, limit + 1  # page() reads one row more, to know whether there is a next page
    for match, index in parts:
        total += keys_examined(docs, match, index, order, left)
        left -= sum(1 for d in docs if filter_applies(match, d))
        if left <= 0:
            break
    return total


# ------------------------------------------------------------------ results

@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("limit", [1, 7, 50])
def test_pages_follow_the_order_and_hold_every_session_once(sort, limit):
    docs = generate([11, 12, 13], seed=limit, per_day=15 if limit == 1 else 40)
    filters = Filters(client_ids=[11, 12], start=T0 + DAY, end=T0 + 3 * DAY)
    want = brute(docs, filters, sort)
    assert len(want) > 40 and any(d["duration"] > store.LONG_SESSION_SECONDS for d in docs)
    pages, _ = walk(filters, sort, limit)
    got = [i for page in pages for i in page]
    assert got == want
    assert all(len(page) == limit for page in pages[:-1])


@pytest.mark.parametrize("sort", SORTS)
def test_the_csv_walk_is_the_pages_joined(sort):
    docs = generate([21], seed=5)
    filters = Filters(client_ids=[21], start=T0 + DAY, end=T0 + 2 * DAY, ip="10.0.0.1")
    assert [r["id"] for r in sessions.iterate(filters, sort)] == brute(docs, filters, sort)


@pytest.mark.parametrize("sort", ["end", "-end"])
def test_sessions_ending_long_after_the_range_are_listed_in_their_place(sort):
    start, end = T0 + DAY, T0 + 2 * DAY
    docs = [doc(31, 1, start, start + 3 * DAY),          # ends far past to + LONG
            doc(31, 2, end - MIN, end - MIN + LONG + MIN),  # ends just past it
            doc(31, 3, end - MIN, end - MIN + LONG),        # ends just inside
            doc(31, 4, start, start),                       # zero length at `from`
            doc(31, 5, start - MIN, start + 3 * DAY),       # started before the range: not listed
            doc(31, 6, end, end + 3 * DAY)]                 # started at `to`: not listed
    store.sessions().insert_many([dict(d) for d in docs])
    filters = Filters(client_ids=[31], start=start, end=end)
    for limit in (1, 2, 10):
        pages, _ = walk(filters, sort, limit)
        assert [i for page in pages for i in page] == brute(docs, filters, sort)


@pytest.mark.parametrize("sort", ["-start", "end", "duration"])
def test_a_cursor_resumes_after_its_row_while_sessions_arrive(sort):
    docs = generate([41], seed=9)
    filters = Filters(client_ids=[41], start=T0 + DAY, end=T0 + 2 * DAY)
    first = sessions.page(filters, sort, limit=10)
    later = [doc(41, 9000 + i, T0 + DAY + i * 30 * MIN, T0 + DAY + (i * 30 + 10) * MIN) for i in range(48)]
    store.sessions().insert_many([dict(d) for d in later])
    rest, cursor = [], first["next"]
    while cursor:
        page = sessions.page(filters, sort, cursor, limit=10)
        rest += [r["id"] for r in page["rows"]]
        cursor = page["next"]
    everything = brute(docs + later, filters, sort)
    last = everything.index(first["rows"][-1]["id"])
    assert rest == everything[last + 1:]


# ------------------------------------------------------------ what it reads

@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("cursor", [False, True])
def test_every_part_names_a_declared_index_that_bounds_it(sort, cursor):
    filters = Filters(client_ids=[1], start=T0, end=T0 + DAY)
    field = sort.lstrip("-")
    value = T0 + DAY / 2 if field in ("start", "end") else 600
    given = sessions.encode_cursor(value, "s:1:00001") if cursor else None
    parts, order = sessions.query(filters, sort, given)
    assert order == [(field, -1 if sort.startswith("-") else 1), ("_id", -1 if sort.startswith("-") else 1)]
    for match, index in parts:
        model = index_model(index)
        fields = list(model["key"])
        assert fields[0] == "client_id" and list(match)[0] == "client_id"
        bounds = _predicates(match, fields[1])
        assert any("$gt" in b or "$gte" in b for b in bounds), (index, match)
        assert any("$lt" in b or "$lte" in b for b in bounds), (index, match)
        partial = model.get("partialFilterExpression")
        if partial:
            # The sessions ending past to + LONG: a few, read by start and sorted.
            assert match["duration"] == partial["duration"]  # what makes the partial index usable
            assert fields[1] == "start" and field == "end"
            continue
        if field != "duration":
            assert fields[1:] == [field, "_id"]  # the index gives the order, ties included
        if cursor and field != "duration":
            # The index range itself starts at the cursor.
            assert {"$gte" if order[0][1] == 1 else "$lte": value} in bounds


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("narrow", [{"ip": "10.0.0.2"}, {"account": ["3", 3]}])
def test_a_list_of_one_household_reads_its_sessions_only(sort, narrow):
    docs = generate([71], seed=6, days=40, per_day=30)
    filters = Filters(client_ids=[71], start=T0 + 10 * DAY, end=T0 + 30 * DAY, **narrow)
    [(match, index)], order = sessions.query(filters, sort, None)
    theirs = sum(1 for d in docs if filter_applies(match, d))
    assert keys_examined(docs, match, index, order, 11) == theirs
    pages, _ = walk(filters, sort, 10)
    assert [i for page in pages for i in page] == brute(docs, filters, sort)
    assert theirs < len(docs) / 5


@pytest.mark.parametrize("sort", ["-start", "start", "end", "-end"])
def test_a_page_reads_about_a_page_whatever_the_history(sort):
    docs = generate([51], seed=3, days=40, per_day=30)
    start, end = T0 + 20 * DAY, T0 + 22 * DAY
    filters = Filters(client_ids=[51], start=start, end=end)
    field = sort.lstrip("-")
    ties = max(Counter(d[field] for d in docs).values())
    # Sessions the end index holds in the range but that started outside it:
    # those overlapping `from`, and those ending within LONG after `to`.
    beside = sum(1 for d in docs if start <= d["end"] < end + LONG and not start <= d["start"] < end)
    limit = 10
    pages, cursors = walk(filters, sort, limit)
    assert sum(len(p) for p in pages) > 5 * limit
    for cursor in cursors:
        read = examined_by_page(docs, filters, sort, cursor, limit)
        allowance = limit + 1 + ties + (beside if field == "end" else 0)
        assert read <= allowance, (cursor, read)
    assert allowance < len(docs) / 4  # so none of that is the history
    if field == "end":
        # With the sort key alone indexed (client_end), the server would read
        # the whole range for every page, to order it by _id within ties.
        parts, order = sessions.query(filters, sort)
        [usual] = [match for match, index in parts if index == sessions.END_INDEX]
        assert keys_examined(docs, usual, "client_end", order, limit + 1) > 5 * limit


def test_a_duration_page_reads_the_range_not_the_history():
    docs = generate([61], seed=4, days=40, per_day=30)
    start, end = T0 + 20 * DAY, T0 + 22 * DAY
    filters = Filters(client_ids=[61], start=start, end=end)
    in_range = sum(1 for d in docs if start <= d["start"] < end)
    _, cursors = walk(filters, "-duration", 10)
    for cursor in cursors:
        assert examined_by_page(docs, filters, "-duration", cursor, 10) == in_range
    assert in_range < len(docs) / 10
