"""The one reader of a version's OpenAPI document (Cog's schema: components.schemas.Input, Output).

Everything that asks what a version takes or returns asks here: the API's input validation, the
run form, the prediction page, gallery cards and the worker (is the output an iterator?).
"""

import functools

import jsonschema
import re2
from referencing import Registry
from referencing.exceptions import Unresolvable

from playground.errors import FieldError, Invalid

# Input kinds that are never shown again to others or put in a link: secrets, and files (which
# cannot be prefilled in a form anyway).
UNSHAREABLE_KINDS = ("secret", "file", "files")


def input_kind(prop: dict) -> str:
    """One of: secret, file, files, enum, boolean, integer, number, string, list, union, json."""
    kind = prop.get("type")
    if prop.get("x-cog-secret") or prop.get("format") == "password":
        return "secret"
    if prop.get("enum"):
        return "enum"
    if kind == "string":
        return "file" if prop.get("format") == "uri" else "string"
    if kind in ("boolean", "integer", "number"):
        return kind
    if kind == "array":
        items = prop.get("items", {})
        if items.get("format") == "uri":
            return "files"
        return "list" if items.get("type") in ("string", "integer", "number") else "json"
    if prop.get("anyOf"):
        return "union"
    return "json"


_QUIET = re2.Options()
_QUIET.log_errors = False  # a refused pattern is reported to its owner, not printed by the library


@functools.lru_cache(maxsize=512)
def _compiled(pattern: str):
    return re2.compile(pattern, _QUIET)


def _linear_pattern(validator, pattern, instance, schema):
    """JSON Schema's `pattern`, matched by RE2 (linear time) instead of Python's backtracking `re`.
    A pattern RE2 cannot run is refused when the version is built (unsafe_patterns)."""
    if not validator.is_type(instance, "string"):
        return
    try:
        found = _compiled(pattern).search(instance)
    except re2.error:
        yield jsonschema.ValidationError(f"this model's pattern {pattern!r} cannot be checked safely")
        return
    if found is None:
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


Validator = jsonschema.validators.extend(jsonschema.Draft7Validator, {"pattern": _linear_pattern})
# No $ref is ever fetched: only the document's own "#/..." refs resolve (versions with others are
# not built), and an empty registry makes any other one a plain validation error, not a request.
_NOTHING_REMOTE = Registry()


def _refs(node: object):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


class CogSchema:
    """A version's OpenAPI document, read: what its predictions take and return, or, from
    `for_training()`, what its trainings take and return (TrainingInput, TrainingOutput)."""

    def __init__(self, openapi: dict | None, training: bool = False):
        self.openapi = openapi or {}
        self.training = training
        self.input_name, self.output_name = ("TrainingInput", "TrainingOutput") if training else ("Input", "Output")

    def for_training(self) -> "CogSchema":
        return CogSchema(self.openapi, training=True)

    @property
    def trainable(self) -> bool:
        """Whether the model has a `train()` (cog.yaml's `train`)."""
        return "TrainingInput" in self._components

    @property
    def _components(self) -> dict:
        return self.openapi.get("components", {}).get("schemas", {})

    # ------------------------------------------------------------ inputs

    def inputs(self) -> list[tuple[str, dict]]:
        """(name, property) of every input in `x-order`, with `allOf: [$ref]` enums resolved."""
        props = self._components.get(self.input_name, {}).get("properties", {})
        ordered = sorted(props.items(), key=lambda item: (item[1].get("x-order", len(props)), item[0]))
        return [(name, self._resolved(prop)) for name, prop in ordered]

    def required_inputs(self) -> set[str]:
        return set(self._components.get(self.input_name, {}).get("required", []))

    def input_kinds(self) -> dict[str, str]:
        """Each input's kind (see input_kind) by name."""
        return {name: input_kind(prop) for name, prop in self.inputs()}

    def _resolved(self, prop: dict) -> dict:
        """The property with a referenced enum schema (how Cog writes `choices`) merged in."""
        merged = dict(prop)
        for part in prop.get("allOf", []):
            ref = part.get("$ref", "")
            if ref.startswith("#/components/schemas/"):
                target = self._components.get(ref.rsplit("/", 1)[-1], {})
                merged.setdefault("enum", target.get("enum"))
                merged.setdefault("type", target.get("type"))
        return merged

    def undeclared(self, data: dict) -> list[str]:
        """Keys of `data` the model does not take (Replicate ignores them, and so does Cogmill)."""
        props = self._components.get(self.input_name, {}).get("properties", {})
        return [key for key in data if key not in props]

    def validate(self, data: object) -> dict:
        """Return the input to send to Cog (undeclared keys left out), or raise Invalid naming each
        bad field."""
        if not isinstance(data, dict):
            raise Invalid([FieldError("input", "input must be a JSON object", "type")])
        schema = dict(self._components.get(self.input_name, {"type": "object"}))
        schema["components"] = self.openapi.get("components", {})  # so "#/components/schemas/x" refs resolve
        props = schema.get("properties", {})
        data = {k: v for k, v in data.items() if k in props}
        errors = []
        # OpenAPI 3.0 spells Optional as `nullable`; JSON Schema does not know it, so nulls of
        # nullable fields are left out of the check and passed on as given.
        checked = {k: v for k, v in data.items() if k in props and not (v is None and props[k].get("nullable"))}
        validator = Validator(schema, registry=_NOTHING_REMOTE)
        try:
            found = sorted(validator.iter_errors(checked), key=lambda e: list(e.path))
        except Unresolvable:
            raise Invalid([FieldError("input", "this model's schema refers to a definition outside itself, "
                                               "so its input cannot be checked", "schema")]) from None
        for err in found:
            field = ".".join(str(p) for p in err.path)
            if not field and err.validator == "required":
                field = err.message.split("'")[1] if "'" in err.message else "input"
            errors.append(FieldError(field or "input", err.message, str(err.validator)))
        if errors:
            raise Invalid(errors)
        return data

    def foreign_refs(self) -> list[str]:
        """Every `$ref` that is not the document's own ("#/..."): a file, a URL. A version with one is
        not built (the validator would have to fetch it)."""
        return sorted({ref for ref in _refs(self.openapi) if not ref.startswith("#/")})

    def unsafe_patterns(self) -> list[str]:
        """Inputs (of predictions and trainings) whose `pattern` RE2 cannot run: backreferences,
        lookarounds and the like, which need backtracking. A version with one is not built."""
        unsafe = []
        for component in ("Input", "TrainingInput"):
            for name, prop in self._components.get(component, {}).get("properties", {}).items():
                pattern = prop.get("pattern")
                if pattern is None:
                    continue
                try:
                    _compiled(pattern)
                except re2.error:
                    unsafe.append(f"{name} ({pattern})")
        return unsafe

    # ------------------------------------------------------------ output

    def output(self) -> dict:
        return self._components.get(self.output_name, {})

    def output_is_iterator(self) -> bool:
        out = self.output()
        return out.get("type") == "array" and out.get("x-cog-array-type") == "iterator"

    def output_is_files(self) -> bool:
        out = self.output()
        return out.get("format") == "uri" or (out.get("items") or {}).get("format") == "uri"

    def output_kind(self) -> str:
        """How the output is shown: text, file, files, or json."""
        out = self.output()
        if out.get("type") == "string":
            return "file" if out.get("format") == "uri" else "text"
        if out.get("type") == "array":
            items = out.get("items") or {}
            if items.get("type") == "string" and items.get("format") == "uri":
                return "files"
            if out.get("x-cog-array-display") == "concatenate":
                return "text"
        return "json"
