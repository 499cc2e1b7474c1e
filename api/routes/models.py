"""Models, their versions, examples and README."""

import json
from typing import Literal

from django.http import HttpResponse
from ninja import Query, Router, Schema, Status
from ninja.errors import HttpError
from pydantic import BaseModel, ConfigDict, Field

from api import schemas
from api.openapi import binary, merged, raw_response, request_body
from api.pagination import paginate
from api.schemas import problems
from playground.models import Model, Prediction, Version
from playground.services import catalog

router = Router(tags=["models"])


def _owned_model(request, owner: str, name: str) -> Model:
    return catalog.owned_model(request.owner, f"{owner}/{name}")


def _model_dict(model: Model) -> dict:
    return Model.objects.for_api().get(pk=model.pk).to_dict()


# ---------------------------------------------------------------- models

SORT_KEYS = {"latest_version_created_at": "latest_version_created_at", "model_created_at": "created_at"}
SortBy = Literal["latest_version_created_at", "model_created_at"]


@router.get("/models", response={200: schemas.ModelPage, **problems(422)})
def list_models(
    request, cursor: str | None = None, sort_by: SortBy = "latest_version_created_at",
    sort_direction: Literal["asc", "desc"] = "desc",
    query: str | None = Query(None, description="Cogmill's own: keep the models matching every word of it "
                                                "(`QUERY /v1/models` and `/v1/search` are Replicate's searches)."),
    include_private: bool = Query(False, description="Cogmill's own: add the caller's private models and "
                                                     "their organizations' to the public ones."),
):
    """Public models, those whose latest version is newest first (as on Replicate)."""
    models = Model.objects.visible_to(request.owner) if include_private else Model.objects.public()
    models = models.for_api().with_latest_version_at()
    if query:
        models = models.search(query)
    return paginate(request, models, Model.to_dict, cursor, key=SORT_KEYS[sort_by],
                    descending=sort_direction == "desc")


SEARCH_TEXT = "text/plain"


@router.api_operation(["QUERY"], "/models", response={200: schemas.ModelPage, **problems()},
                      openapi_extra=request_body((SEARCH_TEXT, {"type": "string", "minLength": 1})))
def search_models(request, cursor: str | None = None):
    """HTTP QUERY with the search text as a text/plain body: the models the caller may see (public,
    their own and their organizations') that match every word, newest first."""
    text = _search_text(request.body.decode("utf-8", errors="replace").strip())
    if not text:
        raise HttpError(400, f"send the search text as the request body (Content-Type: {SEARCH_TEXT})")
    # next/previous are GET links: they carry what makes the list the same search
    search = {"query": text, "include_private": "true", "sort_by": "model_created_at", "sort_direction": "desc"}
    request.GET = request.GET.copy()
    for name, value in search.items():
        request.GET[name] = value
    return list_models(request, cursor, sort_by="model_created_at", sort_direction="desc", query=text,
                       include_private=True)


def _search_text(body: str) -> str:
    """The text as sent: raw (the Python client, curl) or as a JSON string (the JS client)."""
    if body.startswith('"'):
        try:
            decoded = json.loads(body)
        except ValueError:
            return body
        return decoded.strip() if isinstance(decoded, str) else body
    return body


MAX_RUN_TIME = ("Cogmill's own: cancel runs of the model that have not ended this long after they were created "
                "(`90s`, `5m`, `1h`, or seconds; at least 5 s); null removes the limit.")


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
    max_run_time: str | int | None = Field(None, description=MAX_RUN_TIME)


@router.post("/models", response={201: schemas.Model, **problems(403, 409, 415, 422)})
def create_model(request, body: ModelIn):
    if body.owner != request.owner.username:
        raise HttpError(403, f"you can create models only as {request.owner.username}, not {body.owner}")
    details = body.model_dump(exclude={"owner", "name", "visibility", "hardware"}, exclude_none=True)
    model = catalog.create_model(request.owner, body.name, body.visibility, body.hardware, **details)
    return Status(201, _model_dict(model))


@router.get("/models/{owner}/{name}", response={200: schemas.Model, **problems(404)})
def get_model(request, owner: str, name: str):
    return _model_dict(catalog.get_model(request.owner, f"{owner}/{name}"))


class ModelPatch(Schema):
    model_config = ConfigDict(extra="forbid")

    visibility: Literal["public", "private"] | None = None
    hardware: str | None = None
    description: str | None = None
    github_url: str | None = None
    paper_url: str | None = None
    license_url: str | None = None
    cover_image_url: str | None = None
    weights_url: str | None = None
    readme: str | None = Field(None, description="Markdown served as the model's README instead of the "
                                                 "latest version's README.md; null goes back to it.")
    max_run_time: str | int | None = Field(None, description=MAX_RUN_TIME)
    default_example: str | None = None
    examples: list[str] | None = None
    internet_access: bool | None = Field(None, description="Cogmill: whether the model's code may reach the "
                                         "internet (public addresses only) from its sandbox; off by default.")


