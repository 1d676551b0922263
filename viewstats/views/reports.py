"""Reports: JSON API, streamed CSV export and the admin pages.

The client always comes from the user (access.client_scope); a `client`
parameter only narrows it and is refused when it names another client.
"""
import csv
import itertools
import json
from datetime import date, datetime

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .. import access, host, outage
from ..reports.filters import FilterError
from ..reports.run import REPORTS, TITLES, run, table


FILTER_FIELDS = ("client", "date_from", "date_to", "channel", "category", "device_type", "tariff",
                 "country", "source", "ip", "user_agent", "account", "server", "unique", "sort")
SORT_CHOICES = [("-start", "newest first"), ("start", "oldest first"), ("-duration", "longest first"),
                ("duration", "shortest first"), ("-end", "ended last"), ("end", "ended first")]


def _filter_widgets(request, client_ids):
    """The page's filter form: dates, and the client's own choices as lists.

    Only the scoped clients' channels, categories and tariffs are offered, so
    a staff user's form never shows another operator's names.
    """
    def choices(pairs):
        return [("", "all")] + [(str(k), str(v)) for k, v in pairs]

    one_client = len(client_ids) == 1
    lists = {
        "channel": choices(sorted(host.channel_names(client_ids).items(), key=lambda kv: kv[1])),
        "category": choices(host.category_names(client_ids).items()),
        "tariff": choices(host.tariff_names(client_ids).items()),
        "device_type": choices((d, d) for d in host.client_device_types(client_ids)),
        "source": choices((("device", "devices"), ("media_server", "media servers"))),
        "unique": [("", "raw sessions"), ("1", "unique sessions")],
        "sort": [("", "default")] + SORT_CHOICES,
    } if one_client else {}
    widgets = []
    for name in FILTER_FIELDS:
        value = request.GET.get(name, "")
        kind = "date" if name in ("date_from", "date_to") else ("select" if name in lists else "text")
        widgets.append({"name": name, "label": name.replace("_", " "), "value": value, "kind": kind,
                        "options": lists.get(name, [])})
    return widgets


def _json_default(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def json_response(data, status=200):
    return JsonResponse(data, status=status, json_dumps_params={"default": _json_default},
                        safe=False)


def scoped_api(view):
    """Authenticate (session or API token) and resolve the client scope, or answer 401/403."""
    def wrapper(request, *args, **kwargs):
        try:
            user = access.request_user(request)
        except access.NotAuthenticated as exc:
            return json_response({"error": str(exc)}, 401)
        try:
            client_ids = access.client_scope(user, kwargs.pop("client", request.GET.get("client")))
        except PermissionDenied as exc:
            return json_response({"error": str(exc) or "forbidden"}, 403)
        return view(request, client_ids, *args, **kwargs)
    wrapper.__name__ = view.__name__
    return wrapper


@require_GET
@scoped_api
def report_api(request, client_ids, name):
    try:
        return json_response(run(name, request.GET, client_ids))
    except FilterError as exc:
        return json_response({"error": str(exc)}, 400)


class _Echo:
    def write(self, value):
        return value


# A spreadsheet runs a cell starting with one of these as a formula, and
# user_agent, media and the like come from devices (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(v):
    if isinstance(v, (dict, list)):
        return json.dumps(v, default=_json_default)
    if isinstance(v, (datetime, date)):
        return _json_default(v)
    if v is None:
        return ""
    if isinstance(v, str) and v.startswith(FORMULA_START):
        return "'" + v
    return v


def _csv_lines(header, rows):
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([_csv_cell(v) for v in row])


INCOMPLETE = "# INCOMPLETE: the statistics database became unreachable while this file was written\r\n"


@require_GET
@scoped_api
def report_csv(request, client_ids, name):
    try:
        header, rows = table(name, request.GET, client_ids)
    except FilterError as exc:
        return json_response({"error": str(exc)}, 400)
    # The first row is read before the status line goes out, so an outage at
    # the start is a 503; one later ends the file with INCOMPLETE (outage.py).
    rows = iter(rows)
    first = list(itertools.islice(rows, 1))
    rows = itertools.chain(first, rows)
    lines = outage.stream_or_mark(_csv_lines(header, rows), INCOMPLETE)
    response = StreamingHttpResponse(lines, content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="viewstats-{name}.csv"'
    return response


def _page_scope(request):
    if not request.user.is_authenticated or not request.user.is_staff:
        return None
    return access.client_scope(request.user, request.GET.get("client"))


@require_GET
def report_index(request):
    if _page_scope(request) is None:
        return redirect_to_login(request.get_full_path(), "admin:login")
    return render(request, "viewstats/report_index.html",
                  {"title": "Viewing statistics", "reports": [(n, TITLES[n]) for n in REPORTS]})


@require_GET
def report_page(request, name):
    client_ids = _page_scope(request)
    if client_ids is None:
        return redirect_to_login(request.get_full_path(), "admin:login")
    error, data = None, None
    try:
        data = run(name, request.GET, client_ids)
    except FilterError as exc:
        error = str(exc)
    rows = (data or {}).get("rows", [])
    columns = list(rows[0]) if rows else []
    return render(request, "viewstats/report.html", {
        "title": TITLES.get(name, name), "name": name, "error": error, "data": data,
        "columns": columns, "rows": [[r.get(c) for c in columns] for r in rows],
        "totals": (data or {}).get("totals"),
        "query": request.GET.urlencode(), "reports": [(n, TITLES[n]) for n in REPORTS],
        "filters": _filter_widgets(request, client_ids)})
