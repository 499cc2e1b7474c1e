"""Sharing predictions: public share links and organizations' gallery walls (with stars)."""

import json
import mimetypes
from dataclasses import dataclass, field
from urllib.parse import urlparse

from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, OuterRef, QuerySet

from accounts.models import Membership, User
from playground.forms import UNPREFILLED, input_kinds, prefill_url
from playground.inputs import FieldError, InvalidInput
from playground.models import GalleryItem, GalleryStar, Model, Prediction, Status
from playground.services import NotFound

SORTS = ("newest", "stars")
PROMPT_FIELDS = ("prompt", "text", "question", "query", "instruction", "message")
EXCERPT_CHARS = 400


# ---------------------------------------------------------------- who sees what

def is_member(user, organization: User) -> bool:
    if not user.is_authenticated:
        return False
    return Membership.objects.filter(organization=organization, member=user).exists()


def is_admin(user, organization: User) -> bool:
    admins = Membership.objects.filter(role=Membership.Role.ADMIN)
    return admins.filter(organization=organization, member=user).exists()


def shared_with(user, prediction: Prediction) -> bool:
    """Public by link, or on the gallery of an organization the user belongs to."""
    if prediction.is_public:
        return True
    if not user.is_authenticated:
        return False
    return GalleryItem.objects.filter(prediction=prediction, organization__memberships__member=user).exists()


# ---------------------------------------------------------------- inputs

def prompt_fields(prediction: Prediction) -> dict[str, str]:
    """Non-file, non-secret inputs as form values (JSON for anything but strings), in input order."""
    kinds = input_kinds(prediction.version.openapi_schema or {})
    fields: dict[str, str] = {}
    for key, value in (prediction.input or {}).items():
        if kinds.get(key) in UNPREFILLED or value is None:
            continue
        fields[key] = value if isinstance(value, str) else json.dumps(value)
    return fields


def main_prompt(prediction: Prediction, fields: dict[str, str]) -> tuple[str, str] | None:
    """The (name, value) that reads as the prompt: a well-known name, else the first text input."""
    texts = [name for name in fields if isinstance(prediction.input.get(name), str) and fields[name]]
    for name in [*(n for n in PROMPT_FIELDS if n in texts), *texts]:
        return name, fields[name]
    return None


# ---------------------------------------------------------------- outputs

def _outputs_files(prediction: Prediction) -> bool:
    out = prediction.version.output_schema()
    return out.get("format") == "uri" or (out.get("items") or {}).get("format") == "uri"


def _is_image(url: str) -> bool:
    kind, _ = mimetypes.guess_type(urlparse(url).path)
    return bool(kind and kind.startswith("image/"))


@dataclass
class Preview:
    """A card's glimpse of an output: a text excerpt, images, or other files as (name, url)."""

    text: str = ""
    images: list[str] = field(default_factory=list)
    files: list[tuple[str, str]] = field(default_factory=list)


def output_preview(prediction: Prediction) -> Preview:
    """Streamed token lists read as one text; file outputs become images or download links."""
    output = prediction.output
    if output is None:
        return Preview()
    items = output if isinstance(output, list) else [output]
    if _outputs_files(prediction):
        urls = [str(v) for v in items]
        files = [(urlparse(u).path.rsplit("/", 1)[-1] or u, u) for u in urls if not _is_image(u)]
        return Preview(images=[u for u in urls if _is_image(u)][:4], files=files[:4])
    if all(isinstance(v, str) for v in items):
        text = "".join(items) if prediction.version.output_is_iterator() else "\n".join(items)
    else:
        text = json.dumps(output, indent=2)
    return Preview(text=_excerpt(text))


def _excerpt(text: str) -> str:
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS].rstrip() + "…"


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
        raise InvalidInput([FieldError("organization", "Choose one of your organizations.", "choice")])
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


@dataclass
class Card:
    """What a gallery card shows about one item."""

    item: GalleryItem
    preview: Preview
    prompt: tuple[str, str] | None
    fields: dict[str, str] = field(default_factory=dict)
    use_url: str | None = None
    removable: bool = False

    @property
    def succeeded(self) -> bool:
        return self.item.prediction.status == Status.SUCCEEDED


def cards(items, user) -> list[Card]:
    items = list(items)
    model_ids = {i.prediction.model_id for i in items}
    runnable = set(Model.objects.visible_to(user).filter(pk__in=model_ids).values_list("pk", flat=True))
    admin = bool(items) and is_admin(user, items[0].organization)
    return [_card(item, user, item.prediction.model_id in runnable, admin) for item in items]


def _card(item: GalleryItem, user, runnable: bool, admin: bool) -> Card:
    prediction = item.prediction
    fields = prompt_fields(prediction)
    prompt = main_prompt(prediction, fields)
    others = {k: v for k, v in fields.items() if not prompt or k != prompt[0]}
    return Card(
        item=item, preview=output_preview(prediction), prompt=prompt, fields=others,
        use_url=prefill_url(prediction) if runnable and not prediction.data_removed else None,
        removable=admin or item.added_by_id == user.pk,
    )
