import pytest
import replicate


@pytest.fixture
def client(cogmill, token) -> replicate.Client:
    """The official Python client, unmodified, pointed at the test server as alice."""
    return replicate.Client(api_token=token, base_url=cogmill.base_url)


@pytest.fixture
def outsider(cogmill, other_token) -> replicate.Client:
    """The official Python client as mallory, who shares nothing with alice."""
    return replicate.Client(api_token=other_token, base_url=cogmill.base_url)
