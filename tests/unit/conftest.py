"""Personas and a ready version shared by the in-process tests."""

import pytest

from accounts.models import ApiToken, User
from playground.models import BuildStatus, Model, Version

ECHO_SCHEMA = {
    "components": {
        "schemas": {
            "Input": {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}},
            "Output": {"type": "string"},
        }
    }
}


@pytest.fixture
def alice():
    return User.objects.create_user("alice")


@pytest.fixture
def auth(alice):
    """Django test-client headers carrying a token of alice's."""
    _, raw = ApiToken.issue(alice)
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


@pytest.fixture
def version(alice):
    """alice/echo, built and ready: `text` in, a string out."""
    model = Model.objects.create(owner=alice, name="echo")
    return Version.objects.create(model=model, version_id="a" * 64, build_status=BuildStatus.READY,
                                  openapi_schema=ECHO_SCHEMA, cog_version="0.23.1")
