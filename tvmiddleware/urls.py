from django.urls import path

from viewstats.views import apps

from . import views

app_name = "tvmiddleware"

urlpatterns = [
    path("api/login/", views.login, name="login"),
    path("api/portal/settings/list/", views.portal_settings, name="portal-settings"),
    path("api/channel/sort/list/", apps.channel_sort_list, name="channel-sort-list"),
    path("api/channel/list/", apps.channel_list, name="channel-list"),
    path("api/selection/list/", apps.selection_list, name="selection-list"),
    path("api/selection/detail/", apps.selection_detail, name="selection-detail"),
]
