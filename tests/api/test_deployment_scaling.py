"""Deployments' instances with real workers and Cog servers: min instances warm before the first
run, a burst that never passes max, scale to zero after the window, a killed instance replaced,
a release switch that lets runs in flight finish, and two workers (as two machines) sharing the
work by hardware."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import replicate

from tests.server import ROOT, CogmillServer, gate_path, wait_finished, wait_until

GATED = ROOT / "tests" / "fixtures" / "models" / "gated"
HELLO = ROOT / "examples" / "hello-world"
# Short windows so each scenario ends in seconds.
FAST = {
    "COGMILL_SCALE_DOWN_SECONDS": "4",
    "COGMILL_SCALE_INTERVAL_SECONDS": "1",
    "COGMILL_RUN_LEASE_SECONDS": "6",
    "COGMILL_REAP_INTERVAL_SECONDS": "1",
    "COGMILL_REQUEUE_AFTER_SECONDS": "3",
}
INSTANCES = """
import json
from playground.models import Instance
rows = Instance.objects.filter(release__deployment__name={name!r}).select_related("release")
print(json.dumps([dict(id=r.id, state=r.shown_state, worker=r.worker_id, pid=r.pid, pinned=r.pinned,
                       release=r.release.number) for r in rows]))
"""
# Counts the deployment's live instances every 50 ms until `stop` exists; prints the most seen.
SAMPLER = """
import os, time
from playground.models import Instance
most = 0
while not os.path.exists({stop!r}):
    most = max(most, Instance.objects.filter(release__deployment__name={name!r}).exclude(state="stopping").count())
    time.sleep(0.05)
