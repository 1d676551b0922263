"""Orchestrates the demo: operator, a week of viewing over HTTP, then every command."""
import random
import tempfile
import time
from datetime import datetime, timedelta, timezone

from django.conf import settings
from django.core.management import call_command

from smartystats import demo as dynamics_demo
from viewstats import popularity, store
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
    settings.VIEWSTATS_GEOIP_PATH = _geoip_database(stdout)
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
            sim.run(progress=lambda done, total: stdout.write(f"  {done}/{total} device events sent"))
            sim.misbehave()
            set_clock(None)
            _print_ingestion(stdout, op, sim, began)
            stdout.write("== Media-server sessions and viewing reports")
            reports_demo.run(server.base_url, op.client.id, stdout=stdout, days=days)
    finally:
        set_clock(None)
    stdout.write("== Popularity commands")
    popularity.demo_run(op.client.id, stdout)
    stdout.write("== Subscriber dynamics")
    dynamics_demo.run(stdout)
    stdout.write(f"== Done in {time.monotonic() - began:.0f} s")
    stdout.write("  admin: http://127.0.0.1:8000/admin/ (user admin, password admin); "
                 "`python manage.py demo --serve` keeps serving the demo's data there")
    if serve:
        with LocalServer(port) as server:
            stdout.write(f"  serving {server.base_url}/admin/ (Ctrl-C to stop)")
            server.serve_forever()


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
