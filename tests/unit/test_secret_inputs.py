"""Secret inputs: masked in what is stored and shown, sealed for the worker, dropped at the end."""

import json

import pytest

from playground import sealing
from playground.models import BuildStatus, Model, Prediction, Status, Version, WebhookDelivery
from playground.services import runs

pytestmark = pytest.mark.django_db

SCHEMA = {"components": {"schemas": {"Input": {"type": "object", "required": ["api_key"], "properties": {
    "api_key": {"type": "string", "format": "password", "x-cog-secret": True, "x-order": 0},
    "text": {"type": "string", "x-order": 1}}}, "Output": {"type": "string"}}}}
KEY = "sk-live-0123456789abcdef"


@pytest.fixture
def secretive(alice) -> Version:
    model = Model.objects.create(owner=alice, name="secretive")
    return Version.objects.create(model=model, version_id="c" * 64, build_status=BuildStatus.READY,
                                  openapi_schema=SCHEMA, cog_version="0.23.1")


def test_a_secret_is_never_stored_in_clear_and_is_gone_when_the_run_ends(client, auth, secretive, settings):
    settings.COGMILL_WEBHOOK_ALLOW_PRIVATE = True
    body = {"version": secretive.version_id, "input": {"api_key": KEY, "text": "hi"},
            "webhook": "http://127.0.0.1:9/hook"}
    created = client.post("/v1/predictions", body, content_type="application/json", **auth)
    assert created.status_code == 201 and created.json()["input"] == {"api_key": sealing.MASK, "text": "hi"}
    prediction = Prediction.objects.get(pk=created.json()["id"])
    assert prediction.input == {"api_key": sealing.MASK, "text": "hi"}
    assert KEY not in prediction.sealed_secrets and KEY not in json.dumps(prediction.input)
    assert sealing.unseal(prediction.input, prediction.sealed_secrets) == {"api_key": KEY, "text": "hi"}
    fetched = client.get(f"/v1/predictions/{prediction.id}", **auth).content.decode()
    assert KEY not in fetched and sealing.MASK in fetched
    runs.end(prediction, Status.SUCCEEDED, output="ok", logs="")
    prediction.refresh_from_db()
    assert prediction.sealed_secrets == ""
    deliveries = WebhookDelivery.objects.filter(run_id=prediction.id)
    assert deliveries.exists() and all(KEY not in d.body for d in deliveries)


def test_secrets_sealed_under_another_key_cannot_be_read(settings):
    shown, sealed = sealing.seal({"api_key": "secret", "text": "string"}, {"api_key": KEY, "text": "x"})
    settings.SECRET_KEY = "another key altogether"
    with pytest.raises(sealing.Unsealable, match="SECRET_KEY changed"):
        sealing.unseal(shown, sealed)


def test_a_run_without_secrets_seals_nothing():
    assert sealing.seal({"text": "string"}, {"text": "x"}) == ({"text": "x"}, "")
    assert sealing.seal({"api_key": "secret"}, {"api_key": None}) == ({"api_key": None}, "")
