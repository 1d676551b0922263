"""Fuzzing at volume: hostile requests against every endpoint, in-process through Django.

Prints, per endpoint: requests sent; 5xx answers (an exception escaping a view
counts as one, its traceback printed once); items lost (a valid batch item or
media-server event not stored, or an item whose index the answer does not
account for correctly); items duplicated (stored twice, accepted twice, or
accepted again when resent); invalid items stored; answers outside the
documented statuses (and media-server sessions_failed); and errors the views
logged while answering (a batch item "could not be validated", a media-server
session "could not be rebuilt": caught, but bugs all the same).
Every number but requests must be 0; the exit status says whether they are.

    .venv/bin/python bench/fuzz.py [--cases 100000] [--seed 1] [--nul-like-postgres]

With --nul-like-postgres, SQLite refuses a NUL in a text parameter as
PostgreSQL does (DataError), so the 500s only PostgreSQL would give show here.

The cases are those of tests/test_fuzz.py (its hostile values and its batch
and event builders), drawn with `random` instead of Hypothesis so that
100,000 of them take minutes. The embedded MongoDB engine is emptied every few
hundred cases (it scans whole collections); the daily record limit is lifted
so that a valid item is never refused for volume.
"""
import argparse
import json
import logging
import os
import random
import sys
import tempfile
import time
import traceback
from collections import defaultdict
from contextlib import nullcontext
from itertools import count
from urllib.parse import quote

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
os.environ.setdefault("SQLITE_PATH", os.path.join(tempfile.mkdtemp(), "bench.sqlite3"))

import django  # noqa: E402
from django.conf import settings  # noqa: E402

# tests.factories imports the toy host's models too (as the test settings install them).
settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "tests.toyhost"]
django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from tests import test_fuzz as tf  # noqa: E402
from tests.factories import make_operator  # noqa: E402
from viewstats import caching, store  # noqa: E402
from viewstats.models import MediaServer  # noqa: E402
from viewstats.reports.run import REPORTS  # noqa: E402

# Share of the cases per endpoint (the media-server and batch cases send each body twice).
PLAN = [("push", 0.26), ("batch", 0.10), ("batch-body", 0.04), ("mediaserver", 0.09),
        ("mediaserver-body", 0.04), ("login", 0.08), ("portal-settings", 0.06), ("reports", 0.06),
        ("reports-csv", 0.05), ("counters", 0.08), ("dynamics", 0.06), ("app-lists", 0.08)]
RESET_EVERY = 100  # cases between two emptyings of the embedded engine (it scans whole collections)

# Characters hostile input is made of: controls, Latin-1, non-ASCII digits, RTL and
# zero-width marks, CJK, emoji, combining marks, private use, non-characters.
ALPHABET = ([chr(c) for c in range(0x00, 0x80)] + list("éßøÆ²³¹¼½¾µ") + list("٠١٢٣۴۵߀०१२३০১௧๑໒༣၄០᠑１２３𝟎𝟗")
            + ["\u200b", "\u200e", "\u202e", "\ufeff", "\u0301", "\u0000", "\ue000", "\uffff", "\ufffe"]
            + list("中文字日本語한국어") + ["😀", "👨‍👩‍👧", "🇩🇪"])
RAW_QUERY = "abc=&%0123456789xyzfF+;/?#_-.~\x00é²"


