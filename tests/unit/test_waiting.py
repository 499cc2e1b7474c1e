"""`Prefer: wait`'s answer once the run has ended: the run's own row read again, once, and shown
with the model and version it was created with."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from api.waiting import _answer
from playground.models import Prediction, Status
from playground.services import catalog, runs

pytestmark = pytest.mark.django_db


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
