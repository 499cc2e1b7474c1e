"""Runs: work a version does on a Cog server, with one lifecycle (queued, relayed, finished).

`Run` holds what every kind of run has and what the lifecycle reads and writes: the relay, the
event stream, webhooks, the reaper and `Prefer: wait` know a run, not a prediction. A kind of run
is a concrete subclass (Prediction now; trainings next) listed in RUN_KINDS.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from playground import capabilities
from playground.ids import new_id
from playground.models.base import absolute, iso


class Status(models.TextChoices):
    STARTING = "starting"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


TERMINAL = {Status.SUCCEEDED, Status.FAILED, Status.CANCELED}
LIVE = (Status.STARTING, Status.PROCESSING)


class Source(models.TextChoices):
    API = "api"
    WEB = "web"


WEBHOOK_EVENTS = ("start", "output", "logs", "completed")


def default_webhook_events() -> list[str]:
    return list(WEBHOOK_EVENTS)


class Run(models.Model):
    """The fields and rules every kind of run shares."""

    # The path of the kind's API objects (`urls.get` is `<api_path>/<id>`).
    api_path = ""

    id = models.CharField(primary_key=True, max_length=26, default=new_id, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="%(class)ss")
    model = models.ForeignKey("playground.Model", on_delete=models.CASCADE, related_name="%(class)ss")
    version = models.ForeignKey("playground.Version", on_delete=models.PROTECT, related_name="%(class)ss")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.STARTING, db_index=True)
    input = models.JSONField(default=dict)  # as given, with each secret input masked (playground/sealing.py)
    # Its secret inputs, encrypted, until it ends; then "".
    sealed_secrets = models.TextField(blank=True, default="")
    output = models.JSONField(null=True, blank=True)
    logs = models.TextField(blank=True)
    error = models.TextField(null=True, blank=True)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.API)
    metrics = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    # When it is canceled if it has not ended (Cancel-After, the model's maximum run time).
    deadline = models.DateTimeField(null=True, blank=True, db_index=True)
    webhook = models.URLField(max_length=2000, blank=True)
    webhook_events_filter = models.JSONField(default=default_webhook_events, blank=True)
    # Who pays for it (services/billing.py), and the API token that started it (None: a web page).
    account = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="%(class)ss_billed")
    token = models.ForeignKey("accounts.ApiToken", null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="%(class)ss")
    # The worker that claimed it, and until when its claim holds unless renewed (worker/leases.py).
    worker = models.CharField(max_length=200, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # When its queue message was last sent, and how many were: beat sends another for a run that
    # nobody claimed (worker/reaper.py), at growing intervals.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    dispatches = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]
        # An account's runs newest first (the API's lists, History) read from the index in order:
        # a page costs the same at 1k rows as at 100k (bench/scale.py), with no sort of them all.
        indexes = [models.Index(fields=["owner", "-created_at", "-id"], name="%(class)s_owner_newest")]

    def __str__(self) -> str:
        return self.id

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def stream_path(self) -> str:
        """`urls.stream` without the origin, for pages served from whatever host the visitor used."""
        return f"{self.api_path}/{self.id}/stream"

    @property
    def schema(self):
        """What this kind of run of its version takes and returns (a CogSchema)."""
        return self.version.schema

    @property
    def hardware_sku(self) -> str:
        """The hardware it runs on: its model's (a deployment's own, for a prediction made through one)."""
        return self.model.hardware_sku

    @classmethod
    def timeout_seconds(cls) -> float:
        """The longest a run of this kind may run on its model before it is failed."""
        return settings.COGMILL_PREDICTION_TIMEOUT

    @property
    def streams(self) -> bool:
        """Whether the API offers `urls.stream`: as on Replicate, only for models whose output is an
        iterator (the clients then say the model does not support streaming). The pages read every
        run's stream for its logs."""
        return self.schema.output_is_iterator()

    def signed(self, value):
        """`value` (its output, or a part of it) with the URLs of this run's own files signed for
        whoever it is shown to: a URL of any other file stays as it is (capabilities.signed_only)."""
        if not (named := capabilities.file_urls_in(value)):
            return value
        own = {f.url for f in self.files.all()}
        return capabilities.signed_only(value, named & own)

    def api_urls(self) -> dict[str, str]:
        base = f"{self.api_path}/{self.id}"
        urls = {"get": absolute(base), "cancel": absolute(f"{base}/cancel")}
        if self.streams:
            urls["stream"] = absolute(f"{self.stream_path}?token={capabilities.stream_token(self.id)}")
        return urls

    def to_dict(self) -> dict:
        """The API object: the fields every kind has; kinds add their own."""
        return {
            "id": self.id,
            "model": self.model.full_name,
            "version": self.version.version_id,
            "input": self.input,
            "output": self.signed(self.output),
            "logs": self.logs,
            "error": self.error,
            "status": self.status,
            "source": self.source,
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "completed_at": iso(self.completed_at),
            "deadline": iso(self.deadline),
            "metrics": self.metrics or {},
            "urls": self.api_urls(),
        }


class Prediction(Run):
    api_path = "/v1/predictions"

    data_removed = models.BooleanField(default=False)
    # Shared by link: anyone, logged out included, may read its page.
    is_public = models.BooleanField(default=False)
    # Made through a deployment: its release (what ran it), and its name as it was (`owner/name`),
    # which stays when the deployment is deleted.
    release = models.ForeignKey("playground.DeploymentRelease", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="predictions")
    deployment = models.CharField(max_length=200, blank=True, db_index=True)

    class Meta(Run.Meta):
        pass

    @property
    def hardware_sku(self) -> str:
        return self.release.hardware.sku if self.release_id else super().hardware_sku

    def to_dict(self) -> dict:
        body = super().to_dict()
        body["data_removed"] = self.data_removed
        body["deployment"] = self.deployment or None
        body["urls"]["web"] = absolute(f"/p/{self.id}")
        return body


class Training(Run):
    """A run of a version's `train()`. On success its weights and the base version's code make a
    new version of `destination`, named in its output."""

    api_path = "/v1/trainings"

    destination = models.ForeignKey("playground.Model", on_delete=models.CASCADE, related_name="trainings_into")
    # The version it made, once it succeeded (trainings that return the same weights make the same one).
    trained_version = models.ForeignKey("playground.Version", null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="made_by")

    class Meta(Run.Meta):
        pass

    @property
    def schema(self):
        return self.version.schema.for_training()

    @property
    def streams(self) -> bool:
        return True  # its logs and progress, live: what a training page and client follow

    @classmethod
    def timeout_seconds(cls) -> float:
        return settings.COGMILL_TRAINING_TIMEOUT

    def to_dict(self) -> dict:
        body = super().to_dict()
        body["destination"] = self.destination.full_name
        body["urls"]["web"] = absolute(f"/t/{self.id}")
        return body


# Every kind of run, for the parts of the lifecycle that sweep all of them (the reaper).
RUN_KINDS: tuple[type[Run], ...] = (Prediction, Training)
