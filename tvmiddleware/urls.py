from django.urls import path

from . import views

app_name = "tvmiddleware"

urlpatterns = [
    path("api/login/", views.login, name="login"),
    path("api/portal/settings/list/", views.portal_settings, name="portal-settings"),
]
