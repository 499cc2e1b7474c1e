"""Live events of a run (a prediction, and trainings next) in Redis.

Each run has a stream `run:<id>:events` whose entries are the SSE events of API.md (`output`,
`logs`, `error`, `done`); the entry id is the SSE `id:`. Run ids are unique across kinds, so
the key needs no kind. The row stays the truth; the stream is what browsers, clients and
`Prefer: wait` read while a run is live.
"""

from collections.abc import AsyncIterator

from cogmill.redis import async_client, client

STREAM_TTL_SECONDS = 24 * 3600
CANCEL_CHANNEL = "cogmill:cancel"
OUTPUT, LOGS, ERROR, DONE = "output", "logs", "error", "done"


def stream_key(run_id: str) -> str:
    return f"run:{run_id}:events"


def cancel_key(run_id: str) -> str:
    return f"run:{run_id}:cancel"


def publish(run_id: str, event: str, data: str) -> None:
    key = stream_key(run_id)
    pipe = client().pipeline()
    pipe.xadd(key, {"event": event, "data": data})
    pipe.expire(key, STREAM_TTL_SECONDS)
    pipe.execute()


def has_stream(run_id: str) -> bool:
    return bool(client().exists(stream_key(run_id)))


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
    r = async_client()
    try:
        while True:
            reply = await r.xread({key: last_id}, block=block_ms, count=200)
            if not reply:
                yield None
                continue
            for entry_id, fields in reply[0][1]:
                last_id = entry_id
                yield entry_id, fields.get("event", ""), fields.get("data", "")
                if fields.get("event") == DONE:
                    return
    finally:
        await r.aclose()


def request_cancel(run_id: str) -> None:
    """Tell whichever worker runs it to stop it."""
    r = client()
    r.set(cancel_key(run_id), "1", ex=STREAM_TTL_SECONDS)
    r.publish(CANCEL_CHANNEL, run_id)


def cancel_requested(run_id: str) -> bool:
    return bool(client().exists(cancel_key(run_id)))
