from django.contrib import admin

from . import models


@admin.register(models.Client)
class ClientAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "default_currency", "time_zone")


@admin.register(models.PlayDevice)
class PlayDeviceAdmin(admin.ModelAdmin):
    list_display = ("system_name", "name")


@admin.register(models.ClientPlayDevice)
class ClientPlayDeviceAdmin(admin.ModelAdmin):
    list_display = ("client", "play_device", "reports_enabled")
    list_filter = ("client", "reports_enabled")
    list_editable = ("reports_enabled",)


@admin.register(models.Tariff)
class TariffAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "client", "price", "currency")
    list_filter = ("client",)


@admin.register(models.ChannelCategory)
class ChannelCategoryAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "client", "sort")
    list_filter = ("client",)


@admin.register(models.Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = ("id", "number", "name", "client", "sort", "enabled")
    list_filter = ("client", "categories")
    search_fields = ("name",)


@admin.register(models.EpgProgramme)
class EpgProgrammeAdmin(admin.ModelAdmin):
    list_display = ("id", "title", "channel", "begin", "end", "category")
    list_filter = ("channel__client",)
    date_hierarchy = "begin"


@admin.register(models.Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("id", "first_name", "last_name", "client", "created_at")
    list_filter = ("client",)


class AccountTariffPeriodInline(admin.TabularInline):
    """The tariff history; edits of the account's tariffs add to it."""

    model = models.AccountTariffPeriod
    extra = 0
    fields = ("tariff", "start", "end")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(models.Account)
class AccountAdmin(admin.ModelAdmin):
    inlines = [AccountTariffPeriodInline]
    list_display = ("id", "abonement", "customer", "client", "active", "status_reason",
                    "activation_date", "deactivation_date")
    list_filter = ("client", "active", "status_reason")
    search_fields = ("abonement",)


@admin.register(models.AccountDevice)
class AccountDeviceAdmin(admin.ModelAdmin):
    list_display = ("id", "account", "play_device", "device_uid", "device_model")


@admin.register(models.Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ("id", "customer", "client", "amount", "currency", "created_at", "processed")
    list_filter = ("client", "currency", "processed")
    date_hierarchy = "created_at"


class ChannelSortingItemInline(admin.TabularInline):
    model = models.ChannelSortingItem
    extra = 0


@admin.register(models.ChannelSorting)
class ChannelSortingAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "client", "kind", "computed_at")
    list_filter = ("client", "kind")
    inlines = [ChannelSortingItemInline]


class SelectionItemInline(admin.TabularInline):
    model = models.SelectionItem
    extra = 0
    raw_id_fields = ("programme",)


@admin.register(models.Selection)
class SelectionAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "client", "type", "content_type", "is_hidden", "computed_at")
    list_filter = ("client", "type", "content_type")
    inlines = [SelectionItemInline]
