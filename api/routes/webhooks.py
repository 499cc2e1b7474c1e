"""The owner's webhook signing secret."""

from ninja import Router

from accounts.models import WebhookSecret
from api.responses import json_response

router = Router(tags=["webhooks"])


@router.get("/webhooks/default/secret")
def default_secret(request):
    return json_response({"key": WebhookSecret.for_user(request.owner).key})
