"""Per-account rate limits: token buckets in Redis (API.md: 429 with an integer Retry-After).

Each account has two buckets, whichever of its tokens it uses, like Replicate: one for requests that create something
(COGMILL_RATE_LIMIT_CREATES_PER_MINUTE) and one for everything else
(COGMILL_RATE_LIMIT_REQUESTS_PER_MINUTE). A bucket holds a minute's worth of requests and
refills continuously, so a burst may spend the whole minute at once. While Redis is away, creates
are refused (503: the queue is Redis too) and reads are counted in each web process's memory.
"""

import logging
import math
import time
from dataclasses import dataclass

import redis
from django.conf import settings
from django.http import HttpRequest
from limits import RateLimitItemPerMinute, storage, strategies

from accounts.models import ApiToken
from api.problems import ApiProblem
from cogmill.ratelimit import Decision, account_key, take

log = logging.getLogger(__name__)

KEY_PREFIX = "cogmill:ratelimit"  # token buckets; cogmill.ratelimit has the pages' beside them
# The last path segment of a POST that creates an object.
CREATED_COLLECTIONS = frozenset({"predictions", "trainings", "models", "files", "versions"})

@dataclass(frozen=True)
class Bucket:
    kind: str  # "creates" or "requests"
    per_minute: int


def bucket_for(request: HttpRequest) -> Bucket:
    last_segment = request.path.rstrip("/").rsplit("/", 1)[-1]
    if request.method == "POST" and last_segment in CREATED_COLLECTIONS:
        return Bucket("creates", settings.COGMILL_RATE_LIMIT_CREATES_PER_MINUTE)
    return Bucket("requests", settings.COGMILL_RATE_LIMIT_REQUESTS_PER_MINUTE)


def bucket_key(kind: str, account_id: int) -> str:
    return account_key(kind, account_id)


def check(request: HttpRequest, token: ApiToken) -> None:
    """Spend one of the token's requests; raise a 429 problem when there is none left.

    The decision is kept on the request for the X-RateLimit-* headers (api.middleware).
    """
    bucket = bucket_for(request)
    if bucket.per_minute <= 0:
        return  # a limit of 0 switches limiting off
    key = bucket_key(bucket.kind, token.user_id)
    try:
        decision = take(key, bucket.per_minute)
    except redis.RedisError:
        if bucket.kind == "creates":
            raise  # a create needs the queue, which is Redis too: 503 now rather than a run left waiting
        # Reads from the database still work without Redis, but never unlimited: this process counts.
        _warn_once_a_minute()
        decision = _take_locally(key, bucket.per_minute)
    request.cogmill_rate_limit = decision
    if not decision.allowed:
        seconds = max(1, decision.retry_after)
        raise ApiProblem(
            429,
            f"This account may make {bucket.per_minute} {_described(bucket.kind)} a minute; "
            f"retry in {seconds} s.",
            headers={"Retry-After": str(seconds)},
        )


LOCAL_COUNTS = strategies.MovingWindowRateLimiter(storage.MemoryStorage())
_warned_at = [float("-inf")]


def _warn_once_a_minute() -> None:
    if time.monotonic() - _warned_at[0] >= 60:
        _warned_at[0] = time.monotonic()
        log.warning("rate limits counted in this web process: Redis is unavailable")


def _take_locally(key: str, per_minute: int) -> Decision:
    """take()'s answer from this process's own count, for while Redis is away."""
    item = RateLimitItemPerMinute(per_minute)
    allowed = LOCAL_COUNTS.hit(item, key)
    stats = LOCAL_COUNTS.get_window_stats(item, key)
    return Decision(allowed, per_minute, stats.remaining, 0 if allowed else max(1, math.ceil(stats.reset_time - time.time())))


def _described(kind: str) -> str:
    return "create requests (POST that creates an object)" if kind == "creates" else "requests"
