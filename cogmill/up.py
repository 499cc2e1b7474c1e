"""`make run`: migrate, then supervise web + worker + beat (and the embedded Redis), push the
examples, and stop everything on Ctrl-C or SIGTERM.

A child that exits on its own is started again after a backoff (1 s, doubling to 30 s, reset once
it has stayed up a minute), and the launcher says so. Runs a dead worker held are handed back at
once (failed if they had reached the model, queued again if not) instead of waiting for their
leases to run out. Stopping (Ctrl-C, SIGTERM, SIGHUP) sends SIGTERM to every child: the worker
finishes its running work for up to COGMILL_STOP_GRACE_SECONDS (a second Ctrl-C cuts that short),
then whatever is left is killed and handed back the same way, and the embedded Redis is stopped.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cogmill.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from cogmill import embedded_redis  # noqa: E402
from cogmill.celery import app  # noqa: E402
from playground.worker import leases, reaper  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIRST_BACKOFF, MAX_BACKOFF, STABLE_SECONDS = 1.0, 30.0, 60.0


def commands(port: int) -> dict[str, list[str]]:
    python = sys.executable
    return {
        # This machine's hardware: COGMILL_WORKER_HARDWARE, _GPUS, _NAME, _CONCURRENCY (cogmill/worker.py).
        "worker": [python, "-m", "cogmill.worker"],
        "beat": [python, "-m", "celery", "-A", "cogmill", "beat", "--loglevel", "INFO"],
        "web": [python, "-m", "uvicorn", "cogmill.asgi:application", "--host", os.environ.get("HOST", "127.0.0.1"),
                "--port", str(port), "--timeout-graceful-shutdown", "5"],
    }


@dataclass
class Child:
    name: str
    cmd: list[str]
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    backoff: float = FIRST_BACKOFF
    restart_at: float | None = None
    env: dict[str, str] = field(default_factory=dict)

    def start(self) -> None:
        # In the launcher's process group: closing the terminal ends them with it.
        self.proc = subprocess.Popen(self.cmd, cwd=ROOT, env=self.env)
        self.started_at = time.monotonic()
        self.restart_at = None


def say(message: str) -> None:
    print(f"cogmill: {message}", file=sys.stderr, flush=True)


def hand_back(child: Child) -> None:
    """Runs the dead worker held end or go back to the queue now (the database is the truth)."""
    if child.name != "worker" or child.proc is None:
        return
    try:
        failed, requeued = reaper.abandon_worker(leases.worker_id(child.proc.pid))
    except Exception as exc:  # the database may be the thing that is down; the reaper catches up
        say(f"could not hand back the worker's runs yet ({type(exc).__name__}); the reaper will")
        return
    if failed or requeued:
        say(f"the worker's runs were handed back: {failed} failed, {requeued} queued again")


REDIS_CHECKS_BEFORE_RESTART = 3


class Supervisor:
    def __init__(self, port: int, env: dict[str, str], embedded: bool):
        self.children = [Child(name, cmd, env=env) for name, cmd in commands(port).items()]
        self.embedded = embedded
        self.stopping = threading.Event()
        self.forced = threading.Event()  # a second Ctrl-C: no grace
        self.redis_misses = 0

    def on_signal(self, signum, frame) -> None:
        if self.stopping.is_set():
            say("stopping now")
            self.forced.set()
        self.stopping.set()

    def run(self) -> None:
        for child in self.children:
            child.start()
        while not self.stopping.wait(0.5):
            self._keep_redis()
            for child in self.children:
                self._keep(child)

    def _keep_redis(self) -> None:
        if not self.embedded:
            return
        self.redis_misses = 0 if embedded_redis.answers(settings.DATA_DIR) else self.redis_misses + 1
        if self.redis_misses >= REDIS_CHECKS_BEFORE_RESTART:  # not one slow answer: it is gone
            self.redis_misses = 0
            say("the embedded Redis stopped; starting it again")
            try:
                embedded_redis.ensure(settings.DATA_DIR)
            except Exception as exc:
                say(f"the embedded Redis did not start: {exc}")

    def _keep(self, child: Child) -> None:
        now = time.monotonic()
        if child.restart_at is not None:
            if now >= child.restart_at:
                say(f"starting {child.name} again")
                child.start()
            return
        code = child.proc.poll()
        if code is None:
            if now - child.started_at > STABLE_SECONDS:
                child.backoff = FIRST_BACKOFF
            return
        say(f"{child.name} exited with code {code}; starting it again in {child.backoff:.0f}s")
        hand_back(child)
        child.restart_at = now + child.backoff
        child.backoff = min(child.backoff * 2, MAX_BACKOFF)

    def stop(self) -> None:
        """SIGTERM to all; the worker gets the grace period to finish; the rest is killed."""
        live = [c for c in self.children if c.proc is not None and c.proc.poll() is None]
        for child in live:
            child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + settings.COGMILL_STOP_GRACE_SECONDS
        while any(c.proc.poll() is None for c in live) and time.monotonic() < deadline:
            self.forced.wait(0.2)
            if self.forced.is_set():
                break
        for child in live:
            if child.proc.poll() is None:
                say(f"{child.name} did not stop in time; killing it")
                child.proc.kill()
                child.proc.wait()
        for child in self.children:
            hand_back(child)
        if self.embedded:
            embedded_redis.stop(settings.DATA_DIR)


def wait_for_worker(timeout: float = 60) -> None:
    """Builds run on the worker: give it a moment to come up before pushing."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not app.control.ping(timeout=1.0):
        pass


def push_examples() -> None:
    """The examples pushed, built and described (examples/catalog.yaml), each with its default example
    run: the catalogue's `first` ones before Cogmill says it is ready, the rest after, while it serves
    (all before, with EXAMPLES=all). Explore shows the builds still going."""
    wait_for_worker()
    everything = os.environ.get("EXAMPLES", "").strip().lower() == "all"
    load_examples(first=not everything)
    print(f"Cogmill is ready at {settings.PUBLIC_URL}", flush=True)
    if not everything:
        say("building the other examples in the background (Explore shows their progress)")
        load_examples(rest=True)
        say("every example is built")


def load_examples(**which: bool) -> None:
    try:
        call_command("load_examples", **which)
    except Exception as exc:  # a broken example must not stop the server: it says what failed
        say(f"examples: {exc}")


def main() -> int:
    call_command("migrate", interactive=False, verbosity=0)
    if settings.COGMILL_SANDBOX_ACTIVE:
        say(f"models run sandboxed (bubblewrap); who may push: {settings.COGMILL_PUSH}")
    else:
        say(f"models run WITHOUT a sandbox ({settings.COGMILL_SANDBOX_MISSING}); "
            f"who may push: {settings.COGMILL_PUSH}")
    env = {**os.environ, "REDIS_URL": settings.REDIS_URL}  # children share this process's Redis
    supervisor = Supervisor(settings.PORT, env, embedded=settings.REDIS_EMBEDDED)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, supervisor.on_signal)
    if os.environ.get("COGMILL_SKIP_EXAMPLES") != "1":
        threading.Thread(target=push_examples, daemon=True).start()
    try:
        supervisor.run()
    finally:
        say("stopping")
        supervisor.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
