"""Gunicorn configuration for the statistics API and admin (docs/deployment.md).

    gunicorn -c deploy/gunicorn.conf.py            # from the checkout, with the environment set

Every value can be overridden from the environment (the systemd unit reads
/etc/viewstats/viewstats.env), so one file serves every host:

    GUNICORN_BIND            127.0.0.1:8000   where nginx proxies to (TCP, see "bind" below)
    GUNICORN_WORKERS         2                worker processes
    GUNICORN_THREADS         8                threads per worker (gthread)
    GUNICORN_TIMEOUT         60               seconds a silent worker lives
    GUNICORN_MAX_REQUESTS    5000             recycle a worker after this many requests (0 = never)
    GUNICORN_ACCESSLOG       -                access log file ("-" = stdout, i.e. the journal)
    GUNICORN_LOGLEVEL        info
    GUNICORN_CONTROL_SOCKET  (off)            gunicornc's socket, e.g. /run/viewstats/gunicorn.ctl
    PROMETHEUS_MULTIPROC_DIR (off)            where the workers share their Prometheus counters
                                              (README "Monitoring"; the systemd unit sets it)
    FORWARDED_ALLOW_IPS      127.0.0.1,::1    proxies whose X-Forwarded-Proto gunicorn believes
    WSGI_APP                 project.wsgi:application

Sizing (the reference machine has 2 cores). What the workers do is short and
mostly waiting: a stat/push is a point read and one or two writes by _id in
MongoDB plus a cached host lookup, a login one SQL insert. Python holds one core
per process (the GIL), so:

* workers = number of cores (2 here; at most 2 x cores + 1). More processes
  than cores only add memory and per-process caches (authkeys, channel lists,
  User-Agent results) that each warm up separately.
* threads = how many requests may wait on MongoDB/SQL at once per worker.
  4-16 is the useful range; 8 x 2 workers = 16 concurrent requests, each a few
  ms, is some 1000-3000 pushes/s of capacity, i.e. far more than 500-1000
  boxes at one heartbeat a minute need. Raise threads before workers when the
  database is remote (more waiting), raise workers when the cores are idle
  and the workers are at 100 % CPU.
* keep the number of database connections in mind: every thread may hold one
  SQL connection and the MongoDB pool is per process (workers x threads).

The embedded MongoDB engine (no MONGODB_URI) lives inside each worker
process: two workers would keep two different sets of sessions and lose them
on every restart. on_starting() below refuses that combination; the embedded
engine is for the demo, the tests and bench/load.py (one worker) only.
"""
import os


def _env(name, default):
    return os.environ.get(name, default)


os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
wsgi_app = _env("WSGI_APP", "project.wsgi:application")

# bind: TCP on the loopback, nginx in front. Over a unix socket REMOTE_ADDR is
# empty, so VIEWSTATS_TRUSTED_PROXIES could not name the proxy and every
# session would lose its viewer address and country. Several addresses:
# GUNICORN_BIND="127.0.0.1:8000,[::1]:8000".
bind = [b.strip() for b in _env("GUNICORN_BIND", "127.0.0.1:8000").split(",") if b.strip()]
backlog = 2048  # connections waiting for accept(); a reboot wave of boxes logs in at once

worker_class = "gthread"
workers = int(_env("GUNICORN_WORKERS", "2"))
threads = int(_env("GUNICORN_THREADS", "8"))
# Keep-alive connections a gthread worker holds open (idle ones cost no thread).
worker_connections = 1000

