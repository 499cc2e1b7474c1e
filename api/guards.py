"""What every authenticated /v1/ request must pass before its view runs (API.md: errors).

`check_writable` and `check_body_size` run from TokenAuth, so they apply to every operation and
come after 404/405/401. `JsonParser` runs only for operations that take a JSON body.
"""

import json

from django.conf import settings
from django.http import HttpRequest
from ninja.parser import Parser

from accounts.models import ApiToken
from api.problems import ApiProblem

# QUERY is safe by definition (RFC draft "HTTP QUERY"): QUERY /v1/models is a search.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "QUERY"})
# Bodies the upload endpoints (files, version pushes) take; they enforce their own size limits.
UPLOAD_TYPES = frozenset({
    "multipart/form-data", "application/gzip", "application/x-gzip", "application/x-tar",
    "application/octet-stream",
})
# No Content-Type at all is read as JSON: `requests.post(url, data=json.dumps(...))` sends none.
JSON_TYPES = frozenset({"application/json", ""})


def check_writable(request: HttpRequest, token: ApiToken) -> None:
    if token.read_only and request.method not in SAFE_METHODS:
        raise ApiProblem(403, f"This token is read-only: it may read (GET) but not {request.method} "
                              f"{request.path}. Use a token with write access.")


def check_size(length: int) -> None:
    limit = settings.COGMILL_MAX_REQUEST_BYTES
    if length > limit:
        raise ApiProblem(413, f"The request body is {length} bytes; the limit is {limit} bytes "
                              f"({limit / 2**20:g} MiB).")


def content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def check_body_size(request: HttpRequest) -> None:
    """413 from the Content-Length header alone, before anything reads the body."""
    if request.content_type not in UPLOAD_TYPES:
        check_size(content_length(request))


class JsonParser(Parser):
    """ninja's body parser with the checks of API.md: JSON only (415), an object (422).

    ninja turns any exception raised here into HttpError(400, "Cannot parse request body");
    the HttpError handler in api.api answers with the ApiProblem it was raised from instead.
    """

    def parse_body(self, request: HttpRequest) -> dict:
        media_type = request.content_type or ""
        if media_type not in JSON_TYPES and not media_type.endswith("+json"):
            raise ApiProblem(415, f"This endpoint takes a JSON body: send it with Content-Type: "
                                  f"application/json, not {media_type}.")
        check_size(len(request.body))  # a chunked body has no Content-Length to check earlier
        try:
            data = json.loads(request.body)
        except ValueError as exc:  # JSONDecodeError, or bytes that are not UTF-8
            raise ApiProblem(400, f"The request body is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ApiProblem(422, f"The request body must be a JSON object, not {_json_type(data)}.")
        return data


def _json_type(value: object) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
