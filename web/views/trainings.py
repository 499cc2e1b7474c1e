"""A training's page (/t/<id>) and cancelling it; the Train tab that starts one is the model page's."""

from urllib.parse import urlencode

from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from playground.models import Training
from playground.services import runs, trainings
from web import presenters


def training_context(request, training: Training) -> dict:
    trained = training.trained_version
    return {
        "nav": "history",
        "training": training,
        "status_label": presenters.status_label(training),
        "waiting_for": presenters.waiting_for(training),
        "live": not training.is_terminal,
        "progress": presenters.training_progress(training.logs),
        "inputs": presenters.input_rows(training, request.user),
        "timings": presenters.timings(training),
        "stream_url": training.stream_path,
        "run_url": (f"{reverse('model', args=[trained.model.owner.username, trained.model.name])}"
                    f"?{urlencode({'version': trained.version_id})}") if trained else None,
    }


def training_page(request, training_id: str):
    """A training of one's own: live logs and progress while it runs, its new version when done."""
    training = trainings.get_own_training(request.user, training_id)
    return render(request, "playground/training.html", training_context(request, training))


@require_POST
def cancel(request, training_id: str):
    runs.cancel(trainings.get_own_training(request.user, training_id))
    return redirect("training", training_id=training_id)
