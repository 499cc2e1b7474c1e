"""Leases: the runs this worker process holds, kept alive by a heartbeat.

A worker claims a run by its row (`worker`, `lease_expires_at`) before it does anything with it,
and renews the lease every third of COGMILL_RUN_LEASE_SECONDS while it holds the run. A worker
that dies stops renewing; beat's reaper then finds the expired lease and fails the run (it had
reached the model) or queues it again (it had not). A second message for the same run, or a
redelivered one, finds the row claimed or finished and does nothing.
"""

import functools
import logging
import os
import threading
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from cogmill import sql
from playground.models import LIVE, Run, Status
from playground.worker import threads

log = logging.getLogger(__name__)

def worker_id(pid: int) -> str:
    """The name a worker process claims runs under (the threads pool runs them in that process)."""
    return f"{settings.COGMILL_WORKER_NAME}:{pid}"


WORKER_ID = worker_id(os.getpid())

_held: dict[str, type[Run]] = {}  # run id -> its kind
_lock = threading.Lock()
# What else the heartbeat keeps fresh (the worker's own row: worker/registry.py).
ALSO_ON_HEARTBEAT: list[Callable[[], object]] = []


def _expiry():
    return timezone.now() + timedelta(seconds=settings.COGMILL_RUN_LEASE_SECONDS)


def claim(kind: type[Run], run_id: str) -> Run | None:
    """Take the run if it waits to start and nobody holds it (never claimed, or its lease ran out);
    the heartbeat keeps it ours. The run as taken (its own columns; its links load when used), or
    None."""
    now = timezone.now()
    expires = sql.column(kind, "lease_expires_at")
    taken = sql.update(kind, {"worker": WORKER_ID, "lease_expires_at": _expiry()},
                       {"id": run_id, "status": Status.STARTING}, returning=_rows(kind),
                       condition=f"{expires} IS NULL OR {expires} < %s",
                       condition_params=[sql.value(kind, "lease_expires_at", now)])
    if not taken:
        return None
    with _lock:
        _held[run_id] = kind
    ensure_heartbeat()
    return taken[0]


@functools.cache
def _rows(kind: type[Run]) -> sql.Table:
    return sql.Table(kind)


def release(run_id: str) -> None:
    with _lock:
        _held.pop(run_id, None)


def held() -> dict[str, type[Run]]:
    with _lock:
        return dict(_held)


def renew() -> int:
    """Push the lease of every run this process holds forward; the ones it lost are forgotten."""
    by_kind: dict[type[Run], list[str]] = {}
    for run_id, kind in held().items():
        by_kind.setdefault(kind, []).append(run_id)
    renewed = 0
    for kind, ids in by_kind.items():
        renewed += kind.objects.filter(pk__in=ids, worker=WORKER_ID, status__in=LIVE).update(
            lease_expires_at=_expiry()
        )
    return renewed


def ensure_heartbeat() -> None:
    threads.start_once("heartbeat", _beat)


def _beat() -> None:
    stop = threading.Event()
    while not stop.wait(settings.COGMILL_RUN_LEASE_SECONDS / 3):
        for step in (renew, *ALSO_ON_HEARTBEAT):
            try:
                step()
            except Exception:
                log.exception("heartbeat: %s failed; retrying at the next beat", step.__name__)
            finally:
                close_old_connections()