@router.patch("/models/{owner}/{name}", response={200: schemas.Model, **problems(403, 404, 415, 422)})
def update_model(request, owner: str, name: str, body: ModelPatch):
    model = catalog.update_model(_owned_model(request, owner, name), body.model_dump(exclude_unset=True))
    return _model_dict(model)


@router.delete("/models/{owner}/{name}", response={204: None, **problems(403, 404, 409)})
def delete_model(request, owner: str, name: str):
    catalog.delete_model(_owned_model(request, owner, name))
    return Status(204, None)


@router.get("/models/{owner}/{name}/examples", response={200: schemas.PredictionPage, **problems(404)})
def list_examples(request, owner: str, name: str, cursor: str | None = None):
    model = catalog.get_model(request.owner, f"{owner}/{name}")
    return paginate(request, catalog.examples_of(model), Prediction.to_dict, cursor)


MARKDOWN = "text/markdown"


@router.get("/models/{owner}/{name}/readme", response=problems(404),
            openapi_extra=raw_response(200, MARKDOWN, {"type": "string"}))
def get_readme(request, owner: str, name: str):
    """The README.md of the model's latest version."""
    text = catalog.readme(catalog.get_model(request.owner, f"{owner}/{name}"))
    return HttpResponse(text, content_type=f"{MARKDOWN}; charset=utf-8")


# ---------------------------------------------------------------- versions

BUNDLE_TYPES = ("application/gzip", "application/x-gzip", "application/x-tar", "application/octet-stream")


class BundleUpload(BaseModel):
    bundle: bytes = Field(description="The model folder (cog.yaml, predict.py, ...) as a tar.gz.")


def _bundle_bytes(request) -> bytes:
    upload = request.FILES.get("bundle") or request.FILES.get("content")
    if upload is None and request.FILES:
        upload = next(iter(request.FILES.values()))
    if upload is not None:
        return upload.read()
    if request.content_type in BUNDLE_TYPES and request.body:
        return request.body
    raise HttpError(400, "send the model folder as a tar.gz: multipart part 'bundle', or the raw body "
                         "with Content-Type application/gzip")


PUSH = merged(
    request_body(("multipart/form-data", BundleUpload),
                 *((media_type, binary("The model folder as a tar.gz.")) for media_type in BUNDLE_TYPES)),
    {"responses": {200: {"description": "Pushed before: the same bundle is the same version."}}},
)


@router.post("/models/{owner}/{name}/versions", response={(200, 201): schemas.OwnVersion, **problems(403)},
             openapi_extra=PUSH)
def push_version(request, owner: str, name: str):
    """Upload a Cog model folder: it is built into a new version (201), or is one already (200)."""
    if owner != request.owner.username:
        raise HttpError(403, f"you can push only to your own namespace, {request.owner.username}/…")
    version, created = catalog.push_version(request.owner, name, _bundle_bytes(request))
    return Status(201 if created else 200, _version_with_build(version))


def _version_with_build(version: Version) -> dict:
    build = {"status": version.build_status, "error": version.build_error or None, "logs": version.build_log}
    return {**version.to_dict(), "build": build}


@router.get("/models/{owner}/{name}/versions", response={200: schemas.VersionPage, **problems(404)})
def list_versions(request, owner: str, name: str, cursor: str | None = None):
    model = catalog.get_model(request.owner, f"{owner}/{name}")
    return paginate(request, catalog.listed_versions(model), Version.to_dict, cursor)


@router.get("/models/{owner}/{name}/versions/{version_id}",
            response={200: schemas.Version | schemas.OwnVersion, **problems(404)})
def get_version(request, owner: str, name: str, version_id: str):
    """The version; its model's owner also gets its build."""
    model = catalog.get_model(request.owner, f"{owner}/{name}")
    version = catalog.get_listed_version(model, version_id)
    if model.owner_id == request.owner.pk:
        return _version_with_build(version)
    return version.to_dict()


@router.delete("/models/{owner}/{name}/versions/{version_id}",
               response={204: None, **problems(403, 404, 409)})
def delete_version(request, owner: str, name: str, version_id: str):
    model = _owned_model(request, owner, name)
    catalog.delete_version(catalog.get_listed_version(model, version_id))
    return Status(204, None)
