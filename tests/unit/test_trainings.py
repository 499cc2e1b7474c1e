"""Trainings in-process (no worker): the API's shapes and refusals, zips checked before anything
starts, and the version a succeeded training publishes."""

import base64
import io
import stat
import zipfile
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from playground.errors import Invalid
from playground.models import BuildStatus, File, Model, Training, Version
from playground.services import catalog, files, runs, trainings
from tests.problems import assert_problem
from tests.unit.conftest import ECHO_SCHEMA, bearer

pytestmark = pytest.mark.django_db

TRAINABLE_SCHEMA = {"components": {"schemas": {
    **ECHO_SCHEMA["components"]["schemas"],
    "TrainingInput": {"type": "object", "required": ["data"], "properties": {
        "data": {"type": "string", "format": "uri", "x-order": 0},
        "steps": {"type": "integer", "minimum": 10, "default": 300, "x-order": 1},
    }},
    "TrainingOutput": {"type": "object", "properties": {"weights": {"type": "string", "format": "uri"}}},
}}}


@pytest.fixture
def trainable(alice) -> Version:
    """alice/tuner: a ready version with train()."""
    model = Model.objects.create(owner=alice, name="tuner")
    return Version.objects.create(model=model, version_id="b" * 64, build_status=BuildStatus.READY,
                                  openapi_schema=TRAINABLE_SCHEMA, cog_version="0.23.1", spec_hash="c" * 64)


@pytest.fixture
def destination(alice) -> Model:
    return Model.objects.create(owner=alice, name="tuned", visibility="private")


