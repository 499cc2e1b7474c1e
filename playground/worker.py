"""What a Celery worker does: build versions and run predictions on Cog servers.

The instance pool and the cancel listener live once per worker process; tasks call in with ids.
"""

import json
import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from playground import events, webhooks
from playground.models import BuildStatus, Prediction, Status, Version
from playground.outputs import OutputFiles
from playground.services import fetchable_input
from runner.build import BuildError, build, parse_cog_yaml, spec_hash
from runner.errors import InstanceError, PoolTimeout
from runner.pool import InstancePool

log = logging.getLogger(__name__)
ROW_SAVE_INTERVAL = 0.5

_pool: InstancePool | None = None
_pool_lock = threading.Lock()
_running: dict[str, object] = {}  # prediction id -> CogInstance running it
_listener_started = False


def get_pool() -> InstancePool:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = InstancePool(idle_seconds=settings.COGMILL_IDLE_SECONDS)
        return _pool


def shutdown_pool() -> None:
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.shutdown()
            _pool = None


# ---------------------------------------------------------------- builds

def build_version(version_pk: int) -> None:
    version = Version.objects.select_related("model").get(pk=version_pk)
    if version.build_status == BuildStatus.READY:
        return
    Version.objects.filter(pk=version_pk).update(build_status=BuildStatus.BUILDING)
    lines: list[str] = []
    try:
        result = build(
            version.src_dir,
            settings.COGMILL_VENVS_DIR,
            log=lines.append,
            allow_root_steps=settings.COGMILL_ALLOW_ROOT_BUILD_STEPS,
        )
    except BuildError as exc:
        Version.objects.filter(pk=version_pk).update(
            build_status=BuildStatus.FAILED, build_error=str(exc), build_log=exc.log or "".join(lines)
        )
        return
    except Exception as exc:  # an unexpected failure must still leave a clear, final state
        log.exception("build of %s crashed", version)
        Version.objects.filter(pk=version_pk).update(
            build_status=BuildStatus.FAILED, build_error=f"internal build error: {exc}", build_log="".join(lines)
        )
        return
    Version.objects.filter(pk=version_pk).update(
        build_status=BuildStatus.READY,
        build_log="".join(lines),
        spec_hash=result.spec_hash,
        cog_version=result.cog_version,
        openapi_schema=result.schema,
    )


# ---------------------------------------------------------------- predictions

