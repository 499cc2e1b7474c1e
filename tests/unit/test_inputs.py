import pytest

from playground.cogschema import CogSchema
from playground.errors import Invalid

SCHEMA = {
    "components": {
        "schemas": {
            "Input": {
                "type": "object",
                "required": ["prompt"],
                "properties": {
                    "prompt": {"type": "string", "title": "Prompt", "x-order": 0},
                    "max_tokens": {"type": "integer", "minimum": 1, "maximum": 2000, "x-order": 1},
                    "temperature": {"type": "number", "minimum": 0.01, "maximum": 2, "x-order": 2},
                    "seed": {"type": "integer", "nullable": True, "x-order": 3},
                    "mode": {"allOf": [{"$ref": "#/components/schemas/mode"}], "x-order": 4},
                },
            },
            "mode": {"type": "string", "enum": ["fast", "slow"], "title": "mode"},
        }
    }
}


def test_valid_input_passes_unchanged():
    data = {"prompt": "hi", "max_tokens": 5, "temperature": 0.5, "seed": None, "mode": "fast"}
    assert CogSchema(SCHEMA).validate(data) == data


@pytest.mark.parametrize(
    "data, field",
    [
        ({}, "prompt"),  # required field missing
        ({"prompt": 3}, "prompt"),  # wrong type
        ({"prompt": "x", "max_tokens": 0}, "max_tokens"),  # below minimum
        ({"prompt": "x", "temperature": 99}, "temperature"),  # above maximum
        ({"prompt": "x", "max_tokens": 1.5}, "max_tokens"),  # not an integer
        ({"prompt": "x", "mode": "medium"}, "mode"),  # not one of the choices (via $ref)
    ],
)
def test_each_bad_field_is_named(data, field):
    with pytest.raises(Invalid) as info:
        CogSchema(SCHEMA).validate(data)
    assert field in [e.field for e in info.value.errors]
    assert field in str(info.value)


def test_input_must_be_an_object():
    with pytest.raises(Invalid, match="JSON object"):
        CogSchema(SCHEMA).validate(["prompt"])


def test_inputs_the_model_does_not_declare_are_dropped_not_refused():
    schema = CogSchema(SCHEMA)
    assert schema.validate({"prompt": "x", "nonsense": 1}) == {"prompt": "x"}
    assert schema.undeclared({"prompt": "x", "nonsense": 1}) == ["nonsense"]


# ---------------------------------------------------------------- patterns run in linear time

PATTERNED = {"components": {"schemas": {
    "Input": {"type": "object", "properties": {"code": {"type": "string", "pattern": "^(a+)+$"}}},
    "Output": {"type": "string"},
}}}


def test_a_pattern_that_backtracks_exponentially_in_re_is_checked_at_once():
    """`^(a+)+$` against 40 a's and a `!` takes Python's `re` minutes; RE2 answers at once."""
    schema = CogSchema(PATTERNED)
    assert schema.validate({"code": "aaaa"}) == {"code": "aaaa"}
    with pytest.raises(Invalid) as info:
        schema.validate({"code": "a" * 40 + "!"})
    assert info.value.errors[0].field == "code" and "does not match" in info.value.errors[0].message


def test_patterns_that_need_backtracking_are_named_as_unsafe():
    schema = CogSchema({"components": {"schemas": {
        "Input": {"properties": {"twice": {"type": "string", "pattern": r"^(\w)\1$"}, "ok": {"pattern": "^x+$"}}},
        "TrainingInput": {"properties": {"ahead": {"type": "string", "pattern": "(?=a)b"}}},
    }}})
    assert schema.unsafe_patterns() == [r"twice (^(\w)\1$)", "ahead ((?=a)b)"]


def _with_ref(ref: str) -> CogSchema:
    return CogSchema({"components": {"schemas": {"Input": {
        "type": "object", "properties": {"x": {"allOf": [{"$ref": ref}]}}}}}})


@pytest.mark.parametrize("ref", ["file:///etc/passwd", "http://169.254.169.254/latest/meta-data/",
                                 "other.json#/x"])
def test_a_ref_outside_the_document_is_never_fetched_and_never_built(ref, monkeypatch):
    """Validation refuses the input with a plain message (nothing read is echoed), without a request
    or a file read; and the build names the ref and fails."""
    import urllib.request

    def no_fetch(*args, **kwargs):
        raise AssertionError(f"the validator fetched {args}")

    monkeypatch.setattr(urllib.request, "urlopen", no_fetch)
    schema = _with_ref(ref)
    with pytest.raises(Invalid) as refused:
        schema.validate({"x": "anything"})
    assert refused.value.errors[0].message == ("this model's schema refers to a definition outside itself, so its "
                                               "input cannot be checked")
    assert schema.foreign_refs() == [ref]
    assert _with_ref("#/components/schemas/Input").foreign_refs() == []
