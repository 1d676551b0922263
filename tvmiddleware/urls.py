from django.urls import path

from . import views

app_name = "tvmiddleware"

urlpatterns = [
    path("api/login/", views.login, name="login"),
    path("api/portal/settings/list/", views.portal_settings, name="portal-settings"),
    path("api/channel/sort/list/", views.channel_sort_list, name="channel-sort-list"),
    path("api/channel/list/", views.channel_list, name="channel-list"),
    path("api/selection/list/", views.selection_list, name="selection-list"),
    path("api/selection/detail/", views.selection_detail, name="selection-detail"),
]
