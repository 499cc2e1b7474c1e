import datetime as dt

from django.utils import timezone
from ninja import Router
from ninja.errors import HttpError

from api.schemas import Account, Usage, problems
from playground.services import spend_reports

router = Router(tags=["account"])
MAX_USAGE_DAYS = spend_reports.MAX_DAYS


@router.get("/account", response={200: Account, **problems()})
def account(request):
    return request.owner.to_account_dict()


@router.get("/account/usage", response={200: Usage, **problems()})
def usage(request, start: str | None = None, end: str | None = None):
    """Cogmill's own: what your runs cost from `start` to `end` (dates, `YYYY-MM-DD`, both included;
    default: this month so far), in total, per day, and by model, hardware and API token."""
    today = timezone.localdate()
    first = _date(start, "start") if start else today.replace(day=1)
    last = _date(end, "end") if end else today
    if last < first:
        raise HttpError(400, "end must not be before start")
    if (last - first).days >= MAX_USAGE_DAYS:
        raise HttpError(400, f"ask for at most {MAX_USAGE_DAYS} days at a time")
    return spend_reports.usage(request.owner, first, last).to_dict()


def _date(value: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise HttpError(400, f"{name} must be a date like 2026-11-30") from None
