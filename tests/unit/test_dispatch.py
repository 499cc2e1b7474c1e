"""Queueing work for the workers: a task reaches the Redis list its workers read, by its queue's name."""

import json
import uuid

from cogmill.redis import client
from playground import dispatch


def test_a_task_reaches_a_queue_nobody_has_declared():
    """Tasks are sent with nothing declared (dispatch._send): a hardware queue no worker has
    listened to yet still holds the message for the first worker that does."""
    queue = dispatch.hardware_queue(f"never-seen-{uuid.uuid4().hex[:8]}")
    try:
        dispatch._send_or_leave_to_beat(dispatch.RUN_PREDICTION, ["some-run"], queue)
        messages = client().lrange(queue, 0, -1)
    finally:
        client().delete(queue)
    assert len(messages) == 1
    message = json.loads(messages[0])
    assert (message["headers"]["task"], message["headers"]["argsrepr"]) == (dispatch.RUN_PREDICTION, "['some-run']")
