"""The Replicate-compatible JSON API, /v1/... (wire contract: API.md)."""

import logging
import re
from typing import Any

from asgiref.sync import sync_to_async
from django.http import Http404, HttpResponse, JsonResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError

from api import waiting
from api.auth import TokenAuth
from api.pagination import BadCursor, paginate
from api.problems import UNAUTHENTICATED, problem, problem_for
from playground import services
from playground.bundles import BundleError
from playground.inputs import InvalidInput
from playground.models import Prediction

log = logging.getLogger(__name__)

api = NinjaAPI(
    title="Cogmill API",
    version="1",
    description="A Replicate-compatible API for running Cog models.",
    auth=TokenAuth(),
    urls_namespace="v1",
    docs_url="/docs",
    openapi_url="/openapi.json",
)


# ---------------------------------------------------------------- errors

@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    return problem(401, *UNAUTHENTICATED)


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    return problem_for(exc.status_code, exc.message)


@api.exception_handler(ValidationError)
def _validation_error(request, exc: ValidationError):
    fields = []
    for err in exc.errors:
        loc = [str(p) for p in err.get("loc", []) if p not in {"body", "payload", "query", "path"}]
        fields.append({"field": ".".join(loc) or "body", "description": err.get("msg", ""), "type": err.get("type", "")})
    detail = "; ".join(f"{f['field']}: {f['description']}" for f in fields)
    return problem_for(422, detail, invalid_fields=fields)


@api.exception_handler(InvalidInput)
def _invalid_input(request, exc: InvalidInput):
    return problem(422, "Input validation failed", str(exc),
                   invalid_fields=[e.to_dict() for e in exc.errors])


@api.exception_handler(Http404)
@api.exception_handler(services.NotFound)
def _not_found(request, exc):
    return problem_for(404, str(exc) or "Not found")


@api.exception_handler(services.Conflict)
def _conflict(request, exc):
    return problem_for(409, str(exc))


@api.exception_handler(BundleError)
@api.exception_handler(BadCursor)
def _bad_request(request, exc):
    return problem_for(400, str(exc))


@api.exception_handler(ValueError)
def _value_error(request, exc):
    return problem_for(400, str(exc))


@api.exception_handler(Exception)
def _server_error(request, exc):
    log.exception("unhandled error on %s %s", request.method, request.path)
    return problem_for(500, "Something went wrong on our side; it has been logged.")


# ---------------------------------------------------------------- helpers

PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait(?:=(?P<n>[^,;\s]*))?(?:$|[,;\s])")
MAX_WAIT = 60


def wait_seconds(request) -> int | None:
    """Seconds asked for with `Prefer: wait[=N]`, or None for an async request."""
    match = PREFER_WAIT.search(request.headers.get("Prefer", ""))
    if not match:
        return None
    raw = match["n"]
    if raw is None:
        return MAX_WAIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_WAIT:
        raise HttpError(400, f"Prefer: wait={raw} is invalid: use wait or wait=N with N from 1 to {MAX_WAIT}")
    return int(raw)


def json_response(body: Any, status: int = 200, **headers) -> JsonResponse:
    return JsonResponse(body, status=status, safe=False, headers=headers or None)


def _prediction_queryset():
    return Prediction.objects.select_related("model__owner", "version")


def _get_prediction(user, prediction_id: str) -> Prediction:
    prediction = _prediction_queryset().filter(pk=prediction_id, owner=user).first()
    if prediction is None:
        raise services.NotFound(f"prediction {prediction_id} not found")
    return prediction


# ---------------------------------------------------------------- account

@api.get("/account")
def account(request):
    return json_response(request.owner.to_account_dict())


# ---------------------------------------------------------------- predictions

class PredictionIn(Schema):
    version: str | None = None
    input: dict[str, Any] = {}
    stream: bool | None = None


class ModelPredictionIn(Schema):
    input: dict[str, Any] = {}
    stream: bool | None = None


