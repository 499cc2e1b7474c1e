"""The catalogue: hardware, models, their versions (builds) and curated collections."""

import functools
from decimal import Decimal
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.db import models
from django.db.models.functions import Coalesce
from django.utils import timezone

from cogmill import sql
from playground import capabilities, durations
from playground.cogschema import CogSchema
from playground.models.base import absolute, iso
from playground.models.files import File
from playground.models.runs import Prediction


class Hardware(models.Model):
    sku = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=100)
    price_per_second = models.DecimalField(max_digits=12, decimal_places=8, default=Decimal("0"))

    class Meta:
        verbose_name_plural = "hardware"
        ordering = ["price_per_second", "sku"]

    def __str__(self) -> str:
        return self.name

    @property
    def price_per_hour(self) -> Decimal:
        return self.price_per_second * 3600

    def to_dict(self) -> dict:
        return {"sku": self.sku, "name": self.name}


class Visibility(models.TextChoices):
    PUBLIC = "public"
    PRIVATE = "private"


SEARCH_WORDS = 8
SEARCH_WORD_LENGTH = 64


def search_words(text: str) -> list[str]:
    """The words a search looks for (see ModelQuerySet.search)."""
    words = dict.fromkeys(word[:SEARCH_WORD_LENGTH].lower() for word in text.split())
    return list(words)[:SEARCH_WORDS]


