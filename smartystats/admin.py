"""The "Dynamics of subscribers" tab: an unmanaged model whose list page is the dashboard
(the django-rq way), plus read-only views of the caches for troubleshooting."""
from django.contrib import admin

from viewstats.admin_base import ViewOnlyAdmin
from viewstats.outage import admin_page

from . import host, views
from .models import DailyPayments, DailyStats, Dynamics, FillState


def _may_see(request):
    user = request.user
    return user.is_active and user.is_staff and (user.is_superuser or host.client_of_user(user) is not None)


@admin.register(Dynamics)
class DynamicsAdmin(ViewOnlyAdmin):
    def may_view(self, request):
        return _may_see(request)

    def changelist_view(self, request, extra_context=None):
        return admin_page(views.dynamics_page)(request, self.admin_site)


class ReadOnly(ViewOnlyAdmin):
    """The caches, for superusers troubleshooting; deleting a row (e.g. a fill
    state) is how one forces a refill."""

    def may_view(self, request):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


@admin.register(FillState)
class FillStateAdmin(ReadOnly):
    list_display = ("client_id", "series", "zone", "start_time", "end_time", "state", "last_modified")
    list_filter = ("state", "zone", "client_id")


@admin.register(DailyStats)
class DailyStatsAdmin(ReadOnly):
    list_display = ("client_id", "day", "zone", "new_customers", "new_accounts", "deactivated_accounts",
                    "paying_customers", "payments_count")
    list_filter = ("client_id",)
    date_hierarchy = "day"


@admin.register(DailyPayments)
class DailyPaymentsAdmin(ReadOnly):
    list_display = ("client_id", "day", "zone", "currency", "payments_sum", "payments_count", "paying_customers")
    list_filter = ("client_id", "currency")
    date_hierarchy = "day"


# The chosen Dynamics widgets on the admin index. An app template named
# admin/index.html would lose to django.contrib.admin's own (admin is listed
# first in INSTALLED_APPS), so the site is pointed at ours, which extends it.
if admin.site.index_template is None:
    admin.site.index_template = "smartystats/admin_index.html"
