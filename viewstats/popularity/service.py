"""Build, store and describe popularity sortings and selections.

Each `build_*` function does one client's work: read the host data it
needs, run the pipelines, rank, save the host object and return a
JSON-able result (the ranking with every item's metric values). They are
what the RQ jobs run, so they take the client id first and plain options.

Re-running with the same options updates the same host object in place.
What "the same" is, is the generator key: the command plus the options
that change which viewing counts (criterion, days, devices, tariffs, active
accounts, and for EPG selections categories and channels). The selection
size, name and minimum number of sessions are presentation: a re-run with
another size, name or minimum updates the existing selection. Different
filters make a separate object, so an operator can keep e.g. a "mag, 7 days"
and an "ios, 30 days" sorting.

`min_sessions` (0 = off) leaves out every item watched in fewer sessions,
the unwatched ones that would fill a list included: a list then shows only
rankings that rest on enough viewing, and may be shorter than its size.
"""
import hashlib
import json
from datetime import datetime

from .. import host
from ..documents import utcnow
from . import pipelines, ranking
from .options import CRITERIA, DEFAULT_SELECTION_SIZE, OptionError
from .window import iso, viewing_window, window_zone

MEDIAN_METHOD = ("exact: $setWindowFields/$documentNumber per channel over clipped durations, "
                 "mean of the middle one or two (whole or half seconds)")


def _as_of(value):
    if value is None:
        return utcnow()
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def generator_key(command, options):
    digest = hashlib.sha1(json.dumps(options, sort_keys=True).encode()).hexdigest()[:24]
    return f"{command}:{digest}"


def _own_tariffs(client_id, tariffs):
    """This client's share of `tariffs`; never another tenant's ids."""
    if not tariffs:
        return []
    owners = host.tariff_clients(tariffs, [client_id])
    own = sorted(t for t in tariffs if owners.get(t) == client_id)
    if not own:
        raise OptionError("tariffs", ",".join(map(str, tariffs)),
                          f"none of these belongs to client {client_id}")
    return own


def _session_filters(client_id, devices, tariffs, accounts_active):
    filters = {"devices": sorted(devices or []), "tariffs": _own_tariffs(client_id, tariffs)}
    if accounts_active:
        filters["active_account_ids"] = host.active_account_ids(client_id)
    return filters


def _filters_label(devices, tariffs, accounts_active):
    parts = []
    if devices:
        parts.append(", ".join(sorted(devices)))
    if tariffs:
        parts.append("tariffs " + ", ".join(map(str, tariffs)))
    if accounts_active:
        parts.append("active accounts")
    return f" ({'; '.join(parts)})" if parts else ""


def _channel_ranking(client_id, window, filters, criterion, enabled_only):
    channels = host.channels_in_default_order(client_id, enabled_only=enabled_only)
    raw = pipelines.channel_metrics(client_id, window, filters)
    known = {channel["id"] for channel in channels}
    counted = sum(row["sessions"] for channel_id, row in raw.items() if channel_id in known)
    return ranking.rank_channels(channels, raw, criterion), counted


def _enough_sessions(ranked, min_sessions):
    """`ranked` without items watched in fewer than `min_sessions` sessions, and
    how many watched items that left out."""
    if not min_sessions:
        return ranked, 0
    kept = [(item, values, watched) for item, values, watched in ranked
            if values["watch_sessions"] >= min_sessions]
    thin = sum(1 for _, values, _ in ranked if 0 < values["watch_sessions"] < min_sessions)
    return kept, thin


def _channel_items(ranked):
    return [{"position": position, "id": channel["id"], "name": channel["name"],
             "number": channel["number"], "watched": watched,
             "metrics": ranking.json_metrics(values)}
            for position, (channel, values, watched) in enumerate(ranked, start=1)]


def _result(kind, client_id, object_id, created, name, key, computed_at, window, parameters,
            items, counted):
    return {
        "kind": kind, "client_id": client_id, "id": object_id, "created": created, "name": name,
        "generator_key": key, "computed_at": iso(computed_at), "window": window.as_dict(),
        "parameters": parameters, "counted_sessions": counted,
        "watched": sum(1 for item in items if item["watched"]),
        "filled": sum(1 for item in items if not item["watched"]),
        "items": items,
    }


def build_channel_sorting(client_id, *, days_number, criterion, devices=(), tariffs=(),
                          accounts_active=False, min_sessions=0, as_of=None):
    """Every channel of the client: watched ones by popularity, then the rest
    (with `min_sessions`, only the channels watched in that many sessions)."""
    now = _as_of(as_of)
    window = viewing_window(days_number, now, window_zone(client_id))
    filters = _session_filters(client_id, devices, tariffs, accounts_active)
    options = {"criterion": criterion, "days_number": days_number, "devices": filters["devices"],
               "tariffs": filters["tariffs"], "accounts_active": bool(accounts_active)}
    ranked, counted = _channel_ranking(client_id, window, filters, criterion, enabled_only=False)
    ranked, thin = _enough_sessions(ranked, min_sessions)
    items = _channel_items(ranked)
    name = (f"Popular: {CRITERIA[criterion]}, {days_number} days"
            f"{_filters_label(filters['devices'], filters['tariffs'], accounts_active)}")
    key = generator_key("create_channel_sorting_by_popularity", options)
    parameters = {**options, "min_sessions": min_sessions, "thin_items_left_out": thin,
                  "command": "create_channel_sorting_by_popularity",
                  "window": window.as_dict(), "counted_sessions": counted,
                  "median_method": MEDIAN_METHOD}
    sorting_id, created = host.save_generated_sorting(
        client_id, key, name, parameters, now, [(i["id"], i["metrics"]) for i in items])
    return _result("channel_sorting", client_id, sorting_id, created, name, key, now, window,
                   parameters, items, counted)


