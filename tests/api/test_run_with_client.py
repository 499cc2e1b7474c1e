"""The official Python client, unmodified, against a real Cogmill running real Cog models."""

import threading
import time

import httpx
import pytest
import replicate
from replicate.exceptions import ModelError, ReplicateError

from tests.server import wait_until


def test_run_hello_world(client):
    assert client.run("cogmill/hello-world", input={"text": "x"}) == "hello x"


def test_run_pinned_version(client, cogmill):
    ref = f"cogmill/hello-world:{cogmill.versions['hello-world']}"
    assert client.run(ref, input={"text": "pinned"}) == "hello pinned"


def test_run_failing_model_raises_model_error(client):
    with pytest.raises(ModelError) as info:
        client.run("testers/failing", input={"reason": "kaput"})
    assert str(info.value) == "ValueError: kaput"  # what the model raised, said once
    assert info.value.prediction.status == "failed"
    logs = info.value.prediction.logs  # and where, as Python says it
    assert "about to fail" in logs and "Traceback (most recent call last):" in logs
    assert 'predict.py", line 7, in predict' in logs and logs.rstrip().endswith("ValueError: kaput")


def test_create_and_reload_until_succeeded(client, cogmill):
    prediction = client.predictions.create(version=cogmill.versions["hello-world"], input={"text": "poll"})
    assert prediction.status == "starting"
    assert "stream" not in prediction.urls  # hello-world's output is one string: nothing to stream

    def finished():
        prediction.reload()
        return prediction.status in {"succeeded", "failed", "canceled"}

    wait_until(finished, 60, 0.1, "the prediction to finish")
    assert prediction.status == "succeeded"
    assert prediction.output == "hello poll"
    assert prediction.metrics["predict_time"] >= 0
    assert prediction.started_at and prediction.completed_at


def test_stream_textgen_yields_text_in_pieces(client):
    events = list(client.stream("cogmill/textgen", input={"prompt": "The ", "max_tokens": 120, "seed": 7}))
    outputs = [e for e in events if e.event.value == "output"]
    text = "".join(str(e) for e in outputs)
    assert len(outputs) > 5
    assert events[-1].event.value == "done"
    assert 0 < len(text) <= 120 + len("The ")
    assert any(c.isalpha() for c in text)


def test_stream_delivers_tokens_before_the_prediction_ends(client, gate):
    stream = client.stream("testers/gated", input={"gate": str(gate), "tokens": 2})
    first = next(e for e in stream if e.event.value == "output")
    assert first.data == "first "
    listed = client.predictions.list().results
    running = next(p for p in listed if p.input.get("gate") == str(gate))
    assert running.status == "processing"  # the model is still waiting at its gate
    gate.touch()
    rest = "".join(str(e) for e in stream)
    assert rest == "t0 t1 "


def test_cancel_running_textgen(client):
    prediction = client.predictions.create(
        model="cogmill/textgen", input={"prompt": "Once upon a time", "max_tokens": 2000}
    )

    def producing():
        prediction.reload()
        return prediction.status == "processing" and prediction.output

    wait_until(producing, 120, 0.05, "textgen to produce output")
    prediction.cancel()

    def ended():
        prediction.reload()
        return prediction.status in {"succeeded", "failed", "canceled"}

    wait_until(ended, 60, 0.1, "the canceled prediction to end")
    assert prediction.status == "canceled"
    assert len("".join(prediction.output or [])) < 2000


def test_cancel_gated_prediction_stops_the_model(client, gate):
    prediction = client.predictions.create(model="testers/gated", input={"gate": str(gate)})
    wait_until(lambda: prediction.reload() or prediction.output, 60, 0.05, "the first token")
    prediction.cancel()
    wait_until(lambda: prediction.reload() or prediction.status == "canceled", 60, 0.1, "cancel")
    assert prediction.output == ["first "]
    # the same model keeps working after a cancel
    gate.touch()
    assert client.run("testers/gated", input={"gate": str(gate), "tokens": 1}) == ["first ", "t0 "]


def test_file_output_is_served_with_and_without_token(client, token):
    output = client.run("testers/files", input={"text": "file body"})
    url = str(output) if not hasattr(output, "url") else output.url
    assert url.startswith("http://")
    assert httpx.get(url).content == b"file body"
    assert httpx.get(url, headers={"Authorization": f"Bearer {token}"}).content == b"file body"


