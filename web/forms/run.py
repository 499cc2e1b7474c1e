"""Django forms built from a version's OpenAPI `Input` schema (the playground's run form).

The form only turns posted strings into typed values; every rule of the schema (required, ranges,
lengths, patterns, enums) is checked by the version's CogSchema.validate, the API's own validator,
so the page and the API report the same errors under the same field names.
"""

from collections.abc import Callable
from typing import Any, ClassVar

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.http import QueryDict
from django.template.defaultfilters import filesizeformat
from django.utils.html import format_html

from playground.cogschema import UNSHAREABLE_KINDS, CogSchema, input_kind
from playground.errors import FieldError, Invalid

LONG_TEXT_NAMES = ("prompt", "text_prompt", "negative_prompt", "system_prompt", "instructions", "context")
LONG_DEFAULT = 60
PENDING_UPLOAD = "upload:"  # stands in for a file's URL while the form is validated, before upload
# Sent beside a file field the form offers a file for (the one the run shown beside it was given, such
# as its default example's picture): the id of that run. The view copies the file into the user's own
# upload when no other file is chosen (views.models.example_uploads).
EXAMPLE_SUFFIX = "__example"

Upload = Callable[[UploadedFile], str]


# ---------------------------------------------------------------- widgets and fields

class RangeNumberInput(forms.NumberInput):
    """A number box with a slider beside it; cogmill.js shows the slider and keeps both in sync.

    Only the number box has a name, so without JavaScript it alone is the field.
    """

    def render(self, name, value, attrs=None, renderer=None):
        box = super().render(name, value, attrs, renderer)
        final = self.build_attrs(self.attrs, attrs)
        slider = format_html(
            '<input type="range" min="{}" max="{}" step="{}" value="{}" data-range-for="{}" '
            'aria-label="{} slider" tabindex="-1" hidden>',
            final.get("min"), final.get("max"), final.get("step", "any"),
            "" if value is None else self.format_value(value) or "", final.get("id", ""), name,
        )
        return format_html('<div class="range-number">{}{}</div>', slider, box)


class Toggle(forms.CheckboxInput):
    """A checkbox that also posts "false" when unchecked (a hidden twin before it; the last value wins),
    so a cleared toggle whose default is true stays cleared in GET links and API snippets."""

    def render(self, name, value, attrs=None, renderer=None):
        box = super().render(name, value, attrs, renderer)
        return format_html('<input type="hidden" name="{}" value="false">{}', name, box)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else ([data] if data else [])
        return [super(MultipleFileField, self).clean(f, initial) for f in files]


class LinesField(forms.CharField):
    """A list typed one item per line."""

    def __init__(self, item_type: str, **kwargs):
        self.item_type = item_type
        super().__init__(widget=forms.Textarea(attrs={"rows": 3}), strip=False, **kwargs)

    def prepare_value(self, value):
        return "\n".join(str(v) for v in value) if isinstance(value, list) else value

    def to_python(self, value):
        text = super().to_python(value)
        if not text:
            return None
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if self.item_type == "string":
            return lines
        number = int if self.item_type == "integer" else float
        try:
            return [number(line) for line in lines]
        except ValueError:
            raise ValidationError(f"Enter one {self.item_type} per line.") from None


class UnionField(forms.CharField):
    """`int | str` and friends: the first type in the union that the text parses as."""

    def __init__(self, types: list[str], **kwargs):
        self.types = types
        super().__init__(strip=False, **kwargs)

    def to_python(self, value):
        text = super().to_python(value)
        if text in (None, ""):
            return None
        for kind in self.types:
            try:
                if kind == "integer":
                    return int(text)
                if kind == "number":
                    return float(text)
                if kind == "boolean" and text.lower() in ("true", "false"):
                    return text.lower() == "true"
            except ValueError:
                continue
        return text


class JSONValueField(forms.JSONField):
    def prepare_value(self, value):
        return value if isinstance(value, str) else super().prepare_value(value)


def _enum_choices(prop: dict, required: bool) -> list[tuple[str, str]]:
    choices = [(str(v), str(v)) for v in prop["enum"]]
    return choices if required or "default" in prop else [("", "—"), *choices]


def _coerce_enum(prop: dict) -> Callable[[str], Any]:
    by_text = {str(v): v for v in prop["enum"]}
    return lambda text: by_text.get(text, text)


def _number_widget(prop: dict, kind: str) -> forms.Widget:
    attrs = {"step": "1" if kind == "integer" else "any"}
    if "minimum" in prop:
        attrs["min"] = prop["minimum"]
    if "maximum" in prop:
        attrs["max"] = prop["maximum"]
    if "minimum" in prop and "maximum" in prop:
        return RangeNumberInput(attrs=attrs)
    return forms.NumberInput(attrs=attrs)


