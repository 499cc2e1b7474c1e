"""Live prediction events in Redis.

Each prediction has a stream `prediction:<id>:events` whose entries are the SSE events of API.md
(`output`, `logs`, `error`, `done`); the entry id is the SSE `id:`. The row stays the truth; the
stream is what browsers, clients and `Prefer: wait` read while a prediction runs.
"""

import functools

import redis
import redis.asyncio as aioredis
from django.conf import settings

STREAM_TTL_SECONDS = 24 * 3600
CANCEL_CHANNEL = "cogmill:cancel"
DONE = "done"


def stream_key(prediction_id: str) -> str:
    return f"prediction:{prediction_id}:events"


def cancel_key(prediction_id: str) -> str:
    return f"prediction:{prediction_id}:cancel"


@functools.cache
def client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, decode_responses=True, health_check_interval=30)


def async_client() -> aioredis.Redis:
    """A client for the current event loop; close it with `aclose()`."""
    return aioredis.Redis.from_url(settings.REDIS_URL, decode_responses=True)


def publish(prediction_id: str, event: str, data: str) -> None:
    key = stream_key(prediction_id)
    pipe = client().pipeline()
    pipe.xadd(key, {"event": event, "data": data})
    pipe.expire(key, STREAM_TTL_SECONDS)
    pipe.execute()


def request_cancel(prediction_id: str) -> None:
    """Tell whichever worker runs the prediction to stop it."""
    r = client()
    r.set(cancel_key(prediction_id), "1", ex=STREAM_TTL_SECONDS)
    r.publish(CANCEL_CHANNEL, prediction_id)


def cancel_requested(prediction_id: str) -> bool:
    return bool(client().exists(cancel_key(prediction_id)))
