"""Orchestrates the demo: operator, a week of viewing over HTTP, then every command."""
import random
import signal
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime, timedelta, timezone

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError

from smartystats import demo as dynamics_demo
from tvmiddleware import models as m
from viewstats import embedded, popularity, store
from viewstats.conf import setting
from viewstats.reports import demo as reports_demo
from viewstats.documents import set_clock
from viewstats.enrich import geo

from .operator import build_operator, create_superuser
from .server import JsonHttp, LocalServer
from .viewing import COUNTRY_NETWORKS, Simulation, count_by, summarize


class SimClock:
    def __init__(self, now):
        self.now = now


def _geoip_database(stdout):
    """A small country database for the demo's viewer networks (needs mmdb-writer)."""
    try:
        from tests.mmdb_factory import build_country_db
    except ImportError:
        stdout.write("  (mmdb-writer not installed: countries stay 'unknown')")
        return ""
    path = tempfile.mkdtemp(prefix="viewstats-demo-") + "/demo-country.mmdb"
    return build_country_db(path, {net: code for code, net in COUNTRY_NETWORKS.items()})


def run(stdout, *, accounts=200, days=7, seed=7, heartbeat=300, serve=False, port=8000):
    began = time.monotonic()
    rng = random.Random(seed)
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    start = (now - timedelta(days=days)).replace(hour=0)
    stdout.write("== Setting up")
    call_command("migrate", verbosity=0)
    settings.VIEWSTATS_PUSH_HEARTBEAT = heartbeat
    settings.VIEWSTATS_PUSH_SESSION_TIMEOUT = 3 * heartbeat
    # The demo reads its reports right after sending the data they count.
    settings.VIEWSTATS_ROLLUP_REFRESH_SECONDS = 0
    settings.VIEWSTATS_GEOIP_PATH = _geoip_database(stdout)
    # /viewstats/metrics is off unless allowed; the demo opens it to this machine.
    settings.VIEWSTATS_METRICS_ALLOWED_IPS = ["127.0.0.1", "::1"]
    geo.reset()
    op = build_operator(rng, "Demo Operator", accounts=accounts, days=days, now=now)
    create_superuser()
    stdout.write(f"  operator '{op.client.name}' (client {op.client.id}): {len(op.accounts)} accounts, "
                 f"{len(op.channels)} channels in {op.client.categories.count()} categories, "
                 f"{sum(len(d) for _, d in op.accounts)} devices, "
                 f"{op.client.tariffs.count()} tariffs ({op.tariff_changes} accounts change tariff "
                 f"mid-week), EPG of {days + 2} days")

    clock = SimClock(start)
    set_clock(lambda: clock.now)
    try:
        with LocalServer() as server:
            stdout.write(f"== Simulating {days} days of viewing through {server.base_url}")
            sim = Simulation(rng, JsonHttp(server.base_url), op, clock, start=start, days=days,
                             heartbeat=heartbeat)
            sim.login_devices()
            sim.plan()
            suspects = sim.plan_suspects(seed + 1)
            sim.run(progress=lambda done, total: stdout.write(f"  {done}/{total} device events sent"))
            sim.misbehave()
            set_clock(None)
            _print_ingestion(stdout, op, sim, began)
            stdout.write("  planted for the sharing checks: " + "; ".join(suspects))
            stdout.write("== Viewing rollups (what the reports read)")
            call_command("viewstats_fill_rollups", "--quiet", stdout=_Indented(stdout))
            stdout.write("== Media-server sessions and viewing reports")
            reports_demo.run(server.base_url, op.client.id, stdout=stdout, days=days)
            _print_metrics(stdout, server.base_url)
    finally:
        set_clock(None)
    stdout.write("== Account sharing and restreaming (the planted suspects should lead)")
    call_command("viewstats_sharing", client=[str(op.client.id)], date_from=start.date().isoformat(),
                 date_to=(now - timedelta(days=1)).date().isoformat(), stdout=_Indented(stdout))
    stdout.write("== Popularity commands")
    popularity.demo_run(op.client.id, stdout)
    stdout.write("== Subscriber dynamics")
    dynamics_demo.run(stdout)
    path = setting("VIEWSTATS_EMBEDDED_PATH") if store.is_embedded() else ""
    if path:
        saving = time.monotonic()
        store.save_embedded()
        stdout.write(f"== Embedded MongoDB data saved in {path} ({time.monotonic() - saving:.1f} s)")
    stdout.write(f"== Done in {time.monotonic() - began:.0f} s")
    if serve:
        _serve(stdout, port)
    elif path:
        stdout.write(f"  `make demo-serve` (manage.py demo --reuse, with SQLITE_PATH and VIEWSTATS_EMBEDDED_PATH "
                     f"as here) serves this state on http://127.0.0.1:{port}/admin/ (user admin, password admin) "
                     "without simulating again")
    else:
        stdout.write("  `python manage.py demo --serve` keeps serving the demo's data on "
                     f"http://127.0.0.1:{port}/admin/ (user admin, password admin)")


