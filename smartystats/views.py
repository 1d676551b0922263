"""The "Dynamics of subscribers" page, its JSON endpoint and the index-widget choice.

Thin: authorise, parse, call smartystats.dashboard. Staff users see only the
client the host says they work for (Host.operator_of_user); superusers
choose one (?client_id=); staff of no client get 403. The JSON endpoint also accepts HTTP Basic
credentials so scripts can read it without a browser session.
"""
import base64
from datetime import date, timedelta

from django.contrib import admin
from django.contrib.auth import authenticate
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from . import dashboard, host, zones
from .conf import setting
from .models import IndexWidgets
from .timeutils import HOUR


def client_for(user, requested=None):
    """The client `user` may see (the one requested, for a superuser)."""
    if not (user.is_active and user.is_staff):
        raise PermissionDenied("staff only")
    if user.is_superuser:
        if requested:
            if not host.existing_client_ids([requested]):
                raise PermissionDenied(f"no client {requested}")
            return requested
        ids = host.all_client_ids()
        if not ids:
            raise PermissionDenied("no clients yet")
        return ids[0]
    own = host.client_of_user(user)
    if own is None:
        raise PermissionDenied("this staff user belongs to no client")
    if requested and requested != own:
        raise PermissionDenied("staff see only their own client")
    return own


def _int(value, name):
    if value in (None, ""):
        return None
    # ASCII digits only: int() also reads "١٢" (Arabic-Indic) as 12.
    if not (isinstance(value, str) and value.isascii() and value.isdecimal() and len(value) <= 18):
        raise dashboard.BadRequest(f"{name}: {value!r} is not a number")
    return int(value)


def _date(value, name):
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise dashboard.BadRequest(f"{name}: {value!r} is not a date (YYYY-MM-DD)") from None
    return dashboard.check_day(day, name)


def parse_request(request):
    """(client_id, first_day, last_day, frequency) from the query string."""
    client_id = client_for(request.user, _int(request.GET.get("client_id"), "client_id"))
    frequency = request.GET.get("frequency") or "day"
    first_default, last_default = dashboard.default_range(client_id)
    last_day = _date(request.GET["to"], "to") if request.GET.get("to") else last_default
    days = _int(request.GET.get("days"), "days")
    if days is not None and days < 1:
        raise dashboard.BadRequest(f"days: {days} is not a positive number of days")
    if days is not None and days > dashboard.max_range_days():
        raise dashboard.BadRequest(f"days: at most {dashboard.max_range_days()}, got {days}")
    if request.GET.get("from"):
        first_day = _date(request.GET["from"], "from")
    elif days:
        first_day = last_day - timedelta(days=days - 1)
    else:
        first_day = last_day - (last_default - first_default)
    dashboard.check_range(first_day, last_day)
    if frequency == HOUR and (last_day - first_day).days + 1 > setting("SMARTYSTATS_MAX_HOURLY_RANGE_DAYS"):
        raise dashboard.BadRequest(
            f"frequency: hour covers at most {setting('SMARTYSTATS_MAX_HOURLY_RANGE_DAYS')} days; "
            f"choose a shorter range or frequency=day")
    return client_id, first_day, last_day, frequency


def _basic_auth(request):
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if request.user.is_authenticated or not header.startswith("Basic "):
        return
    try:
        username, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return
    if "\x00" in username + password:  # PostgreSQL refuses NUL in a query: nobody's name
        return
    user = authenticate(request, username=username, password=password)
    if user is not None:
        request.user = user


@never_cache
def dynamics_json(request):
    _basic_auth(request)
    if not request.user.is_authenticated:
        return JsonResponse({"error": "authentication required"}, status=401)
    try:
        data = dashboard.build(*parse_request(request))
    except PermissionDenied as exc:
        return JsonResponse({"error": str(exc) or "forbidden"}, status=403)
    except dashboard.BadRequest as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse(data)


def index_widgets_for(user):
    row = IndexWidgets.objects.filter(user_id=user.pk).first()
    return row.widgets if row else list(setting("SMARTYSTATS_DEFAULT_INDEX_WIDGETS"))


def dynamics_page(request, admin_site=None):
    admin_site = admin_site or admin.site
    try:
        client_id, first_day, last_day, frequency = parse_request(request)
        error = None
    except dashboard.BadRequest as exc:
        client_id = client_for(request.user, None if "client_id" in str(exc) else
                               _int(request.GET.get("client_id"), "client_id"))
        first_day, last_day = dashboard.default_range(client_id)
        frequency, error = "day", str(exc)
    zone = zones.zone_for(client_id)
    context = {
        **admin_site.each_context(request),
        "title": "Dynamics of subscribers",
        "client_id": client_id,
        "client_name": host.client_name(client_id),
        "clients": host.clients() if request.user.is_superuser else None,
        "first_day": first_day.isoformat(), "last_day": last_day.isoformat(),
        "frequency": frequency, "error": error,
        "time_zone": zone, "use_utc": setting("SMARTYSTATS_USE_UTC"),
        "cache_state": zones.cache_state(client_id, zone),
        "customer_status": dashboard.customer_status(client_id),
        "data_url": reverse("smartystats:dynamics_json"),
        "widgets": dashboard.WIDGETS,
        "index_widgets": index_widgets_for(request.user),
        "save_url": reverse("smartystats:index_widgets"),
        "presets": [(7, "Last 7 days"), (30, "Last 30 days"), (90, "Last 90 days")],
        "preset_ranges": {n: ((last_day - timedelta(days=n - 1)).isoformat(), last_day.isoformat())
                          for n in (7, 30, 90)},
    }
    return TemplateResponse(request, "smartystats/dynamics.html", context)


@require_POST
def save_index_widgets(request):
    client_for(request.user)
    chosen = [w for w in request.POST.getlist("widgets") if w in dashboard.WIDGETS]
    IndexWidgets.objects.update_or_create(user=request.user, defaults={"widgets": chosen})
    target = request.POST.get("next")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        target = reverse("admin:index")  # never redirect off-site (an open redirect)
    return redirect(target)


def index_widgets_context(request):
    """Widgets for the admin index: the user's choice, over the last 30 cached days."""
    try:
        client_id = client_for(request.user)
    except PermissionDenied:
        return None
    chosen = index_widgets_for(request.user)
    if not chosen:
        return None
    first_day, last_day = dashboard.default_range(client_id)
    data = dashboard.build(client_id, first_day, last_day)
    return {"client_name": data["client"]["name"], "range": data["range"],
            "cards": cards(data, chosen), "url": reverse("admin:smartystats_dynamics_changelist")}


def cards(data, chosen=None):
    """Flat [{key, label, value, change, change_pct}] for the number widgets."""
    out = []
    for key, label in dashboard.WIDGETS.items():
        if chosen is not None and key not in chosen:
            continue
        widget = data["widgets"].get(key)
        if key in ("payments_sum", "payments_count"):
            for currency, w in sorted((widget or {}).items()):
                out.append({"key": key, "label": f"{label} ({currency})", **w})
            if not widget:
                out.append({"key": key, "label": label, "value": 0, "previous": 0, "change": 0,
                            "change_pct": None})
        elif widget is not None:
            out.append({"key": key, "label": label, **widget})
    return out
