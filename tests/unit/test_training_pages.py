"""The Train tab and a training's page, in-process: the form from TrainingInput, the destination
picker (a new model only kept with its training), refusals as form errors, and who sees what."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from playground.models import Model, Training
from playground.services import files, trainings
from tests.unit.conftest import client_for
from tests.unit.test_trainings import _zip, destination, trainable  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


def test_the_train_tab_is_there_only_for_a_version_with_train(alice, trainable, version):  # noqa: F811
    browser = client_for(alice)
    page = browser.get("/alice/tuner?tab=train").content.decode()
    assert 'id="train-form"' in page and 'name="data"' in page and 'name="steps"' in page
    assert 'name="to-destination"' in page and "Create a new model…" in page
    assert "?tab=train" not in browser.get("/alice/echo").content.decode()
    assert 'id="train-form"' not in browser.get("/alice/echo?tab=train").content.decode()  # back to Playground


def test_training_into_a_new_model_creates_it_with_the_training(alice, trainable):  # noqa: F811
    upload = SimpleUploadedFile("corpus.zip", _zip({"a.txt": b"hello\n"}), "application/zip")
    response = client_for(alice).post(f"/alice/tuner/train?version={'b' * 64}",
                                      {"data": upload, "steps": 20, "to-destination": "__new__", "to-new_name": "mine"})
    training = Training.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/t/{training.id}"
    assert (training.destination.full_name, training.source, training.input["steps"]) == ("alice/mine", "web", 20)
    assert training.destination.visibility == "private"


def test_a_refused_zip_is_a_form_error_and_leaves_no_new_model(alice, trainable):  # noqa: F811
    upload = SimpleUploadedFile("evil.zip", _zip({"../../x.txt": b"x"}), "application/zip")
    response = client_for(alice).post("/alice/tuner/train",
                                      {"data": upload, "to-destination": "__new__", "to-new_name": "mine"})
    assert response.status_code == 422
    assert "climbs out of its folder" in response.content.decode()
    assert not Model.objects.filter(name="mine").exists() and not Training.objects.exists()


@pytest.mark.parametrize(("fields", "says"), [
    ({"to-destination": "__new__", "to-new_name": ""}, "Name the new model."),
    ({"to-destination": "__new__", "to-new_name": "Bad Name"}, "invalid model name"),
    ({"to-destination": "__new__", "to-new_name": "tuner"}, "You already have a model called tuner"),
    ({"to-destination": "mallory/theirs"}, "Select a valid choice"),
])
def test_a_bad_destination_is_a_form_error(alice, trainable, fields, says):  # noqa: F811
    upload = SimpleUploadedFile("a.txt", b"hello\n", "text/plain")
    response = client_for(alice).post("/alice/tuner/train", {"data": upload, **fields})
    assert response.status_code == 422 and says in response.content.decode()
    assert not Training.objects.exists()


def test_the_training_page_shows_progress_to_its_owner_only(alice, mallory, trainable, destination):  # noqa: F811
    training = trainings.create_training(alice, trainable, "alice/tuned", {"data": "https://example.com/a.txt"})
    Training.objects.filter(pk=training.pk).update(status="processing", logs="features ready\nstep 30/120 loss 1.250\n")
    page = client_for(alice).get(f"/t/{training.id}").content.decode()
    assert 'value="25"' in page and "step 30 of 120" in page and "loss 1.250" in page
    assert f'data-training-stream="/v1/trainings/{training.id}/stream"' in page
    assert client_for(mallory).get(f"/t/{training.id}").status_code == 404
    assert client_for().get(f"/t/{training.id}").status_code == 404
    assert f"/t/{training.id}" in client_for(alice).get("/history").content.decode()


def test_a_succeeded_training_page_offers_its_new_version(alice, trainable, destination):  # noqa: F811
    training = trainings.create_training(alice, trainable, "alice/tuned", {"data": "https://example.com/a.txt"})
    made = files.OutputFiles(training)
    output = trainings.publish(training, made.convert("data:application/octet-stream;base64,eA=="), made)
    Training.objects.filter(pk=training.pk).update(status="succeeded", output=output)
    page = client_for(alice).get(f"/t/{training.id}").content.decode()
    version_id = output["version"].split(":")[1]
    assert f'href="/alice/tuned?version={version_id}" id="run-trained"' in page
    assert client_for(alice).get(f"/alice/tuned?version={version_id}").status_code == 200


def test_cancel_from_the_page(alice, mallory, trainable, destination):  # noqa: F811
    training = trainings.create_training(alice, trainable, "alice/tuned", {"data": "https://example.com/a.txt"})
    assert client_for(mallory).post(f"/t/{training.id}/cancel").status_code == 404
    assert client_for(alice).post(f"/t/{training.id}/cancel").status_code == 302
    training.refresh_from_db()
    assert training.status == "canceled"
