"""Trainings: a version's `train()` run on the caller's input, making a new version of a model the
caller may write to from the base version's code plus the weights the training returned.

A training is a run like a prediction (runs.py: one lifecycle, the same relay, stream, webhooks,
deadlines, cancel and reaper); what is its own lives here: where it may go, what it takes, and
the version it publishes.
"""

import datetime as dt
import hashlib
from dataclasses import dataclass

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from playground import dispatch, sealing, webhooks
from playground.errors import FieldError, Forbidden, Invalid, NotFound
from playground.models import BuildStatus, File, Model, Source, Training, Version, Visibility
from playground.services import billing, catalog, files, quotas, runs

NO_DESTINATION = "The specified training destination does not exist"


def create_training(
    user,
    version: Version,
    destination: str,
    input_data: object,
    source: str = Source.API,
    webhook: str | None = None,
    webhook_events_filter: list[str] | None = None,
    cancel_after: dt.timedelta | None = None,
    new_destination: bool = False,
    token=None,
) -> Training:
    """Validate and record a training of `version` into `destination` (owner/name), queued once
    committed. Refused: a version without train() (Invalid), a destination that does not exist or
    is hidden from the caller (NotFound), someone else's (Forbidden), a public one for a private
    model of someone else's (Forbidden), bad input or an unsafe zip.

    With `new_destination` (the Train tab's "create a new model"), a destination of the caller's
    that does not exist yet is created, private, on the base model's hardware, with the training.
    """
    schema = version.schema.for_training()
    if not schema.trainable:
        raise Invalid.field("version", f"{version.model.full_name} version {version.version_id} cannot be trained: "
                                       "its cog.yaml has no train")
    target = None if new_destination else training_destination(user, version, destination)
    quotas.check_new_run(user)
    cleaned = schema.validate(input_data)
    logs = runs.preamble(schema, input_data, version.model.hardware_sku)
    files.check_file_inputs(user, cleaned, schema.input_kinds())
    runs.check_file_urls(user, cleaned, schema.input_kinds())
    files.check_zip_inputs(user, schema.input_kinds(), cleaned)
    shown, sealed = sealing.seal(schema.input_kinds(), cleaned)
    webhook_url, webhook_events = webhooks.clean_subscription(webhook, webhook_events_filter, None)
    now = timezone.now()
    account = billing.account_for(user, version.model.owner)
    with transaction.atomic():
        billing.hold(account, token, version.model.hardware_sku, user)
        if target is None:
            target = catalog.create_model(user, destination.partition("/")[2], Visibility.PRIVATE,
                                          (version.model.hardware or catalog.default_hardware()).sku)
        training = Training.objects.create(
            owner=user, model=version.model, version=version, destination=target, input=shown, sealed_secrets=sealed, source=source,
            webhook=webhook_url, webhook_events_filter=webhook_events, dispatched_at=now, dispatches=1, logs=logs,
            # A model's max run time is its predictions' only.
            created_at=now, deadline=now + cancel_after if cancel_after else None, account=account, token=token,
        )
        dispatch.run(training)
    return training


def training_destination(user, version: Version, ref: object) -> Model:
    """The model a training of `user`'s may publish into: one of their own. A private model of
    someone else's (seen through an organization) may only be trained into a private model: its
    trained versions run its code and show its schema and README."""
    if not isinstance(ref, str) or ref.count("/") != 1:
        raise Invalid.field("destination", "destination must be a model, as owner/name", "format")
    try:
        target = catalog.owned_model(user, ref.strip())
    except NotFound:
        raise NotFound(NO_DESTINATION) from None
    if target.visibility == Visibility.PUBLIC and exposes_private_code(version, target.owner_id):
        raise Forbidden(f"{version.model.full_name} is private: train it into a private model, "
                        f"not the public {target.full_name}")
    return target


def exposes_private_code(version: Version, owner_id: int) -> bool:
    """Whether a trained version of `version` in a model of `owner_id`'s would show another
    owner's private model to the public."""
    base = version.base or version
    return base.model.visibility == Visibility.PRIVATE and base.model.owner_id != owner_id


def trainings_for(user) -> QuerySet:
    return Training.objects.filter(owner=user).select_related("model__owner", "version", "destination__owner")


def get_own_training(user, training_id: str) -> Training:
    """One of the user's own trainings; everyone else's are as if they did not exist."""
    return runs.get_own(trainings_for(user) if user.is_authenticated else Training.objects.none(), training_id)


@dataclass
class Publication:
    """The version a succeeded training makes, named before it is recorded: the training's end and
    the version are written together (runs.end's `then`), so neither exists without the other."""

    training: Training
    base: Version
    weights: File
    version_id: str

    @property
    def output(self) -> dict:
        """The training's output in Replicate's shape."""
        return {"version": f"{self.training.destination.full_name}:{self.version_id}", "weights": self.weights.url}

    def record(self) -> Version:
        base, destination = self.base, self.training.destination
        version, created = Version.objects.get_or_create(
            model=destination, version_id=self.version_id,
            defaults={
                "base": base, "weights": self.weights, "build_status": BuildStatus.READY, "spec": base.spec,
                "spec_hash": base.spec_hash, "cog_version": base.cog_version, "openapi_schema": base.openapi_schema,
                "build_log": f"Trained by training {self.training.id} from {base.model.full_name}:{base.version_id}; "
                             "the base version's code and environment with its weights.\n",
            },
        )
        if not created and version.hidden:  # the same weights again, after the version was deleted
            Version.objects.filter(pk=version.pk).update(hidden=False)
        Training.objects.filter(pk=self.training.pk).update(trained_version=version)
        return version


def publication(training: Training, output: object, made: files.OutputFiles) -> Publication:
    """What a succeeded training publishes: its base's code, environment and schema with the weights
    it returned (a file output, or `weights` of an object output); Invalid when it returned none."""
    url = output.get("weights") if isinstance(output, dict) else output
    weights = made.stored.get(url) if isinstance(url, str) else None
    if weights is None:
        raise Invalid([FieldError("output", "the training finished without returning a weights file", "output")])
    base = training.version.base or training.version
    version_id = hashlib.sha256(
        f"{training.destination.full_name}\n{base.version_id}\n{weights.sha256}".encode()).hexdigest()
    return Publication(training, base, weights, version_id)


def publish(training: Training, output: object, made: files.OutputFiles) -> dict:
    """Record the version a succeeded training makes now (outside a run's end); its output."""
    found = publication(training, output, made)
    found.record()
    return found.output
