"""GET /viewstats/api/stats/<client>/<metric>/<year>[/<month>[/<day>[/<hour>]]]."""
from django.views.decorators.http import require_GET

from ..reports.counters import PeriodError, counters
from ..reports.filters import SOURCES
from .reports import json_response, scoped_api

INT64_MAX = 2 ** 63 - 1


def _client_segment_error(client):
    """Why the <client> segment is no client id nor 'all', else None.

    Only ASCII digits make an id ("²" and "١٢" are digits to str.isdigit and
    int(), not to us), and it must fit the 64-bit ids the store keeps.
    """
    if client == "all":
        return None
    if client.isascii() and client.isdecimal() and len(client) <= 19 and int(client) <= INT64_MAX:
        return None
    return f"client: expected a client id (ASCII digits, at most {INT64_MAX}) or 'all', got {client[:40]!r}"


@require_GET
def stats(request, client, metric, year, month=None, day=None, hour=None):
    error = _client_segment_error(client)
    if error is None:
        source = request.GET.get("source") or None
        if source is not None and source not in SOURCES:
            error = f"source: expected {' or '.join(SOURCES)}, got {source[:40]!r}"
    if error is not None:
        return json_response({"error": error}, 400)
    return _stats(request, client=client, metric=metric, year=year, month=month, day=day, hour=hour)


@scoped_api
def _stats(request, client_ids, metric, year, month=None, day=None, hour=None):
    # The URL pattern lets only ASCII digits through: year 4, the others 1-2.
    month, day, hour = (int(v) if v is not None else None for v in (month, day, hour))
    try:
        data = counters(client_ids, metric, int(year), month, day, hour,
                        source=request.GET.get("source") or None)
    except PeriodError as exc:
        return json_response({"error": str(exc)}, 400)
    data["client"] = client_ids[0] if len(client_ids) == 1 else "all"
    return json_response(data)
