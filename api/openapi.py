"""/v1/openapi.json as served: ninja's generator, with what ninja cannot infer from a signature.

Errors are rendered as application/problem+json (api.problems), not ninja's application/json; the
few operations that take or answer raw bytes (uploads, README, downloads, the event stream) state
their media types with the helpers below, fed by the same constants their views use.
"""

from typing import Any

from ninja import NinjaAPI
from ninja.openapi.schema import OpenAPISchema
from ninja.operation import Operation
from pydantic import BaseModel

from api import problems
from api.schemas import Problem

RETRY_AFTER = {"description": "Whole seconds until the token may make this kind of request again.",
               "schema": {"type": "integer", "minimum": 1}}


class CogmillSchema(OpenAPISchema):
    def operation_parameters(self, operation: Operation) -> list[dict[str, Any]]:
        params = super().operation_parameters(operation)
        for param in params:
            param["schema"] = absent_not_null(param["schema"])
        return params

    def responses(self, operation: Operation) -> dict[int, Any]:
        result = super().responses(operation)
        for status, model in operation.response_models.items():
            if _declares(model, Problem):
                content = result[status]["content"]
                content[problems.CONTENT_TYPE] = content.pop(self.api.renderer.media_type)
            if status == 429:
                result[status]["headers"] = {"Retry-After": RETRY_AFTER}
        return result


def _declares(response_model: Any, schema: type[BaseModel]) -> bool:
    """Whether ninja's wrapper for one status (a model with a `response` field) holds `schema`."""
    field = getattr(response_model, "model_fields", {}).get("response")
    return field is not None and field.annotation is schema


class CogmillApi(NinjaAPI):
    def get_openapi_schema(self, *, path_prefix: str | None = None,
                           path_params: dict[str, Any] | None = None) -> OpenAPISchema:
        if path_prefix is None:
            path_prefix = self.get_root_path(path_params or {})
        return CogmillSchema(self, path_prefix)


def absent_not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query, header or form field is a string or absent, never null: drop the null of `X | None`."""
    variants = schema.get("anyOf", [])
    if {"type": "null"} not in variants:
        return schema
    rest = [v for v in variants if v != {"type": "null"}]
    kept = {k: v for k, v in schema.items() if k not in {"anyOf", "default"}}
    return kept | (rest[0] if len(rest) == 1 else {"anyOf": rest})


# ---------------------------------------------------------------- raw bodies, for openapi_extra

def binary(description: str) -> dict[str, Any]:
    return {"type": "string", "format": "binary", "description": description}


def raw_response(status: int, media_type: str, schema: dict[str, Any] | type[BaseModel]) -> dict:
    """An operation's `openapi_extra` for a response that is not JSON (for an event stream: one event)."""
    if isinstance(schema, type):
        schema = schema.model_json_schema()
    return {"responses": {status: {"description": "OK", "content": {media_type: {"schema": schema}}}}}


def request_body(*bodies: tuple[str, dict[str, Any] | type[BaseModel]]) -> dict:
    """An operation's `openapi_extra` for a body its view reads itself: (media type, schema or model)."""
    content = {}
    for media_type, schema in bodies:
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            schema = _form_schema(schema)
        content[media_type] = {"schema": schema}
    return {"requestBody": {"required": True, "content": content}}


def _form_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema["properties"] = {name: absent_not_null(p) for name, p in schema["properties"].items()}
    return schema


def merged(*extras: dict) -> dict:
    result: dict = {}
    for extra in extras:
        for key, value in extra.items():
            result[key] = {**result.get(key, {}), **value} if isinstance(value, dict) else value
    return result
