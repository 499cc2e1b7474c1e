"""A worker killed with kill -9: the run it was running fails with the output it streamed, the run
it had taken from the queue runs on the next worker, and cancel ends an orphaned run at once."""

import pytest

from tests.faults.conftest import TERMINAL
from tests.server import gate_path, wait_until

pytestmark = pytest.mark.timeout(300)


def _streaming(row: dict) -> bool:
    return row["status"] == "processing" and bool(row["output"])


def test_kill_9_of_the_worker_fails_the_running_run_and_runs_the_queued_one(faulty, gate, tmp_path):
    running = faulty.create(faulty.alice, faulty.gated, gate=str(gate), tokens=3)
    faulty.wait_row(running["id"], _streaming, what="the first run to stream")
    opened = gate_path("open")
    opened.touch()
    queued = faulty.create(faulty.alice, faulty.gated, gate=str(opened), tokens=2)  # waits behind it

    faulty.kill("worker")
    faulty.restart("worker")

    failed = faulty.wait_row(running["id"], lambda r: r["status"] in TERMINAL, what="the running run to end")
    assert failed["status"] == "failed"
    assert failed["error"] == "the worker running it stopped"
    assert failed["output"] == ["first "]  # what it had streamed is kept
    assert "waiting at the gate" in failed["logs"]
    done = faulty.wait_row(queued["id"], lambda r: r["status"] in TERMINAL, what="the queued run to end")
    assert done["status"] == "succeeded" and "".join(done["output"]) == "first t0 t1 "


def test_cancel_of_a_run_whose_worker_is_gone_ends_it_at_once(faulty, gate):
    run = faulty.create(faulty.alice, faulty.gated, gate=str(gate), tokens=1)
    faulty.wait_row(run["id"], _streaming, what="the run to stream")
    faulty.kill("beat")  # no reaper: only the cancel can end it
    faulty.kill("worker")
    try:
        wait_until(lambda: _lease_expired(faulty, run["id"]), 30, 0.2, "the run's lease to run out")
        canceled = faulty.api("POST", f"/v1/predictions/{run['id']}/cancel", faulty.alice).json()
        assert canceled["status"] == "canceled" and canceled["output"] == ["first "]
    finally:
        faulty.restart("worker")
        faulty.restart("beat")


def _lease_expired(faulty, run_id: str) -> bool:
    code = ("from django.utils import timezone; from playground.models import Prediction; "
            f"print(Prediction.objects.filter(pk={run_id!r}, lease_expires_at__lt=timezone.now()).exists())")
    return faulty.manage("shell", "-c", code).stdout.strip().endswith("True")


def test_a_queue_message_that_was_lost_is_sent_again(faulty, tmp_path):
    """A starting run whose message never reached a worker (here: deleted from the broker) runs."""
    opened = gate_path("open")
    opened.touch()
    faulty.kill("worker")  # nobody takes the message before it is dropped
    try:
        run = faulty.create(faulty.alice, faulty.gated, gate=str(opened), tokens=1)
        dropped = faulty.manage("shell", "-c", "from cogmill.redis import client; print(client().delete('hw.cpu'))")
        assert dropped.stdout.strip().endswith("1")  # the message was really gone
    finally:
        faulty.restart("worker")
    done = faulty.wait_row(run["id"], lambda r: r["status"] in TERMINAL, what="the lost run to end")
    assert done["status"] == "succeeded" and done["dispatches"] >= 2  # beat sent it again
