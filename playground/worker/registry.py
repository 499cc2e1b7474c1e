"""This worker process in the Worker table: written when Celery says the worker is ready, kept fresh
by the heartbeat (hardware, GPUs, its Cog servers), and removed when the worker stops. Pages,
/healthz and the waiting runs read it to say which hardware has a worker."""

from django.conf import settings
from django.utils import timezone

from playground.models import Worker
from playground.worker import leases
from playground.worker.pool import get_pool


def beat() -> None:
    Worker.objects.update_or_create(name=leases.WORKER_ID, defaults={
        "hardware": list(settings.COGMILL_WORKER_HARDWARE), "gpus": list(settings.COGMILL_WORKER_GPUS),
        "instances": get_pool().snapshot(), "heartbeat_at": timezone.now(),
    })


def register() -> None:
    """This process is a worker (Celery's worker_ready): its row, and the heartbeat that keeps it."""
    Worker.objects.filter(name=leases.WORKER_ID).delete()  # a pid reused on this machine
    beat()
    if beat not in leases.ALSO_ON_HEARTBEAT:
        leases.ALSO_ON_HEARTBEAT.append(beat)
    leases.ensure_heartbeat()


def unregister() -> None:
    if beat in leases.ALSO_ON_HEARTBEAT:
        leases.ALSO_ON_HEARTBEAT.remove(beat)
    Worker.objects.filter(name=leases.WORKER_ID).delete()
