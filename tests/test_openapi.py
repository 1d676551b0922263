"""The OpenAPI document (viewstats/openapi.py, shipped as viewstats/static/viewstats/openapi.json).

* it is a valid OpenAPI 3.1 document, and the shipped file is what build() makes;
* every documented path resolves to a routed API, and every routed API is
  documented. The routed APIs are the routes of viewstats/urls.py,
  smartystats/urls.py and tvmiddleware/urls.py under `api/`, plus
  viewstats' `metrics`; the admin pages (`reports/…`) and smartystats'
  `index-widgets` form are not APIs. A route with a name in its path
  (`api/reports/<name>`) is documented once per report the suite has;
* each security scheme the document names lets its caller in;
* the documentation page serves the vendored Redoc and loads nothing from
  another site;
* Schemathesis calls every documented operation in-process (WSGI) with
  generated requests, authenticated as each operation's callers, against an
  operator with channels, an EPG, accounts, sessions, generated sortings and
  selections, a media server, an API token and a metrics token. Checks: no
  5xx, and status codes, content types, headers and bodies as documented.
  Bounded (SCHEMATHESIS_EXAMPLES per operation, derandomized) so the run
  takes about a minute; bench/schemathesis_run.py runs it larger.

A 5xx's traceback (Django's `django.request` log record) is added to the
failure, so the bug can be read from the test output.
"""
import base64
import contextlib
import logging
import os
import random
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest

from tests.factories import make_operator
from tests.test_reports_data import make_sessions
from viewstats import openapi

pytestmark = pytest.mark.django_db

# Examples per operation in the fuzzing phase; bench/schemathesis_run.py raises them.
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "20"))
# Phases: CI runs the explicit examples and fuzzing; the bench adds the coverage phase.
PHASES = os.environ.get("SCHEMATHESIS_PHASES", "examples,fuzzing").split(",")
# The bench records every failure instead of stopping at the first of an operation.
RECORD_ONLY = os.environ.get("SCHEMATHESIS_RECORD_ONLY") == "1"

API_NAMESPACES = ("viewstats", "smartystats", "tvmiddleware")
SAMPLE_PATH_VALUES = {"client": "1", "metric": "sessions", "year": "2024", "month": "3", "day": "10",
                      "hour": "5"}


def document():
    return openapi.shipped()


def operations(doc=None):
    doc = doc or document()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete", "head"):
                yield path, method, op


# ---------------------------------------------------------------- the document

def test_document_is_valid_openapi_3_1():
    from openapi_spec_validator import OpenAPIV31SpecValidator

    doc = document()
    assert doc["openapi"].startswith("3.1.")
    errors = list(OpenAPIV31SpecValidator(doc).iter_errors())
    assert not errors, "\n".join(str(e) for e in errors[:5])


def test_shipped_document_is_current():
    assert openapi.dumps() == openapi.SHIPPED.read_text(encoding="utf-8"), (
        "viewstats/static/viewstats/openapi.json is stale: run `python manage.py viewstats_openapi`")


def test_operations_are_described_and_unique():
    ids = [op["operationId"] for _, _, op in operations()]
    assert len(ids) == len(set(ids))
    schemes = set(document()["components"]["securitySchemes"])
    for path, method, op in operations():
        assert op.get("summary") and op.get("tags"), (method, path)
        assert "security" in op, f"{method} {path} says nothing of who may call it"
        assert {s for requirement in op["security"] for s in requirement} <= schemes
        assert any(code.startswith("2") for code in op["responses"]), (method, path)


def test_the_document_ships_with_the_package():
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(os.path.dirname(os.path.dirname(__file__)), "setup.cfg"))
    data = cfg["options.package_data"]["*"]
    assert "static/**/*" in data
    assert openapi.SHIPPED.is_relative_to(openapi.SHIPPED.parents[2] / "static")


# ------------------------------------------------------------------ routes

def sample_path(template):
    path = template
    for name, value in SAMPLE_PATH_VALUES.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, f"no sample value for a parameter of {template}"
    return path


