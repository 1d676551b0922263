from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe
from django.utils.text import capfirst

from viewstats import host as viewstats_host
from viewstats.popularity.options import CRITERIA

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


# --- Channel sortings and selections ------------------------------------------------
#
# Generated lists are rewritten by the nightly popularity commands
# (viewstats/popularity, saved through stats_host.py): an edit made here would
# be lost without a word. So the admin shows them read-only, as ranked tables
# an operator can judge at a glance, and offers a manual copy to edit instead.

EPG_CRITERION = "total viewing time, live + archive"
CONTENT_CHOICES = [(models.Selection.ContentType.CHANNEL, "channels"),
                   (models.Selection.ContentType.EPG_PROGRAMME, "programmes")]
COPY_SUFFIX = " (copy)"


def hms(seconds):
    """Whole seconds (half up) as h:mm:ss; hours grow past 24 with separators."""
    whole = int(Decimal(str(seconds)).quantize(Decimal(1), ROUND_HALF_UP))
    hours, rest = divmod(whole, 3600)
    return f"{hours:,}:{rest // 60:02}:{rest % 60:02}"


def thousands(number):
    return f"{int(number):,}"


METRIC_FORMATS = {"watch": hms, "watch_sessions": thousands, "average": hms,
                  "median_watch_time": hms}


