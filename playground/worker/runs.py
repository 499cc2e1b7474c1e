"""Running a run on a Cog server, start to finish: one lifecycle for every kind of run.

A run is claimed by its row (a lease the heartbeat renews) before anything else, so a duplicate
or redelivered message does nothing. It becomes `processing` once an instance is ready, its events
are relayed while it runs, and it always ends in a terminal state with its `done` event and
`completed` webhook, whatever fails on the way; if this worker dies instead, beat's reaper ends it.
"""

import functools
import logging
import time

from django.db import InterfaceError, OperationalError, close_old_connections
from django.utils import timezone

from cogmill import sql
from playground import sealing, webhooks
from playground.errors import Invalid
from playground.models import (
    LIVE,
    DeploymentRelease,
    Hardware,
    Prediction,
    Run,
    Status,
    Training,
    versions_with_models,
)
from playground.services import runs, trainings
from playground.worker import cancels, fleet, inputs, leases
from playground.worker.relay import Relay
from runner.errors import InstanceError, PoolTimeout
from runner.instance import failed_result

log = logging.getLogger(__name__)
INTERNAL_ERROR = "the worker hit an internal error running it; it has been logged"
ELSEWHERE_REQUEUE_SECONDS = 1.0
# Waits between tries of recording a run's end while the database is away (about two minutes).
END_RETRY_DELAYS = (0.5, 1, 2, 4, 8, 15, 30, 60)


def run_prediction(prediction_id: str) -> None:
    _claim_and_execute(Prediction, prediction_id)


def run_training(training_id: str) -> None:
    _claim_and_execute(Training, training_id)


def _claim_and_execute(kind: type[Run], run_id: str) -> None:
    run = leases.claim(kind, run_id)
    if run is None:
        return  # canceled, finished, or held by another worker
    try:
        _load_links(run)
        execute(run)
    finally:
        leases.release(run_id)


def _load_links(run: Run) -> None:
    """What running it reads with it: its version, model, the model's owner (its name, in the ledger)
    and hardware in one statement; a deployment's release (its pool key and hardware) in another.
    A trained version's base and weights load when used."""
    for version in versions_with_models("v.id = %s", [run.version_id]):
        run.version = version
        if version.model_id == run.model_id:
            run.model = version.model
    if getattr(run, "release_id", None) is not None:
        release, hardware = _releases()
        rows = sql.fetch(f"SELECT {release.columns()}, {hardware.columns()} FROM {sql.quote(release.name)} r "
                         f"JOIN {sql.quote(hardware.name)} h ON h.id = r.hardware_id WHERE r.id = %s", [run.release_id])
        if rows:
            found, found.hardware = release.instances(rows[0], hardware)
            if found.version_id == run.version_id:
                found.version = run.version
            run.release = found


@functools.cache
def _releases() -> tuple[sql.Table, sql.Table]:
    return sql.Table(DeploymentRelease, "r"), sql.Table(Hardware, "h")


def execute(run: Run) -> None:
    """Run it on an instance of its version; every failure ends it as `failed` with a clear error.

    A training gets an instance of its own in train mode, never one that serves predictions.
    """
    relay = None
    if _past_deadline(run):
        return
    try:
        with fleet.slot(run) as lease:
            relay = Relay(run, run.schema.output_is_iterator())
            _run_on(run, lease, relay)
    except fleet.Elsewhere:  # another worker has this deployment's instances: it goes back to their queue
        runs.pass_on(run, leases.WORKER_ID, countdown=ELSEWHERE_REQUEUE_SECONDS)
    except PoolTimeout:  # an InstanceError too, with a message of its own
        _fail(run, relay, "every instance of this model stayed busy; try again later")
    except InstanceError as exc:
        logs = getattr(exc, "logs", "") or getattr(exc, "output", "") or ""
        _fail(run, relay, str(exc), logs=logs)
    except Exception:
        log.exception("run %s crashed in the worker", run.id)
        _fail(run, relay, INTERNAL_ERROR)


