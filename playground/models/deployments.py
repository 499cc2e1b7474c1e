"""Deployments: a named endpoint for a version on chosen hardware, with warm instances.

Every change is a new release (numbered from 1, all kept); the deployment runs its current one.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from playground.models.base import iso


class Deployment(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="deployments")
    name = models.CharField(max_length=100)
    current_release = models.ForeignKey("DeploymentRelease", null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="unique_deployment_name")]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.full_name

    @property
    def full_name(self) -> str:
        return f"{self.owner.username}/{self.name}"

    def to_dict(self) -> dict:
        release = self.current_release
        return {
            "owner": self.owner.username,
            "name": self.name,
            "current_release": release.to_dict() if release else None,
        }


class DeploymentRelease(models.Model):
    """One configuration of a deployment: what it runs, on which hardware, with how many instances."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="releases")
    number = models.PositiveIntegerField()
    version = models.ForeignKey("playground.Version", on_delete=models.PROTECT, related_name="releases")
    hardware = models.ForeignKey("playground.Hardware", on_delete=models.PROTECT, related_name="releases")
    min_instances = models.PositiveIntegerField(default=0)
    max_instances = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["deployment", "number"], name="unique_release_number")]
        ordering = ["-number"]

    def __str__(self) -> str:
        return f"{self.deployment} #{self.number}"

    @property
    def is_current(self) -> bool:
        return self.deployment.current_release_id == self.pk

    POOL_KEY_PREFIX = "deployment:"

    @property
    def pool_key(self) -> str:
        """The worker pool's name for this release's instances: a deployment's are its own, and a
        release that keeps the version and hardware keeps the instances too."""
        return f"{self.POOL_KEY_PREFIX}{self.deployment_id}:{self.version.version_id}:{self.hardware.sku}"

    @classmethod
    def owns_pool_key(cls, key: str) -> bool:
        """Whether a worker pool key names a deployment's instances (not a version's own)."""
        return key.startswith(cls.POOL_KEY_PREFIX)

    def to_dict(self) -> dict:
        return {
            "number": self.number,
            "model": self.version.model.full_name,
            "version": self.version.version_id,
            "created_at": iso(self.created_at),
            "created_by": self.created_by.to_account_dict() if self.created_by else None,
            "configuration": {
                "hardware": self.hardware.sku,
                "min_instances": self.min_instances,
                "max_instances": self.max_instances,
            },
        }
