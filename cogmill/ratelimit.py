"""Token buckets in Redis: the API's per-token limits (api/ratelimit.py) and the pages' per-client
ones (sign-up and log-in). A bucket holds a minute's worth of requests and refills continuously.
"""

import functools
import math
from dataclasses import dataclass

import redis

from cogmill.redis import client as redis_client

# Refill by the time elapsed on Redis's clock (one clock for every web process), take one token if
# there is one, and answer {taken, whole tokens left, seconds until the next token}. The seconds
# travel as a string: Redis truncates Lua numbers to integers.
TAKE_SCRIPT = """
local capacity = tonumber(ARGV[1])
local per_second = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * per_second)
local taken = 0
if tokens >= 1 then
  tokens = tokens - 1
  taken = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / per_second) + 1)
local wait = 0
if tokens < 1 then
  wait = (1 - tokens) / per_second
end
return {taken, math.floor(tokens), tostring(wait)}
"""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int  # whole seconds until a token is available; 0 when one is


@functools.cache
def _script(client: redis.Redis):
    return client.register_script(TAKE_SCRIPT)


def take(key: str, per_minute: int) -> Decision:
    """Take one token from the bucket at `key`, atomically; redis.RedisError when Redis is away."""
    client = redis_client()
    taken, remaining, wait = _script(client)(keys=[key], args=[per_minute, per_minute / 60], client=client)
    return Decision(bool(taken), per_minute, int(remaining), math.ceil(float(wait)))


def account_key(kind: str, account_id: int) -> str:
    """An account's bucket of `kind` ("creates" or "requests"): one per account, whatever token or
    page it acts through, so minting tokens or switching to the pages buys nothing."""
    return f"cogmill:ratelimit:{kind}:account:{account_id}"
