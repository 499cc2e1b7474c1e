"""Hardware a model can run on (edited in the admin)."""

from ninja import Router

from api.schemas import Hardware as HardwareOut
from api.schemas import problems
from playground.models import Hardware

router = Router(tags=["hardware"])


@router.get("/hardware", response={200: list[HardwareOut], **problems()})
def list_hardware(request):
    """A bare array, not a page: that is what the clients read."""
    return [hw.to_dict() for hw in Hardware.objects.all()]
