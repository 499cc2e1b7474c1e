"""Errors as RFC 9457 problem+json, the shape the official clients parse."""

from django.http import JsonResponse

from api.schemas import Problem

CONTENT_TYPE = "application/problem+json"


def is_api_path(path: str) -> bool:
    return path == "/v1" or path.startswith("/v1/")


def problem(status: int, title: str, detail: str, invalid_fields: list[dict] | None = None,
            **extra: str) -> JsonResponse:
    """The body is built through the Problem schema that /v1/openapi.json documents."""
    body = Problem(title=title, detail=detail, status=status, invalid_fields=invalid_fields, **extra)
    return JsonResponse(body.model_dump(exclude_none=True), status=status, content_type=CONTENT_TYPE)


TITLES = {
    400: "Bad request",
    401: "Unauthenticated",
    402: "Payment required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Unprocessable entity",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


def problem_for(status: int, detail: str, invalid_fields: list[dict] | None = None) -> JsonResponse:
    return problem(status, TITLES.get(status, "Error"), detail, invalid_fields)


class ApiProblem(Exception):
    """Raise anywhere under /v1/ to answer with this problem (and these headers)."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}

    def response(self) -> JsonResponse:
        response = problem_for(self.status, self.detail)
        for name, value in self.headers.items():
            response[name] = value
        return response


UNAUTHENTICATED = ("Unauthenticated", "You did not pass a valid authentication token")
