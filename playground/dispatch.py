"""The only place that queues work: task names, queue names and when a message is sent.

Tasks are sent by name, so nothing imports `playground.tasks` (the worker side) to queue one, and
web processes never load the worker or the Cog runtime. Work that a new row describes is sent once that row is committed: a worker
that takes the message always finds it.

Queues: `hw.<sku>` for runs on a hardware SKU (workers consume the SKUs they have) and for booting
instances on it; `deploy.<owner>.<name>` for a deployment's runs, read by the workers that hold
its instances (they start and stop reading it as they boot and stop them); `builds` and
`webhooks`, so that a machine's builds or a slow receiver never take the place of runs where
workers are given queues of their own (COGMILL_WORKER_QUEUES); and the default queue for scaling
and beat's sweeps.
"""

import functools
import logging

import redis
from django.db import transaction
from kombu.exceptions import OperationalError

from cogmill.celery import app

log = logging.getLogger(__name__)

BUILD_VERSION = "playground.build_version"
RUN_PREDICTION = "playground.run_prediction"
RUN_TRAINING = "playground.run_training"
SEND_WEBHOOKS = "playground.send_webhooks"
BOOT_INSTANCE = "playground.boot_instance"
SCALE_DEPLOYMENT = "playground.scale_deployment"
# Beat's (the schedule in settings names them too).
REAP_STUCK_RUNS = "playground.reap_stuck_predictions"
RETRY_WEBHOOKS = "playground.retry_webhooks"
PURGE_EXPIRED_UPLOADS = "playground.purge_expired_uploads"
REMOVE_EXPIRED_RUN_DATA = "playground.remove_expired_run_data"
SCALE_DEPLOYMENTS = "playground.scale_deployments"
BILL_INSTANCES = "playground.bill_instances"
# The task that runs each kind of run, by the kind's model name.
RUN_TASKS = {"prediction": RUN_PREDICTION, "training": RUN_TRAINING}
DEFAULT_QUEUE = "celery"
BUILD_QUEUE = "builds"
WEBHOOK_QUEUE = "webhooks"
DEFAULT_HARDWARE = "cpu"


def hardware_queue(sku: str | None) -> str:
    return f"hw.{sku or DEFAULT_HARDWARE}"


def deployment_queue(full_name: str) -> str:
    """`deploy.<owner>.<name>` for the deployment `owner/name`."""
    return "deploy." + full_name.replace("/", ".", 1)


@functools.cache
def _tasks():
    """The app's tasks by name, once Celery's autodiscovery has registered them."""
    app.loader.import_default_modules()
    return app.tasks


def _send(task_name: str, args: list, queue: str = DEFAULT_QUEUE, countdown: float | None = None) -> None:
    if app.conf.task_always_eager:  # Celery's inline mode runs the task here, so it needs the task itself
        _tasks()[task_name].apply_async(args=args, queue=queue, countdown=countdown)
    else:  # the arguments are ids: their repr (for monitors) needs none of Celery's safe, truncated one
        # Celery sends to a queue of a direct exchange by its name (the anonymous exchange), which
        # Redis needs no binding for: nothing to declare (kombu would check its cache of declared
        # queues on every send, copying the queue and exchange each time).
        app.send_task(task_name, args=args, queue=queue, countdown=countdown, argsrepr=repr(args), kwargsrepr="{}",
                      declare=[])


def build_version(version_pk: int) -> None:
    """Build the version's environment once its row is committed."""
    transaction.on_commit(lambda: _send(BUILD_VERSION, [version_pk], BUILD_QUEUE))


def run(run, countdown: float | None = None) -> None:
    """Queue a run (any kind) once its row is committed: on its deployment's queue when it was made
    through one, else on its model's hardware queue.

    A broker that does not answer loses nothing: the row waits as `starting`, and beat sends its
    message again once the broker is back (worker/reaper.py).
    """
    task = RUN_TASKS[run._meta.model_name]
    deployment = getattr(run, "deployment", "")
    queue = deployment_queue(deployment) if deployment else hardware_queue(run.hardware_sku)
    transaction.on_commit(lambda: _send_or_leave_to_beat(task, [run.pk], queue, countdown))


def _send_or_leave_to_beat(task_name: str, args: list, queue: str, countdown: float | None = None) -> None:
    try:
        _send(task_name, args, queue, countdown)
    except (OperationalError, redis.RedisError, OSError) as exc:
        log.warning("could not queue %s%s (%s); beat will queue it again", task_name, args, type(exc).__name__)


def send_webhooks(run_id: str, countdown: float | None = None) -> None:
    """Send the run's due webhook deliveries (their rows are written before this is called)."""
    _send(SEND_WEBHOOKS, [run_id], WEBHOOK_QUEUE, countdown=countdown)


def boot_instance(instance_id: str, sku: str) -> None:
    """Ask a worker with hardware `sku` to boot the instance a scaler asked for (its row is written)."""
    transaction.on_commit(lambda: _send_or_leave_to_beat(BOOT_INSTANCE, [instance_id], hardware_queue(sku)))


def scale_deployment(deployment_pk: int) -> None:
    """Have the scaler look at one deployment now, not at its next round."""
    transaction.on_commit(lambda: _send_or_leave_to_beat(SCALE_DEPLOYMENT, [deployment_pk], DEFAULT_QUEUE))
