"""Trainings: create from a version, get, list, cancel, and their live stream."""

from typing import Any

from ninja import Router, Schema, Status
from pydantic import ConfigDict

from api import schemas, streams
from api.openapi import raw_response
from api.pagination import paginate
from api.routes.predictions import CancelAfter, LastEventId, StreamToken, cancel_after
from api.schemas import problems
from playground.models import Training
from playground.services import catalog, runs, trainings

router = Router(tags=["trainings"])


class TrainingIn(Schema):
    model_config = ConfigDict(extra="forbid")

    destination: str
    input: dict[str, Any] = {}
    webhook: str | None = None
    webhook_events_filter: list[str] | None = None


@router.post("/models/{owner}/{name}/versions/{version_id}/trainings",
             response={201: schemas.Training, **problems(403, 404, 409, 415, 422)})
def create_training(request, owner: str, name: str, version_id: str, body: TrainingIn,
                    cancel_after_header: str | None = CancelAfter):
    """Train the version on `input`: when it succeeds, its weights make a new version of
    `destination` (a model of the caller's), named in the training's output."""
    lifetime = cancel_after(cancel_after_header)
    version = catalog.resolve_version(request.owner, f"{owner}/{name}:{version_id}")
    training = trainings.create_training(
        request.owner, version, body.destination, body.input, webhook=body.webhook,
        webhook_events_filter=body.webhook_events_filter, cancel_after=lifetime, token=request.auth,
    )
    return Status(201, training.to_dict())


@router.get("/trainings", response={200: schemas.TrainingPage, **problems()})
def list_trainings(request, cursor: str | None = None):
    """The caller's trainings, newest first."""
    return paginate(request, trainings.trainings_for(request.owner), Training.to_dict, cursor)


@router.get("/trainings/{training_id}", response={200: schemas.Training, **problems(404)})
def get_training(request, training_id: str):
    return trainings.get_own_training(request.owner, training_id).to_dict()


@router.post("/trainings/{training_id}/cancel", response={200: schemas.Training, **problems(404)})
def cancel_training(request, training_id: str):
    return runs.cancel(trainings.get_own_training(request.owner, training_id)).to_dict()


# The URL is a capability, as a prediction's is (predictions.stream_prediction).
@router.get("/trainings/{training_id}/stream", auth=None, response=problems(403, 404, 422, 429, authenticated=False),
            openapi_extra=raw_response(200, streams.CONTENT_TYPE, streams.ServerSentEvent))
async def stream_training(request, training_id: str, last_event_id: str | None = LastEventId,
                          token: str | None = StreamToken):
    """`urls.stream`: the training's logs, output, error and done as server-sent events."""
    return await streams.run_stream(request, Training, training_id, last_event_id, token)

