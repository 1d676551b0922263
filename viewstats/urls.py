from django.urls import path

from .views import collect

app_name = "viewstats"

urlpatterns = [
    path("api/stat/push", collect.stat_push, name="stat-push"),
    path("api/stat/batch", collect.stat_batch, name="stat-batch"),
]