def _print_metrics(stdout, base_url):
    """What Prometheus would scrape now: the collection counters, summed per protocol."""
    with urllib.request.urlopen(f"{base_url}/viewstats/metrics", timeout=60) as response:
        text = response.read().decode()
    sums = {}
    for line in text.splitlines():
        for kind in ("received", "stored", "duplicate", "rejected"):
            prefix = f"viewstats_events_{kind}_total{{"
            if line.startswith(prefix):
                protocol = line.split('protocol="', 1)[1].split('"', 1)[0]
                sums[(kind, protocol)] = sums.get((kind, protocol), 0) + float(line.rsplit(" ", 1)[1])
    series = len({line.split("{")[0].split(" ")[0] for line in text.splitlines()
                  if line.startswith("viewstats_")})
    stdout.write(f"== Prometheus metrics ({base_url}/viewstats/metrics, open to this machine in the "
                 f"demo): {series} series")
    for protocol in sorted({p for _, p in sums}):
        figures = ", ".join(f"{kind} {sums.get((kind, protocol), 0):,.0f}"
                            for kind in ("received", "stored", "duplicate", "rejected"))
        stdout.write(f"  {protocol}: {figures}")


class _Indented:
    """A command's output, indented under the demo's section heading."""

    def __init__(self, stdout):
        self.stdout = stdout

    def write(self, text):
        for line in text.rstrip("\n").splitlines():
            self.stdout.write(f"  {line}")

    def flush(self):
        pass


def serve_saved(stdout, *, port=8000):
    """Serve the state a previous run left, without simulating: --reuse."""
    database = settings.DATABASES["default"]["NAME"]
    path = setting("VIEWSTATS_EMBEDDED_PATH")
    if store.is_embedded():
        if not path:
            raise CommandError("--reuse serves the MongoDB data a previous run saved, but VIEWSTATS_EMBEDDED_PATH "
                               "is not set (the embedded engine keeps nothing otherwise): run `make demo` and "
                               "then `make demo-serve`.")
        if embedded.saved_state(path) is None:
            raise CommandError(f"Nothing is saved in {path}: run `make demo` (or the demo with "
                               f"VIEWSTATS_EMBEDDED_PATH={path}) first.")
    call_command("migrate", verbosity=0)
    try:
        clients = list(m.Client.objects.order_by("id"))
    except DatabaseError as exc:
        raise CommandError(f"Cannot read the demo's database {database}: {exc}") from exc
    if not clients:
        raise CommandError(f"The database {database} holds no operator: run the demo with the same "
                           "SQLITE_PATH first (`make demo` uses demo.sqlite3).")
    sessions = store.sessions()
    source = f"embedded MongoDB data from {path}" if store.is_embedded() else "the configured MongoDB"
    stdout.write(f"== Serving the saved demo state ({database}, {source})")
    for client in clients:
        stdout.write(f"  operator '{client.name}' (client {client.id}): "
                     f"{sessions.count_documents({'client_id': client.id})} sessions")
    _serve(stdout, port)


def _serve(stdout, port):
    if threading.current_thread() is threading.main_thread():
        # A plain `kill` then ends the process normally, so that the embedded
        # engine's data is saved at exit as on Ctrl-C.
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    with LocalServer(port) as server:
        stdout.write(f"  serving {server.base_url}/admin/ (user admin, password admin; Ctrl-C to stop)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            stdout.write("  stopped")


def _print_ingestion(stdout, op, sim, began):
    sessions = store.sessions()
    cid = op.client.id
    stdout.write(f"== Ingestion summary ({time.monotonic() - began:.0f} s so far)")
    stdout.write(f"  sessions stored: {sessions.count_documents({'client_id': cid})}")
    for line in summarize(sim.tally, {
        "protocol": count_by(sessions, cid, "protocol"),
        "device type": count_by(sessions, cid, "device_type"),
        "device class": count_by(sessions, cid, "ua.type"),
        "country": count_by(sessions, cid, "country"),
    }):
        stdout.write(f"  {line}")
