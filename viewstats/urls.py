from django.urls import path, re_path

from .outage import admin_page, json_api
from .views import apidoc
from .views import catchup as catchup_views
from .views import collect, counters, mediaserver, reports
from .views import ratings as ratings_views
from .views import sharing

app_name = "viewstats"

urlpatterns = [
    path("api/stat/push", collect.stat_push, name="stat-push"),
    path("api/stat/batch", collect.stat_batch, name="stat-batch"),
    path("api/mediaserver/events", mediaserver.events, name="mediaserver-events"),
    path("metrics", collect.metrics_endpoint, name="metrics"),
    path("api/openapi.json", apidoc.openapi_json, name="openapi-json"),
    path("api/docs/", apidoc.docs_page, name="api-docs"),
    path("api/reports/<slug:name>", json_api(reports.report_api), name="report-api"),
    path("api/reports/<slug:name>.csv", json_api(reports.report_csv), name="report-csv"),
    re_path(r"^api/stats/(?P<client>[^/]+)/(?P<metric>[a-z_]+)/(?P<year>[0-9]{4})"
            r"(?:/(?P<month>[0-9]{1,2})(?:/(?P<day>[0-9]{1,2})(?:/(?P<hour>[0-9]{1,2}))?)?)?/?$",
            json_api(counters.stats), name="counters"),
    path("reports/", reports.report_index, name="report-index"),
    path("reports/definitions/", reports.definitions_page, name="definitions"),
    path("api/ratings", json_api(ratings_views.ratings_api), name="ratings-api"),
    path("api/ratings.csv", json_api(ratings_views.ratings_csv), name="ratings-csv"),
    path("reports/ratings/", admin_page(ratings_views.ratings_page), name="ratings-page"),
    path("api/catchup", json_api(catchup_views.catchup_api), name="catchup-api"),
    path("api/catchup.csv", json_api(catchup_views.catchup_csv), name="catchup-csv"),
    path("reports/catchup/", admin_page(catchup_views.catchup_page), name="catchup-page"),
    path("api/sharing", json_api(sharing.sharing_api), name="sharing-api"),
    path("api/sharing.csv", json_api(sharing.sharing_csv), name="sharing-csv"),
    path("reports/sharing/", admin_page(sharing.sharing_page), name="sharing-page"),
    path("reports/<slug:name>/", admin_page(reports.report_page), name="report-page"),
]
