"""Domain rules: pushing versions, creating and cancelling predictions."""

import datetime as dt
import hashlib
import json
import mimetypes
import re
import shutil
from collections.abc import Callable, Iterator

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.db.models.deletion import ProtectedError
from django.utils import timezone

from playground import events, inputs, webhooks
from playground.bundles import bundle_id, unpack
from playground.inputs import FieldError, InvalidInput
from playground.models import (
    BuildStatus,
    Collection,
    File,
    Hardware,
    Model,
    Prediction,
    Source,
    Status,
    Version,
    Visibility,
)

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
VERSION_ID_RE = re.compile(r"^[0-9a-f]{64}$")


class NotFound(LookupError):
    pass


class Conflict(ValueError):
    pass


def default_hardware() -> Hardware:
    hw, _ = Hardware.objects.get_or_create(sku="cpu", defaults={"name": "CPU"})
    return hw


def check_model_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise ValueError(
            f"invalid model name {name!r}: use lowercase letters, digits, '.', '_' and '-', "
            "starting with a letter or digit"
        )


def push_version(owner, name: str, data: bytes) -> tuple[Version, bool]:
    """Store a bundle as a new version of owner/name (created if missing) and queue its build.

    Returns (version, created). Pushing the same bytes again returns the existing version,
    rebuilding it if its last build failed.
    """
    check_model_name(name)
    if len(data) > settings.COGMILL_MAX_BUNDLE_BYTES:
        raise ValueError(f"bundle is {len(data)} bytes; the limit is {settings.COGMILL_MAX_BUNDLE_BYTES}")
    vid = _version_id(owner, name, data)
    probe = Version(version_id=vid)
    unpack(data, probe.src_dir)  # raises BundleError before anything is recorded
    probe.bundle_path.parent.mkdir(parents=True, exist_ok=True)
    probe.bundle_path.write_bytes(data)
    with transaction.atomic():
        model, _ = Model.objects.get_or_create(
            owner=owner, name=name, defaults={"hardware": default_hardware()}
        )
        version, created = Version.objects.get_or_create(model=model, version_id=vid)
        if not created and version.build_status != BuildStatus.FAILED:
            return version, False
        version.build_status = BuildStatus.PENDING
        version.build_log = version.build_error = ""
        version.save()
        transaction.on_commit(lambda: _enqueue_build(version.pk))
    return version, created


def _version_id(owner, name: str, data: bytes) -> str:
    """The sha256 of the bundle; salted with the model's name when another model already has
    that id, so a bare version id always names one version (the same folder may be pushed to
    several models)."""
    vid = bundle_id(data)
    taken = Version.objects.filter(version_id=vid).exclude(model__owner=owner, model__name=name).exists()
    return bundle_id(f"{owner.username}/{name}\n".encode() + data) if taken else vid


def _enqueue_build(version_pk: int) -> None:
    from playground.tasks import build_version

    build_version.delay(version_pk)


def resolve_version(user, ref: str) -> Version:
    """A runnable version from a bare id, `owner/name` or `owner/name:id`."""
    ref = (ref or "").strip()
    if not ref:
        raise ValueError("version is required: a version id, owner/name or owner/name:version_id")
    visible = Model.objects.visible_to(user)
    if "/" not in ref:
        if not VERSION_ID_RE.match(ref):
            raise ValueError(f"invalid version {ref!r}: expected a 64-character id, owner/name or owner/name:id")
        version = (
            Version.objects.filter(version_id=ref, model__in=visible, hidden=False)
            .select_related("model__owner").first()
        )
        if version is None:
            raise NotFound(f"version {ref} not found")
        return _runnable(version)
    model_ref, _, vid = ref.partition(":")
    model = get_model(user, model_ref)
    if not vid:
        return latest_runnable(model)
    version = model.versions.filter(version_id=vid, hidden=False).first()
    if version is None:
        raise NotFound(f"version {vid} of {model.full_name} not found")
    return _runnable(version)


def get_model(user, model_ref: str) -> Model:
    owner, _, name = model_ref.partition("/")
    model = (
        Model.objects.visible_to(user).filter(owner__username=owner, name=name)
        .select_related("owner").first()
    )
    if model is None:
        raise NotFound(f"model {model_ref} not found")
    return model


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


def create_prediction(
    user,
    version: Version,
    input_data: object,
    source: str = Source.API,
    webhook: str | None = None,
    webhook_events_filter: list[str] | None = None,
    webhook_completed: str | None = None,
) -> Prediction:
    """Validate the input and webhook, record the prediction and queue it once the row is committed."""
    cleaned = inputs.validate(version.openapi_schema or {}, input_data)
    check_file_inputs(user, cleaned)
    webhook_url, webhook_events = webhooks.clean_subscription(webhook, webhook_events_filter, webhook_completed)
    with transaction.atomic():
        prediction = Prediction.objects.create(
            owner=user, model=version.model, version=version, input=cleaned, source=source,
            webhook=webhook_url, webhook_events_filter=webhook_events,
        )
        transaction.on_commit(lambda: _enqueue_prediction(prediction))
    return prediction


