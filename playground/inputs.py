"""Validate a prediction's input against its version's OpenAPI `Input` schema."""

from dataclasses import dataclass

import jsonschema


@dataclass
class FieldError:
    field: str
    message: str
    type: str

    def to_dict(self) -> dict:
        return {"field": self.field, "description": self.message, "type": self.type}


class InvalidInput(ValueError):
    def __init__(self, errors: list[FieldError]):
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))


def _input_schema(openapi: dict) -> dict:
    components = openapi.get("components", {})
    schema = dict(components.get("schemas", {}).get("Input", {"type": "object"}))
    schema["components"] = components  # so "#/components/schemas/x" refs resolve
    return schema


def validate(openapi: dict, data: object) -> dict:
    """Return the input to send to Cog, or raise InvalidInput naming each bad field."""
    if not isinstance(data, dict):
        raise InvalidInput([FieldError("input", "input must be a JSON object", "type")])
    schema = _input_schema(openapi)
    props = schema.get("properties", {})
    errors = [FieldError(k, f"unknown input {k!r}; this model takes: {', '.join(props) or 'nothing'}",
                         "unknown") for k in data if k not in props]
    # OpenAPI 3.0 spells Optional as `nullable`; JSON Schema does not know it, so nulls of
    # nullable fields are left out of the check and passed on as given.
    checked = {k: v for k, v in data.items() if k in props and not (v is None and props[k].get("nullable"))}
    validator = jsonschema.Draft7Validator(schema)
    for err in sorted(validator.iter_errors(checked), key=lambda e: list(e.path)):
        field = ".".join(str(p) for p in err.path)
        if not field and err.validator == "required":
            field = err.message.split("'")[1] if "'" in err.message else "input"
        errors.append(FieldError(field or "input", err.message, str(err.validator)))
    if errors:
        raise InvalidInput(errors)
    return data
