"""The Replicate-compatible JSON API, /v1/... (wire contract: API.md)."""

import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import DataError
from django.http import Http404, UnreadablePostError
from django.http.multipartparser import MultiPartParserError
from ninja import Swagger
from ninja.errors import AuthenticationError, HttpError, ValidationError
from pydantic import ValidationError as ResponseDrift

from api.auth import TokenAuth
from api.errors import domain_problem
from api.guards import JsonParser
from api.openapi import CogmillApi
from api.pagination import BadCursor
from api.problems import UNAUTHENTICATED, ApiProblem, problem, problem_for
from api.routes import (
    account,
    collections,
    deployments,
    files,
    hardware,
    models,
    predictions,
    search,
    trainings,
    webhooks,
)
from cogmill import outages
from playground.errors import DomainError

log = logging.getLogger(__name__)

api = CogmillApi(
    title="Cogmill API",
    version="1",
    description="A Replicate-compatible API for running Cog models.",
    auth=TokenAuth(),
    parser=JsonParser(),
    urls_namespace="v1",
    docs_url="/docs",
    # Offline: no badge from validator.swagger.io. The pasted token lives in the page only, never in
    # localStorage where any script on the origin could read it later.
    docs=Swagger(settings={"validatorUrl": None, "persistAuthorization": False}),
    openapi_url="/openapi.json",
)


# ---------------------------------------------------------------- errors

@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    return problem(401, *UNAUTHENTICATED)


@api.exception_handler(ApiProblem)
def _api_problem(request, exc: ApiProblem):
    return exc.response()


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    if isinstance(exc.__cause__, ApiProblem):  # raised by JsonParser, wrapped by ninja
        return exc.__cause__.response()
    return problem_for(exc.status_code, exc.message)


@api.exception_handler(ValidationError)
def _validation_error(request, exc: ValidationError):
    fields = []
    for err in exc.errors:
        loc = [str(p) for p in err.get("loc", []) if p not in {"body", "payload", "query", "path", "header"}]
        fields.append({"field": ".".join(loc) or "body", "description": err.get("msg", ""), "type": err.get("type", "")})
    detail = "; ".join(f"{f['field']}: {f['description']}" for f in fields)
    return problem_for(422, detail, invalid_fields=fields)


@api.exception_handler(DomainError)
def _domain_error(request, exc: DomainError):
    return domain_problem(exc)


@api.exception_handler(Http404)
def _not_found(request, exc):
    return problem_for(404, str(exc) or "Not found")


@api.exception_handler(BadCursor)
def _bad_request(request, exc):
    return problem_for(400, str(exc))


@api.exception_handler(RequestDataTooBig)
def _too_big(request, exc):
    return problem_for(413, "The request body is larger than this server accepts "
                            f"({settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes).")


@api.exception_handler(SuspiciousOperation)
@api.exception_handler(MultiPartParserError)
@api.exception_handler(UnreadablePostError)
def _unreadable_body(request, exc):
    return problem_for(400, f"The request body could not be read: {exc}")


# PostgreSQL refuses values SQLite stores: NUL characters in text or JSON, text longer than its column.
@api.exception_handler(DataError)
def _unstorable(request, exc: DataError):
    reason = str(exc).split("\n", 1)[0]  # the rest quotes the SQL
    return problem_for(400, f"The request holds a value that cannot be stored: {reason}.")


def _unavailable(request, exc):
    """Redis, the broker or the database did not answer: 503, and nothing internal in the body."""
    log.warning("%s %s: %s: %s", request.method, request.path, type(exc).__name__, exc)
    response = problem_for(503, outages.DETAIL)
    response["Retry-After"] = str(outages.RETRY_AFTER_SECONDS)
    return response


for _outage in outages.OUTAGES:
    api.add_exception_handler(_outage, _unavailable)


# Request data that fails validation is ninja's ValidationError (above). pydantic's own, a ValueError,
# comes from a response that does not match its schema in api.schemas: our bug, not the caller's.
@api.exception_handler(ResponseDrift)
@api.exception_handler(Exception)
def _server_error(request, exc):
    log.exception("unhandled error on %s %s", request.method, request.path)
    return problem_for(500, "Something went wrong on our side; it has been logged.")


# ---------------------------------------------------------------- routes

api.add_router("/", account.router)
api.add_router("/", predictions.router)
api.add_router("/", models.router)
api.add_router("/", collections.router)
api.add_router("/", hardware.router)
api.add_router("/", files.router)
api.add_router("/", webhooks.router)
api.add_router("/", search.router)
api.add_router("/", trainings.router)
api.add_router("/", deployments.router)
