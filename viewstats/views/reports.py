"""Reports: JSON API, streamed CSV export and the admin pages.

The client always comes from the user (access.client_scope); a `client`
parameter only narrows it and is refused when it names another client.
"""
import csv
import itertools
import json
from datetime import date, datetime

from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET

from .. import access, definitions, host, outage
from ..reports.filters import FilterError
from ..reports.run import DESCRIPTIONS, REPORTS, TITLES, run, table
from . import report_pages


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
    """The one client a page shows: the staff user's own, or the superuser's choice
    (the first operator until they choose); None when the user is not staff."""
    if not request.user.is_authenticated or not request.user.is_staff:
        return None
    requested = request.GET.get("client")
    if request.user.is_superuser and requested in (None, "", access.ALL):
        ids = host.all_client_ids()
        return ids[:1]
    return access.client_scope(request.user, requested)


# Pages beside the reports, by URL name; one that is not routed is left out.
INSIGHTS = (
    ("viewstats:ratings-page", "Ratings", "TV ratings per channel and programme: average audience, "
     "rating, share and reach over a period and a time band such as prime time."),
    ("viewstats:catchup-page", "Catch-up", "How old the programmes watched from the archive were, and "
     "how much viewing a shorter archive would lose."),
    ("viewstats:sharing-page", "Account sharing", "Accounts whose viewing suggests a shared login or a "
     "restream, with the evidence."),
)


def _tabs(request, client_ids):
    """Every report and insight page, keeping the client and period of this one."""
    keep = {"client": client_ids[0] if client_ids else ""}
    keep.update({k: request.GET[k] for k in ("date_from", "date_to") if request.GET.get(k)})
    query = "?" + urlencode(keep)
    pages = [(reverse("viewstats:report-page", args=[n]), TITLES[n], DESCRIPTIONS[n]) for n in REPORTS]
    for name, label, text in INSIGHTS:
        try:
            pages.append((reverse(name), label, text))
        except NoReverseMatch:
            continue
    return [{"href": path + query, "label": label, "text": text, "active": path == request.path,
             "insight": i >= len(REPORTS)} for i, (path, label, text) in enumerate(pages)]


def _page_context(request, client_ids, title):
    return {**admin.site.each_context(request), "title": title, "tabs": _tabs(request, client_ids),
            "reports": [(n, TITLES[n]) for n in REPORTS],
            "clients": host.clients() if request.user.is_superuser else None,
            "client_id": client_ids[0] if client_ids else None,
            "client_name": host.client_name(client_ids[0]) if client_ids else ""}


@require_GET
def report_index(request):
    client_ids = _page_scope(request)
    if client_ids is None:
        return redirect_to_login(request.get_full_path(), "admin:login")
    return render(request, "viewstats/report_index.html",
                  {**_page_context(request, client_ids, "Viewing statistics"),
                   "entries": [(n, TITLES[n], DESCRIPTIONS[n]) for n in REPORTS]})


def insight_page(request, page_class, template, title, description):
    """The common start of an insight page: (context, built page), or a response to return now.

    A bad period brings the form back with the default one and says why; a
    bad filter keeps the period and says why.
    """
    client_ids = _page_scope(request)
    if client_ids is None:
        return redirect_to_login(request.get_full_path(), "admin:login"), None
    context = _page_context(request, client_ids, title)
    context["description"] = description
    if not client_ids:
        context["error"] = "There is no operator yet: the statistics belong to an operator."
        return render(request, template, context), None
    try:
        page = page_class(request.GET, client_ids)
    except FilterError as exc:
        page = page_class({k: v for k, v in request.GET.items() if k not in ("date_from", "date_to")},
                          client_ids)
        context["error"] = str(exc)
    else:
        try:
            page.build()
        except FilterError as exc:
            context["error"] = str(exc)
    return context, page


@require_GET
def definitions_page(request):
    client_ids = _page_scope(request)
    if client_ids is None:
        return redirect_to_login(request.get_full_path(), "admin:login")
    return render(request, "viewstats/definitions.html", {
        **_page_context(request, client_ids, "Definitions"),
        "definitions": definitions.definitions_html()})


@require_GET
def report_page(request, name):
    client_ids = _page_scope(request)
    if client_ids is None:
        return redirect_to_login(request.get_full_path(), "admin:login")
    if name not in REPORTS:
        raise Http404(f"no report {name}")
    context = _page_context(request, client_ids, TITLES[name])
    context.update(name=name, description=DESCRIPTIONS[name])
    if not client_ids:
        context["error"] = "There is no operator yet: the statistics belong to an operator."
        return render(request, "viewstats/report.html", context)
    page = report_pages.Page(name, request.GET, client_ids)
    try:
        page.build()
    except FilterError as exc:
        context["error"] = str(exc)
    context.update(
        page=page, zone=page.zone.key, period=page.period,
        periods=report_pages.period_choices(page),
        filters=report_pages.filter_widgets(page),
        csv=reverse("viewstats:report-csv", args=[name]) + "?" + urlencode(
            {k: v for k, v in page.base_params().items() if v}),
        charts=page.charts)
    return render(request, "viewstats/report.html", context)