def _enqueue_prediction(prediction: Prediction) -> None:
    from playground.tasks import run_prediction

    hardware = prediction.model.hardware.sku if prediction.model.hardware_id else "cpu"
    run_prediction.apply_async(args=[prediction.id], queue=f"hw.{hardware}")


def cancel_prediction(prediction: Prediction) -> Prediction:
    """Cancel: a queued prediction ends now; a running one is stopped by its worker."""
    if prediction.is_terminal:
        return prediction
    now = timezone.now()
    with transaction.atomic():
        updated = Prediction.objects.filter(pk=prediction.pk, status=Status.STARTING).update(
            status=Status.CANCELED, completed_at=now, cancel_requested_at=now
        )
        if not updated:
            Prediction.objects.filter(pk=prediction.pk).update(cancel_requested_at=now)
    events.request_cancel(prediction.id)
    if updated:
        events.publish(prediction.id, events.DONE, "{}")
        webhooks.notify(prediction, webhooks.COMPLETED)  # it never reaches a worker's _finish
    prediction.refresh_from_db()
    return prediction


def predictions_for(user):
    return Prediction.objects.filter(owner=user).select_related("model__owner", "version")


def remove_prediction_data(prediction: Prediction) -> Prediction:
    """Erase what a prediction was given and made, output files included; the row stays for billing."""
    if not prediction.is_terminal:
        raise Conflict("a prediction's data can be removed once it has finished; cancel it first")
    for f in File.objects.filter(prediction=prediction, kind=File.Kind.OUTPUT):
        f.content.delete(save=False)
        f.delete()
    Prediction.objects.filter(pk=prediction.pk).update(data_removed=True, input={}, output=None, logs="")
    events.client().delete(events.stream_key(prediction.id))  # the stream URL would replay the output
    prediction.refresh_from_db()
    return prediction


# ---------------------------------------------------------------- models

MODEL_DETAILS = ("description", "github_url", "paper_url", "license_url", "cover_image_url")
_check_url = URLValidator(schemes=["http", "https"])


def _name_errors(name: str) -> list[FieldError]:
    try:
        check_model_name(name)
    except ValueError as exc:
        return [FieldError("name", str(exc), "pattern")]
    return []


def _visibility_errors(visibility: object) -> list[FieldError]:
    if visibility in Visibility.values:
        return []
    return [FieldError("visibility", f"visibility must be one of {', '.join(Visibility.values)}", "enum")]


def _hardware(sku: object, errors: list[FieldError]) -> Hardware | None:
    hardware = Hardware.objects.filter(sku=sku).first() if isinstance(sku, str) else None
    if hardware is None:
        skus = ", ".join(Hardware.objects.values_list("sku", flat=True))
        errors.append(FieldError("hardware", f"unknown hardware {sku!r}; choose one of: {skus}", "enum"))
    return hardware


def _details(values: dict, errors: list[FieldError]) -> dict[str, str]:
    """Description and URLs as stored: null clears, URLs must be http(s)."""
    cleaned = {}
    for field in MODEL_DETAILS:
        if field not in values:
            continue
        value = values[field] or ""
        if not isinstance(value, str):
            errors.append(FieldError(field, f"{field} must be a string", "type"))
            continue
        if value and field.endswith("_url"):
            try:
                _check_url(value)
            except DjangoValidationError:
                errors.append(FieldError(field, f"{field} must be an http(s) URL", "format"))
                continue
        cleaned[field] = value
    return cleaned


def create_model(owner, name: str, visibility: str, hardware: str, **details) -> Model:
    """A new, empty model of `owner`; push a version to make it runnable."""
    errors = _name_errors(name) + _visibility_errors(visibility)
    hw = _hardware(hardware, errors)
    cleaned = _details(details, errors)
    if errors:
        raise InvalidInput(errors)
    try:
        with transaction.atomic():
            return Model.objects.create(owner=owner, name=name, visibility=visibility, hardware=hw, **cleaned)
    except IntegrityError:
        raise Conflict(f"{owner.username}/{name} already exists") from None


def update_model(model: Model, changes: dict) -> Model:
    """Apply any subset of visibility, hardware, description, the URLs and the examples."""
    errors: list[FieldError] = []
    if "visibility" in changes:
        errors += _visibility_errors(changes["visibility"])
    hw = _hardware(changes["hardware"], errors) if "hardware" in changes else None
    cleaned = _details(changes, errors)
    examples = None
    if "examples" in changes:
        examples = _examples(model, changes["examples"] or [], "examples", errors)
    default = _default_example(model, changes, errors)
    if errors:
        raise InvalidInput(errors)
    with transaction.atomic():
        for field, value in cleaned.items():
            setattr(model, field, value)
        if "visibility" in changes:
            model.visibility = changes["visibility"]
        if hw is not None:
            model.hardware = hw
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


def readme(model: Model) -> str:
    """The README.md at the top of the latest version's source folder."""
    version = model.latest_version()
    src = version.src_dir if version else None
    found = [p for p in src.iterdir() if p.name.lower() == "readme.md"] if src and src.is_dir() else []
    if not found or not found[0].is_file():
        raise NotFound(f"{model.full_name} has no README.md in its latest version")
    return found[0].read_text(errors="replace")


