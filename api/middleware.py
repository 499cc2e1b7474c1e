"""Under /v1/ every error is problem+json, whoever produced it.

The API's own handlers already answer with problems; this rewrites the error pages that come from
elsewhere (ninja's 405, Django's CSRF, 400 and debug pages) and adds the X-RateLimit-* headers.
"""

import time

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase

from api.problems import is_api_path, problem_for

KEPT_HEADERS = ("Allow", "Retry-After")


class ApiErrorsMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        request.cogmill_arrived = time.monotonic()  # Prefer: wait counts from here
        if self.is_async:
            return self._acall(request)
        return finish(request, self.get_response(request))

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        return finish(request, await self.get_response(request))


def finish(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
    if not is_api_path(request.path):
        return response
    response = as_problem(request, response)
    add_rate_limit_headers(request, response)
    return response


def as_problem(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
    content_type = response.get("Content-Type", "")
    if response.status_code < 400 or response.streaming or "json" in content_type:
        return response
    replacement = problem_for(response.status_code, error_detail(request, response))
    for name in KEPT_HEADERS:
        if name in response:
            replacement[name] = response[name]
    return replacement


def error_detail(request: HttpRequest, response: HttpResponseBase) -> str:
    where = f"{request.method} {request.path}"
    if response.status_code == 405:
        return f"{where} is not allowed; this path accepts {response.get('Allow') or 'no methods'}."
    if response.status_code == 404:
        return f"There is no {request.path} in this API; the reference is at /v1/docs."
    return f"{where} failed: {response.reason_phrase}."


def add_rate_limit_headers(request: HttpRequest, response: HttpResponseBase) -> None:
    decision = getattr(request, "cogmill_rate_limit", None)
    if decision is not None:
        response["X-RateLimit-Limit"] = str(decision.limit)
        response["X-RateLimit-Remaining"] = str(decision.remaining)
