"""One Cog HTTP server process (coglet) for a model version, and a client for it."""

from __future__ import annotations

import json
import os
import queue
import re
import secrets
import shutil
import signal
import socket
import socketserver
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from . import daemons
from . import sandbox as sandboxes
from .egress import Allow
from .envs import venv_env
from .errors import BootTimeout, InstanceDied, SetupFailed
from .procs import spawn
from .spec import BuildSpec
from .sse import iter_events

EventCallback = Callable[[str, dict[str, Any]], None]

# Health values coglet reports, plus two of ours for a server we cannot ask.
READY, BUSY, STARTING = "READY", "BUSY", "STARTING"
SETUP_FAILED, UNHEALTHY, DEFUNCT = "SETUP_FAILED", "UNHEALTHY", "DEFUNCT"
DEAD, UNREACHABLE = "DEAD", "UNREACHABLE"
# States from which an instance never serves again: replace it.
BROKEN = frozenset({SETUP_FAILED, UNHEALTHY, DEFUNCT, DEAD, UNREACHABLE})

BUSY_RETRIES = 25
CANCEL_GRACE = 10.0
# coglet sends an SSE keep-alive every 15 s, so a minute of silence means trouble.
STREAM_READ_TIMEOUT = 60.0
_DEADLINE_POLL = 0.5
_EOF = "_eof"


PREDICT, TRAIN = "predict", "train"


