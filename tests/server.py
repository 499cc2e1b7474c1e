"""A real Cogmill (uvicorn web + Celery worker) in subprocesses, for end-to-end tests and bench/.

It gets its own database (a SQLite file, or a fresh PostgreSQL database when DATABASE_URL points
at PostgreSQL), its own Redis (a database number of REDIS_URL, or its own embedded server) and
its own data folder; model venvs come from the shared cache.
"""

import itertools
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import httpx

from cogmill import embedded_redis

ROOT = Path(__file__).resolve().parent.parent
E2E_REDIS_DB = 13
# Small enough for page tests to cross it with a few megabytes.
UPLOAD_LIMIT = 2 * 1024 * 1024


def gate_path(name: str = "gate") -> Path:
    """A path for the `gated` model: creating the file lets its prediction finish. It lies in the
    one folder of this machine that the test servers' model sandboxes may read."""
    return Path(os.environ["COGMILL_TEST_GATES"]) / f"{name}-{uuid.uuid4().hex}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, timeout: float, interval: float = 0.05, message: str = "condition"):
    """Poll `condition` until it returns a truthy value; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def _postgres_admin(url: str):
    import psycopg

    return psycopg.connect(urlunparse(urlparse(url)._replace(path="/postgres")), autocommit=True)


def _postgres_database(url: str, name: str) -> str:
    with _postgres_admin(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunparse(urlparse(url)._replace(path=f"/{name}"))


def _drop_postgres_database(url: str, name: str) -> None:
    with _postgres_admin(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class CogmillServer:
    """`own_redis`: an embedded Redis of its own even when REDIS_URL is set (tests that kill it);
    `beat`: run beat too (the reaper); `extra_env`: settings for this server.

    Servers running at once never share a database or a Redis: each gets a PostgreSQL database of
    its own, and only one at a time the REDIS_URL server (the others an embedded Redis each), since
    their workers would take each other's messages."""

    _count = itertools.count()
    _shared_redis_taken = False

    def __init__(self, data_dir: Path, idle_seconds: float = 300, worker_concurrency: int = 4,
                 own_redis: bool = False, beat: bool = False, extra_env: dict[str, str] | None = None):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.procs: dict[str, subprocess.Popen] = {}
        self._own_redis = False
        self.beat = beat
        self.env = self._environment(idle_seconds, worker_concurrency, own_redis)
        self.env.update(extra_env or {})

    def _environment(self, idle_seconds: float, concurrency: int, own_redis: bool) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
        db_url = os.environ.get("DATABASE_URL", "")
        self._pg_admin_url = None
        if db_url.startswith("postgres"):
            self._pg_db = f"cogmill_e2e_{os.getpid()}_{next(self._count)}"
            env["DATABASE_URL"] = _postgres_database(db_url, self._pg_db)
            self._pg_admin_url = db_url
        else:
            env["DATABASE_URL"] = f"sqlite:///{self.data_dir / 'cogmill.sqlite3'}"
        redis_url = "" if own_redis or CogmillServer._shared_redis_taken else os.environ.get("REDIS_URL", "")
        self._shared_redis = bool(redis_url)
        if redis_url:
            CogmillServer._shared_redis_taken = True
            parsed = urlparse(redis_url)
            env["REDIS_URL"] = urlunparse(parsed._replace(path=f"/{E2E_REDIS_DB}"))
            import redis

            redis.Redis.from_url(env["REDIS_URL"]).flushdb()
        else:
            env["REDIS_URL"] = embedded_redis.ensure(self.data_dir)
            self._own_redis = True
        env.update(
            COGMILL_DATA_DIR=str(self.data_dir),
            PORT=str(self.port),
            PUBLIC_URL=self.base_url,
            COGMILL_IDLE_SECONDS=str(idle_seconds),
            COGMILL_WORKER_CONCURRENCY=str(concurrency),
            COGMILL_SSE_KEEPALIVE_SECONDS="1",
            COGMILL_MAX_UPLOAD_BYTES=str(UPLOAD_LIMIT),
            COGMILL_WEBHOOK_ALLOW_PRIVATE="1",
            COGMILL_WEBHOOK_RETRY_DELAYS="0.2,0.5,1",
        )
        return env

    def manage(self, *args: str, check: bool = True, timeout: float = 1800) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True,
            text=True, check=check, timeout=timeout,
        )

    def _spawn(self, name: str, cmd: list[str]) -> None:
        log = open(self.data_dir / f"{name}.log", "ab")  # a process started again adds to its log
        self.procs[name] = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    def start(self) -> "CogmillServer":
        self.manage("migrate", "-v0")
        from cogmill.up import commands

        cmds = commands(self.port)
        self.env.setdefault("COGMILL_WORKER_HARDWARE", "cpu")
        self._spawn("worker", cmds["worker"])
        self._spawn("web", cmds["web"])
        if self.beat:
            self._spawn("beat", cmds["beat"])
        wait_until(self._healthy, 90, 0.2, "Cogmill /healthz to answer 200")
        return self

    def start_worker(self, name: str, hardware: str, gpus: str = "") -> subprocess.Popen:
        """Another worker process, as on a second machine: its own name and hardware, the same
        database and Redis. Stop it with `stop_worker(name)`."""
        self._spawn(name, [sys.executable, "-m", "cogmill.worker", "--hardware", hardware, "--name", name,
                           "--gpus", gpus, "--concurrency", "2"])
        return self.procs[name]

    def stop_worker(self, name: str) -> None:
        proc = self.procs.pop(name)
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()

    def _healthy(self) -> bool:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited early:\n{self.log_tail(name)}")
        try:
            return httpx.get(f"{self.base_url}/healthz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def log_tail(self, name: str, lines: int = 60) -> str:
        path = self.data_dir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def push(self, folder: Path, ref: str) -> str:
        result = self.manage("push_model", str(folder), ref, check=False)
        if result.returncode != 0:
            raise AssertionError(f"push_model {ref} failed:\n{result.stderr}\n{self.log_tail('worker')}")
        return result.stdout.strip().rsplit(":", 1)[1]

    def token(self, username: str) -> str:
        return self.manage("issue_token", username, "--create-user").stdout.strip()

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for name, proc in self.procs.items():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait()
        if self._own_redis:
            embedded_redis.stop(self.data_dir)
        if self._shared_redis:
            CogmillServer._shared_redis_taken = False
        if self._pg_admin_url:
            _drop_postgres_database(self._pg_admin_url, self._pg_db)


def wait_finished(prediction, timeout: float = 120):
    """Reload a client's Prediction (or Training) until it ends: `Prefer: wait` may answer before a
    busy machine finishes, and the clients then keep polling — so do the tests. (The Python client
    1.0.7 has no Training.wait(): its README polls reload() too.)"""
    wait_until(lambda: prediction.reload() or prediction.status in {"succeeded", "failed", "canceled"},
               timeout, 0.1, f"{type(prediction).__name__.lower()} {prediction.id} to finish")
    return prediction
