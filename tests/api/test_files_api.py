"""Uploads through the official Python client, and uploaded files as model inputs."""

import datetime as dt
import hashlib
import io
from pathlib import Path

import httpx
import pytest
import replicate
from replicate.exceptions import ReplicateError

from tests.problems import assert_problem as _problem
from tests.server import wait_finished


@pytest.fixture
def note(tmp_path) -> Path:
    path = tmp_path / "note.txt"
    path.write_text("a note for the reader\n")
    return path


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _status(call) -> int:
    with pytest.raises(ReplicateError) as info:
        call()
    return info.value.status


def _stamp(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _expire(cogmill, file_id: str) -> None:
    cogmill.manage("shell", "-c", (
        "from django.utils import timezone\nfrom playground.models import File\n"
        f"File.objects.filter(pk={file_id!r}).update(expires_at=timezone.now())\n"
    ))


# ---------------------------------------------------------------- the file object

def test_create_file_describes_the_upload(client, cogmill, note):
    data = note.read_bytes()
    f = client.files.create(note, metadata={"purpose": "test", "n": 1})
    assert (f.name, f.content_type, f.size) == ("note.txt", "text/plain", len(data))
    assert f.checksums == {"sha256": hashlib.sha256(data).hexdigest(), "md5": hashlib.md5(data).hexdigest()}
    assert f.etag == hashlib.md5(data).hexdigest()
    assert f.metadata == {"purpose": "test", "n": 1}
    assert f.urls == {"get": f"{cogmill.base_url}/v1/files/{f.id}"}
    assert _stamp(f.expires_at) - _stamp(f.created_at) == dt.timedelta(hours=24)


def test_create_answers_201(cogmill, token):
    response = httpx.post(f"{cogmill.base_url}/v1/files", headers=_headers(token),
                          files={"content": ("data.bin", b"\x00\x01\x02", "application/octet-stream")})
    assert response.status_code == 201
    body = response.json()
    assert (body["name"], body["size"], body["metadata"]) == ("data.bin", 3, {})


def test_get_list_download_delete(client, cogmill, token, note):
    f = client.files.create(note)
    assert client.files.get(f.id).checksums == f.checksums
    assert f.id in [listed.id for listed in client.files.list()]
    download = httpx.get(f"{cogmill.base_url}/v1/files/{f.id}/download", headers=_headers(token))
    assert download.status_code == 200
    assert download.content == note.read_bytes()
    assert download.headers["Content-Type"] == "text/plain"
    assert client.files.delete(f.id) is True
    assert _status(lambda: client.files.get(f.id)) == 404
    assert f.id not in [listed.id for listed in client.files.list()]
    _problem(httpx.get(f"{cogmill.base_url}/v1/files/{f.id}/download", headers=_headers(token)), 404)


def test_files_are_private_to_their_owner(client, outsider, cogmill, other_token, note):
    f = client.files.create(note)
    assert _status(lambda: outsider.files.get(f.id)) == 404
    assert _status(lambda: outsider.files.delete(f.id)) == 404
    assert f.id not in [listed.id for listed in outsider.files.list()]
    _problem(httpx.get(f"{cogmill.base_url}/v1/files/{f.id}/download", headers=_headers(other_token)), 404)
    assert client.files.get(f.id).id == f.id


def test_expired_file_is_gone(client, cogmill, note):
    f = client.files.create(note)
    _expire(cogmill, f.id)
    assert _status(lambda: client.files.get(f.id)) == 404
    assert f.id not in [listed.id for listed in client.files.list()]
    with pytest.raises(ReplicateError) as info:
        client.run("testers/reader", input={"file": f.urls["get"]})
    assert info.value.status == 422 and "file" in info.value.detail


def test_list_walks_pages(cogmill):
    token = cogmill.token("uploader")
    uploader = replicate.Client(api_token=token, base_url=cogmill.base_url)
    ids = [uploader.files.create(_named_bytes(f"f{i}.txt", f"file {i}")).id for i in range(102)]
    url, seen = f"{cogmill.base_url}/v1/files", []
    while url:
        page = httpx.get(url, headers=_headers(token)).json()
        seen += [f["id"] for f in page["results"]]
        url = page["next"]
    assert seen == list(reversed(ids))


def _named_bytes(name: str, text: str) -> io.BytesIO:
    buffer = io.BytesIO(text.encode())
    buffer.name = name
    return buffer


# ---------------------------------------------------------------- bad uploads

def test_missing_content_part_is_422(cogmill, token):
    response = httpx.post(f"{cogmill.base_url}/v1/files", headers=_headers(token),
                          files={"other": ("x.txt", b"x", "text/plain")})
    assert _problem(response, 422)["invalid_fields"][0]["field"] == "content"


@pytest.mark.parametrize("metadata", ["{not json", "[1, 2]", '"text"'])
def test_metadata_that_is_not_a_json_object_is_422(cogmill, token, metadata):
    response = httpx.post(f"{cogmill.base_url}/v1/files", headers=_headers(token),
                          data={"metadata": metadata}, files={"content": ("x.txt", b"x", "text/plain")})
    assert _problem(response, 422)["invalid_fields"][0]["field"] == "metadata"


# ---------------------------------------------------------------- files as model inputs

def test_run_with_an_open_file_uploads_it(client, note):
    with note.open("rb") as fh:
        assert client.run("testers/reader", input={"file": fh}) == "a note for the reader\n"


def test_prediction_keeps_the_input_url_as_sent(client, note):
    f = client.files.create(note)
    prediction = wait_finished(
        client.models.predictions.create("testers/reader", input={"file": f.urls["get"]}, wait=True))
    assert prediction.status == "succeeded"
    assert prediction.output == "a note for the reader\n"
    assert client.predictions.get(prediction.id).input == {"file": f.urls["get"]}


def test_download_url_is_accepted_as_input(client, note):
    f = client.files.create(note)
    download_url = f.urls["get"] + "/download"
    assert client.run("testers/reader", input={"file": download_url}) == "a note for the reader\n"


def test_someone_elses_file_is_422_naming_the_field(client, outsider, note):
    f = client.files.create(note)
    with pytest.raises(ReplicateError) as info:
        outsider.run("testers/reader", input={"file": f.urls["get"]})
    assert info.value.status == 422
    assert "file" in info.value.detail and f.id in info.value.detail


def test_unknown_file_url_is_422(client, cogmill):
    with pytest.raises(ReplicateError) as info:
        client.run("testers/reader", input={"file": f"{cogmill.base_url}/v1/files/nosuchfile"})
    assert info.value.status == 422
