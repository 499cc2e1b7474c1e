"""The prediction page's own parts: one set of timings, the JSON view, "Run again", text files shown in
place, and text shown from its first visible character."""

import html
import json
import re

import pytest
from django.utils import timezone

from playground.models import Prediction, Status
from playground.services import runs
from tests.unit.conftest import bearer, client_for, ready_version, stored_output

pytestmark = pytest.mark.django_db

TEXT_FILE_OUTPUT = {"components": {"schemas": {
    "Input": {"type": "object", "properties": {"text": {"type": "string"}}},
    "Output": {"type": "string", "format": "uri"},
}}}
WITH_SECRET = {"components": {"schemas": {
    "Input": {"type": "object", "properties": {
        "text": {"type": "string"}, "api_key": {"type": "string", "format": "password", "x-cog-secret": True}}},
    "Output": {"type": "string"},
}}}


def _writer_run(alice, name: str, content: bytes, content_type: str) -> Prediction:
    """A succeeded run of alice/writer whose output is the file `name` it wrote."""
    version = ready_version(alice, "writer", TEXT_FILE_OUTPUT, "w")
    prediction = Prediction.objects.create(owner=alice, model=version.model, version=version, status=Status.SUCCEEDED,
                                           input={"text": "x"})
    stored_output(prediction, name, content, content_type)
    return prediction


def test_times_are_shown_once_in_the_status_panel(make_prediction, alice):
    now = timezone.now()
    done = make_prediction(status=Status.SUCCEEDED, output="hi", metrics={"predict_time": 1.5, "total_time": 2.0},
                           started_at=now, completed_at=now)
    page = client_for(alice).get(f"/p/{done.id}").content.decode()
    assert page.count("Predict time") == 1 and page.count("Total") == 1
    assert "Total time" not in page


def test_a_running_runs_elapsed_time_is_given_to_the_ticking_clock(make_prediction, alice):
    running = make_prediction(status=Status.PROCESSING)
    page = client_for(alice).get(f"/p/{running.id}").content.decode()
    assert f'data-clock="{running.id}" data-elapsed="' in page
    done = make_prediction(status=Status.SUCCEEDED, output="hi")
    assert "data-elapsed" not in client_for(alice).get(f"/p/{done.id}").content.decode()


def test_text_output_is_shown_from_its_first_visible_character(make_prediction, alice):
    """A continuation starts with the space after the prompt; the page does not show it as an indent."""
    done = make_prediction(status=Status.SUCCEEDED, output=" the cat sat")
    page = client_for(alice).get(f"/p/{done.id}").content.decode()
    assert 'id="output-text">the cat sat</div>' in page


def test_the_json_view_is_the_api_object_for_its_owner_only(alice, bob):
    version = ready_version(alice, "keyed", WITH_SECRET, "k")
    prediction = Prediction.objects.create(owner=alice, model=version.model, version=version, status=Status.SUCCEEDED,
                                           input={"text": "hi", "api_key": "**********"}, output="done",
                                           is_public=True)
    page = client_for(alice).get(f"/p/{prediction.id}").content.decode()
    shown = page.split('id="prediction-json">')[1].split("</pre>")[0]
    body = json.loads(html.unescape(re.sub(r"<[^>]+>", "", shown)))  # highlighted: the spans' text
    api = client_for(None).get(f"/v1/predictions/{prediction.id}", **bearer(alice)).json()
    assert {k: v for k, v in body.items() if k != "urls"} == {k: v for k, v in api.items() if k != "urls"}
    assert body["input"] == {"text": "hi", "api_key": "**********"}  # the secret as the API masks it
    shared = client_for(bob).get(f"/p/{prediction.id}").content.decode()  # shared by link: no API object
    assert "done" in shared and 'id="prediction-json"' not in shared


def test_no_json_view_while_it_runs(make_prediction, alice):
    running = make_prediction(status=Status.PROCESSING)
    assert 'id="prediction-json"' not in client_for(alice).get(f"/p/{running.id}").content.decode()


def test_a_text_file_the_run_wrote_is_shown_in_place(alice):
    prediction = _writer_run(alice, "notes.txt", b"<b>first line</b>\nsecond line\n", "text/plain")
    page = client_for(alice).get(f"/p/{prediction.id}").content.decode()
    assert 'data-preview="notes.txt">&lt;b&gt;first line&lt;/b&gt;\nsecond line\n</pre>' in page  # escaped
    assert "download it for the rest" not in page


