"""Serving stored files (outputs, uploads): the capability URL /output/<id>/<name>?expires=&sig=,
and the response the API's download uses too."""

from django.http import FileResponse, HttpResponseForbidden

from accounts.services import requester
from playground import capabilities
from playground.errors import NotFound
from playground.models import File
from playground.services import files, runs


def file_content(request, file_id: str, name: str):
    """200 with the bytes, with or without a token, while the URL's signature is fresh
    (playground.capabilities); without one, to whoever may see the file (Bearer or session). To
    everyone else a 404, as if there were no such file."""
    f = files.live_file(file_id, name)
    verdict = capabilities.check_file_signature(file_id, name, request.META.get("QUERY_STRING", ""))
    if verdict is not capabilities.Verdict.VALID and not runs.can_read_file(requester(request), f):
        if verdict is capabilities.Verdict.EXPIRED:
            return HttpResponseForbidden("This file URL has expired: get its prediction again for a fresh one.",
                                         content_type="text/plain; charset=utf-8")
        raise NotFound("file not found")
    return file_response(f)


# What a browser may show in place: kinds that never run script. Everything else (HTML, SVG, XML,
# JavaScript, unknown types) is a download, whoever chose its type (an uploader, a model).
INLINE_TYPES = frozenset({
    "image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/bmp",
    "text/plain", "application/pdf", "application/json",
})
INLINE_MAJOR_TYPES = ("audio/", "video/")
# On every file, inline or not: a sandboxed document with no script, no plugins and no requests
# beyond itself, whose type the browser may not second-guess.
FILE_CSP = "sandbox; default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'"


def shown_inline(content_type: str) -> bool:
    base = content_type.split(";", 1)[0].strip().lower()
    return base in INLINE_TYPES or base.startswith(INLINE_MAJOR_TYPES)


def file_response(f: File, as_attachment: bool = False) -> FileResponse:
    """The file's bytes, never able to run script on Cogmill's origin: types outside INLINE_TYPES
    are downloads, and every file is sandboxed with `nosniff`."""
    response = FileResponse(
        f.content.open("rb"), content_type=f.content_type, filename=f.name,
        as_attachment=as_attachment or not shown_inline(f.content_type),
    )
    response["Content-Length"] = str(f.size)
    response["ETag"] = f'"{f.sha256}"'
    response["Cache-Control"] = "private, max-age=31536000, immutable"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = FILE_CSP
    return response
