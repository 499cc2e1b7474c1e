"""Webhooks end to end: a real Cogmill sends them to a real HTTP receiver in this process, and the
official client's `replicate.webhooks.validate` checks the signatures."""

import base64
import json

import httpx
import pytest
import replicate
from replicate.exceptions import ReplicateError

from tests.server import wait_until
from tests.webhook_receiver import Receiver, Reply

TERMINAL = {"succeeded", "failed", "canceled"}

# Run in the server's Django (the e2e database lives there); prints the prediction's deliveries
# in sending order, with their attempts.
DELIVERIES = """
import json
from playground.models import WebhookDelivery
rows = WebhookDelivery.objects.filter(run_id={pid!r}).prefetch_related("attempt_log")
rows = sorted(rows, key=lambda d: (d.event == "completed", d.created_at, d.id))
print(json.dumps([
    {{"id": d.id, "event": d.event, "state": d.state, "attempts": d.attempts, "body": d.body,
      "log": [{{"status": a.status_code, "excerpt": a.response_excerpt, "error": a.error}}
              for a in d.attempt_log.all()]}}
    for d in rows
]))
"""


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


def _deliveries(cogmill, prediction_id: str) -> list[dict]:
    out = cogmill.manage("shell", "-c", DELIVERIES.format(pid=prediction_id)).stdout
    return json.loads(out.strip().splitlines()[-1])


def _all_delivered(cogmill, prediction_id: str):
    rows = _deliveries(cogmill, prediction_id)
    return rows if rows and all(r["state"] == "delivered" for r in rows) else None


def _finished(prediction) -> bool:
    prediction.reload()
    return prediction.status in TERMINAL


def _get(cogmill, token: str, prediction_id: str) -> dict:
    response = httpx.get(f"{cogmill.base_url}/v1/predictions/{prediction_id}",
                         headers={"Authorization": f"Bearer {token}"})
    response.raise_for_status()
    return response.json()


def test_default_secret_through_the_client(client):
    secret = client.webhooks.default.secret()
    assert secret.key.startswith("whsec_") and len(base64.b64decode(secret.key[6:])) == 32
    assert client.webhooks.default.secret().key == secret.key


def test_prediction_webhooks_arrive_in_order_signed_and_complete(client, cogmill, token, receiver, gate):
    prediction = client.predictions.create(
        model="testers/gated", input={"gate": str(gate), "tokens": 2}, webhook=receiver.url()
    )

    def running_with_output():
        return any(b["status"] == "processing" and b["output"] for b in map(_body, receiver.received()))

    wait_until(running_with_output, 120, 0.05, "an output webhook while the model waits at its gate")
    gate.touch()
    wait_until(lambda: _finished(prediction), 60, 0.1, "the prediction to finish")
    rows = wait_until(lambda: _all_delivered(cogmill, prediction.id), 60, 0.3, "every delivery to be delivered")

    received = receiver.received()
    assert [r.headers["webhook-id"] for r in received] == [row["id"] for row in rows]  # each once, in order
    assert rows[0]["event"] == "start" and rows[-1]["event"] == "completed"
    assert {row["event"] for row in rows[1:-1]} <= {"output", "logs"}
    bodies = [_body(r) for r in received]
    assert bodies[0]["status"] == "processing" and bodies[0]["output"] is None
    assert all(b["status"] == "processing" for b in bodies[:-1])
    assert _without_tokens(bodies[-1]) == _without_tokens(_get(cogmill, token, prediction.id))
    assert bodies[-1]["status"] == "succeeded" and bodies[-1]["output"] == ["first ", "t0 ", "t1 "]

    secret = client.webhooks.default.secret()
    for request in received:
        assert request.headers["content-type"] == "application/json"
        replicate.webhooks.validate(headers=request.headers, body=request.body, secret=secret, tolerance=300)


# hello-world answers in about a millisecond: its one output delivery must not wait for a row save
# it would never get (the throttle's first delivery goes at once).
@pytest.mark.parametrize("event", ["completed", "output"])
def test_events_filter_sends_one_delivery_of_that_event(client, cogmill, receiver, event):
    prediction = client.predictions.create(
        model="cogmill/hello-world", input={"text": f"filtered {event}"}, webhook=receiver.url(),
        webhook_events_filter=[event],
    )
    wait_until(lambda: _finished(prediction), 60, 0.1, "the prediction to finish")
    rows = wait_until(lambda: _all_delivered(cogmill, prediction.id), 60, 0.3, f"the {event} delivery to be delivered")
    assert [row["event"] for row in rows] == [event]
    [request] = receiver.received()
    assert _body(request)["output"] == f"hello filtered {event}"


def test_a_failing_receiver_is_retried_with_the_same_webhook_id(client, cogmill, receiver):
    receiver.script("/flaky", Reply(500, body="nope"), Reply(500, body="still nope"))
    prediction = client.predictions.create(
        model="cogmill/hello-world", input={"text": "retry"}, webhook=receiver.url("/flaky"),
        webhook_events_filter=["completed"],
    )
    [row] = wait_until(lambda: _all_delivered(cogmill, prediction.id), 90, 0.3, "the delivery to succeed")
    received = receiver.received("/flaky")
    assert len(received) == 3
    assert {r.headers["webhook-id"] for r in received} == {row["id"]}
    secret = client.webhooks.default.secret()
    for request in received:
        replicate.webhooks.validate(headers=request.headers, body=request.body, secret=secret)
    assert row["attempts"] == 3
    assert [(a["status"], a["excerpt"]) for a in row["log"]] == [(500, "nope"), (500, "still nope"), (200, "ok")]


def test_a_redirect_is_not_followed(client, cogmill, receiver):
    receiver.script("/moved", *[Reply(302, {"Location": receiver.url("/elsewhere")})] * 10)
    prediction = client.predictions.create(
        model="cogmill/hello-world", input={"text": "moved"}, webhook=receiver.url("/moved"),
        webhook_events_filter=["completed"],
    )

    def attempted():
        rows = _deliveries(cogmill, prediction.id)
        return rows if rows and rows[0]["log"] else None

    [row] = wait_until(attempted, 90, 0.3, "a first delivery attempt")
    assert row["log"][0]["status"] == 302 and "redirects are not followed" in row["log"][0]["error"]
    assert row["state"] == "pending"  # a failure: it will be retried
    assert receiver.received("/elsewhere") == []


def test_unknown_event_in_filter_is_a_422(client, receiver):
    with pytest.raises(ReplicateError) as info:
        client.predictions.create(
            model="cogmill/hello-world", input={"text": "x"}, webhook=receiver.url(),
            webhook_events_filter=["finished"],
        )
    assert info.value.status == 422
    assert "webhook_events_filter" in str(info.value)


def _body(request) -> dict:
    return json.loads(request.body)


def _without_tokens(body: dict) -> dict:
    """The object with the tokens of its capability URLs cut off: each GET and each webhook hands out
    fresh ones."""
    return {**body, "urls": {name: url.split("?", 1)[0] for name, url in body["urls"].items()}}
