"""This worker process in the Worker table: written when Celery says the worker is ready, kept fresh
by the heartbeat (hardware, GPUs, and through fleet its Cog servers), and removed when the worker stops. Pages,
/healthz and the waiting runs read it to say which hardware has a worker."""

from django.conf import settings
from django.utils import timezone

from playground.models import Worker
from playground.worker import fleet, leases


def beat() -> None:
    Worker.objects.update_or_create(name=leases.WORKER_ID, defaults={
        "hardware": list(settings.COGMILL_WORKER_HARDWARE), "gpus": list(settings.COGMILL_WORKER_GPUS),
        "heartbeat_at": timezone.now(),
    })
    fleet.follow_rows()


def register(hostname: str | None = None) -> None:
    """This process is a worker (Celery's worker_ready, `hostname` its Celery name): its row, and the
    heartbeat that keeps it."""
    fleet.hostname = hostname
    Worker.objects.filter(name=leases.WORKER_ID).delete()  # a pid reused on this machine
    beat()
    if beat not in leases.ALSO_ON_HEARTBEAT:
        leases.ALSO_ON_HEARTBEAT.append(beat)
    leases.ensure_heartbeat()


def unregister() -> None:
    if beat in leases.ALSO_ON_HEARTBEAT:
        leases.ALSO_ON_HEARTBEAT.remove(beat)
    Worker.objects.filter(name=leases.WORKER_ID).delete()
