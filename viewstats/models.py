"""SQL models of viewstats: who may send sessions and who may read reports.

Sessions themselves live in MongoDB (see store.py); these rows are small and
edited by operators in the admin. An operator is referred to by its plain id
(`client_id`, the host's operator id), so the suite has no foreign key into,
and no migration dependency on, the middleware's tables.
"""
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone


def new_token():
    return secrets.token_urlsafe(32)


class MediaServer(models.Model):
    """A streaming server (e.g. Flussonic) that pushes play-session events.

    The server authenticates with `token`; the row decides the client, so
    nothing in the events can attribute sessions to another operator.
    """

    client_id = models.PositiveBigIntegerField("operator", db_index=True)
    name = models.CharField(max_length=200)
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False,
                             help_text="Put it in the server's event sink as "
                                       "'Authorization: Bearer <token>'.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    addresses = models.TextField(
        "addresses", blank=True,
        help_text="The server's IP addresses or networks (CIDR), one per line or separated by "
                  "commas. A play session of any of this operator's servers whose viewer address "
                  "is one of these is another server pulling a stream: it is counted as "
                  "inter-server traffic, not as a viewer.")

    class Meta:
        ordering = ["id"]
        verbose_name = "media server"

    def __str__(self):
        return self.name


class OperatorStaff(models.Model):
    """Which operator a staff user works for: they see only its statistics.

    The default answer of Host.operator_of_user; a middleware whose users
    already carry their operator overrides that method instead.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="viewstats_operator")
    client_id = models.PositiveBigIntegerField("operator", db_index=True)

    class Meta:
        verbose_name = "operator staff member"
        verbose_name_plural = "operator staff"

    def __str__(self):
        return f"{self.user} @ {self.client_id}"


class ApiToken(models.Model):
    """A per-user key scripts pass as 'Authorization: Token <key>'."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="viewstats_token")
    key = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = "API token"

    def __str__(self):
        return f"token of {self.user}"


class ViewingReport(models.Model):
    """No table: gives the reports an entry in the admin's index."""

    class Meta:
        managed = False
        verbose_name = "Viewing statistics report"
        verbose_name_plural = "Viewing statistics reports"
        default_permissions = ()


class CommandRun(models.Model):
    """How the last runs of a statistics command ended, for monitoring.

    Cron starts every command as a process of its own, which is gone before
    Prometheus scrapes: the command guard (command_guard.py) writes this row
    when a run from the shell ends, and the web process's /viewstats/metrics
    reads it (viewstats/metrics.py).
    """

    command = models.CharField(max_length=100, unique=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_success_seconds = models.FloatField(null=True, blank=True, help_text="How long that run took.")
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_exit_status = models.IntegerField(null=True, blank=True, help_text="Of the last failed run.")

    class Meta:
        ordering = ["command"]
        verbose_name = "command run"

    def __str__(self):
        return self.command
