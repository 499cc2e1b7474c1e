"""Spend pages: what an account spent (a person's own at /account/spend, an organization's at
/orgs/<name>/spend for its admins), its monthly limit, and the ledger as CSV; and the staff's
billing view at /admin/billing/ (every account's totals, hardware prices, any account's limit).

Amounts are shown only to whom they belong: a person sees their own, an organization's admins its
own (members get the site's 403, anyone else its 404), staff everything (anyone else the 404).
"""

import csv

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode

from accounts.models import Membership, User
from accounts.services import organization_for
from playground.errors import Forbidden
from playground.services import billing, spend_reports
from web import presenters
from web.forms.spend import AccountLimitForm, LimitForm, PriceForm, RangeForm


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_response(rows, filename: str) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse((writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _range_query(start, end) -> str:
    return urlencode({"start": start.isoformat(), "end": end.isoformat()})


def _money_rows(rows: list[dict], key: str = "date") -> list[dict]:
    return [{**row, "name": row[key], "shown": presenters.format_cost(row["cost"])} for row in rows]


# ---------------------------------------------------------------- an account's spend

def _org_as_admin(request: HttpRequest, name: str) -> User:
    org, membership = organization_for(name, request.user)  # NotFound (404) outside it
    if membership.role != Membership.Role.ADMIN:
        raise Forbidden("only an organization's admins see its spend")
    return org


def _spend_page(request: HttpRequest, account: User, page_url: str, csv_url: str,
                limit_form: LimitForm | None = None, status: int = 200) -> HttpResponse:
    range_form = RangeForm(request.GET)
    start, end = range_form.range()
    usage = spend_reports.usage(account, start, end)
    limit = billing.limit_of(account)
    days = usage.days
    context = {
        "nav": "account",
        "account": account,
        "is_org": account.is_organization,
        "page_url": page_url,
        "csv_url": f"{csv_url}?{_range_query(start, end)}",
        "range_form": range_form,
        "start": start,
        "end": end,
        "usage": usage,
        "total_shown": presenters.format_cost(usage.total),
        "month_spent": presenters.format_cost(billing.spent_this_month(account)),
        "notice": presenters.limit_notice(billing.notice(account)),
        "no_room": spend_reports.limit_reached(account) is not None,
        "limit": limit,
        "limit_form": limit_form or LimitForm(initial={"monthly_limit": limit.monthly_limit if limit else None}),
        "chart": presenters.spend_chart(days),
        "by_model": _money_rows(usage.by_model, "model"),
        "by_token": _money_rows(usage.by_token, "token"),
        "by_hardware": _money_rows(usage.by_hardware, "hardware"),
        "admin_of": [] if account.is_organization else list(
            request.user.member_of.active().filter(role=Membership.Role.ADMIN).select_related("organization")
            .order_by("organization__username")),
    }
    return render(request, "accounts/spend.html", context, status=status)


def _limit_post(request: HttpRequest, account: User, page_url: str, csv_url: str) -> HttpResponse:
    form = LimitForm(request.POST)
    if not form.is_valid():
        return _spend_page(request, account, page_url, csv_url, limit_form=form, status=400)
    amount = form.cleaned_data["monthly_limit"]
    try:
        billing.set_limit(account=account, monthly_limit=amount)
    except Forbidden as exc:
        form.add_error(None, str(exc))
        return _spend_page(request, account, page_url, csv_url, limit_form=form, status=403)
    if amount is None:
        messages.success(request, f"The monthly spend limit of {account.username} is lifted.")
    else:
        messages.success(request, f"The monthly spend limit of {account.username} is now ${amount:,.2f}.")
    return redirect(page_url)


@login_required
def account_spend(request: HttpRequest) -> HttpResponse:
    page_url, csv_url = reverse("account-spend"), reverse("account-spend-csv")
    if request.method == "POST":
        return _limit_post(request, request.user, page_url, csv_url)
    return _spend_page(request, request.user, page_url, csv_url)


@login_required
def account_spend_csv(request: HttpRequest) -> HttpResponse:
    return _ledger_csv(request, request.user)


@login_required
def org_spend(request: HttpRequest, name: str) -> HttpResponse:
    org = _org_as_admin(request, name)
    page_url, csv_url = reverse("organization-spend", args=[org.username]), reverse("organization-spend-csv",
                                                                                   args=[org.username])
    if request.method == "POST":
        return _limit_post(request, org, page_url, csv_url)
    return _spend_page(request, org, page_url, csv_url)


@login_required
def org_spend_csv(request: HttpRequest, name: str) -> HttpResponse:
    return _ledger_csv(request, _org_as_admin(request, name))


def _ledger_csv(request: HttpRequest, account: User | None) -> StreamingHttpResponse:
    start, end = RangeForm(request.GET).range()
    rows = spend_reports.entries(start, end, account).iterator(chunk_size=1000)
    whose = account.username if account is not None else "all"
    return _csv_response(presenters.spend_csv_rows(rows), f"cogmill-spend-{whose}-{start}-{end}.csv")


# ---------------------------------------------------------------- the staff's billing view

def _staff_only(view):
    def wrapped(request: HttpRequest, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        if not (request.user.is_active and request.user.is_staff):
            raise Http404("no such page")
        return view(request, *args, **kwargs)
    wrapped.__name__, wrapped.__doc__ = view.__name__, view.__doc__
    return wrapped


@_staff_only
def admin_billing(request: HttpRequest) -> HttpResponse:
    price_form = limit_form = None
    if request.method == "POST":
        # Staff see the view; changing a price or a limit takes the admin's permission for it.
        needed = "playground.change_hardware" if request.POST.get("action") == "price" else "playground.change_spendlimit"
        if not request.user.has_perm(needed):
            raise PermissionDenied(f"changing this needs the {needed} permission")
        if request.POST.get("action") == "price":
            price_form = PriceForm(request.POST, prefix="price")
            if price_form.is_valid():
                hardware, price = price_form.cleaned_data["hardware"], price_form.cleaned_data["price_per_second"]
                billing.set_price(hardware, price)
                messages.success(request, f"{hardware.sku} costs ${price}/s for runs that start from now on.")
                return redirect(f"{reverse('admin-billing')}#prices")
        else:
            limit_form = AccountLimitForm(request.POST, prefix="limit")
            if limit_form.is_valid():
                account, amount = limit_form.cleaned_data["account"], limit_form.cleaned_data["monthly_limit"]
                billing.set_limit(account=account, monthly_limit=amount, by_staff=True)
                messages.success(request, f"The monthly spend limit of {account.username} is "
                                          + ("lifted." if amount is None else f"now ${amount:,.2f}."))
                return redirect(f"{reverse('admin-billing')}#limits")
    range_form = RangeForm(request.GET)
    start, end = range_form.range()
    totals = spend_reports.site_totals(start, end)
    context = {
        "range_form": range_form,
        "start": start,
        "end": end,
        "totals": totals,
        "total_shown": presenters.format_cost(totals.total),
        "chart": presenters.spend_chart(totals.days),
        "by_owner": _money_rows(totals.by_owner, "owner"),
        "by_model": _money_rows(totals.by_model, "model"),
        "by_hardware": _money_rows(totals.by_hardware, "hardware"),
        "top_spenders": _money_rows(totals.top_spenders, "owner"),
        "days": _money_rows([day for day in totals.days if day["runs"]]),
        "csv_url": f"{reverse('admin-billing-csv')}?{_range_query(start, end)}",
        "prices": spend_reports.hardware_prices(),
        "limits": spend_reports.limits_set(),
        "price_form": price_form or PriceForm(prefix="price"),
        "limit_form": limit_form or AccountLimitForm(prefix="limit"),
    }
    return render(request, "billing/admin.html", context, status=400 if request.method == "POST" else 200)


@_staff_only
def admin_billing_csv(request: HttpRequest) -> StreamingHttpResponse:
    return _ledger_csv(request, None)
