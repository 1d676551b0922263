"""Admin entries that only show things: reports, dashboards, caches."""
from django.contrib import admin


class ViewOnlyAdmin(admin.ModelAdmin):
    """Nobody adds or changes through it; `may_view` decides who sees it."""

    def may_view(self, request):
        return request.user.is_active and request.user.is_staff

    def has_module_permission(self, request):
        return self.may_view(request)

    def has_view_permission(self, request, obj=None):
        return self.may_view(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
