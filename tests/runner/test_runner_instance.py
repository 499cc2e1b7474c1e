"""CogInstance against real coglet servers running the fixture models."""

from __future__ import annotations

import base64
import http.server
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from runner import CogInstance, SetupFailed, egress
from runner.instance import PREDICT, TRAIN, _HookServer, model_error

FIXTURES = Path(__file__).parent / "fixtures"
Events = list[tuple[str, dict[str, Any]]]


@pytest.fixture
def start(model: Callable[[str], Any], sandboxed) -> Iterator[Callable[[str], CogInstance]]:
    """``start("hello")`` -> a ready instance of that fixture, stopped after the test."""
    started: list[CogInstance] = []

    def boot(name: str, wait: bool = True) -> CogInstance:
        built = model(name)
        instance = CogInstance(built.src, built.venv, built.spec, sandbox=sandboxed)
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
    served = instance._http().get("/openapi.json").json()  # through the sandbox's socket
    assert served == model("hello").result.schema


def test_a_run_that_raises_leaves_its_traceback_in_the_logs(start: Callable[[str], CogInstance]) -> None:
    """coglet keeps only `ValueError: kaput` (after "Generator iteration error:" for a streaming model);
    the logs also say where, as Python would, once, and the output made before the error stays."""
    instance = start("raising")
    result = instance.predict("p-raise", {"reason": "kaput"})  # `tries` left out: its default
    assert result["status"] == "failed" and model_error(result["error"]) == "ValueError: kaput after 3 tries"
    logs = result["logs"]
    assert "about to fail" in logs and logs.count("Traceback (most recent call last):") == 1
    assert 'predict.py", line 7, in check' in logs and 'raise ValueError(f"{reason} after {tries} tries")' in logs
    assert logs.rstrip().endswith("ValueError: kaput after 3 tries")
    assert result["output"] == ["before "]


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
    gate = instance.input_folder("p-iter") / "gate"  # beside its own, the one folder the model can read
    events: Events = []

    def on_event(name: str, data: dict[str, Any]) -> None:
        events.append((name, data))
        if name == "output" and data["index"] == 0:
            assert not any(n == "completed" for n, _ in events)
            assert instance.health() == "BUSY"
            gate.touch()

    result = instance.predict("p-iter", {"prompt": "t", "count": 4, "gate": "/inputs/p-iter/gate"}, on_event)
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


# ---------------------------------------------------------------- training mode

@pytest.fixture
def start_training(model: Callable[[str], Any], sandboxed) -> Iterator[Callable[..., CogInstance]]:
    started: list[CogInstance] = []

    def boot(mode: str = TRAIN, **extra_env: str) -> CogInstance:
        built = model("trainable")
        instance = CogInstance(built.src, built.venv, built.spec, extra_env=extra_env, mode=mode, sandbox=sandboxed)
        started.append(instance)
        instance.start()
        instance.wait_ready(timeout=60)
        return instance

    yield boot
    for instance in started:
        instance.stop()


def _weights(result: dict[str, Any]) -> bytes:
    uri = result["output"]["weights"]
    assert uri.startswith("data:")
    return base64.b64decode(uri.split(",", 1)[1])


def test_a_training_runs_train_with_live_logs_and_returns_its_weights(start_training, tmp_path):
    trainer = start_training()
    events: Events = []
    result = trainer.predict("t-1", {"text": "learned", "steps": 3}, lambda name, data: events.append((name, data)))
    assert result["status"] == "succeeded", result
    names = [name for name, _ in events]
    assert names[0] == "start" and names[-1] == "completed" and "log" in names
    assert "".join(data["data"] for name, data in events if name == "log") == result["logs"]
    assert "step 3/3 loss 0.333" in result["logs"]
    weights = tmp_path / "weights.txt"
    weights.write_bytes(_weights(result))
    predictor = start_training(PREDICT, COG_WEIGHTS=str(weights))  # a trained version: base code, these weights
    assert predictor.predict("p-1", {"prompt": "> "})["output"] == "> learned"


def test_cancel_mid_training_ends_it_and_frees_the_server(start_training, wait_until):
    trainer = start_training()

    def on_event(name: str, data: dict[str, Any]) -> None:
        if name == "log" and "step 2/" in data["data"]:
            assert trainer.cancel("t-long")

    result = trainer.predict("t-long", {"text": "x", "steps": 1000, "pause": 0.05}, on_event)
    assert result["status"] == "canceled"
    wait_until(lambda: trainer.health() == "READY", 10, "the trainer to be READY again")
    assert trainer.predict("t-next", {"text": "y", "steps": 1})["status"] == "succeeded"


def test_a_training_past_its_timeout_fails_and_says_so(start_training):
    result = start_training().predict("t-slow", {"text": "x", "steps": 1000, "pause": 0.05}, timeout=1)
    assert result["status"] == "failed" and result["error"] == "Training timed out after 1s"


def test_only_the_training_itself_can_feed_its_updates(start_training):
    """The receiver answers only a training's own unguessable path: another process on the machine
    cannot post made-up progress."""
    trainer = start_training()
    seen: list[str] = []

    def on_event(name: str, data: dict[str, Any]) -> None:
        if name == "start":
            with httpx.Client(transport=httpx.HTTPTransport(uds=str(trainer.sandbox.hook_socket))) as client:
                forged = client.post("http://127.0.0.1/guess", json={"status": "succeeded", "logs": "owned"})
            seen.append(str(forged.status_code))

    result = trainer.predict("t-forged", {"text": "real", "steps": 2, "pause": 0.2}, on_event)
    assert seen == ["404"] and result["status"] == "succeeded" and "owned" not in result["logs"]


