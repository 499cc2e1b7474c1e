"""The catalogue: models, their versions (push, build, delete), examples, README, collections."""

import datetime as dt
import re
import shutil

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.deletion import ProtectedError

from playground import bundles, capabilities, dispatch, durations
from playground.bundles import bundle_id
from playground.errors import BadRequest, Conflict, FieldError, Forbidden, Invalid, NotFound
from playground.models import (
    BuildStatus,
    Collection,
    Deployment,
    Hardware,
    Model,
    Prediction,
    Status,
    Version,
    Visibility,
    search_words,
    versions_with_models,
)
from playground.services import quotas

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
VERSION_ID_RE = re.compile(r"^[0-9a-f]{64}$")


def default_hardware() -> Hardware:
    hw, _ = Hardware.objects.get_or_create(sku="cpu", defaults={"name": "CPU"})
    return hw


def model_name_problem(name: str) -> str | None:
    """Why `name` cannot name a model, or None when it can."""
    if NAME_RE.match(name):
        return None
    return (f"invalid model name {name!r}: use lowercase letters, digits, '.', '_' and '-', "
            "starting with a letter or digit")


PUSH_REFUSED = {
    "staff": "only staff may push models on this Cogmill (COGMILL_PUSH=staff)",
    "granted": "pushing models needs the \"Can push model code\" permission, which an admin grants "
               "(COGMILL_PUSH=granted)",
    "everyone": "this account may not push models",
}


def may_push(user) -> bool:
    """Whether `user` may push model code, by COGMILL_PUSH: everyone (the sandbox is on), staff, or
    those granted the permission in the admin (superusers always)."""
    if not user.is_active:
        return False
    policy = settings.COGMILL_PUSH
    return (policy == "everyone" or user.is_superuser or (policy == "staff" and user.is_staff)
            or (policy == "granted" and user.has_perm("playground.push_model")))


def push_version(owner, name: str, data: bytes, operator: bool = False) -> tuple[Version, bool]:
    """Store a bundle as a new version of owner/name (created if missing) and queue its build.

    Returns (version, created). Pushing the same bytes again returns the existing version,
    rebuilding it if its last build failed. Forbidden unless the owner `may_push`, or an
    `operator` (a management command) pushes it. A model the push creates is private (its owner
    makes it public), except an operator's.
    """
    if not operator and not may_push(owner):
        raise Forbidden(PUSH_REFUSED[settings.COGMILL_PUSH])
    if problem := model_name_problem(name):
        raise BadRequest(problem)
    if len(data) > settings.COGMILL_MAX_BUNDLE_BYTES:
        raise BadRequest(f"bundle is {len(data)} bytes; the limit is {settings.COGMILL_MAX_BUNDLE_BYTES}")
    bundles.check(data)  # BundleError before anything is recorded; the build unpacks it on a worker
    vid = _version_id(owner, name, data)
    if not operator and not Version.objects.filter(model__owner=owner, model__name=name, version_id=vid).exists():
        quotas.check_storage(owner, len(data))  # the same bytes again store nothing new
    probe = Version(version_id=vid)
    probe.bundle_path.parent.mkdir(parents=True, exist_ok=True)
    probe.bundle_path.write_bytes(data)
    with transaction.atomic():
        visibility = Visibility.PUBLIC if operator else Visibility.PRIVATE
        model, _ = Model.objects.get_or_create(
            owner=owner, name=name, defaults={"hardware": default_hardware(), "visibility": visibility}
        )
        version, created = Version.objects.get_or_create(model=model, version_id=vid)
        if not created and version.build_status != BuildStatus.FAILED:
            return version, False
        version.build_status = BuildStatus.PENDING
        version.build_log = version.build_error = ""
        version.bundle_bytes = len(data)
        version.save()
        dispatch.build_version(version.pk)
    return version, created


def _version_id(owner, name: str, data: bytes) -> str:
    """The sha256 of the bundle; salted with the model's name when another model already has
    that id, so a bare version id always names one version (the same folder may be pushed to
    several models)."""
    vid = bundle_id(data)
    taken = Version.objects.filter(version_id=vid).exclude(model__owner=owner, model__name=name).exists()
    return bundle_id(f"{owner.username}/{name}\n".encode() + data) if taken else vid


