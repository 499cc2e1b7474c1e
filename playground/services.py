"""Domain rules: pushing versions, creating and cancelling predictions."""

import re

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from playground import events, inputs
from playground.bundles import bundle_id, unpack
from playground.models import (
    BuildStatus,
    Hardware,
    Model,
    Prediction,
    Source,
    Status,
    Version,
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
    vid = bundle_id(data)
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
    version = model.versions.filter(version_id=vid).first()
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


def create_prediction(user, version: Version, input_data: object, source: str = Source.API) -> Prediction:
    """Validate the input, record the prediction and queue it once the row is committed."""
    cleaned = inputs.validate(version.openapi_schema or {}, input_data)
    with transaction.atomic():
        prediction = Prediction.objects.create(
            owner=user, model=version.model, version=version, input=cleaned, source=source
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
    prediction.refresh_from_db()
    return prediction


def predictions_for(user):
    return Prediction.objects.filter(owner=user).select_related("model__owner", "version")
