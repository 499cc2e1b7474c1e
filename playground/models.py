import datetime as dt
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import models
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from playground.ids import new_file_id, new_id


def iso(value) -> str | None:
    """RFC 3339 with a Z, as the clients expect."""
    if value is None:
        return None
    return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def absolute(path: str) -> str:
    return settings.PUBLIC_URL + path


class Hardware(models.Model):
    sku = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=100)
    price_per_second = models.DecimalField(max_digits=12, decimal_places=8, default=Decimal("0"))

    class Meta:
        verbose_name_plural = "hardware"
        ordering = ["price_per_second", "sku"]

    def __str__(self) -> str:
        return self.name

    def to_dict(self) -> dict:
        return {"sku": self.sku, "name": self.name}


class Visibility(models.TextChoices):
    PUBLIC = "public"
    PRIVATE = "private"


class ModelQuerySet(models.QuerySet):
    def visible_to(self, user) -> "ModelQuerySet":
        """Public models, the user's own and their organizations'; the rest is as if it did not exist."""
        if user is None or not user.is_authenticated:
            return self.filter(visibility=Visibility.PUBLIC)
        return self.filter(
            models.Q(visibility=Visibility.PUBLIC) | models.Q(owner=user) | models.Q(owner__in=user.organizations())
        )

    def search(self, text: str) -> "ModelQuerySet":
        """Models whose owner, name or description contains every word of `text`."""
        found = self
        for word in text.split():
            found = found.filter(
                models.Q(name__icontains=word) | models.Q(description__icontains=word)
                | models.Q(owner__username__icontains=word)
            )
        return found

    def for_api(self) -> "ModelQuerySet":
        """Load what Model.to_dict needs in a fixed number of queries, however many models."""
        runs = (
            Prediction.objects.filter(model=models.OuterRef("pk")).order_by()
            .values("model").annotate(n=models.Count("pk")).values("n")
        )
        ready = Version.objects.filter(build_status=BuildStatus.READY, hidden=False).order_by("-created_at")
        return (
            self.select_related("owner", "default_example__model__owner", "default_example__version")
            .annotate(num_runs=Coalesce(models.Subquery(runs), 0))
            .prefetch_related(models.Prefetch("versions", queryset=ready, to_attr="ready_versions"))
        )


class Model(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="models")
    name = models.SlugField(max_length=100)
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC)
    description = models.TextField(blank=True)
    github_url = models.URLField(blank=True)
    paper_url = models.URLField(blank=True)
    license_url = models.URLField(blank=True)
    cover_image_url = models.URLField(blank=True)
    hardware = models.ForeignKey(Hardware, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)
    # Predictions the owner chose to show off the model; the default one is in every model object.
    examples = models.ManyToManyField("Prediction", blank=True, related_name="example_of")
    default_example = models.ForeignKey(
        "Prediction", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = ModelQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="unique_model_name")]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.full_name

    @property
    def full_name(self) -> str:
        return f"{self.owner.username}/{self.name}"

    def latest_version(self) -> "Version | None":
        if hasattr(self, "ready_versions"):  # loaded by ModelQuerySet.for_api
            return self.ready_versions[0] if self.ready_versions else None
        ready = self.versions.filter(build_status=BuildStatus.READY, hidden=False)
        return ready.order_by("-created_at").first()

    def run_count(self) -> int:
        return self.num_runs if hasattr(self, "num_runs") else self.predictions.count()

    def to_dict(self) -> dict:
        latest = self.latest_version()
        example = self.default_example
        return {
            "url": absolute(f"/{self.full_name}"),
            "owner": self.owner.username,
            "name": self.name,
            "description": self.description or None,
            "visibility": self.visibility,
            "github_url": self.github_url or None,
            "paper_url": self.paper_url or None,
            "license_url": self.license_url or None,
            "cover_image_url": self.cover_image_url or None,
            "run_count": self.run_count(),
            "default_example": example.to_dict() if example else None,
            "latest_version": latest.to_dict() if latest else None,
            "created_at": iso(self.created_at),
        }


class BuildStatus(models.TextChoices):
    PENDING = "pending"
    BUILDING = "building"
    READY = "ready"
    FAILED = "failed"