def _is_long_text(name: str, prop: dict) -> bool:
    default = prop.get("default")
    return (name in LONG_TEXT_NAMES or name.endswith("prompt")
            or (isinstance(default, str) and (len(default) > LONG_DEFAULT or "\n" in default))
            or prop.get("maxLength", 0) > 200)


def _string_attrs(prop: dict) -> dict:
    attrs = {}
    if "maxLength" in prop:
        attrs["maxlength"] = prop["maxLength"]
    if "minLength" in prop:
        attrs["minlength"] = prop["minLength"]
    return attrs


def _type_hint(kind: str, prop: dict) -> str:
    if kind in ("integer", "number") and "minimum" in prop and "maximum" in prop:
        return f"{kind}, {prop['minimum']} to {prop['maximum']}"
    if kind == "list":
        return f"list of {prop.get('items', {}).get('type', 'string')}s"
    if kind == "union":
        return " or ".join(part.get("type", "?") for part in prop["anyOf"])
    return {"enum": "choice", "files": "list of files"}.get(kind, kind)


def build_field(name: str, prop: dict, required: bool) -> forms.Field:
    """The form field for one input: typed parsing only; the schema's rules are the validator's."""
    kind = input_kind(prop)
    common: dict[str, Any] = {"required": False, "label": prop.get("title") or name.replace("_", " ").title(),
                              "help_text": prop.get("description", "")}
    if kind == "secret":
        field = forms.CharField(widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
                                strip=False, **common)
    elif kind == "string":
        widget = forms.Textarea(attrs={"rows": 4}) if _is_long_text(name, prop) else forms.TextInput()
        widget.attrs.update(_string_attrs(prop))
        field = forms.CharField(widget=widget, strip=False, empty_value=None, **common)
    elif kind == "integer":
        field = forms.IntegerField(widget=_number_widget(prop, kind), **common)
    elif kind == "number":
        field = forms.FloatField(widget=_number_widget(prop, kind), **common)
    elif kind == "boolean":
        field = forms.BooleanField(widget=Toggle(attrs={"role": "switch"}), **common)
    elif kind == "enum":
        field = forms.TypedChoiceField(choices=_enum_choices(prop, required), coerce=_coerce_enum(prop),
                                       empty_value=None, **common)
    elif kind == "file":
        accept = {"accept": prop["x-cog-accept"]} if prop.get("x-cog-accept") else {}
        limit = {"data-max-bytes": settings.COGMILL_MAX_UPLOAD_BYTES}
        field = forms.FileField(widget=forms.FileInput(attrs={"data-file-drop": "", **accept, **limit}), **common)
    elif kind == "files":
        limit = {"data-max-bytes": settings.COGMILL_MAX_UPLOAD_BYTES}
        field = MultipleFileField(widget=MultipleFileInput(attrs={"data-file-drop": "", **limit}), **common)
    elif kind == "list":
        field = LinesField(prop.get("items", {}).get("type", "string"), **common)
        field.help_text = " ".join(filter(None, [common["help_text"], "One per line."]))
    elif kind == "union":
        field = UnionField([part.get("type", "string") for part in prop["anyOf"]], **common)
    else:
        field = JSONValueField(widget=forms.Textarea(attrs={"rows": 3, "class": "mono"}), **common)
        field.help_text = " ".join(filter(None, [common["help_text"], "As JSON."]))
    field.input_kind = kind
    field.input_required = required
    field.prefillable = kind not in UNSHAREABLE_KINDS
    field.type_hint = _type_hint(kind, prop)
    field.input_nullable = bool(prop.get("nullable"))
    if required and kind not in ("boolean", "files", "list"):
        field.widget.attrs["required"] = True
    return field


# ---------------------------------------------------------------- the form

