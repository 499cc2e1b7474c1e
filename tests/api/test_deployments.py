"""Deployments with the official Python client, unmodified: create, get, list, update (a new
release), run through one (both of the client's ways), delete; others see nothing of them."""

import asyncio
import uuid

import pytest
import replicate
from replicate.exceptions import ReplicateError

from tests.server import wait_finished


@pytest.fixture
def deployment(client, cogmill):
    name = f"hello-{uuid.uuid4().hex[:8]}"
    created = client.deployments.create(name=name, model="cogmill/hello-world",
                                        version=cogmill.versions["hello-world"], hardware="cpu",
                                        min_instances=0, max_instances=2)
    yield created
    try:
        client.deployments.delete("alice", name)
    except ReplicateError:
        pass  # the test deleted it


def test_create_get_list_update_delete(client, cogmill, deployment):
    release = deployment.current_release
    assert (deployment.owner, deployment.id) == ("alice", f"alice/{deployment.name}")
    assert (release.number, release.model, release.version) == (1, "cogmill/hello-world",
                                                                  cogmill.versions["hello-world"])
    assert (release.configuration.hardware, release.configuration.min_instances,
            release.configuration.max_instances) == ("cpu", 0, 2)
    assert release.created_by.username == "alice"
    assert client.deployments.get(deployment.id).current_release.number == 1
    assert deployment.name in [d.name for d in client.deployments.list().results]

    updated = client.deployments.update("alice", deployment.name, max_instances=3)
    assert (updated.current_release.number, updated.current_release.configuration.max_instances) == (2, 3)
    assert updated.current_release.version == release.version  # what it runs is unchanged

    assert client.deployments.delete("alice", deployment.name) is True
    with pytest.raises(ReplicateError) as gone:
        client.deployments.get(deployment.id)
    assert gone.value.status == 404


def test_predictions_through_a_deployment_both_ways(client, deployment):
    first = client.deployments.predictions.create(deployment.id, input={"text": "one"}, wait=True)
    second = deployment.predictions.create(input={"text": "two"})
    for prediction, text in ((first, "one"), (second, "two")):
        wait_finished(prediction)
        assert (prediction.status, prediction.output) == ("succeeded", f"hello {text}")
    assert client._request("GET", f"/v1/predictions/{first.id}").json()["deployment"] == deployment.id


def test_bad_configuration_is_a_422_from_the_client(client, cogmill):
    with pytest.raises(ReplicateError) as refused:
        client.deployments.create(name=f"bad-{uuid.uuid4().hex[:6]}", model="cogmill/hello-world",
                                  version=cogmill.versions["hello-world"], hardware="cpu",
                                  min_instances=3, max_instances=1)
    assert refused.value.status == 422 and "min_instances" in str(refused.value)


def test_others_deployments_are_not_found(outsider, deployment):
    with pytest.raises(ReplicateError) as hidden:
        outsider.deployments.get(deployment.id)
    assert hidden.value.status == 404
    with pytest.raises(ReplicateError) as refused:
        outsider.deployments.predictions.create(deployment.id, input={"text": "x"})
    assert refused.value.status == 404
    assert deployment.name not in [d.name for d in outsider.deployments.list().results]


def test_the_async_client_runs_a_deployment(cogmill, token, deployment):
    async def go():
        async_client = replicate.Client(api_token=token, base_url=cogmill.base_url)
        prediction = await async_client.deployments.predictions.async_create(deployment.id, input={"text": "a"},
                                                                              wait=True)
        while prediction.status not in {"succeeded", "failed", "canceled"}:
            await prediction.async_reload()
        return prediction

    prediction = asyncio.run(go())
    assert (prediction.status, prediction.output) == ("succeeded", "hello a")