def resolve_version(user, ref: str) -> Version:
    """A runnable version from a bare id, `owner/name` or `owner/name:id`."""
    ref = (ref or "").strip()
    if not ref:
        raise Invalid.field("version", "version is required: a version id, owner/name or owner/name:version_id",
                            "required")
    if "/" not in ref:
        found = Version.objects.filter(version_id=ref, hidden=False).select_related(
            "model__owner", "model__hardware") if VERSION_ID_RE.match(ref) else []
        version = next((v for v in found if v.model.is_visible_to(user)), None)
        if version is None:
            raise _invalid_version(ref)
        return _runnable(version)
    model_ref, _, vid = ref.partition(":")
    if not vid and (version := _latest_ready(user, model_ref)) is not None:
        return version
    try:
        model = get_model(user, model_ref)
    except NotFound:
        raise _invalid_version(ref) from None
    if not vid:
        return latest_runnable(model)
    version = model.versions.filter(version_id=vid, hidden=False).first()
    if version is None:
        raise _invalid_version(ref)
    return _runnable(version)


def _invalid_version(ref: str) -> Invalid:
    """Unknown, malformed and not-yours are one answer, as on Replicate: nothing tells them apart."""
    return Invalid.field("version", f"Invalid version or not permitted: {ref}", "version")


def get_model(user, model_ref: str, for_display: bool = False) -> Model:
    """The model `owner/name` if the user may see it; `for_display` loads what its page and API
    object show (run count, latest version, default example) in a fixed number of queries."""
    owner, _, name = model_ref.partition("/")
    visible = Model.objects.visible_to(user)
    visible = visible.for_api() if for_display else visible.select_related("owner")
    model = visible.filter(owner__username=owner, name=name).first()
    if model is None:
        raise NotFound(f"model {model_ref} not found")
    return model


def visible_model_ids(user, model_ids: set[int]) -> set[int]:
    """Which of these models the user may see (and so run)."""
    return set(Model.objects.visible_to(user).filter(pk__in=model_ids).values_list("pk", flat=True))


def explore(user, text: str = "", which: str = "all") -> QuerySet:
    """Models the user may see, newest first: `text` matches every word; `which` is all, public or mine.
    A model with no version ready to run is in it for its owner only (others see it in `coming`)."""
    runnable = Exists(Version.objects.filter(model=OuterRef("pk"), build_status=BuildStatus.READY, hidden=False))
    models = Model.objects.visible_to(user).filter(Q(runnable) | Q(owner=user.pk)).for_api()
    if text:
        models = models.search(text)
    if which == "public":
        models = models.filter(visibility=Visibility.PUBLIC)
    elif which == "mine" and user.is_authenticated:
        models = models.filter(owner=user)
    return models.order_by("-created_at")


def owned_model(user, model_ref: str) -> Model:
    """The user's own model, to change: others' models are NotFound when hidden from them,
    Forbidden when the user can see them."""
    model = get_model(user, model_ref)
    if model.owner_id != user.pk:
        raise Forbidden(f"only {model.owner.username} can change {model.full_name}")
    return model


def latest_runnable_of(user, model_ref: str) -> Version:
    """The latest version ready to run of the model `owner/name` the user may see (NotFound, or
    Conflict while none is ready): in one query when there is one."""
    return _latest_ready(user, model_ref) or latest_runnable(get_model(user, model_ref))


def _latest_ready(user, model_ref: str) -> Version | None:
    owner, _, name = model_ref.partition("/")
    found = versions_with_models("u.username = %s AND m.name = %s AND v.build_status = %s AND v.hidden = %s",
                                 [owner, name, BuildStatus.READY, False], newest_first=True, limit=1)
    return found[0] if found and found[0].model.is_visible_to(user) else None


