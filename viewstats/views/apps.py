"""What apps read of the statistics, as views and helpers a middleware mounts.

The middleware keeps its own device API (login, settings, channel lists);
from the suite it needs two things:

* `statistics_settings(client_id, device_type)`: the fields to merge into its
  per-device settings answer, so devices learn whether to send statistics
  and how often to re-read that (`reports_enabled`, `settings_refresh_interval`);
* the four views below, which serve the generated channel sortings and
  selections in the middleware's API style (TVMW's). Mount them under its
  API prefix, e.g.

      path("api/channel/sort/list/", apps.channel_sort_list),
      path("api/channel/list/", apps.channel_list),
      path("api/selection/list/", apps.selection_list),
      path("api/selection/detail/", apps.selection_detail),

Apps authenticate with their `authkey`; the operator is always the one of the
key, so a request never reaches another operator's lists: another
operator's id is answered exactly like a missing one.
"""
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from .. import host
from ..contract import GeneratedList

# How often apps should re-read their settings; the collection checkbox takes
# effect on devices within this many seconds.
SETTINGS_REFRESH_SECONDS = 60

TYPES = {"manual": 0, "generated": 1}
CONTENT_TYPES = {"channel": 0, "epg": 1}


def statistics_settings(client_id, device_type):
    """{"reports_enabled": 0|1, "settings_refresh_interval": 60} for a device's settings answer.

    Read afresh (devices ask once a minute): an operator who ticks the box
    sees the next settings answer change.
    """
    enabled = any(d.system_name == device_type and d.collection_enabled
                  for d in host.get_host().device_types(client_id))
    return {"reports_enabled": int(enabled),
            "settings_refresh_interval": SETTINGS_REFRESH_SECONDS}


def _login_client_id(request):
    key = request.GET.get("authkey", "").strip()
    login = host.login_for_authkey(key) if key else None
    return login.client_id if login is not None else None


def _unauthorised():
    return JsonResponse({"error": 403, "error_message": "authkey is missing or unknown"},
                        status=403)


def _not_found(what):
    return JsonResponse({"error": 404, "error_message": f"no such {what}"}, status=404)


def _bad(message):
    return JsonResponse({"error": 1, "error_message": message}, status=400)


def int_param(request, name, default=None, minimum=0, maximum=2 ** 63 - 1):
    raw = request.GET.get(name, "")
    if raw == "":
        return default
    # Not isdigit(): it takes "²", which int() refuses. The length is checked
    # before int(), which refuses numbers past 4300 digits.
    digits = raw[1:] if raw.startswith("-") else raw
    if not (digits.isascii() and digits.isdecimal() and len(digits) <= 19
            and minimum <= int(raw) <= maximum):
        raise ValueError(f"{name} must be a whole number from {minimum} to {maximum}, got {raw!r}")
    return int(raw)


def _find(lists: list[GeneratedList], list_id):
    return next((item for item in lists if item.id == list_id), None)


def _channel_json(channel, position):
    return {"id": channel["id"], "name": channel["name"], "number": channel["number"],
            "channel_sort": position}


@require_GET
def channel_sort_list(request):
    """The operator's channel sortings (`type` 0 manual, 1 generated)."""
    client_id = _login_client_id(request)
    if client_id is None:
        return _unauthorised()
    return JsonResponse({"error": 0, "channel_sort": [
        {"id": s.id, "name": s.name, "type": int(s.generated),
         "computed_at": s.computed_at.isoformat() if s.computed_at else None}
        for s in host.get_host().channel_sortings(client_id)]})


@require_GET
def channel_list(request):
    """Enabled channels, optionally in a sorting's order.

    With `channel_sort_id`, channels of that sorting come in its order and
    channels added since it was computed follow in the standard order;
    without it, the standard order. `channel_sort` is each channel's
    1-based place in the returned list.
    """
    client_id = _login_client_id(request)
    if client_id is None:
        return _unauthorised()
    try:
        sort_id = int_param(request, "channel_sort_id", minimum=1)
    except ValueError as exc:
        return _bad(str(exc))
    channels = host.channels_in_default_order(client_id, enabled_only=True)
    if sort_id is not None:
        sorting = _find(host.get_host().channel_sortings(client_id), sort_id)
        if sorting is None:
            return _not_found("channel sorting")
        place = {channel_id: i for i, channel_id in enumerate(sorting.item_ids)}
        standard = {channel["id"]: i for i, channel in enumerate(channels)}
        channels.sort(key=lambda c: (c["id"] not in place, place.get(c["id"], 0), standard[c["id"]]))
    return JsonResponse({"error": 0, "channel_sort_id": sort_id, "channels": [
        _channel_json(channel, position) for position, channel in enumerate(channels, start=1)]})


@require_GET
def selection_list(request):
    """Visible selections; `type` (0 manual, 1 generated) and `content_type`
    (0 channels, 1 programmes) filter them."""
    client_id = _login_client_id(request)
    if client_id is None:
        return _unauthorised()
    rows = host.get_host().selections(client_id)
    try:
        for name, choices, value_of in (("type", TYPES, lambda s: int(s.generated)),
                                        ("content_type", CONTENT_TYPES,
                                         lambda s: CONTENT_TYPES[s.content_type])):
            wanted = int_param(request, name)
            if wanted is not None:
                if wanted not in choices.values():
                    raise ValueError(f"{name} must be one of {sorted(choices.values())}, got {wanted}")
                rows = [s for s in rows if value_of(s) == wanted]
    except ValueError as exc:
        return _bad(str(exc))
    return JsonResponse({"error": 0, "selections": [
        {"id": s.id, "name": s.name, "count": len(s.item_ids), "type": int(s.generated),
         "content_type": CONTENT_TYPES[s.content_type]} for s in rows]})


def _contents(client_id, selection, ids):
    if selection.content_type == "channel":
        channels = {c["id"]: c for c in host.channels_in_default_order(client_id)}
        return [{"channel": {"id": c["id"], "name": c["name"], "number": c["number"]}}
                for c in (channels.get(i) for i in ids) if c is not None]
    found = host.programmes_by_id(client_id, ids)
    return [{"program": {"id": p["id"], "name": p["title"], "begin_time": int(p["begin"].timestamp()),
                         "end_time": int(p["end"].timestamp()), "channel_id": p["channel_id"],
                         "channel_name": p["channel__name"]}}
            for p in (found.get(i) for i in ids) if p is not None]


@require_GET
def selection_detail(request):
    """`selection_id`'s items in order.

    `limit` (default 200, at most 1000) and `cursor` page through the items;
    `next_cursor` is null on the last page. Programme times are Unix seconds.
    """
    client_id = _login_client_id(request)
    if client_id is None:
        return _unauthorised()
    try:
        selection_id = int_param(request, "selection_id", minimum=1)
        limit = min(int_param(request, "limit", default=200, minimum=1), 1000)
        offset = int_param(request, "cursor", default=0, minimum=0)
    except ValueError as exc:
        return _bad(str(exc))
    if selection_id is None:
        return _bad("selection_id is required")
    selection = _find(host.get_host().selections(client_id), selection_id)
    if selection is None:
        return _not_found("selection")
    count = len(selection.item_ids)
    page = list(selection.item_ids[offset:offset + limit])
    next_offset = offset + len(page)
    return JsonResponse({"error": 0, "id": selection.id, "name": selection.name, "count": count,
                         "type": int(selection.generated),
                         "content_type": CONTENT_TYPES[selection.content_type],
                         "next_cursor": str(next_offset) if next_offset < count else None,
                         "contents": _contents(client_id, selection, page)})