class CogInstance:
    """A Cog server (``python -m cog.server.http``) serving one model version.

    ``predict()`` may be called from several threads at once, up to ``slots``.
    Model processes get an allowlisted environment (see ``runner.envs``) plus
    cog.yaml's ``environment`` and ``extra_env`` (e.g. ``COG_WEIGHTS``).

    In ``mode`` TRAIN the server runs cog.yaml's ``train`` instead (``--x-mode train``, its own
    process, one training at a time) and ``predict()`` runs a training on its /trainings routes.

    With a ``sandbox`` config the server runs inside a sandbox (``runner.sandbox``) and is reached
    through its unix socket; a run that hits one of the sandbox's limits fails saying which, and
    the instance is ``spoiled``: its owner replaces it. It reaches nothing outside unless
    ``egress`` lets it (``runner.egress``).
    """

    def __init__(
        self,
        src_dir: Path,
        venv: Path,
        spec: BuildSpec,
        extra_env: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
        mode: str = PREDICT,
        sandbox: sandboxes.SandboxConfig | None = None,
        egress: Allow | None = None,
    ) -> None:
        if mode not in (PREDICT, TRAIN):
            raise ValueError(f"mode must be {PREDICT!r} or {TRAIN!r}, not {mode!r}")
        if mode == TRAIN and not spec.train:
            raise ValueError("cog.yaml has no train field: this model cannot be trained")
        self.src_dir = Path(src_dir)
        self.venv = Path(venv)
        self.spec = spec
        self.extra_env = dict(extra_env or {})
        self.host = host
        self.mode = mode
        self.collection = "trainings" if mode == TRAIN else "predictions"
        self.slots = 1 if mode == TRAIN else spec.concurrency_max
        self.port: int | None = None
        self.files_port: int | None = None  # where the server fetches a run's input files
        self.started_at: float | None = None
        self.ready_seconds: float | None = None
        self.last_used = time.monotonic()
        self.process: subprocess.Popen[bytes] | None = None
        self.output_log: Path | None = None  # the server's stdout+stderr; removed by stop()
        self._client: httpx.Client | None = None
        self._stream_client: httpx.Client | None = None
        self._started = 0.0
        self._cancel_requested: set[str] = set()
        self._lock = threading.Lock()
        self._hook_server: _HookServer | None = None
        self.sandbox_config = sandbox
        self.egress = egress  # what it may reach outside its sandbox (runner.egress); nothing when None
        self.sandbox: sandboxes.Sandbox | None = None
        self.spoiled: str | None = None  # why this instance must not serve again, once a run broke a limit
        self._inputs: Path | None = None

    # -- process lifecycle -------------------------------------------------

    def start(self) -> None:
        """Spawn the server in its own process group; returns immediately."""
        if self.sandbox_config is not None:
            weights = self.extra_env.get("COG_WEIGHTS", "")  # a trained version's weights file, if local
            files = [Path(weights)] if weights and Path(weights).is_file() else []
            self.sandbox = self.sandbox_config.open(self.venv, self.src_dir, self._gpu_devices(), files)
            self.port, self.files_port = sandboxes.COG_PORT, sandboxes.FILES_PORT
            self._inputs = self.sandbox.inputs_dir
            log_path = str(self.sandbox.dir / "server.log")
            fd = os.open(log_path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
            inside = [str(self.venv / "bin" / "python"), sandboxes.LAUNCHER_INSIDE, *self.sandbox.lifeline,
                      "--limits", self.sandbox.limits.option(), *self.sandbox.serve(self.port),
                      "--files", sandboxes.INPUTS_INSIDE, str(self.files_port)]
            if self.mode == TRAIN:
                inside += ["--forward", str(sandboxes.HOOK_PORT), f"{sandboxes.RUN_INSIDE}/{sandboxes.HOOK_SOCKET}"]
            if self.egress is not None:
                inside += self.sandbox.allow_egress(self.egress)
            command = self.sandbox.command([*inside, "--", "--host", "127.0.0.1", *self._mode_args()],
                                           self._env(sandboxes.SITE_INSIDE))
            env = sandboxes.CLEAN_ENV
        else:
            self.port, self.files_port = _free_port(self.host), _free_port(self.host)
            self._inputs = Path(tempfile.mkdtemp(prefix="cogmill-inputs-"))
            fd, log_path = tempfile.mkstemp(prefix=f"cogmill-{self.port}-", suffix=".log")
            command = [str(self.venv / "bin" / "python"), str(sandboxes.LAUNCHER), "--watch", str(os.getpid()), log_path,
                       "--files", str(self._inputs), str(self.files_port),
                       "--", "--host", self.host, *self._mode_args()]
            env = self._env(str(sandboxes.SITE))
        self.output_log = Path(log_path)
        with os.fdopen(fd, "wb") as log_file:
            self.process = spawn(
                command,
                cwd=self.src_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                pass_fds=self.sandbox.pass_fds if self.sandbox is not None else (),
            )
        if self.sandbox is not None:
            self.sandbox.note_started(self.process.pid)
        self.started_at = time.time()
        self._started = time.monotonic()
        self._client = self._new_client(timeout=10.0)
        # A stream on a reused TCP connection waits ~40 ms for its first event (coglet leaves
        # Nagle on and our ACK is delayed); a fresh connection does not. In a sandbox the stream
        # goes over a unix socket to the relay, which acknowledges Cog's segments at once: kept.
        limits = httpx.Limits() if self.sandbox is not None else httpx.Limits(max_keepalive_connections=0)
        self._stream_client = self._new_client(timeout=httpx.Timeout(10.0, read=STREAM_READ_TIMEOUT), limits=limits)

    def _new_client(self, **options: Any) -> httpx.Client:
        if self.sandbox is not None:
            transport = httpx.HTTPTransport(uds=str(self.sandbox.cog_socket), limits=options.pop(
                "limits", httpx.Limits()))
            return httpx.Client(base_url=f"http://127.0.0.1:{self.port}", transport=transport, **options)
        return httpx.Client(base_url=f"http://{self.host}:{self.port}", **options)

    def _mode_args(self) -> tuple[str, ...]:
        return ("--x-mode", TRAIN) if self.mode == TRAIN else ()

    def _gpu_devices(self) -> tuple[str, ...]:
        visible = self.extra_env.get("CUDA_VISIBLE_DEVICES", "")
        return tuple(device for device in visible.split(",") if device)

    # -- input files -------------------------------------------------------

    def input_folder(self, run_id: str) -> Path:
        """A fresh folder for one run's input files, which the model may read but not change;
        ``input_url`` says where the Cog server fetches a file put there (it copies it into the
        model's own temporary folder). Removed by ``drop_inputs``."""
        if self._inputs is None:
            raise RuntimeError("instance not started")
        folder = self._inputs / run_id
        folder.mkdir(mode=0o755, exist_ok=True)
        return folder

    def input_url(self, host_path: Path) -> str:
        if self._inputs is None:
            raise RuntimeError("instance not started")
        return f"http://127.0.0.1:{self.files_port}/{quote(Path(host_path).relative_to(self._inputs).as_posix())}"

    def drop_inputs(self, run_id: str) -> None:
        if self._inputs is not None:
            shutil.rmtree(self._inputs / run_id, ignore_errors=True)

    def _env(self, site: str) -> dict[str, str]:
        """The server's environment; `site` (runner/_site, as the server sees it) goes first on its
        PYTHONPATH, so a run that raises leaves its traceback in the logs."""
        env = venv_env(self.venv, {**dict(self.spec.environment), **self.extra_env})
        env.update(PORT=str(self.port), COG_PREDICT_TYPE_STUB=self.spec.predict, COG_MAX_CONCURRENCY=str(self.slots))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (site, env.get("PYTHONPATH", "")) if p)
        if self.mode == TRAIN and self.spec.train:
            env["COG_TRAIN_TYPE_STUB"] = self.spec.train
        return env

    def wait_ready(self, timeout: float) -> None:
        """Poll /health-check until READY; raise SetupFailed, InstanceDied or BootTimeout.

        Sets ``ready_seconds``: the time from ``start()`` to READY (the cold start).
        """
        deadline = time.monotonic() + timeout
        delay = 0.02
        while time.monotonic() < deadline:
            if not self.alive():
                raise InstanceDied(self._exit_code(), self.output_tail())
            info = self.health_info(timeout=2.0)
            status = info.get("status")
            if status in (READY, BUSY):
                self.ready_seconds = time.monotonic() - self._started
                self.last_used = time.monotonic()
                return
            if status == SETUP_FAILED:
                error = (info.get("setup") or {}).get("logs", "")
                raise SetupFailed(self._setup_failure_logs(error), _setup_error(error))
            if status == DEFUNCT:
                raise InstanceDied(None, self.output_tail())
            time.sleep(delay)
            delay = min(delay * 1.5, 0.25)
        raise BootTimeout(timeout, self.output_tail())

    def _setup_failure_logs(self, error: str) -> str:
        """What setup() printed, then coglet's error.

        On failure coglet's health-check keeps only the error; the prints are in
        the server's own (JSON lines) output, tagged ``coglet::setup``.
        """
        printed = [_setup_message(line) for line in self.output_tail(1 << 20).splitlines()]
        return "\n".join([line for line in printed if line is not None] + [error]).strip() + "\n"

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def health(self) -> str:
        """coglet's status (READY, BUSY, STARTING, SETUP_FAILED, UNHEALTHY, DEFUNCT, ...),
        ``DEAD`` if the process has exited, ``UNREACHABLE`` if it does not answer."""
        return str(self.health_info().get("status", UNREACHABLE))

    def health_info(self, timeout: float = 5.0) -> dict[str, Any]:
        if not self.alive():
            return {"status": DEAD}
        try:
            info = self._http().get("/health-check", timeout=timeout).json()
        except (httpx.HTTPError, ValueError):
            return {"status": UNREACHABLE}
        return info if isinstance(info, dict) else {"status": UNREACHABLE}

    def stop(self, grace: float = 5.0) -> None:
        """Ask the server to shut down, then SIGTERM/SIGKILL its whole process group."""
        if self.process is None:
            return
        if self.alive():
            try:
                self._http().post("/shutdown", timeout=1.0)
            except httpx.HTTPError:
                pass
            self._wait(grace)
        if self.alive():
            self._signal_group(signal.SIGTERM)
            self._wait(3.0)
        # Also catches a worker subprocess that outlived its parent.
        self._signal_group(signal.SIGKILL)
        self.process.wait()
        for client in (self._client, self._stream_client):
            if client is not None:
                client.close()
        if self._hook_server is not None:
            self._hook_server.close()
        if self.output_log is not None:
            self.output_log.unlink(missing_ok=True)
        if self.sandbox is not None:
            self.sandbox.close()
        elif self._inputs is not None:
            shutil.rmtree(self._inputs, ignore_errors=True)

    def output_tail(self, max_bytes: int = 16384) -> str:
        """The last part of the server's stdout/stderr, for diagnostics."""
        if self.output_log is None or not self.output_log.exists():
            return ""
        with open(self.output_log, "rb") as handle:
            handle.seek(max(0, self.output_log.stat().st_size - max_bytes))
            return handle.read().decode("utf-8", "replace")

    def _wait(self, seconds: float) -> None:
        assert self.process is not None
        try:
            self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            pass

    def _exit_code(self) -> int | None:
        assert self.process is not None
        try:
            return self.process.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            return None

    def _signal_group(self, sig: signal.Signals) -> None:
        assert self.process is not None
        try:
            os.killpg(self.process.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _http(self) -> httpx.Client:
        if self._client is None:
            raise RuntimeError("instance not started")
        return self._client

    def _streams(self) -> httpx.Client:
        if self._stream_client is None:
            raise RuntimeError("instance not started")
        return self._stream_client

    # -- predictions -------------------------------------------------------

    def predict(
        self,
        prediction_id: str,
        input: dict[str, Any],
        on_event: EventCallback | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Run a prediction, calling ``on_event(name, data)`` for each SSE event as it arrives.

        Returns the final prediction (coglet's ``completed`` payload: id, status,
        output, logs, error, metrics; ``output`` is absent when a failure left
        none, as coglet itself does). Never raises for model or server trouble:
        invalid input (422), a busy or dead server, a lost connection or the
        ``timeout`` all come back as ``status: failed`` with an ``error``.
        Exceptions raised by ``on_event`` cancel the prediction and propagate.

        Inputs set to None are left out: coglet's validator rejects an explicit
        null even for a nullable input, while an absent one gets its default.

        In TRAIN mode it runs a training. coglet refuses SSE for trainings, so the training is
        created asynchronously with a webhook to this instance's own receiver, whose state updates
        become the same events (start, log, completed).
        """
        self.last_used = time.monotonic()
        sent = {k: v for k, v in input.items() if v is not None}
        try:
            if self.mode == TRAIN:
                return self._within_limits(self._train(prediction_id, sent, on_event, timeout))
            opened = self._open_stream(prediction_id, sent)
            if isinstance(opened, dict):
                return opened
            return self._within_limits(_StreamReader(self, prediction_id, opened, on_event, timeout).run())
        finally:
            with self._lock:
                self._cancel_requested.discard(prediction_id)
            self.last_used = time.monotonic()

    def _within_limits(self, result: dict[str, Any]) -> dict[str, Any]:
        """A failure that came of a sandbox limit says which, and spoils the instance."""
        if self.sandbox is None or result.get("status") != "failed":
            return result
        reason = result.get("_limit") or _limit_broken(self.sandbox.limits, result)
        result.pop("_limit", None)
        if reason is None:
            return result
        self.spoiled = reason
        return {**result, "error": reason}

    def cancel(self, prediction_id: str) -> bool:
        """Cancel a running prediction; one that has not reached the server yet is
        canceled as soon as it does. Returns whether the server knew the id."""
        with self._lock:
            self._cancel_requested.add(prediction_id)
        return self._post_cancel(prediction_id)

    def _post_cancel(self, prediction_id: str) -> bool:
        try:
            response = self._http().post(f"/{self.collection}/{prediction_id}/cancel", timeout=5.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def _cancel_pending(self, prediction_id: str) -> bool:
        """Whether ``cancel()`` was called for a prediction still running here."""
        with self._lock:
            return prediction_id in self._cancel_requested

    def _open_stream(self, prediction_id: str, input: dict[str, Any]) -> httpx.Response | dict[str, Any]:
        """PUT /predictions/{id} asking for SSE; our id makes cancel work.

        Returns the streaming response, or a failed result dict.
        """
        body = {"id": prediction_id, "input": input}
        return self._put(prediction_id, body, {"Accept": "text/event-stream"}, stream=True)

    def _put(self, run_id: str, body: dict[str, Any], headers: dict[str, str], stream: bool
             ) -> httpx.Response | dict[str, Any]:
        """PUT /{predictions,trainings}/{id}: the accepted response, or a failed result dict.

        coglet answers 409 for a slot that frees just after the previous response, so 409 is
        retried briefly before giving up.
        """
        client = self._streams() if stream else self._http()
        delay = 0.005
        fresh_tried = False
        for attempt in range(BUSY_RETRIES):
            try:
                request = client.build_request("PUT", f"/{self.collection}/{run_id}", json=body, headers=headers)
                response = client.send(request, stream=stream)
            except (httpx.RemoteProtocolError, httpx.WriteError) as exc:
                # A kept connection the other end closed meanwhile: once more, on a new one (were it
                # Cog that took the run before it went, the run's id is taken: 409, then busy).
                if fresh_tried or not self.alive():
                    return self.failure_after_error(run_id, exc)
                fresh_tried = True
                continue
            except httpx.HTTPError as exc:
                return self.failure_after_error(run_id, exc)
            if response.status_code in (200, 202):
                return response
            response.read()
            response.close()
            if response.status_code != 409:
                return _rejected(run_id, response)
            if attempt == 2 and (status := self.health()) in BROKEN:
                # A crashed worker leaves coglet answering 409 forever.
                return failed_result(run_id, f"Model server is unhealthy ({status})")
            time.sleep(delay)
            delay = min(delay * 2, 0.1)
        return failed_result(run_id, f"Model server is busy: all {self.slots} slot(s) in use")

    def _train(self, training_id: str, input: dict[str, Any], on_event: EventCallback | None,
               timeout: float | None) -> dict[str, Any]:
        reader = _WebhookReader(self, training_id, on_event, timeout)
        hook = self._hooks().listen(reader.on_state)
        try:
            body = {"id": training_id, "input": input, "webhook": hook.url,
                    "webhook_events_filter": ["start", "output", "logs", "completed"]}
            accepted = self._put(training_id, body, {"Prefer": "respond-async"}, stream=False)
            return accepted if isinstance(accepted, dict) else reader.run()
        finally:
            hook.close()

    def _hooks(self) -> _HookServer:
        with self._lock:
            if self._hook_server is None:
                if self.sandbox is not None:
                    self._hook_server = _HookServer(self.host, socket_path=self.sandbox.hook_socket,
                                                    port=sandboxes.HOOK_PORT)
                else:
                    self._hook_server = _HookServer(self.host)
            return self._hook_server

    def failure_after_error(self, prediction_id: str, exc: Exception, logs: str = "") -> dict[str, Any]:
        """The result for a prediction whose connection to the server broke."""
        code = self._exit_code_soon()
        if code is not None:
            return failed_result(prediction_id, f"Model server died: exit code {code}", logs)
        return failed_result(prediction_id, f"Model server died: connection lost ({exc})", logs)

    def _exit_code_soon(self) -> int | None:
        """The exit code if the process exits within a moment (it may be dying)."""
        if self.process is None:
            return None
        try:
            return self.process.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            return None


class _StreamReader:
    """Reads one prediction's SSE stream on a helper thread and dispatches events
    on the caller's thread, so a slow ``on_event`` never stalls coglet's stream
    (a lagging subscriber loses events there)."""

    def __init__(
        self,
        instance: CogInstance,
        prediction_id: str,
        response: httpx.Response,
        on_event: EventCallback | None,
        timeout: float | None,
    ) -> None:
        self.instance = instance
        self.prediction_id = prediction_id
        self.response = response
        self.on_event = on_event
        self.deadline = time.monotonic() + timeout if timeout else None
        self.timeout = timeout
        self.timed_out = False
        self.cancel_sent = False
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.logs: list[str] = []
        self.over_limit: str | None = None  # set when the run used more CPU time than the sandbox allows
        sandbox = instance.sandbox
        self.cpu_limit = sandbox.limits.cpu_seconds if sandbox is not None else 0
        self.cpu_start: float | None = None  # read at the first check (_check_cpu)
        self.cpu_checked = time.monotonic()

    def run(self) -> dict[str, Any]:
        daemons.run_soon(self._pump, name=f"sse-{self.prediction_id}")
        try:
            return self._dispatch()
        except BaseException:
            self.instance._post_cancel(self.prediction_id)
            raise
        finally:
            self._close()

    def _close(self) -> None:
        if self.response is not None:
            self.response.close()

    def _pump(self) -> None:
        try:
            for name, data in iter_events(self.response.iter_lines()):
                self.events.put((name, data))
        except Exception as exc:  # noqa: BLE001 - thread boundary: always report the end
            self.events.put((_EOF, exc))
            return
        self.events.put((_EOF, None))

    def _dispatch(self) -> dict[str, Any]:
        while True:
            if result := self._check_deadline():
                return result
            try:
                name, raw = self.events.get(timeout=_DEADLINE_POLL)
            except queue.Empty:
                continue
            if name == _EOF:
                return self._ended_early(raw)
            data = _json(raw)
            if name == "start" and not self.cancel_sent and self.instance._cancel_pending(self.prediction_id):
                self.cancel_sent = self.instance._post_cancel(self.prediction_id)
            if name == "log":
                self.logs.append(str(data.get("data", "")))
            if self.on_event is not None:
                self.on_event(name, data)
            if name == "completed":
                return self._final(data)
            if name == "error":
                self.instance._post_cancel(self.prediction_id)
                return self._partial_failure(f"Lost events from the model server: {data.get('error', data)}")

    def _check_deadline(self) -> dict[str, Any] | None:
        self._check_cpu()
        if self.deadline is None or time.monotonic() < self.deadline:
            return None
        if not self.timed_out:
            self.timed_out = True
            self.instance._post_cancel(self.prediction_id)
            self.deadline = time.monotonic() + CANCEL_GRACE
            return None
        # Still running after the cancel's grace: its slot would stay taken, so the instance goes.
        self.instance.spoiled = self.instance.spoiled or "a run ignored its cancel"
        return self._partial_failure(self._timeout_message())

    def _check_cpu(self) -> None:
        """Once a second, stop a run whose instance has spent more CPU time on it than allowed.

        The count starts at the first check, a second into the run: reading a sandbox's CPU time
        looks through /proc, which would cost every run, most of them over long before a second."""
        if not self.cpu_limit or self.over_limit or time.monotonic() - self.cpu_checked < 1.0:
            return
        self.cpu_checked = time.monotonic()
        spent = self.instance.sandbox.cpu_seconds() if self.instance.sandbox is not None else None
        if spent is None:
            return
        if self.cpu_start is None:
            self.cpu_start = spent
        elif spent - self.cpu_start > self.cpu_limit:
            self.over_limit = f"The model used more than {self.cpu_limit:g} s of CPU time on this run"
            self.timed_out = True
            self.instance._post_cancel(self.prediction_id)
            self.deadline = time.monotonic() + CANCEL_GRACE

    def _final(self, data: dict[str, Any]) -> dict[str, Any]:
        result = dict(data)
        result.setdefault("id", self.prediction_id)
        if result.get("status") == "failed" and isinstance(result.get("error"), str):
            result["error"] = model_error(result["error"])
        if self.timed_out:
            result.update(status="failed", error=self._timeout_message())
        if self.over_limit:
            result["_limit"] = self.over_limit
        return result

    def _ended_early(self, exc: Exception | None) -> dict[str, Any]:
        if self.timed_out:
            return self._partial_failure(self._timeout_message())
        error = exc or ConnectionError("stream ended before the prediction completed")
        return self.instance.failure_after_error(self.prediction_id, error, logs="".join(self.logs))

    def _partial_failure(self, error: str) -> dict[str, Any]:
        result = failed_result(self.prediction_id, error, logs="".join(self.logs))
        if self.over_limit:
            result["_limit"] = self.over_limit
        return result

    def _timeout_message(self) -> str:
        noun = "Training" if self.instance.mode == TRAIN else "Prediction"
        return f"{noun} timed out after {self.timeout:g}s"


class _WebhookReader(_StreamReader):
    """A training's updates, as coglet's webhooks bring them (each one the whole state so far),
    turned into the events a prediction's stream has: start, a log event per new stretch of logs,
    and completed. A server that dies meanwhile ends it like a broken stream."""

    TERMINAL = frozenset({"succeeded", "failed", "canceled"})
    # With no news this long, ask the server: idle while we wait means the last webhook was lost.
    QUIET_SECONDS = 30.0

    def __init__(self, instance: CogInstance, training_id: str, on_event: EventCallback | None,
                 timeout: float | None) -> None:
        super().__init__(instance, training_id, None, on_event, timeout)  # type: ignore[arg-type]
        self.logs_seen = 0
        self.started = False
        self.ended = threading.Event()
        self.heard_at = time.monotonic()
        self._state_lock = threading.Lock()  # webhooks may arrive on several receiver threads

    def on_state(self, state: dict[str, Any]) -> None:
        """Called on a receiver thread for each webhook (or with `_error` when one could not be read)."""
        with self._state_lock:
            if self.ended.is_set():
                return
            self.heard_at = time.monotonic()
            if "_error" in state:
                self.ended.set()
                self.events.put((_EOF, RuntimeError(state["_error"])))
                return
            if not self.started:
                self.started = True
                self.events.put(("start", json.dumps({"id": self.prediction_id, "status": "processing"})))
            logs = str(state.get("logs") or "")
            if len(logs) > self.logs_seen:
                self.events.put(("log", json.dumps({"data": logs[self.logs_seen:], "source": "stdout"})))
                self.logs_seen = len(logs)
            if state.get("status") in self.TERMINAL:
                self.ended.set()
                self.events.put(("completed", json.dumps(state)))

    def _pump(self) -> None:
        while not self.ended.wait(_DEADLINE_POLL):
            if not self.instance.alive():
                self.events.put((_EOF, ConnectionError("the model server exited")))
                return
            if time.monotonic() - self.heard_at > self.QUIET_SECONDS:
                self.heard_at = time.monotonic()
                if self.instance.health() == READY:  # idle: the training ended and its last update is lost
                    self.events.put((_EOF, ConnectionError("the model server's last update never arrived")))
                    return

    def _ended_early(self, exc: Exception | None) -> dict[str, Any]:
        if self.timed_out or not self.instance.alive():
            return super()._ended_early(exc)
        self.instance._post_cancel(self.prediction_id)
        return self._partial_failure(f"The training ended without its result: {exc}")

    def _close(self) -> None:
        self.ended.set()


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class _Hook:
    def __init__(self, server: _HookServer, token: str) -> None:
        self.server, self.token = server, token
        self.url = f"http://{server.host}:{server.port}/{token}"

    def close(self) -> None:
        self.server.forget(self.token)


class _HookServer:
    """Receives one instance's training webhooks on the loopback interface. Each training listens
    on a path of its own, an unguessable token: a post to any other path is refused, so no other
    process on the machine can feed a training made-up updates."""

    # The whole state comes in each webhook, file outputs (the weights) as base64 data URIs.
    MAX_BODY = 256 * 1024 * 1024

    def __init__(self, host: str, socket_path: Path | None = None, port: int = 0) -> None:
        self.host = host
        self._listeners: dict[str, Callable[[dict[str, Any]], None]] = {}
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 60  # a connection that sends nothing for this long is dropped
            DRAIN = 64 * 1024

            def do_POST(self) -> None:
                listener = hooks._listeners.get(self.path.lstrip("/"))
                size = int(self.headers.get("Content-Length") or 0)
                if listener is None:
                    # Read what was sent (up to a bound) before answering: closing on unread bytes
                    # resets the connection, and the caller would not see its 404.
                    self.rfile.read(min(size, self.DRAIN))
                    self.send_response(404)
                    self.end_headers()
                    return
                if size > hooks.MAX_BODY:
                    self.send_response(413)
                    self.end_headers()
                    listener({"_error": f"its result is over {hooks.MAX_BODY // 2**20} MB, more than Cogmill "
                                        "takes from a training (weights come back inside it)"})
                    return
                state = _json(self.rfile.read(size).decode("utf-8", "replace"))
                self.send_response(200)
                self.end_headers()
                listener(state)

            def log_message(self, *args: Any) -> None:
                pass

        self._server: socketserver.BaseServer
        if socket_path is not None:  # in a sandbox: its relay forwards the server's posts to this socket
            self._server = _UnixHTTPServer(str(socket_path), Handler)
            socket_path.chmod(0o666)  # the relay inside runs as the sandbox's uid
            self.port = port
        else:
            self._server = ThreadingHTTPServer((host, 0), Handler)
            self.port = self._server.server_address[1]
        self._server.daemon_threads = True  # type: ignore[attr-defined]
        threading.Thread(target=self._server.serve_forever, name="cog-training-hooks", daemon=True).start()

    def listen(self, callback: Callable[[dict[str, Any]], None]) -> _Hook:
        token = secrets.token_urlsafe(24)
        self._listeners[token] = callback
        return _Hook(self, token)

    def forget(self, token: str) -> None:
        self._listeners.pop(token, None)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# What each limit's failure looks like from inside: the error, or the end of the logs.
_LIMIT_SIGNS = {
    "memory_bytes": re.compile(r"\bMemoryError\b|Cannot allocate memory|std::bad_alloc|memory allocation of \d+ bytes"),
    "processes": re.compile(r"can't start new thread|Resource temporarily unavailable|\[Errno 11\]"),
    "open_files": re.compile(r"Too many open files"),
    "file_bytes": re.compile(r"File too large"),
    "scratch_bytes": re.compile(r"No space left on device"),
}


def _limit_broken(limits: sandboxes.Limits, result: dict[str, Any]) -> str | None:
    """The sentence for the sandbox limit a failed run ran into, if its error or logs show one."""
    seen = f"{result.get('error') or ''}\n{str(result.get('logs') or '')[-4096:]}"
    for name, sign in _LIMIT_SIGNS.items():
        value = getattr(limits, name)
        if value and sign.search(seen):
            return limit_message(name, value)
    return None


def limit_message(name: str, value: float) -> str:
    size = f"{value / 2**30:g} GiB" if value >= 2**30 else f"{value / 2**20:g} MiB"
    return {
        "memory_bytes": f"The model used more than {size} of memory",
        "processes": f"The model started more than {value:g} processes and threads",
        "open_files": f"The model opened more than {value:g} files at once",
        "file_bytes": f"The model wrote a file larger than {size}",
        "scratch_bytes": f"The model filled its {size} of scratch space (/tmp)",
    }[name]


def failed_result(prediction_id: str, error: str, logs: str = "") -> dict[str, Any]:
    """A failure the runner reports itself. It has no ``output`` key: any output
    the model produced before failing was already delivered as events."""
    return {"id": prediction_id, "status": "failed", "error": error, "logs": logs, "metrics": {}}


def _rejected(prediction_id: str, response: httpx.Response) -> dict[str, Any]:
    """A failed result for a request coglet refused (422 bad input, 503, 406, ...)."""
    body = _json(response.text)
    if response.status_code == 422 and isinstance(body.get("detail"), list):
        problems = "; ".join(_validation_problem(item) for item in body["detail"])
        return failed_result(prediction_id, f"Invalid input: {problems}")
    message = body.get("error") or body.get("detail") or response.text or response.reason_phrase
    return failed_result(
        prediction_id, f"Model server refused the prediction ({response.status_code}): {message}"
    )


def _validation_problem(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    loc = [str(part) for part in item.get("loc", []) if part not in ("body", "input")]
    return f"{'.'.join(loc)}: {item.get('msg', '')}" if loc else str(item.get("msg", ""))


def _json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {"raw": text}
    return value if isinstance(value, dict) else {"value": value}


def model_error(error: str) -> str:
    """What the model raised, without the prefixes coglet stacks on it:
    ``Prediction failed: Prediction failed: ValueError: kaput`` -> ``ValueError: kaput``, and the same
    with ``Generator iteration error:`` (a streaming model's)."""
    prefixes = r"(?i)^(?:(?:async )?prediction failed:\s*|generator iteration error:\s*)+"
    return re.sub(prefixes, "", error.strip()) or error.strip()


def _setup_error(error: str) -> str:
    """``worker setup failed: ... Setup failed: setup failed: RuntimeError: boom`` -> ``RuntimeError: boom``."""
    return re.split(r"(?i)setup failed:\s*", error.strip())[-1]


def _setup_message(line: str) -> str | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or record.get("target") != "coglet::setup":
        return None
    return str((record.get("fields") or {}).get("message", ""))


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port