class InputForm(forms.Form):
    """A version's run form. `is_valid()` means the input passes the API's validator."""

    schema: ClassVar[CogSchema] = CogSchema(None)

    def __init__(self, *args, example_files: dict[str, dict] | None = None, **kwargs) -> None:
        """`example_files`: {field: {"run", "url", "name", "kind"}}, the files of the run shown beside
        the form, offered (shown by their URL) until another file is chosen; a bound form keeps the
        offer its data carries, by the run's id."""
        super().__init__(*args, **kwargs)
        if self.is_bound:
            example_files = {name: {"run": run, "url": None, "name": "", "kind": ""}
                             for name in self.fields if (run := self.data.get(name + EXAMPLE_SUFFIX, "").strip())}
        for name, example in (example_files or {}).items():
            field = self.fields.get(name)
            if field is not None and field.input_kind == "file":
                field.example = example
                field.widget.attrs.pop("required", None)  # the browser must not ask for a file it has

    def _input_values(self, upload: Upload) -> dict:
        data = {}
        for name, value in self.cleaned_data.items():
            kind = self.fields[name].input_kind
            if value is None or value == "" or value == []:
                continue
            if kind == "file":
                value = upload(value)
            elif kind == "files":
                value = [upload(f) for f in value]
            data[name] = value
        return data

    def clean(self):
        cleaned = super().clean()
        self._check_upload_sizes(cleaned)
        if self.errors:
            return cleaned
        try:
            self.schema.validate(self._input_values(lambda f: PENDING_UPLOAD + f.name))
        except Invalid as exc:
            self.add_input_errors(exc.errors)
        return cleaned

    def _check_upload_sizes(self, cleaned: dict) -> None:
        """Refuse files over the upload limit by name, before anything is stored."""
        limit = settings.COGMILL_MAX_UPLOAD_BYTES
        for name, value in list(cleaned.items()):  # add_error drops the field from `cleaned`
            files = value if isinstance(value, list) else [value]
            for f in files:
                if isinstance(f, UploadedFile) and f.size > limit:
                    self.add_error(name, f"{f.name} is {filesizeformat(f.size)}; files may be at most "
                                         f"{filesizeformat(limit)}.")

    def to_input(self, upload: Upload) -> dict:
        """The prediction input: files become the URLs `upload` stores them at."""
        return self._input_values(upload)

    def add_input_errors(self, errors: list[FieldError]) -> None:
        """Put the validator's errors on their fields (`tags.0` on `tags`), the rest above the form,
        each said as a person would (the API keeps the validator's own words)."""
        props = dict(self.schema.inputs())
        for error in errors:
            name = error.field.split(".", 1)[0]
            # Only an error about the field itself is reworded from its own rules; one about a part
            # of it (`config.n`) keeps the validator's words, which name that part.
            message = said_plainly(error, props.get(name, {})) if error.field == name else error.message
            self.add_error(name if name in self.fields else None, message)


def said_plainly(error: FieldError, prop: dict) -> str:
    """A schema validator's message about a field (not a part of it) as the form says it: "This
    field is required." rather than "'prompt' is a required property"."""
    kind = error.type
    if kind == "required":
        return "This field is required." if f"'{error.field}'" in error.message else error.message
    if kind in ("maximum", "exclusiveMaximum") and kind in prop:
        return f"Must be at most {prop[kind]}." if kind == "maximum" else f"Must be less than {prop[kind]}."
    if kind in ("minimum", "exclusiveMinimum") and kind in prop:
        return f"Must be at least {prop[kind]}." if kind == "minimum" else f"Must be more than {prop[kind]}."
    if kind == "maxLength" and kind in prop:
        return f"Must be at most {prop[kind]} characters."
    if kind == "minLength" and kind in prop:
        return f"Must be at least {prop[kind]} characters."
    if kind == "enum" and prop.get("enum"):
        return "Choose one of: " + ", ".join(str(v) for v in prop["enum"]) + "."
    if kind == "pattern" and "pattern" in prop:
        return f"Must match the pattern {prop['pattern']}."
    if kind == "type" and isinstance(prop.get("type"), str) and prop["type"] in PLAIN_TYPES:
        return f"Must be {PLAIN_TYPES[prop['type']]}."
    return error.message


PLAIN_TYPES = {"integer": "a whole number", "number": "a number", "string": "text", "boolean": "true or false",
               "array": "a list", "object": "an object"}


def form_class(schema: CogSchema) -> type[InputForm]:
    required = schema.required_inputs()
    fields = {name: build_field(name, prop, name in required) for name, prop in schema.inputs()}
    return type("InputForm", (InputForm,), {**fields, "schema": schema})


def defaults(schema: CogSchema) -> dict:
    """Schema defaults of the inputs a form may show again (not secrets, not files)."""
    return {name: prop["default"] for name, prop in schema.inputs()
            if "default" in prop and prop["default"] is not None
            and input_kind(prop) not in UNSHAREABLE_KINDS}


def prefill(form_cls: type[InputForm], query: QueryDict) -> dict:
    """Initial values from GET parameters (a "tweak it" link), parsed as the form would parse them."""
    values = {}
    for name, field in form_cls.base_fields.items():
        if name not in query or not field.prefillable:
            continue
        raw = field.widget.value_from_datadict(query, {}, name)
        try:
            values[name] = field.clean(raw)
        except ValidationError:
            values[name] = raw
    return values


def initial_values(schema: CogSchema, form_cls: type[InputForm], query: QueryDict) -> dict:
    return {**defaults(schema), **prefill(form_cls, query)}
