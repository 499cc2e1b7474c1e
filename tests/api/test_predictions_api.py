"""The Python client's prediction calls beyond run/stream: async, lists and pages, get."""

import asyncio
import datetime as dt
import uuid

import pytest
import replicate


@pytest.fixture
def paging_client(cogmill) -> replicate.Client:
    """A user of its own, so counts and order are exactly what the test made."""
    return replicate.Client(api_token=cogmill.token(f"pager-{uuid.uuid4().hex[:8]}"), base_url=cogmill.base_url)


def test_async_run_with_gather(client):
    async def main():
        return await asyncio.gather(
            *(client.async_run("cogmill/hello-world", input={"text": str(i)}) for i in range(5))
        )

    assert asyncio.run(main()) == [f"hello {i}" for i in range(5)]


def test_async_run_of_an_iterator_model(client, gate):
    gate.touch()

    async def main():
        return await client.async_run("testers/gated", input={"gate": str(gate), "tokens": 2})

    assert asyncio.run(main()) == ["first ", "t0 ", "t1 "]


def test_get_returns_what_create_returned(client):
    created = client.predictions.create(model="cogmill/hello-world", input={"text": "g"})
    fetched = client.predictions.get(created.id)
    assert (fetched.id, fetched.model, fetched.version, fetched.input) == (
        created.id, "cogmill/hello-world", created.version, {"text": "g"})
    assert fetched.urls == created.urls


def test_paginate_walks_every_prediction_newest_first(paging_client):
    made = [paging_client.predictions.create(model="cogmill/hello-world", input={"text": str(i)}).id
            for i in range(103)]
    pages = list(replicate.paginate(paging_client.predictions.list))
    assert [len(p.results) for p in pages] == [100, 3]
    assert pages[0].next and pages[0].next.startswith("http") and pages[1].next is None
    assert [p.id for page in pages for p in page.results] == list(reversed(made))


def test_async_paginate(paging_client):
    made = {paging_client.predictions.create(model="cogmill/hello-world", input={"text": "x"}).id for _ in range(3)}

    async def main():
        return [p.id async for page in replicate.async_paginate(paging_client.predictions.async_list)
                for p in page.results]

    assert made <= set(asyncio.run(main()))


def test_list_filters_by_creation_time(paging_client):
    before = paging_client.predictions.create(model="cogmill/hello-world", input={"text": "a"})
    cut = dt.datetime.fromisoformat(before.created_at.replace("Z", "+00:00")) + dt.timedelta(microseconds=1)
    after = paging_client.predictions.create(model="cogmill/hello-world", input={"text": "b"})
    stamp = cut.isoformat().replace("+00:00", "Z")
    newer = paging_client._client.get(f"/v1/predictions?created_after={stamp}").json()["results"]
    older = paging_client._client.get(f"/v1/predictions?created_before={stamp}").json()["results"]
    assert after.id in [p["id"] for p in newer] and before.id not in [p["id"] for p in newer]
    assert before.id in [p["id"] for p in older] and after.id not in [p["id"] for p in older]


def test_a_secret_input_reaches_the_model_and_is_masked_everywhere_else(client, cogmill):
    """The model gets the real key (its digest comes back); the prediction as created, fetched and
    listed shows a mask, as Replicate does."""
    import hashlib

    key = "sk-live-" + uuid.uuid4().hex
    prediction = client.predictions.create(f"testers/secretive:{cogmill.versions['secretive']}",
                                           input={"api_key": key, "text": "hi"})
    assert prediction.input == {"api_key": "**********", "text": "hi"}
    prediction.wait()
    assert prediction.output == hashlib.sha256(key.encode()).hexdigest()[:16] + " hi"
    fetched = client.predictions.get(prediction.id)
    assert fetched.input["api_key"] == "**********" and key not in str(fetched.__dict__)
    listed = next(p for p in client.predictions.list().results if p.id == prediction.id)
    assert listed.input["api_key"] == "**********"
