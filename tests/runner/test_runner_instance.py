"""CogInstance against real coglet servers running the fixture models."""

from __future__ import annotations

import base64
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from runner import CogInstance, SetupFailed

FIXTURES = Path(__file__).parent / "fixtures"
Events = list[tuple[str, dict[str, Any]]]


@pytest.fixture
def start(model: Callable[[str], Any]) -> Iterator[Callable[[str], CogInstance]]:
    """``start("hello")`` -> a ready instance of that fixture, stopped after the test."""
    started: list[CogInstance] = []

    def boot(name: str, wait: bool = True) -> CogInstance:
        built = model(name)
        instance = CogInstance(built.src, built.venv, built.spec)
        started.append(instance)
        instance.start()
        if wait:
            instance.wait_ready(timeout=60)
        return instance

    yield boot
    for instance in started:
        instance.stop()
        assert not instance.alive()


def test_hello(start: Callable[[str], CogInstance], model: Callable[[str], Any], wait_until) -> None:
    instance = start("hello")
    events: Events = []
    result = instance.predict("p-hello", {"text": "world"}, lambda name, data: events.append((name, data)))
    assert result["status"] == "succeeded"
    assert result["output"] == "hello world"
    assert result["id"] == "p-hello"
    assert "predict_time" in result["metrics"]
    assert [name for name, _ in events] == ["start", "output", "completed"]
    assert events[-1][1] == result
    assert instance.ready_seconds is not None and instance.ready_seconds > 0
    # coglet frees its slot just after the completed event: READY follows within moments
    wait_until(lambda: instance.health() == "READY", 10, "the server to be READY again")
    served = httpx.get(f"http://127.0.0.1:{instance.port}/openapi.json").json()
    assert served == model("hello").result.schema


def test_back_to_back_predictions_share_the_slot(start: Callable[[str], CogInstance]) -> None:
    instance = start("hello")
    outputs = [instance.predict(f"p-{i}", {"text": str(i)})["output"] for i in range(30)]
    assert outputs == [f"hello {i}" for i in range(30)]


def test_invalid_input_is_a_failed_result(start: Callable[[str], CogInstance]) -> None:
    result = start("hello").predict("p-bad", {})
    assert result["status"] == "failed"
    assert result["error"].startswith("Invalid input: ")
    assert "text" in result["error"]


def test_iterator_events_arrive_while_processing(start: Callable[[str], CogInstance], tmp_path: Path) -> None:
    """The model blocks after its first token until we open the gate, so seeing
    that token proves events are relayed live, not buffered until the end."""
    instance = start("iterator")
    gate = tmp_path / "gate"
    events: Events = []

    def on_event(name: str, data: dict[str, Any]) -> None:
        events.append((name, data))
        if name == "output" and data["index"] == 0:
            assert not any(n == "completed" for n, _ in events)
            assert instance.health() == "BUSY"
            gate.touch()

    result = instance.predict("p-iter", {"prompt": "t", "count": 4, "gate": str(gate)}, on_event)
    assert result["status"] == "succeeded"
    assert result["output"] == ["t0 ", "t1 ", "t2 ", "t3 "]
    outputs = [data for name, data in events if name == "output"]
    assert outputs == [{"chunk": f"t{i} ", "index": i} for i in range(4)]
    logs = [data for name, data in events if name == "log"]
    assert logs[0] == {"data": "token 0\n", "source": "stdout"}
    assert result["logs"] == "".join(f"token {i}\n" for i in range(4))


@pytest.mark.parametrize("kind", ["png", "txt"])
def test_file_output_is_a_data_uri(start: Callable[[str], CogInstance], kind: str) -> None:
    result = start("file-output").predict(f"p-file-{kind}", {"kind": kind})
    assert result["status"] == "succeeded"
    header, _, payload = result["output"].partition(",")
    expected = (
        (FIXTURES / "file-output" / "pixel.png").read_bytes() if kind == "png" else b"plain text result\n"
    )
    assert header == ("data:image/png;base64" if kind == "png" else "data:text/plain;base64")
    assert base64.b64decode(payload) == expected


def test_every_input_type_round_trip(start: Callable[[str], CogInstance]) -> None:
    png = (FIXTURES / "file-output" / "pixel.png").read_bytes()
    result = start("every-input-type").predict(
        "p-types",
        {
            "text": "abc",
            "image": "data:image/png;base64," + base64.b64encode(png).decode(),
            "tags": ["x", "y"],
            "seed": 7,
            "api_key": "sekrit",
            "maybe": None,  # coglet refuses an explicit null; the runner leaves it out
            "color": "blue",
        },
    )
    assert result["status"] == "succeeded", result
    assert result["output"] == {
        "summary": "abc|3|0.5|False|blue|512|x,y|7|1",
        "image_bytes": len(png),
        "secret_length": 6,
        "note": None,
    }


def test_setup_failure_raises_with_logs(start: Callable[[str], CogInstance]) -> None:
    instance = start("setup-failure", wait=False)
    with pytest.raises(SetupFailed) as caught:
        instance.wait_ready(timeout=60)
    assert str(caught.value) == "Model setup failed: RuntimeError: weights are missing"
    assert "loading weights from /nowhere" in caught.value.logs
    assert "weights are missing" in caught.value.logs


def test_cancel(start: Callable[[str], CogInstance], wait_until) -> None:
    instance = start("slow")

    def on_event(name: str, data: dict[str, Any]) -> None:
        if name == "log":
            assert instance.cancel("p-cancel")

    result = instance.predict("p-cancel", {}, on_event)
    assert result["status"] == "canceled"
    assert result["logs"].startswith("tick 0\n")
    wait_until(lambda: instance.health() == "READY", 10, "the server to be READY again")


def test_cancel_before_the_prediction_reaches_the_server(start: Callable[[str], CogInstance]) -> None:
    instance = start("slow")
    assert instance.cancel("p-early") is False  # unknown to coglet yet...
    assert instance.predict("p-early", {})["status"] == "canceled"  # ...but remembered


def test_timeout_cancels_and_fails(start: Callable[[str], CogInstance], wait_until) -> None:
    instance = start("slow")
    result = instance.predict("p-timeout", {}, timeout=0.3)
    assert result["status"] == "failed"
    assert result["error"] == "Prediction timed out after 0.3s"
    wait_until(lambda: instance.health() == "READY", 10, "the server to be READY again")


def test_worker_crash_fails_the_prediction(start: Callable[[str], CogInstance]) -> None:
    instance = start("crash")
    result = instance.predict("p-crash", {"crash": True})
    assert result["status"] == "failed"
    assert result["error"] == "Worker crashed"
    assert instance.health() == "UNHEALTHY"
    after = instance.predict("p-after-crash", {"crash": False})
    assert after == {**after, "status": "failed", "error": "Model server is unhealthy (UNHEALTHY)"}


def test_server_death_mid_prediction(start: Callable[[str], CogInstance]) -> None:
    instance = start("slow")
    killed = threading.Event()

    def on_event(name: str, data: dict[str, Any]) -> None:
        if name == "log" and not killed.is_set():
            killed.set()
            assert instance.process is not None
            os.killpg(instance.process.pid, signal.SIGKILL)

    result = instance.predict("p-killed", {}, on_event)
    assert result["status"] == "failed"
    assert result["error"].startswith("Model server died: ")
    assert result["logs"].startswith("tick 0\n")
    assert not instance.alive()
    assert instance.health() == "DEAD"
