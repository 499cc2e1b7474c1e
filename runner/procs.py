"""Running build steps with their output streamed to a build log."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from .errors import BuildError


def run_logged(
    command: Sequence[str],
    log: Callable[[str], None],
    what: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float | None = None,
) -> None:
    """Run ``command``, streaming its combined output to ``log`` line by line."""
    try:
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            text=True,
            errors="replace",
        )
    except OSError as exc:
        raise BuildError(f"{what} failed: {exc}") from None
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        process.kill()

    watchdog = threading.Timer(timeout, expire) if timeout else None
    if watchdog:
        watchdog.start()
    try:
        with process:
            assert process.stdout is not None
            for line in process.stdout:
                log(line)
    finally:
        if watchdog:
            watchdog.cancel()
    if expired.is_set():
        raise BuildError(f"{what} took longer than {timeout:.0f}s")
    if process.returncode != 0:
        raise BuildError(f"{what} failed (exit code {process.returncode})")
