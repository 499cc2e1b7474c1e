"""Hardware routing with real worker processes: a run goes to the queue of its model's hardware,
waits (saying why) while no worker serves that SKU, and runs on the worker that does once it starts."""

import json
import shutil
import uuid

import httpx

from tests.server import ROOT, wait_finished, wait_until

RUN_WORKER = """
import json
from playground.models import Prediction
print(json.dumps(dict(Prediction.objects.filter(pk__in={ids!r}).values_list("id", "worker"))))
"""


def _workers_of(cogmill, *prediction_ids: str) -> dict[str, str]:
    out = cogmill.manage("shell", "-c", RUN_WORKER.format(ids=list(prediction_ids))).stdout
    return json.loads(out.strip().splitlines()[-1])


def _hardware(cogmill) -> dict[str, int]:
    return httpx.get(f"{cogmill.base_url}/healthz", timeout=10).json()["hardware"]


def test_a_run_waits_for_its_hardware_and_runs_on_the_worker_that_serves_it(cogmill, client, tmp_path):
    name = f"hello-t4-{uuid.uuid4().hex[:6]}"
    client.models.create("alice", name, visibility="private", hardware="gpu-t4")
    shutil.copytree(ROOT / "examples" / "hello-world", tmp_path / "hello")
    cogmill.push(tmp_path / "hello", f"alice/{name}")  # builds run on the default queue, served by every worker
    assert "gpu-t4" not in _hardware(cogmill)

    waiting = client.predictions.create(model=f"alice/{name}", input={"text": "gpu"})
    assert "Waiting for a worker with gpu-t4" in waiting.logs
    on_cpu = client.predictions.create(model="cogmill/hello-world", input={"text": "cpu"})
    wait_finished(on_cpu)
    waiting.reload()
    assert waiting.status == "starting"  # the cpu worker never takes it

    cogmill.start_worker("t4-box", hardware="gpu-t4")
    try:
        wait_until(lambda: _hardware(cogmill).get("gpu-t4") == 1, 90, 0.2, "the gpu-t4 worker to report in")
        wait_finished(waiting, timeout=120)
        assert waiting.status == "succeeded" and waiting.output == "hello gpu"
        ran_on = _workers_of(cogmill, waiting.id, on_cpu.id)
        assert ran_on[waiting.id].startswith("t4-box:") and not ran_on[on_cpu.id].startswith("t4-box:")
    finally:
        cogmill.stop_worker("t4-box")
    wait_until(lambda: "gpu-t4" not in _hardware(cogmill), 30, 0.2, "the stopped worker to leave")
