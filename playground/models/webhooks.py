"""Webhook messages: a run's state at an event, retried until delivered or given up."""

from django.conf import settings
from django.db import models
from django.db.models.signals import post_delete
from django.utils import timezone

from playground.models.runs import RUN_KINDS


class WebhookDelivery(models.Model):
    """One message about a run (of any kind: `run_id` is its id), signed with its owner's secret."""

    class State(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    id = models.CharField(primary_key=True, max_length=40, editable=False)
    run_id = models.CharField(max_length=26, db_index=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_deliveries")
    url = models.URLField(max_length=2000)
    event = models.CharField(max_length=16)
    body = models.TextField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.id} {self.event} → {self.url}"


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    attempted_at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    response_excerpt = models.TextField(blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["attempted_at"]


def _delete_deliveries(sender, instance, **kwargs) -> None:
    """A run's messages go with it (there is no foreign key to cascade)."""
    WebhookDelivery.objects.filter(run_id=instance.pk).delete()


for _kind in RUN_KINDS:
    post_delete.connect(_delete_deliveries, sender=_kind, dispatch_uid=f"webhook-deliveries-of-{_kind.__name__}")
