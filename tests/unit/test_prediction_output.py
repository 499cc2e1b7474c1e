"""How the prediction page decides to show an output, its inputs and its cost (in-process)."""

import json
from decimal import Decimal

import pytest

from playground.models import Hardware, Prediction, Status, Version
from playground.services.runs import cost_of
from tests.unit.conftest import client_for
from web.presenters import format_cost, input_rows, output_view, prefill_url

pytestmark = pytest.mark.django_db

URI = {"type": "string", "format": "uri"}
SCHEMAS = {
    "text": {"type": "string"},
    "stream": {"type": "array", "items": {"type": "string"}, "x-cog-array-type": "iterator",
               "x-cog-array-display": "concatenate"},
    "file": URI,
    "images": {"type": "array", "items": URI, "x-cog-array-type": "iterator"},
    "object": {"type": "object", "properties": {"n": {"type": "integer"}}},
}
INPUT = {"type": "object", "properties": {
    "prompt": {"type": "string"}, "image": URI, "api_key": {"type": "string", "format": "password", "x-cog-secret": True},
    "steps": {"type": "integer"}, "fast": {"type": "boolean"},
}}


def _version(model, output: dict, vid: str) -> Version:
    schema = {"components": {"schemas": {"Input": INPUT, "Output": output}}}
    return Version.objects.create(model=model, version_id=vid * 64, openapi_schema=schema)


@pytest.mark.parametrize(("name", "kind"), [("text", "text"), ("stream", "text"), ("file", "file"),
                                            ("images", "files"), ("object", "json")])
def test_output_kind_follows_the_output_schema(version, name, kind):
    assert _version(version.model, SCHEMAS[name], "b").schema.output_kind() == kind


def test_files_are_split_into_images_and_players(version, alice):
    v = _version(version.model, SCHEMAS["images"], "c")
    urls = ["http://x/output/1/output.png", "http://x/output/2/output_1.wav", "http://x/output/3/a.mp4",
            "http://x/output/4/b.zip"]
    shown = output_view(Prediction(owner=alice, model=v.model, version=v, output=urls, status=Status.SUCCEEDED))
    assert [f["name"] for f in shown["images"]] == ["output.png"]
    assert [f["kind"] for f in shown["others"]] == ["audio", "video", "file"]


def test_inputs_mask_secrets_link_files_and_tweak_skips_both(version, alice):
    v = _version(version.model, SCHEMAS["text"], "d")
    data = {"prompt": "a cat", "image": "https://example.com/cat.png", "api_key": "sk-123", "steps": 4, "fast": True}
    prediction = Prediction(owner=alice, model=v.model, version=v, input=data)
    rows = {row["name"]: row for row in input_rows(prediction, alice)}
    assert rows["api_key"]["kind"] == "secret" and "sk-123" not in str(rows["api_key"])
    assert rows["image"]["files"][0]["url"] == "https://example.com/cat.png"
    assert prefill_url(prediction) == f"/alice/echo?version={'d' * 64}&prompt=a+cat&steps=4&fast=true"


def test_cost_is_predict_time_times_the_hardware_price(version, alice):
    version.model.hardware = Hardware.objects.create(sku="test-gpu", name="Test GPU", price_per_second=Decimal("0.000225"))
    prediction = Prediction(owner=alice, model=version.model, version=version, metrics={"predict_time": 2})
    assert cost_of(prediction) == Decimal("0.00045")
    assert format_cost(cost_of(prediction)) == "$0.00045"
    assert format_cost(Decimal("12.5")) == "$12.50" and format_cost(Decimal(0)) == "$0.00"


def test_a_failed_run_shows_its_error_and_no_empty_boxes(make_prediction, alice):
    quiet = make_prediction(status=Status.FAILED, error="ValueError: kaput", logs="")
    page = client_for(alice).get(f"/p/{quiet.id}").content.decode()
    assert "ValueError: kaput" in page
    assert 'id="output-text"' not in page and 'id="logs"' not in page
    talkative = make_prediction(status=Status.FAILED, error="ValueError: kaput", logs="about to fail\n")
    page = client_for(alice).get(f"/p/{talkative.id}").content.decode()
    assert 'id="logs"' in page and "about to fail" in page


def test_a_running_run_keeps_its_boxes_for_the_stream(make_prediction, alice):
    page = client_for(alice).get(f"/p/{make_prediction(status=Status.PROCESSING).id}").content.decode()
    assert 'id="output-text"' in page and 'id="logs"' in page


