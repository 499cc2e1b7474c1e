"""How the prediction page decides to show an output, its inputs and its cost (in-process)."""

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
