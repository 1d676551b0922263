"""POST /viewstats/api/mediaserver/events: a streaming server's event sink.

The server authenticates with 'Authorization: Bearer <token>' of its
MediaServer row, which decides the client. The answer is 2xx only once the
accepted events are stored; a 503 makes the server keep and resend them.
"""
import json

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .. import store
from ..conf import setting
from ..mediaserver import ingest_events
from ..models import MediaServer


def _error(status, message):
    return JsonResponse({"error": message}, status=status)


@csrf_exempt
@require_POST
def events(request):
    header = request.META.get("HTTP_AUTHORIZATION", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else ""
    server = MediaServer.objects.filter(token=token).first() if token else None
    if server is None:
        return _error(401, "authentication required: 'Authorization: Bearer <media server token>'")
    max_bytes = setting("VIEWSTATS_BATCH_MAX_BYTES") * 10
    if len(request.body) > max_bytes:
        return _error(413, f"body larger than {max_bytes} bytes: lower the sink's max_size")
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError) as exc:
        return _error(400, f"malformed JSON: {exc}")
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list):
        return _error(400, "expected a JSON array of events")
    try:
        result = ingest_events(server, body)
    except store.StoreUnavailable:
        return _error(503, "the viewing statistics database is unreachable; resend later")
    return JsonResponse(result.as_dict())
