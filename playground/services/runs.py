"""Runs: creating, cancelling and reading predictions (trainings next), who may see them, and
what they cost."""

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from accounts.models import Membership, User
from accounts.services import is_member
from cogmill import sql
from playground import capabilities, dispatch, events, sealing, webhooks
from playground.errors import Conflict, FieldError, Invalid, NotFound
from playground.models import (
    LIVE,
    TERMINAL,
    File,
    GalleryItem,
    Hardware,
    Model,
    Prediction,
    Run,
    Source,
    SpendEntry,
    Status,
    Version,
    Worker,
)
from playground.services import billing, files, galleries, quotas


def create_prediction(
    user,
    version: Version,
    input_data: object,
    source: str = Source.API,
    webhook: str | None = None,
    webhook_events_filter: list[str] | None = None,
    webhook_completed: str | None = None,
    cancel_after: dt.timedelta | None = None,
    release=None,
    token=None,
) -> Prediction:
    """Validate the input and webhook, record the prediction and queue it once the row is committed.

    Through a deployment (`release`, its current one), it runs on that release's instances. It is
    refused (SpendLimitReached) before anything is queued when its payer's or `token`'s monthly
    limit has no room left.

    Inputs the model does not declare are dropped, as Replicate does, and the logs say which.
    It is canceled if it has not ended `cancel_after` from now or at its model's maximum run time,
    whichever comes first.
    """
    quotas.check_new_run(user)
    cleaned = version.schema.validate(input_data)
    sku = release.hardware.sku if release else version.model.hardware_sku
    logs = preamble(version.schema, input_data, sku)
    files.check_file_inputs(user, cleaned, version.schema.input_kinds())
    check_file_urls(user, cleaned, version.schema.input_kinds())
    shown, sealed = sealing.seal(version.schema.input_kinds(), cleaned)
    webhook_url, webhook_events = webhooks.clean_subscription(webhook, webhook_events_filter, webhook_completed)
    now = timezone.now()
    account = billing.account_for(user, release.deployment.owner if release else version.model.owner)
    with transaction.atomic():
        billing.hold(account, token, sku, user)
        prediction = sql.insert(Prediction(
            owner=user, model=version.model, version=version, input=shown, sealed_secrets=sealed, source=source,
            webhook=webhook_url, webhook_events_filter=webhook_events, dispatched_at=now, dispatches=1,
            logs=logs, created_at=now, deadline=deadline(version.model, now, cancel_after),
            release=release, deployment=release.deployment.full_name if release else "",
            account=account, token=token,
        ))
        dispatch.run(prediction)
    return prediction


def preamble(schema, input_data: object, sku: str) -> str:
    """What a new run's logs start with: inputs it ignores, and a wait for hardware no worker serves."""
    lines = []
    ignored = schema.undeclared(input_data) if isinstance(input_data, dict) else []
    if ignored:
        lines.append(f"Ignored inputs this model does not take: {', '.join(ignored)}")
    if _unserved(sku):
        lines.append(f"Waiting for a worker with {sku}: none is running; this run starts when one does.")
    return "".join(f"{line}\n" for line in lines)


def missing_hardware(runnable: Run | Model) -> str | None:
    """The SKU of the hardware a run (or a model's runs) needs when no live worker serves it: it
    waits in its queue."""
    return _unserved(runnable.hardware_sku)


def _unserved(sku: str) -> str | None:
    return None if Worker.objects.serving(sku) else sku


def deadline(model, created_at: dt.datetime, cancel_after: dt.timedelta | None) -> dt.datetime | None:
    """When a run of `model` created at `created_at` is canceled if it has not ended."""
    limits = [limit for limit in (cancel_after, model.max_run_time) if limit is not None]
    return created_at + min(limits) if limits else None


def cancel(run: Run) -> Run:
    """Cancel: a queued run, or one whose worker is gone (its lease ran out), ends now; a running
    one is stopped by its worker, which then ends it."""
    if run.is_terminal:
        return run
    now = timezone.now()
    type(run).objects.filter(pk=run.pk, cancel_requested_at__isnull=True).update(cancel_requested_at=now)
    run.refresh_from_db()
    queued = Q(status=Status.STARTING)
    orphaned = Q(status=Status.PROCESSING) & (Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now))
    if not end(run, Status.CANCELED, output=run.output, logs=run.logs, metrics=run.metrics, where=queued | orphaned):
        events.request_cancel(run.id)  # its worker stops the model, then ends the run
    run.refresh_from_db()
    return run


def predictions_for(user) -> QuerySet:
    return Prediction.objects.filter(owner=user).select_related("model__owner", "version")


