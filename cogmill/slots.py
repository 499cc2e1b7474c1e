"""Concurrency slots in Redis: at most N holders of a key at once, across every web process (the
API's live streams, per run and per client).

A key is a sorted set of holders scored by when each claim lapses. A holder renews its claim while
it lives and lets go when it ends; one that vanished without letting go (a killed web process)
drops out when its claim lapses, so a count never stays wrong for long.
"""

import time
import uuid

import redis

from cogmill.redis import pooled_async_client

# Claim every key or none: answer 0, or the 1-based index of the first key that is full. Redis's
# clock is the one clock of every web process.
ACQUIRE_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local ttl = tonumber(ARGV[2])
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZCARD', key) >= tonumber(ARGV[i + 2]) then
    return i
  end
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + ttl, ARGV[1])
  redis.call('EXPIRE', key, math.ceil(ttl) + 1)
end
return 0
"""

RENEW_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local ttl = tonumber(ARGV[2])
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', now + ttl, ARGV[1])
  redis.call('EXPIRE', key, math.ceil(ttl) + 1)
end
return 0
"""


class Slots:
    """One holder's claim on a slot of each key (async: the streams run on the event loop).

    `acquire` answers which key is full, or None when every one was claimed (redis.RedisError when
    Redis is away: nothing is claimed that cannot be counted); `renew_if_due` as often as convenient
    (it renews every third of `ttl`); `release` when done. A claim never released (a reader gone
    before its stream began, Redis away at the end) lapses after `ttl`.
    """

    def __init__(self, caps: dict[str, int], ttl: float):
        self.caps = caps
        self.ttl = ttl
        self.holder = uuid.uuid4().hex
        self._redis = pooled_async_client()
        self._renewed = 0.0

    async def acquire(self) -> str | None:
        keys = list(self.caps)
        full = await self._redis.eval(ACQUIRE_SCRIPT, len(keys), *keys, self.holder, self.ttl, *self.caps.values())
        if full:
            return keys[int(full) - 1]
        self._renewed = time.monotonic()
        return None

    async def renew_if_due(self) -> None:
        if time.monotonic() - self._renewed < self.ttl / 3:
            return
        await self._redis.eval(RENEW_SCRIPT, len(self.caps), *self.caps, self.holder, self.ttl)
        self._renewed = time.monotonic()

    async def release(self) -> None:
        try:
            pipe = self._redis.pipeline()
            for key in self.caps:
                pipe.zrem(key, self.holder)
            await pipe.execute()
        except redis.RedisError:
            pass  # the claim lapses after `ttl`