class Fuzzer:
    def __init__(self, seed):
        self.rnd = random.Random(seed)

    def text(self, max_size=40):
        return "".join(self.rnd.choice(ALPHABET) for _ in range(self.rnd.randrange(max_size + 1)))

    def number(self):
        r = self.rnd.random()
        if r < 0.3:
            return self.rnd.choice(tf.BOUNDARY_NUMBERS)
        if r < 0.6:
            return self.rnd.choice(tf.HOSTILE_NUMBERS)
        if r < 0.8:
            return str(self.rnd.randint(-(2 ** 70), 2 ** 70) >> self.rnd.randrange(70))
        return str(self.rnd.randint(-5, 200))

    def value(self):
        r = self.rnd.random()
        if r < 0.5:
            return self.number()
        if r < 0.7:
            return self.rnd.choice(tf.HOSTILE_TEXT)
        return self.text()

    def raw_query(self):
        return "".join(self.rnd.choice(RAW_QUERY) for _ in range(self.rnd.randrange(61)))

    def json_value(self, depth=0):
        r = self.rnd.random()
        if depth < 3 and r < 0.15:
            return [self.json_value(depth + 1) for _ in range(self.rnd.randrange(4))]
        if depth < 3 and r < 0.3:
            return {self.text(8): self.json_value(depth + 1) for _ in range(self.rnd.randrange(4))}
        if r < 0.55:
            return self.rnd.choice(tf.HOSTILE_JSON_VALUES)
        if r < 0.7:
            return self.rnd.randint(-(2 ** 80), 2 ** 80) >> self.rnd.randrange(80)
        if r < 0.8:
            return self.rnd.uniform(-1e300, 1e300)
        return self.text().replace("\x00", "\ud800" if self.rnd.random() < 0.1 else "\x00")

    def overrides(self, params, extra_values=()):
        out = {}
        for _ in range(self.rnd.randint(0, 3)):
            key = self.rnd.choice(params) if self.rnd.random() < 0.85 else self.text(10)
            r = self.rnd.random()
            out[key] = None if r < 0.15 else (self.rnd.choice(extra_values) if extra_values and r < 0.3
                                              else self.value())
        return out

    # tuples shaped like tests/test_fuzz.py's item_plan and event_plan
    def item_plan(self):
        if self.rnd.random() < 0.1:
            return ("raw", self.json_value())
        extra = {} if self.rnd.random() < 0.7 else {self.text(8): self.json_value()}
        extra = {k: v for k, v in extra.items() if k not in tf.BATCH_FIELDS}
        return (self.rnd.random() < 0.6, self.rnd.randrange(51), self.rnd.randint(1, 1200),
                self.rnd.randrange(3601), self.rnd.choice(["iso", "z", "s", "ms"]), self.rnd.random() < 0.3,
                self.rnd.randrange(31), self.rnd.choice(tf.BATCH_FIELDS), self.rnd.randrange(101), extra)

    def event_plan(self):
        if self.rnd.random() < 0.1:
            return ("raw", self.json_value())
        extra = {}
        for name in ("token", "user_id", "ip", "user_agent", "proto", "manifest_type", "country", "dvr",
                     "server", "referer"):
            if self.rnd.random() < 0.15:
                extra[name] = (self.json_value() if name == "dvr" else
                               self.rnd.randint(-(2 ** 64), 2 ** 64) if name == "user_id" and self.rnd.random() < 0.3
                               else self.rnd.choice(["10.0.0.1", "::1", "999.1.1.1", "81.2.69.160"])
                               if name == "ip" and self.rnd.random() < 0.5 else self.text())
        return (self.rnd.random() < 0.6, self.rnd.randrange(6), self.rnd.randrange(301),
                self.rnd.randrange(10 ** 9), self.rnd.choice(["play_opened", "play_started", "play_updated",
                                                               "play_closed"]),
                self.rnd.choice(tf.EVENT_FIELDS), self.rnd.randrange(101), self.rnd.random() < 0.5, extra)


class Tally:
    COLUMNS = ("requests", "5xx", "lost", "duplicated", "invalid_stored", "unexpected", "logged_errors")

    def __init__(self):
        self.rows = defaultdict(lambda: dict.fromkeys(self.COLUMNS, 0))
        self.tracebacks = {}
        self.examples = {}

    def add(self, endpoint, column, n=1, example=None):
        self.rows[endpoint][column] += n
        if n and example is not None and column != "requests":
            self.examples.setdefault((endpoint, column), example)


