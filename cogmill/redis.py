"""The one Redis client of every process: live events, cancel signals, locks and rate limits.

Celery keeps its own connections to the broker; this is for Cogmill's own use of Redis.
"""

import functools

import redis
import redis.asyncio as aioredis
from django.conf import settings


@functools.cache
def client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, decode_responses=True, health_check_interval=30)


def async_client(socket_timeout: float | None = 5) -> aioredis.Redis:
    """A client for the current event loop; close it with `aclose()`. A blocking read (XREAD BLOCK)
    needs a `socket_timeout` longer than its block, or the socket gives up before Redis answers."""
    return aioredis.Redis.from_url(settings.REDIS_URL, decode_responses=True, socket_timeout=socket_timeout)