def get_own_prediction(user, prediction_id: str) -> Prediction:
    """One of the user's own predictions; everyone else's are as if they did not exist."""
    return get_own(predictions_for(user) if user.is_authenticated else Prediction.objects.none(), prediction_id)


def get_own(own_runs: QuerySet, run_id: str) -> Run:
    """The run `run_id` among `own_runs` (a user's own of one kind), else NotFound."""
    run = own_runs.filter(pk=run_id).first()
    if run is None:
        raise NotFound(f"{own_runs.model._meta.verbose_name} {run_id} not found")
    return run


def remove_prediction_data(prediction: Prediction) -> Prediction:
    """Erase what a prediction was given and made, output files included; the row stays for billing."""
    if not prediction.is_terminal:
        raise Conflict("a prediction's data can be removed once it has finished; cancel it first")
    for f in File.objects.filter(prediction=prediction, kind=File.Kind.OUTPUT):
        files.delete_file(f)
    Prediction.objects.filter(pk=prediction.pk).update(data_removed=True, input={}, output=None, logs="")
    events.forget(prediction.id)
    webhooks.forget(prediction.id)
    prediction.refresh_from_db()
    return prediction


RETENTION_BATCH = 200  # predictions cleared per sweep; the next sweep goes on


def remove_expired_data(now: dt.datetime | None = None) -> int:
    """Beat's retention sweep: clear the data of finished API predictions older than their owner's
    retention, as Replicate does after an hour. The row, its metrics and what it cost stay. A
    prediction that is shared (a public link, a gallery, a model's example) keeps its data."""
    now = now or timezone.now()
    removed = 0
    for owner in User.objects.filter(data_retention__isnull=False):
        expired = (
            Prediction.objects.filter(owner=owner, source=Source.API, data_removed=False, is_public=False,
                                      status__in=TERMINAL, completed_at__lt=now - owner.data_retention)
            .exclude(Exists(GalleryItem.objects.filter(prediction=OuterRef("pk"))))
            .exclude(Exists(Model.examples.through.objects.filter(prediction=OuterRef("pk"))))
            .exclude(Exists(Model.objects.filter(default_example=OuterRef("pk"))))
        )
        for prediction in expired[: RETENTION_BATCH - removed]:
            remove_prediction_data(prediction)
            removed += 1
        if removed >= RETENTION_BATCH:
            break
    return removed


# ---------------------------------------------------------------- the end of a run, and its leases

def end(run: Run, status: str, output=None, logs: str = "", error=None, metrics=None,
        outbox: events.Outbox | None = None, where: Q | dict | None = None, completed_at=None,
        then: Callable[[], object] | None = None) -> bool:
    """Record a terminal state once, then tell the stream's readers and the webhook.

    The first end wins: a run that was cancelled, reaped or finished elsewhere meanwhile is left
    as it is (False), and so is one the row no longer matches `where` (default: still live; a dict
    is columns and their values, as cogmill/sql.py's update takes them).
    `then` is written in the same transaction as the end, and only with it (a training's version).
    Readers and webhooks hear of it even through a Redis outage: the events wait in the outbox,
    the webhook's delivery row in the database.
    """
    now = completed_at or timezone.now()
    metrics = dict(metrics or {})
    metrics["total_time"] = round((now - run.created_at).total_seconds(), 6)
    if status == Status.FAILED and not error:
        error = f"{run._meta.verbose_name} failed"
    with transaction.atomic():
        values = dict(status=status, output=output, logs=logs, error=error, metrics=metrics, completed_at=now,
                      lease_expires_at=None, sealed_secrets="")
        if isinstance(where, dict):
            ended = sql.update(type(run), values, {**where, "id": run.pk})
        else:
            ended = type(run).objects.filter(where or Q(status__in=LIVE), pk=run.pk).update(**values)
        if ended:
            billing.record(run, now, metrics)
        if ended and then is not None:
            then()
    if not ended:
        return False
    announce_end(run, status, error, outbox)
    return True


def announce_end(run: Run, status: str, error: str | None, outbox: events.Outbox | None = None) -> None:
    """The stream's `error` (when failed) and `done`, and the `completed` webhook."""
    outbox = outbox or events.Outbox(run.id)
    if status == Status.FAILED:
        outbox.hold(events.ERROR, error or "")
    outbox.send(events.DONE, "{}")
    webhooks.notify(run, webhooks.COMPLETED)


def requeue(run: Run, held_by: str | None = None) -> bool:
    """Queue a run that waits to start again: its message was lost, or its worker died before the
    model saw it. Only while no live worker holds it (or, with `held_by`, while that worker, known to
    be gone, still does); a duplicate message for a run that is taken meanwhile does nothing."""
    now = timezone.now()
    released = type(run).objects.filter(_unheld(held_by), pk=run.pk, status=Status.STARTING).update(
        worker="", lease_expires_at=None, dispatched_at=now, dispatches=F("dispatches") + 1,
    )
    if released:
        dispatch.run(run)
    return bool(released)


