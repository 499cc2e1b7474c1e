"""Per-token rate limits: token buckets in Redis (API.md: 429 with an integer Retry-After).

Each token has two buckets, like Replicate: one for requests that create something
(COGMILL_RATE_LIMIT_CREATES_PER_MINUTE) and one for everything else
(COGMILL_RATE_LIMIT_REQUESTS_PER_MINUTE). A bucket holds a minute's worth of requests and
refills continuously, so a burst may spend the whole minute at once.
"""

import functools
import logging
import math
from dataclasses import dataclass

import redis
from django.conf import settings
from django.http import HttpRequest

from accounts.models import ApiToken
from api.problems import ApiProblem
from cogmill.redis import client as redis_client

log = logging.getLogger(__name__)

KEY_PREFIX = "cogmill:ratelimit"
# The last path segment of a POST that creates an object.
CREATED_COLLECTIONS = frozenset({"predictions", "trainings", "models", "files", "versions"})

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


@dataclass(frozen=True)
class Bucket:
    kind: str  # "creates" or "requests"
    per_minute: int


@functools.cache
def _script(client: redis.Redis):
    return client.register_script(TAKE_SCRIPT)


def take(key: str, per_minute: int) -> Decision:
    """Take one token from the bucket at `key`, atomically."""
    client = redis_client()
    taken, remaining, wait = _script(client)(keys=[key], args=[per_minute, per_minute / 60], client=client)
    return Decision(bool(taken), per_minute, int(remaining), math.ceil(float(wait)))


def bucket_for(request: HttpRequest) -> Bucket:
    last_segment = request.path.rstrip("/").rsplit("/", 1)[-1]
    if request.method == "POST" and last_segment in CREATED_COLLECTIONS:
        return Bucket("creates", settings.COGMILL_RATE_LIMIT_CREATES_PER_MINUTE)
    return Bucket("requests", settings.COGMILL_RATE_LIMIT_REQUESTS_PER_MINUTE)


def bucket_key(kind: str, token_id: int) -> str:
    return f"{KEY_PREFIX}:{kind}:{token_id}"


def check(request: HttpRequest, token: ApiToken) -> None:
    """Spend one of the token's requests; raise a 429 problem when there is none left.

    The decision is kept on the request for the X-RateLimit-* headers (api.middleware).
    """
    bucket = bucket_for(request)
    if bucket.per_minute <= 0:
        return  # a limit of 0 switches limiting off
    try:
        decision = take(bucket_key(bucket.kind, token.pk), bucket.per_minute)
    except redis.RedisError:
        if bucket.kind == "creates":
            raise  # a create needs the queue, which is Redis too: 503 now rather than a run left waiting
        # Without Redis nothing can be counted; reads from the database should still work.
        log.warning("rate limit not checked: Redis is unavailable", exc_info=True)
        return
    request.cogmill_rate_limit = decision
    if not decision.allowed:
        seconds = max(1, decision.retry_after)
        raise ApiProblem(
            429,
            f"This token may make {bucket.per_minute} {_described(bucket.kind)} a minute; "
            f"retry in {seconds} s.",
            headers={"Retry-After": str(seconds)},
        )


def _described(kind: str) -> str:
    return "create requests (POST that creates an object)" if kind == "creates" else "requests"
