from django import forms
from django.contrib import admin, messages
from django.shortcuts import redirect
from django.urls import reverse

from . import host, peers
from .admin_base import ViewOnlyAdmin
from .models import ApiToken, MediaServer, OperatorStaff, ViewingReport


def operator_choices():
    return [(client_id, f"{name} (#{client_id})") for client_id, name in host.clients()]


class OperatorChoiceAdmin(admin.ModelAdmin):
    """`client_id` is a plain id: offer the host's operators by name."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "client_id":
            return forms.TypedChoiceField(label="Operator", coerce=int, choices=operator_choices)
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    @admin.display(description="operator", ordering="client_id")
    def operator(self, obj):
        return host.client_name(obj.client_id) or f"#{obj.client_id} (unknown)"


class ClientScopedAdmin(OperatorChoiceAdmin):
    """Staff of a client see and create only their client's rows."""

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(client_id=host.staff_client_id(request.user))


@admin.register(OperatorStaff)
class OperatorStaffAdmin(OperatorChoiceAdmin):
    """Superusers say which operator each staff user works for."""

    list_display = ("user", "operator")

    def has_module_permission(self, request):
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser

    has_add_permission = has_change_permission = has_delete_permission = has_view_permission


@admin.register(MediaServer)
class MediaServerAdmin(ClientScopedAdmin):
    list_display = ("name", "operator", "id", "created_at")
    readonly_fields = ("token", "created_at", "sink_url")

    def sink_url(self, obj):
        return reverse("viewstats:mediaserver-events")
    sink_url.short_description = "Event sink URL (POST, JSON array)"

    def get_fields(self, request, obj=None):
        fields = (["name", "client_id"] if request.user.is_superuser else ["name"]) + ["addresses"]
        return fields + (["token", "sink_url", "created_at"] if obj else [])

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)

        def clean_addresses(self):
            text = self.cleaned_data.get("addresses", "")
            try:
                peers.parse_networks(text)
            except ValueError as exc:
                raise forms.ValidationError(str(exc)) from None
            return text
        form.clean_addresses = clean_addresses
        return form

    def save_model(self, request, obj, form, change):
        if not request.user.is_superuser:
            obj.client_id = host.staff_client_id(request.user)
        super().save_model(request, obj, form, change)
        if not change:
            messages.info(request, f"Server token (put it in the event sink as 'Authorization: "
                                   f"Bearer …'): {obj.token}")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("user", "created_at")
    readonly_fields = ("key", "created_at")

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs if request.user.is_superuser else qs.filter(user=request.user)

    def get_fields(self, request, obj=None):
        return ["user", "key", "created_at"] if obj else ["user"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "user" and not request.user.is_superuser:
            field.queryset = field.queryset.filter(pk=request.user.pk)
        return field


@admin.register(ViewingReport)
class ViewingReportAdmin(ViewOnlyAdmin):
    """An index entry under the app that leads to the report pages."""

    def changelist_view(self, request, extra_context=None):
        return redirect("viewstats:report-index")