def latest_runnable(model: Model) -> Version:
    version = model.latest_version()
    if version is None:
        raise Conflict(f"{model.full_name} has no version ready to run yet")
    return version


def _runnable(version: Version) -> Version:
    if version.build_status == BuildStatus.FAILED:
        raise Conflict(f"version {version.version_id} failed to build: {version.build_error}")
    if not version.is_ready:
        raise Conflict(f"version {version.version_id} is still building; try again when it is ready")
    return version


# ---------------------------------------------------------------- models

MODEL_DETAILS = ("description", "github_url", "paper_url", "license_url", "cover_image_url", "weights_url", "readme")
MIN_RUN_TIME = dt.timedelta(seconds=5)
_check_url = URLValidator(schemes=["http", "https"])


def _name_errors(name: str) -> list[FieldError]:
    problem = model_name_problem(name)
    return [FieldError("name", problem, "pattern")] if problem else []


def _visibility_errors(visibility: object) -> list[FieldError]:
    if visibility in Visibility.values:
        return []
    return [FieldError("visibility", f"visibility must be one of {', '.join(Visibility.values)}", "enum")]


def checked_hardware(sku: object, errors: list[FieldError]) -> Hardware | None:
    """The hardware `sku` names; else None, and a field error on `hardware` saying what there is."""
    hardware = Hardware.objects.filter(sku=sku).first() if isinstance(sku, str) else None
    if hardware is None:
        skus = ", ".join(Hardware.objects.values_list("sku", flat=True))
        errors.append(FieldError("hardware", f"unknown hardware {sku!r}; choose one of: {skus}", "enum"))
    return hardware


def _details(values: dict, errors: list[FieldError]) -> dict[str, str]:
    """Description, README, URLs and maximum run time as stored: null clears, URLs must be http(s)."""
    cleaned = {}
    for field in MODEL_DETAILS:
        if field not in values:
            continue
        value = values[field] or ""
        if not isinstance(value, str):
            errors.append(FieldError(field, f"{field} must be a string", "type"))
            continue
        if field == "cover_image_url" and capabilities.file_url_parts(value):
            value = value.split("?", 1)[0]  # a stored file is kept unsigned, and signed where it is shown
        if value and field.endswith("_url") and not value.startswith(settings.PUBLIC_URL + "/"):
            try:
                _check_url(value)
            except DjangoValidationError:
                errors.append(FieldError(field, f"{field} must be an http(s) URL", "format"))
                continue
        cleaned[field] = value
    if "max_run_time" in values:
        cleaned["max_run_time"] = _max_run_time(values["max_run_time"], errors)
    return cleaned


def _max_run_time(value: object, errors: list[FieldError]) -> dt.timedelta | None:
    """A duration (`90s`, `5m`, `1h`) or a number of seconds; null removes the limit."""
    if value is None:
        return None
    try:
        return durations.parse(str(value), minimum=MIN_RUN_TIME)
    except ValueError as exc:
        errors.append(FieldError("max_run_time", str(exc), "format"))
        return None


def create_model(owner, name: str, visibility: str, hardware: str, **details) -> Model:
    """A new, empty model of `owner`; push a version to make it runnable."""
    errors = _name_errors(name) + _visibility_errors(visibility)
    hw = checked_hardware(hardware, errors)
    cleaned = _details(details, errors)
    if errors:
        raise Invalid(errors)
    try:
        with transaction.atomic():
            return Model.objects.create(owner=owner, name=name, visibility=visibility, hardware=hw, **cleaned)
    except IntegrityError:
        raise Conflict(f"{owner.username}/{name} already exists") from None


