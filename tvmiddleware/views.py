"""The few middleware API calls devices make around statistics (TVMW style)."""
import secrets

from django.db import models
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from .models import Account, AccountAuthKey, AccountDevice, Client, ClientPlayDevice
from .models import Channel, ChannelSorting, Selection

# How often apps should re-read their settings; the collection checkbox takes
# effect on devices within this many seconds.
SETTINGS_REFRESH_SECONDS = 60


def _client(request):
    client = Client.objects.filter(pk=request.GET.get("client_id") or 0,
                                   api_key=request.GET.get("api_key", "")).first() \
        if (request.GET.get("client_id") or "").isdigit() else None
    return client


def _device_type(client, system_name):
    return (ClientPlayDevice.objects.select_related("play_device")
            .filter(client=client, play_device__system_name=system_name).first())


@require_GET
def login(request):
    """GET /tvmiddleware/api/login/: abonement + password -> authkey."""
    client = _client(request)
    if client is None:
        return JsonResponse({"error": 403, "error_message": "bad client_id or api_key"}, status=403)
    device = _device_type(client, request.GET.get("device", ""))
    if device is None:
        return JsonResponse({"error": 2, "error_message": "device type is not added for this client"})
    account = Account.objects.filter(client=client, abonement=request.GET.get("abonement", ""),
                                     password=request.GET.get("password", "")).first()
    if account is None:
        return JsonResponse({"error": 1, "error_message": "wrong abonement or password"})
    account_device, _ = AccountDevice.objects.get_or_create(
        account=account, play_device=device.play_device,
        device_uid=request.GET.get("device_uid", "")[:128],
        defaults={"device_model": request.GET.get("model", "")[:100]})
    key = AccountAuthKey.objects.create(account=account, device=account_device,
                                        key=secrets.token_hex(20))
    return JsonResponse({"error": 0, "authkey": key.key, "account_id": account.id,
                         "customer_id": account.customer_id, "active": account.active})


@require_GET
def portal_settings(request):
    """GET /tvmiddleware/api/portal/settings/list/: per device type settings."""
    client = _client(request)
    if client is None:
        return JsonResponse({"error": 403, "error_message": "bad client_id or api_key"}, status=403)
    if not request.GET.get("device"):
        return JsonResponse({"error": 1, "error_message": "device is required"})
    device = _device_type(client, request.GET["device"])
    if device is None:
        return JsonResponse({"error": 2, "error_message": "device type is not added for this client"})
    response = JsonResponse({
        "error": 0,
        "reports_enabled": int(device.reports_enabled),
        "standby_timer": device.standby_timer,
        "settings_refresh_interval": SETTINGS_REFRESH_SECONDS,
    })
    response["Cache-Control"] = f"max-age={SETTINGS_REFRESH_SECONDS}"
    return response


# --- channel sortings and selections (what the popularity commands produce) ---
# Apps authenticate with their `authkey`; the client is always the one of the
# key's account, so a request can never reach another operator's objects:
# an id of another client is answered exactly like a missing one.

def _login_client_id(request):
    key = request.GET.get("authkey", "").strip()
    if not key:
        return None
    return (AccountAuthKey.objects.filter(key=key)
            .values_list("account__client_id", flat=True).first())


def _unauthorised():
    return JsonResponse({"error": 403, "error_message": "authkey is missing or unknown"},
                        status=403)


def _not_found(what):
    return JsonResponse({"error": 404, "error_message": f"no such {what}"}, status=404)


def _bad(message):
    return JsonResponse({"error": 1, "error_message": message}, status=400)


def _int_param(request, name, default=None, minimum=0, maximum=2 ** 63 - 1):
    raw = request.GET.get(name, "")
    if raw == "":
        return default
    # Not isdigit(): it takes "²", which int() refuses. The length is checked
    # before int(), which refuses numbers past 4300 digits, and past 64 bits
    # a number overflows the database (an OFFSET or id lookup raising).
    digits = raw[1:] if raw.startswith("-") else raw
    if not (digits.isascii() and digits.isdecimal() and len(digits) <= 19
            and minimum <= int(raw) <= maximum):
        raise ValueError(f"{name} must be a whole number from {minimum} to {maximum}, got {raw!r}")
    return int(raw)


def _channel_json(channel, position):
    return {"id": channel.id, "name": channel.name, "number": channel.number,
            "channel_sort": position}


