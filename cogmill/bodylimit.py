"""Request bodies capped before Django reads a byte of them (ASGI middleware around the app).

Django spools a whole body to disk (or memory) before any view, authentication included, sees the
request: a 5 GB anonymous POST would fill the disk, a 200 MiB form post to /login would sit in
memory. Here a body larger than its route allows is refused with 413 as soon as its Content-Length
says so, or as soon as that many bytes have arrived when it sends none (chunked).

The caps, by route: a version push (COGMILL_MAX_BUNDLE_BYTES), a file upload to the API or a page's
run or train form (COGMILL_MAX_UPLOAD_BYTES), any other API request (COGMILL_MAX_REQUEST_BYTES),
any other page's form (COGMILL_MAX_FORM_BYTES). The large ones only for requests with credentials
(a token; a session cookie for the pages). Each allows a little more for a multipart envelope; the
views still check the exact sizes of what they take.
"""

import json
import re

from django.conf import settings
from django.urls import Resolver404, resolve

ENVELOPE = 1024 * 1024  # multipart boundaries and headers around a file of the allowed size
PUSH = re.compile(r"^/v1/models/[^/]+/[^/]+/versions/?$")
FILES = re.compile(r"^/v1/files/?$")
RUN_FORMS = frozenset({"model", "model-predict", "model-train"})  # pages whose forms carry files


def limit_for(path: str, headers: dict[bytes, bytes] | None = None) -> int:
    """The most `path` takes. The large caps go only to requests that carry credentials (a token,
    a session cookie): whether they are good is for the view to say, but an anonymous request never
    gets to send 200 MiB."""
    headers = headers or {}
    token = b"authorization" in headers
    session = settings.SESSION_COOKIE_NAME.encode() + b"=" in headers.get(b"cookie", b"")
    if PUSH.match(path) and token:
        return settings.COGMILL_MAX_BUNDLE_BYTES + ENVELOPE
    if FILES.match(path) and token:
        return settings.COGMILL_MAX_UPLOAD_BYTES + ENVELOPE
    if path == "/v1" or path.startswith("/v1/"):
        return settings.COGMILL_MAX_REQUEST_BYTES
    if not session:
        return settings.COGMILL_MAX_FORM_BYTES
    try:
        page = resolve(path).url_name
    except Resolver404:
        page = None
    if page in RUN_FORMS:
        return settings.COGMILL_MAX_UPLOAD_BYTES + ENVELOPE
    return settings.COGMILL_MAX_FORM_BYTES


class BodyLimit:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = limit_for(scope["path"], dict(scope.get("headers", ())))
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            return await _refuse(scope, send, limit, declared)
        seen, cut, started = 0, False, False

        async def limited_receive():
            nonlocal seen, cut
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    cut = True
                    return {"type": "http.disconnect"}  # Django stops reading and answers nothing
            return message

        async def tracked_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, tracked_send)
        if cut and not started:
            await _refuse(scope, send, limit, None)


def _content_length(scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(scope, send, limit: int, declared: int | None) -> None:
    size = f"{declared} bytes" if declared is not None else f"more than {limit} bytes"
    detail = f"The request body is {size}; the limit is {limit} bytes ({limit / 2**20:g} MiB)."
    if scope["path"] == "/v1" or scope["path"].startswith("/v1/"):
        body = json.dumps({"title": "Request too large", "detail": detail, "status": 413}).encode()
        content_type = b"application/problem+json"
    else:
        body = f"413 Request too large\n\n{detail}\n".encode()
        content_type = b"text/plain; charset=utf-8"
    await send({"type": "http.response.start", "status": 413, "headers": [
        (b"content-type", content_type), (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
