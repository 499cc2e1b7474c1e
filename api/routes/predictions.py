"""Predictions: create (with Prefer: wait), get, list, cancel."""

import re
import time
from datetime import timedelta
from typing import Any, Literal

from django.http import HttpResponse
from django.utils.dateparse import parse_datetime
from ninja import Header, Query, Router, Schema, Status
from ninja.errors import HttpError
from pydantic import ConfigDict

from api import schemas, streams, waiting
from api.openapi import raw_response
from api.pagination import paginate
from api.schemas import problems
from playground import durations
from playground.models import Prediction
from playground.services import catalog, runs

router = Router(tags=["predictions"])

PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait(?:=(?P<n>[^,;\s]*))?(?:$|[,;\s])")
MAX_WAIT = 60
# The answer leaves this much before the wait is up: the Python client gives up half a second after it.
ANSWER_MARGIN_SECONDS = 0.1


def wait_seconds(prefer: str | None) -> int | None:
    """Seconds asked for with `Prefer: wait[=N]`, or None for an async request."""
    match = PREFER_WAIT.search(prefer or "")
    if not match:
        return None
    raw = match["n"]
    if raw is None:
        return MAX_WAIT
    if not raw.isdigit() or int(raw) < 1:
        raise HttpError(400, f"Prefer: wait={raw} is invalid: use wait or wait=N with N from 1 to {MAX_WAIT}")
    return min(int(raw), MAX_WAIT)  # the clients may ask for more; Replicate waits at most 60 s too


MIN_CANCEL_AFTER = timedelta(seconds=5)


def cancel_after(header: str | None) -> timedelta | None:
    """The `Cancel-After` duration, checked before anything is created."""
    if header is None:
        return None
    try:
        return durations.parse(header, minimum=MIN_CANCEL_AFTER)
    except ValueError as exc:
        raise HttpError(400, f"Cancel-After: {exc}") from None


class ModelPredictionIn(Schema):
    model_config = ConfigDict(extra="forbid")  # an unknown field is a 422 naming it, as on Replicate

    input: dict[str, Any] = {}
    stream: bool | None = None
    webhook: str | None = None
    webhook_completed: str | None = None
    webhook_events_filter: list[str] | None = None


class PredictionIn(ModelPredictionIn):
    version: str | None = None


def _create_prediction(request, version, body: ModelPredictionIn, lifetime: timedelta | None) -> Prediction:
    return runs.create_prediction(
        request.owner, version, body.input, webhook=body.webhook,
        webhook_events_filter=body.webhook_events_filter, webhook_completed=body.webhook_completed,
        cancel_after=lifetime, token=request.auth,
    )


def created(request, prediction: Prediction, prefer: str | None, response: HttpResponse) -> Status:
    """The 201 answer to a create: at once, or when the prediction ends under `Prefer: wait` (the
    request's thread waits: api/waiting.py)."""
    wait = wait_seconds(prefer)
    if wait is None:
        return Status(201, prediction.to_dict())
    response["Preference-Applied"] = f"wait={wait}"
    arrived = getattr(request, "cogmill_arrived", time.monotonic())
    deadline = arrived + wait - ANSWER_MARGIN_SECONDS
    return Status(201, waiting.wait_for(prediction, deadline))


Prefer = Header(None, alias="Prefer", description=(
    f"`wait` or `wait=N` (N of at least 1; more than {MAX_WAIT} waits {MAX_WAIT}): answer when the "
    f"prediction ends, or N seconds after the request arrived (default {MAX_WAIT}) with status `starting` "
    "and no output yet."))
CancelAfter = Header(None, alias="Cancel-After", description=(
    "Cancel the prediction if it has not ended this long after it was created: `30s`, `5m`, `1h30m`, "
    f"or a bare number of seconds; at least {durations.spell(MIN_CANCEL_AFTER)}. Its `deadline` says when. "
    "The model's own maximum run time, when shorter, wins."))
CREATED = {201: schemas.Prediction, **problems(403, 404, 409, 415, 422)}
WAITED = {"responses": {201: {"headers": {"Preference-Applied": {
    "description": "`wait=N`, when the request asked to wait.", "schema": {"type": "string"}}}}}}


