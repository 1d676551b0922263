"""Settings of the reference deployment: the host app plus the statistics suite.

Zero-setup by default (SQLite, the embedded MongoDB engine, RQ off). The
environment switches on real services:
  DATABASE=postgres            PostgreSQL on 127.0.0.1:5432 (PGHOST/PGUSER/PGDATABASE)
  MONGODB_URI=mongodb://...    a real MongoDB (>= 5.0)
  SMARTY_USE_RQ=1, REDIS_URL   enqueue heavy commands on RQ

Production (docs/deployment.md) takes its secrets and addresses from the
environment too:
  DJANGO_SECRET_KEY            required when serving; there is no fixed fallback
  DJANGO_ALLOWED_HOSTS         host names the site answers to, comma-separated
  VIEWSTATS_TRUSTED_PROXIES    reverse proxies whose X-Forwarded-For is believed
  DJANGO_CSRF_TRUSTED_ORIGINS, DJANGO_HTTPS=1   admin behind an HTTPS proxy
The zero-setup runs (`make demo`, `make test`, bench/, DJANGO_DEBUG=1) get a
fixed development key, the loopback names and the loopback proxy instead.
"""
import os
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def _env_list(name, default):
    """A comma-separated environment variable; `default` when it is not set at all."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


DEBUG = os.environ.get("DJANGO_DEBUG", "0") == "1"
# The runs that must work with zero setup on a developer's machine: DJANGO_DEBUG=1,
# `manage.py demo` (make demo) and the bench/ scripts; the test suite's
# tests/settings.py sets the same values itself. Anything else (gunicorn, cron,
# rqworker) is treated as production.
ZERO_SETUP = (DEBUG or sys.argv[1:2] == ["demo"]
              or Path((sys.argv or [""])[0] or ".").resolve().parent == BASE_DIR / "bench")
LOOPBACK = ["127.0.0.1", "::1"]

# No usable fallback outside the zero-setup runs: an empty key makes Django refuse
# anything that signs (sessions, the admin's login, password resets), and
# deploy/gunicorn.conf.py refuses to start without DJANGO_SECRET_KEY.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "") or (
    "django-insecure-zero-setup-demo-and-tests-only" if ZERO_SETUP else "")
# e.g. DJANGO_ALLOWED_HOSTS=stats.example.com,10.0.0.5; empty answers every request 400.
ALLOWED_HOSTS = _env_list("DJANGO_ALLOWED_HOSTS",
                          ["localhost", "127.0.0.1", "[::1]", "testserver"] if ZERO_SETUP else [])
# Origins of the admin's forms when served over HTTPS by a proxy, e.g. https://stats.example.com
CSRF_TRUSTED_ORIGINS = _env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
if os.environ.get("DJANGO_HTTPS", "0") == "1":
    # The site is reached over HTTPS only (the proxy terminates TLS and sends
    # X-Forwarded-Proto, which gunicorn honours from its forwarded_allow_ips).
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_rq",
    "tvmiddleware",
    "viewstats",
    "smartystats",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "project.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]
WSGI_APPLICATION = "project.wsgi.application"

if os.environ.get("DATABASE") == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
            "USER": os.environ.get("PGUSER", "postgres"),
            "NAME": os.environ.get("PGDATABASE", "viewstats"),
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# --- statistics suite -------------------------------------------------------
MONGODB_URI = os.environ.get("MONGODB_URI", "")
MONGODB_NAME = os.environ.get("MONGODB_NAME", "viewstats")
VIEWSTATS_EMBEDDED_PATH = os.environ.get("VIEWSTATS_EMBEDDED_PATH", "")
VIEWSTATS_GEOIP_PATH = os.environ.get("VIEWSTATS_GEOIP_PATH", "")
# Reverse proxies whose X-Forwarded-For names the viewer (nginx on the same host:
# VIEWSTATS_TRUSTED_PROXIES=127.0.0.1). Nothing is trusted unless named, so a
# device cannot choose its own address; the demo sends its viewers' addresses
# through the loopback "proxy".
VIEWSTATS_TRUSTED_PROXIES = _env_list("VIEWSTATS_TRUSTED_PROXIES", LOOPBACK if ZERO_SETUP else [])

SMARTY_USE_RQ = os.environ.get("SMARTY_USE_RQ", "0") == "1"
RQ_QUEUES = {
    "statistics": {
        "URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "DEFAULT_TIMEOUT": 3600,
    },
}

# VIEWSTATS_LOG_FORMAT=json: one JSON object per line (viewstats.logs.JsonFormatter), for a log
# shipper. The collection APIs log each rejected item and each failed store call on
# `viewstats.events` (INFO / ERROR; VIEWSTATS_EVENTS_LOG_LEVEL=WARNING keeps only the failures).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "viewstats.logs.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler",
                             **({"formatter": "json"} if os.environ.get("VIEWSTATS_LOG_FORMAT") == "json"
                                else {})}},
    "loggers": {
        "viewstats": {"handlers": ["console"], "level": os.environ.get("VIEWSTATS_LOG_LEVEL", "WARNING")},
        "viewstats.events": {"level": os.environ.get("VIEWSTATS_EVENTS_LOG_LEVEL", "INFO")},
        "smartystats": {"handlers": ["console"], "level": os.environ.get("VIEWSTATS_LOG_LEVEL", "WARNING")},
    },
}
# What the logs keep of a requester's address: truncated (IPv4 /24, IPv6 /48), full or none.
VIEWSTATS_LOG_IP = os.environ.get("VIEWSTATS_LOG_IP", "truncated")
# /viewstats/metrics is off until one of these is set (README, "Monitoring").
VIEWSTATS_METRICS_TOKEN = os.environ.get("VIEWSTATS_METRICS_TOKEN", "")
VIEWSTATS_METRICS_ALLOWED_IPS = _env_list("VIEWSTATS_METRICS_ALLOWED_IPS", [])

# The middleware the suite reads through (viewstats.contract.Host).
VIEWSTATS_HOST = "tvmiddleware.stats_host.ReferenceHost"
