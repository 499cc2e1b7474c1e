"""Errors over real HTTP (uvicorn + ASGI): every kind of bad request gets problem+json.

The rate limit itself is tested in-process (tests/unit/test_api_limits.py): the server here is
shared by every e2e test, so its limits stay at their defaults.
"""

import httpx
import pytest
import replicate
from replicate.exceptions import ReplicateError

from tests.problems import assert_problem as _problem

JSON = "application/json"


@pytest.fixture(scope="module")
def read_only_token(cogmill) -> str:
    return cogmill.manage("issue_token", "alice", "--read-only").stdout.strip()


def _headers(token: str | None, content_type: str = "") -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return headers | ({"Content-Type": content_type} if content_type else {})


def _chunks(data: bytes, size: int = 2**20):
    for start in range(0, len(data), size):
        yield data[start:start + size]


HUGE = b'{"input": {"text": "' + b"a" * (11 * 2**20) + b'"}}'

# name: (method, path, body (or a function making a chunked one), content type, token, status,
#        fragment of the detail)
CASES = {
    "body not JSON": ("POST", "/v1/predictions", b"{nope", JSON, "rw", 400, "not valid JSON"),
    "JSON array": ("POST", "/v1/predictions", b"[]", JSON, "rw", 422, "must be a JSON object"),
    "wrong types": ("POST", "/v1/predictions", b'{"version": 1}', JSON, "rw", 422, "version"),
    "unknown route": ("GET", "/v1/no/such/thing", b"", "", "rw", 404, "/v1/no/such/thing"),
    "unknown prediction": ("GET", "/v1/predictions/nope", b"", "", "rw", 404, "nope"),
    "wrong method": ("PUT", "/v1/predictions", b"{}", JSON, "rw", 405, "not allowed"),
    "huge body": ("POST", "/v1/predictions", HUGE, JSON, "rw", 413, "the limit is"),
    "huge chunked body": ("POST", "/v1/predictions", lambda: _chunks(HUGE), JSON, "rw", 413, "the limit is"),
    "text body": ("POST", "/v1/predictions", b"hello", "text/plain", "rw", 415, "application/json"),
    "XML body": ("POST", "/v1/predictions", b"<a/>", "application/xml", "rw", 415, "application/json"),
    "no token": ("GET", "/v1/predictions", b"", "", None, 401, "authentication token"),
    "read-only token writing": ("POST", "/v1/predictions", b"{}", JSON, "ro", 403, "read-only"),
    "stream of an unknown prediction": ("GET", "/v1/predictions/nope/stream", b"", "", None, 404, "nope"),
    "POST to a stream": ("POST", "/v1/predictions/nope/stream", b"", "", None, 405, "GET"),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_request_gets_a_problem(cogmill, token, read_only_token, case):
    method, path, body, content_type, who, status, fragment = case
    raw_token = {"rw": token, "ro": read_only_token, None: None}[who]
    content = body() if callable(body) else body
    response = httpx.request(method, cogmill.base_url + path, content=content,
                             headers=_headers(raw_token, content_type), timeout=60)
    assert fragment in _problem(response, status)["detail"]


def test_wrong_method_sends_allow(cogmill, token):
    response = httpx.delete(f"{cogmill.base_url}/v1/account", headers=_headers(token))
    _problem(response, 405)
    assert response.headers["Allow"] == "GET"


def test_get_with_a_json_content_type_is_fine(cogmill, token):
    # What the JS client sends on every request.
    response = httpx.get(f"{cogmill.base_url}/v1/predictions", headers=_headers(token, JSON))
    assert response.status_code == 200
    assert int(response.headers["X-RateLimit-Remaining"]) < int(response.headers["X-RateLimit-Limit"])


def test_read_only_token_reads_and_searches(cogmill, read_only_token):
    assert httpx.get(f"{cogmill.base_url}/v1/account", headers=_headers(read_only_token)).status_code == 200
    response = httpx.request("QUERY", f"{cogmill.base_url}/v1/models", content=b"hello",
                             headers=_headers(read_only_token, "text/plain"))
    assert response.status_code == 200, response.text


def test_client_sees_the_status_of_each_problem(client, cogmill, read_only_token):
    with pytest.raises(ReplicateError) as missing:
        client.predictions.get("nope")
    assert missing.value.status == 404
    with pytest.raises(ReplicateError) as invalid:
        client.predictions.create(version=cogmill.versions["hello-world"], input={"text": 5})
    assert invalid.value.status == 422 and "text" in invalid.value.detail
    read_only = replicate.Client(api_token=read_only_token, base_url=cogmill.base_url)
    with pytest.raises(ReplicateError) as forbidden:
        read_only.predictions.create(version=cogmill.versions["hello-world"], input={"text": "x"})
    assert forbidden.value.status == 403 and "read-only" in forbidden.value.detail
