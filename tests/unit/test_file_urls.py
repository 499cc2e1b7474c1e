"""A stored file's URL is a capability that expires: the API, webhooks, streams and pages hand it
out signed, and it opens the file with no token until then. After that, or unsigned, the file is
read only by whoever may see its run (Bearer or session); everyone else gets a 404, as if there
were no such file. Unsharing a run thus closes its files once the URLs handed out run out."""

import time
from unittest import mock
from urllib.parse import urlsplit

import pytest
from django.core.files.base import ContentFile
from django.test import Client

from playground import capabilities
from playground.models import File, Status
from playground.services import files, runs
from tests.unit.conftest import bearer, client_for, ready_version, stored_output

pytestmark = pytest.mark.django_db

FILE_OUTPUT = {"components": {"schemas": {
    "Input": {"type": "object", "properties": {}},
    "Output": {"type": "string", "format": "uri"},
}}}


@pytest.fixture
def shared(alice, make_prediction):
    """alice's prediction whose output is a stored image (not shared)."""
    version = ready_version(alice, "painter", FILE_OUTPUT, "e")
    prediction = make_prediction(of=version, input={}, status=Status.SUCCEEDED)
    stored_output(prediction, "out.png", b"\x89PNG!", "image/png")
    return prediction


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def test_the_api_hands_out_a_signed_url_that_opens_the_file_with_no_token(shared, auth):
    url = Client().get(f"/v1/predictions/{shared.id}", **auth).json()["output"]
    assert "?expires=" in url and "&sig=" in url
    response = Client().get(_path(url))
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"\x89PNG!"


def test_the_stored_output_keeps_the_plain_url(shared, auth):
    """Signatures are made where a URL is shown; the row keeps what a later input can name."""
    shared.refresh_from_db()
    assert "?" not in shared.output


@pytest.mark.parametrize("who", ["anonymous", "outsider"])
def test_an_unsigned_or_forged_url_is_404_to_others(shared, mallory, who):
    client = client_for(mallory if who == "outsider" else None)
    assert client.get(_path(shared.output)).status_code == 404
    assert client.get(_path(shared.output) + "?expires=9999999999&sig=" + "0" * 32).status_code == 404


def test_whoever_may_see_the_run_reads_it_unsigned(shared, alice, mallory):
    assert client_for(alice).get(_path(shared.output)).status_code == 200
    assert Client().get(_path(shared.output), **bearer(alice)).status_code == 200
    assert Client().get(_path(shared.output), **bearer(mallory)).status_code == 404


def test_an_expired_url_says_so(shared, alice):
    with mock.patch("time.time", return_value=time.time() - 3 * 24 * 3600):
        stale = capabilities.signed_file_url(shared.output)
    response = Client().get(_path(stale))
    assert response.status_code == 403 and b"expired" in response.content
    assert client_for(alice).get(_path(stale)).status_code == 200  # the owner still reads it


def test_a_shared_runs_page_signs_its_files_and_unsharing_closes_them(shared):
    shared.is_public = True
    shared.save()
    page = Client().get(f"/p/{shared.id}").content.decode().replace("&amp;", "&")
    signed = next(part for part in page.split('"') if "/out.png?expires=" in part)
    anonymous = Client()
    assert anonymous.get(_path(signed)).status_code == 200
    assert anonymous.get(_path(shared.output)).status_code == 200  # anyone may see the run
    shared.is_public = False
    shared.save()
    assert anonymous.get(f"/p/{shared.id}").status_code == 404
    assert anonymous.get(_path(shared.output)).status_code == 404
    assert anonymous.get(_path(signed)).status_code == 200  # until the URL handed out runs out


def test_a_signature_opens_only_its_own_file(shared, alice, make_prediction):
    other = File(kind=File.Kind.OUTPUT, owner=alice, name="other.png", content_type="image/png", size=1,
                 sha256="1" * 64, md5="1" * 32)
    other.content.save("other.png", ContentFile(b"x"), save=False)
    other.save()
    query = urlsplit(capabilities.signed_file_url(shared.output)).query
    assert Client().get(f"{urlsplit(other.url).path}?{query}").status_code == 404


def test_a_signed_url_given_as_an_input_names_the_same_file(shared):
    assert files.stored_file(capabilities.signed_file_url(shared.output)).pk == shared.files.get().pk


FILE_INPUT = {"components": {"schemas": {
    "Input": {"type": "object", "properties": {"image": {"type": "string", "format": "uri"}}},
    "Output": {"type": "string"},
}}}


def test_a_file_url_as_an_input_must_be_one_the_caller_may_read(shared, alice, mallory):
    """The worker copies a stored file straight from storage: an old unsigned URL of a run that is
    not shared with the caller must not open it that way either."""
    model = ready_version(mallory, "reader", FILE_INPUT, "f").model

    def run(who, image):
        return Client().post("/v1/models/mallory/reader/predictions", {"input": {"image": image}},
                             content_type="application/json", **bearer(who))

    refused = run(mallory, shared.output)
    assert refused.status_code == 422
    assert refused.json()["invalid_fields"][0]["field"] == "image"
    assert "not shared with you" in refused.json()["detail"]
    assert run(mallory, capabilities.signed_file_url(shared.output)).status_code == 201  # handed to her
    model.visibility = "public"
    model.save()
    assert run(alice, shared.output).status_code == 201  # her own file


TEXT_IN_OUT = {"components": {"schemas": {
    "Input": {"type": "object", "properties": {"text": {"type": "string"}}},
    "Output": {"type": "string"},
}}}


@pytest.fixture
def mallorys(mallory, make_prediction):
    """mallory/echo, her own model, which takes and returns text; and a factory of her predictions of it."""
    version = ready_version(mallory, "echo", TEXT_IN_OUT, "9")
    return lambda **fields: make_prediction(owner=mallory, of=version, status=Status.SUCCEEDED, **fields)


def test_only_a_runs_own_files_are_signed_in_what_it_shows(shared, mallory, mallorys):
    """A model that returns another run's file URL, or a text that holds one, gets nothing signed."""
    theirs = mallorys(output=shared.output)
    inside = mallorys(output=f"see {shared.output} for details")
    body = Client().get(f"/v1/predictions/{theirs.id}", **bearer(mallory)).json()
    assert body["output"] == shared.output
    assert Client().get(f"/v1/predictions/{inside.id}", **bearer(mallory)).json()["output"] == inside.output
    assert Client().get(_path(body["output"])).status_code == 404


def test_a_page_signs_a_file_in_the_input_only_while_its_viewer_may_read_it(shared, mallory, mallorys):
    signed = capabilities.signed_file_url(shared.output)
    mine = mallorys(input={"text": signed})
    assert runs.shown_input(mine, mallory)["text"] == signed  # as she gave it
    plain = mallorys(input={"text": shared.output})
    assert runs.shown_input(plain, mallory)["text"] == shared.output  # never signed for her
    shared.is_public = True
    shared.save()
    assert "?expires=" in runs.shown_input(plain, mallory)["text"]  # while alice shares it
    shared.is_public = False
    shared.save()
    assert runs.shown_input(plain, mallory)["text"] == shared.output


def test_a_file_url_inside_a_text_input_is_only_text(shared, mallory, mallorys):
    response = Client().post("/v1/models/mallory/echo/predictions", {"input": {"text": shared.output}},
                             content_type="application/json", **bearer(mallory))
    assert response.status_code == 201
