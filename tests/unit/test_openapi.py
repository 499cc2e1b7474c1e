"""/v1/openapi.json: every route ninja serves, each with its success schema and its problems."""

import re

import pytest
from django.test import Client

from accounts.models import ApiToken, User
from api.api import api
from playground.models import Hardware
from tests.problems import assert_problem

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
# ninja's own routes: the document itself and the page that renders it.
NOT_OPERATIONS = {"openapi-json", "openapi-view", "api-root"}


@pytest.fixture(scope="module")
def document() -> dict:
    response = Client().get("/v1/openapi.json")
    assert response.status_code == 200
    return response.json()


def _operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def _served_routes() -> dict[str, set[str]]:
    """Each /v1/ route ninja serves, as an OpenAPI path, with the methods it answers (its 405's Allow)."""
    routes = {}
    for pattern in api.urls[0]:
        if pattern.name in NOT_OPERATIONS:
            continue
        route = "/v1/" + str(pattern.pattern)
        response = Client().generic("TRACE", re.sub(r"<[^>]+>", "x", route))
        assert response.status_code == 405, route
        routes[re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)] = {
            m.strip().lower() for m in response["Allow"].split(",")
        }
    return routes


def test_every_route_and_method_served_is_documented(document):
    documented = {path: set(item) for path, item in document["paths"].items()}
    assert documented == _served_routes()


def test_every_operation_has_a_success_schema(document):
    for method, path, operation in _operations(document):
        success = {status: r for status, r in operation["responses"].items() if status.startswith("2")}
        assert success, f"{method} {path}"
        for status, response in success.items():
            if status == "204":
                assert "content" not in response
                continue
            assert response["content"], f"{method} {path} {status}"
            assert all(media["schema"] for media in response["content"].values())


def test_every_error_is_the_one_problem_schema(document):
    for method, path, operation in _operations(document):
        errors = {status: r for status, r in operation["responses"].items() if status >= "400"}
        for status, response in errors.items():
            assert response["content"] == PROBLEM, f"{method} {path} {status}"
        if operation.get("security"):
            assert {"400", "401", "413", "429"} <= errors.keys(), f"{method} {path}"
            assert "Retry-After" in errors["429"]["headers"]


def test_problem_schema_is_what_errors_send(document):
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"title", "detail", "status"}
    # invalid_fields on a 422, limit and spend on a 402
    assert set(problem["properties"]) == {"title", "detail", "status", "invalid_fields", "limit", "spend"}


def test_token_is_a_bearer_scheme_the_docs_page_can_take(document):
    assert document["components"]["securitySchemes"] == {"TokenAuth": {"type": "http", "scheme": "bearer"}}


def test_raw_bodies_are_described(document):
    paths = document["paths"]
    stream = paths["/v1/predictions/{prediction_id}/stream"]["get"]
    assert "security" not in stream  # the stream URL is a capability
    event = stream["responses"]["200"]["content"]["text/event-stream"]["schema"]
    assert event["properties"]["event"]["enum"] == ["output", "logs", "error", "done"]
    assert "text/markdown" in paths["/v1/models/{owner}/{name}/readme"]["get"]["responses"]["200"]["content"]
    assert "text/plain" in paths["/v1/models"]["query"]["requestBody"]["content"]
    assert "multipart/form-data" in paths["/v1/files"]["post"]["requestBody"]["content"]
    assert "application/gzip" in paths["/v1/models/{owner}/{name}/versions"]["post"]["requestBody"]["content"]


def test_hardware_is_a_bare_array(document):
    ok = document["paths"]["/v1/hardware"]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"]["type"] == "array"


@pytest.mark.django_db
def test_a_response_that_drifts_from_its_schema_is_a_500(monkeypatch):
    """Responses are validated against the document, so a field added in one place only fails loudly."""
    _, raw = ApiToken.issue(User.objects.create_user("alice"))
    Hardware.objects.get_or_create(sku="cpu", defaults={"name": "CPU"})
    monkeypatch.setattr(Hardware, "to_dict", lambda self: {"sku": self.sku, "name": self.name, "new": 1})
    client = Client(raise_request_exception=False)
    assert_problem(client.get("/v1/hardware", HTTP_AUTHORIZATION=f"Bearer {raw}"), 500)