def test_a_post_to_another_path_gets_its_404_every_time(tmp_path):
    """The refusal is read by the caller, never a reset connection: the receiver takes in what was
    sent before it answers (a Unix socket closed on unread bytes resets the other end)."""
    sock = tmp_path / "hooks.sock"
    hooks = _HookServer("127.0.0.1", socket_path=sock, port=1)
    try:
        hooks.listen(lambda state: None)
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock))) as client:
            answers = {client.post("http://127.0.0.1/guess", json={"status": "succeeded"}).status_code
                       for _ in range(200)}
        assert answers == {404}
    finally:
        hooks.close()


def test_a_model_without_train_cannot_start_in_train_mode(model: Callable[[str], Any]):
    built = model("hello")
    with pytest.raises(ValueError, match="no train field"):
        CogInstance(built.src, built.venv, built.spec, mode=TRAIN)


def test_a_training_result_too_big_to_take_fails_at_once(start_training, monkeypatch):
    monkeypatch.setattr("runner.instance._HookServer.MAX_BODY", 2048)
    result = start_training().predict("t-big", {"text": "x" * 5000, "steps": 1})
    assert result["status"] == "failed"
    assert result["error"].startswith("The training ended without its result: its result is over")


# ---------------------------------------------------------------- network

def test_a_sandboxed_model_reaches_only_what_its_egress_allows(model, sandboxed, tmp_path):
    """No egress: no network at all. With egress, HTTP goes through the worker's proxy, which lets
    through what `allow` allows and answers 403 with the reason for the rest."""
    served = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    threading.Thread(target=served.serve_forever, daemon=True).start()
    url = f"http://allowed.test:{served.server_address[1]}/"  # the proxy resolves names, not the model

    def allow(host: str, port: int) -> str:
        if host != "allowed.test":
            raise egress.Refused(f"{host} is not for this model")
        return "127.0.0.1"

    built = model("fetcher")
    closed = CogInstance(built.src, built.venv, built.spec, sandbox=sandboxed)
    opened = CogInstance(built.src, built.venv, built.spec, sandbox=sandboxed, egress=allow)
    try:
        for instance in (closed, opened):
            instance.start()
            instance.wait_ready(60)
        assert "URLError" in closed.predict("p-closed", {"url": url})["output"]
        assert opened.predict("p-open", {"url": url})["output"] == "proxy http://127.0.0.1:3128: 200 hi"
        refused = opened.predict("p-refused", {"url": "http://redis.test:6379/"})["output"]
        assert "403" in refused
    finally:
        served.shutdown()
        for instance in (closed, opened):
            instance.stop()


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"hi")

    def log_message(self, *args) -> None:
        pass


# ---------------------------------------------------------------- what a model cannot reach

def test_a_models_environment_never_reaches_a_process_that_runs_as_root(model, sandboxed, tmp_path):
    """cog.yaml's environment (here LD_PRELOAD of a library in the bundle that, loaded, leaves a mark
    in /tmp) is given only to what runs as the sandbox's uid: no root process of the sandbox's
    making loads it, and the model still runs."""
    import shutil
    import subprocess
    import uuid

    mark = f"/tmp/cogmill-preloaded-{uuid.uuid4().hex}"
    source = tmp_path / "mark.c"
    source.write_text('#include <stdio.h>\n#include <unistd.h>\n__attribute__((constructor)) static void m(void) {'
                      f' if (getuid() == 0) {{ FILE *f = fopen("{mark}", "w"); if (f) fclose(f); }} }}\n')
    built = model("hello")
    bundle = tmp_path / "bundle"
    shutil.copytree(built.src, bundle)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(bundle / "mark.so"), str(source)], check=True)
    instance = CogInstance(bundle, built.venv, built.spec, extra_env={"LD_PRELOAD": str(bundle / "mark.so")},
                           sandbox=sandboxed)
    instance.start()
    try:
        instance.wait_ready(60)
        assert instance.predict("p-env", {"text": "x"})["output"] == "hello x"
    finally:
        instance.stop()
    assert not os.path.exists(mark), "a root process loaded the model's library"


def test_a_venv_cannot_choose_what_of_the_host_is_mounted(tmp_path):
    """A build writes its venv, pyvenv.cfg included: its `home` must be one of this machine's Pythons,
    or the sandbox would mount whatever folder it names."""
    from runner.sandbox import _python_prefix

    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / "pyvenv.cfg").write_text("home = /x\nversion = 3.12.1\n")
    with pytest.raises(RuntimeError, match="names a Python this machine does not have"):
        _python_prefix(venv)


@pytest.mark.parametrize(("reported", "shown"), [
    ("Prediction failed: Prediction failed: ValueError: kaput", "ValueError: kaput"),
    ("prediction failed: Async prediction failed: RuntimeError: no", "RuntimeError: no"),
    ("Prediction failed: Generator iteration error: ValueError: kaput", "ValueError: kaput"),
    ("ValueError: Prediction failed: is what it said", "ValueError: Prediction failed: is what it said"),
    ("Prediction failed: ", "Prediction failed:"),
])
def test_a_model_error_is_said_once(reported: str, shown: str) -> None:
    assert model_error(reported) == shown