def _fail(run: Run, relay: Relay | None, error: str, logs: str = "") -> None:
    """End it as failed, keeping what it streamed before the failure."""
    output = relay.output if relay is not None else None
    kept_logs = (relay.preamble + relay.logs if relay is not None else run.logs or "") + logs
    _end(run, Status.FAILED, output=output, logs=kept_logs, error=error,
         outbox=relay.outbox if relay is not None else None)


def _past_deadline(run: Run) -> bool:
    """End it as canceled if its deadline passed before it started, as Replicate does (never `aborted`)."""
    if run.deadline is None or run.deadline > timezone.now():
        return False
    _end(run, Status.CANCELED, output=None, logs=run.logs, metrics=run.metrics)
    return True


def _run_on(run: Run, lease, relay: Relay) -> None:
    if _past_deadline(run):
        return  # the model booted too late
    now = timezone.now()
    if not sql.update(type(run), {"status": Status.PROCESSING, "started_at": now},
                      {"id": run.pk, "status": Status.STARTING, "worker": leases.WORKER_ID}):
        return  # canceled while the model booted
    run.started_at = now
    webhooks.notify(run, webhooks.START)
    instance = lease.instance
    try:
        cancels.running(run.id, instance, run.deadline)
        try:
            sent = inputs.localize(run, instance)
        except (inputs.Unfetchable, sealing.Unsealable) as exc:
            final = failed_result(run.id, str(exc))
        else:
            final = instance.predict(run.id, sent, relay.on_event, timeout=run.timeout_seconds())
    finally:
        cancels.finished(run.id)
        instance.drop_inputs(run.id)
        relay.close()
    status = final.get("status", Status.FAILED)
    if status not in {Status.SUCCEEDED, Status.FAILED, Status.CANCELED}:
        status = Status.FAILED
    lease.succeeded = status == Status.SUCCEEDED  # its server served it to the end: no health check
    metrics = {**dict(final.get("metrics") or {}), **cold_start(run, lease)}
    output = relay.files.convert(final.get("output")) if "output" in final else relay.output
    error, then = final.get("error"), None
    if status == Status.SUCCEEDED and isinstance(run, Training):
        try:
            publication = trainings.publication(run, output, relay.files)
        except Invalid as exc:
            status, error = Status.FAILED, str(exc)
        else:
            output, then = publication.output, publication.record
    _end(run, status, output=output, logs=relay.preamble + (final.get("logs") or relay.logs), error=error,
         metrics=metrics, outbox=relay.outbox, then=then)


def cold_start(run: Run, lease) -> dict:
    """Cogmill's own metrics beside Replicate's: whether the run waited for its instance to boot
    (`cold_start`), and how long (`boot_time`, seconds)."""
    waited = lease.ready_at - run.created_at.timestamp()
    if waited <= 0:
        return {"cold_start": False}
    boot = lease.instance.ready_seconds or waited
    return {"cold_start": True, "boot_time": round(min(waited, boot), 3)}


def _end(run: Run, status: str, **fields) -> None:
    """runs.end while this worker still holds the run, tried again through a database outage: the
    model's result is not thrown away because the database restarted while the model ran."""
    completed_at = timezone.now()
    mine = {"status": LIVE, "worker": leases.WORKER_ID}
    tried = False
    for delay in (*END_RETRY_DELAYS, None):
        try:
            if runs.end(run, status, where=mine, completed_at=completed_at, **fields):
                return
            if tried and _recorded(run, status, completed_at):  # an earlier try committed; its answer was lost
                runs.announce_end(run, status, fields.get("error"), fields.get("outbox"))
            return
        except (OperationalError, InterfaceError):
            if not tried and fields.get("outbox") is not None:
                fields["outbox"].flush()  # what it held for the end (its output) reaches readers meanwhile
            if delay is None:
                raise
            tried = True
            log.warning("run %s: the database is away; recording its end again in %ss", run.id, delay)
            close_old_connections()
            time.sleep(delay)


def _recorded(run: Run, status: str, completed_at) -> bool:
    return type(run).objects.filter(pk=run.pk, status=status, completed_at=completed_at).exists()