def test_wait_times_out_as_starting(cogmill, token, gate):
    response = httpx.post(
        f"{cogmill.base_url}/v1/models/testers/gated/predictions",
        json={"input": {"gate": str(gate)}},
        headers={"Authorization": f"Bearer {token}", "Prefer": "wait=1"},
        timeout=30,
    )
    assert response.status_code == 201
    assert response.headers["Preference-Applied"] == "wait=1"
    assert response.json()["status"] == "starting"
    gate.touch()


def test_an_answer_at_the_wait_deadline_carries_no_partial_output(cogmill, token, gate):
    """The Python client takes the first answer's output as already seen: it must be empty."""
    response = httpx.post(
        f"{cogmill.base_url}/v1/models/testers/gated/predictions",
        json={"input": {"gate": str(gate)}},
        headers={"Authorization": f"Bearer {token}", "Prefer": "wait=1"},
        timeout=1.5,  # what the Python client allows: the wait plus half a second
    )
    body = response.json()
    gate.touch()
    assert body["status"] == "starting" and body["output"] is None


def test_a_wait_above_60_is_clamped_not_refused(cogmill, token):
    response = httpx.post(
        f"{cogmill.base_url}/v1/predictions",
        json={"version": "cogmill/hello-world", "input": {"text": "long"}},
        headers={"Authorization": f"Bearer {token}", "Prefer": "wait=400"},
        timeout=90,
    )
    assert response.status_code == 201 and response.headers["Preference-Applied"] == "wait=60"


@pytest.mark.parametrize("wait", [1, 2])
def test_run_with_a_short_wait_polls_after_it_and_loses_no_output(client, cogmill, gate, wait):
    """replicate.run(wait=N) times out its request N + 0.5 s after sending it: Cogmill answers before,
    and the streamed chunks the model made meanwhile all come back."""
    result: dict = {}

    def run():
        try:
            result["output"] = client.run("testers/gated", input={"gate": str(gate), "tokens": 2}, wait=wait)
        except Exception as exc:  # noqa: BLE001 (reported below)
            result["error"] = exc

    runner = threading.Thread(target=run)
    started = time.monotonic()
    runner.start()
    # The gate opens only once the client's first request could no longer be waiting: the run must
    # have gone through the answer at the deadline and the polling after it.
    wait_until(lambda: time.monotonic() - started > wait + 0.6 and _latest_streaming(client), 60, 0.05,
               "the run to be past its first answer")
    gate.touch()
    runner.join(120)
    assert "error" not in result, result.get("error")
    assert "".join(result["output"]) == "first t0 t1 "


def _latest_streaming(client) -> bool:
    latest = client.predictions.list().results[0]
    return latest.status == "processing" and bool(latest.output)


def test_wait_returns_the_finished_prediction(cogmill, token):
    response = httpx.post(
        f"{cogmill.base_url}/v1/predictions",
        json={"version": "cogmill/hello-world", "input": {"text": "sync"}},
        headers={"Authorization": f"Bearer {token}", "Prefer": "wait"},
        timeout=90,
    )
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "succeeded" and body["output"] == "hello sync"


def test_bad_token_is_401(cogmill):
    bad = replicate.Client(api_token="cm_not-a-real-token", base_url=cogmill.base_url)
    with pytest.raises(ReplicateError) as info:
        bad.run("cogmill/hello-world", input={"text": "x"})
    assert info.value.status == 401


def test_unknown_model_is_404(client):
    with pytest.raises(ReplicateError) as info:
        client.run("cogmill/no-such-model", input={})
    assert info.value.status == 404


def test_inputs_the_model_does_not_take_are_ignored_and_said_so(client):
    prediction = client.predictions.create(model="cogmill/hello-world", input={"text": "x", "steps": 30})
    prediction.wait()
    assert prediction.status == "succeeded" and prediction.output == "hello x"
    assert prediction.input == {"text": "x"}
    assert "Ignored inputs this model does not take: steps" in prediction.logs


def test_invalid_input_is_422_naming_the_field(client):
    with pytest.raises(ReplicateError) as info:
        client.run("cogmill/textgen", input={"prompt": "x", "temperature": 99})
    assert info.value.status == 422
    assert "temperature" in info.value.detail


def test_other_users_prediction_is_404(cogmill, client, other_token):
    prediction = client.predictions.create(model="cogmill/hello-world", input={"text": "mine"})
    outsider = replicate.Client(api_token=other_token, base_url=cogmill.base_url)
    with pytest.raises(ReplicateError) as info:
        outsider.predictions.get(prediction.id)
    assert info.value.status == 404