def _zip(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _upload(owner, name: str, data: bytes) -> File:
    return files.create_upload(owner, SimpleUploadedFile(name, data, "application/octet-stream"), None)


def _train(client, auth, data: str, destination: str = "alice/tuned", **headers):
    return client.post(f"/v1/models/alice/tuner/versions/{'b' * 64}/trainings",
                       {"destination": destination, "input": {"data": data}},
                       content_type="application/json", **auth, **headers)


def test_create_answers_a_training_in_replicates_shape(client, auth, trainable, destination, alice):
    upload = _upload(alice, "corpus.txt", b"one line\nanother\n")
    response = _train(client, auth, upload.api_url, HTTP_CANCEL_AFTER="10m")
    assert response.status_code == 201
    body = response.json()
    assert (body["model"], body["version"], body["destination"]) == ("alice/tuner", "b" * 64, "alice/tuned")
    assert (body["status"], body["output"], body["source"]) == ("starting", None, "api")
    assert body["input"] == {"data": upload.api_url}
    assert set(body["urls"]) == {"get", "cancel", "stream", "web"}
    assert body["urls"]["get"].endswith(f"/v1/trainings/{body['id']}")
    assert body["deadline"] is not None
    assert client.get(f"/v1/trainings/{body['id']}", **auth).json()["id"] == body["id"]
    assert [t["id"] for t in client.get("/v1/trainings", **auth).json()["results"]] == [body["id"]]


def test_a_missing_or_hidden_destination_is_404_with_replicates_message(client, auth, trainable, mallory):
    Model.objects.create(owner=mallory, name="hidden", visibility="private")
    for ref in ("alice/nope", "mallory/hidden"):
        body = assert_problem(_train(client, auth, "https://example.com/a.txt", destination=ref), 404)
        assert body["detail"] == "The specified training destination does not exist"
    assert not Training.objects.exists()


def test_someone_elses_visible_destination_is_403(client, auth, trainable, mallory):
    Model.objects.create(owner=mallory, name="public-one")
    assert_problem(_train(client, auth, "https://example.com/a.txt", destination="mallory/public-one"), 403)
    assert not Training.objects.exists()


def test_a_version_without_train_is_422(client, auth, version, destination):
    response = client.post(f"/v1/models/alice/echo/versions/{version.version_id}/trainings",
                           {"destination": "alice/tuned", "input": {}}, content_type="application/json", **auth)
    body = assert_problem(response, 422)
    assert body["invalid_fields"][0]["field"] == "version" and "cannot be trained" in body["detail"]


@pytest.mark.parametrize(("body", "field"), [({"steps": 3}, "steps"), ({"data": None}, "data")])
def test_bad_training_input_is_422_naming_the_field(client, auth, trainable, destination, body, field):
    response = client.post(f"/v1/models/alice/tuner/versions/{'b' * 64}/trainings",
                           {"destination": "alice/tuned", "input": {"data": "https://example.com/a", **body}},
                           content_type="application/json", **auth)
    assert [f["field"] for f in assert_problem(response, 422)["invalid_fields"]] == [field]


def _symlink_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def _corrupt_zip() -> bytes:
    data = bytearray(_zip({"a.txt": b"hello world " * 50}))
    data[40:60] = b"\xff" * 20  # inside the first member's bytes
    return bytes(data)


@pytest.mark.parametrize(("name", "data", "says"), [
    ("escape.zip", _zip({"../../evil.txt": b"x"}), "climbs out of its folder"),
    ("absolute.zip", _zip({"/etc/cron.d/evil": b"x"}), "absolute path"),
    ("drive.zip", _zip({"C:/evil.txt": b"x"}), "absolute path"),
    ("link.zip", _symlink_zip(), "symbolic link"),
    ("bomb.zip", _zip({"zeros.txt": b"\0" * 5_000_000}), "zip bomb"),
    ("fake.zip", b"just some text, not a zip", "not a zip file"),
    ("corrupt.zip", _corrupt_zip(), "corrupt"),
    ("many.zip", _zip({f"f{i}.txt": b"" for i in range(12)}), "at most 10 are allowed"),
])
def test_each_unsafe_zip_is_refused_before_anything_starts(client, auth, trainable, destination, alice,
                                                          monkeypatch, name, data, says):
    monkeypatch.setattr("playground.zips.MAX_MEMBERS", 10)
    response = _train(client, auth, _upload(alice, name, data).api_url)
    body = assert_problem(response, 422)
    assert body["invalid_fields"][0]["field"] == "data"
    assert "this zip cannot be used" in body["detail"] and says in body["detail"]
    assert not Training.objects.exists()


@override_settings(COGMILL_MAX_ZIP_EXPANDED_BYTES=1000)
def test_a_zip_expanding_past_the_limit_is_refused(client, auth, trainable, destination, alice):
    data = _zip({"a.txt": bytes(range(256)) * 8}, compression=zipfile.ZIP_STORED)
    body = assert_problem(_train(client, auth, _upload(alice, "big.zip", data).api_url), 422)
    assert "expands to 2048 bytes; at most 1000 are allowed" in body["detail"]


def test_a_zip_as_a_data_uri_is_checked_too(client, auth, trainable, destination):
    uri = "data:application/zip;base64," + base64.b64encode(_zip({"../x.txt": b"x"})).decode()
    assert "climbs out" in assert_problem(_train(client, auth, uri), 422)["detail"]


def test_a_good_zip_and_a_plain_text_file_are_accepted(client, auth, trainable, destination, alice):
    good = _zip({"texts/a.txt": b"hello\n", "texts/b.txt": b"there\n"})
    assert _train(client, auth, _upload(alice, "corpus.zip", good).api_url).status_code == 201
    assert _train(client, auth, _upload(alice, "notes.txt", b"PK is not a zip here").api_url).status_code == 201


def test_cancel_of_a_queued_training_ends_it_and_others_cannot_see_it(client, auth, trainable, destination, mallory):
    tid = _train(client, auth, "https://example.com/a.txt").json()["id"]
    assert client.post(f"/v1/trainings/{tid}/cancel", **bearer(mallory)).status_code == 404
    assert client.get(f"/v1/trainings/{tid}", **bearer(mallory)).status_code == 404
    assert client.post(f"/v1/trainings/{tid}/cancel", **auth).json()["status"] == "canceled"


def test_a_succeeded_training_publishes_a_version_of_base_code_and_its_weights(trainable, destination, alice):
    training = trainings.create_training(alice, trainable, "alice/tuned", {"data": "https://example.com/a.txt"})
    made = files.OutputFiles(training)
    url = made.convert("data:application/octet-stream;base64,d2VpZ2h0cw==")
    output = trainings.publish(training, {"weights": url}, made)
    version = Version.objects.get(model=destination)
    assert output == {"version": f"alice/tuned:{version.version_id}", "weights": url}
    assert (version.base, version.is_ready, version.openapi_schema) == (trainable, True, TRAINABLE_SCHEMA)
    assert version.spec_hash == trainable.spec_hash  # the base's environment: nothing is built again
    assert version.src_dir == trainable.src_dir
    assert version.run_environment() == {"COG_WEIGHTS": version.weights.content.path}
    assert Path(version.run_environment()["COG_WEIGHTS"]).read_bytes() == b"weights"
    training.refresh_from_db()
    assert training.trained_version == version and version.weights.training == training


def test_a_training_that_returns_no_weights_file_publishes_nothing(trainable, destination, alice):
    training = trainings.create_training(alice, trainable, "alice/tuned", {"data": "https://example.com/a.txt"})
    with pytest.raises(Invalid, match="without returning a weights file"):
        trainings.publish(training, {"weights": "not a file"}, files.OutputFiles(training))
    assert not Version.objects.filter(model=destination).exists()


def test_a_trained_version_of_a_trained_version_keeps_the_original_code(trainable, destination, alice):
    weights = File.objects.create(kind=File.Kind.OUTPUT, owner=alice, name="w", sha256="d" * 64, md5="e" * 32)
    weights.content.save("w", ContentFile(b"w"))
    first = Version.objects.create(model=destination, version_id="f" * 64, base=trainable, weights=weights,
                                   build_status=BuildStatus.READY, openapi_schema=TRAINABLE_SCHEMA)
    training = trainings.create_training(alice, first, "alice/tuned", {"data": "https://example.com/a.txt"})
    made = files.OutputFiles(training)
    url = made.convert("data:application/octet-stream;base64,bmV3")
    trainings.publish(training, url, made)  # a bare file output is the weights too
    second = Version.objects.get(model=destination, made_by=training)
    assert second.base == trainable and second.src_dir == trainable.src_dir


def test_trainings_are_listed_only_for_their_owner(client, trainable, destination, alice, mallory):
    trainings.create_training(alice, trainable, "alice/tuned", {"data": "https://example.com/a.txt"})
    assert client.get("/v1/trainings", **bearer(mallory)).json()["results"] == []


def test_deleting_a_trained_version_keeps_its_bases_folder(trainable, destination, alice, settings, tmp_path):
    settings.COGMILL_BUNDLES_DIR = tmp_path
    trainable.src_dir.mkdir(parents=True)
    (trainable.src_dir / "cog.yaml").write_text("predict: predict.py:Predictor\n")
    training = trainings.create_training(alice, trainable, "alice/tuned", {"data": "https://example.com/a.txt"})
    made = files.OutputFiles(training)
    trainings.publish(training, made.convert("data:application/octet-stream;base64,eA=="), made)
    catalog.delete_version(Version.objects.get(model=destination))
    assert not Version.objects.filter(model=destination).exists()
    assert (trainable.src_dir / "cog.yaml").exists()  # the base still runs
    catalog.delete_version(trainable)  # its training still points at it: hidden, kept
    trainable.refresh_from_db()
    assert trainable.hidden and (trainable.src_dir / "cog.yaml").exists()


def test_a_zip_hidden_behind_another_name_is_checked_as_a_zip(client, auth, trainable, destination, alice):
    disguised = b"just a preamble\n" + _zip({"../../evil.txt": b"x"})
    body = assert_problem(_train(client, auth, _upload(alice, "notes.txt", disguised).api_url), 422)
    assert "climbs out of its folder" in body["detail"]


def test_a_private_model_of_someone_else_is_only_trained_into_a_private_model(
    client, trainable, destination, alice, bob, acme
):
    trainable.model.owner = acme  # acme's private model: its members may train it
    trainable.model.visibility = "private"
    trainable.model.save()
    Model.objects.create(owner=bob, name="public-copy", visibility="public")
    Model.objects.create(owner=bob, name="private-copy", visibility="private")
    url = f"/v1/models/acme/tuner/versions/{'b' * 64}/trainings"
    refused = client.post(url, {"destination": "bob/public-copy", "input": {"data": "https://example.com/a"}},
                          content_type="application/json", **bearer(bob))
    assert "train it into a private model" in assert_problem(refused, 403)["detail"]
    training = trainings.create_training(bob, trainable, "bob/private-copy", {"data": "https://example.com/a"})
    made = files.OutputFiles(training)
    trainings.publish(training, made.convert("data:application/octet-stream;base64,eA=="), made)
    response = client.patch("/v1/models/bob/private-copy", {"visibility": "public"}, content_type="application/json",
                            **bearer(bob))
    assert assert_problem(response, 422)["invalid_fields"][0]["field"] == "visibility"
    assert Model.objects.get(owner=bob, name="private-copy").visibility == "private"


def test_the_same_weights_twice_make_one_version_and_both_trainings_name_it(trainable, destination, alice):
    outputs = []
    for _ in range(2):
        training = trainings.create_training(alice, trainable, "alice/tuned", {"data": "https://example.com/a.txt"})
        made = files.OutputFiles(training)
        outputs.append(trainings.publish(training, made.convert("data:application/octet-stream;base64,eA=="), made))
    assert outputs[0]["version"] == outputs[1]["version"]
    assert Version.objects.filter(model=destination).count() == 1
    assert Training.objects.filter(trained_version__isnull=False).count() == 2


def test_a_training_ends_and_publishes_together_or_not_at_all(trainable, destination, alice):
    """A training canceled while its model finished: the end that loses records nothing, version included."""
    training = trainings.create_training(alice, trainable, "alice/tuned", {"data": "https://example.com/a.txt"})
    runs.cancel(training)  # queued: canceled at once
    made = files.OutputFiles(training)
    publication = trainings.publication(training, made.convert("data:application/octet-stream;base64,eA=="), made)
    assert not runs.end(training, "succeeded", output=publication.output, then=publication.record)
    assert not Version.objects.filter(model=destination).exists()
    training.refresh_from_db()
    assert training.status == "canceled" and training.output is None


@pytest.mark.parametrize(("uri", "name"), [
    ("data:audio/wav;base64,UklGRg==", "output.wav"),  # what coglet calls a .wav
    ("data:audio/x-wav;base64,UklGRg==", "output.wav"),
    ("data:audio/wave;base64,UklGRg==", "output.wav"),
    ("data:image/png;base64,iVBORw==", "output.png"),
    ("data:application/x-cogmill-unknown;base64,AA==", "output.bin"),
])
def test_an_output_file_is_named_by_its_media_type(trainable, destination, alice, uri, name):
    training = trainings.create_training(alice, trainable, "alice/tuned", {"data": "https://example.com/a.txt"})
    url = files.OutputFiles(training).convert(uri)
    assert url.endswith(f"/{name}")


def test_a_fetched_input_without_an_extension_gets_one_from_its_media_type():
    from playground.worker.inputs import _safe_name

    assert _safe_name("speech", "audio/wav") == "speech.wav"  # a model opening it by suffix can
    assert _safe_name("photo", "image/png; charset=binary") == "photo.png"
    assert _safe_name("blob", "application/x-cogmill-unknown") == "blob"  # never a made-up ".bin"