class ErrorCounter(logging.Handler):
    """Counts ERROR records of the suite's loggers: a caught exception is still a bug."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.count = 0
        self.first = None

    def emit(self, record):
        if record.name.split(".")[0] in ("viewstats", "smartystats", "tvmiddleware"):
            self.count += 1
            self.first = self.first or self.format(record)


def refuse_nul(execute, sql, params, many, context):
    """An execute wrapper: PostgreSQL's DataError for a NUL in a text parameter, on SQLite."""
    def flat(ps):
        for p in (ps.values() if isinstance(ps, dict) else ps or ()):
            if isinstance(p, (list, tuple, dict)):
                yield from flat(p)
            else:
                yield p
    if any(isinstance(p, str) and "\x00" in p for p in flat(params)):
        from django.db import DataError
        raise DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
    return execute(sql, params, many, context)


def reset_store():
    store.reset()
    store.ensure_indexes()
    caching.clear_all()


class Bench:
    def __init__(self, seed):
        self.fz = Fuzzer(seed)
        self.tally = Tally()
        self.errors = ErrorCounter()
        self.errors.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        logging.getLogger().addHandler(self.errors)
        logging.getLogger("django.request").setLevel(logging.CRITICAL)  # the bench prints its own
        self.http = Client()
        self.admin = Client()
        reset_store()
        self.op = make_operator("Fuzz", channels=6, accounts=8)
        self.admin.force_login(User.objects.create_superuser("fuzz", password="pw"))
        self.server = MediaServer.objects.create(client_id=self.op.client.id, name="edge-fuzz")
        self.seq = count()
        self.fresh_keys()

    def fresh_keys(self):
        """Authkeys live in the SQL database, not in the store: they survive a reset."""
        self.push_key = self.op.login(self.op.accounts[0], "mag")
        self.batch_account = self.fz.rnd.choice(self.op.accounts)
        self.batch_key = self.op.login(self.batch_account, "android_stb",
                                       device_uid=f"fuzz-{self.batch_account.id}")

    def send(self, endpoint, do, allowed):
        """One request; returns the response or None when a view raised."""
        self.tally.add(endpoint, "requests")
        logged = self.errors.count
        try:
            response = do()
            if getattr(response, "streaming", False):
                b"".join(response.streaming_content)
        except Exception as exc:  # a 500 in production
            self.tally.add(endpoint, "5xx")
            self.tally.tracebacks.setdefault((endpoint, type(exc).__name__), traceback.format_exc())
            return None
        finally:
            if self.errors.count > logged:
                self.tally.add(endpoint, "logged_errors", self.errors.count - logged, self.errors.first)
        if response.status_code >= 500:
            self.tally.add(endpoint, "5xx", example=response.content[:300])
        elif response.status_code not in allowed:
            self.tally.add(endpoint, "unexpected", example=(response.status_code, response.content[:300]))
        return response

    # --- query-string endpoints ---------------------------------------------------------------

    def query_case(self, endpoint, path, base, params, allowed, client=None, extra_values=(), raw_share=0.1):
        fz = self.fz
        if fz.rnd.random() < raw_share:
            query = fz.raw_query()
            do = lambda: (client or self.http).get(f"{path}?{query}")  # noqa: E731
        else:
            query = tf.mutate(base, fz.overrides(params, extra_values))
            do = lambda: (client or self.http).get(path, query)  # noqa: E731
        return self.send(endpoint, do, allowed)

    def push(self):
        base = {"authkey": self.push_key, "client_id": str(self.op.client.id),
                "channel_id": str(self.op.channels[0].id), "channel_session": str(self.fz.rnd.randrange(50))}
        r = self.query_case("push", tf.PUSH, base, tf.PUSH_PARAMS, (200,),
                            extra_values=["xml", "pvr", "live", "mag", "archive"])
        if r is not None and r["Content-Type"].startswith("application/json") and \
                r.json().get("error") not in (0, 1, 2, 3, 4):
            self.tally.add("push", "unexpected", example=r.content[:300])

    def login(self, endpoint, path):
        account = self.fz.rnd.choice(self.op.accounts)
        base = {"client_id": str(self.op.client.id), "api_key": self.op.client.api_key,
                "abonement": account.abonement, "password": "pw", "device": "mag",
                "device_uid": f"box-{self.fz.rnd.randrange(20)}"}
        self.query_case(endpoint, path, base, tf.LOGIN_PARAMS, (200, 403))

    def report(self, csv):
        fz = self.fz
        name = fz.rnd.choice(REPORTS) if fz.rnd.random() < 0.9 else fz.text(12)
        query = {fz.rnd.choice(tf.REPORT_PARAMS): self.report_value() for _ in range(fz.rnd.randint(0, 4))}
        extra = {"HTTP_AUTHORIZATION": f"Token {fz.value()}"} if fz.rnd.random() < 0.05 else {}
        path = f"/viewstats/api/reports/{quote(name, safe='')}{'.csv' if csv else ''}"
        self.send("reports-csv" if csv else "reports", lambda: self.admin.get(path, query, **extra),
                  (200, 400, 401, 403, 404))

    def report_value(self):
        fz = self.fz
        r = fz.rnd.random()
        if r < 0.5:
            return fz.value()
        if r < 0.7:
            return f"{fz.rnd.randint(1, 9999):04d}-{fz.rnd.randint(0, 13):02d}-{fz.rnd.randint(0, 32):02d}"
        if r < 0.8:
            return (tf.now().isoformat()
                    if fz.rnd.random() < 0.5 else f"{fz.rnd.randint(1, 9999):04d}-01-01T00:00:00+14:00")
        return fz.rnd.choice(["2024-02-30", "1970-01-01", "9999-12-31", "0001-01-01T00:00:00+14:00",
                              "9999-12-31T23:59:59-14:00", "1,2,3", ",,,", "1,-9999999999999999999",
                              "device", "media_server", "-start", "duration", "1", "all", "day", "hour"])

    def counters(self):
        fz = self.fz
        who = fz.rnd.choice([str(self.op.client.id), "all", fz.number(), fz.value()])
        metric = fz.rnd.choice(tf.COUNTER_METRICS) if fz.rnd.random() < 0.8 else fz.text(10)
        parts = [fz.rnd.randrange(10000)] + [fz.rnd.randrange(100) for _ in range(fz.rnd.randrange(4))]
        parts = parts[:fz.rnd.randrange(5)]
        path = "/".join([f"/viewstats/api/stats/{quote(who, safe='') or 'x'}", quote(metric, safe='') or "x"]
                        + [str(p).zfill(4 if i == 0 else 1) for i, p in enumerate(parts)])
        source = fz.rnd.choice([None, None, "device", "media_server", fz.value()])
        self.send("counters", lambda: self.admin.get(path, {"source": source} if source is not None else {}),
                  (200, 400, 401, 403, 404))

    def dynamics(self):
        fz = self.fz
        query = {fz.rnd.choice(["client_id", "from", "to", "days", "frequency"]): self.report_value()
                 for _ in range(fz.rnd.randint(0, 4))}
        if fz.rnd.random() < 0.3:
            query["client_id"] = str(self.op.client.id)
        extra = ({"HTTP_AUTHORIZATION": fz.rnd.choice(["Basic !!!", "Basic ==", "Basic YTpi", "Basic \x00",
                                                        f"Basic {fz.text(12)}"])}
                 if fz.rnd.random() < 0.1 else {})
        self.send("dynamics", lambda: self.admin.get(tf.DYNAMICS, query, **extra), (200, 400, 401, 403))

    def app_list(self):
        fz = self.fz
        path = fz.rnd.choice(tf.APP_LISTS)
        query = {fz.rnd.choice(["authkey", "channel_sort_id", "selection_id", "client_id"]): fz.value()
                 for _ in range(fz.rnd.randint(0, 3))}
        if fz.rnd.random() < 0.6:
            query["authkey"] = self.push_key
        self.send("app-lists", lambda: self.http.get(path, query), (200, 400, 403, 404))

    # --- bodies --------------------------------------------------------------------------------

    def batch(self):
        plan = [self.fz.item_plan() for _ in range(self.fz.rnd.randrange(13))]
        items, valid, invalid = tf.build_batch(self.op, plan, f"b{next(self.seq)}")
        body = json.dumps(items).encode()
        distinct = list(dict.fromkeys(valid.values()))
        client_id, account_id = self.op.client.id, self.batch_account.id

        def stored(item_id):
            return store.sessions().count_documents({"_id": f"b:{client_id}:{account_id}:{item_id}"})

        before = store.sessions().count_documents({"client_id": client_id})
        answers = []
        for attempt in range(2):  # the app resends the same batch (no answer reached it)
            r = self.send("batch", lambda: self.http.post(tf.BATCH, data=body, content_type="application/json",
                                                          HTTP_AUTHORIZATION=f"Bearer {self.batch_key}"),
                          (200,))
            if r is None or r.status_code != 200:
                self.tally.add("batch", "lost", len(distinct), example=plan)
                return
            answers.append(r.json())
        first, second = answers
        accounted = ({x["index"] for x in first["rejected"]}, len(first["accepted_ids"]) + len(first["duplicates"]))
        if accounted[0] != invalid:
            missed = invalid - accounted[0]
            self.tally.add("batch", "lost", len(missed), example=("unreported invalid", plan, first))
            wrongly = accounted[0] - invalid
            self.tally.add("batch", "lost", len(wrongly), example=("valid rejected", plan, first))
        counts = {item_id: stored(item_id) for item_id in distinct}
        self.tally.add("batch", "lost", sum(n == 0 for n in counts.values()), example=(plan, first))
        self.tally.add("batch", "duplicated", sum(n > 1 for n in counts.values()), example=(plan, first))
        self.tally.add("batch", "duplicated",
                       len(first["accepted_ids"]) - len(set(first["accepted_ids"])) + second["accepted"],
                       example=(plan, first, second))
        after = store.sessions().count_documents({"client_id": client_id})
        self.tally.add("batch", "invalid_stored", max(0, after - before - len(distinct)), example=(plan, first))

    def events(self):
        plan = [self.fz.event_plan() for _ in range(self.fz.rnd.randrange(11))]
        raws = {i for i, p in enumerate(plan) if p[0] == "raw"}
        events, valid, invalid = tf.build_events(self.op, [p for p in plan if p[0] != "raw"],
                                                 f"e{next(self.seq)}")
        merged, it, index_map = [], iter(events), {}
        for i, p in enumerate(plan):
            if i in raws:
                merged.append({**p[1], "event": None} if isinstance(p[1], dict) else p[1])
            else:
                index_map[len(index_map)] = i
                merged.append(next(it))
        valid = {index_map[i]: v for i, v in valid.items()}
        invalid = {index_map[i] for i in invalid} | raws
        body = json.dumps(merged[0] if len(merged) == 1 and isinstance(merged[0], dict)
                          and self.fz.rnd.random() < 0.5 else merged)
        answers = []
        for attempt in range(2):  # the server resends its buffer
            r = self.send("mediaserver", lambda: self.http.post(
                tf.EVENTS, data=body, content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {self.server.token}"), (200,))
            if r is None or r.status_code != 200:
                self.tally.add("mediaserver", "lost", len(valid), example=plan)
                return
            answers.append(r.json())
        first, second = answers
        rejected = {x["index"] for x in first["rejected"]}
        self.tally.add("mediaserver", "lost", len(invalid - rejected), example=("unreported invalid", plan, first))
        self.tally.add("mediaserver", "lost", len(rejected - invalid), example=("valid rejected", plan, first))
        events_store = store.collection(store.MEDIA_EVENTS)
        counts = [events_store.count_documents({"_id": f"{self.server.pk}:{e}"}) for e in valid.values()]
        self.tally.add("mediaserver", "lost", sum(n == 0 for n in counts), example=(plan, first))
        self.tally.add("mediaserver", "duplicated", sum(n > 1 for n in counts) + second["accepted"],
                       example=(plan, first, second))
        failed = len(first["sessions_failed"]) + len(second["sessions_failed"])
        self.tally.add("mediaserver", "unexpected", failed, example=(plan, first, second))

    def body_case(self, endpoint, path, auth_good, allowed):
        fz = self.fz
        r = fz.rnd.random()
        if r < 0.4:
            body = fz.rnd.choice(tf.HOSTILE_BODIES)
        elif r < 0.7:
            body = bytes(fz.rnd.randrange(256) for _ in range(fz.rnd.randrange(200)))
        else:
            body = json.dumps(fz.json_value()).encode()
        content_type = fz.rnd.choice(["application/json", "application/json; charset=utf-8", "text/plain",
                                      "application/x-www-form-urlencoded"]) if endpoint == "batch-body" \
            else "application/json"
        header = f"Bearer {auth_good}" if fz.rnd.random() < 0.8 else f"Bearer {fz.value()}"
        self.send(endpoint, lambda: self.http.generic("POST", path, body, content_type=content_type,
                                                      HTTP_AUTHORIZATION=header), allowed)

    # --- the run -----------------------------------------------------------------------------

    def run(self, cases):
        ops = {
            "push": self.push,
            "batch": self.batch,
            "batch-body": lambda: self.body_case("batch-body", tf.BATCH, self.batch_key,
                                                 (200, 400, 401, 403, 413, 415)),
            "mediaserver": self.events,
            "mediaserver-body": lambda: self.body_case("mediaserver-body", tf.EVENTS, self.server.token,
                                                       (200, 400, 401, 413)),
            "login": lambda: self.login("login", tf.LOGIN),
            "portal-settings": lambda: self.login("portal-settings", tf.PORTAL),
            "reports": lambda: self.report(False),
            "reports-csv": lambda: self.report(True),
            "counters": self.counters,
            "dynamics": self.dynamics,
            "app-lists": self.app_list,
        }
        done = 0
        began = time.perf_counter()
        for endpoint, share in PLAN:
            n = max(1, round(cases * share))
            t0 = time.perf_counter()
            for i in range(n):
                if i % RESET_EVERY == 0:
                    reset_store()
                    self.fresh_keys()
                ops[endpoint]()
            done += n
            print(f"  {endpoint:<17} {n:>7} cases in {time.perf_counter() - t0:6.1f} s", flush=True)
        return done, time.perf_counter() - began


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--nul-like-postgres", action="store_true",
                        help="make SQLite refuse NUL in text parameters, as PostgreSQL does")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    # Volume is not what is fuzzed: no valid item may be refused by the daily record limit.
    settings.VIEWSTATS_MAX_SESSIONS_PER_ACCOUNT_DAY = 10 ** 9
    bench = Bench(args.seed)
    engine = "embedded (mongomock-ng)" if store.is_embedded() else "MongoDB server"
    sql = connection.vendor + (" refusing NUL like PostgreSQL" if args.nul_like_postgres else "")
    print(f"engine: {engine}; SQL: {sql}; {args.cases} cases, seed {args.seed}", flush=True)
    with connection.execute_wrapper(refuse_nul) if args.nul_like_postgres else nullcontext():
        done, seconds = bench.run(args.cases)
    tally = bench.tally
    print(f"\n{done} cases, {sum(r['requests'] for r in tally.rows.values())} requests in {seconds:.0f} s\n")
    print(f"{'endpoint':<17}" + "".join(f"{c:>15}" for c in Tally.COLUMNS))
    totals = dict.fromkeys(Tally.COLUMNS, 0)
    for endpoint, _ in PLAN:
        row = tally.rows[endpoint]
        print(f"{endpoint:<17}" + "".join(f"{row[c]:>15}" for c in Tally.COLUMNS))
        for c in Tally.COLUMNS:
            totals[c] += row[c]
    print(f"{'total':<17}" + "".join(f"{totals[c]:>15}" for c in Tally.COLUMNS))
    for (endpoint, name), tb in sorted(tally.tracebacks.items()):
        print(f"\n--- {endpoint}: {name} (first occurrence)\n{tb}")
    for (endpoint, column), example in sorted(tally.examples.items(), key=str):
        print(f"\n--- {endpoint}: first {column}: {str(example)[:1500]}")
    bad = sum(totals[c] for c in Tally.COLUMNS if c != "requests")
    print("\nOK: no 5xx, nothing lost or duplicated" if not bad else f"\nFAILED: {bad} problems")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
