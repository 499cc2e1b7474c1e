"""Turn what Cog returns into what Cogmill serves: data: URIs become stored files with URLs."""

import base64
import binascii
import hashlib
import mimetypes
import re
from urllib.parse import unquote_to_bytes

from django.core.files.base import ContentFile

from playground.models import File, Prediction

DATA_URI = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^,;]*)*?)(?P<b64>;base64)?,(?P<data>.*)$", re.S)


def _decode(uri: str) -> tuple[str, bytes] | None:
    m = DATA_URI.match(uri)
    if not m:
        return None
    try:
        data = base64.b64decode(m["data"], validate=False) if m["b64"] else unquote_to_bytes(m["data"])
    except (binascii.Error, ValueError):
        return None
    return m["mime"] or "application/octet-stream", data


class OutputFiles:
    """Stores each distinct data: URI of one prediction once, named output[_N].ext."""

    def __init__(self, prediction: Prediction):
        self.prediction = prediction
        self._urls: dict[str, str] = {}

    def convert(self, value):
        if isinstance(value, str) and value.startswith("data:"):
            return self._store(value)
        if isinstance(value, list):
            return [self.convert(v) for v in value]
        if isinstance(value, dict):
            return {k: self.convert(v) for k, v in value.items()}
        return value

    def _store(self, uri: str) -> str:
        digest = hashlib.sha256(uri.encode()).hexdigest()
        if digest in self._urls:
            return self._urls[digest]
        decoded = _decode(uri)
        if decoded is None:
            return uri
        mime, data = decoded
        ext = mimetypes.guess_extension(mime) or ".bin"
        n = len(self._urls)
        name = f"output{'' if n == 0 else f'_{n}'}{ext}"
        f = File(
            kind=File.Kind.OUTPUT,
            owner_id=self.prediction.owner_id,
            prediction=self.prediction,
            name=name,
            content_type=mime,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            md5=hashlib.md5(data).hexdigest(),
        )
        f.content.save(name, ContentFile(data), save=False)
        f.save()
        self._urls[digest] = f.url
        return f.url
