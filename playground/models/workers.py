"""The workers that run models: what hardware each serves and what it runs, as each says itself."""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from cogmill import sql


class WorkerQuerySet(models.QuerySet):
    def live(self) -> "WorkerQuerySet":
        """Workers that said they are alive within COGMILL_WORKER_STALE_SECONDS."""
        return self.filter(heartbeat_at__gte=Worker.live_since())

    def serving(self, sku: str) -> list[str]:
        """The names of live workers that read the queue of hardware `sku` (a handful of rows: read
        in Python, as SQLite has no JSON containment; on the cursor, as every new run asks)."""
        rows = sql.fetch(f"SELECT name, hardware FROM {sql.quote(Worker._meta.db_table)} WHERE heartbeat_at >= %s",
                         [sql.value(Worker, "heartbeat_at", Worker.live_since())])
        return [name for name, hardware in rows if sku in (sql.read(Worker, "hardware", hardware) or [])]


class Worker(models.Model):
    """One worker process (`name` is its claim name, `<worker name>:<pid>`), kept up to date by its
    heartbeat; a row that stops beating is a worker that is gone."""

    name = models.CharField(max_length=200, unique=True)
    hardware = models.JSONField(default=list)  # SKUs whose queues it reads
    gpus = models.JSONField(default=list)
    started_at = models.DateTimeField(default=timezone.now)
    heartbeat_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = WorkerQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_live(self) -> bool:
        return self.heartbeat_at >= Worker.live_since()

    @staticmethod
    def live_since(now=None):
        """The oldest heartbeat of a worker still taken for alive (COGMILL_WORKER_STALE_SECONDS ago)."""
        return (now or timezone.now()) - timedelta(seconds=settings.COGMILL_WORKER_STALE_SECONDS)


class InstanceState(models.TextChoices):
    REQUESTED = "requested"  # asked for; no worker has taken it yet
    BOOTING = "booting"
    READY = "ready"
    STOPPING = "stopping"  # finishes its runs, then stops


class InstanceQuerySet(models.QuerySet):
    def counted(self) -> "InstanceQuerySet":
        """Instances that count toward a deployment's size: asked for, booting or up on a live worker
        (not stopping)."""
        return self.exclude(state=InstanceState.STOPPING).filter(
            models.Q(worker__isnull=True) | models.Q(worker__heartbeat_at__gte=Worker.live_since()))


class Instance(models.Model):
    """One Cog server a worker keeps (or is asked to keep) for a version or a deployment release.

    The worker writes its boot, readiness and stop; its heartbeat writes how busy it is. A
    deployment's scaler asks for instances by writing `requested` rows and marks extra ones
    `stopping`; the worker that holds one follows its row (worker/fleet.py).
    """

    id = models.CharField(primary_key=True, max_length=32)
    worker = models.ForeignKey(Worker, to_field="name", null=True, blank=True, on_delete=models.CASCADE,
                               related_name="instance_rows")
    key = models.CharField(max_length=200, db_index=True)  # the pool's name for what it serves
    version = models.ForeignKey("playground.Version", on_delete=models.CASCADE, related_name="instances")
    release = models.ForeignKey("playground.DeploymentRelease", null=True, blank=True, on_delete=models.CASCADE,
                                related_name="instances")
    mode = models.CharField(max_length=10, default="predict")
    state = models.CharField(max_length=10, choices=InstanceState.choices, default=InstanceState.REQUESTED)
    # Kept up however idle: one of its deployment's `min_instances`.
    pinned = models.BooleanField(default=False)
    in_use = models.PositiveIntegerField(default=0)
    slots = models.PositiveIntegerField(default=1)
    pid = models.PositiveIntegerField(null=True, blank=True)
    devices = models.JSONField(default=list, blank=True)
    boot_seconds = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    state_since = models.DateTimeField(default=timezone.now)

    objects = InstanceQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.key} on {self.worker_id or '(no worker yet)'}"

    @property
    def shown_state(self) -> str:
        """booting / ready / busy / stopping, as pages show it (`requested`: waiting for a worker)."""
        if self.state == InstanceState.READY and self.in_use:
            return "busy"
        return self.state
