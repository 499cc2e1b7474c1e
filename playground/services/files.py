"""Files: uploads (kept a while, passed as inputs), outputs (what a run made), and turning one into
the other's URLs: upload URLs in an input become fetchable, data: URIs in an output become files."""

import base64
import binascii
import datetime as dt
import hashlib
import io
import json
import mimetypes
import re
from collections.abc import Callable, Iterator
from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.core.files.base import ContentFile
from django.utils import timezone

from playground import capabilities, zips
from playground.errors import FieldError, Invalid, NotFound
from playground.models import File, Run
from playground.services import quotas


def live_file(file_id: str, name: str) -> File:
    """A stored file by its capability URL's parts, if it has not expired."""
    f = File.objects.live().filter(pk=file_id, name=name).first()
    if f is None or not f.content:
        raise NotFound("file not found")
    return f


# ---------------------------------------------------------------- uploads

MEDIA_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
                        r"(\s*;\s*[A-Za-z0-9!#$&^_.+-]+=(\"[^\"\r\n]*\"|[A-Za-z0-9!#$&^_.+-]+))*$")


def create_upload(owner, upload, metadata_text: str | None, filename: str | None = None,
                  content_type: str | None = None, kept: bool = False) -> File:
    """Store an uploaded file (kept COGMILL_FILE_TTL_HOURS, or until deleted when `kept`: an example's
    input) that can be passed as a model input.

    `filename` and `content_type` (the form fields `filename` and `type`) replace what the part's
    own headers say.
    """
    if upload is None:
        raise Invalid([FieldError("content", "send the file as multipart part 'content'", "required")])
    metadata = _metadata(metadata_text)
    errors = []
    if filename is not None:
        filename = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
        if not filename or "\x00" in filename or filename in {".", ".."}:
            errors.append(FieldError("filename", "filename must be a file name, like photo.jpg", "format"))
    if content_type is not None and not MEDIA_TYPE.match(content_type.strip()):
        errors.append(FieldError("type", "type must be a media type, like image/png", "format"))
    if errors:
        raise Invalid(errors)
    quotas.check_storage(owner, upload.size)
    sha256, md5 = hashlib.sha256(), hashlib.md5()
    for chunk in upload.chunks():
        sha256.update(chunk)
        md5.update(chunk)
    name = (filename or upload.name or "file")[-255:]
    now = timezone.now()
    f = File(
        kind=File.Kind.UPLOAD, owner=owner, name=name,
        content_type=(content_type.strip() if content_type else None) or upload.content_type
        or mimetypes.guess_type(name)[0] or "application/octet-stream",
        size=upload.size, sha256=sha256.hexdigest(), md5=md5.hexdigest(), metadata=metadata,
        created_at=now, expires_at=None if kept else now + dt.timedelta(hours=settings.COGMILL_FILE_TTL_HOURS),
    )
    upload.seek(0)
    f.content.save(name, upload, save=False)
    f.save()
    return f


def _metadata(text: str | None) -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise Invalid([FieldError("metadata", "metadata must be a JSON object", "type")])
    return value


def get_upload(user, file_id: str) -> File:
    f = File.objects.uploads_of(user).filter(pk=file_id).first()
    if f is None:
        raise NotFound(f"file {file_id} not found")
    return f


TEXT_TYPES = ("text/plain", "text/markdown", "text/csv", "application/json")


def text_preview(f: File, limit: int) -> tuple[str, bool] | None:
    """The start of a text file (at most `limit` bytes, as text) and whether there is more; None for
    a file that is not text."""
    if not f.content or f.content_type.split(";", 1)[0].strip().lower() not in TEXT_TYPES:
        return None
    try:
        with f.content.open("rb") as stream:
            head = stream.read(limit + 1)
    except OSError:  # its bytes are gone: the page still shows the link
        return None
    return head[:limit].decode("utf-8", errors="replace"), len(head) > limit


def delete_file(f: File) -> None:
    """The row and its bytes."""
    f.content.delete(save=False)
    f.delete()


def purge_expired_uploads() -> int:
    """Delete uploads past their expiry, bytes included (beat runs this hourly)."""
    expired = list(File.objects.filter(kind=File.Kind.UPLOAD, expires_at__lt=timezone.now()))
    for f in expired:
        delete_file(f)
    return len(expired)


def _upload_id(value: str) -> str | None:
    """The file id in Cogmill's own `urls.get` or download URL of an upload, else None."""
    prefix = settings.PUBLIC_URL + "/v1/files/"
    if not value.startswith(prefix):
        return None
    file_id = value[len(prefix):].removesuffix("/download")
    return file_id if file_id and "/" not in file_id else None


def string_refs(value: object, pick: Callable[[str], object], path: str = "") -> Iterator[tuple[str, object]]:
    """(field path, what `pick` finds) for every string inside an input value where it finds something."""
    if isinstance(value, str):
        if found := pick(value):
            yield path, found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from string_refs(item, pick, f"{path}.{i}")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from string_refs(item, pick, f"{path}.{key}" if path else str(key))


def _upload_refs(value: object) -> Iterator[tuple[str, str]]:
    """(field path, file id) for every upload URL inside an input value."""
    return string_refs(value, _upload_id)