DETECTION = {"type": "object", "properties": {"faces": {"type": "array", "items": {"type": "object"}},
                                              "image": URI, "crops": {"type": "array", "items": URI}}}


def test_an_objects_file_fields_show_as_files_beside_its_json(version, alice):
    v = _version(version.model, DETECTION, "e")
    out = {"faces": [{"box": [1, 2, 3, 4]}], "image": "http://x/output/1/faces.png",
           "crops": ["http://x/output/2/crop.png", "http://x/output/3/crop.txt"]}
    shown = output_view(Prediction(owner=alice, model=v.model, version=v, output=out, status=Status.SUCCEEDED))
    assert shown["kind"] == "json" and '"faces"' in shown["json"]
    assert [f["name"] for f in shown["images"]] == ["faces.png", "crop.png"]
    assert [f["name"] for f in shown["others"]] == ["crop.txt"]
    assert "compare" not in shown  # boxes drawn on a photo are read, not compared with it
    # A string in a field the schema does not call a file is only text: "javascript:" never becomes a link.
    sneaky = {"faces": [], "image": "javascript:alert(1)", "note": "http://x/output/9/x.png"}
    shown = output_view(Prediction(owner=alice, model=v.model, version=v, output=sneaky, status=Status.SUCCEEDED))
    assert shown["images"] == [] and shown["others"] == [{"url": None, "kind": "text", "name": "javascript:alert(1)"}]


def test_embeddings_are_offered_as_vectors_to_copy(version, alice):
    v = _version(version.model, {"type": "array", "items": {"type": "object"}}, "f")
    out = [{"text": "a cat", "embedding": [0.5] * 384}, {"text": "a dog", "embedding": [-0.25] * 384}]
    shown = output_view(Prediction(owner=alice, model=v.model, version=v, output=out, status=Status.SUCCEEDED))
    assert [(x["label"], x["length"]) for x in shown["vectors"]] == [("a cat", 384), ("a dog", 384)]
    assert shown["vectors"][1]["head"] == "-0.25, -0.25, -0.25, -0.25"
    assert json.loads(shown["vectors"][0]["json"]) == [0.5] * 384
    many = [{"text": f"t{i}", "embedding": [0.0] * 8} for i in range(80)]
    shown = output_view(Prediction(owner=alice, model=v.model, version=v, output=many, status=Status.SUCCEEDED))
    assert (len(shown["vectors"]), shown["vectors_total"]) == (50, 80) and '"t79"' in shown["json"]  # the page lists 50; the JSON has all
    bare = output_view(Prediction(owner=alice, model=v.model, version=v, output=[0.1] * 16, status=Status.SUCCEEDED))
    assert [x["label"] for x in bare["vectors"]] == ["vector"]
    # A few numbers, or numbers mixed with text, are read in the JSON, not offered as a vector.
    for out in ([1, 2, 3], [{"scores": [1, 2]}], [{"row": [1, "a"] * 8}], [True] * 10):
        shown = output_view(Prediction(owner=alice, model=v.model, version=v, output=out, status=Status.SUCCEEDED))
        assert shown["vectors"] == [], out


def test_one_image_made_from_one_image_is_shown_before_and_after(version, alice):
    v = _version(version.model, SCHEMAS["file"], "g")
    given = {"image": "https://example.com/small.png", "prompt": "x"}
    made = Prediction(owner=alice, model=v.model, version=v, input=given, output="http://x/output/1/big.png",
                      status=Status.SUCCEEDED)
    shown = output_view(made, input_rows(made, alice))
    assert shown["compare"] == {"before": "https://example.com/small.png", "after": "http://x/output/1/big.png",
                                "name": "big.png"}
    page_made = Prediction(owner=alice, model=v.model, version=v, input={"prompt": "x"},
                           output="http://x/output/1/big.png", status=Status.SUCCEEDED)
    assert output_view(page_made, input_rows(page_made, alice))["compare"] is None  # nothing to compare with
    audio_in = Prediction(owner=alice, model=v.model, version=v, input={"image": "https://example.com/a.wav"},
                          output="http://x/output/1/big.png", status=Status.SUCCEEDED)
    assert output_view(audio_in, input_rows(audio_in, alice))["compare"] is None
    running = Prediction(owner=alice, model=v.model, version=v, input=given, output=None, status=Status.PROCESSING)
    assert "compare" not in output_view(running, input_rows(running, alice))
