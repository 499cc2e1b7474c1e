"""Upload limits and uploaded files as model inputs, in-process (no worker needed)."""

import datetime as dt
import os

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.utils import timezone

from accounts.models import User
from playground.errors import Invalid
from playground.models import File
from playground.services import files

pytestmark = pytest.mark.django_db


def _upload(owner, name: str = "a.txt", data: bytes = b"hello"):
    return files.create_upload(owner, SimpleUploadedFile(name, data, "text/plain"), None)


def _post(client, auth, data: bytes):
    return client.post("/v1/files", {"content": SimpleUploadedFile("big.bin", data)}, **auth)


@override_settings(COGMILL_MAX_UPLOAD_BYTES=10)
def test_upload_over_the_limit_is_413(client, auth):
    response = _post(client, auth, b"x" * 11)
    assert response.status_code == 413
    assert response["Content-Type"] == "application/problem+json"
    assert "the limit is 10 bytes" in response.json()["detail"]


@override_settings(COGMILL_MAX_UPLOAD_BYTES=10)
def test_upload_declared_far_over_the_limit_is_413_before_parsing(client, auth):
    response = _post(client, auth, b"x" * 200_000)
    assert response.status_code == 413
    assert response.json()["status"] == 413


@override_settings(COGMILL_MAX_UPLOAD_BYTES=10)
def test_upload_at_the_limit_is_accepted(client, auth):
    assert _post(client, auth, b"x" * 10).status_code == 201


def test_an_owners_upload_urls_become_file_urls_for_the_page(alice, mallory):
    f, theirs = _upload(alice), _upload(mallory)
    other = "https://example.com/x.png"
    sent = {"image": f.api_url, "more": [other, f.download_url, theirs.api_url], "n": 3}
    assert files.with_upload_files(sent, alice) == {"image": f.url, "more": [other, f.url, theirs.api_url], "n": 3}
    assert sent["image"] == f.api_url  # the stored input is left as sent


def test_file_inputs_name_each_bad_field(alice):
    mallory = User.objects.create_user("mallory")
    mine, theirs = _upload(alice), _upload(mallory)
    files.check_file_inputs(alice, {"a": mine.api_url, "b": [mine.download_url]})
    with pytest.raises(Invalid) as info:
        files.check_file_inputs(alice, {"a": mine.api_url, "b": ["x", theirs.api_url],
                                           "c": f"{settings.PUBLIC_URL}/v1/files/missing"})
    assert [e.field for e in info.value.errors] == ["b.1", "c"]


def test_urls_of_other_hosts_are_left_alone(alice):
    f = _upload(alice)
    foreign = f"https://elsewhere.example/v1/files/{f.id}"
    files.check_file_inputs(alice, {"a": foreign})
    assert files.with_upload_files({"a": foreign}, alice) == {"a": foreign}


def test_expired_uploads_are_purged_with_their_bytes(alice):
    old, fresh = _upload(alice, "old.txt"), _upload(alice, "fresh.txt")
    File.objects.filter(pk=old.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    path = old.content.path
    assert files.purge_expired_uploads() == 1
    assert not File.objects.filter(pk=old.pk).exists() and File.objects.filter(pk=fresh.pk).exists()
    assert not os.path.exists(path)


def test_a_file_input_must_be_a_url_never_a_path_on_the_server(alice):
    """A plain string given to a file input would become a path the model opens: refused, naming
    the field; URLs and data: URIs pass."""
    kinds = {"image": "file", "images": "files", "text": "string"}
    files.check_file_inputs(alice, {"image": "https://example.com/a.png", "images": ["data:,x"],
                                    "text": "/etc/passwd"}, kinds)
    for bad in [{"image": "/etc/passwd"}, {"images": ["https://example.com/a.png", "file:///etc/passwd"]},
                {"image": "../../cogmill.sqlite3"}]:
        with pytest.raises(Invalid) as refused:
            files.check_file_inputs(alice, bad, kinds)
        assert refused.value.errors[0].field == next(iter(bad)) and "must be a URL" in refused.value.errors[0].message
