"""What one account may hold at once: stored bytes and runs in progress. Past either, what would add
more is refused with a sentence that says what to do, nothing is half-stored, and other accounts
are not affected."""

import io
import tarfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from playground.errors import StorageFull
from playground.models import File, Prediction, Status, Version
from playground.services import catalog, files, quotas
from tests.problems import assert_problem
from tests.unit.conftest import bearer, client_for

pytestmark = pytest.mark.django_db


def _upload(client, auth, size: int):
    return client.post("/v1/files", {"content": SimpleUploadedFile("blob.bin", b"x" * size)}, **auth)


def _bundle(padding: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=0) as tar:
        for name, data in {"cog.yaml": b"predict: predict.py:Predictor\n", "pad.bin": b"\0" * padding}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _predict(client, auth, version):
    return client.post("/v1/predictions", {"version": version.version_id, "input": {"text": "a"}},
                       content_type="application/json", **auth)


@override_settings(COGMILL_STORAGE_QUOTA_BYTES=1000)
def test_an_upload_past_the_storage_quota_is_refused_and_not_stored(client, auth, alice, mallory):
    assert _upload(client, auth, 600).status_code == 201
    body = assert_problem(_upload(client, auth, 600), 403)
    assert body["detail"] == ("alice stores 600 bytes of its 1000 bytes quota and this adds 600 bytes: delete "
                              "uploads, models or versions nobody has run, or remove predictions' data, to make room.")
    assert File.objects.filter(owner=alice).count() == 1
    assert _upload(client, bearer(mallory), 600).status_code == 201  # the quota is per account


@override_settings(COGMILL_STORAGE_QUOTA_BYTES=1000)
def test_an_account_at_its_quota_may_not_start_runs_until_it_makes_room(client, auth, alice, version):
    full = files.create_upload(alice, SimpleUploadedFile("full.bin", b"x" * 1000), None)
    body = assert_problem(_predict(client, auth, version), 403)
    assert "stores 1000 bytes of its 1000 bytes quota" in body["detail"]
    assert not Prediction.objects.exists()
    assert client.delete(f"/v1/files/{full.id}", **auth).status_code == 204
    assert _predict(client, auth, version).status_code == 201


def test_version_bundles_count_as_stored_bytes_and_a_push_past_the_quota_is_refused(alice):
    bundle = _bundle(200)
    catalog.push_version(alice, "first", bundle)
    assert quotas.stored_bytes(alice) == len(bundle)
    with override_settings(COGMILL_STORAGE_QUOTA_BYTES=len(bundle) + 100), pytest.raises(
            StorageFull, match="this adds"):
        catalog.push_version(alice, "second", _bundle(300))
    assert list(Version.objects.values_list("model__name", flat=True)) == ["first"]
    with override_settings(COGMILL_STORAGE_QUOTA_BYTES=len(bundle)):
        assert catalog.push_version(alice, "first", bundle)[1] is False  # the same bytes again store nothing


@override_settings(COGMILL_MAX_ACTIVE_RUNS=2)
def test_runs_in_progress_are_capped_per_account_with_retry_after(client, auth, alice, mallory, version):
    first, second = (_predict(client, auth, version) for _ in range(2))
    assert first.status_code == second.status_code == 201
    refused = _predict(client, auth, version)
    body = assert_problem(refused, 429)
    assert body["detail"] == ("alice already has 2 runs in progress, the most one account may have; "
                              "retry in 10 s, when one has ended.")
    assert refused["Retry-After"] == "10"
    assert Prediction.objects.count() == 2
    version.model.visibility = "public"
    version.model.save()
    assert _predict(client, bearer(mallory), version).status_code == 201  # another account runs on
    Prediction.objects.filter(pk=first.json()["id"]).update(status=Status.SUCCEEDED)
    assert _predict(client, auth, version).status_code == 201  # one ended: room for one more


@override_settings(COGMILL_MAX_ACTIVE_RUNS=1)
def test_the_run_form_says_why_it_refused(alice, version, make_prediction):
    make_prediction(status=Status.PROCESSING)
    page = client_for(alice).post(f"/{version.model.full_name}", {"text": "hi"})
    assert page.status_code == 422
    assert "alice already has 1 runs in progress" in page.content.decode()
    assert Prediction.objects.count() == 1