def update_model(model: Model, changes: dict) -> Model:
    """Apply any subset of visibility, hardware, description, the URLs, the examples and internet
    access (which its instances started from then on get)."""
    errors: list[FieldError] = []
    if "internet_access" in changes and not isinstance(changes["internet_access"], bool):
        errors.append(FieldError("internet_access", "must be true or false", "type"))
    if "visibility" in changes:
        errors += _visibility_errors(changes["visibility"])
        if changes["visibility"] == Visibility.PUBLIC and _trained_from_others_private(model):
            errors.append(FieldError("visibility", f"{model.full_name} has versions trained from someone else's "
                                                   "private model; it stays private", "private_base"))
    hw = checked_hardware(changes["hardware"], errors) if "hardware" in changes else None
    cleaned = _details(changes, errors)
    examples = None
    if "examples" in changes:
        examples = _examples(model, changes["examples"] or [], "examples", errors)
    default = _default_example(model, changes, errors)
    if errors:
        raise Invalid(errors)
    with transaction.atomic():
        for field, value in cleaned.items():
            setattr(model, field, value)
        if "visibility" in changes:
            model.visibility = changes["visibility"]
        if hw is not None:
            model.hardware = hw
        if "internet_access" in changes:
            model.internet_access = changes["internet_access"]
        if examples is not None:
            model.examples.set(examples)
            if model.default_example_id not in {p.pk for p in examples}:
                model.default_example = None
        if "default_example" in changes:
            model.default_example = default
            if default is not None:
                model.examples.add(default)
        model.save()
    return model


def _trained_from_others_private(model: Model) -> bool:
    """Whether a version of `model` runs the code of a private model of another owner."""
    return model.versions.filter(base__model__visibility=Visibility.PRIVATE).exclude(
        base__model__owner=model.owner_id).exists()


def _examples(model: Model, ids: object, field: str, errors: list[FieldError]) -> list[Prediction]:
    """The owner's succeeded predictions of this model named by `ids`; others are field errors."""
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        errors.append(FieldError(field, f"{field} must be a list of prediction ids", "type"))
        return []
    found = list(model.predictions.filter(pk__in=ids, owner=model.owner_id, status=Status.SUCCEEDED))
    missing = sorted(set(ids) - {p.pk for p in found})
    if missing:
        detail = f"not a succeeded prediction of yours on {model.full_name}: {', '.join(missing)}"
        errors.append(FieldError(field, detail, "example"))
    return found


def _default_example(model: Model, changes: dict, errors: list[FieldError]) -> Prediction | None:
    pid = changes.get("default_example")
    if pid is None:
        return None
    found = _examples(model, [pid], "default_example", errors)
    return found[0] if found else None


def delete_model(model: Model) -> None:
    """Only a model without versions goes: predictions of others may depend on a version."""
    listed = model.versions.filter(hidden=False).count()
    if listed:
        raise Conflict(
            f"{model.full_name} still has {listed} version(s); delete them first with "
            f"DELETE /v1/models/{model.full_name}/versions/{{id}}"
        )
    if model.versions.exists():
        raise Conflict(
            f"{model.full_name} is kept because predictions still use its deleted versions; "
            "make it private to hide it"
        )
    model.delete()


def examples_of(model: Model):
    return model.examples.select_related("model__owner", "version")


def example_candidates(model: Model, limit: int):
    """What its owner may choose examples from: their succeeded runs of it (the latest `limit`), and
    the examples it has."""
    own = model.predictions.filter(owner=model.owner_id, status=Status.SUCCEEDED, data_removed=False)
    latest = list(own.order_by("-created_at").values_list("pk", flat=True)[:limit])
    chosen = list(model.examples.values_list("pk", flat=True))
    return (Prediction.objects.filter(pk__in=latest + chosen).select_related("model__owner", "version")
            .prefetch_related("files").order_by("-created_at"))  # files: read for covers and previews alike


def readme(model: Model) -> str:
    """The README set on the model, else the README.md at the top of its latest version's folder."""
    if model.readme:
        return model.readme
    version = model.latest_version()
    src = version.src_dir if version else None
    found = [p for p in src.iterdir() if p.name.lower() == "readme.md"] if src and src.is_dir() else []
    if not found or not found[0].is_file():
        raise NotFound(f"{model.full_name} has no README.md in its latest version")
    return found[0].read_text(errors="replace")


# ---------------------------------------------------------------- versions

def listed_versions(model: Model):
    return model.versions.filter(build_status=BuildStatus.READY, hidden=False)


