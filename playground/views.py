from django.http import FileResponse, Http404

from playground.models import File


def file_content(request, file_id: str, name: str):
    """Serve a stored file by its capability URL: 200 with the bytes, with or without a token."""
    f = File.objects.live().filter(pk=file_id, name=name).first()
    if f is None or not f.content:
        raise Http404("file not found")
    return file_response(f)


def file_response(f: File, as_attachment: bool = False) -> FileResponse:
    response = FileResponse(
        f.content.open("rb"), content_type=f.content_type, as_attachment=as_attachment, filename=f.name
    )
    response["Content-Length"] = str(f.size)
    response["ETag"] = f'"{f.sha256}"'
    response["Cache-Control"] = "private, max-age=31536000, immutable"
    return response
