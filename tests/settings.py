"""Test settings: the reference deployment plus the toy host app."""
from project.settings import *  # noqa: F401,F403
from project.settings import INSTALLED_APPS, LOOPBACK

INSTALLED_APPS = [*INSTALLED_APPS, "tests.toyhost"]

# What project.settings gives its zero-setup runs; production takes them from the environment.
SECRET_KEY = "django-insecure-tests-only"
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]", "testserver"]
VIEWSTATS_TRUSTED_PROXIES = LOOPBACK

# Tests write and read at once: reports refresh the rollups on every read,
# and one process's embedded engine has no write in flight to wait for.
VIEWSTATS_ROLLUP_REFRESH_SECONDS = 0
VIEWSTATS_ROLLUP_MARGIN_SECONDS = 0

# Test users log in with a fast hash: the default PBKDF2 (a million rounds)
# took a quarter of a second of CPU per user created or password checked.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