def api_routes():
    """{(namespace, url name)} of every API route the three apps serve."""
    from importlib import import_module

    out = set()
    for namespace in API_NAMESPACES:
        for pattern in import_module(f"{namespace}.urls").urlpatterns:
            route = str(pattern.pattern).lstrip("^")
            if route.startswith("api/") or route.rstrip("$") == "metrics":
                assert pattern.name, f"{namespace}: route {route} has no name"
                out.add((namespace, pattern.name))
    return out


def test_every_documented_path_is_a_routed_api():
    from django.urls import Resolver404, resolve

    apis = api_routes()
    for template in document()["paths"]:
        try:
            match = resolve(sample_path(template))
        except Resolver404:
            pytest.fail(f"{template} is documented but no route serves it")
        assert (match.namespace, match.url_name) in apis, f"{template} resolves to a page, not an API"


def test_every_routed_api_is_documented():
    from django.urls import resolve

    from viewstats.reports.run import PARAMS, REPORTS

    documented, report_names, counter_depths = set(), set(), set()
    for template in document()["paths"]:
        match = resolve(sample_path(template))
        documented.add((match.namespace, match.url_name))
        if match.url_name in ("report-api", "report-csv"):
            report_names.add((match.url_name, match.kwargs["name"]))
        if match.url_name == "counters":
            counter_depths.add(tuple(k for k in ("month", "day", "hour") if match.kwargs.get(k)))
    missing = api_routes() - documented
    assert not missing, f"routed but not documented: {sorted(missing)}"
    names = set(REPORTS) | set(PARAMS)
    assert report_names == {(kind, n) for kind in ("report-api", "report-csv") for n in names}
    assert counter_depths == {(), ("month",), ("month", "day"), ("month", "day", "hour")}