@require_GET
def channel_sort_list(request):
    """GET /tvmiddleware/api/channel/sort/list/: the client's channel sortings."""
    client_id = _login_client_id(request)
    if client_id is None:
        return _unauthorised()
    rows = ChannelSorting.objects.filter(client_id=client_id).order_by("id")
    return JsonResponse({"error": 0, "channel_sort": [
        {"id": s.id, "name": s.name, "type": s.kind,
         "computed_at": s.computed_at.isoformat() if s.computed_at else None} for s in rows]})


@require_GET
def channel_list(request):
    """GET /tvmiddleware/api/channel/list/: enabled channels, optionally in a sorting's order.

    With `channel_sort_id`, channels of that sorting come in its order and
    channels added since it was computed follow in the standard order;
    without it, the standard order. `channel_sort` is each channel's
    1-based place in the returned list.
    """
    client_id = _login_client_id(request)
    if client_id is None:
        return _unauthorised()
    try:
        sort_id = _int_param(request, "channel_sort_id", minimum=1)
    except ValueError as exc:
        return _bad(str(exc))
    channels = list(Channel.objects.filter(client_id=client_id, enabled=True)
                    .order_by("sort", "number", "id"))
    if sort_id is not None:
        sorting = ChannelSorting.objects.filter(id=sort_id, client_id=client_id).first()
        if sorting is None:
            return _not_found("channel sorting")
        place = dict(sorting.items.values_list("channel_id", "position"))
        standard = {channel.id: index for index, channel in enumerate(channels)}
        channels.sort(key=lambda c: (c.id not in place, place.get(c.id, 0), standard[c.id]))
    return JsonResponse({"error": 0, "channel_sort_id": sort_id, "channels": [
        _channel_json(channel, position) for position, channel in enumerate(channels, start=1)]})


@require_GET
def selection_list(request):
    """GET /tvmiddleware/api/selection/list/: visible selections (`type`, `content_type` filter)."""
    client_id = _login_client_id(request)
    if client_id is None:
        return _unauthorised()
    rows = Selection.objects.filter(client_id=client_id, is_hidden=False)
    try:
        for name, choices in (("type", Selection.Type), ("content_type", Selection.ContentType)):
            value = _int_param(request, name)
            if value is not None:
                if value not in choices.values:
                    raise ValueError(f"{name} must be one of {sorted(choices.values)}, got {value}")
                rows = rows.filter(**{name: value})
    except ValueError as exc:
        return _bad(str(exc))
    rows = rows.annotate(count=models.Count("items")).order_by("id")
    return JsonResponse({"error": 0, "selections": [
        {"id": s.id, "name": s.name, "count": s.count, "type": s.type,
         "content_type": s.content_type} for s in rows]})


@require_GET
def selection_detail(request):
    """GET /tvmiddleware/api/selection/detail/?selection_id=N: the items in order.

    `limit` (default 200, at most 1000) and `cursor` page through the items;
    `next_cursor` is null on the last page. Programme times are Unix seconds.
    """
    client_id = _login_client_id(request)
    if client_id is None:
        return _unauthorised()
    try:
        selection_id = _int_param(request, "selection_id", minimum=1)
        limit = min(_int_param(request, "limit", default=200, minimum=1), 1000)
        offset = _int_param(request, "cursor", default=0, minimum=0)
    except ValueError as exc:
        return _bad(str(exc))
    if selection_id is None:
        return _bad("selection_id is required")
    selection = Selection.objects.filter(id=selection_id, client_id=client_id).first()
    if selection is None:
        return _not_found("selection")
    items = selection.items.select_related("channel", "programme__channel").order_by("position")
    count = items.count()
    page = list(items[offset:offset + limit])
    contents = []
    for item in page:
        if item.channel_id is not None:
            contents.append({"channel": {"id": item.channel.id, "name": item.channel.name,
                                         "number": item.channel.number}})
        elif item.programme_id is not None:
            p = item.programme
            contents.append({"program": {
                "id": p.id, "name": p.title, "begin_time": int(p.begin.timestamp()),
                "end_time": int(p.end.timestamp()), "channel_id": p.channel_id,
                "channel_name": p.channel.name}})
    next_offset = offset + len(page)
    return JsonResponse({"error": 0, "id": selection.id, "name": selection.name, "count": count,
                         "type": selection.type, "content_type": selection.content_type,
                         "next_cursor": str(next_offset) if next_offset < count else None,
                         "contents": contents})
