"""Uploaded files, usable as model inputs through their `urls.get`."""

from django.conf import settings
from django.http import HttpResponse
from ninja import Router
from ninja.errors import HttpError

from api.pagination import paginate
from api.responses import json_response
from playground import services
from playground.models import File
from playground.views import file_response

router = Router(tags=["files"])

MULTIPART_SLACK = 64 * 1024  # boundaries and part headers around the file itself


def _too_large(size: int) -> HttpError:
    limit = settings.COGMILL_MAX_UPLOAD_BYTES
    return HttpError(413, f"the file is {size} bytes; the limit is {limit} bytes")


def _metadata_text(request) -> str | None:
    """The `metadata` part: a form field (Python client) or a file part (the JS client sends a Blob)."""
    if "metadata" in request.POST:
        return request.POST["metadata"]
    part = request.FILES.get("metadata")
    return part.read().decode("utf-8", "replace") if part is not None else None


@router.post("/files")
def create_file(request):
    declared = int(request.headers.get("Content-Length") or 0)
    if declared > settings.COGMILL_MAX_UPLOAD_BYTES + MULTIPART_SLACK:
        raise _too_large(declared)
    upload = request.FILES.get("content")
    if upload is not None and upload.size > settings.COGMILL_MAX_UPLOAD_BYTES:
        raise _too_large(upload.size)
    f = services.create_upload(request.owner, upload, _metadata_text(request))
    return json_response(f.to_dict(), status=201)


@router.get("/files")
def list_files(request):
    return json_response(paginate(request, File.objects.uploads_of(request.owner), File.to_dict))


@router.get("/files/{file_id}")
def get_file(request, file_id: str):
    return json_response(services.get_upload(request.owner, file_id).to_dict())


@router.delete("/files/{file_id}")
def delete_file(request, file_id: str):
    services.delete_upload(services.get_upload(request.owner, file_id))
    return HttpResponse(status=204)


@router.get("/files/{file_id}/download")
def download_file(request, file_id: str):
    return file_response(services.get_upload(request.owner, file_id), as_attachment=True)
