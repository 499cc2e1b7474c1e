"""Daemon threads kept for the next job: each run's event stream is read on a thread of its own,
and starting a thread for every run costs more than the run's events do. A thread waits
IDLE_SECONDS for its next job, then ends; daemon threads never hold up the worker's exit (a
stream still open when it stops is simply dropped)."""

import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)
IDLE_SECONDS = 60.0

_jobs: queue.SimpleQueue = queue.SimpleQueue()
_idle = 0
_lock = threading.Lock()


def run_soon(job: Callable[[], object], name: str = "daemon") -> None:
    """Run `job` on an idle kept thread (renamed `name` meanwhile), or on a new one when none is
    idle: never queued behind another job."""
    global _idle
    with _lock:
        if _idle:
            _idle -= 1
            _jobs.put((job, name))
            return
    threading.Thread(target=_serve, args=(job, name), name=name, daemon=True).start()


def _serve(job: Callable[[], object] | None, name: str) -> None:
    global _idle
    while job is not None:
        threading.current_thread().name = name
        try:
            job()
        except BaseException:  # noqa: BLE001 - the thread goes on to its next job
            log.exception("%s failed", name)
        job = None  # what it held (a finished stream) is not kept while the thread waits
        with _lock:
            _idle += 1
        try:
            job, name = _jobs.get(timeout=IDLE_SECONDS)
        except queue.Empty:
            with _lock:  # a job handed over just now, under the lock, is in the queue already
                try:
                    job, name = _jobs.get_nowait()
                except queue.Empty:
                    _idle -= 1
