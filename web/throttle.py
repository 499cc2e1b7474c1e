"""Sign-up and log-in, throttled: per client address (and log-in also per account name), so that
guessing passwords or minting accounts costs time; and runs started from the pages, counted in the
account's API bucket of creates. Without Redis nothing can be counted, and they are refused
(closed) rather than left unlimited."""

import hashlib

import redis
from django.http import HttpRequest

from cogmill.ratelimit import account_key, take

KEY_PREFIX = "cogmill:throttle"


def refusal(request: HttpRequest, kind: str, per_minute: int, *names: str) -> tuple[str, int] | None:
    """Spend one attempt of `kind` for this client (and each of `names`); (why, seconds to wait) when
    one is used up or nothing can be counted, None when the attempt may go on."""
    if per_minute <= 0:
        return None  # a limit of 0 switches it off
    subjects = [f"ip:{request.META.get('REMOTE_ADDR', '')}", *(f"name:{n.strip().lower()}" for n in names if n)]
    try:
        for subject in subjects:
            digest = hashlib.sha256(subject.encode()).hexdigest()[:32]
            decision = take(f"{KEY_PREFIX}:{kind}:{digest}", per_minute)
            if not decision.allowed:
                seconds = max(1, decision.retry_after)
                return f"Too many attempts; try again in {seconds} s.", seconds
    except redis.RedisError:
        return "Cogmill cannot check attempts right now; try again in a minute.", 60
    return None


def create_refusal(user, per_minute: int) -> str | None:
    """Spend one of the account's creates (the API's bucket: pages buy no more); why not, or None."""
    if per_minute <= 0:
        return None
    try:
        decision = take(account_key("creates", user.pk), per_minute)
    except redis.RedisError:
        return "Cogmill cannot start runs right now; try again in a minute."
    if decision.allowed:
        return None
    return f"You may start {per_minute} runs a minute; try again in {max(1, decision.retry_after)} s."
