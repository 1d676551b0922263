from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("tvmiddleware/", include("tvmiddleware.urls")),
    path("viewstats/", include("viewstats.urls")),
    path("smartystats/", include("smartystats.urls")),
    path("django-rq/", include("django_rq.urls")),
]
