"""Browser pages for one prediction (/p/<id>) and for the history of runs (/history)."""

import datetime as dt
import json
import mimetypes
from decimal import Decimal
from urllib.parse import urlencode, urlparse

import markdown
import nh3
from django import forms
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef, Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseStopPolling

from accounts.models import Membership
from playground import galleries, services
from playground.forms import input_kinds, prefill_url
from playground.models import Prediction, Status

HISTORY_PAGE_SIZE = 25
SECRET_MASK = "••••••••"


# ---------------------------------------------------------------- access

def can_view(user, prediction: Prediction) -> bool:
    """Who may read a prediction's page: its owner, teammates on their organization's model, and
    anyone it was shared with (public link, or an organization's gallery)."""
    if galleries.shared_with(user, prediction):
        return True
    if not user.is_authenticated:
        return False
    if prediction.owner_id == user.pk:
        return True
    return Membership.objects.filter(organization=prediction.model.owner_id, member=user).exists() and (
        Membership.objects.filter(organization=prediction.model.owner_id, member=prediction.owner_id).exists()
    )


def can_change(user, prediction: Prediction) -> bool:
    """Cancelling and removing data is the owner's call only."""
    return user.is_authenticated and prediction.owner_id == user.pk


def viewable_predictions(user) -> QuerySet:
    """What can_view allows, as a query: mine, and my teammates' runs of our organizations' models.

    Runs of an organization's public model by outsiders stay private to them.
    """
    teammate = Membership.objects.filter(organization=OuterRef("model__owner"), member=OuterRef("owner"))
    return Prediction.objects.filter(
        Q(owner=user) | (Q(model__owner__in=user.organizations()) & Exists(teammate))
    ).select_related("model__owner", "version", "owner")


def _get_viewable(request, prediction_id: str) -> Prediction:
    prediction = (
        Prediction.objects.select_related("model__owner", "model__hardware", "version", "owner")
        .filter(pk=prediction_id).first()
    )
    if prediction is None or not can_view(request.user, prediction):
        raise Http404("prediction not found")
    return prediction


# ---------------------------------------------------------------- output rendering

def output_kind(version) -> str:
    """How the version's Output schema is shown: text, file, files, or json."""
    out = version.output_schema()
    if out.get("type") == "string":
        return "file" if out.get("format") == "uri" else "text"
    if out.get("type") == "array":
        items = out.get("items") or {}
        if items.get("type") == "string" and items.get("format") == "uri":
            return "files"
        if out.get("x-cog-array-display") == "concatenate":
            return "text"
    return "json"


def media_kind(url: str) -> str:
    """image, audio, video or file, by the URL's file name."""
    mime = mimetypes.guess_type(urlparse(url).path)[0] or ""
    major = mime.split("/")[0]
    return major if major in ("image", "audio", "video") else "file"


def _file_entry(url: object) -> dict:
    url = str(url)
    return {"url": url, "kind": media_kind(url), "name": urlparse(url).path.rsplit("/", 1)[-1] or url}


def render_markdown(text: str) -> str:
    """Model output as Markdown, sanitized: never raw HTML from a model."""
    return nh3.clean(markdown.markdown(text, extensions=["fenced_code", "tables", "nl2br"]))


def output_view(prediction: Prediction) -> dict:
    """What the template needs to show the output as it is now."""
    kind = output_kind(prediction.version)
    out = prediction.output
    view = {"kind": kind, "empty": out is None or out == [] or out == ""}
    if kind == "text":
        text = "".join(str(c) for c in out) if isinstance(out, list) else ("" if out is None else str(out))
        view["text"] = text
        if prediction.status == Status.SUCCEEDED and text:
            view["html"] = render_markdown(text)
    elif kind in ("file", "files"):
        urls = out if isinstance(out, list) else ([] if out is None else [out])
        files = [_file_entry(u) for u in urls]
        view["images"] = [f for f in files if f["kind"] == "image"]
        view["others"] = [f for f in files if f["kind"] != "image"]
    else:
        view["json"] = "" if out is None else json.dumps(out, indent=2, ensure_ascii=False)
    return view


# ---------------------------------------------------------------- input, metrics, timings

