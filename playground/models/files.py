"""Bytes Cogmill serves: run outputs and user uploads."""

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from playground.ids import new_file_id
from playground.models.base import absolute, iso


def _file_upload_to(instance: "File", filename: str) -> str:
    return f"{instance.kind}/{instance.id}/{filename}"


class FileQuerySet(models.QuerySet):
    def live(self) -> "FileQuerySet":
        return self.filter(models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=timezone.now()))

    def uploads_of(self, user) -> "FileQuerySet":
        """The user's uploads that have not expired."""
        return self.filter(kind=File.Kind.UPLOAD, owner=user).live()


class File(models.Model):
    """Bytes Cogmill serves: run outputs (a prediction's or a training's) and user uploads."""

    class Kind(models.TextChoices):
        OUTPUT = "outputs"
        UPLOAD = "uploads"

    id = models.CharField(primary_key=True, max_length=32, default=new_file_id, editable=False)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="files")
    prediction = models.ForeignKey("playground.Prediction", null=True, blank=True, on_delete=models.CASCADE, related_name="files")
    training = models.ForeignKey("playground.Training", null=True, blank=True, on_delete=models.CASCADE,
                                 related_name="files")
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255, default="application/octet-stream")
    size = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    md5 = models.CharField(max_length=32)
    content = models.FileField(upload_to=_file_upload_to, max_length=400)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)

    objects = FileQuerySet.as_manager()

    def __str__(self) -> str:
        return self.name

    @property
    def url(self) -> str:
        """The file's URL as runs keep it; it opens the bytes to whoever may see the file, and to
        anyone once signed (playground.capabilities.signed_file_url)."""
        return absolute(reverse("file-content", args=[self.id, self.name]))

    @property
    def api_url(self) -> str:
        return absolute(f"/v1/files/{self.id}")

    @property
    def download_url(self) -> str:
        return absolute(f"/v1/files/{self.id}/download")

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "content_type": self.content_type,
            "size": self.size,
            "etag": self.md5,
            "checksums": {"sha256": self.sha256, "md5": self.md5},
            "metadata": self.metadata or {},
            "created_at": iso(self.created_at),
            "expires_at": iso(self.expires_at),
            "urls": {"get": self.api_url},
        }
