"""Running build steps with their output streamed to a build log."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .errors import BuildError

# One thread that lives as long as the process starts every child: bubblewrap's --die-with-parent
# (PR_SET_PDEATHSIG) fires when the *thread* that started it ends, so a child started from a
# short-lived thread (a run's, a boot's) would be killed with it.
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cogmill-spawner")


def spawn(command: Sequence[str], **options: Any) -> subprocess.Popen:
    """``subprocess.Popen(command, **options)``, started from the spawner thread."""
    return _SPAWNER.submit(subprocess.Popen, command, **options).result()


def run_logged(
    command: Sequence[str],
    log: Callable[[str], None],
    what: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float | None = None,
    pass_fds: tuple[int, ...] = (),
) -> None:
    """Run ``command``, streaming its combined output to ``log`` line by line."""
    try:
        process = spawn(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            text=True,
            errors="replace",
            pass_fds=pass_fds,
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