def input_rows(prediction: Prediction) -> list[dict]:
    """Each input as shown: files as links (upload URLs made fetchable), secrets masked."""
    kinds = input_kinds(prediction.version.openapi_schema or {})
    shown = services.fetchable_input(prediction.input or {})
    rows = []
    for key, value in shown.items():
        kind = kinds.get(key)
        if kind == "secret":
            rows.append({"name": key, "kind": "secret", "value": SECRET_MASK})
        elif kind in ("file", "files"):
            urls = value if isinstance(value, list) else [value]
            rows.append({"name": key, "kind": "files", "files": [_file_entry(u) for u in urls]})
        elif isinstance(value, (dict, list)):
            rows.append({"name": key, "kind": "json", "value": json.dumps(value, indent=2, ensure_ascii=False)})
        else:
            rows.append({"name": key, "kind": "text", "value": json.dumps(value) if value is None or isinstance(value, bool) else value})
    return rows


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.2f}s" if seconds < 1 else f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m {secs:02d}s" if minutes < 60 else f"{minutes // 60}h {minutes % 60:02d}m"


def format_cost(amount: Decimal) -> str:
    """Dollars: cents for large amounts, enough digits to see fractions of a cent otherwise."""
    if amount >= 1:
        return f"${amount:,.2f}"
    text = f"{amount:.6f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"${whole}.{frac.ljust(2, '0')}"


def cost_of(prediction: Prediction) -> Decimal | None:
    predict_time = (prediction.metrics or {}).get("predict_time")
    hardware = prediction.model.hardware
    if predict_time is None or hardware is None:
        return None
    return Decimal(str(predict_time)) * hardware.price_per_second


def timings(prediction: Prediction) -> list[tuple[str, str]]:
    """Label and duration of each phase so far: queued, booting, running, total."""
    now = timezone.now()
    metrics = prediction.metrics or {}
    cold = metrics.get("cold_start_time")
    end = prediction.completed_at or now
    rows = []
    waited_until = prediction.started_at or (end if prediction.is_terminal else now)
    waited = (waited_until - prediction.created_at).total_seconds()
    if cold is not None:
        rows.append(("Queued", format_seconds(max(waited - cold, 0))))
        rows.append(("Booting (cold start)", format_seconds(cold)))
    else:
        rows.append(("Queued" if prediction.status == Status.STARTING else "Queued and booting",
                     format_seconds(waited)))
    if prediction.started_at:
        running = metrics.get("predict_time")
        if running is None:
            running = (end - prediction.started_at).total_seconds()
        rows.append(("Running" if not prediction.is_terminal else "Predict time", format_seconds(running)))
    total = metrics.get("total_time")
    if total is None:
        total = (end - prediction.created_at).total_seconds()
    rows.append(("Total" if prediction.is_terminal else "Elapsed", format_seconds(total)))
    return rows


def metrics_rows(prediction: Prediction) -> list[tuple[str, str]]:
    metrics = prediction.metrics or {}
    rows = []
    if "predict_time" in metrics:
        rows.append(("Predict time", format_seconds(metrics["predict_time"])))
    if "cold_start_time" in metrics:
        rows.append(("Cold start", format_seconds(metrics["cold_start_time"])))
    if "total_time" in metrics:
        rows.append(("Total time", format_seconds(metrics["total_time"])))
    cost = cost_of(prediction)
    if cost is not None:
        rows.append(("Cost", format_cost(cost)))
    skip = {"predict_time", "cold_start_time", "total_time"}
    rows += [(k.replace("_", " ").capitalize(), str(v)) for k, v in metrics.items() if k not in skip]
    return rows


# ---------------------------------------------------------------- the prediction page

def _status_label(prediction: Prediction) -> str:
    if prediction.status == Status.STARTING:
        return "queued" if prediction.cancel_requested_at is None else "canceling"
    if prediction.status == Status.PROCESSING and prediction.cancel_requested_at:
        return "canceling"
    return prediction.status


def prediction_context(request, prediction: Prediction) -> dict:
    return {
        "nav": "history",
        "prediction": prediction,
        "status_label": _status_label(prediction),
        "live": not prediction.is_terminal,
        "can_change": can_change(request.user, prediction),
        "output": output_view(prediction),
        "inputs": input_rows(prediction),
        "timings": timings(prediction),
        "metrics": metrics_rows(prediction),
        "tweak_url": prefill_url(prediction),
        "stream_url": f"/v1/predictions/{prediction.id}/stream",
    }


def prediction_page(request, prediction_id: str):
    """One prediction; while it runs, htmx polls `?part=status` and a script streams the output."""
    prediction = _get_viewable(request, prediction_id)
    context = prediction_context(request, prediction)
    part = request.GET.get("part")
    if request.htmx and part == "status":
        response = render(request, "playground/prediction.html#status", context)
        if prediction.is_terminal:
            # The final status replaces the polling element, and the body reloads once with the result.
            response.status_code = HttpResponseStopPolling.status_code
            response["HX-Trigger"] = "prediction-ended"
        return response
    if request.htmx and part == "body":
        return render(request, "playground/prediction.html#body", context)
    return render(request, "playground/prediction.html", context)