print(most)
"""
TERMINAL = {"succeeded", "failed", "canceled"}


@pytest.fixture(scope="module")
def fleet():
    data_dir = Path(tempfile.mkdtemp(prefix="cogmill-fleet-"))
    server = CogmillServer(data_dir, beat=True, extra_env=FAST)
    try:
        server.start()
        server.versions = {"hello": server.push(HELLO, "alice/hello"), "gated": server.push(GATED, "alice/gated")}
        server.alice = replicate.Client(api_token=server.token("alice"), base_url=server.base_url)
        yield server
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def _instances(server: CogmillServer, name: str) -> list[dict]:
    out = server.manage("shell", "-c", INSTANCES.format(name=name)).stdout
    return json.loads(out.strip().splitlines()[-1])


def _ready(server, name: str, count: int) -> list[dict]:
    found: list[dict] = []

    def ready():
        found[:] = [i for i in _instances(server, name) if i["state"] in {"ready", "busy"}]
        return len(found) == count

    wait_until(ready, 120, 0.5, f"{count} ready instance(s) of {name}")
    return found


def _deploy(server, model="alice/hello", version_key="hello", **config):
    name = f"d-{uuid.uuid4().hex[:8]}"
    config = {"hardware": "cpu", "min_instances": 0, "max_instances": 1, **config}
    server.alice.deployments.create(name=name, model=model, version=server.versions[version_key], **config)
    return name


def test_min_instances_are_warm_before_the_first_run(fleet):
    name = _deploy(fleet, min_instances=1)
    [instance] = _ready(fleet, name, 1)
    assert instance["pinned"]
    prediction = fleet.alice.deployments.predictions.create(f"alice/{name}", input={"text": "warm"}, wait=True)
    wait_finished(prediction)
    assert prediction.output == "hello warm"
    assert prediction.metrics["cold_start"] is False and "boot_time" not in prediction.metrics
    assert [i["pid"] for i in _instances(fleet, name)] == [instance["pid"]]  # it ran on the warm one


def test_a_killed_instance_is_replaced(fleet):
    name = _deploy(fleet, min_instances=1)
    [first] = _ready(fleet, name, 1)
    os.kill(first["pid"], signal.SIGKILL)
    wait_until(lambda: [i["pid"] for i in _instances(fleet, name) if i["state"] == "ready"] not in ([], [first["pid"]]),
               120, 0.5, "a new instance in place of the killed one")
    prediction = fleet.alice.deployments.predictions.create(f"alice/{name}", input={"text": "again"}, wait=True)
    assert wait_finished(prediction).output == "hello again"


def test_scale_to_zero_after_the_window_and_back_with_a_cold_start(fleet):
    name = _deploy(fleet, min_instances=0)
    first = wait_finished(fleet.alice.deployments.predictions.create(f"alice/{name}", input={"text": "a"}))
    assert first.status == "succeeded"
    assert first.metrics["cold_start"] is True and first.metrics["boot_time"] > 0  # it waited for a boot
    wait_until(lambda: _instances(fleet, name) == [], 60, 0.5, "the idle instance to stop (scale to zero)")
    again = wait_finished(fleet.alice.deployments.predictions.create(f"alice/{name}", input={"text": "b"}))
    assert (again.status, again.metrics["cold_start"]) == ("succeeded", True)


def test_a_burst_never_passes_max_instances_and_all_succeed(fleet, tmp_path):
    name = _deploy(fleet, model="alice/gated", version_key="gated", max_instances=3)
    stop, gate = tmp_path / "stop", gate_path()
    sampler = subprocess.Popen([sys.executable, "manage.py", "shell", "-c", SAMPLER.format(stop=str(stop), name=name)],
                               cwd=ROOT, env=fleet.env, stdout=subprocess.PIPE, text=True)
    try:
        with ThreadPoolExecutor(8) as pool:
            burst = list(pool.map(lambda i: fleet.alice.deployments.predictions.create(
                f"alice/{name}", input={"gate": str(gate), "tokens": 1}), range(20)))
        # Held at the gate, the runs pile up: the deployment grows to its max and no further.
        wait_until(lambda: len([i for i in _instances(fleet, name) if i["state"] == "busy"]) == 3, 120, 0.5,
                   "three busy instances")
        gate.touch()
        for prediction in burst:
            wait_finished(prediction, timeout=180)
    finally:
        stop.touch()
        most = int(sampler.communicate(timeout=60)[0].strip().splitlines()[-1])
    assert [p.status for p in burst] == ["succeeded"] * 20
    assert all("".join(p.output) == "first t0 " for p in burst)
    assert most == 3


def test_a_new_release_lets_runs_in_flight_finish_on_the_old_version(fleet, tmp_path):
    name = _deploy(fleet, model="alice/gated", version_key="gated", min_instances=1)
    _ready(fleet, name, 1)
    gate = gate_path()
    in_flight = fleet.alice.deployments.predictions.create(f"alice/{name}", input={"gate": str(gate)})
    wait_until(lambda: in_flight.reload() or in_flight.status == "processing", 60, 0.2, "the run to start")

    changed = tmp_path / "gated-v2"
    shutil.copytree(GATED, changed)
    (changed / "NOTES.txt").write_text("a second version of the same model\n")
    v2 = fleet.push(changed, "alice/gated")
    fleet.alice.deployments.update("alice", name, version=v2)
    wait_until(lambda: any(i["release"] == 2 and i["state"] == "ready" for i in _instances(fleet, name)), 120, 0.5,
               "the new release's instance")
    assert any(i["state"] == "stopping" for i in _instances(fleet, name))  # the old one waits for its run
    gate.touch()
    wait_finished(in_flight)
    assert (in_flight.status, in_flight.version, "".join(in_flight.output)) == (
        "succeeded", fleet.versions["gated"], "first t0 t1 t2 ")
    after = wait_finished(fleet.alice.deployments.predictions.create(f"alice/{name}", input={"gate": str(gate)}))
    assert (after.status, after.version) == ("succeeded", v2)
    wait_until(lambda: {i["release"] for i in _instances(fleet, name)} == {2}, 60, 0.5, "the old instance to stop")


WORKER_OF = """
import json
from playground.models import Prediction
print(json.dumps(dict(Prediction.objects.filter(pk__in={ids!r}).values_list("id", "worker"))))
"""


def _workers_of(server, ids: list[str]) -> dict[str, str]:
    out = server.manage("shell", "-c", WORKER_OF.format(ids=ids)).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_two_workers_as_two_machines(fleet):
    """A second worker with other hardware: a deployment on that hardware places its instances there
    only, each SKU's runs land on the worker that has it, and runs queued on a worker that stops
    are finished by the other."""
    fleet.start_worker("t4-box", hardware="gpu-t4,cpu")
    try:
        name = _deploy(fleet, hardware="gpu-t4", min_instances=2, max_instances=2)
        placed = _ready(fleet, name, 2)
        assert all(i["worker"].startswith("t4-box:") for i in placed)
        on_t4 = [fleet.alice.deployments.predictions.create(f"alice/{name}", input={"text": str(i)})
                 for i in range(4)]
        on_cpu = [fleet.alice.predictions.create(model="alice/hello", input={"text": str(i)}) for i in range(4)]
        for prediction in on_t4 + on_cpu:
            wait_finished(prediction)
        ran_on = _workers_of(fleet, [p.id for p in on_t4])
        assert all(worker.startswith("t4-box:") for worker in ran_on.values())
        assert all(p.status == "succeeded" for p in on_t4 + on_cpu)

        # Traffic on cpu, which both serve; the t4 box stops in the middle of it.
        with ThreadPoolExecutor(4) as pool:
            traffic = list(pool.map(lambda i: fleet.alice.predictions.create(
                model="alice/hello", input={"text": f"t{i}"}), range(12)))
        fleet.stop_worker("t4-box")
        for prediction in traffic:
            wait_finished(prediction, timeout=180)
        assert [p.status for p in traffic] == ["succeeded"] * 12
    finally:
        if "t4-box" in fleet.procs:
            fleet.stop_worker("t4-box")
