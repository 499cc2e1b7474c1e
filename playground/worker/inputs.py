"""A run's input files, fetched by the worker and never by the model.

The model has no network (runner/sandbox.py), so each file input becomes a file in the instance's
input folder, which the model may read but not change, and the input the model gets is its URL on
the file server inside the sandbox (Cog takes file inputs only as URLs; it copies the file into the
model's own /tmp). Cogmill's own files (uploads, outputs of earlier runs) are copied from storage;
any other URL is downloaded with the webhooks' guard (public addresses only, each connection pinned
to the address checked, every redirect checked the same way, a size and a time cap, http and https
only). `data:` URIs go as they are (Cog decodes them without a network). Anything else was refused
when the run was created (services.files).
"""

import re
import shutil
import time
from pathlib import Path

import httpx
from django.conf import settings

from playground import sealing, webhooks
from playground.models import File
from playground.services import files

MAX_REDIRECTS = 5
USER_AGENT = "Cogmill-Fetch/1"
_UNSAFE = re.compile(r"[^\w.-]+")


class Unfetchable(Exception):
    """An input file could not be had; the run fails with this message."""


def localize(run, instance) -> dict:
    """The run's input as the model gets it: its secrets unsealed, every file input a URL of a file in
    the instance's input folder. Unfetchable (or sealing.Unsealable) when that cannot be."""
    data = sealing.unseal(run.input or {}, run.sealed_secrets)
    kinds = run.schema.input_kinds()  # a training's are its TrainingInput's
    folder = None
    count = 0
    for field, kind in kinds.items():
        if kind not in ("file", "files") or field not in data:
            continue
        many = isinstance(data[field], list)
        values = []
        for value in data[field] if many else [data[field]]:
            if isinstance(value, str) and not value.startswith("data:"):
                folder = folder or instance.input_folder(run.id)
                count += 1
                value = instance.input_url(_fetch(field, value, folder / str(count)))
            values.append(value)
        data[field] = values if many else values[0]
    return data


def _fetch(field: str, value: str, target: Path) -> Path:
    target.mkdir(mode=0o755)
    stored = files.stored_file(value)
    try:
        if stored is not None:
            return _copy(stored, target)
        return _download(value, target)
    except Unfetchable as exc:
        raise Unfetchable(f"Could not fetch input {field}: {exc}") from None


def _copy(stored: File, target: Path) -> Path:
    path = target / _safe_name(stored.name, stored.content_type)
    try:
        with stored.content.open("rb") as source, open(path, "wb") as sink:
            shutil.copyfileobj(source, sink, 1 << 20)
    except OSError as exc:
        raise Unfetchable(f"Cogmill's copy of {stored.name} cannot be read ({exc})") from exc
    path.chmod(0o644)
    return path


def _download(url: str, target: Path) -> Path:
    limit, timeout = settings.COGMILL_FETCH_MAX_BYTES, settings.COGMILL_FETCH_TIMEOUT
    deadline = time.monotonic() + timeout
    current = httpx.URL(url)
    with httpx.Client(timeout=min(timeout, 30.0), follow_redirects=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            if current.scheme not in ("http", "https"):
                raise Unfetchable(f"{current} is not an http:// or https:// URL")
            try:
                pin = webhooks.pinned(current, settings.COGMILL_FETCH_ALLOW_PRIVATE)
            except webhooks.UnsafeDestination as exc:
                raise Unfetchable(str(exc)) from None
            try:
                with client.stream("GET", pin.url, headers={"User-Agent": USER_AGENT, **pin.headers},
                                   extensions=pin.extensions) as response:
                    if response.is_redirect and "location" in response.headers:
                        current = current.join(response.headers["location"])
                        continue
                    if response.status_code != 200:
                        raise Unfetchable(f"{url} answered {response.status_code}")
                    path = target / _safe_name(current.path.rsplit("/", 1)[-1],
                                               response.headers.get("content-type", ""))
                    _save(response, path, limit, deadline)
                    return path
            except httpx.HTTPError as exc:
                raise Unfetchable(f"{url} could not be read ({type(exc).__name__}: {exc})") from None
    raise Unfetchable(f"{url} redirects more than {MAX_REDIRECTS} times")


def _save(response: httpx.Response, path: Path, limit: int, deadline: float) -> None:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Unfetchable(f"it is {int(declared)} bytes, more than the {limit} Cogmill fetches")
    size = 0
    with open(path, "wb") as sink:
        for chunk in response.iter_bytes(1 << 16):
            size += len(chunk)
            if size > limit:
                raise Unfetchable(f"it is more than the {limit} bytes Cogmill fetches")
            if time.monotonic() > deadline:
                raise Unfetchable(f"it took longer than {settings.COGMILL_FETCH_TIMEOUT:g}s to download")
            sink.write(chunk)
    path.chmod(0o644)


def _safe_name(name: str, content_type: str) -> str:
    """A file name the model may see: the URL's or upload's own, cleaned, with an extension."""
    stem = _UNSAFE.sub("_", name).strip("._")[:100] or "input"
    if "." not in stem:
        stem += files.extension_for(content_type).removesuffix(".bin")
    return stem
