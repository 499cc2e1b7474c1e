"""Handing a running run's Cog events on as they arrive."""

import json
import threading
import time

from django.db import connection

from playground import events, webhooks
from playground.models import Run, Status
from playground.services.files import OutputFiles

ROW_SAVE_INTERVAL = 0.5


class Relay:
    """Each Cog event goes to the run's Redis stream at once (through an outbox that keeps them in
    order through a Redis outage) and to its row within 0.5 s; the row saves drive the throttled
    output/logs webhooks. Unless its webhook wants output or logs (whose first delivery goes at
    once), the first save waits 0.5 s from the start too: a run that ends sooner is written once,
    by its end."""

    def __init__(self, run: Run, iterator: bool):
        self.run = run
        self.iterator = iterator
        self.files = OutputFiles(run)
        self.webhooks = webhooks.Notifier(run)
        self.outbox = events.Outbox(run.id)
        self.preamble = run.logs or ""  # what Cogmill noted before the model ran
        self.logs = ""  # the model's own
        self.output = [] if iterator else None
        self._lock = threading.Lock()
        first_at_once = webhooks.wants(run, webhooks.OUTPUT) or webhooks.wants(run, webhooks.LOGS)
        self._saved_at = 0.0 if first_at_once else time.monotonic()
        self._timer: threading.Timer | None = None

    def on_event(self, name: str, data: dict) -> None:
        if name == "log":
            text = data.get("data", "")
            with self._lock:
                self.logs += text if text.endswith("\n") else text + "\n"
            self.outbox.send(events.LOGS, text.rstrip("\n"))
            self.webhooks.changed(webhooks.LOGS)
        elif name == "output":
            chunk = self.files.convert(data.get("chunk"))
            with self._lock:
                if self.iterator:
                    self.output.append(chunk)
                else:
                    self.output = chunk
            encoded = chunk if isinstance(chunk, str) else json.dumps(chunk)
            if self.iterator:
                self.outbox.send(events.OUTPUT, encoded)
            else:  # a model's one output comes as it ends: it goes to the stream with the end's events
                self.outbox.hold(events.OUTPUT, encoded)
            self.webhooks.changed(webhooks.OUTPUT)
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
            logs, output = self.preamble + self.logs, list(self.output) if self.iterator else self.output
        rows = type(self.run).objects.filter(pk=self.run.pk, status=Status.PROCESSING)
        if rows.update(logs=logs, output=output):
            self.webhooks.flush()

    def close(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
