"""Celery entry points: thin, ids only. Nothing imports this module; `dispatch` queues these tasks
by name, and Celery's autodiscovery registers them."""

from celery import shared_task
from celery.signals import task_prerun, worker_ready, worker_shutdown
from django.db import close_old_connections

from playground import dispatch, webhooks
from playground.models import Deployment
from playground.services import billing, deployments, files
from playground.services import runs as run_services
from playground.worker import builds, fleet, reaper, registry, runs


@shared_task(name=dispatch.BUILD_VERSION)
def build_version(version_pk: int) -> None:
    builds.build_version(version_pk)


# Acknowledged on receipt (as every task here): a run is claimed by its row, and beat queues again a
# run whose message was lost. (Acknowledging at the end would ack over a broker connection that a
# Redis restart may have broken, which crashes kombu's Redis transport.)
@shared_task(name=dispatch.RUN_PREDICTION)
def run_prediction(prediction_id: str) -> None:
    runs.run_prediction(prediction_id)


@shared_task(name=dispatch.RUN_TRAINING)
def run_training(training_id: str) -> None:
    runs.run_training(training_id)


@shared_task(name=dispatch.BOOT_INSTANCE)
def boot_instance(instance_id: str) -> None:
    fleet.boot(instance_id)


@shared_task(name=dispatch.SCALE_DEPLOYMENT)
def scale_deployment(deployment_pk: int) -> None:
    deployment = Deployment.objects.filter(pk=deployment_pk).first()
    if deployment is not None:
        deployments.scale(deployment)


@shared_task(name=dispatch.BILL_INSTANCES)
def bill_instances() -> int:
    return billing.bill_instances()


@shared_task(name=dispatch.SCALE_DEPLOYMENTS)
def scale_deployments() -> int:
    return deployments.scale_all()


@task_prerun.connect
def _usable_connection(sender=None, task=None, **kwargs) -> None:
    """Before each task, as before each web request: the thread's database connection is let go if
    it is too old or broke, and checked before its next use (settings: DB_CONN_MAX_AGE). Not for a
    task run inline (Celery's eager mode): that one runs in its caller's connection and transaction."""
    if getattr(getattr(task, "request", None), "is_eager", False):
        return
    close_old_connections()


@worker_ready.connect
def _register(sender=None, **kwargs) -> None:
    registry.register(hostname=getattr(sender, "hostname", None))


@worker_shutdown.connect
def _stop_instances(**kwargs) -> None:
    fleet.shutdown_pool()
    registry.unregister()


@shared_task(name=dispatch.REAP_STUCK_RUNS)
def reap_stuck_runs() -> int:
    return reaper.reap_stuck_runs()


@shared_task(name=dispatch.SEND_WEBHOOKS)
def send_webhooks(run_id: str) -> None:
    webhooks.send_pending(run_id)


@shared_task(name=dispatch.RETRY_WEBHOOKS)
def retry_webhooks() -> int:
    return webhooks.retry_due()


@shared_task(name=dispatch.PURGE_EXPIRED_UPLOADS)
def purge_expired_uploads() -> int:
    return files.purge_expired_uploads()


@shared_task(name=dispatch.REMOVE_EXPIRED_RUN_DATA)
def remove_expired_run_data() -> int:
    return run_services.remove_expired_data()
