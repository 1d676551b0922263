"""The middleware's own data: operators, subscribers, device types, content.

This is a small reference of what a real IPTV middleware owns, and the
demo's. `viewstats` and `smartystats` never import it: they read it through
`tvmiddleware.stats_host.ReferenceHost`, this app's implementation of the
host contract (`viewstats.contract.Host`), named in VIEWSTATS_HOST.
Table names follow Smarty's (`clients_client`, `tvmiddleware_*`).
"""
import secrets
from datetime import timezone as dt_timezone

from django.db import models
from django.utils import timezone


def new_api_key():
    return secrets.token_hex(16)


class Client(models.Model):
    """An operator. Every other object belongs to exactly one client."""

    name = models.CharField(max_length=200)
    api_key = models.CharField(max_length=64, unique=True, default=new_api_key,
                               help_text="Key devices present at login.")
    default_currency = models.CharField(max_length=3, default="EUR")
    time_zone = models.CharField(max_length=64, default="UTC")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "clients_client"
        ordering = ["id"]

    def __str__(self):
        return self.name


class PlayDevice(models.Model):
    """A device type known to the middleware (Smarty: "system name")."""

    name = models.CharField(max_length=100)
    system_name = models.SlugField(max_length=64, unique=True)

    class Meta:
        ordering = ["system_name"]

    def __str__(self):
        return self.system_name


class ClientPlayDevice(models.Model):
    """A device type allowed for a client, with its "STB and Application Settings"."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="play_devices")
    play_device = models.ForeignKey(PlayDevice, on_delete=models.CASCADE)
    reports_enabled = models.BooleanField(
        "Enable statistical data collection", default=False,
        help_text="Devices of this type send viewing statistics to the server.")
    standby_timer = models.PositiveIntegerField(default=0, help_text="Minutes; 0 = never.")

    class Meta:
        unique_together = [("client", "play_device")]
        verbose_name = "STB and Application Settings"
        verbose_name_plural = "STB and Application Settings"

    def __str__(self):
        return f"{self.client} / {self.play_device}"


class Tariff(models.Model):
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="tariffs")
    name = models.CharField(max_length=200)
    price = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    currency = models.CharField(max_length=3, default="EUR")

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.name


class ChannelCategory(models.Model):
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="categories")
    name = models.CharField(max_length=200)
    sort = models.IntegerField(default=0)

    class Meta:
        db_table = "tvmiddleware_category"
        ordering = ["sort", "id"]
        verbose_name_plural = "channel categories"

    def __str__(self):
        return self.name


class Channel(models.Model):
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="channels")
    name = models.CharField(max_length=200)
    number = models.PositiveIntegerField(help_text="Logical channel number shown to viewers.")
    sort = models.IntegerField(default=0, help_text="Position in the default channel order.")
    categories = models.ManyToManyField(ChannelCategory, related_name="channels")
    tariffs = models.ManyToManyField(Tariff, related_name="channels", blank=True)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["sort", "number", "id"]

    def __str__(self):
        return f"{self.number}. {self.name}"


class EpgProgramme(models.Model):
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="programmes")
    begin = models.DateTimeField()
    end = models.DateTimeField()
    title = models.CharField(max_length=300)
    category = models.CharField(max_length=100, blank=True)

    class Meta:
        db_table = "tvmiddleware_epg"
        ordering = ["channel", "begin"]
        indexes = [models.Index(fields=["channel", "begin"])]
        verbose_name = "EPG programme"

    def __str__(self):
        # In UTC, and saying so: pages that know the operator's zone show its time themselves.
        begin = self.begin.astimezone(dt_timezone.utc)
        return f"{self.title} — {self.channel.name}, {begin:%Y-%m-%d %H:%M} UTC"


class Customer(models.Model):
    """The person who pays. One customer has one or more accounts."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="customers")
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    tariffs = models.ManyToManyField(Tariff, blank=True, related_name="customers")

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.first_name} {self.last_name}".strip() or f"customer {self.pk}"


