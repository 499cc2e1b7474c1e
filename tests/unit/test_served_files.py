"""Files Cogmill serves can never run script on its origin: only harmless types show in place,
everything is sandboxed and `nosniff`, and pages link only to http(s) and raster data: images."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from playground import capabilities
from playground.models import BuildStatus, Model, Version
from playground.services import files
from tests.unit.conftest import client_for

pytestmark = pytest.mark.django_db

FILE_OUTPUT = {"components": {"schemas": {
    "Input": {"type": "object", "properties": {}},
    "Output": {"type": "array", "items": {"type": "string", "format": "uri"}},
}}}


def _served(client, owner, name: str, content_type: str, data: bytes = b"<script>alert(1)</script>"):
    upload = files.create_upload(owner, SimpleUploadedFile(name, data, content_type), None)
    return client.get(capabilities.signed_file_url(upload.url))


@pytest.mark.parametrize(("name", "content_type"), [
    ("page.html", "text/html"), ("logo.svg", "image/svg+xml"), ("feed.xml", "application/xml"),
    ("app.js", "text/javascript"), ("blob", "application/x-unknown"), ("page.html", "text/html; charset=utf-8"),
])
def test_types_that_can_run_script_are_downloads(client, alice, name, content_type):
    response = _served(client, alice, name, content_type)
    assert response["Content-Disposition"].startswith("attachment")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"].startswith("sandbox")


@pytest.mark.parametrize(("name", "content_type"), [
    ("photo.png", "image/png"), ("notes.txt", "text/plain; charset=utf-8"), ("song.mp3", "audio/mpeg"),
    ("clip.mp4", "video/mp4"), ("paper.pdf", "application/pdf"),
])
def test_harmless_types_show_in_place_still_sandboxed(client, alice, name, content_type):
    response = _served(client, alice, name, content_type, b"bytes")
    assert response["Content-Disposition"].startswith("inline")
    assert response["X-Content-Type-Options"] == "nosniff" and "sandbox" in response["Content-Security-Policy"]
    assert b"".join(response.streaming_content) == b"bytes"


def test_the_api_download_is_always_an_attachment(client, alice, auth):
    upload = files.create_upload(alice, SimpleUploadedFile("photo.png", b"png", "image/png"), None)
    response = client.get(f"/v1/files/{upload.id}/download", **auth)
    assert response["Content-Disposition"].startswith("attachment") and response["X-Content-Type-Options"] == "nosniff"


def test_a_model_output_that_is_not_a_web_url_is_shown_as_text_not_a_link(alice, make_prediction):
    model = Model.objects.create(owner=alice, name="files")
    version = Version.objects.create(model=model, version_id="f" * 64, build_status=BuildStatus.READY,
                                     openapi_schema=FILE_OUTPUT)
    prediction = make_prediction(of=version, status="succeeded", input={},
                                 output=["javascript:alert(document.cookie)", "data:text/html,<script>x</script>",
                                         "https://example.com/ok.png"])
    page = client_for(alice).get(f"/p/{prediction.id}").content.decode()
    assert 'href="javascript:' not in page and 'src="javascript:' not in page
    assert 'href="data:text/html' not in page and "javascript:alert(document.cookie)</span>" in page
    assert 'src="https://example.com/ok.png"' in page


def test_the_api_docs_do_not_keep_the_token_in_local_storage(client):
    page = client.get("/v1/docs").content.decode()
    assert '"persistAuthorization": false' in page.replace("False", "false")