class Version(models.Model):
    """An immutable build of a model: its id is the sha256 of the uploaded source bundle."""

    model = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="versions")
    version_id = models.CharField(max_length=64, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    build_status = models.CharField(max_length=10, choices=BuildStatus.choices, default=BuildStatus.PENDING)
    build_log = models.TextField(blank=True)
    build_error = models.TextField(blank=True)
    spec = models.JSONField(null=True, blank=True)
    spec_hash = models.CharField(max_length=64, blank=True)
    cog_version = models.CharField(max_length=32, blank=True)
    openapi_schema = models.JSONField(null=True, blank=True)
    hidden = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model", "version_id"], name="unique_version_per_model")]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.model.full_name}:{self.version_id[:12]}"

    @property
    def bundle_path(self) -> Path:
        return settings.COGMILL_BUNDLES_DIR / f"{self.version_id}.tar.gz"

    @property
    def src_dir(self) -> Path:
        return settings.COGMILL_BUNDLES_DIR / self.version_id / "src"

    @property
    def is_ready(self) -> bool:
        return self.build_status == BuildStatus.READY

    def output_schema(self) -> dict:
        return ((self.openapi_schema or {}).get("components", {}).get("schemas", {})).get("Output", {})

    def output_is_iterator(self) -> bool:
        out = self.output_schema()
        return out.get("type") == "array" and out.get("x-cog-array-type") == "iterator"

    def to_dict(self) -> dict:
        return {
            "id": self.version_id,
            "created_at": iso(self.created_at),
            "cog_version": self.cog_version or "",
            "openapi_schema": self.openapi_schema or {},
        }


class Status(models.TextChoices):
    STARTING = "starting"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


TERMINAL = {Status.SUCCEEDED, Status.FAILED, Status.CANCELED}


class Source(models.TextChoices):
    API = "api"
    WEB = "web"


WEBHOOK_EVENTS = ("start", "output", "logs", "completed")


def default_webhook_events() -> list[str]:
    return list(WEBHOOK_EVENTS)


class Prediction(models.Model):
    id = models.CharField(primary_key=True, max_length=26, default=new_id, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="predictions")
    model = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="predictions")
    version = models.ForeignKey(Version, on_delete=models.PROTECT, related_name="predictions")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.STARTING, db_index=True)
    input = models.JSONField(default=dict)
    output = models.JSONField(null=True, blank=True)
    logs = models.TextField(blank=True)
    error = models.TextField(null=True, blank=True)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.API)
    metrics = models.JSONField(default=dict, blank=True)
    data_removed = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    webhook = models.URLField(max_length=2000, blank=True)
    webhook_events_filter = models.JSONField(default=default_webhook_events, blank=True)
    # Shared by link: anyone, logged out included, may read its page.
    is_public = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.id

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "model": self.model.full_name,
            "version": self.version.version_id,
            "input": self.input,
            "output": self.output,
            "logs": self.logs,
            "error": self.error,
            "status": self.status,
            "source": self.source,
            "data_removed": self.data_removed,
            "deployment": None,
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "completed_at": iso(self.completed_at),
            "metrics": self.metrics or {},
            "urls": {
                "get": absolute(f"/v1/predictions/{self.id}"),
                "cancel": absolute(f"/v1/predictions/{self.id}/cancel"),
                "stream": absolute(f"/v1/predictions/{self.id}/stream"),
                "web": absolute(f"/p/{self.id}"),
            },
        }


def _file_upload_to(instance: "File", filename: str) -> str:
    return f"{instance.kind}/{instance.id}/{filename}"


class FileQuerySet(models.QuerySet):
    def live(self) -> "FileQuerySet":
        return self.filter(models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=timezone.now()))

    def uploads_of(self, user) -> "FileQuerySet":
        """The user's uploads that have not expired."""
        return self.filter(kind=File.Kind.UPLOAD, owner=user).live()


class File(models.Model):
    """Bytes Cogmill serves: prediction outputs and user uploads."""

    class Kind(models.TextChoices):
        OUTPUT = "outputs"
        UPLOAD = "uploads"

    id = models.CharField(primary_key=True, max_length=32, default=new_file_id, editable=False)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="files")
    prediction = models.ForeignKey(Prediction, null=True, blank=True, on_delete=models.CASCADE, related_name="files")
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
        """A stable capability URL: anyone holding it can read the bytes, with or without a token."""
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


class Collection(models.Model):
    """A curated list of models (edited in the admin)."""

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    models = models.ManyToManyField(Model, blank=True, related_name="collections")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def to_dict(self) -> dict:
        return {"slug": self.slug, "name": self.name, "description": self.description or ""}


class WebhookDelivery(models.Model):
    """One webhook message (a prediction's state at an event), retried until delivered or given up."""

    class State(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    id = models.CharField(primary_key=True, max_length=40, editable=False)
    prediction = models.ForeignKey(Prediction, on_delete=models.CASCADE, related_name="webhook_deliveries")
    url = models.URLField(max_length=2000)
    event = models.CharField(max_length=16)
    body = models.TextField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.id} {self.event} → {self.url}"


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    attempted_at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    response_excerpt = models.TextField(blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["attempted_at"]


class GalleryItem(models.Model):
    """A prediction a member put on their organization's gallery wall."""

    organization = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="gallery_items")
    prediction = models.ForeignKey(Prediction, on_delete=models.CASCADE, related_name="gallery_items")
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "prediction"], name="unique_gallery_item")
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.prediction_id} in {self.organization.username}'s gallery"


class GalleryStar(models.Model):
    item = models.ForeignKey(GalleryItem, on_delete=models.CASCADE, related_name="stars")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="gallery_stars")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "user"], name="unique_gallery_star")]

    def __str__(self) -> str:
        return f"{self.user.username} ★ {self.item_id}"
