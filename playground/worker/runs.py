"""Running a run on a Cog server, start to finish: one lifecycle for every kind of run.

A run is taken only while it is `starting`; it becomes `processing` once an instance is ready,
its events are relayed while it runs, and it always ends in a terminal state with its `done`
event and `completed` webhook, whatever fails on the way.
"""

import logging

from django.conf import settings
from django.utils import timezone

from playground import events, webhooks
from playground.models import Prediction, Run, Status
from playground.services.files import fetchable_input
from playground.worker import cancels
from playground.worker.pool import get_pool
from playground.worker.relay import Relay
from runner.build import parse_cog_yaml, spec_hash
from runner.errors import InstanceError, PoolTimeout

log = logging.getLogger(__name__)


def run_prediction(prediction_id: str) -> None:
    prediction = Prediction.objects.select_related("version", "model").filter(pk=prediction_id).first()
    if prediction is None or prediction.status != Status.STARTING:
        return  # cancelled before it started, or already handled
    execute(prediction)


def execute(run: Run) -> None:
    """Run it on an instance of its version; every failure ends it as `failed` with a clear error."""
    version = run.version
    try:
        spec = parse_cog_yaml(version.src_dir)
        venv = settings.COGMILL_VENVS_DIR / (version.spec_hash or spec_hash(spec))
        with get_pool().acquire(version.version_id, version.src_dir, venv, spec) as lease:
            _run_on(run, lease)
    except PoolTimeout:  # an InstanceError too, with a message of its own
        finish(run, Status.FAILED, error="every instance of this model stayed busy; try again later")
    except InstanceError as exc:
        logs = getattr(exc, "logs", "") or getattr(exc, "output", "") or ""
        finish(run, Status.FAILED, error=str(exc), logs=logs)
    except Exception as exc:
        log.exception("run %s crashed in the worker", run.id)
        finish(run, Status.FAILED, error=f"internal error: {exc}")


def _run_on(run: Run, lease) -> None:
    now = timezone.now()
    if not type(run).objects.filter(pk=run.pk, status=Status.STARTING).update(
        status=Status.PROCESSING, started_at=now
    ):
        return  # canceled while the model booted
    run.started_at = now
    webhooks.notify(run, webhooks.START)
    instance = lease.instance
    relay = Relay(run, run.version.schema.output_is_iterator())
    try:
        cancels.running(run.id, instance)
        final = instance.predict(
            run.id, fetchable_input(run.input), relay.on_event, timeout=settings.COGMILL_PREDICTION_TIMEOUT,
        )
    finally:
        cancels.finished(run.id)
        relay.close()
    status = final.get("status", Status.FAILED)
    if status not in {Status.SUCCEEDED, Status.FAILED, Status.CANCELED}:
        status = Status.FAILED
    metrics = dict(final.get("metrics") or {})
    if lease.cold_start_seconds is not None:
        metrics["cold_start_time"] = round(lease.cold_start_seconds, 3)
    output = relay.files.convert(final.get("output")) if "output" in final else relay.output
    finish(run, status, output=output, logs=final.get("logs") or relay.logs, error=final.get("error"),
           metrics=metrics)


def finish(run: Run, status: str, output=None, logs: str = "", error=None, metrics=None) -> None:
    """Record the end state, then tell the stream's readers and the webhook."""
    now = timezone.now()
    metrics = metrics or {}
    metrics["total_time"] = round((now - run.created_at).total_seconds(), 6)
    if status == Status.FAILED and not error:
        error = f"{run._meta.verbose_name} failed"
    type(run).objects.filter(pk=run.pk).update(
        status=status, output=output, logs=logs, error=error, metrics=metrics, completed_at=now
    )
    if status == Status.FAILED:
        events.publish(run.id, events.ERROR, error or "")
    events.publish(run.id, events.DONE, "{}")
    webhooks.notify(run, webhooks.COMPLETED)
