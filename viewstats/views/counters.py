"""GET /viewstats/api/stats/<client>/<metric>/<year>[/<month>[/<day>[/<hour>]]]."""
from django.views.decorators.http import require_GET

from ..reports.counters import PeriodError, counters
from .reports import json_response, scoped_api


@require_GET
@scoped_api
def stats(request, client_ids, metric, year, month=None, day=None, hour=None):
    month, day, hour = (int(v) if v is not None else None for v in (month, day, hour))
    try:
        data = counters(client_ids, metric, int(year), month, day, hour,
                        source=request.GET.get("source") or None)
    except PeriodError as exc:
        return json_response({"error": str(exc)}, 400)
    data["client"] = client_ids[0] if len(client_ids) == 1 else "all"
    return json_response(data)
