from ninja import Router

from api.responses import json_response

router = Router(tags=["account"])


@router.get("/account")
def account(request):
    return json_response(request.owner.to_account_dict())
