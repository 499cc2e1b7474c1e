"""Errors as RFC 9457 problem+json, the shape the official clients parse."""

from django.http import JsonResponse

CONTENT_TYPE = "application/problem+json"


def problem(status: int, title: str, detail: str, **extra) -> JsonResponse:
    body = {"title": title, "detail": detail, "status": status, **extra}
    return JsonResponse(body, status=status, content_type=CONTENT_TYPE)


TITLES = {
    400: "Bad request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Unprocessable entity",
    429: "Too many requests",
    500: "Internal server error",
}


def problem_for(status: int, detail: str, **extra) -> JsonResponse:
    return problem(status, TITLES.get(status, "Error"), detail, **extra)


UNAUTHENTICATED = ("Unauthenticated", "You did not pass a valid authentication token")
