"""The owner's webhook signing secret."""

from ninja import Router

from accounts.models import WebhookSecret
from api.schemas import WebhookSecret as WebhookSecretOut
from api.schemas import problems

router = Router(tags=["webhooks"])


@router.get("/webhooks/default/secret", response={200: WebhookSecretOut, **problems()})
def default_secret(request):
    """The key that signs this account's webhooks (Standard Webhooks)."""
    return {"key": WebhookSecret.for_user(request.owner).key}
