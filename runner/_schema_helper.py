"""Write a model's OpenAPI schema; run inside the model's virtualenv.

Usage: python _schema_helper.py OUT.json PREDICT_REF [TRAIN_REF]

Standalone on purpose: it imports only the Cog SDK and the model. It follows
the rules of the Go generator that ``cog build`` uses, fed by the SDK's own
inspector. The result (or the error) is written to OUT.json as
``{"ok": true, "schema": ...}`` or ``{"ok": false, "error": ..., "traceback": ...}``.
"""

from __future__ import annotations

import enum
import importlib
import inspect
import json
import os
import sys
import traceback
import warnings
from typing import Any

REF_PREFIX = "#/components/schemas/"
VALIDATION_ERROR = {"$ref": REF_PREFIX + "HTTPValidationError"}
PRIMITIVES: dict[str, dict[str, Any]] = {
    "BOOL": {"type": "boolean"},
    "FLOAT": {"type": "number"},
    "INTEGER": {"type": "integer"},
    "STRING": {"type": "string"},
    "PATH": {"type": "string", "format": "uri"},
    "FILE": {"type": "string", "format": "uri"},
    "SECRET": {"type": "string", "format": "password", "writeOnly": True, "x-cog-secret": True},
}
OBJECT = {"type": "object"}


class ModelError(Exception):
    """A problem in the model's code, reported to the user as the build error."""


def title_case(name: str) -> str:
    return " ".join(part[:1].upper() + part[1:] for part in name.split("_"))


