"""urls.stream: the SSE format of API.md, replay, Last-Event-ID, with and without a token."""

import httpx
import pytest
from replicate.exceptions import ReplicateError

from tests.server import wait_until


def _events(text: str) -> list[dict]:
    """Parse an SSE body into [{event, id, data}] (comments dropped)."""
    out = []
    for block in text.strip("\n").split("\n\n"):
        fields = {"data": []}
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            if name == "data":
                fields["data"].append(value)
            else:
                fields[name] = value
        if "event" in fields:
            out.append({"event": fields["event"], "id": fields["id"], "data": "\n".join(fields["data"])})
    return out


def _finished(client, **kwargs):
    prediction = client.predictions.create(**kwargs)
    wait_until(lambda: prediction.reload() or prediction.status in {"succeeded", "failed", "canceled"},
               60, 0.05, "the prediction to finish")
    return prediction


def test_stream_works_without_a_token_and_replays_from_the_start(client):
    prediction = _finished(client, model="cogmill/textgen", input={"prompt": "Hello", "max_tokens": 60, "seed": 3})
    response = httpx.get(prediction.urls["stream"], headers={"Accept": "text/event-stream"}, timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = _events(response.text)
    assert {e["event"] for e in events} <= {"output", "logs", "error", "done"}
    assert events[-1] == {"event": "done", "id": events[-1]["id"], "data": "{}"}
    assert "".join(e["data"] for e in events if e["event"] == "output") == "".join(prediction.output)


def test_last_event_id_resumes_after_that_event(client, token):
    prediction = _finished(client, model="cogmill/textgen", input={"prompt": "Hi", "max_tokens": 80, "seed": 5})
    auth = {"Authorization": f"Bearer {token}"}
    events = _events(httpx.get(prediction.urls["stream"], headers=auth, timeout=30).text)
    assert len(events) > 3
    resumed = _events(httpx.get(prediction.urls["stream"], headers={**auth, "Last-Event-ID": events[1]["id"]},
                                timeout=30).text)
    assert resumed == events[2:]


def _page_stream(cogmill, prediction, token) -> list[dict]:
    """The events of a run whose model does not stream: the API offers no `urls.stream` for it, as
    Replicate does, but its stream still answers whoever may see the run, for the pages' live logs."""
    return _events(httpx.get(f"{cogmill.base_url}/v1/predictions/{prediction.id}/stream",
                             headers={"Authorization": f"Bearer {token}"}, timeout=30).text)


def test_multiline_output_keeps_its_newlines(client, cogmill, token):
    prediction = _finished(client, model="cogmill/hello-world", input={"text": "a\nb\n\nc"})
    events = _page_stream(cogmill, prediction, token)
    assert "".join(e["data"] for e in events if e["event"] == "output") == "hello a\nb\n\nc"


def test_failed_prediction_streams_an_error(client, cogmill, token):
    prediction = _finished(client, model="testers/failing", input={"reason": "kaput"})
    events = _page_stream(cogmill, prediction, token)
    assert [e["event"] for e in events][-2:] == ["error", "done"]
    assert "kaput" in events[-2]["data"]
    with pytest.raises(ReplicateError, match="does not support streaming"):
        list(client.stream("testers/failing", input={"reason": "kaput"}))


def test_unknown_prediction_stream_is_404_problem(cogmill):
    response = httpx.get(f"{cogmill.base_url}/v1/predictions/{'x' * 26}/stream")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_healthz_reports_db_redis_and_workers(cogmill):
    body = httpx.get(f"{cogmill.base_url}/healthz").json()
    assert body["db"] == "ok" and body["redis"] == "ok" and body["workers"] >= 1


def test_quiet_stream_sends_keepalive_comments(client, gate):
    prediction = client.predictions.create(model="testers/gated", input={"gate": str(gate)})
    seen = []
    with httpx.stream("GET", prediction.urls["stream"], timeout=60) as response:
        for line in response.iter_lines():
            seen.append(line)
            if line.startswith(":") and "data: first " in seen:
                gate.touch()  # the model was quiet at its gate and the connection stayed alive
    assert "event: done" in seen
    assert seen.index("data: first ") < next(i for i, line in enumerate(seen) if line.startswith(":"))
