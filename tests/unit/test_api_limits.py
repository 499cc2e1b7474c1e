"""Errors and limits under /v1/, in-process against the real Redis: every kind of bad request gets
problem+json with the right status and a detail that says what to do."""

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
import pytest
import redis
import replicate
from django.core.exceptions import RequestDataTooBig
from django.test import Client, override_settings
from replicate.exceptions import ReplicateError

from accounts.models import ApiToken, User
from api import ratelimit
from api.api import api
from api.guards import SAFE_METHODS
from cogmill import ratelimit as buckets
from cogmill.urls import handler400
from playground import errors, events
from playground.models import Model, Version
from tests.problems import assert_problem as _problem
from tests.unit.conftest import bearer

pytestmark = pytest.mark.django_db

JSON = "application/json"


@pytest.fixture(autouse=True)
def fresh_local_counts():
    """The counts a web process keeps while Redis is away start empty too (conftest empties Redis's)."""
    ratelimit.LOCAL_COUNTS.storage.reset()


@pytest.fixture
def tokens(auth, read_only_auth) -> dict[str, dict]:
    return {"rw": auth, "ro": read_only_auth, "none": {}}


# ---------------------------------------------------------------- every kind of bad request

@dataclass
class Case:
    method: str
    path: str
    body: str | bytes
    content_type: str
    status: int
    detail: str  # a fragment the detail must contain
    token: str = "rw"
    settings: dict = field(default_factory=dict)
    before: int = 0  # send the same request this many times first


HUGE = '{"input": {"text": "' + "a" * (10 * 2**20) + '"}}'