class ModelQuerySet(models.QuerySet):
    def visible_to(self, user) -> "ModelQuerySet":
        """Public models, the user's own and their organizations'; the rest is as if it did not exist.
        (Model.is_visible_to is this rule for a model in hand.)"""
        if user is None or not user.is_authenticated:
            return self.filter(visibility=Visibility.PUBLIC)
        return self.filter(
            models.Q(visibility=Visibility.PUBLIC) | models.Q(owner=user) | models.Q(owner__in=user.organizations())
        )

    def public(self) -> "ModelQuerySet":
        return self.filter(visibility=Visibility.PUBLIC)

    def with_latest_version_at(self) -> "ModelQuerySet":
        """`latest_version_created_at`: when its latest ready version was pushed (its own creation
        while it has none), to sort by as Replicate's model list does."""
        latest = (Version.objects.filter(model=models.OuterRef("pk"), build_status=BuildStatus.READY, hidden=False)
                  .order_by("-created_at").values("created_at")[:1])
        return self.annotate(latest_version_created_at=Coalesce(models.Subquery(latest), models.F("created_at")))

    def search(self, text: str) -> "ModelQuerySet":
        """Models whose owner, name or description contains every word of `text`: its first
        SEARCH_WORDS different words, each cut at SEARCH_WORD_LENGTH characters, so that what a
        search costs the database is bounded whatever it is given (a page's `?q=`, a 10 MiB body)."""
        found = self
        for word in search_words(text):
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
    # Where the weights are published, and a README set by API that replaces the latest version's.
    weights_url = models.URLField(max_length=2000, blank=True)
    readme = models.TextField(blank=True)
    hardware = models.ForeignKey(Hardware, null=True, blank=True, on_delete=models.SET_NULL)
    # The longest any run of it may take from its creation (it is canceled then); None: no limit
    # but the site's COGMILL_PREDICTION_TIMEOUT.
    max_run_time = models.DurationField(null=True, blank=True)
    # Whether its code may reach the internet from its sandbox (public addresses only, through the
    # worker's egress proxy); off by default: a model has no network at all.
    internet_access = models.BooleanField(default=False)
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
        # Given in the admin, for COGMILL_PUSH=granted: model code runs on Cogmill's machines.
        permissions = [("push_model", "Can push model code")]

    def __str__(self) -> str:
        return self.full_name

    def is_visible_to(self, user) -> bool:
        """ModelQuerySet.visible_to's rule for this model: public, the user's own or one of their
        organizations'. Asks the database only about a private model of someone else."""
        if self.visibility == Visibility.PUBLIC:
            return True
        if user is None or not user.is_authenticated:
            return False
        return self.owner_id == user.pk or user.organizations().filter(pk=self.owner_id).exists()

    @property
    def hardware_sku(self) -> str:
        """What its runs run on (CPU when it names no hardware)."""
        return self.hardware.sku if self.hardware_id else "cpu"

    @property
    def full_name(self) -> str:
        return f"{self.owner.username}/{self.name}"

    @property
    def is_official(self) -> bool:
        return self.owner.username in settings.COGMILL_OFFICIAL_OWNERS

    def latest_version(self) -> "Version | None":
        if hasattr(self, "ready_versions"):  # loaded by ModelQuerySet.for_api
            return self.ready_versions[0] if self.ready_versions else None
        ready = self.versions.filter(build_status=BuildStatus.READY, hidden=False)
        return ready.order_by("-created_at").first()

    @property
    def shown_cover_url(self) -> str:
        """The cover as pages show it and the API sends it: an image that one of its owner's runs wrote
        is signed, so it opens for whoever sees the model; any other URL as it is. ("" for none.)"""
        url = self.cover_image_url
        parts = capabilities.file_url_parts(url) if url and "?" not in url else None
        if parts and File.objects.filter(pk=parts[0], name=parts[1], owner_id=self.owner_id).exists():
            return capabilities.signed_file_url(url)
        return url

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
            "cover_image_url": self.shown_cover_url or None,
            "weights_url": self.weights_url or None,
            "max_run_time": durations.spell(self.max_run_time) if self.max_run_time else None,
            "is_official": self.is_official,
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
    bundle_bytes = models.BigIntegerField(default=0)  # its source bundle's size, counted in its owner's storage
    # A trained version: the code, environment and schema of `base`, run with these weights
    # (Cog's COG_WEIGHTS). Built by its training, never by pip.
    base = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="trained_versions")
    weights = models.ForeignKey("playground.File", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+")

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
        """The model's folder: its own, or its base's for a trained version."""
        if self.base_id is not None:
            return self.base.src_dir
        return settings.COGMILL_BUNDLES_DIR / self.version_id / "src"

    def run_environment(self) -> dict[str, str]:
        """What its Cog servers are started with besides cog.yaml's: a trained version's weights."""
        return {"COG_WEIGHTS": self.weights.content.path} if self.weights_id is not None else {}

    @property
    def is_ready(self) -> bool:
        return self.build_status == BuildStatus.READY

    @property
    def schema(self) -> CogSchema:
        """What the version takes and returns, read from its OpenAPI document."""
        return CogSchema(self.openapi_schema)

    def to_dict(self) -> dict:
        return {
            "id": self.version_id,
            "created_at": iso(self.created_at),
            "cog_version": self.cog_version or "",
            "openapi_schema": self.openapi_schema or {},
        }


class Collection(models.Model):
    """A curated list of models (edited in the admin)."""

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # Markdown: what the collection is for and how its models compare, shown on its detail.
    full_description = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    models = models.ManyToManyField(Model, blank=True, related_name="collections")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def to_dict(self) -> dict:
        return {"slug": self.slug, "name": self.name, "description": self.description or ""}

    def to_detail_dict(self, models: list[dict]) -> dict:
        return {**self.to_dict(), "full_description": self.full_description or None, "models": models}


# ---------------------------------------------------------------- versions with their models, in one statement

@functools.cache
def _version_tables() -> tuple[sql.Table, ...]:
    """A version (its build log left out: long, and never needed to run it; its spec and schema
    parsed once per process for each text, and shared), its model, the model's owner and hardware."""
    return (sql.Table(Version, "v", leave_out=("build_log",), shared=("spec", "openapi_schema")),
            sql.Table(Model, "m"), sql.Table(apps.get_model(settings.AUTH_USER_MODEL), "u"), sql.Table(Hardware, "h"))


def versions_with_models(condition: str, params: list, newest_first: bool = False, limit: int | None = None,
                         using: str = sql.DEFAULT) -> list[Version]:
    """The versions matching `condition` (SQL over `v`, the version; `m`, its model; `u`, the
    model's owner), each with its model, owner and hardware loaded: one statement on the cursor, for
    the lookups every run makes (cogmill/sql.py)."""
    version, model, owner, hardware = _version_tables()
    found = []
    for row in sql.fetch(_versions_statement(condition, newest_first, limit, using), params, using):
        v, m, u, h = version.instances(row, model, owner, hardware, using=using)
        m.owner = u
        m.hardware = h
        v.model = m
        found.append(v)
    return found


@functools.lru_cache(maxsize=64)
def _versions_statement(condition: str, newest_first: bool, limit: int | None, using: str) -> str:
    version, model, owner, hardware = _version_tables()
    return (
        f"SELECT {version.columns(using)}, {model.columns(using)}, {owner.columns(using)}, "
        f"{hardware.columns(using)} FROM {sql.quote(version.name, using)} v "
        f"JOIN {sql.quote(model.name, using)} m ON m.id = v.model_id "
        f"JOIN {sql.quote(owner.name, using)} u ON u.id = m.owner_id "
        f"LEFT JOIN {sql.quote(hardware.name, using)} h ON h.id = m.hardware_id WHERE {condition}"
        + (" ORDER BY v.created_at DESC" if newest_first else "") + (f" LIMIT {int(limit)}" if limit else ""))
