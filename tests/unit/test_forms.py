"""The playground's run form, generated from real Cog schemas (tests/unit/schemas/generate.py).

No database: the form parses and validates on its own; uploads are stood in by a function.
"""

import json
from pathlib import Path

import pytest
from django import forms
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import QueryDict
from django.test import override_settings

from playground.cogschema import CogSchema
from playground.errors import FieldError, Invalid
from web.forms.run import (
    JSONValueField,
    LinesField,
    MultipleFileField,
    MultipleFileInput,
    RangeNumberInput,
    Toggle,
    UnionField,
    form_class,
    initial_values,
)
from web.presenters import query_from_input

SCHEMAS = Path(__file__).parent / "schemas"


def schema(name: str) -> CogSchema:
    return CogSchema(json.loads((SCHEMAS / f"{name}.json").read_text()))


def fake_upload(f) -> str:
    return f"http://files.example/{f.name}"


def png(name: str = "pic.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, b"\x89PNG fake", content_type="image/png")


# (schema, input) -> field class, widget class, kind, required
FIELDS = [
    ("every-input-type", "text", forms.CharField, forms.TextInput, "string", True),
    ("every-input-type", "count", forms.IntegerField, RangeNumberInput, "integer", False),
    ("every-input-type", "temperature", forms.FloatField, RangeNumberInput, "number", False),
    ("every-input-type", "flag", forms.BooleanField, Toggle, "boolean", False),
    ("every-input-type", "color", forms.TypedChoiceField, forms.Select, "enum", False),
    ("every-input-type", "size", forms.TypedChoiceField, forms.Select, "enum", False),
    ("every-input-type", "image", forms.FileField, forms.FileInput, "file", True),
    ("every-input-type", "document", forms.FileField, forms.FileInput, "file", False),
    ("every-input-type", "api_key", forms.CharField, forms.PasswordInput, "secret", False),
    ("every-input-type", "maybe", forms.CharField, forms.TextInput, "string", False),
    ("every-input-type", "tags", LinesField, forms.Textarea, "list", True),
    ("every-input-type", "seed", forms.IntegerField, forms.NumberInput, "integer", True),
    ("every-input-type", "number_or_text", UnionField, forms.TextInput, "union", False),
    ("textgen", "prompt", forms.CharField, forms.Textarea, "string", False),
    ("textgen", "max_tokens", forms.IntegerField, RangeNumberInput, "integer", False),
    ("textgen", "temperature", forms.FloatField, RangeNumberInput, "number", False),
    ("textgen", "seed", forms.IntegerField, forms.NumberInput, "integer", False),
    ("hello-world", "text", forms.CharField, forms.TextInput, "string", True),
    ("reader", "file", forms.FileField, forms.FileInput, "file", True),
    ("more-inputs", "files", MultipleFileField, MultipleFileInput, "files", True),
    ("more-inputs", "numbers", LinesField, forms.Textarea, "list", False),
    ("more-inputs", "caption", forms.CharField, forms.Textarea, "string", False),
    ("more-inputs", "mode", forms.TypedChoiceField, forms.Select, "enum", True),
    ("more-inputs", "token", forms.CharField, forms.PasswordInput, "secret", False),
    ("more-inputs", "enabled", forms.BooleanField, Toggle, "boolean", False),
    ("more-inputs", "ratio", forms.FloatField, forms.NumberInput, "number", False),
]


@pytest.mark.parametrize(("model", "name", "field_cls", "widget_cls", "kind", "required"), FIELDS,
                         ids=[f"{m}.{n}" for m, n, *_ in FIELDS])
def test_field_per_input_type(model, name, field_cls, widget_cls, kind, required):
    field = form_class(schema(model)).base_fields[name]
    assert type(field) is field_cls
    assert type(field.widget) is widget_cls
    assert field.input_kind == kind
    assert field.input_required is required


def test_every_type_of_the_schemas_is_covered():
    for model in {m for m, *_ in FIELDS}:
        names = set(schema(model).openapi["components"]["schemas"]["Input"]["properties"])
        assert names == {n for m, n, *_ in FIELDS if m == model}
    assert not any(f is JSONValueField for *_, f, _w, _k, _r in FIELDS)  # no input fell back to JSON


@pytest.mark.parametrize("model", ["every-input-type", "textgen", "hello-world", "more-inputs"])
def test_fields_follow_x_order(model):
    props = schema(model).openapi["components"]["schemas"]["Input"]["properties"]
    by_order = sorted(props, key=lambda n: props[n]["x-order"])
    assert list(form_class(schema(model)).base_fields) == by_order


def test_labels_help_and_required_marks():
    form = form_class(schema("every-input-type"))()
    assert form["text"].label == "Text"
    assert form["text"].help_text == "Some text"
    assert form["color"].label == "Color"  # enum properties have no title of their own
    html = str(form["text"])
    assert "required" in html and 'maxlength="20"' in html and 'minlength="1"' in html
    assert "required" not in str(form["maybe"])


def test_initial_values_are_the_defaults():
    s = schema("every-input-type")
    cls = form_class(s)
    initial = initial_values(s, cls, QueryDict())
    assert initial == {"count": 3, "temperature": 0.5, "flag": False, "color": "red", "size": 512,
                       "number_or_text": 1}
    form = cls(initial=initial)
    assert 'value="3"' in str(form["count"])
    assert "selected" in str(form["color"]).split('value="red"')[1].split(">")[0]
    textgen = schema("textgen")
    assert 'I just found out that' in str(form_class(textgen)(initial=initial_values(textgen, form_class(textgen),
                                                                                         QueryDict()))["prompt"])
    more = schema("more-inputs")
    assert initial_values(more, form_class(more), QueryDict())["numbers"] == [1, 2]


def test_min_max_make_a_slider_and_a_number_box():
    html = str(form_class(schema("textgen"))(initial={"temperature": 0.5})["temperature"])
    assert 'type="range"' in html and 'type="number"' in html
    assert html.count('min="0.01"') == 2 and html.count('max="2"') == 2
    assert 'name="temperature"' in html and html.count("name=") == 1  # the slider is not posted
    assert 'step="any"' in html
    only_min = str(form_class(schema("more-inputs"))()["ratio"])
    assert 'type="range"' not in only_min and 'min="0.5"' in only_min


def test_enum_choices_from_the_referenced_schema():
    fields = form_class(schema("every-input-type")).base_fields
    assert [c for c, _ in fields["color"].choices] == ["red", "green", "blue"]
    assert [c for c, _ in fields["size"].choices] == ["256", "512"]
    assert fields["size"].clean("256") == 256  # coerced back to the enum's own type
    required_enum = form_class(schema("more-inputs")).base_fields["mode"]
    assert [c for c, _ in required_enum.choices] == ["fast", "best"]
    assert 'required' in str(form_class(schema("more-inputs"))()["mode"])


def test_files_accept_and_multiple():
    every = form_class(schema("every-input-type"))()
    assert 'accept="text/plain"' in str(every["document"])
    assert 'type="file"' in str(every["image"]) and "data-file-drop" in str(every["image"])
    assert "multiple" in str(form_class(schema("more-inputs"))()["files"])


def test_secret_is_never_rendered_back():
    cls = form_class(schema("every-input-type"))
    form = cls(data={"api_key": "s3cret-value", "text": "BAD"}, files={})
    assert not form.is_valid()
    assert "s3cret-value" not in str(form["api_key"])
    assert "BAD" in str(form["text"])  # what was typed elsewhere stays
    assert 'type="password"' in str(form["api_key"])
    s = schema("every-input-type")
    assert "api_key" not in initial_values(s, cls, QueryDict("api_key=leak&text=hi"))


def every_input_post(**overrides) -> dict:
    data = {"text": "hello there", "count": "4", "temperature": "0.25", "flag": "on", "color": "blue",
            "size": "256", "api_key": "sk-1", "maybe": "", "tags": "a\nb\n", "seed": "7", "number_or_text": "12"}
    return {**data, **overrides}


def test_cleaned_input_passes_the_api_validator():
    s = schema("every-input-type")
    form = form_class(s)(data=every_input_post(), files={"image": png()})
    assert form.is_valid(), form.errors
    data = form.to_input(fake_upload)
    assert data == {"text": "hello there", "count": 4, "temperature": 0.25, "flag": True, "color": "blue",
                    "size": 256, "image": "http://files.example/pic.png", "api_key": "sk-1",
                    "tags": ["a", "b"], "seed": 7, "number_or_text": 12}
    assert s.validate(data) == data


@pytest.mark.parametrize("model", ["textgen", "hello-world", "more-inputs", "reader"])
def test_other_schemas_clean_to_valid_input(model):
    posts = {
        "textgen": ({"prompt": "Once", "max_tokens": "20", "temperature": "0.7", "seed": ""}, {}),
        "hello-world": ({"text": "world"}, {}),
        "more-inputs": ({"numbers": "3\n4", "mode": "best", "token": "t", "enabled": "false", "ratio": "2"},
                        {"files": [png("a.png"), png("b.png")]}),
        "reader": ({}, {"file": SimpleUploadedFile("notes.txt", b"hi", content_type="text/plain")}),
    }
    data, files = posts[model]
    s = schema(model)
    form = form_class(s)(data=data, files=files)
    assert form.is_valid(), form.errors
    cleaned = form.to_input(fake_upload)
    assert s.validate(cleaned) == cleaned
    if model == "more-inputs":
        assert cleaned["files"] == ["http://files.example/a.png", "http://files.example/b.png"]
        assert cleaned["enabled"] is False and cleaned["numbers"] == [3, 4]
    if model == "textgen":
        assert "seed" not in cleaned  # blank optional inputs are left to the model's default


def api_error_fields(openapi: CogSchema, data: dict) -> set[str]:
    with pytest.raises(Invalid) as caught:
        openapi.validate(data)
    return {e.field.split(".")[0] for e in caught.value.errors}


GOOD_JSON = {"text": "hello there", "count": 4, "temperature": 0.25, "flag": True, "color": "blue", "size": 256,
             "image": "http://files.example/pic.png", "api_key": "sk-1", "tags": ["a", "b"], "seed": 7,
             "number_or_text": 12}

# (model, form post, form files, the same values as an API client's JSON)
BAD = [
    ("every-input-type", every_input_post(text="NOT lower", count="11"), {"image": png()},
     {**GOOD_JSON, "text": "NOT lower", "count": 11}),
    ("every-input-type", every_input_post(temperature="1.5", seed=""), {},
     {k: v for k, v in {**GOOD_JSON, "temperature": 1.5}.items() if k not in ("seed", "image")}),
    ("textgen", {"temperature": "99", "max_tokens": "0"}, {}, {"temperature": 99, "max_tokens": 0}),
    ("hello-world", {"text": ""}, {}, {}),
    ("more-inputs", {"mode": "", "numbers": "1"}, {}, {"numbers": [1]}),
]


@pytest.mark.parametrize(("model", "post", "files", "api_input"), BAD,
                         ids=[f"{m}-{i}" for i, (m, *_) in enumerate(BAD)])
def test_bad_values_are_named_like_the_api_names_them(model, post, files, api_input):
    s = schema(model)
    form = form_class(s)(data=post, files=files)
    assert not form.is_valid()
    assert set(form.errors) == api_error_fields(s, api_input)
    for name in form.errors:  # what was typed is shown again next to the error
        if post.get(name) and form.fields[name].prefillable:
            assert f'value="{post[name]}"' in str(form[name]) or post[name] in str(form[name])


def test_a_type_error_stays_on_its_field():
    form = form_class(schema("textgen"))(data={"max_tokens": "many"})
    assert not form.is_valid()
    assert list(form.errors) == ["max_tokens"]
    assert 'value="many"' in str(form["max_tokens"])


def test_api_errors_land_on_their_fields():
    form = form_class(schema("more-inputs"))(data={"mode": "fast"}, files={"files": [png()]})
    assert form.is_valid()
    form.add_input_errors([FieldError("files.0", "file x not found", "file"),
                           FieldError("input", "input must be a JSON object", "type")])
    assert form.errors["files"] == ["file x not found"]
    assert form.non_field_errors() == ["input must be a JSON object"]


def test_get_parameters_prefill_the_form():
    s = schema("every-input-type")
    cls = form_class(s)
    initial = initial_values(s, cls, QueryDict("text=hi&count=9&flag=true&size=256&tags=x%0Ay&image=http://x/y"))
    assert initial["text"] == "hi" and initial["count"] == 9 and initial["flag"] is True
    assert initial["size"] == 256 and initial["tags"] == ["x", "y"]
    assert "image" not in initial
    assert initial_values(s, cls, QueryDict("flag=false&flag=on"))["flag"] is True  # the checkbox wins
    assert initial_values(s, cls, QueryDict("count=oops"))["count"] == "oops"  # shown as typed


def test_a_predictions_input_round_trips_through_tweak_links():
    s = schema("every-input-type")
    cls = form_class(s)
    data = {"text": "abc", "count": 2, "flag": False, "tags": ["p", "q"], "number_or_text": "zz"}
    query = QueryDict(mutable=True)
    query.update(query_from_input(data))
    assert {k: v for k, v in initial_values(s, cls, query).items() if k in data} == data


@override_settings(COGMILL_MAX_UPLOAD_BYTES=10)
def test_a_file_over_the_upload_limit_is_a_field_error_naming_it():
    form = form_class(schema("reader"))({}, {"file": SimpleUploadedFile("big.txt", b"x" * 11)})
    assert not form.is_valid()
    assert form.errors["file"] == ["big.txt is 11\xa0bytes; files may be at most 10\xa0bytes."]


@override_settings(COGMILL_MAX_UPLOAD_BYTES=10)
def test_a_file_at_the_upload_limit_is_accepted():
    form = form_class(schema("reader"))({}, {"file": SimpleUploadedFile("ok.txt", b"x" * 10)})
    assert form.is_valid(), form.errors