CASES = {
    "body not JSON": Case("POST", "/v1/predictions", "{nope", JSON, 400, "not valid JSON"),
    "body not UTF-8": Case("POST", "/v1/predictions", b"\xff\xfe{}", JSON, 400, "not valid JSON"),
    "JSON array instead of object": Case("POST", "/v1/predictions", "[1, 2]", JSON, 422,
                                         "must be a JSON object, not an array"),
    "JSON string instead of object": Case("POST", "/v1/predictions", '"hi"', JSON, 422, "not a string"),
    "JSON null": Case("POST", "/v1/predictions", "null", JSON, 422, "not null"),
    "wrong types": Case("POST", "/v1/predictions", '{"version": 5, "input": []}', JSON, 422,
                        "version: Input should be a valid string"),
    "unknown route": Case("GET", "/v1/no/such/thing", "", "", 404, "no /v1/no/such/thing"),
    "bare /v1": Case("GET", "/v1", "", "", 404, "no /v1 in this API"),
    "unknown object": Case("GET", "/v1/predictions/nope", "", "", 404, "nope"),
    "wrong method": Case("PUT", "/v1/predictions", "{}", JSON, 405, "PUT /v1/predictions is not allowed"),
    "wrong method on the stream": Case("POST", "/v1/predictions/x/stream", "", "", 405, "accepts GET"),
    "huge body": Case("POST", "/v1/predictions", HUGE, JSON, 413, "the limit is 10485760 bytes"),
    "text body": Case("POST", "/v1/predictions", "hello", "text/plain", 415, "Content-Type: application/json"),
    "XML body": Case("POST", "/v1/predictions", "<a/>", "application/xml", 415, "not application/xml"),
    "form body": Case("POST", "/v1/predictions", "version=x", "application/x-www-form-urlencoded", 415,
                      "application/json"),
    "multipart to a JSON endpoint": Case("POST", "/v1/predictions", "--b--\r\n",
                                         "multipart/form-data; boundary=b", 415, "multipart/form-data"),
    "no token": Case("GET", "/v1/predictions", "", "", 401, "valid authentication token", token="none"),
    "read-only token writing": Case("POST", "/v1/predictions", "{}", JSON, 403, "This token is read-only",
                                    token="ro"),
    "read-only token deleting": Case("DELETE", "/v1/models/alice/echo", "", "", 403, "read-only", token="ro"),
    "rate limit": Case("GET", "/v1/account", "", "", 429, "retry in 20 s", before=3,
                       settings={"COGMILL_RATE_LIMIT_REQUESTS_PER_MINUTE": 3}),
    "create rate limit": Case("POST", "/v1/predictions", "{nope", JSON, 429, "create requests", before=2,
                              settings={"COGMILL_RATE_LIMIT_CREATES_PER_MINUTE": 2}),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_request_gets_a_problem(client, tokens, case: Case):
    def send():
        return client.generic(case.method, case.path, case.body, content_type=case.content_type,
                              **tokens[case.token])

    with override_settings(**case.settings):
        for _ in range(case.before):
            send()
        body = _problem(send(), case.status)
    assert case.detail in body["detail"]


def test_wrong_method_names_the_allowed_ones(client, auth):
    response = client.delete("/v1/predictions", **auth)
    _problem(response, 405)
    assert set(response["Allow"].split(", ")) == {"GET", "POST"}


def test_unknown_route_beats_every_other_check(client, tokens):
    _problem(client.post("/v1/nothing", "x", content_type="text/plain", **tokens["ro"]), 404)


def test_without_a_token_nothing_else_is_told(client):
    _problem(client.post("/v1/predictions", "x", content_type="text/plain"), 401)


@override_settings(DEBUG=True)
def test_debug_pages_are_problems_too(client, auth):
    body = _problem(client.get("/v1/no/such/thing", **auth), 404)
    assert "/v1/no/such/thing" in body["detail"]


def test_pages_outside_the_api_stay_html(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


# ---------------------------------------------------------------- every endpoint

def _operations() -> list[tuple[str, str, bool]]:
    """(method, path with sample parameters, takes a JSON body) for every API operation."""
    found = []
    for path, operations in api.get_openapi_schema()["paths"].items():
        sample = path.replace("{owner}", "alice").replace("{name}", "echo")
        sample = "/".join("x" if part.startswith("{") else part for part in sample.split("/"))
        for method, operation in operations.items():
            takes_json = JSON in (operation.get("requestBody") or {}).get("content", {})
            found.append((method.upper(), sample, takes_json))
    return found


JSON_BODY_OPERATIONS = [(m, p) for m, p, takes_json in _operations() if takes_json]
WRITE_OPERATIONS = [(m, p) for m, p, _ in _operations() if m not in SAFE_METHODS]


@pytest.mark.parametrize(("method", "path"), JSON_BODY_OPERATIONS)
@pytest.mark.parametrize(("body", "content_type", "status"), [
    ("{nope", JSON, 400), ("[]", JSON, 422), ("{}", "text/plain", 415), ("<a/>", "application/xml", 415),
])
def test_every_json_endpoint_checks_its_body(client, auth, version, method, path, body, content_type, status):
    _problem(client.generic(method, path, body, content_type=content_type, **auth), status)


@pytest.mark.parametrize(("method", "path"), WRITE_OPERATIONS)
def test_read_only_token_may_not_write_anywhere(client, tokens, version, method, path):
    body = _problem(client.generic(method, path, "{}", content_type=JSON, **tokens["ro"]), 403)
    assert body["detail"].startswith("This token is read-only")
    assert Version.objects.count() == 1 and Model.objects.count() == 1


def test_read_only_token_may_read_and_search(client, tokens, version):
    ro = tokens["ro"]
    assert client.get("/v1/account", **ro).status_code == 200
    assert client.get("/v1/models/alice/echo", **ro).status_code == 200
    response = client.generic("QUERY", "/v1/models", "echo", content_type="text/plain", **ro)
    assert response.status_code == 200, response.content


def test_get_ignores_a_json_content_type(client, auth):
    # The JS client sends Content-Type: application/json on every request, GET included.
    assert client.get("/v1/predictions", content_type=JSON, **auth).status_code == 200


def test_json_with_charset_and_without_content_type_is_read(client, auth, version):
    body = f'{{"version": "{version.version_id}", "input": {{"text": "a"}}}}'
    for content_type in ("application/json; charset=utf-8", ""):
        assert client.post("/v1/predictions", body, content_type=content_type, **auth).status_code == 201


@override_settings(COGMILL_MAX_REQUEST_BYTES=1024)
def test_uploads_are_not_held_to_the_json_limit(client, auth):
    content = httpx.Request("POST", "http://x", files={"content": ("a.bin", b"x" * 4096)})
    response = client.post("/v1/files", content.read(), content_type=content.headers["Content-Type"], **auth)
    assert response.status_code == 201, response.content


@override_settings(COGMILL_MAX_REQUEST_BYTES=10**8, DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_django_body_cap_is_413(client, auth):
    body = _problem(client.post("/v1/predictions", {"input": {"text": "a" * 2000}}, content_type=JSON,
                                **auth), 413)
    assert "1000 bytes" in body["detail"]


def test_django_error_views_answer_problems_under_v1(rf):
    _problem(handler400(rf.post("/v1/predictions"), RequestDataTooBig()), 413)
    _problem(handler400(rf.get("/v1/predictions"), ValueError()), 400)
    assert handler400(rf.get("/admin/"), ValueError()).status_code == 400


# ---------------------------------------------------------------- unexpected errors

def test_unhandled_error_in_an_api_view_is_500_problem(auth, monkeypatch):
    monkeypatch.setattr(User, "to_account_dict", lambda self: 1 / 0)
    body = _problem(Client(raise_request_exception=False).get("/v1/account", **auth), 500)
    assert "ZeroDivision" not in body["detail"]


def test_unhandled_error_in_the_stream_view_is_500_problem(version, alice, monkeypatch):
    prediction = version.predictions.create(owner=alice, model=version.model)

    def broken(run_id):
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr(events, "has_stream", broken)
    owner = Client(raise_request_exception=False)
    owner.force_login(alice)
    _problem(owner.get(f"/v1/predictions/{prediction.pk}/stream"), 500)


def test_redis_down_is_503_with_retry_after_and_no_internals(version, alice, auth, monkeypatch):
    prediction = version.predictions.create(owner=alice, model=version.model)

    def redis_down():
        raise redis.ConnectionError("Error 111 connecting to unix socket: /secret/path/redis.sock")

    monkeypatch.setattr(events, "client", redis_down)
    monkeypatch.setattr(buckets, "redis_client", redis_down)
    owner = Client()
    owner.force_login(alice)
    for response in (owner.get(f"/v1/predictions/{prediction.pk}/stream"),
                     Client().post("/v1/predictions", {"version": version.version_id, "input": {"text": "a"}},
                                   content_type="application/json", **auth)):
        body = _problem(response, 503)
        assert response["Retry-After"] and "/secret" not in body["detail"] and "111" not in body["detail"]
    assert version.predictions.count() == 1  # the refused create left no row


# ---------------------------------------------------------------- rate limits

@override_settings(COGMILL_RATE_LIMIT_REQUESTS_PER_MINUTE=3)
def test_get_past_the_limit_is_429_with_integer_retry_after(client, auth):
    for remaining in (2, 1, 0):
        response = client.get("/v1/account", **auth)
        assert response.status_code == 200
        assert response["X-RateLimit-Limit"] == "3" and response["X-RateLimit-Remaining"] == str(remaining)
    response = client.get("/v1/account", **auth)
    _problem(response, 429)
    assert response["Retry-After"] == "20"  # one request every 20 s refills the bucket


@override_settings(COGMILL_RATE_LIMIT_CREATES_PER_MINUTE=1)
def test_creates_have_their_own_bucket(client, auth, version):
    body = {"version": version.version_id, "input": {"text": "a"}}
    pid = client.post("/v1/predictions", body, content_type=JSON, **auth).json()["id"]
    response = client.post("/v1/predictions", body, content_type=JSON, **auth)
    _problem(response, 429)
    assert int(response["Retry-After"]) == 60
    _problem(client.post("/v1/models/alice/echo/predictions", body, content_type=JSON, **auth), 429)
    assert client.get(f"/v1/predictions/{pid}", **auth).status_code == 200
    assert client.post(f"/v1/predictions/{pid}/cancel", **auth).status_code == 200


@override_settings(COGMILL_RATE_LIMIT_REQUESTS_PER_MINUTE=1)
def test_an_account_has_one_bucket_whichever_token_it_uses(client, alice, bob):
    """Minting another token does not buy another minute's worth of requests; others are unaffected."""
    first, second = bearer(alice), bearer(alice)
    assert client.get("/v1/account", **first).status_code == 200
    _problem(client.get("/v1/account", **first), 429)
    assert "This account may make 1 requests a minute" in _problem(client.get("/v1/account", **second), 429)["detail"]
    assert client.get("/v1/account", **bearer(bob)).status_code == 200


@override_settings(COGMILL_RATE_LIMIT_REQUESTS_PER_MINUTE=0)
def test_a_limit_of_zero_switches_limiting_off(client, auth):
    response = client.get("/v1/account", **auth)
    assert response.status_code == 200 and "X-RateLimit-Limit" not in response


@override_settings(COGMILL_RATE_LIMIT_REQUESTS_PER_MINUTE=2)
def test_without_redis_reads_are_counted_in_the_web_process(client, auth, bob, monkeypatch):
    """Reads from the database work through a Redis outage, but never unlimited."""
    def redis_down(key, per_minute):
        raise redis.ConnectionError("no Redis")

    monkeypatch.setattr(ratelimit, "take", redis_down)
    assert [client.get("/v1/account", **auth).status_code for _ in range(2)] == [200, 200]
    refused = client.get("/v1/account", **auth)
    assert "This account may make 2 requests a minute" in _problem(refused, 429)["detail"]
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert client.get("/v1/account", **bearer(bob)).status_code == 200


def test_the_bucket_is_atomic_under_concurrency():
    key = ratelimit.bucket_key("requests", 10**9)
    with ThreadPoolExecutor(max_workers=16) as pool:
        decisions = list(pool.map(lambda _: ratelimit.take(key, 25), range(60)))
    assert sum(d.allowed for d in decisions) == 25
    assert all(d.retry_after >= 1 for d in decisions if not d.allowed)


def test_the_bucket_refills_with_time():
    key = ratelimit.bucket_key("requests", 10**9 + 1)
    per_minute = 1200  # 20 a second
    while ratelimit.take(key, per_minute).allowed:
        pass
    assert ratelimit.take(key, per_minute).retry_after == 1
    time.sleep(0.1)
    assert ratelimit.take(key, per_minute).allowed


# ---------------------------------------------------------------- the official client

class DjangoTransport(httpx.BaseTransport):
    """The official client's requests, answered in-process by Django's test client."""

    def __init__(self, django_client: Client):
        self.django = django_client
        self.statuses: list[int] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() not in {"host", "content-length", "content-type"}}
        response = self.django.generic(request.method, request.url.raw_path.decode(), request.read(),
                                       content_type=request.headers.get("Content-Type", ""), headers=headers)
        self.statuses.append(response.status_code)
        return httpx.Response(response.status_code, headers=list(response.items()), content=response.content)


@pytest.fixture
def transport(client) -> DjangoTransport:
    return DjangoTransport(client)


@pytest.fixture
def official(alice, transport) -> replicate.Client:
    _, raw = ApiToken.issue(alice)
    return replicate.Client(api_token=raw, base_url="http://testserver", transport=transport)


@override_settings(COGMILL_RATE_LIMIT_CREATES_PER_MINUTE=2)
def test_client_create_past_the_limit_raises_429(official, version):
    for _ in range(2):
        official.predictions.create(version=version.version_id, input={"text": "a"})
    with pytest.raises(ReplicateError) as raised:
        official.predictions.create(version=version.version_id, input={"text": "a"})
    assert raised.value.status == 429 and "retry in" in raised.value.detail


@override_settings(COGMILL_RATE_LIMIT_REQUESTS_PER_MINUTE=60)
def test_client_get_waits_for_retry_after_and_succeeds(official, transport, alice):
    key = ratelimit.bucket_key("requests", alice.pk)
    while ratelimit.take(key, 60).allowed:
        pass
    started = time.monotonic()
    assert official.predictions.list().results == []
    assert transport.statuses[0] == 429 and transport.statuses[-1] == 200
    assert time.monotonic() - started >= 1  # Retry-After: 1, honoured


def test_a_value_error_of_ours_is_500_not_the_callers_fault(auth, monkeypatch):
    """No catch-all ValueError → 400: a bug in our code must not read as the caller's mistake."""
    monkeypatch.setattr(User, "to_account_dict", lambda self: int("not a number"))
    body = _problem(Client(raise_request_exception=False).get("/v1/account", **auth), 500)
    assert "invalid literal" not in body["detail"]


@pytest.mark.parametrize("error, status", [
    (errors.BadRequest("bad"), 400), (errors.Forbidden("no"), 403), (errors.NotFound("gone"), 404),
    (errors.Conflict("busy"), 409), (errors.Invalid.field("text", "wrong"), 422),
    (errors.SpendLimitReached("over"), 402),
])
def test_each_domain_error_is_one_problem_status(auth, monkeypatch, error, status):
    def refuse(self):
        raise error

    monkeypatch.setattr(User, "to_account_dict", refuse)
    body = _problem(Client().get("/v1/account", **auth), status)
    assert body["detail"] == str(error)
    if isinstance(error, errors.Invalid):
        assert body["invalid_fields"] == [{"field": "text", "description": "wrong", "type": "invalid"}]
