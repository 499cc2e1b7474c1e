"""Log-in and sign-up are throttled: per client address, log-in also per account name, and they
are refused rather than left open when Redis cannot count."""

import uuid

import pytest
import redis
from django.test import Client

from web import throttle

pytestmark = pytest.mark.django_db


@pytest.fixture
def limits(settings):
    settings.COGMILL_RATE_LIMIT_LOGINS_PER_MINUTE = 3
    settings.COGMILL_RATE_LIMIT_SIGNUPS_PER_MINUTE = 2
    return settings


def _address() -> str:
    """A client address of the test's own, so buckets left by other tests never count."""
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"


def test_guessing_passwords_from_one_address_is_slowed_down(limits, alice):
    client, address, name = Client(), _address(), alice.username
    for _ in range(3):
        response = client.post("/login", {"username": name, "password": "wrong"}, REMOTE_ADDR=address)
        assert response.status_code == 200 and "Please enter a correct username" in response.content.decode()
    refused = client.post("/login", {"username": name, "password": "wrong"}, REMOTE_ADDR=address)
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert "Too many attempts; try again in" in refused.content.decode()


def test_guessing_one_account_from_many_addresses_is_slowed_down_too(limits, bob):
    name = f"{bob.username}-{uuid.uuid4().hex[:6]}"
    statuses = [Client().post("/login", {"username": name, "password": "x"}, REMOTE_ADDR=_address()).status_code
                for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_sign_ups_from_one_address_are_limited(limits):
    client, address = Client(), _address()
    for n in range(2):
        response = client.post("/signup", {"username": f"new{n}-{uuid.uuid4().hex[:6]}", "password1": "x",
                                           "password2": "y"}, REMOTE_ADDR=address)
        assert response.status_code == 200
    refused = client.post("/signup", {"username": "another", "password1": "x", "password2": "y"}, REMOTE_ADDR=address)
    assert refused.status_code == 429 and "Too many attempts" in refused.content.decode()


def test_without_redis_log_in_is_refused_not_left_unlimited(limits, alice, monkeypatch):
    def away(*args, **kwargs):
        raise redis.ConnectionError("Redis is away")

    monkeypatch.setattr(throttle, "take", away)
    refused = Client().post("/login", {"username": alice.username, "password": "x"}, REMOTE_ADDR=_address())
    assert refused.status_code == 429 and "cannot check attempts right now" in refused.content.decode()


def test_runs_started_from_the_page_count_against_the_accounts_creates(settings, alice, bob, version):
    """The run form spends the same bucket as the API's creates: the pages are no way around it."""
    settings.COGMILL_RATE_LIMIT_CREATES_PER_MINUTE = 2
    from cogmill.ratelimit import account_key
    from cogmill.redis import client as redis_client

    redis_client().delete(account_key("creates", alice.pk))
    client = Client()
    client.force_login(alice)
    statuses = [client.post("/alice/echo", {"text": "hi"}).status_code for _ in range(3)]
    assert statuses == [302, 302, 429]
    refused = client.post("/alice/echo", {"text": "hi"}).content.decode()
    assert "You may start 2 runs a minute; try again in" in refused
    client.force_login(bob)
    redis_client().delete(account_key("creates", bob.pk))
    assert client.post("/alice/echo", {"text": "hi"}).status_code == 302  # bob's own bucket