def test_report_parameters_follow_the_reports():
    from viewstats.reports.run import PARAMS

    doc = document()
    for name, params in PARAMS.items():
        for suffix in ("", ".csv"):
            op = doc["paths"][f"/viewstats/api/reports/{name}{suffix}"]["get"]
            documented = {doc["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]]["name"]
                          for p in op["parameters"]}
            assert documented == set(params), name


# ------------------------------------------------------------------ the world

@dataclass
class World:
    client_id: int
    other_client_id: int
    channel_ids: list
    programme_ids: list
    first_channel_programme_ids: list
    account_ids: list
    tariff_ids: list
    abonement: str
    api_key: str
    authkey: str
    authkey_disabled: str   # a device type whose statistics collection is switched off
    api_token: str
    session: str
    media_token: str
    metrics_token: str
    basic: tuple
    sorting_id: int
    selection_ids: list
    extra: dict = field(default_factory=dict)


def build_world(settings_obj):
    """An operator with data in both stores, and a credential for every kind of caller.

    `settings_obj`: pytest-django's `settings` fixture, or django.conf.settings in the bench.
    """
    from django.contrib.auth.models import User
    from django.test import Client

    from viewstats import host
    from viewstats.models import ApiToken, MediaServer

    settings_obj.VIEWSTATS_METRICS_TOKEN = "metrics-secret-token"
    op = make_operator("Alpha TV", channels=4, accounts=3)
    other = make_operator("Beta Net", channels=2, accounts=1)
    op.set_collection("pc", False)
    make_sessions(op, seed=7, n=120)
    make_sessions(other, seed=8, n=20)
    user = User.objects.create_superuser("apidoc-root", "root@example.com", "pw")
    token = ApiToken.objects.create(user=user).key
    browser = Client()
    browser.force_login(user)
    server = MediaServer.objects.create(client_id=op.client.id, name="edge-1")
    now = datetime.now(timezone.utc)
    h = host.get_host()
    sorting_id, _ = h.save_channel_sorting(op.client.id, "apidoc", "Popular", {"criterion": "watch"}, now,
                                           [(c.id, {"watch": 10 - i}) for i, c in enumerate(op.channels)])
    channels_sel, _ = h.save_selection(op.client.id, "apidoc-ch", "Popular channels", "channel", {}, now,
                                       [(c.id, {}) for c in op.channels[:3]])
    programmes = [p for schedule in op.schedule.values() for p in schedule]
    epg_sel, _ = h.save_selection(op.client.id, "apidoc-epg", "Popular programmes", "epg", {}, now,
                                  [(p.id, {}) for p in programmes[:5]])
    return World(
        client_id=op.client.id, other_client_id=other.client.id, channel_ids=[c.id for c in op.channels],
        programme_ids=[p.id for p in programmes], account_ids=[a.id for a in op.accounts],
        first_channel_programme_ids=[p.id for p in op.schedule[op.channels[0].id]],
        tariff_ids=[t.id for t in op.tariffs],
        abonement=op.accounts[1].abonement, api_key=op.client.api_key,
        authkey=op.login(op.accounts[0]), authkey_disabled=op.login(op.accounts[2], "pc"), api_token=token,
        session=browser.cookies["sessionid"].value,
        media_token=server.token, metrics_token=settings_obj.VIEWSTATS_METRICS_TOKEN,
        basic=("apidoc-root", "pw"), sorting_id=sorting_id, selection_ids=[channels_sel, epg_sel])


@contextlib.contextmanager
def connections_kept():
    """Keep the test's database connection across in-process WSGI requests, as Django's test client does.

    Django's handler closes the connection at the end of every request; inside
    the test's transaction that drops the transaction (PostgreSQL) and the
    world with it.
    """
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def world(db, host_kind, settings):
    with connections_kept():
        yield build_world(settings)


# ------------------------------------------------------------ authentication

def apply_credentials(case_like, scheme, world, authkey=None):
    """Put `scheme`'s credential of `world` into a case (or a Request); `authkey` instead of the world's."""
    headers, query, cookies = case_like.headers, case_like.query, case_like.cookies
    authkey = authkey or world.authkey
    if scheme == "sessionCookie":
        cookies["sessionid"] = world.session
    elif scheme == "apiToken":
        headers["Authorization"] = f"Token {world.api_token}"
    elif scheme == "mediaServerBearer":
        headers["Authorization"] = f"Bearer {world.media_token}"
    elif scheme == "metricsBearer":
        headers["Authorization"] = f"Bearer {world.metrics_token}"
    elif scheme == "deviceBearer":
        headers["Authorization"] = f"Bearer {authkey}"
    elif scheme == "authkey":
        query["authkey"] = authkey
    elif scheme == "basicAuth":
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(world.basic).encode()).decode()
    elif scheme == "hostApiKey":
        query["api_key"] = world.api_key
    else:
        raise AssertionError(f"no credential for security scheme {scheme}")


@dataclass
class Request:
    path: str
    headers: dict = field(default_factory=dict)
    query: dict = field(default_factory=dict)
    cookies: dict = field(default_factory=dict)


def send(client, request):
    for name, value in request.cookies.items():
        client.cookies[name] = value
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in request.headers.items()}
    return client.get(request.path, request.query, **extra)


