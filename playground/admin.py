from django.contrib import admin

from playground.models import File, Hardware, Model, Prediction, Version


@admin.register(Hardware)
class HardwareAdmin(admin.ModelAdmin):
    list_display = ["sku", "name", "price_per_second"]


@admin.register(Model)
class ModelAdmin(admin.ModelAdmin):
    list_display = ["__str__", "visibility", "hardware", "created_at"]
    list_filter = ["visibility"]
    search_fields = ["name", "owner__username", "description"]


@admin.register(Version)
class VersionAdmin(admin.ModelAdmin):
    list_display = ["__str__", "build_status", "cog_version", "created_at", "hidden"]
    list_filter = ["build_status"]
    readonly_fields = ["version_id", "spec_hash", "build_log", "openapi_schema"]


@admin.register(Prediction)
class PredictionAdmin(admin.ModelAdmin):
    list_display = ["id", "model", "owner", "status", "source", "created_at"]
    list_filter = ["status", "source"]
    search_fields = ["id"]


@admin.register(File)
class FileAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "kind", "owner", "size", "created_at"]
