"""Beat's sweep, every COGMILL_REAP_INTERVAL_SECONDS: no run is stuck, none is lost.

- A run whose lease ran out lost its worker: it is handed back (failed with its streamed output
  and logs if it had reached the model, queued again if not, canceled if its owner asked).
- A run waiting to start that no worker has claimed since it was queued is queued again, at
  growing intervals (its message may have been lost with a broker or a worker; a duplicate
  message does nothing, since a run is claimed by its row).
- A run past its deadline is canceled (its worker cancels a running one at the deadline itself;
  this catches queued runs and workers that missed it).
- A run no worker took in QUEUED_TOO_LONG, or still running well past its kind's time limit
  while its worker lives, is failed.
"""

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from playground.models import LIVE, RUN_KINDS, Run, Status, Worker
from playground.services import runs

QUEUED_TOO_LONG = 6 * 3600
MAX_REQUEUE_DOUBLINGS = 6
WORKER_STOPPED = "the worker running it stopped"


def reap_stuck_runs() -> int:
    now = timezone.now()
    handled = 0
    for kind in RUN_KINDS:
        live = kind.objects.select_related("model__hardware").filter(status__in=LIVE)
        for run in live.filter(deadline__lt=now):
            runs.cancel(run)
            handled += 1
        for run in live.filter(Q(lease_expires_at__lt=now) | Q(status=Status.PROCESSING, lease_expires_at=None)):
            runs.hand_back(run, WORKER_STOPPED)
            handled += 1
        for run in _lost_messages(live, now):
            handled += runs.requeue(run)
        handled += _fail_overdue(live, now)
    return handled


def _lost_messages(live, now) -> list[Run]:
    after = timedelta(seconds=settings.COGMILL_REQUEUE_AFTER_SECONDS)
    waiting = live.filter(status=Status.STARTING, lease_expires_at__isnull=True, dispatched_at__lt=now - after)
    return [run for run in waiting if now - run.dispatched_at >= after * _backoff(run)]


def _backoff(run: Run) -> int:
    return 2 ** min(max(run.dispatches - 1, 0), MAX_REQUEUE_DOUBLINGS)


def _fail_overdue(live, now) -> int:
    running_limit = now - timedelta(seconds=live.model.timeout_seconds() + 120)
    queued_limit = now - timedelta(seconds=QUEUED_TOO_LONG)
    overdue = [*live.filter(status=Status.PROCESSING, started_at__lt=running_limit),
               *live.filter(status=Status.STARTING, created_at__lt=queued_limit)]
    for run in overdue:
        reason = ("it ran past its time limit" if run.status == Status.PROCESSING
                  else "no worker took it in time")
        runs.end(run, Status.FAILED, output=run.output, logs=run.logs,
                 error=f"{run._meta.verbose_name} abandoned: {reason}", metrics=run.metrics)
    return len(overdue)


def abandon_worker(worker_id: str) -> tuple[int, int]:
    """Hand back every run a worker that is known to be gone still held, and forget the worker:
    (failed, queued again)."""
    Worker.objects.filter(name=worker_id).delete()
    failed = requeued = 0
    for kind in RUN_KINDS:
        for run in kind.objects.select_related("model__hardware").filter(status__in=LIVE, worker=worker_id):
            outcome = runs.hand_back(run, WORKER_STOPPED, held_by=worker_id)
            failed += outcome == Status.FAILED
            requeued += outcome == Status.STARTING
    return failed, requeued