def test_each_security_scheme_lets_its_caller_in(world, client):
    """Per scheme, an operation it secures answers 200 with the credential, and refuses without it."""
    cases = {
        "sessionCookie": ("/viewstats/api/reports/channel", {}, 401),
        "apiToken": ("/viewstats/api/ratings", {"client": world.client_id}, 401),
        "metricsBearer": ("/viewstats/metrics", {}, 401),
        "basicAuth": ("/smartystats/api/dynamics", {"client_id": world.client_id}, 401),
        "authkey": ("/tvmiddleware/api/channel/sort/list/", {}, 403),
        "hostApiKey": ("/tvmiddleware/api/portal/settings/list/",
                       {"client_id": world.client_id, "device": "mag"}, 403),
    }
    doc = document()
    for scheme, (path, query, refused) in cases.items():
        assert any({scheme: []} in op["security"] for p, _, op in operations(doc) if p == path), scheme
        client.cookies.clear()
        assert send(client, Request(path, query=dict(query))).status_code == refused, scheme
        request = Request(path, query=dict(query))
        apply_credentials(request, scheme, world)
        client.cookies.clear()
        response = send(client, request)
        assert response.status_code == 200, (scheme, response.content[:300])
    # The POST callers: a device's bearer authkey and a media server's token.
    for scheme, path in (("deviceBearer", "/viewstats/api/stat/batch"),
                         ("mediaServerBearer", "/viewstats/api/mediaserver/events")):
        request = Request(path)
        apply_credentials(request, scheme, world)
        client.cookies.clear()
        assert client.post(path, "[]", content_type="application/json").status_code == 401
        response = client.post(path, "[]", content_type="application/json",
                               HTTP_AUTHORIZATION=request.headers["Authorization"])
        assert response.status_code == 200, (scheme, response.content[:300])
    request = Request("/viewstats/api/stat/push", query={
        "client_id": world.client_id, "channel_id": world.channel_ids[0], "channel_session": 1})
    apply_credentials(request, "authkey", world)
    assert send(client, request).json() == {"error": 0, "error_message": ""}


# ------------------------------------------------------------ the docs page

