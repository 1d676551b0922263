"""The few middleware API calls devices make around statistics (TVMW style).

Login and the settings answer are the middleware's own; the settings answer
merges in what the statistics suite tells devices (`statistics_settings`),
and the channel sorting and selection lists are the suite's views, mounted
in urls.py.
"""
import secrets

from django.db import transaction
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from viewstats.views.apps import SETTINGS_REFRESH_SECONDS, statistics_settings

from .models import Account, AccountAuthKey, AccountDevice, Client, ClientPlayDevice


def _text(request, name, limit=256):
    """A query parameter as it may be looked up, or None when it can match nothing.

    A NUL byte is in no stored value, and PostgreSQL refuses it in a query
    parameter (a 500); an over-long value is in no column either.
    """
    value = request.GET.get(name, "")
    return None if "\x00" in value or len(value) > limit else value


def _client(request):
    client_id = request.GET.get("client_id") or ""
    # ASCII digits only: isdigit() takes "²", which int() refuses; 18 digits stay under 2^63.
    if not (client_id.isascii() and client_id.isdecimal() and len(client_id) <= 18):
        return None
    api_key = _text(request, "api_key")
    if api_key is None:
        return None
    return Client.objects.filter(pk=int(client_id), api_key=api_key).first()


def _device_type(client, system_name):
    if system_name is None:
        return None
    return (ClientPlayDevice.objects.select_related("play_device")
            .filter(client=client, play_device__system_name=system_name).first())


@require_GET
def login(request):
    """GET /tvmiddleware/api/login/: abonement + password -> authkey."""
    client = _client(request)
    if client is None:
        return JsonResponse({"error": 403, "error_message": "bad client_id or api_key"}, status=403)
    device = _device_type(client, _text(request, "device"))
    if device is None:
        return JsonResponse({"error": 2, "error_message": "device type is not added for this client"})
    abonement, password = _text(request, "abonement"), _text(request, "password")
    account = None if abonement is None or password is None else \
        Account.objects.filter(client=client, abonement=abonement, password=password).first()
    if account is None:
        return JsonResponse({"error": 1, "error_message": "wrong abonement or password"})
    # Device uid and model are the device's own words, kept as far as they fit.
    account_device, _ = AccountDevice.objects.get_or_create(
        account=account, play_device=device.play_device,
        device_uid=request.GET.get("device_uid", "").replace("\x00", "")[:128],
        defaults={"device_model": request.GET.get("model", "").replace("\x00", "")[:100]})
    # One authkey per device: a new login replaces the device's previous key, so
    # a box that logs in on every boot does not leave a row behind each time.
    # (The statistics suite forgets a replaced key within its cache time.)
    with transaction.atomic():
        AccountAuthKey.objects.filter(device=account_device).delete()
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
    device = _device_type(client, _text(request, "device"))
    if device is None:
        return JsonResponse({"error": 2, "error_message": "device type is not added for this client"})
    response = JsonResponse({
        "error": 0,
        "standby_timer": device.standby_timer,
        **statistics_settings(client.id, device.play_device.system_name),
    })
    response["Cache-Control"] = f"max-age={SETTINGS_REFRESH_SECONDS}"
    return response
