"""`make run`'s launcher as a supervisor: a crashed child is started again, and a stop with work in
flight ends or hands back every run and leaves no process behind, the embedded Redis included."""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import psutil
import pytest

from cogmill import embedded_redis
from tests.faults.conftest import FAST, GATED, TERMINAL
from tests.server import ROOT, free_port, gate_path, wait_until

pytestmark = pytest.mark.timeout(600)


class Launcher:
    """`python -m cogmill.up` on its own data folder, SQLite and embedded Redis."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("PYTEST") and k not in {"DATABASE_URL", "REDIS_URL"}}
        self.env.update(FAST, COGMILL_DATA_DIR=str(data_dir), PORT=str(self.port), COGMILL_SKIP_EXAMPLES="1",
                        COGMILL_WORKER_CONCURRENCY="1", COGMILL_STOP_GRACE_SECONDS="2",
                        PUBLIC_URL=f"http://127.0.0.1:{self.port}")
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.log = open(self.data_dir / "launcher.log", "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "cogmill.up"], cwd=ROOT, env=self.env,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(self._healthy, 120, 0.2, "the launcher's Cogmill to be healthy")

    def _healthy(self) -> bool:
        assert self.proc.poll() is None, self.output()
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def output(self) -> str:
        return (self.data_dir / "launcher.log").read_text(errors="replace")

    def children(self) -> list[psutil.Process]:
        return psutil.Process(self.proc.pid).children(recursive=True)

    def manage(self, *args: str) -> str:
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True,
                              capture_output=True, text=True, timeout=600).stdout.strip()

    def stop(self, sig=signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(60)

    def close(self) -> None:
        """Whatever a test left running goes: the launcher stops its children; stragglers are killed."""
        if self.proc is None or self.proc.poll() is not None:
            return
        children = self.children()
        try:
            self.stop()
        except subprocess.TimeoutExpired:
            pass
        for process in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        if self.proc.poll() is None:
            self.proc.kill()


@pytest.fixture
def launcher():
    data_dir = Path(tempfile.mkdtemp(prefix="cogmill-launcher-"))
    launcher = Launcher(data_dir)
    try:
        yield launcher
    finally:
        launcher.close()
        embedded_redis.stop(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)


def _create(launcher, token: str, version: str, **input) -> dict:
    response = httpx.post(f"http://127.0.0.1:{launcher.port}/v1/predictions", timeout=30,
                          headers={"Authorization": f"Bearer {token}"}, json={"version": version, "input": input})
    assert response.status_code == 201, response.text
    return response.json()


def _status(launcher, run_id: str) -> tuple[str, object, str]:
    code = (f"from playground.models import Prediction; p = Prediction.objects.get(pk={run_id!r}); "
            "import json; print(json.dumps([p.status, p.output, p.error]))")
    return tuple(json.loads(launcher.manage("shell", "-c", code).splitlines()[-1]))


def _alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
    return alive


def _streaming(launcher, run_id: str) -> bool:
    status, output, _ = _status(launcher, run_id)
    return status == "processing" and bool(output)


def test_a_crashed_worker_is_started_again_and_its_runs_handed_back(launcher, tmp_path):
    launcher.start()
    version = launcher.manage("push_model", str(GATED), "testers/gated").rsplit(":", 1)[1]
    token = launcher.manage("issue_token", "alice", "--create-user")
    gate = gate_path()
    run = _create(launcher, token, version, gate=str(gate), tokens=1)
    wait_until(lambda: _streaming(launcher, run["id"]), 60, 0.2, "the run to stream")
    worker = next(p for p in launcher.children() if "worker" in p.cmdline() and "celery" in " ".join(p.cmdline()))

    worker.kill()  # SIGKILL; its Cog servers notice their parent is gone and exit

    status, output, error = wait_until(lambda: (s := _status(launcher, run["id"]))[0] in TERMINAL and s,
                                       60, 0.2, "the run to be handed back")
    assert (status, output, error) == ("failed", ["first "], "the worker running it stopped")
    assert "the worker's runs were handed back: 1 failed" in launcher.output()  # by the launcher, not a lease
    wait_until(lambda: "starting worker again" in launcher.output(), 60, 0.2, "the worker to be started again")
    gate.touch()
    again = _create(launcher, token, version, gate=str(gate), tokens=1)
    wait_until(lambda: _status(launcher, again["id"])[0] == "succeeded", 120, 0.2, "a run on the new worker")


def test_stopping_with_work_in_flight_ends_every_run_and_every_process(launcher, tmp_path):
    launcher.start()
    version = launcher.manage("push_model", str(GATED), "testers/gated").rsplit(":", 1)[1]
    token = launcher.manage("issue_token", "alice", "--create-user")
    running = _create(launcher, token, version, gate=str(gate_path("never")), tokens=1)
    wait_until(lambda: _streaming(launcher, running["id"]), 60, 0.2, "the run to stream")
    opened = gate_path("open")
    opened.touch()
    queued = _create(launcher, token, version, gate=str(opened), tokens=1)
    children = launcher.children()

    assert launcher.stop(signal.SIGTERM) == 0
    wait_until(lambda: not _alive(children), 30, 0.2, "every process the launcher started to end")
    assert not embedded_redis.answers(launcher.data_dir)
    assert _status(launcher, running["id"]) == ("failed", ["first "], "the worker running it stopped")
    assert _status(launcher, queued["id"])[0] == "starting"  # handed back to the queue, not lost

    launcher.start()
    wait_until(lambda: _status(launcher, queued["id"])[0] == "succeeded", 120, 0.2, "the queued run after a restart")
