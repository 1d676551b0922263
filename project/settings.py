"""Settings of the reference deployment: the host app plus the statistics suite.

Zero-setup by default (SQLite, the embedded MongoDB engine, RQ off). The
environment switches on real services:
  DATABASE=postgres            PostgreSQL on 127.0.0.1:5432 (PGHOST/PGUSER/PGDATABASE)
  MONGODB_URI=mongodb://...    a real MongoDB (>= 5.0)
  SMARTY_USE_RQ=1, REDIS_URL   enqueue heavy commands on RQ
"""
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "reference-deployment-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "0") == "1"
ALLOWED_HOSTS = ["*"]

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
VIEWSTATS_GEOIP_PATH = os.environ.get("VIEWSTATS_GEOIP_PATH", "")
VIEWSTATS_TRUSTED_PROXIES = ["127.0.0.1", "::1"]

SMARTY_USE_RQ = os.environ.get("SMARTY_USE_RQ", "0") == "1"
RQ_QUEUES = {
    "statistics": {
        "URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "DEFAULT_TIMEOUT": 3600,
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "viewstats": {"handlers": ["console"], "level": os.environ.get("VIEWSTATS_LOG_LEVEL", "WARNING")},
        "smartystats": {"handlers": ["console"], "level": os.environ.get("VIEWSTATS_LOG_LEVEL", "WARNING")},
    },
}

# The middleware the suite reads through (viewstats.contract.Host).
VIEWSTATS_HOST = "tvmiddleware.stats_host.ReferenceHost"
