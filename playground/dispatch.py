"""The only place that queues work: task names, queue names and when a message is sent.

Tasks are sent by name, so nothing imports `playground.tasks` (the worker side) to queue one, and
web processes never load the worker or the Cog runtime. Work that a new row describes is sent once that row is committed: a worker
that takes the message always finds it.

Queues: `hw.<sku>` for runs on a hardware SKU (workers consume the SKUs they have), and the
default queue for builds, webhooks and beat's sweeps.
"""

import functools

from django.db import transaction

from cogmill.celery import app

BUILD_VERSION = "playground.build_version"
RUN_PREDICTION = "playground.run_prediction"
SEND_WEBHOOKS = "playground.send_webhooks"
# Beat's (the schedule in settings names them too).
REAP_STUCK_RUNS = "playground.reap_stuck_predictions"
RETRY_WEBHOOKS = "playground.retry_webhooks"
PURGE_EXPIRED_UPLOADS = "playground.purge_expired_uploads"
DEFAULT_QUEUE = "celery"
DEFAULT_HARDWARE = "cpu"


def hardware_queue(sku: str | None) -> str:
    return f"hw.{sku or DEFAULT_HARDWARE}"


@functools.cache
def _tasks():
    """The app's tasks by name, once Celery's autodiscovery has registered them."""
    app.loader.import_default_modules()
    return app.tasks


def _send(task_name: str, args: list, queue: str = DEFAULT_QUEUE, countdown: float | None = None) -> None:
    if app.conf.task_always_eager:  # Celery's inline mode runs the task here, so it needs the task itself
        _tasks()[task_name].apply_async(args=args, queue=queue, countdown=countdown)
    else:
        app.send_task(task_name, args=args, queue=queue, countdown=countdown)


def build_version(version_pk: int) -> None:
    """Build the version's environment once its row is committed."""
    transaction.on_commit(lambda: _send(BUILD_VERSION, [version_pk]))


def run_prediction(prediction_id: str, hardware_sku: str | None) -> None:
    """Run the prediction on its hardware's queue once its row is committed."""
    transaction.on_commit(lambda: _send(RUN_PREDICTION, [prediction_id], hardware_queue(hardware_sku)))


def send_webhooks(run_id: str, countdown: float | None = None) -> None:
    """Send the run's due webhook deliveries (their rows are written before this is called)."""
    _send(SEND_WEBHOOKS, [run_id], countdown=countdown)
