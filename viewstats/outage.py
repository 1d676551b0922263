"""What every view says when the statistics database cannot be reached.

Devices and scripts get a 503 with a JSON error and Retry-After, so they
resend later; people in the admin get the admin page with a plain message
instead of a server error. Only connection failures count as an outage: a
failing query is a bug and stays a 500.
"""
import functools
import logging

from django.http import JsonResponse
from pymongo.errors import ConnectionFailure

from . import metrics
from .conf import setting
from .store import StoreUnavailable

logger = logging.getLogger(__name__)

OUTAGE_ERRORS = (ConnectionFailure, StoreUnavailable)
MESSAGE = ("The statistics database (MongoDB) cannot be reached right now; nothing was lost. "
           "Try again in a minute.")


def unavailable_response(exc=None):
    if exc is not None:
        logger.warning("statistics database unreachable: %s", exc)
    response = JsonResponse({"error": "statistics database unavailable", "detail": MESSAGE,
                             "retry_after": setting("VIEWSTATS_RETRY_AFTER_SECONDS")}, status=503)
    response["Retry-After"] = str(setting("VIEWSTATS_RETRY_AFTER_SECONDS"))
    return response


def json_api(view):
    """503 + Retry-After instead of a 500 when MongoDB is unreachable; timed by view name."""
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except OUTAGE_ERRORS as exc:
            metrics.store_error("report")
            return unavailable_response(exc)
    return metrics.api()(wrapper)


def admin_page(view):
    """The admin's own error page with MESSAGE instead of a 500."""
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except OUTAGE_ERRORS as exc:
            logger.warning("statistics database unreachable: %s", exc)
            from django.contrib import admin
            from django.template.response import TemplateResponse

            context = {**admin.site.each_context(request), "title": "Statistics unavailable",
                       "message": MESSAGE}
            response = TemplateResponse(request, "viewstats/unavailable.html", context, status=503)
            response["Retry-After"] = str(setting("VIEWSTATS_RETRY_AFTER_SECONDS"))
            return response
    return wrapper


def stream_or_mark(rows, mark):
    """Yield `rows`; if the database goes away mid-stream, yield `mark` and fail loudly.

    The status line is already sent, so the file ends with a line saying it
    is incomplete, and the response is aborted (no final chunk): a client
    can tell it from a complete file.
    """
    try:
        yield from rows
    except OUTAGE_ERRORS as exc:
        logger.warning("statistics database lost while streaming: %s", exc)
        yield mark
        raise