def operator_zone(client):
    try:
        return ZoneInfo(client.time_zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_time(instant, zone, year=True, weekday=True):
    """"Tue 2 Dec 2025 20:00" on the operator's clock, not the server's."""
    t = instant.astimezone(zone)
    return (f"{f'{t:%a} ' if weekday else ''}{t.day} {t:%b}{f' {t.year}' if year else ''} "
            f"{t:%H:%M}")


def computed_at_text(obj, weekday=True):
    if obj.computed_at is None:
        return None
    zone = operator_zone(obj.client)
    return f"{local_time(obj.computed_at, zone, weekday=weekday)} ({zone.key})"


def _instant(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _day(instant):
    return f"{instant.day} {instant:%b %Y}"


def window_text(window):
    """The commands' window: whole days of the zone it names (UTC before it named one),
    the day of the run excluded."""
    zone = window.get("zone") or "UTC"
    tz = ZoneInfo(zone)
    first = _instant(window["start"]).astimezone(tz)
    last = (_instant(window["end"]) - timedelta(seconds=1)).astimezone(tz)
    days = (last.date() - first.date()).days + 1
    kind = "a UTC day" if zone == "UTC" else f"a day in {zone}"
    if days == 1:
        return f"the last whole day, {_day(first)} ({kind})"
    kind = "UTC days" if zone == "UTC" else f"days in {zone}"
    return f"the last {days} whole days, {_day(first)} – {_day(last)} ({kind})"


def _names(model, client_id, ids, everything):
    if not ids:
        return everything
    found = dict(model.objects.filter(client_id=client_id, id__in=ids).values_list("id", "name"))
    return ", ".join(found.get(i, f"#{i} (deleted)") for i in ids)


def list_parameters(obj, epg, sorting=False):
    """The generated list's `parameters` as (term, description) pairs in words."""
    p = dict(obj.parameters or {})
    client_id = obj.client_id
    rows = []
    command = p.pop("command", None)
    rows.append(("Command", command or "not recorded"))
    if obj.computed_at is not None:
        rows.append(("Computed at", computed_at_text(obj)))
    criterion = p.pop("criterion", None)
    if criterion:
        rows.append(("Popular means", CRITERIA.get(criterion, criterion)))
    elif epg:
        rows.append(("Popular means", EPG_CRITERION))
    days = p.pop("days_number", None)
    window = p.pop("window", None)
    if window:
        rows.append(("Viewing counted", window_text(window)))
    elif days:
        rows.append(("Viewing counted", f"the last {days} whole days (UTC)"))
    if "devices" in p:
        rows.append(("Devices", ", ".join(p.pop("devices")) or "all"))
    if "tariffs" in p:
        rows.append(("Tariffs", _names(models.Tariff, client_id, p.pop("tariffs"), "all")))
    if "accounts_active" in p:
        rows.append(("Accounts", "only accounts active at the time of the run"
                     if p.pop("accounts_active") else "all, deactivated ones included"))
    if "categories" in p:
        rows.append(("Categories", _names(models.ChannelCategory, client_id, p.pop("categories"), "all")))
    if "channels" in p:
        rows.append(("Channels", _names(models.Channel, client_id, p.pop("channels"), "all enabled")))
    if "selection_size" in p:
        rows.append(("Size", f"up to {thousands(p.pop('selection_size'))} items"))
    minimum = p.pop("min_sessions", 0)
    left_out = p.pop("thin_items_left_out", 0)
    if minimum:
        rest = ("apps show the channels not listed after these, in the standard order" if sorting
                else "nothing fills the list up to its size")
        rows.append(("Minimum sessions", f"{thousands(minimum)}: items watched in fewer sessions "
                                         f"are left out ({thousands(left_out)} left out); {rest}"))
    else:
        rows.append(("Minimum sessions", "none: every item is listed, however few sessions it rests on"))
    for key, label in (("counted_sessions", "Sessions counted"),
                       ("counted_programme_views", "Programme views counted")):
        if key in p:
            rows.append((label, thousands(p.pop(key))))
    if "method" in p:
        rows.append(("Programme viewing", p.pop("method")))
    if p.pop("median_method", None) and criterion == "median_watch_time":
        rows.append(("Median", "exact: the middle session, or the mean of the two middle ones"))
    # Whatever else a command recorded still shows, in its own words.
    rows += [(capfirst(key.replace("_", " ")), str(value)) for key, value in sorted(p.items())]
    return rows


def ranking_table(obj, items, epg):
    """Column titles and rows of a generated list's ranked table."""
    zone = operator_zone(obj.client)
    criterion = "watch" if epg else (obj.parameters or {}).get("criterion", "watch")
    if criterion not in METRIC_FORMATS:
        criterion = "watch"
    title = EPG_CRITERION if epg else CRITERIA[criterion]
    # Sessions are the sample every metric rests on; a sessions ranking
    # needs the column only once.
    columns = ["#", "Programme" if epg else "Channel", capfirst(title)]
    if criterion != "watch_sessions":
        columns.append("Sessions")
    rows, unwatched_seen = [], False
    for item in items:
        metrics = item.metrics or {}
        sessions = metrics.get("watch_sessions") or 0
        value = metrics.get(criterion)
        watched = bool(sessions) and value is not None
        row = {"position": item.position, "name": item_name(item, zone), "note": "",
               "value": METRIC_FORMATS[criterion](value) if watched else "not watched",
               "sessions": thousands(sessions) if criterion != "watch_sessions" else None,
               "watched": watched, "first_unwatched": not watched and not unwatched_seen}
        channel = item.channel if not epg else None
        if channel is not None and not channel.enabled:
            row["note"] = "disabled"
        unwatched_seen = unwatched_seen or not watched
        rows.append(row)
    help_text = ("Sessions: how many viewing sessions each figure rests on. A figure drawn from "
                 "a handful of sessions says little about popularity; the command's "
                 "--min_sessions option leaves such items out.")
    if criterion == "watch_sessions":
        help_text = "Ranked by the number of viewing sessions in the window."
    return {"columns": columns, "rows": rows, "help": help_text,
            "zone": zone.key if epg else None,
            "unwatched_note": ("Not watched in the window: newest airtime first, filling the list"
                               if epg else "Not watched in the window: in the standard channel order")}


def item_name(item, zone):
    programme = getattr(item, "programme", None)
    if programme is not None:
        return (f"{programme.title} — {programme.channel.name}, "
                f"{local_time(programme.begin, zone, year=False)}")
    return item.channel.name if item.channel is not None else "—"


def copy_name(name):
    limit = models.ChannelSorting._meta.get_field("name").max_length - len(COPY_SUFFIX)
    return name[:limit] + COPY_SUFFIX


def operator_of(request):
    """The operator a staff user works for (viewstats' "operator staff"), or None.

    None for superusers, and for staff tied to no operator: those keep what
    Django's model permissions give them, as on every other page here.
    """
    if request.user.is_superuser:
        return None
    return viewstats_host.staff_client_id(request.user)


class OperatorFilter(admin.RelatedFieldListFilter):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.title = "operator"


class KindFilter(admin.ChoicesFieldListFilter):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.title = "kind"


class ContentFilter(admin.SimpleListFilter):
    title = "content"
    parameter_name = "content"

    def lookups(self, request, model_admin):
        return CONTENT_CHOICES

    def queryset(self, request, queryset):
        return queryset.filter(content_type=self.value()) if self.value() is not None else queryset


class ManualItemInline(admin.TabularInline):
    """Items of a manual list, picked from the list's own operator's content."""

    extra = 0
    ordering = ("position", "id")

    def content_field(self, obj):
        return "channel"

    def own_content(self, obj):
        return {"client_id": obj.client_id}

    def get_fields(self, request, obj=None):
        return ("position", self.content_field(obj))

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        fields = formset.form.base_fields
        fields["position"].help_text = "Lower comes first; saving renumbers the items 1, 2, 3…"
        field = fields[self.content_field(obj)]
        field.required = True
        field.queryset = field.queryset.filter(**self.own_content(obj))
        # Channels are added and edited on their own pages, not from a list.
        field.widget.can_add_related = field.widget.can_change_related = False
        return formset

    def _may(self, request, action):
        opts = self.parent_model._meta
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename(action, opts)}")

    # Items are part of their list: whoever may change the list may edit them,
    # as Django does for the inlines of many-to-many fields.
    def has_add_permission(self, request, obj=None):
        return self._may(request, "change")

    def has_change_permission(self, request, obj=None):
        return self._may(request, "change")

    def has_delete_permission(self, request, obj=None):
        return self._may(request, "change")

    def has_view_permission(self, request, obj=None):
        return self._may(request, "view") or self._may(request, "change")


class ChannelSortingItemInline(ManualItemInline):
    model = models.ChannelSortingItem
    verbose_name = "channel"
    verbose_name_plural = "channels, in this order"


class SelectionItemInline(ManualItemInline):
    model = models.SelectionItem
    raw_id_fields = ("programme",)
    verbose_name = "item"
    verbose_name_plural = "items, in this order"

    def content_field(self, obj):
        return "programme" if obj.content_type == models.Selection.ContentType.EPG_PROGRAMME else "channel"

    def own_content(self, obj):
        if self.content_field(obj) == "programme":
            return {"channel__client_id": obj.client_id}
        return {"client_id": obj.client_id}


class ListAdmin(admin.ModelAdmin):
    """What channel sortings and selections share (see the comment above)."""

    change_form_template = "admin/tvmiddleware/list_change_form.html"
    actions = ["copy_to_manual_list"]
    search_fields = ("name",)
    empty_value_display = "—"
    kind_field = ""
    generated = None
    item_inline = None
    item_relations = ()
    add_fields = ()
    change_fields = ()
    readonly_change_fields = ()

    def is_generated(self, obj):
        return obj is not None and getattr(obj, self.kind_field) == self.generated

    def is_epg(self, obj):
        return False

    # The change list -------------------------------------------------------------

    def get_queryset(self, request):
        rows = super().get_queryset(request).select_related("client").annotate(item_count=Count("items"))
        operator = operator_of(request)
        return rows if operator is None else rows.filter(client_id=operator)

    def get_list_filter(self, request):
        kind = ((self.kind_field, KindFilter),)
        return kind if operator_of(request) is not None else (("client", OperatorFilter), *kind)

    @admin.display(description="operator", ordering="client__name")
    def operator(self, obj):
        return obj.client.name

    @admin.display(description="kind")
    def list_kind(self, obj):
        if not self.is_generated(obj):
            return "manual"
        command = (obj.parameters or {}).get("command")
        if not command:
            return "generated"
        # Long command names may wrap at their underscores in a narrow column.
        return format_html("generated by {}", mark_safe("_<wbr>".join(map(escape, command.split("_")))))

    @admin.display(description="items", ordering="item_count")
    def item_count_text(self, obj):
        return thousands(obj.item_count)

    @admin.display(description="computed at", ordering="computed_at")
    def computed(self, obj):
        return computed_at_text(obj, weekday=False)

    # The change form ---------------------------------------------------------------

    def get_fields(self, request, obj=None):
        if obj is None:
            client = [] if operator_of(request) is not None else ["client"]
            return ["name", *client, *self.add_fields]
        return ["name", "operator", "list_kind", *self.change_fields]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            fieldsets[0][1]["description"] = (
                "Save the list first: its items are then picked from its operator's channels "
                "or programmes.")
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("operator", "list_kind", *self.readonly_change_fields,
                *(("name",) if self.is_generated(obj) else ()))

    def get_inlines(self, request, obj):
        return [] if obj is None or self.is_generated(obj) else [self.item_inline]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "client":
            kwargs["label"] = "Operator"
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        operator = operator_of(request)
        if not change and operator is not None:
            obj.client_id = operator
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if self.is_generated(form.instance):
            return
        # Positions say the order: after any edit they read 1, 2, 3… again.
        items = form.instance.items
        moved = []
        for number, item in enumerate(items.order_by("position", "id"), start=1):
            if item.position != number:
                item.position = number
                moved.append(item)
        items.model.objects.bulk_update(moved, ["position"])

    def response_post_save_add(self, request, obj):
        return redirect(self.url(obj, "change"))

    def url(self, obj, view):
        opts = self.model._meta
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=[obj.pk],
                       current_app=self.admin_site.name)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        if self.is_generated(obj) and self.has_view_or_change_permission(request, obj):
            extra_context = {**(extra_context or {}), "generated": self.generated_context(request, obj)}
        return super().change_view(request, object_id, form_url, extra_context)

    def generated_context(self, request, obj):
        epg = self.is_epg(obj)
        items = obj.items.select_related(*self.item_relations).order_by("position", "id")
        command = (obj.parameters or {}).get("command")
        when = computed_at_text(obj)
        return {
            "note": (f"Generated by {command or 'a popularity command'}"
                     f"{f' on {when}' if when else ''}. The next run of the command replaces "
                     "this list: its items, their order and its name, so they cannot be edited "
                     "here. To change them by hand, copy the list to a manual one."),
            "parameters": list_parameters(obj, epg, sorting=self.model is models.ChannelSorting),
            "table": ranking_table(obj, items, epg),
            "copy_url": self.url(obj, "copy") if self.has_add_permission(request) else None,
        }

    # Copying to a manual list -----------------------------------------------------------

    def get_urls(self):
        opts = self.model._meta
        return [path("<path:object_id>/copy/", self.admin_site.admin_view(self.copy_view),
                     name=f"{opts.app_label}_{opts.model_name}_copy"),
                *super().get_urls()]

    def copy_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        source = self.get_object(request, unquote(object_id))
        if source is None:
            raise Http404(f"No {self.model._meta.verbose_name} with id {object_id!r}")
        if not (self.has_view_or_change_permission(request, source) and self.has_add_permission(request)):
            raise PermissionDenied
        return self.copied(request, [(source, self.copy(request, source))])

    @admin.action(description="Copy to a manual list", permissions=["add"])
    def copy_to_manual_list(self, request, queryset):
        return self.copied(request, [(source, self.copy(request, source))
                                     for source in queryset.order_by("id")])

    def copy(self, request, source):
        with transaction.atomic():
            copy = self.model.objects.create(client_id=source.client_id, name=copy_name(source.name),
                                             **self.copy_values(source))
            copy.items.model.objects.bulk_create([
                self.copy_item(copy, item, position)
                for position, item in enumerate(source.items.order_by("position", "id"), start=1)])
            self.log_addition(request, copy, [{"added": {}}])
        return copy

    def copy_values(self, source):
        return {}

    def copied(self, request, pairs):
        for source, copy in pairs:
            self.message_user(request, format_html(
                "“{}” was copied to the manual list “{}”: {} items, in the same order. The "
                "popularity commands never change a manual list.{}",
                source.name, copy.name, copy.items.count(), self.copy_remark(copy)), messages.SUCCESS)
        if len(pairs) == 1:
            return redirect(self.url(pairs[0][1], "change"))
        return None

    def copy_remark(self, copy):
        return ""


