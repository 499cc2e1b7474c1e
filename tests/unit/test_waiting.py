"""`Prefer: wait`: the request's thread waits on the run's stream, or on its row when Redis is away,
until the run ends or the wait runs out; the answer is the run's own row read again, once, and shown
with the model and version it was created with."""

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from api.waiting import _answer, wait_for
from cogmill.redis import blocking_client
from playground import events
from playground.models import Prediction, Status
from playground.services import catalog, runs
from tests.server import free_port

pytestmark = pytest.mark.django_db
DEADLINE = 10  # seconds: a deadline for a wait that should end long before it, not a measure


def test_the_answer_reads_the_ended_row_once(alice, version):
    prediction = runs.create_prediction(alice, catalog.resolve_version(alice, "alice/echo"), {"text": "x"})
    Prediction.objects.filter(pk=prediction.pk).update(status=Status.SUCCEEDED, output="hello x")
    with CaptureQueriesContext(connection) as queries:
        body = _answer(prediction)
    assert (body["status"], body["output"], body["model"], body["version"]) == (
        "succeeded", "hello x", "alice/echo", version.version_id)
    assert len(queries.captured_queries) == 1, [q["sql"] for q in queries.captured_queries]


def test_a_run_still_going_is_answered_as_starting_with_no_output(alice, version):
    prediction = runs.create_prediction(alice, version, {"text": "x"})
    Prediction.objects.filter(pk=prediction.pk).update(status=Status.PROCESSING, output="hel")
    body = _answer(prediction)
    assert (body["status"], body["output"]) == ("starting", None)


def test_a_wait_answers_as_soon_as_the_runs_stream_says_done(alice, version):
    prediction = runs.create_prediction(alice, version, {"text": "x"})
    Prediction.objects.filter(pk=prediction.pk).update(status=Status.SUCCEEDED, output="hello x")
    events.publish(prediction.id, (events.OUTPUT, "hello x"), (events.DONE, "{}"))
    body = wait_for(prediction, time.monotonic() + DEADLINE)
    assert (body["status"], body["output"]) == ("succeeded", "hello x")


def test_a_wait_that_runs_out_answers_starting_with_no_output(alice, version):
    prediction = runs.create_prediction(alice, version, {"text": "x"})
    Prediction.objects.filter(pk=prediction.pk).update(status=Status.PROCESSING, output="hel")
    events.publish(prediction.id, (events.OUTPUT, "hel"))
    body = wait_for(prediction, time.monotonic() + 0.3)
    assert (body["status"], body["output"]) == ("starting", None)


def test_a_quiet_stream_leaves_the_row_to_say_the_run_ended(alice, version):
    """A run whose stream never says done (its events were lost) is answered once its row ended."""
    prediction = runs.create_prediction(alice, version, {"text": "x"})
    Prediction.objects.filter(pk=prediction.pk).update(status=Status.FAILED, error="it broke")
    body = wait_for(prediction, time.monotonic() + DEADLINE)
    assert (body["status"], body["error"]) == ("failed", "it broke")


def test_with_redis_away_a_wait_watches_the_row(alice, version, settings):
    blocking_client.cache_clear()
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nobody answers there
    try:
        prediction = runs.create_prediction(alice, version, {"text": "x"})
        Prediction.objects.filter(pk=prediction.pk).update(status=Status.SUCCEEDED, output="hello x")
        body = wait_for(prediction, time.monotonic() + DEADLINE)
    finally:
        blocking_client.cache_clear()
    assert (body["status"], body["output"]) == ("succeeded", "hello x")