class Account(models.Model):
    """The login a device uses; a viewing session is bound to it."""

    class Status(models.TextChoices):
        ACTIVE = "ACTIVE"
        DEBT = "DEBT"
        BLOCK = "BLOCK"
        INACTIVE = "INACTIVE"
        WAIT = "WAIT"

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="accounts")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="accounts")
    abonement = models.CharField(max_length=64)
    password = models.CharField(max_length=128)
    active = models.BooleanField(default=True)
    status_reason = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(default=timezone.now)
    activation_date = models.DateTimeField(null=True, blank=True)
    deactivation_date = models.DateTimeField(null=True, blank=True)
    tariffs = models.ManyToManyField(Tariff, blank=True, related_name="accounts")

    class Meta:
        unique_together = [("client", "abonement")]
        ordering = ["id"]

    def __str__(self):
        return self.abonement


class AccountTariffPeriod(models.Model):
    """An account had `tariff` during [start, end); end empty = still has it.

    Account.tariffs is the current set; this is its history, which the
    statistics need to credit viewing to the tariffs valid when it happened.
    Changes made through Account.tariffs are recorded here (see signals.py);
    `tariffs.change_tariffs` records a change at a given instant.
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="tariff_periods")
    tariff = models.ForeignKey(Tariff, on_delete=models.CASCADE, related_name="account_periods")
    start = models.DateTimeField()
    end = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["account", "start", "tariff"]
        indexes = [models.Index(fields=["account", "start"])]

    def __str__(self):
        return f"{self.account} {self.tariff} {self.start:%Y-%m-%d %H:%M}–{self.end or ''}"


class AccountDevice(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="devices")
    play_device = models.ForeignKey(PlayDevice, on_delete=models.PROTECT)
    device_uid = models.CharField(max_length=128, blank=True, help_text="Often the MAC address.")
    brand_name = models.CharField(max_length=100, blank=True)
    device_model = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        unique_together = [("account", "play_device", "device_uid")]


class AccountAuthKey(models.Model):
    """A device login. Devices pass `authkey` with every API call."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="authkeys")
    device = models.ForeignKey(AccountDevice, on_delete=models.CASCADE, related_name="authkeys")
    key = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)


class Payment(models.Model):
    """A processed customer transaction (Smarty: billing_customertransaction)."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="payments")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="payments")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3, default="EUR")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    processed = models.BooleanField(default=True)
    source = models.CharField(max_length=64, blank=True)

    class Meta:
        db_table = "billing_customertransaction"
        ordering = ["-created_at"]


class ChannelSorting(models.Model):
    """A named channel order apps can ask for with `channel_sort_id`."""

    class Kind(models.IntegerChoices):
        MANUAL = 0
        GENERATED = 1

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="channel_sortings")
    name = models.CharField(max_length=200)
    kind = models.PositiveSmallIntegerField(choices=Kind.choices, default=Kind.MANUAL)
    # What produced a generated sorting: the command's options; a re-run with
    # the same options updates this row instead of adding another.
    generator_key = models.CharField(max_length=300, blank=True, db_index=True)
    parameters = models.JSONField(default=dict, blank=True)
    computed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.name


class ChannelSortingItem(models.Model):
    sorting = models.ForeignKey(ChannelSorting, on_delete=models.CASCADE, related_name="items")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE)
    position = models.PositiveIntegerField()
    metrics = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["sorting", "position"]
        unique_together = [("sorting", "channel")]

    def __str__(self):
        return f"{self.position}. {self.channel.name if self.channel_id else '—'}"


class Selection(models.Model):
    """An ordered set of content shown as a row in apps (Smarty: selection)."""

    class Type(models.IntegerChoices):
        MANUAL = 0
        GENERATED = 1

    class ContentType(models.IntegerChoices):
        CHANNEL = 0
        EPG_PROGRAMME = 1

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="selections")
    name = models.CharField(max_length=200)
    type = models.PositiveSmallIntegerField(choices=Type.choices, default=Type.MANUAL)
    content_type = models.PositiveSmallIntegerField(choices=ContentType.choices)
    is_hidden = models.BooleanField(default=False)
    generator_key = models.CharField(max_length=300, blank=True, db_index=True)
    parameters = models.JSONField(default=dict, blank=True)
    computed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.name


class SelectionItem(models.Model):
    selection = models.ForeignKey(Selection, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField()
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.CASCADE)
    programme = models.ForeignKey(EpgProgramme, null=True, blank=True, on_delete=models.CASCADE)
    metrics = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["selection", "position"]

    def __str__(self):
        if self.programme_id:
            return f"{self.position}. {self.programme.title}"
        return f"{self.position}. {self.channel.name if self.channel_id else '—'}"
