import secrets
import uuid

from django.db import models


def subscriber_id():
    return f"sub-{uuid.uuid4().hex[:12]}"


def box_id():
    return str(uuid.uuid4())


def new_token():
    return secrets.token_hex(16)


class Tenant(models.Model):
    title = models.CharField(max_length=100)
    tz = models.CharField(max_length=64, default="UTC")


class BoxKind(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE)
    code = models.CharField(max_length=64)
    label = models.CharField(max_length=100)
    stats_on = models.BooleanField(default=False)


class Package(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE)
    label = models.CharField(max_length=100)


class Genre(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE)
    label = models.CharField(max_length=100)
    position = models.IntegerField(default=0)


class Stream(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE)
    title = models.CharField(max_length=100)
    lcn = models.IntegerField(null=True)
    visible = models.BooleanField(default=True)
    genres = models.ManyToManyField(Genre)


class Broadcast(models.Model):
    stream = models.ForeignKey(Stream, on_delete=models.CASCADE)
    starts = models.DateTimeField()
    stops = models.DateTimeField()
    caption = models.CharField(max_length=200)


class Subscriber(models.Model):
    """A login; there is no customer above it."""

    id = models.CharField(primary_key=True, max_length=40, default=subscriber_id)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE)
    joined_at = models.DateTimeField()


class StatusChange(models.Model):
    """From `at` on the subscriber is `status` ("on", "suspended", "closed")."""

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="statuses")
    at = models.DateTimeField()
    status = models.CharField(max_length=16)


class PackageChange(models.Model):
    """From `at` on the subscriber has exactly the packages in `package_ids` (a snapshot)."""

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="package_changes")
    at = models.DateTimeField()
    package_ids = models.JSONField(default=list)


class Box(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=box_id)
    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="boxes")
    kind = models.CharField(max_length=64)
    token = models.CharField(max_length=64, unique=True, default=new_token)


class Charge(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE)
    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE)
    cents = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    paid_at = models.DateTimeField()
    settled = models.BooleanField(default=True)


class Playlist(models.Model):
    """Channel orders and selections in one table, entries as a JSON list of ids."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE)
    kind = models.CharField(max_length=16)  # "order", "channels", "shows"
    key = models.CharField(max_length=300, blank=True)
    title = models.CharField(max_length=200)
    generated = models.BooleanField(default=False)
    hidden = models.BooleanField(default=False)
    params = models.JSONField(default=dict)
    computed_at = models.DateTimeField(null=True)
    entries = models.JSONField(default=list)
