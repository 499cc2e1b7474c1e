"""Spend: the prices hardware had, the ledger of what runs cost, and monthly limits.

The ledger is append-only: an entry is written once, when the run it bills ends, and never changed
or deleted (the queryset and the model refuse both); deleting a run's data keeps its entry.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone


class HardwarePrice(models.Model):
    """A price a hardware SKU had from `valid_from` on: runs are billed at the one in force when they
    started, so a new price applies to new work only."""

    hardware = models.ForeignKey("playground.Hardware", on_delete=models.CASCADE, related_name="prices")
    price_per_second = models.DecimalField(max_digits=12, decimal_places=8)
    valid_from = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-valid_from", "-id"]

    def __str__(self) -> str:
        return f"{self.hardware.sku} at {self.price_per_second}/s from {self.valid_from:%Y-%m-%d %H:%M}"


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("ledger entries are never changed")

    def delete(self):
        raise TypeError("ledger entries are never deleted")


class SpendEntry(models.Model):
    """What one run cost, billed to an account (a person, or the organization whose model or
    deployment a member ran)."""

    class Kind(models.TextChoices):
        PREDICTION = "prediction"
        TRAINING = "training"
        INSTANCES = "instances"  # a deployment's kept-warm instances, idle, for one hour

    account = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="spend_entries")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")  # who started it
    token = models.ForeignKey("accounts.ApiToken", null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="spend_entries")  # None: started from a web page
    token_name = models.CharField(max_length=100, blank=True)  # as it was: a revoked token's spend keeps its name
    source = models.CharField(max_length=8)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    run_id = models.CharField(max_length=26)  # for INSTANCES: `<deployment id>@<hour, UTC>`
    # As they were when it ran: names outlive what they name.
    model = models.CharField(max_length=200)
    version = models.CharField(max_length=64)
    deployment = models.CharField(max_length=200, blank=True)
    hardware = models.CharField(max_length=64)
    seconds = models.DecimalField(max_digits=14, decimal_places=3)
    price_per_second = models.DecimalField(max_digits=12, decimal_places=8)
    cost = models.DecimalField(max_digits=18, decimal_places=8)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "run_id"], name="one_entry_per_run")]
        indexes = [models.Index(fields=["account", "created_at"])]
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "spend entries"

    def __str__(self) -> str:
        return f"{self.kind} {self.run_id}: {self.cost}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise TypeError("ledger entries are never changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("ledger entries are never deleted")


class InstanceHour(models.Model):
    """Instance-seconds a deployment with min_instances above 0 had up in one hour (UTC), added up
    as the hour goes (beat); once the hour is over its idle part becomes one ledger entry."""

    deployment = models.ForeignKey("playground.Deployment", null=True, on_delete=models.SET_NULL,
                                   related_name="instance_hours")
    deployment_name = models.CharField(max_length=200)
    account = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField()
    instance_seconds = models.DecimalField(max_digits=14, decimal_places=3, default=0)
    accrued_until = models.DateTimeField()
    # What ran on them then (the last release's): what the entry names.
    model = models.CharField(max_length=200)
    version = models.CharField(max_length=64)
    hardware = models.CharField(max_length=64)
    billed = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["deployment_name", "hour"], name="one_row_per_deployment_hour")]
        ordering = ["-hour"]

    def __str__(self) -> str:
        return f"{self.deployment_name} {self.hour:%Y-%m-%d %H}:00: {self.instance_seconds}s"


class SpendLimit(models.Model):
    """A monthly hard limit on an account's spend, or on what one API token may start. The row is
    also what concurrent creates for the account take turns on (services/billing.py)."""

    account = models.OneToOneField(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                                   related_name="spend_limit")
    token = models.OneToOneField("accounts.ApiToken", null=True, blank=True, on_delete=models.CASCADE,
                                 related_name="spend_limit")
    monthly_limit = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    # Set by staff: the account can not change or lift it (an operator's cap on people it hosts).
    locked = models.BooleanField(default=False)
    # The alerts sent this month (80 and 100, percent), so each is sent once a month.
    alerted_month = models.CharField(max_length=7, blank=True)  # YYYY-MM
    alerted_percent = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [models.CheckConstraint(
            condition=models.Q(account__isnull=False) ^ models.Q(token__isnull=False), name="limit_of_one_thing")]

    def __str__(self) -> str:
        return f"limit {self.monthly_limit} for {self.account or self.token}"
