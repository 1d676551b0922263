"""The caches behind the "Dynamics of subscribers" tab (SQL, as since Smarty 2.8).

Pages read only these tables, never raw sessions. Every row belongs to one
client; `client_id` is a plain integer (the host's Client id) so the app
does not depend on the host's models.
"""
from django.conf import settings
from django.db import models
from django.db.models import Q


class FillState(models.Model):
    """How far one series of one client is filled (Zulip's watermark).

    DONE at end_time: every bucket ending at or before end_time is final.
    STARTED at end_time: a run was writing the day chunk (max online; a
    bucket, for releases before count buckets were written in transactions)
    ending at end_time and may have died half-way; the next run rolls it back.

    `zone` is the time zone the buckets were cut in: a fill state whose zone
    is not the operator's (or that SMARTYSTATS_USE_UTC no longer gives) marks
    stale caches, which pages refuse and the next fill rebuilds
    (smartystats.rebuild). `start_time` is where the fill began, so a rebuild
    covers the same history.
    """

    DONE = 1
    STARTED = 2
    STATES = [(DONE, "done"), (STARTED, "started")]

    client_id = models.PositiveIntegerField()
    series = models.CharField(max_length=64)
    end_time = models.DateTimeField()
    state = models.PositiveSmallIntegerField(choices=STATES)
    zone = models.CharField(max_length=64, default="UTC")
    start_time = models.DateTimeField(null=True, blank=True)
    last_modified = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client_id", "series"], name="fillstate_uniq")]

    def __str__(self):
        return (f"{self.client_id} {self.series} {self.get_state_display()} "
                f"{self.end_time:%Y-%m-%d %H:%M} ({self.zone})")


class Count(models.Model):
    """One bucket of one chart series, labelled by the bucket's end.

    series names follow Zulip's `name:subgroup:frequency`. Zero buckets are
    not stored; readers fill gaps up to the series' FillState.
    """

    client_id = models.PositiveIntegerField()
    series = models.CharField(max_length=64)
    subgroup = models.CharField(max_length=64, null=True, blank=True)
    end_time = models.DateTimeField()
    value = models.DecimalField(max_digits=20, decimal_places=2)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client_id", "series", "subgroup", "end_time"],
                                    condition=Q(subgroup__isnull=False), name="count_uniq_sub"),
            models.UniqueConstraint(fields=["client_id", "series", "end_time"],
                                    condition=Q(subgroup__isnull=True), name="count_uniq_nosub"),
        ]
        indexes = [models.Index(fields=["client_id", "series", "end_time"], name="count_read")]


class MaxOnline(models.Model):
    """Peak concurrency of one local hour or one local day (see smartystats.online).

    `bucket_start` is the instant the hour or day began in the zone of the
    max-online fill state.
    """

    HOUR = "hour"
    DAY = "day"

    client_id = models.PositiveIntegerField()
    frequency = models.CharField(max_length=4, choices=[(HOUR, "hour"), (DAY, "day")])
    bucket_start = models.DateTimeField()
    accounts = models.PositiveIntegerField()
    customers = models.PositiveIntegerField()
    # A day row is written hour by hour; it is final once the whole day is.
    complete = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client_id", "frequency", "bucket_start"],
                                               name="maxonline_uniq")]
        verbose_name = "max online"
        verbose_name_plural = "max online"


class OnlineNow(models.Model):
    """The latest "online now" measurement of a client."""

    client_id = models.PositiveIntegerField(unique=True)
    measured_at = models.DateTimeField()
    accounts = models.PositiveIntegerField()
    customers = models.PositiveIntegerField()

    class Meta:
        verbose_name_plural = "online now"


class StatsSnapshot(models.Model):
    """What `save_stats` saw: the widgets' current-state numbers.

    "Today" and "this month" are those of `zone`; `customer_status` says
    where customers' active status came from (see subscribers.py).
    """

    client_id = models.PositiveIntegerField()
    taken_at = models.DateTimeField()
    data = models.JSONField()
    zone = models.CharField(max_length=64, default="UTC")
    customer_status = models.CharField(max_length=16, default="accounts")

    class Meta:
        indexes = [models.Index(fields=["client_id", "-taken_at"], name="snapshot_latest")]
        get_latest_by = "taken_at"


class DailyStats(models.Model):
    """One local day (of `zone`) of one client, written whole by `collect_daily_stats`."""

    client_id = models.PositiveIntegerField()
    day = models.DateField()
    new_customers = models.PositiveIntegerField()
    new_accounts = models.PositiveIntegerField()
    deactivated_accounts = models.PositiveIntegerField()
    paying_customers = models.PositiveIntegerField(help_text="Customers with a payment that day, any currency.")
    payments_count = models.PositiveIntegerField(help_text="All currencies.")
    zone = models.CharField(max_length=64, default="UTC")
    collected_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client_id", "day"], name="dailystats_uniq")]
        verbose_name_plural = "daily stats"


class DailyPayments(models.Model):
    """Payments of one local day (of `zone`) in one currency: the payment report's rows."""

    client_id = models.PositiveIntegerField()
    day = models.DateField()
    currency = models.CharField(max_length=3)
    payments_sum = models.DecimalField(max_digits=20, decimal_places=2)
    payments_count = models.PositiveIntegerField()
    paying_customers = models.PositiveIntegerField()
    zone = models.CharField(max_length=64, default="UTC")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client_id", "day", "currency"],
                                               name="dailypayments_uniq")]
        verbose_name_plural = "daily payments"


class IndexWidgets(models.Model):
    """Which Dynamics widgets a user shows on the admin index page."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="smartystats_index_widgets")
    widgets = models.JSONField(default=list)


class Dynamics(models.Model):
    """No table: puts "Dynamics of subscribers" in the admin index."""

    class Meta:
        managed = False
        default_permissions = ()
        verbose_name = "Dynamics of subscribers"
        verbose_name_plural = "Dynamics of subscribers"
