"""Reports over the spend ledger for the spend pages: an account's entries for a range of days (the
CSV export), the whole site's totals by owner, model, hardware and day (the admin's billing view),
and the one cheap question every page asks (is the viewer's own limit reached?).

It only reads: the ledger is written by `billing.record`, prices by `billing.set_price` and limits
by `billing.set_limit`.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db.models import Count, DecimalField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from accounts.models import User
from playground.models import Hardware, SpendEntry, SpendLimit
from playground.services import billing

TOP_SPENDERS = 10
MAX_DAYS = 366  # the longest range a page draws day by day
ZERO = Decimal(0)


def this_month(today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The default range: the first of this month to today (local time)."""
    today = today or timezone.localdate()
    return today.replace(day=1), today


def _bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    zone = timezone.get_current_timezone()
    return (dt.datetime.combine(start, dt.time.min, zone),
            dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, zone))


def entries(start: dt.date, end: dt.date, account: User | None = None):
    """The ledger from `start` to `end` (days, both included), oldest first; every account's when
    `account` is None (staff only)."""
    since, until = _bounds(start, end)
    rows = SpendEntry.objects.filter(created_at__gte=since, created_at__lt=until)
    if account is not None:
        rows = rows.filter(account=account)
    return rows.order_by("created_at", "id")


@dataclass
class SiteTotals:
    start: dt.date
    end: dt.date
    total: Decimal
    runs: int
    days: list[dict]
    by_owner: list[dict]
    by_model: list[dict]
    by_hardware: list[dict]
    top_spenders: list[dict]


def site_totals(start: dt.date, end: dt.date) -> SiteTotals:
    """Every account's ledger for the range: totals, each day, and by owner (the account billed),
    model and hardware; the top spenders are the first owners."""
    rows = entries(start, end).order_by()
    totals = rows.aggregate(cost=Sum("cost"), runs=Count("id"))
    owners = _by(rows, "account__username", "owner")
    return SiteTotals(start, end, totals["cost"] or ZERO, totals["runs"], _days(rows, start, end), owners,
                      _by(rows, "model", "model"), _by(rows, "hardware", "hardware"), owners[:TOP_SPENDERS])


def _days(rows, start: dt.date, end: dt.date) -> list[dict]:
    """Each day of the range with its cost, runs and seconds (zero on days without any)."""
    per_day = {row["day"]: row for row in rows.annotate(day=TruncDate("created_at")).values("day").annotate(
        cost=Sum("cost"), runs=Count("id"), seconds=Sum("seconds"))}
    days = []
    day = start
    while day <= end:
        row = per_day.get(day) or {"cost": ZERO, "runs": 0, "seconds": ZERO}
        days.append({"date": day, "cost": row["cost"], "runs": row["runs"], "seconds": row["seconds"]})
        day += dt.timedelta(days=1)
    return days


def _by(rows, field: str, name: str) -> list[dict]:
    """The rows grouped by `field`, costliest first, the group's value under `name`."""
    grouped = rows.values(field).annotate(cost=Sum("cost"), runs=Count("id"), seconds=Sum("seconds"))
    return [{name: row[field], "cost": row["cost"], "runs": row["runs"], "seconds": row["seconds"]}
            for row in grouped.order_by("-cost", field)]


# ---------------------------------------------------------------- an account's usage (API and pages)

def dollars(amount: Decimal) -> str:
    """An amount as the ledger keeps it: eight decimal places."""
    return str(Decimal(amount).quantize(billing.LEDGER_PLACES, ROUND_HALF_UP))


@dataclass
class Usage:
    start: dt.date
    end: dt.date
    total: Decimal
    runs: int
    days: list[dict]
    by_model: list[dict]
    by_hardware: list[dict]
    by_token: list[dict]

    def to_dict(self) -> dict:
        """`GET /v1/account/usage`: amounts as decimal strings, seconds to the millisecond."""
        def wire(rows: list[dict], keep: tuple[str, ...]) -> list[dict]:
            return [{**{k: row[k] for k in keep}, "cost": dollars(row["cost"]), "runs": row["runs"]} for row in rows]

        days = [{"date": day["date"].isoformat(), "cost": dollars(day["cost"]), "runs": day["runs"],
                 "seconds": str(Decimal(day["seconds"] or 0).quantize(billing.SECOND_PLACES))} for day in self.days]
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "currency": "usd",
                "total": dollars(self.total), "runs": self.runs, "days": days,
                "by_model": wire(self.by_model, ("model",)), "by_hardware": wire(self.by_hardware, ("hardware",)),
                "by_token": wire(self.by_token, ("token",))}


def usage(account: User, start: dt.date, end: dt.date) -> Usage:
    """The account's ledger from `start` to `end` (days, both included): totals, each day, and by
    model, hardware and API token (`web` for runs started from pages)."""
    rows = entries(start, end, account).order_by()
    totals = rows.aggregate(cost=Sum("cost"), runs=Count("id"))
    tokens = [{**row, "token": row["token"] or "web"} for row in _by(rows, "token_name", "token")]
    return Usage(start, end, totals["cost"] or ZERO, totals["runs"], _days(rows, start, end),
                 _by(rows, "model", "model"), _by(rows, "hardware", "hardware"), tokens)


def limits_set() -> list[SpendLimit]:
    """The accounts' monthly limits in force, by account name."""
    return list(SpendLimit.objects.filter(account__isnull=False, monthly_limit__isnull=False)
                .select_related("account").order_by("account__username"))


def hardware_prices() -> list[dict]:
    """Each SKU with its price now and its last few prices (newest first)."""
    listed = []
    for hardware in Hardware.objects.order_by("sku").prefetch_related("prices"):
        history = list(hardware.prices.all()[:5])
        listed.append({"hardware": hardware, "history": history,
                       "per_hour": f"${hardware.price_per_hour:,.2f}"})
    return listed


def limit_reached(user) -> dict | None:
    """Whether a person's own monthly limit leaves no room for another run: this month's ledger has
    reached it, or is too close to it to hold even the cheapest hardware's reservation
    (COGMILL_SPEND_RESERVE_SECONDS). One query; None when it has room or there is no limit."""
    if not getattr(user, "is_authenticated", False):
        return None
    spent = (SpendEntry.objects.filter(account=OuterRef("account"), created_at__gte=billing.month_start())
             .order_by().values("account").annotate(total=Sum("cost")).values("total"))
    money = DecimalField(max_digits=18, decimal_places=8)
    row = (SpendLimit.objects.filter(account_id=user.pk, monthly_limit__isnull=False)
           .annotate(spent=Coalesce(Subquery(spent, output_field=money), Value(ZERO), output_field=money),
                     cheapest=Subquery(Hardware.objects.order_by("price_per_second").values("price_per_second")[:1],
                                       output_field=money))
           .values("monthly_limit", "spent", "cheapest").first())
    if row is None:
        return None
    limit, spent = row["monthly_limit"], Decimal(row["spent"] or 0)
    reserve = Decimal(row["cheapest"] or 0) * Decimal(str(settings.COGMILL_SPEND_RESERVE_SECONDS))
    if spent >= limit or spent + reserve > limit:
        return {"limit": limit, "spent": spent}
    return None
