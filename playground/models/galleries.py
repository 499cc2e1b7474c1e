"""Organizations' gallery walls: shared predictions and their stars."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class GalleryItem(models.Model):
    """A prediction a member put on their organization's gallery wall."""

    organization = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="gallery_items")
    prediction = models.ForeignKey("playground.Prediction", on_delete=models.CASCADE, related_name="gallery_items")
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "prediction"], name="unique_gallery_item")
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.prediction_id} in {self.organization.username}'s gallery"


class GalleryStar(models.Model):
    item = models.ForeignKey(GalleryItem, on_delete=models.CASCADE, related_name="stars")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="gallery_stars")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "user"], name="unique_gallery_star")]

    def __str__(self) -> str:
        return f"{self.user.username} ★ {self.item_id}"
