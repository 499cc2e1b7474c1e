"""Beat's sweep: runs whose worker died or that no worker took are failed, never stuck forever."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from playground.models import RUN_KINDS, Status
from playground.worker.runs import finish

QUEUED_TOO_LONG = 6 * 3600


def reap_stuck_runs() -> int:
    now = timezone.now()
    running_limit = now - timedelta(seconds=settings.COGMILL_PREDICTION_TIMEOUT + 120)
    queued_limit = now - timedelta(seconds=QUEUED_TOO_LONG)
    stuck = []
    for kind in RUN_KINDS:
        stuck += list(kind.objects.filter(status=Status.PROCESSING, started_at__lt=running_limit))
        stuck += list(kind.objects.filter(status=Status.STARTING, created_at__lt=queued_limit))
    for run in stuck:
        reason = ("the worker running it stopped answering" if run.status == Status.PROCESSING
                  else "no worker took it in time")
        finish(run, Status.FAILED, output=run.output, logs=run.logs,
               error=f"prediction abandoned: {reason}", metrics=run.metrics)
    return len(stuck)
