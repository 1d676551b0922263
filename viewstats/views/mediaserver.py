"""POST /viewstats/api/mediaserver/events: a streaming server's event sink.

The server authenticates with 'Authorization: Bearer <token>' of its
MediaServer row, which decides the client. The answer is 2xx only once the
accepted events are stored; a 503 makes the server keep and resend them. A
session whose rebuild failed is listed in `sessions_failed` of the 200: its
events are stored, and a resend (or its next event) rebuilds it. A body over
the limit is a 413, in JSON like every answer here.
"""
from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .. import jsonbody, metrics, store
from ..conf import setting
from ..mediaserver import ingest_events
from ..models import MediaServer
from .collect import plausible_key


def _error(status, message):
    return JsonResponse({"error": message}, status=status)


@metrics.api(metrics.MEDIA_SERVER)  # counts the refusals below by status
@csrf_exempt
@require_POST
def events(request):
    header = request.META.get("HTTP_AUTHORIZATION", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else ""
    # A NUL or control character is in no token (and PostgreSQL refuses it in a query).
    server = MediaServer.objects.filter(token=token).first() if plausible_key(token) else None
    if server is None:
        return _error(401, "authentication required: 'Authorization: Bearer <media server token>'")
    metrics.note(request, client_id=server.client_id)
    max_bytes = setting("VIEWSTATS_BATCH_MAX_BYTES") * 10
    if settings.DATA_UPLOAD_MAX_MEMORY_SIZE is not None:
        # Django refuses a bigger body itself, with an HTML 400 the sink would
        # keep resending.
        max_bytes = min(max_bytes, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    too_big = f"body larger than {max_bytes} bytes: lower the sink's max_size"
    try:
        body = jsonbody.read(request, max_bytes)
    except jsonbody.BodyTooLarge:
        return _error(413, too_big)
    except jsonbody.BodyError as exc:
        return _error(400, str(exc))
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list):
        return _error(400, "expected a JSON array of events")
    try:
        result = ingest_events(server, body)
    except store.StoreUnavailable as exc:
        metrics.note(request, error=exc)
        return _error(503, "the viewing statistics database is unreachable; resend later")
    metrics.mediaserver_outcome(request, server, result)
    return JsonResponse(result.as_dict())