def builds_of(model: Model):
    """Versions pushed but not ready: waiting to build, building, or failed (newest first), for the
    model's owner to follow."""
    return model.versions.filter(hidden=False).exclude(build_status=BuildStatus.READY).order_by("-created_at")


def coming(user) -> QuerySet:
    """Versions waiting or building of models `user` may see that have no version ready yet: the
    models Explore lists as on their way (make run's examples while they build), oldest first."""
    ready = Exists(Version.objects.filter(model=OuterRef("model"), build_status=BuildStatus.READY, hidden=False))
    return (Version.objects.filter(build_status__in=[BuildStatus.PENDING, BuildStatus.BUILDING], hidden=False,
                                   model__in=Model.objects.visible_to(user))
            .exclude(ready).select_related("model__owner").order_by("created_at"))


def get_listed_version(model: Model, version_id: str) -> Version:
    version = model.versions.filter(version_id=version_id, hidden=False).first()
    if version is None:
        raise NotFound(f"version {version_id} of {model.full_name} not found")
    return version


def delete_version(version: Version) -> None:
    """Delete a version nobody ran, with its bundle; hide one that predictions or earlier releases
    of deployments still point at. One that a deployment runs now stays until it runs another."""
    running = [d.full_name for d in Deployment.objects.filter(current_release__version=version).select_related("owner")]
    if running:
        raise Conflict(f"version {version.version_id} is what {', '.join(running)} runs; "
                       "move the deployment to another version first")
    try:
        with transaction.atomic():
            version.delete()
    except ProtectedError:
        Version.objects.filter(pk=version.pk).update(hidden=True)
        return
    if version.base_id is not None:
        return  # a trained version's folder is its base's
    if not Version.objects.filter(version_id=version.version_id).exists():  # other models may share a bundle
        version.bundle_path.unlink(missing_ok=True)
        shutil.rmtree(version.src_dir.parent, ignore_errors=True)


# ---------------------------------------------------------------- search

SEARCH_CANDIDATES = 500  # matches scored per search, most run first


def search_models(user, text: str, limit: int) -> list[tuple[Model, float]]:
    """The models `user` may see that match every word of `text`, best first, with a score in (0, 1]:
    a word in the name counts most, then in the owner's name, then in the description."""
    words = search_words(text)
    candidates = (Model.objects.visible_to(user).search(text).for_api()
                  .order_by("-num_runs", "-created_at")[:SEARCH_CANDIDATES])
    scored = [(model, _score(model, words)) for model in candidates]
    scored.sort(key=lambda pair: (-pair[1], -pair[0].run_count()))
    return scored[:limit]


def _score(model: Model, words: list[str]) -> float:
    fields = ((model.name.lower(), 3), (model.owner.username.lower(), 2), ((model.description or "").lower(), 1))
    points = sum(next((weight for field, weight in fields if word in field), 0) for word in words)
    return round(points / (3 * len(words)), 4) if words else 0.0


def search_collections(text: str) -> QuerySet:
    """Collections whose name, slug or description holds every word of `text` (its first words, as
    for models: a bounded search)."""
    found = Collection.objects.all()
    for word in search_words(text):
        found = found.filter(Q(name__icontains=word) | Q(slug__icontains=word) | Q(description__icontains=word))
    return found


# ---------------------------------------------------------------- collections

def all_collections() -> QuerySet:
    return Collection.objects.all()


def find_collection(slug: str) -> Collection | None:
    return Collection.objects.filter(slug=slug).first()


def get_collection(slug: str) -> Collection:
    collection = find_collection(slug)
    if collection is None:
        raise NotFound(f"collection {slug} not found")
    return collection


def add_to_collection(model: Model, slug: str, name: str, description: str) -> Collection:
    """Put `model` in the collection `slug`, made with this name and description if there is none."""
    collection, _ = Collection.objects.get_or_create(slug=slug, defaults={"name": name, "description": description})
    collection.models.add(model)
    return collection


def collection_models(collection: Collection, user):
    """The collection's models that `user` may see."""
    return collection.models.visible_to(user).for_api()