def json_value(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return json_value(value.value)
    if hasattr(value, "get_secret_value"):
        return value.get_secret_value()
    if isinstance(value, os.PathLike):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value is None or isinstance(value, (bool, int, float, str, dict)):
        return value
    return str(value)


def kind_name(value: Any) -> str:
    return getattr(value, "name", "ANY")


def primitive_schema(primitive: Any) -> dict[str, Any]:
    return dict(PRIMITIVES.get(kind_name(primitive), OBJECT))


def is_optional(field_type: Any) -> bool:
    return kind_name(field_type.repetition) in ("OPTIONAL", "OPTIONAL_REPEATED")


def field_type_schema(field_type: Any) -> dict[str, Any]:
    variants = getattr(field_type, "union_variants", None)
    if variants:
        members = [field_type_schema(v) for v in variants]
        if is_optional(field_type):
            for member in members:
                member["nullable"] = True
        return {"anyOf": members}
    if kind_name(field_type.repetition) in ("REPEATED", "OPTIONAL_REPEATED"):
        return {"type": "array", "items": primitive_schema(field_type.primitive)}
    return primitive_schema(field_type.primitive)


def raw_defaults(function: Any) -> dict[str, Any]:
    """Parameter defaults as written, to read ``Input(accept=...)``."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return {}
    return {name: p.default for name, p in parameters.items()}


def input_property(field: Any, raw: Any, enums: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The property schema for one input, and whether the input is required."""
    prop: dict[str, Any] = {"x-order": field.order}
    primitive = kind_name(field.type.primitive)
    if field.choices:
        enums[field.name] = {
            "title": field.name,
            "description": "An enumeration.",
            "enum": [json_value(c) for c in field.choices],
            "type": primitive_schema(field.type.primitive).get("type", "string"),
        }
        prop["allOf"] = [{"$ref": REF_PREFIX + field.name}]
    else:
        prop["title"] = title_case(field.name)
        prop.update(field_type_schema(field.type))
    default = field.default
    if default is not None and not hasattr(default, "default_factory"):
        prop["default"] = json_value(default)
    # ``Secret = Input(default=None)`` is the documented idiom for an optional
    # credential; the SDK cannot tell it from a bare Input(), so treat both so.
    nullable = is_optional(field.type) or (primitive == "SECRET" and default is None)
    if nullable:
        prop["nullable"] = True
    add_constraints(prop, field, raw)
    repetition = kind_name(field.type.repetition)
    union = bool(getattr(field.type, "union_variants", None))
    required = "default" not in prop and not nullable and (union or repetition in ("REQUIRED", "REPEATED"))
    return prop, required


def add_constraints(prop: dict[str, Any], field: Any, raw: Any) -> None:
    for key, attr in (
        ("description", "description"),
        ("minimum", "ge"),
        ("maximum", "le"),
        ("minLength", "min_length"),
        ("maxLength", "max_length"),
        ("pattern", "regex"),
    ):
        value = getattr(field, attr, None)
        if value is not None:
            prop[key] = json_value(value)
    if getattr(field, "deprecated", None):
        prop["deprecated"] = True
    accept = getattr(raw, "accept", None)
    if isinstance(accept, str):
        prop["x-cog-accept"] = accept


def input_schema(info: Any, function: Any, title: str) -> tuple[dict[str, Any], dict[str, Any]]:
    raws = raw_defaults(function)
    properties: dict[str, Any] = {}
    required: list[str] = []
    enums: dict[str, Any] = {}
    for field in sorted(info.inputs.values(), key=lambda f: f.order):
        prop, is_required = input_property(field, raws.get(field.name), enums)
        properties[field.name] = prop
        if is_required:
            required.append(field.name)
    schema: dict[str, Any] = {"title": title, "type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema, enums


def output_schema(output: Any, title: str) -> dict[str, Any]:
    kind = kind_name(output.kind)
    schema: dict[str, Any] = {"title": title}
    if kind == "OBJECT":
        schema.update(object_schema(output.fields or {}))
    elif kind == "SINGLE":
        schema.update(primitive_schema(output.type))
    else:
        schema.update({"type": "array", "items": primitive_schema(output.type)})
        if kind in ("ITERATOR", "CONCAT_ITERATOR"):
            schema["x-cog-array-type"] = "iterator"
        if kind == "CONCAT_ITERATOR":
            schema["x-cog-array-display"] = "concatenate"
    return schema


def object_schema(fields: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, field_type in fields.items():
        prop = field_type_schema(field_type)
        if is_optional(field_type):
            prop["nullable"] = True
        else:
            required.append(name)
        prop["title"] = title_case(name)
        properties[name] = prop
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def load_predictor(ref: str) -> tuple[Any, Any]:
    """Import the model and inspect it; ModelError carries the user-facing message."""
    try:
        from cog import _inspector  # type: ignore[import-not-found]
    except ImportError as exc:
        raise ModelError(f"this Cog SDK has no inspector ({exc}); Cogmill needs cog 0.23 or newer") from exc

    path, _, name = ref.partition(":")
    module_name = path[:-3].replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except BaseException as exc:
        raise ModelError(f"import error in {path}: {type(exc).__name__}: {exc}") from exc
    target = getattr(module, name, None)
    if target is None:
        raise ModelError(f"predictor class {name} not found in {path}")
    try:
        info = _inspector.create_predictor(module_name, name)
    except Exception as exc:
        raise ModelError(f"invalid predictor {ref}: {exc}") from exc
    if inspect.isclass(target):
        return info, getattr(target, "run" if _defines(target, "run") else "predict")
    return info, target


def _defines(cls: type, method: str) -> bool:
    return any(method in vars(klass) for klass in cls.__mro__ if klass.__module__.split(".")[0] != "cog")


def mode_components(ref: str, train: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    info, function = load_predictor(ref)
    names = ("TrainingInput", "TrainingOutput") if train else ("Input", "Output")
    inputs, enums = input_schema(info, function, names[0])
    return {names[0]: inputs, names[1]: output_schema(info.output, names[1])}, enums


def request_response(kind: str, input_ref: str, output_ref: str) -> dict[str, Any]:
    date = {"type": "string", "format": "date-time"}
    response_fields: dict[str, Any] = {
        "input": {"$ref": input_ref},
        "output": {"$ref": output_ref},
        "id": {"title": "Id", "type": "string"},
        "version": {"title": "Version", "type": "string"},
        "created_at": {"title": "Created At", **date},
        "started_at": {"title": "Started At", **date},
        "completed_at": {"title": "Completed At", **date},
        "status": {"title": "Status", "type": "string"},
        "error": {"title": "Error", "type": "string"},
        "logs": {"title": "Logs", "type": "string"},
        "metrics": {"title": "Metrics", "type": "object"},
    }
    return {
        f"{kind}Request": {
            "title": f"{kind}Request",
            "type": "object",
            "properties": {"id": {"title": "Id", "type": "string"}, "input": {"$ref": input_ref}},
        },
        f"{kind}Response": {"title": f"{kind}Response", "type": "object", "properties": response_fields},
    }


def common_components() -> dict[str, Any]:
    return {
        "Status": {
            "title": "Status",
            "description": "An enumeration.",
            "enum": ["starting", "processing", "succeeded", "canceled", "failed"],
            "type": "string",
        },
        "HTTPValidationError": {
            "title": "HTTPValidationError",
            "type": "object",
            "properties": {
                "detail": {
                    "title": "Detail",
                    "type": "array",
                    "items": {"$ref": REF_PREFIX + "ValidationError"},
                }
            },
        },
        "ValidationError": {
            "title": "ValidationError",
            "required": ["loc", "msg", "type"],
            "type": "object",
            "properties": {
                "loc": {
                    "title": "Location",
                    "type": "array",
                    "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                },
                "msg": {"title": "Message", "type": "string"},
                "type": {"title": "Error Type", "type": "string"},
            },
        },
    }


def json_response(schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": "Successful Response", "content": {"application/json": {"schema": schema or {}}}}


def invalid_response() -> dict[str, Any]:
    return {"description": "Validation Error", "content": {"application/json": {"schema": VALIDATION_ERROR}}}


def operation(summary: str, op_id: str, kind: str, description: str) -> dict[str, Any]:
    return {
        "summary": summary,
        "description": description,
        "operationId": op_id,
        "requestBody": {"content": {"application/json": {"schema": {"$ref": f"{REF_PREFIX}{kind}Request"}}}},
        "responses": {
            "200": json_response({"$ref": f"{REF_PREFIX}{kind}Response"}),
            "422": invalid_response(),
        },
    }


def cancel_operation(collection: str, param: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": "Cancel",
            "operationId": f"cancel_{collection}__{param}__cancel_post",
            "parameters": [
                {
                    "required": True,
                    "schema": {"title": title_case(param), "type": "string"},
                    "name": param,
                    "in": "path",
                }
            ],
            "responses": {"200": json_response(), "422": invalid_response()},
        }
    }


def mode_paths(train: bool) -> dict[str, Any]:
    collection, param, kind = (
        ("trainings", "training_id", "Training") if train else ("predictions", "prediction_id", "Prediction")
    )
    create = operation(
        "Train" if train else "Predict",
        f"{'train' if train else 'predict'}_{collection}_post",
        kind,
        f"Run a single {'training' if train else 'prediction'} on the model",
    )
    idempotent = operation(
        f"{'Train' if train else 'Predict'} Idempotent",
        f"{'train' if train else 'predict'}_idempotent_{collection}__{param}__put",
        kind,
        f"Run a single {'training' if train else 'prediction'} on the model (idempotent creation).",
    )
    idempotent["parameters"] = [
        {
            "required": True,
            "schema": {"title": title_case(param), "type": "string"},
            "name": param,
            "in": "path",
        }
    ]
    if not train:
        # coglet refuses SSE unless the schema says the model streams; Cogmill
        # always reads events live, so every version gets the flag.
        create["x-cog-streaming"] = True
    return {
        f"/{collection}": {"post": create},
        f"/{collection}/{{{param}}}": {"put": idempotent},
        f"/{collection}/{{{param}}}/cancel": cancel_operation(collection, param),
    }


def base_paths() -> dict[str, Any]:
    return {
        "/": {"get": {"summary": "Root", "operationId": "root__get", "responses": {"200": json_response()}}},
        "/health-check": {
            "get": {
                "summary": "Healthcheck",
                "operationId": "healthcheck_health_check_get",
                "responses": {"200": json_response()},
            }
        },
        "/shutdown": {
            "post": {
                "summary": "Start Shutdown",
                "operationId": "start_shutdown_shutdown_post",
                "responses": {"200": json_response()},
            }
        },
    }


def build_schema(predict_ref: str, train_ref: str | None) -> dict[str, Any]:
    import cog

    components, enums = mode_components(predict_ref, train=False)
    components.update(request_response("Prediction", REF_PREFIX + "Input", REF_PREFIX + "Output"))
    paths = {**base_paths(), **mode_paths(train=False)}
    if train_ref:
        train_components, train_enums = mode_components(train_ref, train=True)
        components.update(train_components)
        components.update(
            request_response("Training", REF_PREFIX + "TrainingInput", REF_PREFIX + "TrainingOutput")
        )
        paths.update(mode_paths(train=True))
        enums = {**train_enums, **enums}
    for name, schema in enums.items():
        components.setdefault(name, schema)
    components.update(common_components())
    return {
        "openapi": "3.0.2",
        "info": {"title": "Cog", "version": getattr(cog, "__version__", "unknown")},
        "paths": paths,
        "components": {"schemas": components},
    }


def main(argv: list[str]) -> int:
    out, predict_ref = argv[1], argv[2]
    train_ref = argv[3] if len(argv) > 3 else None
    sys.path[0] = os.getcwd()  # the model's folder, instead of this script's
    # The SDK deprecates BasePredictor/predict(); that is the model author's
    # business, not something to repeat in every build log.
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        result = {"ok": True, "schema": build_schema(predict_ref, train_ref)}
    except ModelError as exc:
        cause = exc.__cause__ or exc
        trace = "".join(traceback.format_exception(type(cause), cause, cause.__traceback__))
        result = {"ok": False, "error": str(exc), "traceback": trace}
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
