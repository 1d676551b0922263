"""Collection endpoints: Smarty's stat/push and the batch API.

Both authenticate the device by its `authkey` (from the middleware's login)
and take the client from it. A `client_id` in the request must match.
"""
from xml.sax.saxutils import escape

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from .. import host, jsonbody, metrics, origin, store
from ..batch import ingest_batch
from ..conf import setting
from ..push import BAD_PARAMETER, NOT_ENABLED, STORE_UNAVAILABLE, PushError, parse_params, record_push


MAX_AUTHKEY_LENGTH = 512


def plausible_key(key):
    """An authkey or token worth looking up: short, printable text.

    A NUL or another control character can never be part of a key the
    middleware handed out, and some databases (PostgreSQL) refuse a NUL in a
    query parameter outright; such a key is simply unknown.
    """
    return bool(key) and len(key) <= MAX_AUTHKEY_LENGTH and key.isprintable()


def _authkey(request):
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.GET.get("authkey", "").strip()


def _login(authkey):
    return host.login_for_authkey(authkey) if plausible_key(authkey) else None


def disabled_message(device_type):
    return (f"statistics collection is disabled for device type '{device_type}': tick "
            f"'Enable statistical data collection' in its STB and Application Settings")


def _push_response(request, code, message=""):
    if request.GET.get("format") == "xml":
        body = (f'<?xml version="1.0" encoding="utf-8"?>\n<response><error>{code}</error>'
                f"<error_message>{escape(message)}</error_message></response>")
        return HttpResponse(body, content_type="application/xml")
    return JsonResponse({"error": code, "error_message": message})


@metrics.api(metrics.PUSH)
@require_GET
def stat_push(request):
    """GET /viewstats/api/stat/push: one heartbeat of a playing channel."""
    query = request.GET
    login = None
    try:
        authkey = query.get("authkey", "")
        if not authkey:
            raise PushError(BAD_PARAMETER, "authkey is required")
        client_id = query.get("client_id", "")
        if not client_id:
            raise PushError(BAD_PARAMETER, "client_id is required")
        login = _login(authkey)  # before the parameters: a malformed push is counted for its client
        params = parse_params(query)
        if login is None:
            raise PushError(BAD_PARAMETER, "authkey is unknown or expired")
        if client_id != str(login.client_id):
            raise PushError(BAD_PARAMETER, "client_id does not match the authkey")
        device = query.get("device", "")
        if device and device != login.device_type:
            raise PushError(BAD_PARAMETER,
                            f"device {device!r} does not match the device type of this login")
        if not host.collection_enabled(login.client_id, login.device_type):
            raise PushError(NOT_ENABLED, disabled_message(login.device_type))
        session_id = record_push(login, params, origin.from_request(request))
    except PushError as exc:
        metrics.push_outcome(request, login, exc)
        return _push_response(request, exc.code, exc.message)
    metrics.push_outcome(request, login, stored=session_id is not None)  # None: a stale retry
    return _push_response(request, 0)


def _error(status, message, **extra):
    return JsonResponse({"error": message, **extra}, status=status)


@metrics.api(metrics.BATCH)  # counts the refusals below by status; note() tells it more
@csrf_exempt
@require_POST
def stat_batch(request):
    """POST /viewstats/api/stat/batch: a JSON array of finished viewing intervals."""
    login = _login(_authkey(request))
    if login is None:
        return _error(401, "authentication required: pass the device's authkey as "
                           "'Authorization: Bearer <authkey>' or ?authkey=")
    metrics.note(request, login=login)
    client_id = request.GET.get("client_id")
    if client_id and client_id != str(login.client_id):
        return _error(403, "client_id does not match the authenticated client")
    if not host.collection_enabled(login.client_id, login.device_type):
        metrics.note(request, reason="disabled")
        return _error(403, disabled_message(login.device_type))
    if request.content_type != "application/json":
        return _error(415, "send the batch as application/json")
    max_bytes = setting("VIEWSTATS_BATCH_MAX_BYTES")
    too_big = f"batch larger than {max_bytes} bytes: split it"
    try:
        items = jsonbody.read(request, max_bytes)
    except jsonbody.BodyTooLarge:
        return _error(413, too_big)
    except jsonbody.BodyError as exc:
        return _error(400, str(exc))
    if not isinstance(items, list):
        return _error(400, "expected a JSON array of viewing intervals")
    if len(items) > setting("VIEWSTATS_BATCH_MAX_ITEMS"):
        return _error(413, f"more than {setting('VIEWSTATS_BATCH_MAX_ITEMS')} items: split the batch")
    try:
        result = ingest_batch(login, items, origin.from_request(request))
    except store.StoreUnavailable as exc:
        metrics.note(request, error=exc)
        return _error(503, "the viewing statistics database is unreachable; resend later",
                      code=STORE_UNAVAILABLE)
    metrics.batch_outcome(request, login, result)
    return JsonResponse(result.as_dict())


# Served at /viewstats/metrics (viewstats/metrics.py); named here so that
# urls.py needs one line for it.
metrics_endpoint = metrics.endpoint
