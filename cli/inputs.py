"""`-i key=value` typed by the version's input schema, as a person types them: `steps=20` an integer,
`fast=true` a boolean, `tags=[1,2]` JSON, `image=@photo.jpg` a file uploaded first, `prompt=@notes.txt`
the text of a file. Without a schema (or for a name it lacks) a value that reads as JSON is taken as
such, else as text."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from cli.errors import USAGE, CliError

TRUE, FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def parse(pairs: tuple[str, ...], properties: dict, upload: Callable[[Path], str]) -> dict:
    data: dict = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise CliError(f"-i {pair!r}: give each input as key=value", USAGE)
        prop = properties.get(key)
        data[key] = _value(key, raw, prop, upload) if prop is not None else _loose(key, raw)
    return data


def _kind(prop: dict) -> str:
    if prop.get("format") == "uri":
        return "file"
    kind = prop.get("type")
    if kind is None:  # an enum of choices is referenced through allOf
        for part in prop.get("allOf") or []:
            kind = kind or part.get("type")
    return kind or "string"


def _value(key: str, raw: str, prop: dict, upload: Callable[[Path], str]):
    kind = _kind(prop)
    if kind == "file":
        if raw.startswith("@"):
            return upload(_existing(key, raw[1:]))
        return raw  # a URL, as the API takes
    if raw.startswith("@") and kind == "string":
        return _existing(key, raw[1:]).read_text(encoding="utf-8")
    if kind == "string":
        return raw
    if kind == "integer":
        try:
            return int(raw)
        except ValueError:
            raise CliError(f"-i {key}: {raw!r} is not a whole number", USAGE) from None
    if kind == "number":
        try:
            return float(raw)
        except ValueError:
            raise CliError(f"-i {key}: {raw!r} is not a number", USAGE) from None
    if kind == "boolean":
        if raw.lower() in TRUE | FALSE:
            return raw.lower() in TRUE
        raise CliError(f"-i {key}: {raw!r} is not true or false", USAGE)
    try:  # arrays and objects
        return json.loads(_existing(key, raw[1:]).read_text(encoding="utf-8") if raw.startswith("@") else raw)
    except ValueError as exc:
        raise CliError(f"-i {key}: not JSON ({exc})", USAGE) from None


def _loose(key: str, raw: str):
    if raw.startswith("@"):
        return _existing(key, raw[1:]).read_text(encoding="utf-8")
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _existing(key: str, name: str) -> Path:
    path = Path(name).expanduser()
    if not path.is_file():
        raise CliError(f"-i {key}: no file {name}", USAGE)
    return path
