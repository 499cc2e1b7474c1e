"""The domain's tables, by area. The app label stays `playground`, so tables, migrations and
task names are those of the single module this package replaced."""

from playground.models.base import absolute, iso
from playground.models.billing import HardwarePrice, InstanceHour, SpendEntry, SpendLimit
from playground.models.catalog import (
    BuildStatus,
    Collection,
    Hardware,
    Model,
    ModelQuerySet,
    Version,
    Visibility,
    search_words,
    versions_with_models,
)
from playground.models.files import File, FileQuerySet, _file_upload_to  # noqa: F401 (named by migrations)
from playground.models.galleries import GalleryItem, GalleryStar
from playground.models.runs import (
    LIVE,
    RUN_KINDS,
    TERMINAL,
    WEBHOOK_EVENTS,
    Prediction,
    Run,
    Source,
    Status,
    Training,
    default_webhook_events,
)
from playground.models.deployments import Deployment, DeploymentRelease
from playground.models.webhooks import WebhookAttempt, WebhookDelivery
from playground.models.workers import Instance, InstanceState, Worker

__all__ = [
    "LIVE", "RUN_KINDS", "TERMINAL", "WEBHOOK_EVENTS", "BuildStatus", "Collection", "Deployment", "DeploymentRelease",
    "File", "FileQuerySet", "GalleryItem", "GalleryStar", "Hardware", "HardwarePrice", "Instance", "InstanceHour", "InstanceState",
    "Model", "ModelQuerySet", "Prediction", "Run", "Source", "SpendEntry", "SpendLimit", "Status", "Training",
    "Version", "Visibility", "WebhookAttempt", "WebhookDelivery", "Worker", "absolute", "default_webhook_events", "search_words",
    "iso", "versions_with_models",
]
