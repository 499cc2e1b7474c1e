"""Replicate's details, against a real Cogmill with the official Python client (its `_request` where
it has no method): deadlines, streaming only where a model streams, search, collections, accounts,
files, README and the predictions list."""

import uuid

import httpx
import pytest
from replicate.exceptions import ReplicateError

from tests.api.test_collections_hardware_api import _curate
from tests.server import wait_finished


def test_cancel_after_cancels_a_running_prediction_at_its_deadline(client, gate):
    response = client._request("POST", "/v1/models/testers/gated/predictions",
                               json={"input": {"gate": str(gate)}}, headers={"Cancel-After": "5s"})
    created = response.json()
    assert created["deadline"] is not None
    prediction = client.predictions.get(created["id"])
    wait_finished(prediction, timeout=120)
    assert prediction.status == "canceled"  # never "aborted": the client would raise on it
    assert prediction.output == ["first "] and prediction.error is None


def test_a_bad_cancel_after_is_refused_before_anything_runs(cogmill, token):
    response = httpx.post(f"{cogmill.base_url}/v1/predictions", json={"version": "cogmill/hello-world",
                                                                     "input": {"text": "x"}},
                          headers={"Authorization": f"Bearer {token}", "Cancel-After": "1s"})
    assert response.status_code == 400
    assert "shorter than the minimum, 5s" in response.json()["detail"]


def test_streaming_a_model_that_does_not_stream_says_so_as_against_replicate(cogmill, client):
    with pytest.raises(ReplicateError, match="does not support streaming"):
        list(client.stream("cogmill/hello-world", input={"text": "x"}))
    prediction = client.predictions.create(model="cogmill/hello-world", input={"text": "x"})
    assert "stream" not in prediction.urls
    streamed = client.predictions.create(model="cogmill/textgen", input={"prompt": "a", "max_tokens": 5})
    assert streamed.urls["stream"].startswith(f"{cogmill.base_url}/v1/predictions/{streamed.id}/stream?token=")


def test_search_finds_models_with_scores_and_collections(cogmill, client):
    slug = f"greeters-{uuid.uuid4().hex[:8]}"
    _curate(cogmill, slug, "Greeters hello", "Models that greet", ["cogmill/hello-world"])
    body = client._request("GET", "/v1/search", params={"query": "hello", "limit": 5}).json()
    assert body["query"] == "hello"
    hits = {hit["model"]["owner"] + "/" + hit["model"]["name"]: hit for hit in body["models"]}
    assert hits["cogmill/hello-world"]["model"]["is_official"] is True
    assert 0 < hits["cogmill/hello-world"]["metadata"]["score"] <= 1
    found = next(c for c in body["collections"] if c["slug"] == slug)
    assert found["models"] == ["cogmill/hello-world"]


def test_a_collection_carries_its_full_description(cogmill, client):
    slug = f"described-{uuid.uuid4().hex[:8]}"
    _curate(cogmill, slug, "Described", "Short", [])
    cogmill.manage("shell", "-c", "from playground.models import Collection\n"
                                  f"Collection.objects.filter(slug={slug!r}).update(full_description='## Long')")
    assert client._request("GET", f"/v1/collections/{slug}").json()["full_description"] == "## Long"
    assert client.collections.get(slug).description == "Short"


def test_the_account_avatar_is_an_image(client):
    avatar_url = client._request("GET", "/v1/account").json()["avatar_url"]
    image = httpx.get(avatar_url)
    assert image.status_code == 200 and image.headers["content-type"] == "image/svg+xml"


def test_file_form_fields_name_and_type_the_file(cogmill, token):
    response = httpx.post(f"{cogmill.base_url}/v1/files", headers={"Authorization": f"Bearer {token}"},
                          files={"content": ("blob", b"%PDF-1.4", "application/octet-stream")},
                          data={"filename": "report.pdf", "type": "application/pdf"})
    assert response.status_code == 201
    assert (response.json()["name"], response.json()["content_type"]) == ("report.pdf", "application/pdf")


def test_patch_readme_replaces_the_versions_readme(client, cogmill, token, tmp_path):
    name = f"readme-{uuid.uuid4().hex[:8]}"
    client.models.create("alice", name, visibility="private", hardware="cpu")
    headers = {"Authorization": f"Bearer {token}"}
    patched = httpx.patch(f"{cogmill.base_url}/v1/models/alice/{name}", headers=headers,
                          json={"readme": "# Mine", "weights_url": "https://example.com/w.bin"})
    assert patched.status_code == 200 and patched.json()["weights_url"] == "https://example.com/w.bin"
    assert httpx.get(f"{cogmill.base_url}/v1/models/alice/{name}/readme", headers=headers).text == "# Mine"


def test_created_after_includes_a_prediction_made_at_that_instant(client):
    prediction = client.predictions.create(model="cogmill/hello-world", input={"text": "edge"})
    stamp = prediction.created_at
    listed = client._request("GET", "/v1/predictions", params={"created_after": stamp}).json()["results"]
    assert prediction.id in [p["id"] for p in listed]
    web_only = client._request("GET", "/v1/predictions", params={"source": "web"}).json()["results"]
    assert prediction.id not in [p["id"] for p in web_only]
