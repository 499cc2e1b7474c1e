"""Sharing predictions: public share links and organizations' gallery walls (with stars)."""

from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, OuterRef, QuerySet

from accounts.models import User
from accounts.services import is_admin, is_member
from playground.errors import FieldError, Invalid, NotFound
from playground.models import GalleryItem, GalleryStar, Prediction

SORTS = ("newest", "stars")


def shared_with(user, prediction: Prediction) -> bool:
    """Public by link, or on the gallery of an organization the user belongs to."""
    if prediction.is_public:
        return True
    if not user.is_authenticated:
        return False
    return GalleryItem.objects.filter(prediction=prediction, organization__memberships__member=user,
                                      organization__memberships__accepted_at__isnull=False).exists()


# ---------------------------------------------------------------- sharing

def set_public(user, prediction: Prediction, public: bool) -> Prediction:
    """Turn the share link on or off; only the owner may."""
    if not user.is_authenticated or prediction.owner_id != user.pk:
        raise NotFound(f"prediction {prediction.id} not found")
    Prediction.objects.filter(pk=prediction.pk).update(is_public=public)
    prediction.is_public = public
    return prediction


# ---------------------------------------------------------------- galleries

def get_gallery(user, org_name: str) -> User:
    """The organization whose gallery `user` may see: members only, everyone else gets NotFound."""
    org = User.objects.filter(username=org_name, kind=User.Kind.ORGANIZATION).first()
    if org is None or not is_member(user, org):
        raise NotFound(f"gallery {org_name} not found")
    return org


def add_to_gallery(user, prediction: Prediction, org_name: str) -> GalleryItem:
    """Put one of the user's predictions on the gallery of one of their organizations (idempotent)."""
    if prediction.owner_id != user.pk:
        raise NotFound(f"prediction {prediction.id} not found")
    org = user.organizations().filter(username=org_name).first()
    if org is None:
        raise Invalid([FieldError("organization", "Choose one of your organizations.", "choice")])
    try:
        with transaction.atomic():
            return GalleryItem.objects.create(organization=org, prediction=prediction, added_by=user)
    except IntegrityError:
        return GalleryItem.objects.get(organization=org, prediction=prediction)


def get_item(org: User, item_id: int) -> GalleryItem:
    item = GalleryItem.objects.filter(organization=org, pk=item_id).select_related("organization").first()
    if item is None:
        raise NotFound(f"gallery item {item_id} not found")
    return item


def can_remove(user, item: GalleryItem) -> bool:
    return item.added_by_id == user.pk or is_admin(user, item.organization)


def remove_from_gallery(user, item: GalleryItem) -> None:
    """Members remove what they added; admins remove anything."""
    if not is_member(user, item.organization) or not can_remove(user, item):
        raise NotFound(f"gallery item {item.pk} not found")
    item.delete()


def toggle_star(user, item: GalleryItem) -> bool:
    """Star or unstar for a member; returns whether it is starred now."""
    if not is_member(user, item.organization):
        raise NotFound(f"gallery item {item.pk} not found")
    deleted, _ = GalleryStar.objects.filter(item=item, user=user).delete()
    if deleted:
        return False
    GalleryStar.objects.get_or_create(item=item, user=user)
    return True


def gallery_items(org: User, user, sort: str = "newest") -> QuerySet:
    """The organization's items with `star_count` and `starred` (by `user`), newest or most starred first."""
    mine = GalleryStar.objects.filter(item=OuterRef("pk"), user=user)
    items = (
        GalleryItem.objects.filter(organization=org)
        .select_related("prediction__model__owner", "prediction__version", "added_by", "organization")
        .annotate(star_count=Count("stars", distinct=True), starred=Exists(mine))
    )
    if sort == "stars":
        return items.order_by("-star_count", "-created_at", "-id")
    return items.order_by("-created_at", "-id")


def star_count(item: GalleryItem) -> int:
    return item.stars.count()
