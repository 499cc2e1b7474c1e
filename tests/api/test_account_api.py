"""GET /v1/account through the official Python client."""

import httpx
import pytest
import replicate
from replicate.exceptions import ReplicateError


def test_current_account(client):
    account = client.accounts.current()
    assert (account.type, account.username, account.name) == ("user", "alice", "alice")
    assert account.github_url is None


def test_each_token_is_its_own_account(cogmill, other_token):
    outsider = replicate.Client(api_token=other_token, base_url=cogmill.base_url)
    assert outsider.accounts.current().username == "mallory"


def test_account_wire_shape(cogmill, token):
    response = httpx.get(f"{cogmill.base_url}/v1/account", headers={"Authorization": f"Token {token}"})
    assert response.status_code == 200
    assert response.json() == {"type": "user", "username": "alice", "name": "alice", "github_url": None,
                               "avatar_url": f"{cogmill.base_url}/avatars/alice.svg"}


def test_account_with_a_bad_token_is_401(cogmill):
    bad = replicate.Client(api_token="cm_not-a-real-token", base_url=cogmill.base_url)
    with pytest.raises(ReplicateError) as info:
        bad.accounts.current()
    assert info.value.status == 401
    assert info.value.detail == "You did not pass a valid authentication token"
