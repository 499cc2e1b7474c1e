"""Who may read a run's live stream, and how many at once, in-process against the real Redis.

`urls.stream` is a capability that expires: it opens the stream with no token while fresh; after
that, and without it, only someone who may see the run reads it (Bearer or session). Everyone else
gets the 404 of a run that does not exist. Readers at once are capped per run and per client.
"""

import time
from unittest import mock
from urllib.parse import urlsplit

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, override_settings

from api import streams
from cogmill import redis as cogmill_redis
from playground import capabilities
from playground.models import Status, Version
from tests.unit.conftest import bearer, ready_version

pytestmark = pytest.mark.django_db

ITERATOR_SCHEMA = {
    "components": {
        "schemas": {
            "Input": {"type": "object", "properties": {"prompt": {"type": "string"}}},
            "Output": {"type": "array", "items": {"type": "string"}, "x-cog-array-type": "iterator"},
        }
    }
}


@pytest.fixture(autouse=True)
def no_stream_slots():
    """Slots are keyed by run and client; rolled-back rows reuse neither, but a failed test's might linger."""
    yield
    r = cogmill_redis.client()
    for key in r.scan_iter("cogmill:streams:*"):
        r.delete(key)


@pytest.fixture
def talker(alice) -> Version:
    """alice/talker: a model whose output streams."""
    return ready_version(alice, "talker", ITERATOR_SCHEMA, "b")


@pytest.fixture
def finished(talker, make_prediction):
    """alice's prediction of talker, ended: its stream replays from the row."""
    return make_prediction(of=talker, input={"prompt": "hi"}, status=Status.SUCCEEDED, output=["he", "llo"])


@pytest.fixture
def live(talker, make_prediction):
    """alice's prediction of talker, still running: its stream stays open until it ends."""
    return make_prediction(of=talker, input={"prompt": "hi"}, status=Status.PROCESSING)


def _get(url: str, user=None, headers: dict | None = None, read: bool = True):
    """(status, body, response) of a GET; `read=False` leaves a stream open and unread."""
    named = {key.removeprefix("HTTP_").replace("_", "-"): value for key, value in (headers or {}).items()}

    async def go():
        client = AsyncClient()
        if user is not None:
            await client.aforce_login(user)
        response = await client.get(url, headers=named)
        if not response.streaming:
            return response.status_code, response.content.decode(), response
        body = b"".join([chunk async for chunk in response.streaming_content]) if read else b""
        return response.status_code, body.decode(), response

    return async_to_sync(go)()


def _stream_url(prediction) -> str:
    url = urlsplit(prediction.to_dict()["urls"]["stream"])
    return f"{url.path}?{url.query}"


def _path(prediction) -> str:
    return f"/v1/predictions/{prediction.id}/stream"


def test_urls_stream_opens_the_stream_with_no_token(finished):
    url = _stream_url(finished)
    assert "?token=" in url
    status, body, _ = _get(url)
    assert status == 200
    assert "event: output\nid: 0-1\ndata: he\n" in body and "event: done" in body


@pytest.mark.parametrize("who", ["anonymous", "outsider_token", "outsider_session"])
def test_without_the_capability_only_viewers_read_it(finished, mallory, who):
    user = mallory if who == "outsider_session" else None
    headers = bearer(mallory) if who == "outsider_token" else None
    status, body, _ = _get(_path(finished), user=user, headers=headers)
    assert status == 404
    assert "not found" in body


@pytest.mark.parametrize("how", ["token", "session"])
def test_the_owner_reads_it_without_the_capability(finished, alice, how):
    status, body, _ = _get(_path(finished), user=alice if how == "session" else None,
                           headers=bearer(alice) if how == "token" else None)
    assert status == 200 and "event: done" in body


def test_an_expired_capability_says_to_get_a_fresh_one(finished, alice):
    with mock.patch("time.time", return_value=time.time() - 7200):
        stale = _stream_url(finished)
    status, body, _ = _get(stale)
    assert status == 403
    assert "expired" in body and "fresh urls.stream" in body
    assert _get(stale, headers=bearer(alice))[0] == 200  # the owner's token still opens it
    assert _get(_stream_url(finished))[0] == 200  # and a GET hands out a working one


def test_another_runs_capability_opens_nothing(finished, make_prediction):
    other = make_prediction(status=Status.SUCCEEDED, output="x")
    token = capabilities.stream_token(other.id)
    assert _get(f"{_path(finished)}?token={token}")[0] == 404
    assert _get(f"{_path(finished)}?token=forged:value")[0] == 404


def test_readers_per_client_are_capped_and_a_closed_stream_frees_its_slot(finished, live, alice):
    with override_settings(COGMILL_STREAMS_PER_CLIENT=1):
        # One finished reading gave its slot back; an open one holds it.
        assert _get(_path(finished), user=alice)[0] == 200
        assert _get(_path(live), user=alice, read=False)[0] == 200
        status, body, response = _get(_path(finished), user=alice)
    assert status == 429
    assert "already reads 1 live streams" in body
    assert response["Retry-After"] == str(streams.STREAM_RETRY_SECONDS)


def test_readers_per_run_are_capped_but_never_lock_out_its_owner(finished, live, alice, bob, carol, mallory):
    url = _stream_url(live)
    with override_settings(COGMILL_STREAMS_PER_RUN=2):
        assert _get(url, user=bob, read=False)[0] == 200
        assert _get(url, user=carol, read=False)[0] == 200
        status, body, _ = _get(url, user=mallory)
        assert _get(_path(live), user=alice, read=False)[0] == 200  # the owner still reads it
        assert _get(_path(finished), user=alice)[0] == 200  # and other runs are not affected
    assert status == 429
    assert "already has 2 readers" in body


def test_a_holder_of_the_capability_alone_counts_as_the_runs_owner(finished, live, alice):
    """The JS client sends no token: its streams count against the account whose token made the
    URL, not against an address a proxy may share with everyone."""
    with override_settings(COGMILL_STREAMS_PER_CLIENT=1):
        assert _get(_path(live), user=alice, read=False)[0] == 200
        status, body, _ = _get(_stream_url(finished))
    assert status == 429 and "already reads 1 live streams" in body
