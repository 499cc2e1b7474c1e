"""Models and versions."""

from ninja import Router
from ninja.errors import HttpError

from api.responses import json_response
from playground import services

router = Router(tags=["models"])

@router.get("/models/{owner}/{name}")
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


@router.post("/models/{owner}/{name}/versions")
def push_version(request, owner: str, name: str):
    if owner != request.owner.username:
        raise HttpError(403, f"you can push only to your own namespace, {request.owner.username}/…")
    version, created = services.push_version(request.owner, name, _bundle_bytes(request))
    return json_response(_version_with_build(version), status=201 if created else 200)


def _version_with_build(version) -> dict:
    return {**version.to_dict(), "build": {"status": version.build_status, "error": version.build_error or None,
                                           "logs": version.build_log}}


@router.get("/models/{owner}/{name}/versions/{version_id}")
def get_version(request, owner: str, name: str, version_id: str):
    model = services.get_model(request.owner, f"{owner}/{name}")
    version = model.versions.filter(version_id=version_id, hidden=False).first()
    if version is None:
        raise services.NotFound(f"version {version_id} of {model.full_name} not found")
    if model.owner_id == request.owner.pk:
        return json_response(_version_with_build(version))
    return json_response(version.to_dict())