def pass_on(run: Run, worker: str, countdown: float) -> None:
    """A worker gives back a run it took but another worker should run (it has the instances): queued
    again after `countdown` seconds. Not a lost message: the reaper's count of those stays."""
    if type(run).objects.filter(pk=run.pk, status=Status.STARTING, worker=worker).update(
            worker="", lease_expires_at=None, dispatched_at=timezone.now()):
        dispatch.run(run, countdown=countdown)


def hand_back(run: Run, reason: str, held_by: str | None = None) -> str:
    """What happens to a run whose worker is gone: canceled if its owner asked, queued again if the
    model never saw it, else failed with `reason`, keeping the output and logs it streamed.

    Only while the row still says its worker is gone (its lease ran out, or it is `held_by` a worker
    known to be dead): a heartbeat that renewed the lease meanwhile keeps the run with its worker.
    """
    if run.status == Status.STARTING and run.cancel_requested_at is None:
        return Status.STARTING if requeue(run, held_by) else run.status
    gone = Q(status__in=LIVE, worker=run.worker) & _unheld(held_by)
    if run.cancel_requested_at is not None:
        ended = end(run, Status.CANCELED, output=run.output, logs=run.logs, metrics=run.metrics, where=gone)
        return Status.CANCELED if ended else run.status
    ended = end(run, Status.FAILED, output=run.output, logs=run.logs, error=reason, metrics=run.metrics,
                where=gone)
    return Status.FAILED if ended else run.status


def _unheld(held_by: str | None) -> Q:
    """Rows no live worker holds: held by `held_by` (known to be gone), or with a lease run out."""
    if held_by:
        return Q(worker=held_by)
    return Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=timezone.now())


# ---------------------------------------------------------------- who sees what

def can_view(user, prediction: Prediction) -> bool:
    """Who may read a prediction: its owner, teammates on their organization's model, and anyone
    it was shared with (public link, or an organization's gallery). A run is its organization's to
    see only if its owner was a member when it was made: joining never opens one's earlier runs."""
    if galleries.shared_with(user, prediction):
        return True
    if not user.is_authenticated:
        return False
    if prediction.owner_id == user.pk:
        return True
    org = prediction.model.owner
    return is_member(user, org) and Membership.objects.active().filter(
        organization=org, member=prediction.owner_id, accepted_at__lte=prediction.created_at).exists()


def can_view_run(user, run: Run) -> bool:
    """can_view for a prediction; a training is its owner's alone."""
    if isinstance(run, Prediction):
        return can_view(user, run)
    return user.is_authenticated and run.owner_id == user.pk


def can_read_file(user, f: File) -> bool:
    """Who may read a stored file without a signed URL: its owner, and whoever may see its run."""
    if user.is_authenticated and f.owner_id == user.pk:
        return True
    run = f.prediction or f.training
    return run is not None and can_view_run(user, run)


def offered_input_file(user, model, run_id: str, field: str) -> File | None:
    """offerable_input_file of run `run_id`, when it is a run of `model`."""
    run = Prediction.objects.select_related("model").filter(pk=run_id, model=model).first()
    return offerable_input_file(user, run, field) if run is not None else None


def offerable_input_file(user, run: Prediction, field: str) -> File | None:
    """The stored file that input `field` of `run` was given, when a run form of its model may offer
    it to `user` to run again (copied as their own upload): its data is kept, and it is the model's
    default example (shown to whoever sees the model) or a run `user` may see."""
    if run.data_removed or (run.pk != run.model.default_example_id and not can_view(user, run)):
        return None
    value = (run.input or {}).get(field)
    return files.stored_file(value) if isinstance(value, str) else None


def shown_input(run: Run, viewer) -> dict:
    """A run's input as `viewer` sees it on its page: its owner's uploads, and the stored files
    `viewer` may read now, as signed URLs their browser can open; any other file's URL as it was
    given (it opens nothing for them)."""
    shown = files.with_upload_files(run.input or {}, run.owner)
    readable = set()
    for url in capabilities.file_urls_in(shown):
        f = files.stored_file(url)
        if f is not None and ((f.kind == File.Kind.UPLOAD and f.owner_id == run.owner_id) or can_read_file(viewer, f)):
            readable.add(url)
    return capabilities.signed_only(shown, readable)


