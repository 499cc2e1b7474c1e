"""Hardware a model can run on (edited in the admin)."""

from ninja import Router

from api.responses import json_response
from playground.models import Hardware

router = Router(tags=["hardware"])


@router.get("/hardware")
def list_hardware(request):
    """A bare array, not a page: that is what the clients read."""
    return json_response([hw.to_dict() for hw in Hardware.objects.all()])
