from django.urls import path

from viewstats.outage import json_api

from . import views

app_name = "smartystats"

urlpatterns = [
    path("api/dynamics", json_api(views.dynamics_json), name="dynamics_json"),
    path("index-widgets", views.save_index_widgets, name="index_widgets"),
]
