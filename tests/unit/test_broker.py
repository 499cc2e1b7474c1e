"""The broker (cogmill/broker.py): a run's message is taken without a copy to deliver it again (its
row guards it, and beat queues a run again that nobody took); any other task's message is kept until
the task is acknowledged, and delivered again if it never is."""

import uuid

import pytest

from cogmill import broker
from cogmill.celery import app
from playground import dispatch


@pytest.fixture
def queue():
    name = f"test.{uuid.uuid4().hex[:8]}"
    with app.connection_for_read() as connection:
        simple = connection.SimpleQueue(name, no_ack=False)
        try:
            yield name, simple
        finally:
            simple.clear()
            simple.close()


def _kept(simple, message) -> bool:
    channel = simple.channel
    return bool(channel.client.hexists(channel.unacked_key, message.delivery_tag))


def test_a_runs_message_is_taken_without_a_copy_and_a_builds_is_kept_until_acknowledged(queue):
    name, simple = queue
    dispatch._send(dispatch.RUN_PREDICTION, ["some-run"], name)
    dispatch._send(dispatch.BUILD_VERSION, [7], name)
    run, build = simple.get(timeout=10), simple.get(timeout=10)
    assert (run.headers["task"], build.headers["task"]) == (dispatch.RUN_PREDICTION, dispatch.BUILD_VERSION)
    assert not _kept(simple, run) and _kept(simple, build)
    run.ack()
    build.ack()
    assert not _kept(simple, build)


@pytest.mark.parametrize("task", [dispatch.BUILD_VERSION, dispatch.RUN_PREDICTION])
def test_a_message_taken_and_never_run_goes_back_on_its_queue_when_the_worker_stops(queue, task):
    name, simple = queue
    dispatch._send(task, ["some-id"], name)
    taken = simple.get(timeout=10)
    taken.channel.qos.restore_unacked()  # as a worker that stops does with what it took and never ran
    again = simple.get(timeout=10)
    assert (again.headers["id"], again.headers["task"]) == (taken.headers["id"], task)
    again.ack()


def test_the_broker_knows_every_run_task_by_its_name():
    assert broker.RUN_TASKS == set(dispatch.RUN_TASKS.values())
