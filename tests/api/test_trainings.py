"""Fine-tuning end to end: the official Python client trains the real textgen example on the sample
corpus, the trained version runs and writes differently, a training is canceled mid-way, and
the refusals come back as the client's errors."""

import json
import uuid

import pytest
from replicate.exceptions import ReplicateError

from tests.server import ROOT, wait_finished, wait_until
from tests.webhook_receiver import Receiver

SAMPLES = ROOT / "examples" / "textgen" / "samples"


def _destination(client) -> str:
    name = f"tuned-{uuid.uuid4().hex[:8]}"
    client.models.create("alice", name, visibility="private", hardware="cpu")
    return f"alice/{name}"


def _corpus(client, name: str = "proverbs.zip") -> str:
    with open(SAMPLES / name, "rb") as handle:
        return client.files.create(handle).urls["get"]


def test_a_training_makes_a_new_version_that_writes_like_its_text(client, cogmill):
    destination = _destination(client)
    base = f"cogmill/textgen:{cogmill.versions['textgen']}"
    training = client.trainings.create(version=base, destination=destination,
                                       input={"data": _corpus(client), "steps": 150, "seed": 1})
    assert (training.status, training.destination) == ("starting", destination)
    wait_finished(training, timeout=240)
    assert training.status == "succeeded", training.error or training.logs
    assert "step 150/150 loss" in training.logs
    owner_name, _, version_id = training.output["version"].partition(":")
    assert owner_name == destination and len(version_id) == 64
    assert training.output["weights"].startswith(cogmill.base_url)
    assert client.trainings.get(training.id).output == training.output

    assert client.models.get(destination).latest_version.id == version_id
    prompt = {"prompt": "A ", "max_tokens": 80, "seed": 11, "temperature": 0.3}
    trained = "".join(client.run(training.output["version"], input=prompt))
    original = "".join(client.run(base, input=prompt))
    assert trained != original
    proverbs = (SAMPLES / "proverbs.txt").read_text().lower().split()
    words = trained.lower().split()
    assert sum(word in proverbs for word in words) > len(words) / 2, trained  # it writes the proverbs' words


def test_cancel_mid_training_stops_it_and_frees_the_instance(client, cogmill):
    destination = _destination(client)
    base = f"cogmill/textgen:{cogmill.versions['textgen']}"
    long = client.trainings.create(version=base, destination=destination,
                                   input={"data": _corpus(client, "proverbs.txt"), "steps": 5000})
    wait_until(lambda: long.reload() or "step " in (long.logs or ""), 240, 0.2, "the training's first steps")
    client.trainings.cancel(long.id)
    wait_finished(long, timeout=240)
    assert long.status == "canceled" and long.output is None
    short = client.trainings.create(version=base, destination=destination,
                                    input={"data": _corpus(client, "proverbs.txt"), "steps": 20})
    wait_finished(short, timeout=240)
    assert short.status == "succeeded", short.error  # the train-mode instance took the next one


def test_trainings_are_listed_and_sent_as_webhooks(client, cogmill):
    destination = _destination(client)
    with Receiver() as receiver:
        training = client.trainings.create(
            version=f"cogmill/textgen:{cogmill.versions['textgen']}", destination=destination,
            input={"data": _corpus(client, "proverbs.txt"), "steps": 10}, webhook=receiver.url(),
            webhook_events_filter=["completed"])
        wait_finished(training, timeout=240)
        wait_until(lambda: receiver.received(), 60, 0.1, "the completed webhook")
        body = json.loads(receiver.received()[-1].body)
    assert body["id"] == training.id and body["status"] == "succeeded"
    assert body["output"]["version"].startswith(f"{destination}:")
    assert training.id in [t.id for t in client.trainings.list()]


@pytest.mark.parametrize(("destination", "status", "says"), [
    ("alice/does-not-exist", 404, "The specified training destination does not exist"),
    ("cogmill/hello-world", 403, "only cogmill can change"),
])
def test_a_destination_that_is_missing_or_someone_elses_is_refused(client, cogmill, destination, status, says):
    with pytest.raises(ReplicateError) as info:
        client.trainings.create(version=f"cogmill/textgen:{cogmill.versions['textgen']}",
                                destination=destination, input={"data": _corpus(client, "proverbs.txt")})
    assert info.value.status == status and says in info.value.detail


def test_a_version_without_train_is_422(client, cogmill):
    with pytest.raises(ReplicateError) as info:
        client.trainings.create(version=f"cogmill/hello-world:{cogmill.versions['hello-world']}",
                                destination=_destination(client), input={})
    assert info.value.status == 422 and "cannot be trained" in info.value.detail