def test_a_long_text_file_shows_its_start_and_says_so(alice, settings):
    prediction = _writer_run(alice, "long.txt", b"a" * 20_000 + b"THE END", "text/plain")
    page = client_for(alice).get(f"/p/{prediction.id}").content.decode()
    assert "download it for the rest" in page and "THE END" not in page


def test_a_binary_file_gets_no_preview(alice):
    prediction = _writer_run(alice, "weights.bin", b"\x00\x01secret-ish", "application/octet-stream")
    page = client_for(alice).get(f"/p/{prediction.id}").content.decode()
    assert "data-preview" not in page and "weights.bin" in page


def test_run_again_makes_a_new_run_with_the_same_input(make_prediction, alice):
    done = make_prediction(status=Status.SUCCEEDED, output="hello", input={"text": "again"})
    client = client_for(alice)
    assert "Run again" in client.get(f"/p/{done.id}").content.decode()
    response = client.post(f"/p/{done.id}/again")
    again = Prediction.objects.exclude(pk=done.pk).get()
    assert response.status_code == 302 and response["Location"] == f"/p/{again.id}"
    assert again.input == {"text": "again"} and again.owner == alice and again.source == "web"


def test_only_the_owner_may_run_it_again(make_prediction, alice, bob):
    done = make_prediction(status=Status.SUCCEEDED, output="hello", is_public=True)
    client = client_for(bob)
    assert "Run again" not in client.get(f"/p/{done.id}").content.decode()
    assert client.post(f"/p/{done.id}/again").status_code == 404
    assert client_for(None).post(f"/p/{done.id}/again").status_code == 404
    assert Prediction.objects.count() == 1


def test_run_again_is_refused_once_the_model_is_hidden_or_the_version_deleted(alice, bob):
    """bob ran alice's public model; once she makes it private, or deletes that version, his old run is
    no way to run it again."""
    version = ready_version(alice, "public-then-not", TEXT_FILE_OUTPUT, "v")
    done = Prediction.objects.create(owner=bob, model=version.model, version=version, status=Status.SUCCEEDED,
                                     input={"text": "x"})
    client = client_for(bob)
    assert "Run again" in client.get(f"/p/{done.id}").content.decode()
    version.model.visibility = "private"
    version.model.save()
    assert "Run again" not in client.get(f"/p/{done.id}").content.decode()
    assert "cannot be run again" in client.post(f"/p/{done.id}/again", follow=True).content.decode()
    version.model.visibility = "public"
    version.model.save()
    version.hidden = True
    version.save()
    assert "cannot be run again" in client.post(f"/p/{done.id}/again", follow=True).content.decode()
    assert Prediction.objects.count() == 1


def test_runs_that_cannot_be_repeated_say_why_and_make_nothing(make_prediction, alice):
    """A run with a secret (sealed for that run only) or with its data erased is not offered again; a
    crafted post is refused with a message and makes no run."""
    version = ready_version(alice, "keyed", WITH_SECRET, "k")
    keyed = Prediction.objects.create(owner=alice, model=version.model, version=version, status=Status.SUCCEEDED,
                                      input={"text": "hi", "api_key": "**********"}, output="done")
    erased = make_prediction(status=Status.SUCCEEDED, data_removed=True, input={})
    client = client_for(alice)
    for prediction in (keyed, erased):
        assert not runs.can_run_again(alice, prediction)
        assert "Run again" not in client.get(f"/p/{prediction.id}").content.decode()
        page = client.post(f"/p/{prediction.id}/again", follow=True).content.decode()
        assert "cannot be run again as it was" in page
    assert Prediction.objects.count() == 2


def test_a_refused_run_again_says_why_on_the_page(make_prediction, alice, settings):
    settings.COGMILL_MAX_ACTIVE_RUNS = 1
    done = make_prediction(status=Status.SUCCEEDED, output="hello")
    make_prediction(status=Status.PROCESSING)
    page = client_for(alice).post(f"/p/{done.id}/again", follow=True).content.decode()
    assert "It could not run again:" in page and Prediction.objects.count() == 2