@require_POST
def cancel(request, prediction_id: str):
    prediction = _get_viewable(request, prediction_id)
    if not can_change(request.user, prediction):
        raise Http404("prediction not found")
    services.cancel_prediction(prediction)
    return redirect("prediction", prediction_id=prediction.id)


def remove_data(request, prediction_id: str):
    """GET asks to confirm; POST erases input, output and files (the row stays for billing)."""
    prediction = _get_viewable(request, prediction_id)
    if not can_change(request.user, prediction):
        raise Http404("prediction not found")
    error = None
    if request.method == "POST":
        try:
            services.remove_prediction_data(prediction)
        except services.Conflict as exc:
            error = str(exc)
        else:
            return HttpResponseRedirect(_safe_next(request.POST.get("next")) or f"/p/{prediction.id}")
    next_url = _safe_next(request.GET.get("next") or request.POST.get("next"))
    context = {"nav": "history", "prediction": prediction, "error": error, "next": next_url,
               "back": next_url or f"/p/{prediction.id}"}
    return render(request, "playground/prediction_remove.html", context, status=409 if error else 200)


def _safe_next(value: str | None) -> str:
    """Only local paths: a `next` must not send anyone to another site."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return ""


# ---------------------------------------------------------------- history

# htmx swaps the whole filter form with the results (so errors show in place); hx-preserve keeps
# what someone types meanwhile from being replaced by the answer to an earlier request.
_KEEP = {"hx-preserve": "true"}


class HistoryFilters(forms.Form):
    model = forms.CharField(required=False, max_length=201,
                            widget=forms.TextInput(attrs={**_KEEP, "placeholder": "owner/name"}))
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *Status.choices],
                               widget=forms.Select(attrs=_KEEP))
    created_after = forms.DateField(required=False, label="From",
                                    widget=forms.DateInput(attrs={**_KEEP, "type": "date"}))
    created_before = forms.DateField(required=False, label="To",
                                     widget=forms.DateInput(attrs={**_KEEP, "type": "date"}))
    q = forms.CharField(required=False, max_length=200, label="Input contains",
                        widget=forms.TextInput(attrs={**_KEEP, "type": "search", "placeholder": "Text in the input"}))

    def clean_model(self) -> str:
        value = self.cleaned_data["model"].strip()
        if value and value.count("/") != 1:
            raise forms.ValidationError("Write the model as owner/name.")
        return value

    def clean(self):
        cleaned = super().clean()
        after, before = cleaned.get("created_after"), cleaned.get("created_before")
        if after and before and after > before:
            self.add_error("created_before", "Pick a day on or after the “From” day.")
        return cleaned


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def filter_history(predictions: QuerySet, filters: dict) -> QuerySet:
    """Narrow predictions by cleaned HistoryFilters values; days are inclusive, in the site's time zone."""
    if model := filters.get("model"):
        owner, _, name = model.partition("/")
        predictions = predictions.filter(model__owner__username=owner, model__name=name)
    if status := filters.get("status"):
        predictions = predictions.filter(status=status)
    if after := filters.get("created_after"):
        predictions = predictions.filter(created_at__gte=_day_start(after))
    if before := filters.get("created_before"):
        predictions = predictions.filter(created_at__lt=_day_start(before + dt.timedelta(days=1)))
    if text := filters.get("q"):
        # SQLite keeps JSON with non-ASCII and quotes escaped; PostgreSQL's jsonb text does not: try both.
        escaped = json.dumps(text)[1:-1]
        predictions = predictions.annotate(input_text=Cast("input", TextField())).filter(
            Q(input_text__icontains=text) | Q(input_text__icontains=escaped)
        )
    return predictions


def history(request):
    if not request.user.is_authenticated:
        return redirect(f"/login?{urlencode({'next': request.get_full_path()})}")
    form = HistoryFilters(request.GET or None)
    predictions = viewable_predictions(request.user)
    if form.is_bound and form.is_valid():
        predictions = filter_history(predictions, form.cleaned_data)
    elif form.is_bound:
        predictions = predictions.none()
    page = Paginator(predictions.order_by("-created_at", "-id"), HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"nav": "history", "form": form, "page": page, "filtered": form.is_bound and form.has_changed()}
    template = "playground/history.html#history" if request.htmx else "playground/history.html"
    return render(request, template, context)
