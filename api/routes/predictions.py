"""Predictions: create (with Prefer: wait), get, list, cancel."""

import re
from typing import Any

from asgiref.sync import sync_to_async
from django.http import JsonResponse
from ninja import Router, Schema
from ninja.errors import HttpError, ValidationError

from api import waiting
from api.pagination import paginate
from api.responses import json_response
from playground import services, webhooks
from playground.models import Prediction

router = Router(tags=["predictions"])

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


def _prediction_queryset():
    return Prediction.objects.select_related("model__owner", "version")


def _get_prediction(user, prediction_id: str) -> Prediction:
    prediction = _prediction_queryset().filter(pk=prediction_id, owner=user).first()
    if prediction is None:
        raise services.NotFound(f"prediction {prediction_id} not found")
    return prediction


class ModelPredictionIn(Schema):
    input: dict[str, Any] = {}
    stream: bool | None = None
    webhook: str | None = None
    webhook_completed: str | None = None
    webhook_events_filter: list[str] | None = None


class PredictionIn(ModelPredictionIn):
    version: str | None = None


def _create_prediction(request, version, body: ModelPredictionIn) -> Prediction:
    try:
        return services.create_prediction(
            request.owner, version, body.input, webhook=body.webhook,
            webhook_events_filter=body.webhook_events_filter, webhook_completed=body.webhook_completed,
        )
    except webhooks.InvalidWebhook as exc:  # a field error like any other: 422 naming it
        raise ValidationError([{"loc": ("body", exc.field), "msg": str(exc), "type": "value_error"}]) from exc


async def _created(request, prediction: Prediction) -> JsonResponse:
    wait = wait_seconds(request)
    if wait is None:
        body = await sync_to_async(prediction.to_dict)()
        return json_response(body, status=201)
    body = await waiting.wait_for(prediction.pk, wait)
    return json_response(body, status=201, **{"Preference-Applied": f"wait={wait}"})


@router.post("/predictions")
async def create_prediction(request, body: PredictionIn):
    wait_seconds(request)  # reject a bad Prefer header before creating anything

    def create():
        version = services.resolve_version(request.owner, body.version or "")
        return _create_prediction(request, version, body)

    return await _created(request, await sync_to_async(create)())


@router.post("/models/{owner}/{name}/predictions")
async def create_model_prediction(request, owner: str, name: str, body: ModelPredictionIn):
    wait_seconds(request)

    def create():
        model = services.get_model(request.owner, f"{owner}/{name}")
        version = services.latest_runnable(model)
        return _create_prediction(request, version, body)

    return await _created(request, await sync_to_async(create)())


@router.get("/predictions")
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


@router.get("/predictions/{prediction_id}")
def get_prediction(request, prediction_id: str):
    return json_response(_get_prediction(request.owner, prediction_id).to_dict())


@router.post("/predictions/{prediction_id}/cancel")
def cancel_prediction(request, prediction_id: str):
    prediction = services.cancel_prediction(_get_prediction(request.owner, prediction_id))
    return json_response(prediction.to_dict())


