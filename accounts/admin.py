from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from accounts.models import ApiToken, User, WebhookSecret

admin.site.register(User, UserAdmin)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["user", "name", "lookup", "read_only", "created_at", "last_used_at"]
    readonly_fields = ["lookup", "hashed", "created_at", "last_used_at"]


@admin.register(WebhookSecret)
class WebhookSecretAdmin(admin.ModelAdmin):
    list_display = ["user", "created_at"]
    readonly_fields = ["key", "created_at"]