@admin.register(models.ChannelSorting)
class ChannelSortingAdmin(ListAdmin):
    list_display = ("name", "operator", "list_kind", "item_count_text", "computed")
    kind_field = "kind"
    generated = models.ChannelSorting.Kind.GENERATED
    item_inline = ChannelSortingItemInline
    item_relations = ("channel",)

    def has_change_permission(self, request, obj=None):
        # A generated sorting has nothing an operator may change: it is shown as a view.
        return not self.is_generated(obj) and super().has_change_permission(request, obj)

    def copy_item(self, copy, item, position):
        return models.ChannelSortingItem(sorting=copy, channel_id=item.channel_id, position=position)


@admin.register(models.Selection)
class SelectionAdmin(ListAdmin):
    list_display = ("name", "operator", "list_kind", "content", "item_count_text", "hidden",
                    "computed")
    kind_field = "type"
    generated = models.Selection.Type.GENERATED
    item_inline = SelectionItemInline
    item_relations = ("channel", "programme__channel")
    add_fields = ("content_type", "is_hidden")
    change_fields = ("content", "is_hidden")
    readonly_change_fields = ("content",)

    def get_list_filter(self, request):
        return (*super().get_list_filter(request), ContentFilter)

    def is_epg(self, obj):
        return obj.content_type == models.Selection.ContentType.EPG_PROGRAMME

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        if db_field.name == "content_type":
            kwargs.update(label="Content", choices=CONTENT_CHOICES)
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    @admin.display(description="content", ordering="content_type")
    def content(self, obj):
        return "programmes" if self.is_epg(obj) else "channels"

    @admin.display(description="hidden", boolean=True, ordering="is_hidden")
    def hidden(self, obj):
        return obj.is_hidden

    def copy_values(self, source):
        # Apps show every visible selection at once: a copy waits, hidden,
        # until the operator has made it what they want.
        return {"content_type": source.content_type, "is_hidden": True}

    def copy_item(self, copy, item, position):
        return models.SelectionItem(selection=copy, channel_id=item.channel_id,
                                    programme_id=item.programme_id, position=position)

    def copy_remark(self, copy):
        return " It is hidden from apps until you untick “Is hidden” and save."
