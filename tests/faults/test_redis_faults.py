"""Redis killed and started again: runs keep going and end with all their output, live readers
resume, a create during the outage is a clean 503 that leaves nothing behind, and the worker lives."""

import threading

import httpx
import pytest

from tests.faults.conftest import TERMINAL
from tests.problems import assert_problem
from tests.server import wait_until

pytestmark = pytest.mark.timeout(300)


def _sse(url: str, seen: list[tuple[str, str]], stop: threading.Event) -> None:
    """Read the stream like a client: reconnect with Last-Event-ID until `done`."""
    last = None
    while not stop.is_set():
        headers = {"Last-Event-ID": last} if last else {}
        try:
            with httpx.stream("GET", url, headers=headers, timeout=60) as response:
                event = None
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("id: "):
                        last = line[4:]
                    elif line.startswith("data: ") and event:
                        seen.append((event, line[6:]))
                        if event == "done":
                            return
        except httpx.HTTPError:
            pass
        stop.wait(0.5)


def test_a_redis_restart_mid_stream_loses_nothing(faulty, gate):
    run = faulty.create(faulty.alice, faulty.gated, gate=str(gate), tokens=3)
    faulty.wait_row(run["id"], lambda r: r["status"] == "processing" and r["output"], what="streaming")
    seen: list[tuple[str, str]] = []
    stop = threading.Event()
    reader = threading.Thread(target=_sse, args=(run["urls"]["stream"], seen, stop), daemon=True)
    reader.start()
    wait_until(lambda: seen, 30, 0.05, "the reader's first event")

    faulty.kill_redis()
    try:
        gate.touch()  # the model finishes while Redis is down
        ended = faulty.wait_row(run["id"], lambda r: r["status"] in TERMINAL, what="the run to end without Redis")
        assert ended["status"] == "succeeded" and "".join(ended["output"]) == "first t0 t1 t2 "
    finally:
        faulty.start_redis()

    reader.join(60)
    stop.set()
    assert seen[-1] == ("done", "{}"), seen
    assert "".join(data for name, data in seen if name == "output") == "first t0 t1 t2 "
    # the worker lived through it and takes new work
    again = faulty.create(faulty.alice, faulty.gated, gate=str(gate), tokens=1)
    assert faulty.wait_row(again["id"], lambda r: r["status"] in TERMINAL, what="a new run")["status"] == "succeeded"


def test_a_create_while_redis_is_down_is_503_and_leaves_no_row(faulty, gate):
    before = faulty.count()
    faulty.kill_redis()
    try:
        response = faulty.api("POST", "/v1/predictions", faulty.alice,
                              json={"version": faulty.gated, "input": {"gate": str(gate)}})
        body = assert_problem(response, 503)
        assert "redis" not in body["detail"].lower() and "/" not in body["detail"]  # no internals
        assert response.headers["Retry-After"]
        assert faulty.count() == before
    finally:
        faulty.start_redis()
    gate.touch()
    run = wait_until(lambda: _created(faulty, gate), 30, 0.5, "creates to work again")
    assert faulty.wait_row(run["id"], lambda r: r["status"] in TERMINAL, what="the run")["status"] == "succeeded"


def _created(faulty, gate):
    response = faulty.api("POST", "/v1/predictions", faulty.alice,
                          json={"version": faulty.gated, "input": {"gate": str(gate), "tokens": 0}})
    return response.json() if response.status_code == 201 else None
