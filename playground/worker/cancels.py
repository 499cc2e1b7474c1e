"""Stopping a running run when its owner cancels it (one listener thread per worker process) or
when its deadline comes (a timer per run)."""

import logging
import threading
import time
from datetime import datetime

from django.db import close_old_connections
from django.utils import timezone

from cogmill.redis import client
from playground import events
from playground.worker import threads

log = logging.getLogger(__name__)

_running: dict[str, object] = {}  # run id -> the CogInstance running it
_deadlines: dict[str, threading.Timer] = {}


def running(run_id: str, instance, deadline: datetime | None = None) -> None:
    """Note that `instance` runs `run_id` (until `finished`): stop it at once if a cancel came first,
    and at its `deadline` if it has not ended by then."""
    _running[run_id] = instance
    threads.start_once("cancel-listener", _listen)
    if deadline is not None:
        timer = threading.Timer((deadline - timezone.now()).total_seconds(), instance.cancel, args=(run_id,))
        timer.daemon = True
        _deadlines[run_id] = timer
        timer.start()
    if events.cancel_requested(run_id):
        instance.cancel(run_id)


def finished(run_id: str) -> None:
    _running.pop(run_id, None)
    timer = _deadlines.pop(run_id, None)
    if timer is not None:
        timer.cancel()


def _listen() -> None:
    while True:
        try:
            pubsub = client().pubsub(ignore_subscribe_messages=True)
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
