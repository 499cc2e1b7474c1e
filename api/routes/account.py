from ninja import Router

from api.schemas import Account, problems

router = Router(tags=["account"])


@router.get("/account", response={200: Account, **problems()})
def account(request):
    return request.owner.to_account_dict()
