"""Report settings and their defaults (read at call time, so tests can override)."""
from django.conf import settings

DEFAULTS = {
    # Unique sessions: sessions of the same IP, User-Agent and content are one
    # when the next starts at most this many seconds after the previous ended.
    "VIEWSTATS_UNIQUE_GAP_SECONDS": 300,
    # Daily statistics of a day that may still receive data are recomputed
    # when read if older than this; late media-server data marks its days at once.
    "VIEWSTATS_DAILY_REFRESH_SECONDS": 300,
    # Rows per page of the raw session list (the API accepts up to MAX).
    "VIEWSTATS_PAGE_SIZE": 100,
    "VIEWSTATS_PAGE_SIZE_MAX": 1000,
}


def report_setting(name):
    return getattr(settings, name, DEFAULTS[name])
