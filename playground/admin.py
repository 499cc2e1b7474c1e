from django.contrib import admin

from playground.models import (
    Collection,
    Deployment,
    DeploymentRelease,
    File,
    GalleryItem,
    GalleryStar,
    Hardware,
    HardwarePrice,
    Instance,
    Model,
    Prediction,
    SpendEntry,
    SpendLimit,
    Training,
    Version,
    WebhookAttempt,
    WebhookDelivery,
    Worker,
)
from playground.services import billing


class HardwarePriceInline(admin.TabularInline):
    model = HardwarePrice
    fields = readonly_fields = ["price_per_second", "valid_from"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Hardware)
class HardwareAdmin(admin.ModelAdmin):
    """A price changed here applies to new work only: it is kept in the price history."""

    list_display = ["sku", "name", "price_per_second"]
    inlines = [HardwarePriceInline]

    def save_model(self, request, obj, form, change) -> None:
        new_price = obj.price_per_second
        if change and "price_per_second" in form.changed_data:
            obj.price_per_second = form.initial["price_per_second"]
            super().save_model(request, obj, form, change)
            billing.set_price(obj, new_price)
        else:
            super().save_model(request, obj, form, change)
            if not change:
                billing.set_price(obj, new_price)


@admin.register(SpendEntry)
class SpendEntryAdmin(admin.ModelAdmin):
    """The ledger: read only, as it is everywhere (entries are never changed or deleted)."""

    list_display = ["created_at", "account", "kind", "run_id", "model", "hardware", "seconds", "price_per_second",
                    "cost"]
    list_filter = ["kind", "hardware"]
    search_fields = ["account__username", "run_id", "model"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SpendLimit)
class SpendLimitAdmin(admin.ModelAdmin):
    list_display = ["__str__", "account", "token", "monthly_limit", "alerted_month", "alerted_percent"]
    raw_id_fields = ["account", "token"]


@admin.register(Model)
class ModelAdmin(admin.ModelAdmin):
    list_display = ["__str__", "visibility", "hardware", "created_at"]
    list_filter = ["visibility"]
    search_fields = ["name", "owner__username", "description"]
    raw_id_fields = ["examples", "default_example"]


@admin.register(Version)
class VersionAdmin(admin.ModelAdmin):
    list_display = ["__str__", "build_status", "cog_version", "created_at", "hidden"]
    list_filter = ["build_status"]
    readonly_fields = ["version_id", "spec_hash", "build_log", "openapi_schema", "base", "weights"]


@admin.register(Prediction)
class PredictionAdmin(admin.ModelAdmin):
    list_display = ["id", "model", "owner", "status", "source", "created_at"]
    list_filter = ["status", "source", "is_public"]
    search_fields = ["id"]


@admin.register(Training)
class TrainingAdmin(admin.ModelAdmin):
    list_display = ["id", "model", "destination", "owner", "status", "source", "created_at"]
    list_filter = ["status", "source"]
    search_fields = ["id"]
    raw_id_fields = ["owner", "model", "version", "destination", "trained_version"]


@admin.register(File)
class FileAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "kind", "owner", "size", "created_at"]


@admin.register(Collection)
class CollectionAdmin(admin.ModelAdmin):
    list_display = ["slug", "name"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["models"]


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    readonly_fields = ["attempted_at", "status_code", "latency_ms", "response_excerpt", "error"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "run_id", "owner", "event", "state", "attempts", "next_attempt_at"]
    list_filter = ["state", "event"]
    search_fields = ["run_id", "owner__username"]
    raw_id_fields = ["owner"]
    inlines = [WebhookAttemptInline]


@admin.register(GalleryItem)
class GalleryItemAdmin(admin.ModelAdmin):
    list_display = ["id", "organization", "prediction", "added_by", "created_at"]
    search_fields = ["organization__username", "prediction__id", "added_by__username"]
    raw_id_fields = ["organization", "prediction", "added_by"]


@admin.register(GalleryStar)
class GalleryStarAdmin(admin.ModelAdmin):
    list_display = ["id", "item", "user", "created_at"]
    raw_id_fields = ["item", "user"]


class InstanceInline(admin.TabularInline):
    """A worker's Cog servers: what each serves, its state and since when."""

    model = Instance
    fields = readonly_fields = ["key", "release", "mode", "shown_state", "pinned", "in_use", "pid", "devices",
                                "boot_seconds", "state_since"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Instance)
class InstanceAdmin(admin.ModelAdmin):
    """Every instance, deployments' included: booting / ready / busy / stopping, on which worker, since when."""

    list_display = ["key", "release", "worker", "shown_state", "pinned", "in_use", "state_since"]
    list_filter = ["state", "mode"]
    readonly_fields = [f.name for f in Instance._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class ReleaseInline(admin.TabularInline):
    model = DeploymentRelease
    fields = readonly_fields = ["number", "version", "hardware", "min_instances", "max_instances", "created_by",
                                "created_at"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    """Deployments and every release they had (releases are changed only by making a new one)."""

    list_display = ["__str__", "current_release", "created_at"]
    search_fields = ["owner__username", "name"]
    readonly_fields = ["owner", "name", "current_release", "created_at"]
    inlines = [ReleaseInline]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Worker)
class WorkerAdmin(admin.ModelAdmin):
    """The workers as they report themselves: hardware, GPUs, their Cog servers, last heartbeat."""

    list_display = ["name", "served_hardware", "gpu_list", "instance_count", "heartbeat_at", "live"]
    readonly_fields = ["name", "hardware", "gpus", "started_at", "heartbeat_at"]
    search_fields = ["name"]
    inlines = [InstanceInline]

    def has_add_permission(self, request) -> bool:
        return False  # workers add themselves

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="hardware")
    def served_hardware(self, worker: Worker) -> str:
        return ", ".join(worker.hardware or [])

    @admin.display(description="GPUs")
    def gpu_list(self, worker: Worker) -> str:
        return ", ".join(worker.gpus or []) or "—"

    @admin.display(description="instances")
    def instance_count(self, worker: Worker) -> str:
        states = [instance.shown_state for instance in worker.instance_rows.all()]
        return ", ".join(f"{states.count(s)} {s}" for s in sorted(set(states))) or "none"

    @admin.display(boolean=True)
    def live(self, worker: Worker) -> bool:
        return worker.is_live