def build_channel_selection(client_id, *, days_number, criterion, devices=(), tariffs=(),
                            accounts_active=False, selection_size=DEFAULT_SELECTION_SIZE,
                            min_sessions=0, as_of=None):
    """The `selection_size` most popular enabled channels, filled with unwatched ones."""
    now = _as_of(as_of)
    window = viewing_window(days_number, now, window_zone(client_id))
    filters = _session_filters(client_id, devices, tariffs, accounts_active)
    options = {"criterion": criterion, "days_number": days_number, "devices": filters["devices"],
               "tariffs": filters["tariffs"], "accounts_active": bool(accounts_active)}
    ranked, counted = _channel_ranking(client_id, window, filters, criterion, enabled_only=True)
    ranked, thin = _enough_sessions(ranked, min_sessions)
    items = _channel_items(ranked[:selection_size])
    name = (f"Popular channels: {CRITERIA[criterion]}, {days_number} days"
            f"{_filters_label(filters['devices'], filters['tariffs'], accounts_active)}")
    key = generator_key("create_channel_selection_by_popularity", options)
    parameters = {**options, "selection_size": selection_size, "min_sessions": min_sessions,
                  "thin_items_left_out": thin, "command": "create_channel_selection_by_popularity",
                  "window": window.as_dict(), "counted_sessions": counted,
                  "median_method": MEDIAN_METHOD}
    selection_id, created = host.save_generated_selection(
        client_id, key, name, "channel", parameters, now, [(i["id"], i["metrics"]) for i in items])
    return _result("channel_selection", client_id, selection_id, created, name, key, now, window,
                   parameters, items, counted)


def default_selection_name(days_number, selection_size):
    # Smarty prints the default as "Days_number ($selection_size)".
    return f"{days_number} days ({selection_size})"


def selected_channel_ids(client_id, channels=(), categories=()):
    """Enabled channels of the client, narrowed to `channels` and `categories`."""
    ids = [c["id"] for c in host.channels_in_default_order(client_id, enabled_only=True)]
    if channels:
        wanted = set(channels)
        ids = [i for i in ids if i in wanted]
    if categories:
        in_categories = set(host.channel_ids_in_categories([client_id], categories))
        ids = [i for i in ids if i in in_categories]
    return ids


def build_epg_selection(client_id, *, days_number, devices=(), tariffs=(),
                        selection_size=DEFAULT_SELECTION_SIZE, categories=(), channels=(),
                        selection_name=None, min_sessions=0, as_of=None):
    """The `selection_size` most viewed programmes of the window (live + archive)."""
    now = _as_of(as_of)
    window = viewing_window(days_number, now, window_zone(client_id))
    filters = _session_filters(client_id, devices, tariffs, False)
    channel_ids = selected_channel_ids(client_id, channels, categories)
    options = {"days_number": days_number, "devices": filters["devices"],
               "tariffs": filters["tariffs"], "categories": sorted(categories or []),
               "channels": sorted(channels or [])}
    raw = {}
    if channel_ids:
        raw = pipelines.programme_metrics(
            client_id, window, filters, channel_ids,
            lambda start, end: host.iter_programmes_airing(client_id, channel_ids, start, end))
    viewed = host.programmes_by_id(client_id, list(raw), channel_ids) if raw else {}
    counted = sum(raw[i]["sessions"] for i in viewed)
    thin = 0
    if min_sessions:
        enough = {i: p for i, p in viewed.items() if raw[i]["sessions"] >= min_sessions}
        thin = sum(1 for i in viewed if i not in enough and raw[i]["live_ms"] + raw[i]["archive_ms"])
        viewed, fill = enough, []
    else:
        fill = (host.programmes_airing(client_id, channel_ids, window.start, window.end)
                if channel_ids else [])
    ranked = ranking.rank_programmes(viewed, fill, raw, selection_size)
    items = [{"position": position, "id": p["id"], "name": p["title"],
              "channel_id": p["channel_id"], "channel_name": p["channel__name"],
              "begin": iso(p["begin"]), "end": iso(p["end"]), "watched": watched,
              "metrics": ranking.json_metrics(values)}
             for position, (p, values, watched) in enumerate(ranked, start=1)]
    name = selection_name or default_selection_name(days_number, selection_size)
    key = generator_key("create_epg_selection_by_popularity", options)
    parameters = {**options, "selection_size": selection_size, "min_sessions": min_sessions,
                  "thin_items_left_out": thin,
                  "command": "create_epg_selection_by_popularity", "window": window.as_dict(),
                  "counted_programme_views": counted,
                  "method": "live viewing overlapping the airtime (timeshift moved back) "
                            "plus archive viewing of the programme, clipped to the window"}
    selection_id, created = host.save_generated_selection(
        client_id, key, name, "epg", parameters, now, [(i["id"], i["metrics"]) for i in items])
    return _result("epg_selection", client_id, selection_id, created, name, key, now, window,
                   parameters, items, counted)
