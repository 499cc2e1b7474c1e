"""Leases and the reaper, in-process: a run is taken once, a run whose worker is gone ends or goes
back to the queue, a lost message is sent again at growing intervals, and cancel ends an orphan."""

from datetime import timedelta

import pytest
from django.utils import timezone

from playground.models import Prediction, Status, Worker
from playground.services import runs
from playground.worker import leases, reaper

pytestmark = pytest.mark.django_db


@pytest.fixture
def short_leases(settings):
    settings.COGMILL_RUN_LEASE_SECONDS = 30
    settings.COGMILL_REQUEUE_AFTER_SECONDS = 60


def _ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


def test_a_run_is_claimed_once(make_prediction, short_leases):
    run = make_prediction(dispatched_at=timezone.now(), dispatches=1)
    assert leases.claim(Prediction, run.pk)
    assert not leases.claim(Prediction, run.pk)  # a duplicate message does nothing
    run.refresh_from_db()
    assert run.worker == leases.WORKER_ID and run.lease_expires_at > timezone.now()
    leases.release(run.pk)


def test_an_expired_claim_can_be_taken_again_but_an_ended_run_cannot(make_prediction, short_leases):
    stale = make_prediction(worker="gone:1", lease_expires_at=_ago(1))
    ended = make_prediction(status=Status.SUCCEEDED)
    assert leases.claim(Prediction, stale.pk)
    assert not leases.claim(Prediction, ended.pk)
    leases.release(stale.pk)


def test_the_heartbeat_renews_only_what_this_worker_still_holds(make_prediction, short_leases):
    mine = make_prediction()
    assert leases.claim(Prediction, mine.pk)
    Prediction.objects.filter(pk=mine.pk).update(lease_expires_at=_ago(-1))
    assert leases.renew() == 1
    mine.refresh_from_db()
    assert mine.lease_expires_at > timezone.now() + timedelta(seconds=20)
    Prediction.objects.filter(pk=mine.pk).update(worker="someone-else:2")  # reaped and taken meanwhile
    assert leases.renew() == 0
    leases.release(mine.pk)


def test_the_reaper_fails_a_running_run_whose_lease_ran_out_and_keeps_its_output(make_prediction, short_leases):
    run = make_prediction(status=Status.PROCESSING, started_at=_ago(5), worker="gone:1", lease_expires_at=_ago(1),
                          output=["first "], logs="waiting\n")
    assert reaper.reap_stuck_runs() == 1
    run.refresh_from_db()
    assert (run.status, run.error) == (Status.FAILED, "the worker running it stopped")
    assert (run.output, run.logs) == (["first "], "waiting\n")
    assert run.completed_at is not None and run.lease_expires_at is None


def test_the_reaper_queues_again_a_claimed_run_that_never_reached_the_model(
    make_prediction, short_leases, django_capture_on_commit_callbacks
):
    run = make_prediction(worker="gone:1", lease_expires_at=_ago(1), dispatched_at=_ago(10), dispatches=1)
    with django_capture_on_commit_callbacks() as sent:
        reaper.reap_stuck_runs()
    run.refresh_from_db()
    assert (run.status, run.worker, run.lease_expires_at, run.dispatches) == (Status.STARTING, "", None, 2)
    assert len(sent) == 1


def test_a_lost_message_is_sent_again_at_doubling_intervals(
    make_prediction, short_leases, django_capture_on_commit_callbacks
):
    fresh = make_prediction(dispatched_at=_ago(30), dispatches=1)  # may still be in the queue
    lost = make_prediction(dispatched_at=_ago(61), dispatches=1)
    backing_off = make_prediction(dispatched_at=_ago(100), dispatches=2)  # next after 120 s
    with django_capture_on_commit_callbacks() as sent:
        reaper.reap_stuck_runs()
    assert len(sent) == 1
    assert [Prediction.objects.get(pk=r.pk).dispatches for r in (fresh, lost, backing_off)] == [1, 2, 2]


def test_cancel_ends_a_run_whose_worker_is_gone_at_once(make_prediction, short_leases):
    run = make_prediction(status=Status.PROCESSING, started_at=_ago(5), worker="gone:1", lease_expires_at=_ago(1),
                          output=["first "])
    runs.cancel(run)
    run.refresh_from_db()
    assert run.status == Status.CANCELED and run.output == ["first "] and run.cancel_requested_at


def test_cancel_leaves_a_live_workers_run_to_that_worker(make_prediction, short_leases):
    run = make_prediction(status=Status.PROCESSING, started_at=_ago(5), worker="alive:1",
                          lease_expires_at=_ago(-20))
    runs.cancel(run)
    run.refresh_from_db()
    assert run.status == Status.PROCESSING and run.cancel_requested_at  # its worker stops the model


def test_the_first_end_wins(make_prediction):
    run = make_prediction(status=Status.PROCESSING)
    assert runs.end(run, Status.CANCELED)
    assert not runs.end(run, Status.SUCCEEDED, output="late")
    run.refresh_from_db()
    assert run.status == Status.CANCELED and run.output is None


def test_a_stopped_worker_hands_back_what_it_held(make_prediction, short_leases, django_capture_on_commit_callbacks):
    running = make_prediction(status=Status.PROCESSING, started_at=_ago(5), worker="host:42",
                              lease_expires_at=_ago(-20), output=["a"])
    booting = make_prediction(worker="host:42", lease_expires_at=_ago(-20), dispatched_at=_ago(5), dispatches=1)
    other = make_prediction(status=Status.PROCESSING, started_at=_ago(5), worker="host:43",
                            lease_expires_at=_ago(-20))
    with django_capture_on_commit_callbacks():
        assert reaper.abandon_worker("host:42") == (1, 1)
    assert [Prediction.objects.get(pk=r.pk).status for r in (running, booting, other)] == [
        Status.FAILED, Status.STARTING, Status.PROCESSING]


def test_a_lease_renewed_after_the_reaper_looked_keeps_the_run(make_prediction, short_leases):
    """The reaper read an expired lease; the worker's heartbeat renewed it before the hand-back."""
    run = make_prediction(status=Status.PROCESSING, started_at=_ago(5), worker="alive:1", lease_expires_at=_ago(1))
    Prediction.objects.filter(pk=run.pk).update(lease_expires_at=_ago(-30))
    assert runs.hand_back(run, reaper.WORKER_STOPPED) == Status.PROCESSING
    run.refresh_from_db()
    assert run.status == Status.PROCESSING and run.error is None


def test_a_worker_known_to_be_gone_is_forgotten(make_prediction, short_leases):
    Worker.objects.create(name="gone:1", hardware=["cpu"])
    run = make_prediction(status=Status.PROCESSING, started_at=_ago(5), worker="gone:1", lease_expires_at=_ago(-20))
    assert reaper.abandon_worker("gone:1") == (1, 0)
    assert not Worker.objects.filter(name="gone:1").exists()
    run.refresh_from_db()
    assert run.status == Status.FAILED
