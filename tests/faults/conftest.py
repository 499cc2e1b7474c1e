"""Fault tests: a real Cogmill (web, worker, beat, its own embedded Redis) whose processes the tests
kill and start again. Leases, the reaper and requeues run on short settings so each scenario ends
within seconds; every wait is on a condition with a deadline."""

import json
import os
import shutil
import signal
import tempfile
import textwrap
from pathlib import Path

import httpx
import pytest

from cogmill import embedded_redis
from tests.server import ROOT, CogmillServer, gate_path, wait_until

GATED = ROOT / "tests" / "fixtures" / "models" / "gated"
FAST = {
    "COGMILL_RUN_LEASE_SECONDS": "6",
    "COGMILL_REAP_INTERVAL_SECONDS": "1",
    "COGMILL_REQUEUE_AFTER_SECONDS": "2",
    "COGMILL_WEBHOOK_RETRY_DELAYS": "0.5,1,1,1,1,1,1,1,1,1",
}
TERMINAL = {"succeeded", "failed", "canceled"}


class FaultyCogmill(CogmillServer):
    """A CogmillServer with beat, its own embedded Redis, and handles to break them."""

    def __init__(self, data_dir: Path):
        super().__init__(data_dir, worker_concurrency=1, own_redis=True, beat=True, extra_env=FAST)

    def api(self, method: str, path: str, token: str, **kwargs) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        return httpx.request(method, f"{self.base_url}{path}", headers=headers, timeout=30, **kwargs)

    def create(self, token: str, version: str, **input) -> dict:
        response = self.api("POST", "/v1/predictions", token, json={"version": version, "input": input})
        assert response.status_code == 201, response.text
        return response.json()

    def row(self, prediction_id: str) -> dict:
        """The prediction's row, read from the database itself (no web, no Redis needed)."""
        code = textwrap.dedent(f"""
            import json
            from playground.models import Prediction
            p = Prediction.objects.get(pk={prediction_id!r})
            print(json.dumps({{"status": p.status, "output": p.output, "error": p.error, "logs": p.logs,
                               "worker": p.worker, "leased": p.lease_expires_at is not None,
                               "dispatches": p.dispatches}}))
        """)
        return json.loads(self.manage("shell", "-c", code).stdout.strip().splitlines()[-1])

    def count(self) -> int:
        code = "from playground.models import Prediction; print(Prediction.objects.count())"
        return int(self.manage("shell", "-c", code).stdout.strip().splitlines()[-1])

    def wait_row(self, prediction_id: str, check, timeout: float = 60, what: str = "the row") -> dict:
        return wait_until(lambda: (row := self.row(prediction_id)) and check(row) and row, timeout, 0.2, what)

    def kill(self, name: str) -> None:
        """kill -9 a process and everything it started (a worker's Cog servers too)."""
        proc = self.procs[name]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def restart(self, name: str) -> None:
        from cogmill.up import commands

        self._spawn(name, commands(self.port)[name])

    def kill_redis(self) -> None:
        pid = int((self.data_dir / "redis.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not embedded_redis.answers(self.data_dir), 10, 0.05, "Redis to stop")

    def start_redis(self) -> None:
        embedded_redis.ensure(self.data_dir)


@pytest.fixture(scope="module")
def faulty():
    data_dir = Path(tempfile.mkdtemp(prefix="cogmill-faults-"))
    server = FaultyCogmill(data_dir)
    try:
        server.start()
        server.gated = server.push(GATED, "testers/gated")
        server.alice = server.token("alice")
        yield server
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def gate() -> Path:
    """A path for the `gated` model: creating the file lets the prediction finish."""
    return gate_path()
