"""The workers that run models: what hardware each serves and what it runs, as each says itself."""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone


class WorkerQuerySet(models.QuerySet):
    def live(self) -> "WorkerQuerySet":
        """Workers that said they are alive within COGMILL_WORKER_STALE_SECONDS."""
        since = timezone.now() - timedelta(seconds=settings.COGMILL_WORKER_STALE_SECONDS)
        return self.filter(heartbeat_at__gte=since)

    def serving(self, sku: str) -> list["Worker"]:
        """Live workers that read the queue of hardware `sku` (a handful of rows: read in Python,
        as SQLite has no JSON containment)."""
        return [worker for worker in self.live() if sku in (worker.hardware or [])]


class Worker(models.Model):
    """One worker process (`name` is its claim name, `<worker name>:<pid>`), kept up to date by its
    heartbeat; a row that stops beating is a worker that is gone."""

    name = models.CharField(max_length=200, unique=True)
    hardware = models.JSONField(default=list)  # SKUs whose queues it reads
    gpus = models.JSONField(default=list)
    instances = models.JSONField(default=list)  # its Cog servers: key, state, in use, since
    started_at = models.DateTimeField(default=timezone.now)
    heartbeat_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = WorkerQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_live(self) -> bool:
        return timezone.now() - self.heartbeat_at <= timedelta(seconds=settings.COGMILL_WORKER_STALE_SECONDS)
