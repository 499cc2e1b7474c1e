"""A prediction's page (/p/<id>), cancelling it, removing its data, and the history of runs."""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseStopPolling, trigger_client_event

from playground.errors import Conflict, DomainError
from playground.models import Prediction, Source
from playground.services import runs, trainings
from web import presenters
from web.forms.history import HistoryFilters
from web.redirects import safe_next
from web.throttle import create_refusal

HISTORY_PAGE_SIZE = 25
TRAININGS_SHOWN = 10


def prediction_context(request, prediction: Prediction) -> dict:
    return {"nav": "history", **run_panel_context(request, prediction),
            "can_run_again": runs.can_change(request.user, prediction) and runs.can_run_again(request.user, prediction)}


def status_context(request, prediction: Prediction) -> dict:
    """What the status panel shows (polled each second while a run goes): its state and its times."""
    return {
        "prediction": prediction,
        "status_label": presenters.status_label(prediction),
        "waiting_for": presenters.waiting_for(prediction),
        "live": not prediction.is_terminal,
        "can_change": runs.can_change(request.user, prediction),
        "timings": presenters.timings(prediction),
        "elapsed_seconds": (timezone.now() - prediction.created_at).total_seconds(),
    }


def run_panel_context(request, prediction: Prediction) -> dict:
    """What shows a run: on its page, and in the model page's output panel."""
    inputs = presenters.input_rows(prediction, request.user)
    return {
        **status_context(request, prediction),
        "output": presenters.output_view(prediction, inputs),
        "inputs": inputs,
        "metrics": presenters.metrics_rows(prediction),
        "tweak_url": presenters.prefill_url(prediction),
        "stream_url": prediction.stream_path,
    }


def _api_json(request, prediction: Prediction) -> str | None:
    """For its owner, once it has ended: the prediction as the API answers them, highlighted (escaped)."""
    if not prediction.is_terminal or not runs.can_change(request.user, prediction):
        return None
    return presenters.highlight(presenters.api_json(prediction), "json")


def prediction_page(request, prediction_id: str):
    """One prediction; while it runs, htmx polls `?part=status` and a script streams the output."""
    prediction = runs.get_viewable(request.user, prediction_id)
    part = request.GET.get("part")
    if request.htmx and part == "status":  # each second: no output, files or inputs read for it
        response = render(request, "playground/prediction.html#status", status_context(request, prediction))
        if prediction.is_terminal:
            # The final status replaces the polling element, and the body reloads once with the result.
            response.status_code = HttpResponseStopPolling.status_code
            response["HX-Trigger"] = "prediction-ended"
        return response
    context = prediction_context(request, prediction)
    if request.htmx and part == "panel":  # the model page's output panel, once the run has ended
        return render(request, "playground/_run_panel.html#panel-body", context)
    context["api_json"] = _api_json(request, prediction)
    if request.htmx and part == "body":
        return render(request, "playground/prediction.html#body", context)
    return render(request, "playground/prediction.html", context)


@require_POST
def run_again(request, prediction_id: str):
    """The owner runs the same version with the same input again, and goes to the new run's page.
    A refusal (the version is gone, an uploaded file has expired, a limit) is said on this page."""
    prediction = runs.get_changeable(request.user, prediction_id)
    if not runs.can_run_again(request.user, prediction):
        messages.error(request, "This prediction cannot be run again as it was: use “Tweak it” to run its model "
                                "with a new form.")
        return redirect("prediction", prediction_id=prediction.id)
    if limited := create_refusal(request.user, settings.COGMILL_RATE_LIMIT_CREATES_PER_MINUTE):
        messages.error(request, limited)
        return redirect("prediction", prediction_id=prediction.id)
    try:
        again = runs.create_prediction(request.user, prediction.version, prediction.input, source=Source.WEB)
    except DomainError as exc:
        messages.error(request, f"It could not run again: {exc}")
    else:
        return redirect("prediction", prediction_id=again.id)
    return redirect("prediction", prediction_id=prediction.id)


@require_POST
def cancel(request, prediction_id: str):
    prediction = runs.cancel(runs.get_changeable(request.user, prediction_id))
    if request.htmx:  # from the output panel or the page's status: it polls, and looks again at once
        return trigger_client_event(HttpResponse(status=204), "progress")
    return redirect("prediction", prediction_id=prediction.id)


def remove_data(request, prediction_id: str):
    """GET asks to confirm; POST erases input, output and files (the row stays for billing)."""
    prediction = runs.get_changeable(request.user, prediction_id)
    page = reverse("prediction", args=[prediction.id])
    error = None
    if request.method == "POST":
        try:
            runs.remove_prediction_data(prediction)
        except Conflict as exc:
            error = str(exc)
        else:
            return HttpResponseRedirect(safe_next(request, request.POST.get("next")) or page)
    next_url = safe_next(request, request.GET.get("next") or request.POST.get("next"))
    context = {"nav": "history", "prediction": prediction, "error": error, "next": next_url,
               "back": next_url or page}
    return render(request, "playground/prediction_remove.html", context, status=409 if error else 200)


def history(request):
    if not request.user.is_authenticated:
        return redirect(f"{reverse('login')}?{urlencode({'next': request.get_full_path()})}")
    form = HistoryFilters(request.GET or None)
    predictions = runs.viewable_predictions(request.user)
    if form.is_bound and form.is_valid():
        predictions = runs.filter_history(predictions, form.cleaned_data)
    elif form.is_bound:
        predictions = predictions.none()
    page = Paginator(predictions.order_by("-created_at", "-id"), HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"nav": "history", "form": form, "page": page, "filtered": form.is_bound and form.has_changed(),
               "trainings": trainings.trainings_for(request.user)[:TRAININGS_SHOWN]}
    template = "playground/history.html#history" if request.htmx else "playground/history.html"
    return render(request, template, context)