def test_openapi_json_and_docs_page_are_served(client):
    from django.contrib.staticfiles import finders

    served = client.get("/viewstats/api/openapi.json")
    assert served.status_code == 200 and served["Content-Type"] == "application/json"
    assert served.json() == document()
    page = client.get("/viewstats/api/docs/")
    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    html = page.content.decode()
    assert 'data-spec-url="/viewstats/api/openapi.json"' in html
    assert "http://" not in html and "https://" not in html and "//cdn" not in html
    csp = page["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "img-src 'self' data:" in csp and "script-src 'self';" in csp
    for name in ("redoc.standalone.js", "apidoc.js", "apidoc.css"):
        assert f'"/static/viewstats/apidoc/{name}"' in html, name
    for name in ("redoc.standalone.js", "apidoc.js", "apidoc.css", "redoc.LICENSE",
                 "redoc.standalone.js.LICENSE.txt", "VENDORED.md"):
        assert finders.find(f"viewstats/apidoc/{name}"), name
    notices = open(finders.find("viewstats/apidoc/redoc.standalone.js.LICENSE.txt"), encoding="utf-8").read()
    assert 'Version: "2.5.2"' in notices
    bundle = open(finders.find("viewstats/apidoc/redoc.standalone.js"), encoding="utf-8").read()
    assert bundle.startswith("/*! For license information") and "sourceMappingURL" not in bundle[-300:]


# ------------------------------------------------------------ Schemathesis

def _wsgi_app():
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


def load_schema(app=None, examples=EXAMPLES, phases=PHASES):
    """The served document as a Schemathesis schema bound to the in-process app."""
    import schemathesis
    from schemathesis.config import HealthCheck

    schema = schemathesis.openapi.from_wsgi("/viewstats/api/openapi.json", app or _wsgi_app())
    # Credentials are the world's, put in by prepare(): never generated ones.
    schema.config.generation.update(max_examples=examples, deterministic=True, with_security_parameters=False,
                                    allow_x00=True)
    schema.config.phases.update(phases=phases)
    # The world is a function-scoped fixture, built once per operation and shared by its examples.
    schema.config.update(suppress_health_check=[HealthCheck.all])
    schema.config.seed = 20240501
    return schema


def checks():
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (content_type_conformance, response_headers_conformance,
                                                   response_schema_conformance, status_code_conformance)

    return [not_a_server_error, status_code_conformance, content_type_conformance,
            response_headers_conformance, response_schema_conformance]


def _chooser(case):
    """A random source for one case: deterministic, since the generated cases and their order are."""
    from schemathesis.core import NotSet

    label = f"{case.method} {case.path}"
    n = _CALLS[label] = _CALLS.get(label, 0) + 1  # identical cases (no parameters) still vary
    body = None if isinstance(case.body, NotSet) else case.body  # NotSet's repr has its address
    seed = repr((label, n, sorted((case.path_parameters or {}).items()), sorted((case.query or {}).items()),
                 body))
    return random.Random(zlib.crc32(seed.encode("utf-8", "surrogatepass")))


def _ids(values, rnd):
    return ",".join(str(v) for v in rnd.sample(values, k=min(len(values), rnd.randint(1, 2))))


def plant(case, world, rnd):
    """Put the world's real ids where the case names one, so that requests reach past validation."""
    query, path = case.query, case.path_parameters
    today = datetime.now(timezone.utc).date()
    real = {
        "client": str(world.client_id), "client_id": str(world.client_id),
        "channel_id": world.channel_ids[0], "channel_sort_id": world.sorting_id,
        "selection_id": rnd.choice(world.selection_ids), "abonement": world.abonement, "password": "pw",
        "device": "mag", "program_id": rnd.choice(world.first_channel_programme_ids),  # of channel_id
        "date_from": (today - timedelta(days=rnd.choice([0, 3, 6]))).isoformat(),
        "date_to": today.isoformat(), "account": str(rnd.choice(world.account_ids)),
    }
    for name, value in real.items():
        if name in query and rnd.random() < 0.8:
            query[name] = value
    if "program_id" in query and rnd.random() < 0.4:
        del query["program_id"]  # the push then takes the programme on air
    for name, ids in (("channel", world.channel_ids), ("tariff", world.tariff_ids),
                      ("programme", world.programme_ids)):
        if name in query and rnd.random() < 0.5:
            query[name] = _ids(ids, rnd)
    if "band" in query and rnd.random() < 0.6:
        query["band"] = rnd.choice(["19:00-23:00", "19-23", "22:00-02:00", "", "00:00-24:00", "06:30-09:15"])
    if "threshold" in query and rnd.random() < 0.6:
        query["threshold"] = rnd.choice(["1", "0.5", "30s", "90 sec", "2m"])
    if "from" in query and "to" in query and rnd.random() < 0.5:
        start = datetime.now(timezone.utc) - timedelta(days=rnd.randint(1, 5))
        query["from"], query["to"] = start.isoformat(), (start + timedelta(hours=rnd.randint(1, 60))).isoformat()
    elif ("from" in query) != ("to" in query) and rnd.random() < 0.8:
        query.pop("from", None), query.pop("to", None)
    if "client" in path and rnd.random() < 0.8:
        path["client"] = rnd.choice([str(world.client_id), str(world.client_id), "all"])
        if "year" in path:
            path["year"] = rnd.choice([today.year, today.year - 1])
            if "month" in path:
                path["month"] = today.month
            if isinstance(path.get("day"), int) and not 1 <= path["day"] <= 28:
                path["day"] = rnd.randint(1, 28)
    if case.path == "/viewstats/api/stat/batch" and isinstance(case.body, list) and rnd.random() < 0.6:
        now = datetime.now(timezone.utc)
        for item in case.body:
            if isinstance(item, dict):
                start = now - timedelta(minutes=rnd.randint(5, 600))
                item.update(channel_id=rnd.choice(world.channel_ids), start=start.isoformat(),
                            end=(start + timedelta(seconds=rnd.randint(0, 3600))).isoformat())
                item.pop("client_id", None)
    if case.path == "/viewstats/api/mediaserver/events" and rnd.random() < 0.6:
        events = case.body if isinstance(case.body, list) else [case.body]
        now_ms = int(datetime.now(timezone.utc).timestamp() * 1000)
        for event in events:
            if isinstance(event, dict):
                event.update(event=rnd.choice(["play_opened", "play_started", "play_updated", "play_closed"]),
                             utc_ms=now_ms - rnd.randint(0, 3_600_000), media=f"ch{rnd.randint(1, 4)}",
                             token=world.authkey)
                for name in ("opened_at", "started_at", "updated_at", "closed_at"):
                    event.pop(name, None)


def prepare(case, world, rnd):
    """Credentials of one of the operation's security schemes (now and then none), and real ids."""
    requirements = case.operation.definition.raw.get("security") or []
    if case.headers is None:
        case.headers = {}
    if case.query is None:
        case.query = {}
    if case.cookies is None:
        case.cookies = {}
    chosen = {} if not requirements or rnd.random() < 0.1 else rnd.choice(requirements)
    # Now and then a device whose type has collection switched off (push error 3, batch 403).
    authkey = world.authkey_disabled if rnd.random() < 0.1 else world.authkey
    for scheme in chosen:
        apply_credentials(case, scheme, world, authkey)
    if rnd.random() < 0.85:
        plant(case, world, rnd)
    return "+".join(chosen) or "anonymous"


class ServerErrors(logging.Handler):
    """The tracebacks Django logs for the 5xx it answers (logger django.request)."""

    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.records = []

    def emit(self, record):
        if record.exc_info:
            self.records.append(self.format(record))


STATS = {"operations": set(), "calls": 0, "by_status": {}, "failures": [], "push_errors": {},
         "push_refusals": {}}
_CALLS = {}


def run_case(case, world):
    """Call one generated case in-process and validate the answer; raise (or record) failures."""
    from schemathesis.core.failures import FailureGroup

    rnd = _chooser(case)
    prepare(case, world, rnd)
    errors = ServerErrors()
    errors.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("django.request")
    logger.addHandler(errors)
    try:
        response = case.call()
    finally:
        logger.removeHandler(errors)
    STATS["operations"].add(case.operation.label)
    STATS["calls"] += 1
    key = (case.operation.label, response.status_code)
    STATS["by_status"][key] = STATS["by_status"].get(key, 0) + 1
    if case.path == "/viewstats/api/stat/push" and response.status_code == 200:
        code, message = _push_error(response)
        STATS["push_errors"][code] = STATS["push_errors"].get(code, 0) + 1
        if code not in (0, "xml"):
            why = message.split(",")[0][:50]
            STATS["push_refusals"][why] = STATS["push_refusals"].get(why, 0) + 1
    try:
        case.validate_response(response, checks=checks())
    except FailureGroup as exc:
        detail = "\n".join(errors.records)
        STATS["failures"].append({"operation": case.operation.label, "status": response.status_code,
                                  "failures": [type(f).__name__ + ": " + f.title for f in exc.exceptions],
                                  "request": _describe(case), "traceback": detail[-4000:]})
        if not RECORD_ONLY:
            if detail:
                exc.add_note("Server traceback:\n" + detail[-4000:])
            raise


def _push_error(response):
    """(Smarty error code, message) of a push answer; ("xml", "") for format=xml."""
    try:
        body = response.json()
        return body["error"], body["error_message"]
    except (ValueError, KeyError, TypeError):
        return "xml", ""


def _describe(case):
    query = "&".join(f"{k}={quote(str(v))}" for k, v in (case.query or {}).items())
    path = case.formatted_path if hasattr(case, "formatted_path") else case.path
    from schemathesis.core import NotSet

    body = "" if isinstance(case.body, NotSet) else f" body={str(case.body)[:300]}"
    return f"{case.method} {path}?{query}{body}"


try:
    SCHEMA = load_schema()
except Exception as exc:  # noqa: BLE001 - reported by the test below, not as a collection error
    SCHEMA, SCHEMA_ERROR = None, exc
else:
    SCHEMA_ERROR = None


def test_schema_loads_from_the_app():
    assert SCHEMA_ERROR is None, f"Schemathesis could not load /viewstats/api/openapi.json: {SCHEMA_ERROR!r}"


if SCHEMA is not None:
    @SCHEMA.parametrize()
    def test_api_conforms_to_its_document(case, world):
        run_case(case, world)
