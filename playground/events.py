"""Live events of a run (a prediction, and trainings next) in Redis.

Each run has a stream `run:<id>:events` whose entries are the SSE events of API.md (`output`,
`logs`, `error`, `done`); the entry id is the SSE `id:`. Run ids are unique across kinds, so
the key needs no kind. The row stays the truth; the stream is what browsers, clients and
`Prefer: wait` read while a run is live.
"""

import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator

import redis

from cogmill.redis import blocking_client, client, pooled_async_client

log = logging.getLogger(__name__)

STREAM_TTL_SECONDS = 24 * 3600
READ_TIMEOUT_MARGIN_SECONDS = 5
CANCEL_CHANNEL = "cogmill:cancel"
OUTPUT, LOGS, ERROR, DONE = "output", "logs", "error", "done"


def stream_key(run_id: str) -> str:
    return f"run:{run_id}:events"


def cancel_key(run_id: str) -> str:
    return f"run:{run_id}:cancel"


def publish(run_id: str, *events: tuple[str, str]) -> None:
    """Append (event, data) pairs to the run's stream, all or none (one transaction, one round trip)."""
    key = stream_key(run_id)
    pipe = client().pipeline()
    for event, data in events:
        pipe.xadd(key, {"event": event, "data": data})
    pipe.expire(key, STREAM_TTL_SECONDS)
    pipe.execute()


def has_stream(run_id: str) -> bool:
    return bool(client().exists(stream_key(run_id)))


def count(run_id: str, event: str) -> int:
    """How many `event` entries the run's stream holds."""
    return sum(1 for _, fields in client().xrange(stream_key(run_id)) if fields.get("event") == event)


def forget(run_id: str) -> None:
    """Drop the run's stream (its data was removed: the stream URL would replay it)."""
    client().delete(stream_key(run_id))


async def read(run_id: str, last_id: str = "0-0", block_ms: int = 15000
               ) -> AsyncIterator[tuple[str, str, str] | None]:
    """Yield (entry id, event, data) from `last_id` on, replay then live, until `done`.

    Yields None each time `block_ms` passes with nothing new, so a caller can keep a
    connection alive or check a deadline.
    """
    key = stream_key(run_id)
    r = pooled_async_client(socket_timeout=block_ms / 1000 + READ_TIMEOUT_MARGIN_SECONDS)
    while True:
        found = _entries(await r.xread({key: last_id}, block=block_ms, count=READ_COUNT))
        if not found:
            yield None
            continue
        for entry in found:
            last_id = entry[0]
            yield entry
            if entry[1] == DONE:
                return


# The longest one blocking read from a thread waits (read_some): a waiting thread looks up at
# least this often. Its socket gives up this much later: a Redis that hangs keeps a `Prefer: wait`
# past its deadline by at most that.
BLOCK_MS_MAX = 500
BLOCKING_MARGIN_SECONDS = 1.0
READ_COUNT = 200


def read_some(run_id: str, last_id: str = "0-0", block_ms: int = BLOCK_MS_MAX) -> list[tuple[str, str, str]]:
    """The (entry id, event, data) after `last_id`, waiting up to `block_ms` (at most BLOCK_MS_MAX)
    for the first if there is none yet: [] when none came. Blocks the calling thread."""
    r = blocking_client(BLOCK_MS_MAX / 1000 + BLOCKING_MARGIN_SECONDS)
    block_ms = max(1, min(block_ms, BLOCK_MS_MAX))  # BLOCK 0 would wait for ever
    return _entries(r.xread({stream_key(run_id): last_id}, block=block_ms, count=READ_COUNT))


def _entries(reply) -> list[tuple[str, str, str]]:
    if not reply:
        return []
    return [(entry_id, fields.get("event", ""), fields.get("data", "")) for entry_id, fields in reply[0][1]]


def request_cancel(run_id: str) -> None:
    """Tell whichever worker runs it to stop it."""
    r = client()
    r.set(cancel_key(run_id), "1", ex=STREAM_TTL_SECONDS)
    r.publish(CANCEL_CHANNEL, run_id)


def cancel_requested(run_id: str) -> bool:
    return bool(client().exists(cancel_key(run_id)))


class Outbox:
    """A run's events on their way to its stream: in order, and kept through a Redis outage.

    `send` publishes at once when Redis answers. When it does not, the events wait here (the row
    already holds the output and logs, which stay the truth) and a thread publishes them, oldest
    first, once Redis is back: readers resume with Last-Event-ID and miss nothing.
    """

    RETRY_SECONDS = 1.0
    GIVE_UP_SECONDS = 600.0

    def __init__(self, run_id: str):
        self.run_id = run_id
        self._pending: deque[tuple[str, str]] = deque()
        self._lock = threading.Lock()
        self._retrying = False

    def send(self, event: str, data: str) -> None:
        with self._lock:
            self._pending.append((event, data))
        self.flush()

    def hold(self, event: str, data: str) -> None:
        """Queue an event to go with the next one sent (in order, in the same round trip to Redis):
        for one its readers need not have sooner, as a model's single output, which its end follows."""
        with self._lock:
            self._pending.append((event, data))

    def flush(self) -> bool:
        """Publish what waits; True when nothing is left (else a thread keeps trying)."""
        with self._lock:
            if self._retrying:
                return False  # the retry thread publishes it in turn; no wait on a Redis that is away
            if self._publish_pending():
                return True
            self._retrying = True
            log.warning("run %s: live events wait for Redis", self.run_id)
            threading.Thread(target=self._retry, name=f"outbox-{self.run_id}", daemon=True).start()
            return False

    def _publish_pending(self) -> bool:
        if not self._pending:
            return True
        waiting = list(self._pending)
        try:
            publish(self.run_id, *waiting)
        except redis.RedisError:
            return False
        for _ in waiting:
            self._pending.popleft()
        return True

    def _retry(self) -> None:
        deadline = time.monotonic() + self.GIVE_UP_SECONDS
        while time.monotonic() < deadline:
            time.sleep(self.RETRY_SECONDS)
            with self._lock:
                if self._publish_pending():
                    self._retrying = False
                    return
        with self._lock:
            self._retrying = False
            log.error("run %s: gave up publishing %d live events; the row has them", self.run_id,
                      len(self._pending))
