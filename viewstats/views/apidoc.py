"""The OpenAPI document and its readable page (Redoc, from the app's static files).

    /viewstats/api/openapi.json   the document the package ships (viewstats/openapi.py writes it)
    /viewstats/api/docs/          Redoc rendering it

Both are public: they describe the APIs, never their data, and every API
they describe authenticates on its own. The page loads nothing from another
site: the Redoc bundle is vendored under static/viewstats/apidoc/, and its
Content-Security-Policy keeps it so (Redoc's "powered by" logo, which would
come from a CDN, is blocked and hidden).
"""
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from .. import openapi

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'self'; "
       "base-uri 'none'; form-action 'none'")


@require_GET
def openapi_json(request):
    response = HttpResponse(openapi.SHIPPED.read_bytes(), content_type="application/json")
    response["Cache-Control"] = "max-age=300"
    return response


@require_GET
def docs_page(request):
    response = render(request, "viewstats/apidoc.html", {"spec_url": reverse("viewstats:openapi-json")})
    response["Content-Security-Policy"] = CSP
    return response
