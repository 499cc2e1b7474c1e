"""The owner's webhook signing secret."""

from ninja import Router

from accounts.models import WebhookSecret
from api.problems import ApiProblem
from api.schemas import WebhookSecret as WebhookSecretOut
from api.schemas import problems

router = Router(tags=["webhooks"])


@router.get("/webhooks/default/secret", response={200: WebhookSecretOut, **problems(403)})
def default_secret(request):
    """The key that signs this account's webhooks (Standard Webhooks). A read-only token may not
    read it: whoever holds the key can forge webhooks to the account's receivers."""
    if request.auth.read_only:
        raise ApiProblem(403, "This token is read-only, and the webhook signing key is a secret: "
                              "read it with a token that has write access.")
    return {"key": WebhookSecret.for_user(request.owner).key}
