"""Models, their versions, examples and README."""

from typing import Literal

from django.http import HttpResponse
from ninja import Router, Schema
from ninja.errors import HttpError
from pydantic import ConfigDict

from api.pagination import paginate
from api.responses import json_response
from playground import services
from playground.models import Model, Prediction, Version

router = Router(tags=["models"])


def _owned_model(request, owner: str, name: str) -> Model:
    """The caller's own model: others' models are 404 when hidden from them, 403 when public."""
    model = services.get_model(request.owner, f"{owner}/{name}")
    if model.owner_id != request.owner.pk:
        raise HttpError(403, f"only {model.owner.username} can change {model.full_name}")
    return model


def _model_dict(model: Model) -> dict:
    return Model.objects.for_api().get(pk=model.pk).to_dict()


# ---------------------------------------------------------------- models

def _model_page(request, text: str | None) -> dict:
    models = Model.objects.visible_to(request.owner).for_api()
    if text:
        models = models.search(text)
    return paginate(request, models, Model.to_dict)


@router.get("/models")
def list_models(request, query: str | None = None):
    return json_response(_model_page(request, query))


@router.api_operation(["QUERY"], "/models")
def search_models(request):
    """HTTP QUERY with the search text as a text/plain body."""
    text = request.body.decode("utf-8", errors="replace").strip()
    if not text:
        raise HttpError(400, "send the search text as the request body (Content-Type: text/plain)")
    # next/previous are GET links, so they carry the text as ?query=
    request.GET = request.GET.copy()
    request.GET["query"] = text
    return json_response(_model_page(request, text))


class ModelIn(Schema):
    model_config = ConfigDict(extra="forbid")

    owner: str
    name: str
    visibility: Literal["public", "private"]
    hardware: str
    description: str | None = None
    github_url: str | None = None
    paper_url: str | None = None
    license_url: str | None = None
    cover_image_url: str | None = None


@router.post("/models")
def create_model(request, body: ModelIn):
    if body.owner != request.owner.username:
        raise HttpError(403, f"you can create models only as {request.owner.username}, not {body.owner}")
    details = body.model_dump(exclude={"owner", "name", "visibility", "hardware"}, exclude_none=True)
    model = services.create_model(request.owner, body.name, body.visibility, body.hardware, **details)
    return json_response(_model_dict(model), status=201)


@router.get("/models/{owner}/{name}")
def get_model(request, owner: str, name: str):
    return json_response(_model_dict(services.get_model(request.owner, f"{owner}/{name}")))


class ModelPatch(Schema):
    model_config = ConfigDict(extra="forbid")

    visibility: Literal["public", "private"] | None = None
    hardware: str | None = None
    description: str | None = None
    github_url: str | None = None
    paper_url: str | None = None
    license_url: str | None = None
    cover_image_url: str | None = None
    default_example: str | None = None
    examples: list[str] | None = None


@router.patch("/models/{owner}/{name}")
def update_model(request, owner: str, name: str, body: ModelPatch):
    model = services.update_model(_owned_model(request, owner, name), body.model_dump(exclude_unset=True))
    return json_response(_model_dict(model))


@router.delete("/models/{owner}/{name}")
def delete_model(request, owner: str, name: str):
    services.delete_model(_owned_model(request, owner, name))
    return HttpResponse(status=204)


@router.get("/models/{owner}/{name}/examples")
def list_examples(request, owner: str, name: str):
    model = services.get_model(request.owner, f"{owner}/{name}")
    return json_response(paginate(request, services.examples_of(model), Prediction.to_dict))


@router.get("/models/{owner}/{name}/readme")
def get_readme(request, owner: str, name: str):
    text = services.readme(services.get_model(request.owner, f"{owner}/{name}"))
    return HttpResponse(text, content_type="text/markdown; charset=utf-8")


# ---------------------------------------------------------------- versions

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


@router.post("/models/{owner}/{name}/versions")
def push_version(request, owner: str, name: str):
    if owner != request.owner.username:
        raise HttpError(403, f"you can push only to your own namespace, {request.owner.username}/…")
    version, created = services.push_version(request.owner, name, _bundle_bytes(request))
    return json_response(_version_with_build(version), status=201 if created else 200)


def _version_with_build(version: Version) -> dict:
    build = {"status": version.build_status, "error": version.build_error or None, "logs": version.build_log}
    return {**version.to_dict(), "build": build}


@router.get("/models/{owner}/{name}/versions")
def list_versions(request, owner: str, name: str):
    model = services.get_model(request.owner, f"{owner}/{name}")
    return json_response(paginate(request, services.listed_versions(model), Version.to_dict))


@router.get("/models/{owner}/{name}/versions/{version_id}")
def get_version(request, owner: str, name: str, version_id: str):
    model = services.get_model(request.owner, f"{owner}/{name}")
    version = services.get_listed_version(model, version_id)
    if model.owner_id == request.owner.pk:
        return json_response(_version_with_build(version))
    return json_response(version.to_dict())


@router.delete("/models/{owner}/{name}/versions/{version_id}")
def delete_version(request, owner: str, name: str, version_id: str):
    model = _owned_model(request, owner, name)
    services.delete_version(services.get_listed_version(model, version_id))
    return HttpResponse(status=204)