async def _created(request, prediction: Prediction) -> JsonResponse:
    wait = wait_seconds(request)
    if wait is None:
        body = await sync_to_async(prediction.to_dict)()
        return json_response(body, status=201)
    body = await waiting.wait_for(prediction.pk, wait)
    return json_response(body, status=201, **{"Preference-Applied": f"wait={wait}"})


@api.post("/predictions")
async def create_prediction(request, body: PredictionIn):
    wait_seconds(request)  # reject a bad Prefer header before creating anything

    def create():
        version = services.resolve_version(request.owner, body.version or "")
        return services.create_prediction(request.owner, version, body.input)

    return await _created(request, await sync_to_async(create)())


@api.post("/models/{owner}/{name}/predictions")
async def create_model_prediction(request, owner: str, name: str, body: ModelPredictionIn):
    wait_seconds(request)

    def create():
        model = services.get_model(request.owner, f"{owner}/{name}")
        version = services.latest_runnable(model)
        return services.create_prediction(request.owner, version, body.input)

    return await _created(request, await sync_to_async(create)())


@api.get("/predictions")
def list_predictions(request, created_after: str | None = None, created_before: str | None = None):
    qs = services.predictions_for(request.owner)
    if created_after:
        qs = qs.filter(created_at__gt=_timestamp(created_after, "created_after"))
    if created_before:
        qs = qs.filter(created_at__lt=_timestamp(created_before, "created_before"))
    return json_response(paginate(request, qs, Prediction.to_dict))


def _timestamp(value: str, name: str):
    from django.utils.dateparse import parse_datetime

    parsed = parse_datetime(value.replace("Z", "+00:00"))
    if parsed is None:
        raise HttpError(400, f"{name} must be an RFC 3339 timestamp, like 2026-01-31T12:00:00Z")
    return parsed


@api.get("/predictions/{prediction_id}")
def get_prediction(request, prediction_id: str):
    return json_response(_get_prediction(request.owner, prediction_id).to_dict())


@api.post("/predictions/{prediction_id}/cancel")
def cancel_prediction(request, prediction_id: str):
    prediction = services.cancel_prediction(_get_prediction(request.owner, prediction_id))
    return json_response(prediction.to_dict())


# ---------------------------------------------------------------- models and versions

@api.get("/models/{owner}/{name}")
def get_model(request, owner: str, name: str):
    return json_response(services.get_model(request.owner, f"{owner}/{name}").to_dict())


def _bundle_bytes(request) -> bytes:
    upload = request.FILES.get("bundle") or request.FILES.get("content")
    if upload is None and request.FILES:
        upload = next(iter(request.FILES.values()))
    if upload is not None:
        return upload.read()
    if request.content_type in {"application/gzip", "application/x-gzip", "application/x-tar",
                                "application/octet-stream"} and request.body:
        return request.body
    raise HttpError(400, "send the model folder as a tar.gz: multipart part 'bundle', or the raw body "
                         "with Content-Type application/gzip")


@api.post("/models/{owner}/{name}/versions")
def push_version(request, owner: str, name: str):
    if owner != request.owner.username:
        raise HttpError(403, f"you can push only to your own namespace, {request.owner.username}/…")
    version, created = services.push_version(request.owner, name, _bundle_bytes(request))
    return json_response(_version_with_build(version), status=201 if created else 200)


def _version_with_build(version) -> dict:
    return {**version.to_dict(), "build": {"status": version.build_status, "error": version.build_error or None,
                                           "logs": version.build_log}}


@api.get("/models/{owner}/{name}/versions/{version_id}")
def get_version(request, owner: str, name: str, version_id: str):
    model = services.get_model(request.owner, f"{owner}/{name}")
    version = model.versions.filter(version_id=version_id, hidden=False).first()
    if version is None:
        raise services.NotFound(f"version {version_id} of {model.full_name} not found")
    if model.owner_id == request.owner.pk:
        return json_response(_version_with_build(version))
    return json_response(version.to_dict())
