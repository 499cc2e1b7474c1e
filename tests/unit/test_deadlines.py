"""Deadlines, in-process: `Cancel-After` and a model's maximum run time set a prediction's `deadline`;
one that passes before the run starts ends it `canceled` (never `aborted`), one that passes while it
runs cancels it."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from playground.models import Prediction, Status
from playground.worker import leases, reaper
from playground.worker import runs as worker_runs
from tests.problems import assert_problem

pytestmark = pytest.mark.django_db


def _create(client, auth, version, **headers):
    return client.post("/v1/predictions", {"version": version.version_id, "input": {"text": "a"}},
                       content_type="application/json", **auth, **headers)


def _lifetime(body: dict) -> timedelta:
    return parse_datetime(body["deadline"]) - parse_datetime(body["created_at"])


@pytest.mark.parametrize(("header", "seconds"), [("30s", 30), ("5m", 300), ("1h30m", 5400), ("90", 90),
                                                  ("2h30m15s", 9015)])
def test_cancel_after_sets_the_deadline_from_creation(client, auth, version, header, seconds):
    response = _create(client, auth, version, HTTP_CANCEL_AFTER=header)
    assert response.status_code == 201
    assert _lifetime(response.json()) == timedelta(seconds=seconds)


def test_without_cancel_after_or_a_model_limit_there_is_no_deadline(client, auth, version):
    assert _create(client, auth, version).json()["deadline"] is None


@pytest.mark.parametrize(("header", "says"), [("soon", "not a duration"), ("1m1h", "not a duration"),
                                               ("-5s", "not a duration"), ("4s", "shorter than the minimum, 5s"),
                                               ("9000h", "longer than the maximum")])
def test_a_bad_cancel_after_is_400_and_creates_nothing(client, auth, version, header, says):
    body = assert_problem(_create(client, auth, version, HTTP_CANCEL_AFTER=header), 400)
    assert body["detail"].startswith("Cancel-After: ") and says in body["detail"]
    assert not Prediction.objects.exists()


def test_the_model_endpoint_takes_cancel_after_too(client, auth, version):
    response = client.post("/v1/models/alice/echo/predictions", {"input": {"text": "a"}},
                           content_type="application/json", HTTP_CANCEL_AFTER="45s", **auth)
    assert _lifetime(response.json()) == timedelta(seconds=45)


def test_the_model_maximum_run_time_sets_the_deadline_and_caps_cancel_after(client, auth, version):
    response = client.patch("/v1/models/alice/echo", {"max_run_time": "1m"}, content_type="application/json", **auth)
    assert response.json()["max_run_time"] == "1m"
    assert _lifetime(_create(client, auth, version).json()) == timedelta(minutes=1)
    assert _lifetime(_create(client, auth, version, HTTP_CANCEL_AFTER="10m").json()) == timedelta(minutes=1)
    assert _lifetime(_create(client, auth, version, HTTP_CANCEL_AFTER="20s").json()) == timedelta(seconds=20)


@pytest.mark.parametrize(("value", "shown"), [("90s", "1m30s"), (3600, "1h"), ("2h", "2h"), (None, None)])
def test_the_maximum_run_time_is_set_and_cleared_by_patch(client, auth, version, value, shown):
    client.patch("/v1/models/alice/echo", {"max_run_time": "5m"}, content_type="application/json", **auth)
    response = client.patch("/v1/models/alice/echo", {"max_run_time": value}, content_type="application/json",
                            **auth)
    assert response.status_code == 200 and response.json()["max_run_time"] == shown


@pytest.mark.parametrize("value", ["2s", "whenever", 0])
def test_a_bad_maximum_run_time_is_422_naming_it(client, auth, version, value):
    body = assert_problem(client.patch("/v1/models/alice/echo", {"max_run_time": value},
                                       content_type="application/json", **auth), 422)
    assert [f["field"] for f in body["invalid_fields"]] == ["max_run_time"]


def test_a_model_can_be_created_with_a_maximum_run_time(client, auth, alice):
    response = client.post("/v1/models", {"owner": "alice", "name": "capped", "visibility": "public",
                                          "hardware": "cpu", "max_run_time": "10m"},
                           content_type="application/json", **auth)
    assert response.status_code == 201 and response.json()["max_run_time"] == "10m"


def _ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


def test_a_queued_run_past_its_deadline_is_canceled_by_the_sweep_never_aborted(make_prediction):
    queued = make_prediction(deadline=_ago(1), dispatched_at=_ago(2), dispatches=1)
    waiting = make_prediction(deadline=_ago(-60), dispatched_at=_ago(2), dispatches=1)
    reaper.reap_stuck_runs()
    queued.refresh_from_db()
    waiting.refresh_from_db()
    assert (queued.status, queued.error, queued.started_at) == (Status.CANCELED, None, None)
    assert queued.completed_at is not None
    assert waiting.status == Status.STARTING


def test_a_run_claimed_after_its_deadline_is_canceled_without_reaching_a_model(make_prediction, settings):
    settings.COGMILL_RUN_LEASE_SECONDS = 30
    late = make_prediction(deadline=_ago(1), logs="Ignored inputs this model does not take: x\n")
    worker_runs.run_prediction(late.pk)  # its version has no folder: reaching a model would fail it
    late.refresh_from_db()
    assert (late.status, late.error, late.started_at) == (Status.CANCELED, None, None)
    assert late.logs == "Ignored inputs this model does not take: x\n"
    assert late.worker == leases.WORKER_ID and late.lease_expires_at is None


def test_a_running_run_past_its_deadline_whose_worker_is_gone_is_canceled(make_prediction):
    run = make_prediction(status=Status.PROCESSING, started_at=_ago(10), deadline=_ago(1), worker="gone:1",
                          lease_expires_at=_ago(1), output=["first "])
    reaper.reap_stuck_runs()
    run.refresh_from_db()
    assert (run.status, run.output) == (Status.CANCELED, ["first "])
