"""Celery tasks: thin wrappers that call the worker with ids."""

from celery import shared_task
from celery.signals import worker_shutdown

from playground import services, webhooks, worker


@shared_task(name="playground.build_version")
def build_version(version_pk: int) -> None:
    worker.build_version(version_pk)


@shared_task(name="playground.run_prediction")
def run_prediction(prediction_id: str) -> None:
    worker.run_prediction(prediction_id)


@worker_shutdown.connect
def _stop_instances(**kwargs) -> None:
    worker.shutdown_pool()


@shared_task(name="playground.reap_stuck_predictions")
def reap_stuck_predictions() -> int:
    return worker.reap_stuck_predictions()


@shared_task(name="playground.send_webhooks")
def send_webhooks(prediction_id: str) -> None:
    webhooks.send_pending(prediction_id)


@shared_task(name="playground.retry_webhooks")
def retry_webhooks() -> int:
    return webhooks.retry_due()


@shared_task(name="playground.purge_expired_uploads")
def purge_expired_uploads() -> int:
    return services.purge_expired_uploads()