# timeout: a worker whose main loop is silent this long is killed and replaced.
# With gthread the main loop keeps beating while threads serve, so a long CSV
# export does not trip it; it catches a worker that is truly stuck.
timeout = int(_env("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30  # on stop/reload: finish the requests in flight, then exit
# keepalive: seconds an idle client connection stays open. Boxes push once a
# minute, so holding their connections gains nothing; nginx in front keeps its
# own upstream connections (keep this above nginx's keepalive_timeout for the
# upstream block if you enable one there).
keepalive = int(_env("GUNICORN_KEEPALIVE", "5"))

# Recycle workers now and then (memory growth in long-lived processes), with
# jitter so they do not all restart together. 0 disables it; on_starting()
# forces 0 with the embedded engine, whose data would go with the worker.
max_requests = int(_env("GUNICORN_MAX_REQUESTS", "5000"))
max_requests_jitter = int(_env("GUNICORN_MAX_REQUESTS_JITTER", "500"))

# Request size limits (the bodies themselves are limited by the app: batch 1 MB,
# media-server events 2.5 MB); a push's query string is far below 4094.
limit_request_line = 8190
limit_request_fields = 100

# X-Forwarded-Proto from these addresses sets wsgi.url_scheme=https, so Django
# sees the admin as secure behind a TLS-terminating nginx (CSRF origin checks,
# secure cookies). Name the proxy here as in VIEWSTATS_TRUSTED_PROXIES.
forwarded_allow_ips = _env("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# Logging. The access log leaves the query string out (%(U)s is the path only):
# devices send their authkey in the query string of every stat/push, and an
# authkey in a log file is a login. %({x-forwarded-for}i)s is the viewer as the
# proxy saw it, %(h)s the proxy itself; %(M)s is the request time in ms.
accesslog = _env("GUNICORN_ACCESSLOG", "-")
access_log_format = ('%({x-forwarded-for}i)s via %(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s '
                     '%(M)sms "%(a)s"')
errorlog = _env("GUNICORN_ERRORLOG", "-")
loglevel = _env("GUNICORN_LOGLEVEL", "info")
capture_output = True  # the app's own logging (viewstats, smartystats) goes to the error log
proc_name = _env("GUNICORN_PROC_NAME", "viewstats")

# gunicorn >= 25 opens a control socket for `gunicornc` (worker status, graceful
# reload), by default in the home directory. Off unless a path is given; the
# systemd unit puts it in its runtime directory. Older gunicorns ignore both names.
if _env("GUNICORN_CONTROL_SOCKET", ""):
    control_socket = _env("GUNICORN_CONTROL_SOCKET", "")
else:
    control_socket_disable = True

# Each worker imports the app itself (no preload): the MongoDB client is made
# per process after the fork anyway, and a reload (SIGHUP) picks up new code.
preload_app = False


# What on_starting() asks the settings, in a child process: importing Django and
# the apps into the master would pin their code there, and a reload (SIGHUP)
# would then fork new workers that still run the old models and store.
_PROBE = """
import json, django
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
django.setup(set_prefix=False)
from viewstats import store
try:
    secret = bool(settings.SECRET_KEY)
except ImproperlyConfigured:
    secret = False
print(json.dumps({"debug": settings.DEBUG, "secret": secret, "hosts": bool(settings.ALLOWED_HOSTS),
                  "embedded": store.is_embedded()}))
"""


def on_starting(server):
    """Refuse to serve with a configuration that would fail later or lose data."""
    import json
    import subprocess
    import sys

    probe = subprocess.run([sys.executable, "-c", _PROBE], cwd=server.cfg.chdir, capture_output=True,
                           text=True, timeout=120)
    if probe.returncode != 0:
        raise RuntimeError(f"the Django settings do not load:\n{probe.stderr[-3000:]}")
    found = json.loads(probe.stdout.strip().splitlines()[-1])
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # The counters of a previous run (and the probe's) must not add to this run's.
        from viewstats.metrics_multiprocess import prepare

        prepare()
    if not found["debug"]:
        if not found["secret"]:
            raise RuntimeError("DJANGO_SECRET_KEY is not set: put a long random value in the "
                               "environment (python3 -c 'import secrets; print(secrets.token_urlsafe(50))')")
        if not found["hosts"]:
            raise RuntimeError("DJANGO_ALLOWED_HOSTS is empty: every request would be answered 400. "
                               "Name the host names the site is reached by, comma-separated.")
    if found["embedded"]:
        if server.cfg.workers > 1:
            raise RuntimeError(
                f"no MongoDB configured (MONGODB_URI) and {server.cfg.workers} workers: the embedded "
                "engine keeps each process's sessions to itself and loses them on restart. Set "
                "MONGODB_URI, or GUNICORN_WORKERS=1 for a demo or a benchmark.")
        if server.cfg.max_requests:
            server.log.warning("embedded MongoDB engine: worker recycling (max_requests) disabled, "
                               "it would drop every session")
            server.cfg.set("max_requests", 0)
        server.log.warning("embedded MongoDB engine: sessions live in the one worker process and "
                           "are lost when it stops; use MONGODB_URI in production")


def child_exit(server, worker):
    """A worker is gone: fold its Prometheus counter files into the archive.

    With worker recycling (max_requests) each dead worker would otherwise
    leave its files behind for every scrape to read. The module is
    Django-free (see _PROBE above for why the master stays clear of Django).
    """
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    try:
        from viewstats.metrics_multiprocess import worker_exited

        worker_exited(worker.pid)
    except Exception:  # metrics housekeeping must never take the master down
        server.log.exception("could not fold the metrics files of worker %s", worker.pid)
