"""`-i key=value` typed by the version's input schema, as a person types them: `steps=20` an integer,
`fast=true` a boolean, `tags=[1,2]` JSON, `image=@photo.jpg` a file uploaded first, `prompt=@notes.txt`
the text of a file; a list of files takes `-i images=@a.png -i images=@b.png`. Choices are typed as
the schema's enum (an integer choice `4` is 4). Without a schema entry a value that reads as JSON is
taken as such, else as text."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

from cli.errors import USAGE, CliError

TRUE, FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def parse(pairs: tuple[str, ...], properties: dict, upload: Callable[[Path], str],
          components: dict | None = None) -> dict:
    """The input: each pair typed by its property (`$ref`s resolved in `components`, the schema's
    components.schemas)."""
    data: dict = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise CliError(f"-i {pair!r}: give each input as key=value", USAGE)
        prop = properties.get(key)
        if prop is None:
            data[key] = _loose(key, raw)
            continue
        prop = _resolved(prop, components or {})
        if _is_file_list(prop):
            data.setdefault(key, []).append(_file(key, raw, upload))
        else:
            data[key] = _value(key, raw, prop, upload)
    return data


def _resolved(prop: dict, components: dict) -> dict:
    """The property with what its allOf/$ref parts say (a choice's enum and type) merged in."""
    merged = dict(prop)
    for part in prop.get("allOf") or []:
        ref = part.get("$ref", "")
        target = components.get(ref.rsplit("/", 1)[-1], {}) if ref.startswith("#/components/schemas/") else part
        for name in ("type", "enum", "format", "items"):
            if name in target:
                merged.setdefault(name, target[name])
    return merged


def _is_file_list(prop: dict) -> bool:
    return prop.get("type") == "array" and (prop.get("items") or {}).get("format") == "uri"


def _file(key: str, raw: str, upload: Callable[[Path], str]) -> str:
    return upload(_existing(key, raw[1:])) if raw.startswith("@") else raw  # a URL, as the API takes


def _value(key: str, raw: str, prop: dict, upload: Callable[[Path], str]):
    kind = "file" if prop.get("format") == "uri" else prop.get("type") or "string"
    if kind == "file":
        return _file(key, raw, upload)
    if raw.startswith("@") and kind == "string":
        return _text(key, raw[1:])
    if "enum" in prop and kind in ("integer", "number"):
        for choice in prop["enum"]:
            if str(choice) == raw:
                return choice
        raise CliError(f"-i {key}: choose one of {', '.join(str(c) for c in prop['enum'])}", USAGE)
    if kind == "string":
        return raw
    if kind == "integer":
        try:
            return int(raw)
        except ValueError:
            raise CliError(f"-i {key}: {raw!r} is not a whole number", USAGE) from None
    if kind == "number":
        try:
            number = float(raw)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise CliError(f"-i {key}: {raw!r} is not a number", USAGE)
        return number
    if kind == "boolean":
        if raw.lower() in TRUE | FALSE:
            return raw.lower() in TRUE
        raise CliError(f"-i {key}: {raw!r} is not true or false", USAGE)
    return _json(key, _text(key, raw[1:]) if raw.startswith("@") else raw)  # arrays and objects


def _loose(key: str, raw: str):
    if raw.startswith("@"):
        return _text(key, raw[1:])
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _json(key: str, text: str):
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise CliError(f"-i {key}: not JSON ({exc})", USAGE) from None
    try:
        json.dumps(value, allow_nan=False)
    except ValueError:
        raise CliError(f"-i {key}: NaN and Infinity are not JSON numbers", USAGE) from None
    return value


def _text(key: str, name: str) -> str:
    path = Path(name).expanduser()
    if not path.exists() or path.is_dir():  # a pipe reads as text too: -i prompt=@<(command)
        raise CliError(f"-i {key}: no file {name}", USAGE)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CliError(f"-i {key}: {name} is not UTF-8 text; this input takes text, not a file", USAGE) from None
    except OSError as exc:
        raise CliError(f"-i {key}: cannot read {name}: {exc.strerror}", USAGE) from None


def _existing(key: str, name: str) -> Path:
    path = Path(name).expanduser()
    if not path.is_file():
        raise CliError(f"-i {key}: no file {name}", USAGE)
    return path