class Relay:
    """Hands each Cog event on as it arrives: to the Redis stream at once, to the row within 0.5 s."""

    def __init__(self, prediction: Prediction, iterator: bool):
        self.prediction = prediction
        self.iterator = iterator
        self.files = OutputFiles(prediction)
        self.webhooks = webhooks.Notifier(prediction)
        self.logs = ""
        self.output = [] if iterator else None
        self._lock = threading.Lock()
        self._saved_at = 0.0
        self._timer: threading.Timer | None = None

    def on_event(self, name: str, data: dict) -> None:
        if name == "log":
            text = data.get("data", "")
            with self._lock:
                self.logs += text if text.endswith("\n") else text + "\n"
            events.publish(self.prediction.id, "logs", text.rstrip("\n"))
            self.webhooks.changed("logs")
        elif name == "output":
            chunk = self.files.convert(data.get("chunk"))
            with self._lock:
                if self.iterator:
                    self.output.append(chunk)
                else:
                    self.output = chunk
            events.publish(self.prediction.id, "output", chunk if isinstance(chunk, str) else json.dumps(chunk))
            self.webhooks.changed("output")
        else:
            return
        self._save_soon()

    def _save_soon(self) -> None:
        wait = self._saved_at + ROW_SAVE_INTERVAL - time.monotonic()
        if wait <= 0:
            self._save()
            return
        with self._lock:
            if self._timer is None:
                self._timer = threading.Timer(wait, self._save_from_timer)
                self._timer.daemon = True
                self._timer.start()

    def _save_from_timer(self) -> None:
        try:
            self._save()
        finally:
            connection.close()  # the timer's thread opened its own connection

    def _save(self) -> None:
        with self._lock:
            self._timer = None
            self._saved_at = time.monotonic()
            logs, output = self.logs, list(self.output) if self.iterator else self.output
        if Prediction.objects.filter(pk=self.prediction.pk, status=Status.PROCESSING).update(logs=logs, output=output):
            self.webhooks.flush()

    def close(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None


def run_prediction(prediction_id: str) -> None:
    prediction = Prediction.objects.select_related("version", "model").filter(pk=prediction_id).first()
    if prediction is None or prediction.status != Status.STARTING:
        return  # cancelled before it started, or already handled
    version = prediction.version
    try:
        spec = parse_cog_yaml(version.src_dir)
        venv = settings.COGMILL_VENVS_DIR / (version.spec_hash or spec_hash(spec))
        with get_pool().acquire(version.version_id, version.src_dir, venv, spec) as lease:
            _run_on(prediction, lease)
    except PoolTimeout:  # an InstanceError too, with a message of its own
        _finish(prediction, Status.FAILED, error="every instance of this model stayed busy; try again later")
    except InstanceError as exc:
        logs = getattr(exc, "logs", "") or getattr(exc, "output", "") or ""
        _finish(prediction, Status.FAILED, error=str(exc), logs=logs)
    except Exception as exc:
        log.exception("prediction %s crashed in the worker", prediction_id)
        _finish(prediction, Status.FAILED, error=f"internal error: {exc}")


def _run_on(prediction: Prediction, lease) -> None:
    now = timezone.now()
    if not Prediction.objects.filter(pk=prediction.pk, status=Status.STARTING).update(
        status=Status.PROCESSING, started_at=now
    ):
        return  # canceled while the model booted
    prediction.started_at = now
    webhooks.notify(prediction, "start")
    instance = lease.instance
    relay = Relay(prediction, prediction.version.output_is_iterator())
    _running[prediction.id] = instance
    _ensure_cancel_listener()
    try:
        if events.cancel_requested(prediction.id):
            instance.cancel(prediction.id)
        final = instance.predict(
            prediction.id, fetchable_input(prediction.input), relay.on_event,
            timeout=settings.COGMILL_PREDICTION_TIMEOUT,
        )
    finally:
        _running.pop(prediction.id, None)
        relay.close()
    status = final.get("status", Status.FAILED)
    if status not in {Status.SUCCEEDED, Status.FAILED, Status.CANCELED}:
        status = Status.FAILED
    metrics = dict(final.get("metrics") or {})
    if lease.cold_start_seconds is not None:
        metrics["cold_start_time"] = round(lease.cold_start_seconds, 3)
    output = relay.files.convert(final.get("output")) if "output" in final else relay.output
    _finish(
        prediction,
        status,
        output=output,
        logs=final.get("logs") or relay.logs,
        error=final.get("error"),
        metrics=metrics,
    )


def _finish(prediction: Prediction, status: str, output=None, logs: str = "", error=None, metrics=None) -> None:
    now = timezone.now()
    metrics = metrics or {}
    metrics["total_time"] = round((now - prediction.created_at).total_seconds(), 6)
    if status == Status.FAILED and not error:
        error = "prediction failed"
    Prediction.objects.filter(pk=prediction.pk).update(
        status=status, output=output, logs=logs, error=error, metrics=metrics, completed_at=now
    )
    if status == Status.FAILED:
        events.publish(prediction.id, "error", error or "")
    events.publish(prediction.id, events.DONE, "{}")
    webhooks.notify(prediction, "completed")


def _ensure_cancel_listener() -> None:
    global _listener_started
    with _pool_lock:
        if _listener_started:
            return
        _listener_started = True
    threading.Thread(target=_listen_for_cancels, name="cancel-listener", daemon=True).start()


def _listen_for_cancels() -> None:
    while True:
        try:
            pubsub = events.client().pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe(events.CANCEL_CHANNEL)
            for message in pubsub.listen():
                instance = _running.get(message["data"])
                if instance is not None:
                    instance.cancel(message["data"])
        except Exception:
            log.exception("cancel listener lost its Redis connection; reconnecting")
            time.sleep(1)
        finally:
            close_old_connections()


# ---------------------------------------------------------------- reaper (beat)

QUEUED_TOO_LONG = 6 * 3600


def reap_stuck_predictions() -> int:
    """Fail predictions whose worker died or that no worker took: never stuck forever."""
    from datetime import timedelta

    now = timezone.now()
    running_limit = now - timedelta(seconds=settings.COGMILL_PREDICTION_TIMEOUT + 120)
    queued_limit = now - timedelta(seconds=QUEUED_TOO_LONG)
    stuck = list(
        Prediction.objects.filter(status=Status.PROCESSING, started_at__lt=running_limit)
    ) + list(Prediction.objects.filter(status=Status.STARTING, created_at__lt=queued_limit))
    for prediction in stuck:
        reason = ("the worker running it stopped answering" if prediction.status == Status.PROCESSING
                  else "no worker took it in time")
        _finish(prediction, Status.FAILED, output=prediction.output, logs=prediction.logs,
                error=f"prediction abandoned: {reason}", metrics=prediction.metrics)
    return len(stuck)
