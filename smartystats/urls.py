from django.urls import path

from . import views

app_name = "smartystats"

urlpatterns = [
    path("api/dynamics", views.dynamics_json, name="dynamics_json"),
    path("index-widgets", views.save_index_widgets, name="index_widgets"),
]
