"""Forms of the spend pages: a range of days, a monthly limit, and (staff) a hardware price or any
account's limit. The rules they feed live in playground.services.billing."""

import datetime as dt
from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError

from accounts.models import User
from playground.models import Hardware
from playground.services import spend_reports

MAX_LIMIT = Decimal(1000000000)


class RangeForm(forms.Form):
    """`start` and `end` (days, both included); this month when missing. Never invalid for the page:
    `range()` falls back to this month and the errors say what was wrong."""

    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, data=None, **kwargs):
        start, end = spend_reports.this_month()
        data = data if data and (data.get("start") or data.get("end")) else None
        super().__init__(data, initial={"start": start, "end": end}, **kwargs)

    def clean(self):
        cleaned = super().clean()
        default_start, default_end = spend_reports.this_month()
        start = cleaned.get("start") or default_start
        end = cleaned.get("end") or default_end
        if end < start:
            raise ValidationError("The end is before the start.", code="order")
        if (end - start).days >= spend_reports.MAX_DAYS:
            raise ValidationError(f"Choose at most {spend_reports.MAX_DAYS} days.", code="too_long")
        cleaned["start"], cleaned["end"] = start, end
        return cleaned

    def range(self) -> tuple[dt.date, dt.date]:
        if self.is_bound and self.is_valid():
            return self.cleaned_data["start"], self.cleaned_data["end"]
        return spend_reports.this_month()


class LimitForm(forms.Form):
    """A monthly limit in dollars; empty lifts it."""

    monthly_limit = forms.DecimalField(
        label="Monthly limit (USD)", required=False, min_value=Decimal(0), max_value=MAX_LIMIT, max_digits=14,
        decimal_places=2, widget=forms.NumberInput(attrs={"step": "0.01", "min": "0", "inputmode": "decimal"}),
        help_text="New runs are refused once this month's spend reaches it. Leave empty for no limit.")


class PriceForm(forms.Form):
    hardware = forms.ModelChoiceField(queryset=Hardware.objects.order_by("sku"), to_field_name="sku")
    price_per_second = forms.DecimalField(
        label="Price per second (USD)", min_value=Decimal(0), max_digits=12, decimal_places=8,
        widget=forms.NumberInput(attrs={"step": "0.00000001", "min": "0", "inputmode": "decimal"}),
        help_text="Applies to runs that start from now on; runs started before keep their price.")


class AccountLimitForm(LimitForm):
    account = forms.CharField(label="Account", max_length=150, help_text="A person's or an organization's username.")

    field_order = ("account", "monthly_limit")

    def clean_account(self) -> User:
        name = self.cleaned_data["account"].strip()
        account = User.objects.filter(username=name).first()
        if account is None:
            raise ValidationError(f"There is no account “{name}”.", code="unknown")
        return account