@router.post("/predictions", response=CREATED, openapi_extra=WAITED)
def create_prediction(request, response: HttpResponse, body: PredictionIn, prefer: str | None = Prefer,
                      cancel_after_header: str | None = CancelAfter):
    """Run a version: `version` is a version id, `owner/name` or `owner/name:id`."""
    wait_seconds(prefer)  # reject bad headers before creating anything
    lifetime = cancel_after(cancel_after_header)
    version = catalog.resolve_version(request.owner, body.version or "")
    return created(request, _create_prediction(request, version, body, lifetime), prefer, response)


@router.post("/models/{owner}/{name}/predictions", response=CREATED, openapi_extra=WAITED)
def create_model_prediction(request, response: HttpResponse, owner: str, name: str,
                            body: ModelPredictionIn, prefer: str | None = Prefer,
                            cancel_after_header: str | None = CancelAfter):
    """Run the model's latest version."""
    wait_seconds(prefer)
    lifetime = cancel_after(cancel_after_header)
    version = catalog.latest_runnable_of(request.owner, f"{owner}/{name}")
    return created(request, _create_prediction(request, version, body, lifetime), prefer, response)


@router.get("/predictions", response={200: schemas.PredictionPage, **problems(422)})
def list_predictions(request, created_after: str | None = None, created_before: str | None = None,
                     cursor: str | None = None, source: Literal["api", "web"] | None = None):
    """The caller's predictions, newest first: created at or after `created_after`, before
    `created_before`, started from the API or the web playground (`source`)."""
    qs = runs.predictions_for(request.owner)
    if source:
        qs = qs.filter(source=source)
    if created_after:
        qs = qs.filter(created_at__gte=_timestamp(created_after, "created_after"))
    if created_before:
        qs = qs.filter(created_at__lt=_timestamp(created_before, "created_before"))
    return paginate(request, qs, Prediction.to_dict, cursor)


def _timestamp(value: str, name: str):
    try:
        parsed = parse_datetime(value.replace("Z", "+00:00"))
    except ValueError:  # well formed but not a real time, like month 13
        parsed = None
    if parsed is None:
        raise HttpError(400, f"{name} must be an RFC 3339 timestamp, like 2026-01-31T12:00:00Z")
    return parsed


@router.get("/predictions/{prediction_id}", response={200: schemas.Prediction, **problems(404)})
def get_prediction(request, prediction_id: str):
    return runs.get_own_prediction(request.owner, prediction_id).to_dict()


@router.post("/predictions/{prediction_id}/cancel", response={200: schemas.Prediction, **problems(403, 404)})
def cancel_prediction(request, prediction_id: str):
    prediction = runs.cancel(runs.get_own_prediction(request.owner, prediction_id))
    return prediction.to_dict()


# An id the stream sent (a Redis stream id: 64-bit milliseconds, sequence), checked before Redis sees it.
LastEventId = Header(None, alias="Last-Event-ID", pattern=r"^([0-9]{1,19}(-[0-9]{1,19})?)?$",
                     description="The `id` of the last event received: the stream resumes after it.")


StreamToken = Query(None, max_length=200, description="The capability `urls.stream` carries: it opens the stream "
                    "without a token for COGMILL_STREAM_URL_SECONDS after it was handed out.")


# The URL is a capability: it is read with no token (the JS client sends none) while its `token` is
# fresh, and by anyone who may see the run (Bearer, or the pages' session) with or without it.
@router.get("/predictions/{prediction_id}/stream", auth=None,
            response=problems(403, 404, 422, 429, authenticated=False),
            openapi_extra=raw_response(200, streams.CONTENT_TYPE, streams.ServerSentEvent))
async def stream_prediction(request, prediction_id: str, last_event_id: str | None = LastEventId,
                            token: str | None = StreamToken):
    """`urls.stream`: the prediction's output, logs, error and done as server-sent events."""
    return await streams.run_stream(request, Prediction, prediction_id, last_event_id, token)


