"""Deployments: create, list, get, change (a new release), delete, and run through one."""

from typing import Annotated, Any

from django.http import HttpResponse
from ninja import Router, Schema, Status
from pydantic import ConfigDict, Field

from api import schemas
from api.pagination import paginate
from api.routes.predictions import (
    CREATED,
    WAITED,
    CancelAfter,
    ModelPredictionIn,
    Prefer,
    cancel_after,
    created,
    wait_seconds,
)
from api.schemas import problems
from playground.models import Deployment
from playground.services import deployments

router = Router(tags=["deployments"])
# Checked by the service, which names the field and its range in a 422; documented as an integer.
Count = Annotated[Any, Field(json_schema_extra={"type": "integer", "minimum": 0})]


class DeploymentIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str
    model: str
    version: str | None = None
    hardware: str
    min_instances: Count = 0
    max_instances: Count = 1
    owner: str | None = None  # Cogmill's own: an organization the caller administers


class DeploymentPatch(Schema):
    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    version: str | None = None
    hardware: str | None = None
    min_instances: Count = None
    max_instances: Count = None


@router.get("/deployments", response={200: schemas.DeploymentPage, **problems()})
def list_deployments(request, cursor: str | None = None):
    """The caller's deployments and those of their organizations, newest first."""
    return paginate(request, deployments.deployments_for(request.owner), Deployment.to_dict, cursor)


@router.post("/deployments", response={201: schemas.Deployment, **problems(403, 409, 415, 422)})
def create_deployment(request, body: DeploymentIn):
    """A deployment of `model` (at `version`, or its latest) on `hardware`, with release 1."""
    deployment = deployments.create_deployment(
        request.owner, body.name, body.model, body.version, body.hardware, body.min_instances, body.max_instances,
        owner=body.owner,
    )
    return Status(201, deployment.to_dict())


@router.get("/deployments/{owner}/{name}", response={200: schemas.Deployment, **problems(404)})
def get_deployment(request, owner: str, name: str):
    return deployments.get_deployment(request.owner, owner, name).to_dict()


@router.patch("/deployments/{owner}/{name}", response={200: schemas.Deployment, **problems(403, 404, 415, 422)})
def update_deployment(request, owner: str, name: str, body: DeploymentPatch):
    """Change any of model, version, hardware, min and max instances: a new release."""
    deployment = deployments.get_deployment(request.owner, owner, name)
    changes = {key: value for key, value in body.model_dump(exclude_unset=True).items() if value is not None}
    return deployments.update_deployment(request.owner, deployment, changes).to_dict()


@router.delete("/deployments/{owner}/{name}", response={204: None, **problems(403, 404, 409)})
def delete_deployment(request, owner: str, name: str):
    deployments.delete_deployment(request.owner, deployments.get_deployment(request.owner, owner, name))
    return Status(204, None)


@router.post("/deployments/{owner}/{name}/predictions", response=CREATED, openapi_extra=WAITED)
def create_deployment_prediction(request, response: HttpResponse, owner: str, name: str,
                                 body: ModelPredictionIn, prefer: str | None = Prefer,
                                 cancel_after_header: str | None = CancelAfter):
    """Run the deployment's current release on its own instances."""
    wait_seconds(prefer)  # reject bad headers before creating anything
    lifetime = cancel_after(cancel_after_header)
    prediction = deployments.run_deployment(
        request.owner, owner, name, body.input, webhook=body.webhook,
        webhook_events_filter=body.webhook_events_filter, webhook_completed=body.webhook_completed,
        cancel_after=lifetime, token=request.auth,
    )
    return created(request, prediction, prefer, response)
