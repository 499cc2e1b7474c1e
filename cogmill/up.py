"""`make run`: migrate, start web + worker + beat, push the examples, stop all on Ctrl-C."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cogmill.settings")
django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
STOP_GRACE_SECONDS = 15


def _worker_queues() -> str:
    return os.environ.get("COGMILL_WORKER_QUEUES", "celery,hw.cpu")


def commands(port: int) -> dict[str, list[str]]:
    python = sys.executable
    return {
        "worker": [python, "-m", "celery", "-A", "cogmill", "worker", "--pool", "threads",
                   "--concurrency", os.environ.get("COGMILL_WORKER_CONCURRENCY", "4"),
                   "--queues", _worker_queues(), "--loglevel", "INFO", "--without-gossip", "--without-mingle"],
        "beat": [python, "-m", "celery", "-A", "cogmill", "beat", "--loglevel", "INFO"],
        "web": [python, "-m", "uvicorn", "cogmill.asgi:application", "--host", os.environ.get("HOST", "127.0.0.1"),
                "--port", str(port), "--timeout-graceful-shutdown", "5"],
    }


def wait_for_worker(timeout: float = 60) -> None:
    """Builds run on the worker: give it a moment to come up before pushing."""
    from cogmill.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not app.control.ping(timeout=1.0):
        pass


def push_examples() -> None:
    wait_for_worker()
    for folder in sorted(p for p in EXAMPLES.iterdir() if (p / "cog.yaml").exists()):
        try:
            call_command("push_model", str(folder), f"cogmill/{folder.name}")
        except Exception as exc:  # one broken example must not stop the server
            print(f"example {folder.name} did not build: {exc}", file=sys.stderr)
    print(f"Cogmill is ready at {settings.PUBLIC_URL}", flush=True)


def stop(procs: dict[str, subprocess.Popen]) -> None:
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for proc in procs.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> int:
    call_command("migrate", interactive=False, verbosity=0)
    env = {**os.environ, "REDIS_URL": settings.REDIS_URL}  # children share this process's Redis
    procs = {name: subprocess.Popen(cmd, cwd=ROOT, env=env) for name, cmd in commands(settings.PORT).items()}
    stopping = threading.Event()

    def on_signal(signum, frame):
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    if os.environ.get("COGMILL_SKIP_EXAMPLES") != "1":
        threading.Thread(target=push_examples, daemon=True).start()
    while not stopping.wait(0.5):
        dead = [name for name, proc in procs.items() if proc.poll() is not None]
        if dead:
            print(f"{', '.join(dead)} exited; stopping Cogmill", file=sys.stderr)
            break
    stop(procs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
