"""The one Redis client of every process: live events, cancel signals, locks and rate limits.

Celery keeps its own connections to the broker; this is for Cogmill's own use of Redis.
"""

import asyncio
import functools
import weakref

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


# The longest blocking read the pooled client serves (XREAD BLOCK of a stream's keep-alive wait),
# and what its sockets allow on top before they give up.
POOLED_BLOCK_SECONDS = 20.0
POOLED_TIMEOUT_MARGIN_SECONDS = 5.0
_pooled: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis]" = weakref.WeakKeyDictionary()


def pooled_async_client() -> aioredis.Redis:
    """The running event loop's one client, its connections kept between uses: a web process's
    waits and streams take a connection from its pool rather than dialling Redis each time. Never
    closed by its users; blocking reads up to POOLED_BLOCK_SECONDS."""
    loop = asyncio.get_running_loop()
    found = _pooled.get(loop)
    if found is None:
        found = _pooled[loop] = aioredis.Redis.from_url(
            settings.REDIS_URL, decode_responses=True, health_check_interval=30,
            socket_timeout=POOLED_BLOCK_SECONDS + POOLED_TIMEOUT_MARGIN_SECONDS)
    return found
