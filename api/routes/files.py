"""Uploaded files, usable as model inputs through their `urls.get`."""

from django.conf import settings
from ninja import Router, Status
from ninja.errors import HttpError
from pydantic import BaseModel, Field

from api import schemas
from api.guards import content_length
from api.openapi import binary, raw_response, request_body
from api.pagination import paginate
from api.schemas import problems
from cogmill.files import file_response
from playground.models import File
from playground.services import files

router = Router(tags=["files"])

MULTIPART_SLACK = 64 * 1024  # boundaries and part headers around the file itself


class FileUpload(BaseModel):
    """The multipart parts of POST /v1/files, read by the view itself (`metadata` may be a file part)."""

    content: bytes = Field(description="The file; its name and type come from the part's headers.")
    metadata: str | None = Field(None, description="A JSON object kept with the file.")
    filename: str | None = Field(None, description="The file's name, instead of the one in the part's headers.")
    type: str | None = Field(None, description="The file's media type, instead of the one in the part's headers.")


def _too_large(size: int) -> HttpError:
    limit = settings.COGMILL_MAX_UPLOAD_BYTES
    return HttpError(413, f"the file is {size} bytes; the limit is {limit} bytes")


def _metadata_text(request) -> str | None:
    """The `metadata` part: a form field (Python client) or a file part (the JS client sends a Blob)."""
    if "metadata" in request.POST:
        return request.POST["metadata"]
    part = request.FILES.get("metadata")
    return part.read().decode("utf-8", "replace") if part is not None else None


@router.post("/files", response={201: schemas.File, **problems(403, 422)},
             openapi_extra=request_body(("multipart/form-data", FileUpload)))
def create_file(request):
    declared = content_length(request)
    if declared > settings.COGMILL_MAX_UPLOAD_BYTES + MULTIPART_SLACK:
        raise _too_large(declared)
    upload = request.FILES.get("content")
    if upload is not None and upload.size > settings.COGMILL_MAX_UPLOAD_BYTES:
        raise _too_large(upload.size)
    f = files.create_upload(request.owner, upload, _metadata_text(request), filename=request.POST.get("filename"),
                            content_type=request.POST.get("type"))
    return Status(201, f.to_dict())


@router.get("/files", response={200: schemas.FilePage, **problems()})
def list_files(request, cursor: str | None = None):
    return paginate(request, File.objects.uploads_of(request.owner), File.to_dict, cursor)


@router.get("/files/{file_id}", response={200: schemas.File, **problems(404)})
def get_file(request, file_id: str):
    return files.get_upload(request.owner, file_id).to_dict()


@router.delete("/files/{file_id}", response={204: None, **problems(403, 404)})
def delete_file(request, file_id: str):
    files.delete_file(files.get_upload(request.owner, file_id))
    return Status(204, None)


DOWNLOAD = raw_response(200, "*/*", binary("The bytes, with the type they were uploaded with."))


@router.get("/files/{file_id}/download", response=problems(404), openapi_extra=DOWNLOAD)
def download_file(request, file_id: str):
    return file_response(files.get_upload(request.owner, file_id), as_attachment=True)
