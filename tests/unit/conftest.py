"""The personas, a ready version and a prediction factory, shared by the in-process tests.

alice owns things; bob is her teammate in acme; carol is acme's admin; mallory is an outsider.
"""

import functools
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth.hashers import make_password
from django.core.files.base import ContentFile
from django.test import Client
from django.utils import timezone

from accounts.models import ApiToken, Membership, User
from cogmill import redis as cogmill_redis
from playground.models import BuildStatus, File, Model, Prediction, Version, Worker

PASSWORD = "a-long-pass-phrase-42"

ECHO_SCHEMA = {
    "components": {
        "schemas": {
            "Input": {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}},
            "Output": {"type": "string"},
        }
    }
}


@functools.cache
def _password_hash() -> str:
    """PASSWORD, hashed once: hashing is slow on purpose, and every test makes several people."""
    return make_password(PASSWORD)


def _person(username: str) -> User:
    person = User.objects.create_user(username)
    person.password = _password_hash()
    person.save(update_fields=["password"])
    return person


@pytest.fixture
def alice() -> User:
    """The owner."""
    return _person("alice")


@pytest.fixture
def bob() -> User:
    """alice's teammate in acme."""
    return _person("bob")


@pytest.fixture
def carol() -> User:
    """acme's admin."""
    return _person("carol")


@pytest.fixture
def mallory() -> User:
    """An outsider: no organization shared with anyone."""
    return _person("mallory")


@pytest.fixture
def acme(alice, bob, carol) -> User:
    """An organization: alice and bob are members, carol is its admin."""
    org = User.objects.create_user("acme", kind=User.Kind.ORGANIZATION)
    Membership.objects.create(organization=org, member=alice)
    Membership.objects.create(organization=org, member=bob)
    Membership.objects.create(organization=org, member=carol, role=Membership.Role.ADMIN)
    return org


def client_for(user: User | None = None) -> Client:
    """A Django test client, logged in as `user` (or logged out)."""
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def bearer(user: User, read_only: bool = False) -> dict:
    """Django test-client headers carrying a new token of `user`'s."""
    _, raw = ApiToken.issue(user, read_only=read_only)
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


@pytest.fixture
def auth(alice) -> dict:
    """Headers with a token of alice's."""
    return bearer(alice)


@pytest.fixture
def read_only_auth(alice) -> dict:
    """Headers with a read-only token of alice's."""
    return bearer(alice, read_only=True)


def ready_version(owner: User, name: str, schema: dict, letter: str, **model_fields) -> Version:
    """A new model owner/name (with `model_fields`) and a version of it, built and ready, that takes
    and returns what `schema` says; its id is `letter` 64 times."""
    model = Model.objects.create(owner=owner, name=name, **model_fields)
    return Version.objects.create(model=model, version_id=letter * 64, build_status=BuildStatus.READY,
                                  openapi_schema=schema, cog_version="0.23.1")


def stored_output(prediction, name: str, content: bytes, content_type: str, output: bool = True) -> File:
    """A file `prediction` wrote (stored as its output files are); with `output`, it is the output."""
    f = File(kind=File.Kind.OUTPUT, owner=prediction.owner, prediction=prediction, name=name,
             content_type=content_type, size=len(content), sha256="0" * 64, md5="0" * 32)
    f.content.save(name, ContentFile(content), save=False)
    f.save()
    if output:
        prediction.output = f.url
        prediction.save()
    return f


@pytest.fixture
def version(alice) -> Version:
    """alice/echo, built and ready: `text` in, a string out."""
    return ready_version(alice, "echo", ECHO_SCHEMA, "a")


@pytest.fixture
def make_prediction(version) -> Callable[..., Prediction]:
    """Record a prediction of `version` (alice/echo unless given), by its model's owner unless `owner`."""

    def make(owner: User | None = None, of: Version | None = None, **fields) -> Prediction:
        chosen = of or version
        fields.setdefault("input", {"text": "hello"})
        return Prediction.objects.create(owner=owner or chosen.model.owner, model=chosen.model, version=chosen,
                                         **fields)

    return make


@pytest.fixture(autouse=True)
def fresh_rate_limits(request):
    """Rolled-back rows give the next test's people the same ids, so their rate-limit buckets must
    start full: a test would otherwise spend what earlier ones left."""
    if request.node.get_closest_marker("django_db") is None:
        return
    r = cogmill_redis.client()
    for key in r.scan_iter("cogmill:ratelimit:*"):
        r.delete(key)


@pytest.fixture(autouse=True)
def cpu_worker(request):
    """A live worker serving cpu, as on any running Cogmill (tests of a database only)."""
    if request.node.get_closest_marker("django_db") is None:
        return None
    request.getfixturevalue("db")
    return Worker.objects.create(name="test-box:1", hardware=["cpu"], heartbeat_at=timezone.now() + timedelta(days=1))