def check_file_urls(user, data: dict, kinds: dict[str, str]) -> None:
    """Every stored file's URL in a file input (by `kinds`, the schema's) must be one the caller may
    read: signed and fresh, or of a file whose run the caller may see. The worker copies such a file
    straight from storage, so an old URL of a run no longer shared must not open it this way either.
    422 naming the field otherwise. (In a text input a URL is only text: nothing fetches it.)"""
    errors = []
    file_inputs = {name: data[name] for name, kind in kinds.items() if kind in ("file", "files") and name in data}
    for field, url in files.string_refs(file_inputs, lambda s: s if capabilities.file_url_parts(s) else None):
        f = files.stored_file(url)
        signed = capabilities.check_file_url(url) is capabilities.Verdict.VALID
        if f is None or not (signed or can_read_file(user, f)):
            errors.append(FieldError(field, f"{url} cannot be read: it expired, was removed or is not shared with "
                                            "you; GET its prediction for a fresh URL", "file"))
    if errors:
        raise Invalid(errors)


def can_change(user, prediction: Prediction) -> bool:
    """Cancelling, sharing and removing data is the owner's call only."""
    return user.is_authenticated and prediction.owner_id == user.pk


def can_run_again(user, prediction: Prediction) -> bool:
    """Whether `user` may make the same run again from its input as kept: not when it was erased, nor
    when it had a secret (kept sealed for that run only), nor once its version is deleted or cannot
    run, nor once its model is hidden from them (made private, or they left its organization)."""
    kinds = prediction.schema.input_kinds()
    has_secret = any(kinds.get(key) == "secret" for key in prediction.input or {})
    version = prediction.version
    return (prediction.is_terminal and not prediction.data_removed and not has_secret and version.is_ready
            and not version.hidden and Model.objects.visible_to(user).filter(pk=prediction.model_id).exists())


def viewable_predictions(user) -> QuerySet:
    """What can_view allows, as a query: mine, and my teammates' runs of our organizations' models.

    Runs of an organization's public model by outsiders stay private to them.
    """
    teammate = Membership.objects.active().filter(organization=OuterRef("model__owner"), member=OuterRef("owner"),
                                                  accepted_at__lte=OuterRef("created_at"))
    return Prediction.objects.filter(
        Q(owner=user) | (Q(model__owner__in=user.organizations()) & Exists(teammate))
    ).select_related("model__owner", "version", "owner")


def get_viewable(user, prediction_id: str) -> Prediction:
    prediction = (
        Prediction.objects.select_related("model__owner", "model__hardware", "version", "owner")
        .filter(pk=prediction_id).first()
    )
    if prediction is None or not can_view(user, prediction):
        raise NotFound("prediction not found")
    return prediction


def get_changeable(user, prediction_id: str) -> Prediction:
    """A prediction the user may cancel or erase; others' are not found, even when viewable."""
    prediction = get_viewable(user, prediction_id)
    if not can_change(user, prediction):
        raise NotFound("prediction not found")
    return prediction


# ---------------------------------------------------------------- history

def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def filter_history(predictions: QuerySet, filters: dict) -> QuerySet:
    """Narrow predictions by `model` (owner/name), `status`, `created_after`/`created_before` (days,
    inclusive, in the site's time zone) and `q` (text in the input)."""
    if model := filters.get("model"):
        owner, _, name = model.partition("/")
        predictions = predictions.filter(model__owner__username=owner, model__name=name)
    if status := filters.get("status"):
        predictions = predictions.filter(status=status)
    if after := filters.get("created_after"):
        predictions = predictions.filter(created_at__gte=_day_start(after))
    if before := filters.get("created_before"):
        predictions = predictions.filter(created_at__lt=_day_start(before + dt.timedelta(days=1)))
    if text := filters.get("q"):
        # SQLite keeps JSON with non-ASCII and quotes escaped; PostgreSQL's jsonb text does not: try both.
        escaped = json.dumps(text)[1:-1]
        predictions = predictions.annotate(input_text=Cast("input", TextField())).filter(
            Q(input_text__icontains=text) | Q(input_text__icontains=escaped)
        )
    return predictions


# ---------------------------------------------------------------- cost

def cost_of(run: Run) -> Decimal | None:
    """What it cost: its ledger entry once it has one; until then its predict time so far at its
    hardware's price now (a deployment's own hardware, else its model's)."""
    entry = SpendEntry.objects.filter(kind=run._meta.model_name, run_id=run.pk).values_list("cost", flat=True).first()
    if entry is not None:
        return entry
    predict_time = (run.metrics or {}).get("predict_time")
    hardware = Hardware.objects.filter(sku=run.hardware_sku).first()
    if predict_time is None or hardware is None:
        return None
    return Decimal(str(predict_time)) * hardware.price_per_second
