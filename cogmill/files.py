"""Serving stored files (outputs, uploads): the capability URL /output/<id>/<name>, and the
response the API's download uses too."""

from django.http import FileResponse

from playground.models import File
from playground.services import files


def file_content(request, file_id: str, name: str):
    """200 with the bytes, with or without a token: the URL itself is the capability."""
    return file_response(files.live_file(file_id, name))


def file_response(f: File, as_attachment: bool = False) -> FileResponse:
    response = FileResponse(
        f.content.open("rb"), content_type=f.content_type, as_attachment=as_attachment, filename=f.name
    )
    response["Content-Length"] = str(f.size)
    response["ETag"] = f'"{f.sha256}"'
    response["Cache-Control"] = "private, max-age=31536000, immutable"
    return response