# ---------------------------------------------------------------- versions

def listed_versions(model: Model):
    return model.versions.filter(build_status=BuildStatus.READY, hidden=False)


def get_listed_version(model: Model, version_id: str) -> Version:
    version = model.versions.filter(version_id=version_id, hidden=False).first()
    if version is None:
        raise NotFound(f"version {version_id} of {model.full_name} not found")
    return version


def delete_version(version: Version) -> None:
    """Delete a version nobody ran, with its bundle; hide one that predictions still point at."""
    try:
        with transaction.atomic():
            version.delete()
    except ProtectedError:
        Version.objects.filter(pk=version.pk).update(hidden=True)
        return
    if not Version.objects.filter(version_id=version.version_id).exists():  # other models may share a bundle
        version.bundle_path.unlink(missing_ok=True)
        shutil.rmtree(version.src_dir.parent, ignore_errors=True)


# ---------------------------------------------------------------- files (uploads)

def create_upload(owner, upload, metadata_text: str | None) -> File:
    """Store an uploaded file (kept COGMILL_FILE_TTL_HOURS) that can be passed as a model input."""
    if upload is None:
        raise InvalidInput([FieldError("content", "send the file as multipart part 'content'", "required")])
    metadata = _metadata(metadata_text)
    sha256, md5 = hashlib.sha256(), hashlib.md5()
    for chunk in upload.chunks():
        sha256.update(chunk)
        md5.update(chunk)
    name = (upload.name or "file")[-255:]
    now = timezone.now()
    f = File(
        kind=File.Kind.UPLOAD, owner=owner, name=name,
        content_type=upload.content_type or mimetypes.guess_type(name)[0] or "application/octet-stream",
        size=upload.size, sha256=sha256.hexdigest(), md5=md5.hexdigest(), metadata=metadata,
        created_at=now, expires_at=now + dt.timedelta(hours=settings.COGMILL_FILE_TTL_HOURS),
    )
    upload.seek(0)
    f.content.save(name, upload, save=False)
    f.save()
    return f


def _metadata(text: str | None) -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise InvalidInput([FieldError("metadata", "metadata must be a JSON object", "type")])
    return value


def get_upload(user, file_id: str) -> File:
    f = File.objects.uploads_of(user).filter(pk=file_id).first()
    if f is None:
        raise NotFound(f"file {file_id} not found")
    return f


def delete_upload(f: File) -> None:
    f.content.delete(save=False)
    f.delete()


def purge_expired_uploads() -> int:
    """Delete uploads past their expiry, bytes included (beat runs this hourly)."""
    expired = list(File.objects.filter(kind=File.Kind.UPLOAD, expires_at__lt=timezone.now()))
    for f in expired:
        delete_upload(f)
    return len(expired)


def _upload_id(value: str) -> str | None:
    """The file id in Cogmill's own `urls.get` or download URL of an upload, else None."""
    prefix = settings.PUBLIC_URL + "/v1/files/"
    if not value.startswith(prefix):
        return None
    file_id = value[len(prefix):].removesuffix("/download")
    return file_id if file_id and "/" not in file_id else None


def _upload_refs(value: object, path: str = "") -> Iterator[tuple[str, str]]:
    """(field path, file id) for every upload URL inside an input value."""
    if isinstance(value, str):
        file_id = _upload_id(value)
        if file_id:
            yield path, file_id
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _upload_refs(item, f"{path}.{i}")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _upload_refs(item, f"{path}.{key}" if path else str(key))


def check_file_inputs(user, data: dict) -> None:
    """Every upload URL in an input must be a live upload of the caller's: 422 naming the field otherwise."""
    refs = list(_upload_refs(data))
    if not refs:
        return
    live = File.objects.uploads_of(user).filter(pk__in={fid for _, fid in refs})
    mine = set(live.values_list("pk", flat=True))
    hint = "not found (expired, deleted or not yours); upload it with POST /v1/files"
    errors = [FieldError(field, f"file {fid} {hint}", "file") for field, fid in refs if fid not in mine]
    if errors:
        raise InvalidInput(errors)


def fetchable_input(data: dict) -> dict:
    """The input for the Cog server: upload URLs (which need a token) become their capability URLs.

    The prediction's stored `input` stays as the user sent it; this runs when it is sent to Cog.
    """
    ids = {fid for _, fid in _upload_refs(data)}
    if not ids:
        return data
    urls = {f.pk: f.url for f in File.objects.filter(kind=File.Kind.UPLOAD, pk__in=ids)}
    return _map_strings(data, lambda s: urls.get(_upload_id(s) or "", s))


def _map_strings(value, fn: Callable[[str], str]):
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [_map_strings(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: _map_strings(v, fn) for k, v in value.items()}
    return value


# ---------------------------------------------------------------- collections

def get_collection(slug: str) -> Collection:
    collection = Collection.objects.filter(slug=slug).first()
    if collection is None:
        raise NotFound(f"collection {slug} not found")
    return collection


def collection_models(collection: Collection, user):
    """The collection's models that `user` may see."""
    return collection.models.visible_to(user).for_api()
