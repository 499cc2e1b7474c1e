"""The one Redis client of every process: live events, cancel signals, locks and rate limits.

Celery keeps its own connections to the broker; this is for Cogmill's own use of Redis.
"""

import asyncio
import functools

import redis
import redis.asyncio as aioredis
from django.conf import settings


@functools.cache
def client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, decode_responses=True, health_check_interval=30)


# Connections one pooled client may hold: one for each blocking read in progress (a stream's
# reader, a `Prefer: wait`), as many as Redis itself accepts by default.
POOLED_MAX_CONNECTIONS = 10_000


@functools.cache
def blocking_client(socket_timeout: float) -> redis.Redis:
    """A client for blocking reads (XREAD BLOCK) from threads: its socket gives up `socket_timeout`
    after asking (or connecting), which must be longer than the block, and is what tells a reader
    Redis is away (`client()` waits for ever). Its connections are kept between uses, one per read
    in progress: as many as the pooled async client's."""
    return redis.Redis.from_url(settings.REDIS_URL, decode_responses=True, health_check_interval=30,
                                socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout,
                                max_connections=POOLED_MAX_CONNECTIONS)


_pooled: dict[tuple[int, float], tuple[asyncio.AbstractEventLoop, aioredis.Redis]] = {}


def pooled_async_client(socket_timeout: float = 5) -> aioredis.Redis:
    """The running event loop's client for this `socket_timeout`, its connections kept between
    uses: a web process's waits and streams take a connection from its pool rather than dialling
    Redis each time. Never closed by its users. A blocking read (XREAD BLOCK) needs a timeout longer
    than its block, or the socket gives up before Redis answers; a short one is what tells a wait
    that Redis is away."""
    loop = asyncio.get_running_loop()
    key = (id(loop), round(socket_timeout, 3))
    found = _pooled.get(key)
    if found is None or found[0] is not loop:
        for stale in [k for k, (other, _) in list(_pooled.items()) if other.is_closed()]:
            _pooled.pop(stale, None)  # a loop that ended (tests run many): its client goes with it
        client_ = aioredis.Redis.from_url(settings.REDIS_URL, decode_responses=True, health_check_interval=30,
                                          socket_timeout=socket_timeout, max_connections=POOLED_MAX_CONNECTIONS)
        found = _pooled[key] = (loop, client_)
    return found[1]
