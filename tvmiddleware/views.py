"""The few middleware API calls devices make around statistics (TVMW style).

Login and the settings answer are the middleware's own; the settings answer
merges in what the statistics suite tells devices (`statistics_settings`),
and the channel sorting and selection lists are the suite's views, mounted
in urls.py.
"""
import secrets

from django.http import JsonResponse
from django.views.decorators.http import require_GET

from viewstats.views.apps import SETTINGS_REFRESH_SECONDS, statistics_settings

from .models import Account, AccountAuthKey, AccountDevice, Client, ClientPlayDevice


def _client(request):
    client_id = request.GET.get("client_id") or ""
    # isdecimal() on ASCII only: isdigit() takes "²", which int() refuses.
    if not (client_id.isascii() and client_id.isdecimal() and len(client_id) <= 18):
        return None
    return Client.objects.filter(pk=int(client_id), api_key=request.GET.get("api_key", "")).first()


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
        "standby_timer": device.standby_timer,
        **statistics_settings(client.id, device.play_device.system_name),
    })
    response["Cache-Control"] = f"max-age={SETTINGS_REFRESH_SECONDS}"
    return response