def check_file_inputs(user, data: dict, kinds: dict[str, str] | None = None) -> None:
    """Every file input (by `kinds`, the schema's) must be a URL: http(s) or data:, never a path on the
    server. Every upload URL in an input must be a live upload of the caller's. 422 naming the field
    otherwise."""
    for field, kind in (kinds or {}).items():
        values = data.get(field) if kind in ("file", "files") else None
        for value in values if isinstance(values, list) else [values]:
            if isinstance(value, str) and not value.startswith(("http://", "https://", "data:")):
                raise Invalid([FieldError(field, "must be a URL (http://, https:// or data:); to send a file of "
                                                 "your own, upload it with POST /v1/files", "format")])
    refs = list(_upload_refs(data))
    if not refs:
        return
    live = File.objects.uploads_of(user).filter(pk__in={fid for _, fid in refs})
    mine = set(live.values_list("pk", flat=True))
    hint = "not found (expired, deleted or not yours); upload it with POST /v1/files"
    errors = [FieldError(field, f"file {fid} {hint}", "file") for field, fid in refs if fid not in mine]
    if errors:
        raise Invalid(errors)


def check_zip_inputs(user, kinds: dict[str, str], data: dict) -> None:
    """Every zip among the file inputs (an upload of the caller's, or a data: URI) must be one a model
    may be handed (playground/zips.py): 422 naming the field and the reason otherwise. Files given
    by an outside URL are fetched by the model itself."""
    errors = []
    for field, kind in kinds.items():
        if kind not in ("file", "files") or field not in data:
            continue
        values = data[field] if isinstance(data[field], list) else [data[field]]
        for value in values:
            try:
                _check_zip_value(user, value)
            except zips.ZipRefused as exc:
                errors.append(FieldError(field, f"this zip cannot be used: {exc}", "zip"))
    if errors:
        raise Invalid(errors)


def _check_zip_value(user, value: object) -> None:
    if not isinstance(value, str):
        return
    if (file_id := _upload_id(value)) is not None:
        upload = File.objects.uploads_of(user).filter(pk=file_id).first()
        if upload is None:
            return  # check_file_inputs names it
        with upload.content.open("rb") as handle:
            if zips.looks_like_zip(upload.name, handle):
                zips.check_zip(handle, upload.size)
    elif value.startswith("data:") and (decoded := _decode(value)) is not None:
        mime, data = decoded
        handle = io.BytesIO(data)
        if mime in ("application/zip", "application/x-zip-compressed") or zips.looks_like_zip("", handle):
            zips.check_zip(handle, len(data))


def stored_file(value: str) -> File | None:
    """The live file of Cogmill's own a URL names (an upload's API or download URL, or any file's
    URL, signed or not), or None. Uploads in an input were checked to be the caller's at create."""
    if (file_id := _upload_id(value)) is not None:
        return File.objects.live().filter(pk=file_id, kind=File.Kind.UPLOAD).first()
    if (parts := capabilities.file_url_parts(value)) is None:
        return None
    file_id, name = parts
    return File.objects.live().filter(pk=file_id, name=name).exclude(content="").first()


def with_upload_files(data: dict, owner) -> dict:
    """`data` with the URLs of `owner`'s uploads in it (the API's, which need a token) replaced by
    their files' URLs, as runs keep outputs: for a page to show them."""
    ids = {fid for _, fid in _upload_refs(data)}
    if not ids:
        return data
    urls = {f.pk: f.url for f in File.objects.filter(kind=File.Kind.UPLOAD, owner=owner, pk__in=ids)}
    return capabilities.map_strings(data, lambda s: urls.get(_upload_id(s) or "", s))


# ---------------------------------------------------------------- outputs

# Media types that Python's mimetypes knows by another name only, as models' tools send them
# (coglet sends a .wav as audio/wav): without these, a WAV output would be saved as output.bin.
EXTENSIONS = {"audio/wav": ".wav", "audio/x-wav": ".wav", "audio/wave": ".wav", "audio/vnd.wave": ".wav", "audio/x-flac": ".flac",
              "audio/flac": ".flac", "audio/x-m4a": ".m4a", "audio/mp4": ".m4a", "audio/x-aiff": ".aiff",
              "image/x-png": ".png", "image/jpg": ".jpg", "video/x-matroska": ".mkv"}


def extension_for(media_type: str) -> str:
    """The file extension of a media type (".bin" when none is known)."""
    media_type = media_type.split(";")[0].strip().lower()
    return EXTENSIONS.get(media_type) or mimetypes.guess_extension(media_type) or ".bin"


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
    """Stores each distinct data: URI of one run's output once, named output[_N].ext."""

    def __init__(self, run: Run):
        self.run = run
        self._files: dict[str, File] = {}  # by the sha256 of the data: URI each was made from

    @property
    def stored(self) -> dict[str, File]:
        """The files made so far, by their URL."""
        return {f.url: f for f in self._files.values()}

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
        if digest in self._files:
            return self._files[digest].url
        decoded = _decode(uri)
        if decoded is None:
            return uri
        mime, data = decoded
        ext = extension_for(mime)
        n = len(self._files)
        name = f"output{'' if n == 0 else f'_{n}'}{ext}"
        f = File(
            kind=File.Kind.OUTPUT,
            owner_id=self.run.owner_id,
            **{self.run._meta.model_name: self.run},
            name=name,
            content_type=mime,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            md5=hashlib.md5(data).hexdigest(),
        )
        f.content.save(name, ContentFile(data), save=False)
        f.save()
        self._files[digest] = f
        return f.url
