"""Deployments' pages: the list, creating one, a deployment's page (its release, live instances, the
last hour, its releases and a run form), changing it (each save is a new release) and deleting it.

Members of an organization see and run its deployments; only its admins change or delete them (the
service refuses the others, and Forbidden becomes a 403 page). Anyone else gets the site's 404.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseStopPolling

from playground.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from playground.models import Deployment, Source
from playground.services import deployments, files
from web import presenters
from web.forms.deployments import DeploymentForm
from web.forms.run import form_class, initial_values

DEPLOYMENTS_PAGE_SIZE = 25
RELEASES_SHOWN = 20
# The form's own pieces, fetched by htmx as its fields change (`?part=`).
FORM_PARTS = {"versions": "playground/_deployment_versions.html#field",
              "estimate": "playground/_deployment_cost.html#estimate"}


@login_required
def deployment_list(request):
    page = Paginator(deployments.deployments_for(request.user), DEPLOYMENTS_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"nav": "deployments", "page": page, "rows": presenters.deployment_rows(page.object_list)}
    return render(request, "playground/deployments.html", context)


@login_required
def deployment_new(request):
    """The create form; a deployment that is made goes to its page with release 1."""
    form_url = reverse("deployment-new")
    if part := _form_part(request, form_url, initial={"model": request.GET.get("model", "")}):
        return part
    form = DeploymentForm(request.user, request.POST or None, initial={"model": request.GET.get("model", "")})
    if request.method == "POST" and form.is_valid():
        try:
            deployment = deployments.create_deployment(request.user, **form.create_arguments())
        except Invalid as exc:
            form.add_domain_errors(exc.errors)
        except Conflict as exc:  # the name is taken
            form.add_error("name", f"{exc}: pick another name.")
        else:
            messages.success(request, f"{deployment.full_name} is created: release 1 is live.")
            return _to_page(deployment)
    context = {"nav": "deployments", "form": form, "form_url": form_url, **_estimate(form)}
    return render(request, "playground/deployments_new.html", context,
                  status=422 if request.method == "POST" else 200)


@login_required
def deployment_page(request, owner: str, name: str):
    """One deployment; htmx polls `?part=instances` for its instance table."""
    if request.htmx and request.GET.get("part") == "instances":
        try:
            deployment = deployments.get_deployment(request.user, owner, name)
        except NotFound:
            return HttpResponseStopPolling()  # deleted meanwhile: the table stays as it was
        return render(request, "playground/_deployment_instances.html", _instances(request, deployment))
    deployment = deployments.get_deployment(request.user, owner, name)
    return render(request, "playground/deployments_detail.html", _page_context(request, deployment))


@require_POST
@login_required
def run(request, owner: str, name: str):
    """The run form's target: a prediction through the deployment, then its page."""
    deployment = deployments.get_deployment(request.user, owner, name)
    version = deployment.current_release.version if deployment.current_release else None
    if version is None or not version.is_ready:
        messages.error(request, f"{deployment.full_name} has no release ready to run.")
        return _to_page(deployment)
    form = form_class(version.schema)(request.POST, request.FILES)
    if form.is_valid():
        try:
            prediction = deployments.create_prediction(
                request.user, deployment, form.to_input(_uploader(request)), source=Source.WEB)
        except Invalid as exc:
            form.add_input_errors(exc.errors)
        except DomainError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("prediction", prediction_id=prediction.id)
    return render(request, "playground/deployments_detail.html", _page_context(request, deployment, form),
                  status=422)


@login_required
def deployment_edit(request, owner: str, name: str):
    """Change what it runs, its hardware or its instances: each save is its next release."""
    deployment = _changeable(request, owner, name)
    form_url = reverse("deployment-edit", args=[owner, name])
    if part := _form_part(request, form_url, deployment=deployment):
        return part
    form = DeploymentForm(request.user, request.POST or None, deployment=deployment)
    if request.method == "POST" and form.is_valid() and not form.changes_anything():
        messages.info(request, f"Nothing changed: release {deployment.current_release.number} stays live.")
        return _to_page(deployment)
    if request.method == "POST" and form.is_valid():
        try:
            deployments.update_deployment(request.user, deployment, form.changes())
        except Invalid as exc:
            form.add_domain_errors(exc.errors)
        else:
            messages.success(request, f"Release {deployment.current_release.number} is live.")
            return _to_page(deployment)
    context = {"nav": "deployments", "deployment": deployment, "form": form, "form_url": form_url, **_estimate(form)}
    return render(request, "playground/deployments_edit.html", context,
                  status=422 if request.method == "POST" else 200)


@login_required
def deployment_delete(request, owner: str, name: str):
    """GET asks to confirm; POST deletes it (refused while runs made through it are still going)."""
    deployment = _changeable(request, owner, name)
    error = None
    if request.method == "POST":
        try:
            deployments.delete_deployment(request.user, deployment)
        except Conflict as exc:
            error = str(exc)
        else:
            messages.success(request, f"{deployment.full_name} is deleted; its instances stop.")
            return redirect("deployments")
    context = {"nav": "deployments", "deployment": deployment, "error": error}
    return render(request, "playground/deployments_delete.html", context, status=409 if error else 200)


# ---------------------------------------------------------------- helpers

def _changeable(request, owner: str, name: str) -> Deployment:
    """The deployment, if the user may change it: 404 if they may not see it, 403 if only see it."""
    deployment = deployments.get_deployment(request.user, owner, name)
    if not deployments.can_change(request.user, deployment):
        raise Forbidden(f"only admins of {deployment.owner.username} can change {deployment.full_name}")
    return deployment


def _to_page(deployment: Deployment):
    return redirect("deployment", owner=deployment.owner.username, name=deployment.name)


def _form_part(request, form_url: str, **form_options):
    """The version picker or the cost estimate for the values typed so far (htmx, `?part=`)."""
    template = FORM_PARTS.get(request.GET.get("part", "")) if request.htmx and request.method == "GET" else None
    if template is None:
        return None
    typed = {key: value for key, value in request.GET.items() if key != "part"}
    initial = {**form_options.pop("initial", {}), **typed}
    form = DeploymentForm(request.user, initial=initial, **form_options)
    return render(request, template, {"form": form, "form_url": form_url, **_estimate(form)})


def _estimate(form: DeploymentForm) -> dict:
    return {"estimate": presenters.cost_estimate(*form.estimate_inputs())}


def _instances(request, deployment: Deployment) -> dict:
    rows = presenters.instance_rows(deployments.instances_of(deployment), request.user)
    return {"deployment": deployment, "instances": rows}


def _page_context(request, deployment: Deployment, run_form=None) -> dict:
    release = deployment.current_release
    version = release.version if release else None
    if run_form is None and version is not None and version.is_ready:
        form_cls = form_class(version.schema)
        run_form = form_cls(initial=initial_values(version.schema, form_cls, request.GET))
    return {
        "nav": "deployments",
        "deployment": deployment,
        "release": release,
        "cost": presenters.hourly_cost(release) if release else None,
        "stats": presenters.deployment_stats(deployments.stats(deployment)),
        "releases": deployments.release_history(deployment)[:RELEASES_SHOWN],
        "form": run_form,
        "can_change": deployments.can_change(request.user, deployment),
        **_instances(request, deployment),
    }


def _uploader(request):
    """How the run form's files become inputs: each stored as an upload of the user's, given as its URL."""
    return lambda f: files.create_upload(request.user, f, None).api_url
