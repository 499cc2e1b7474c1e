"""Explore (the models grid) and a model's page: tabs to run it (the form beside an output panel that
follows the run), call it (API snippets), see its examples, its README and versions or, when it has a
train(), fine-tune it."""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.paginator import Paginator
from django.http import QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.datastructures import MultiValueDict
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect, HttpResponseClientRefresh, push_url, reswap, retarget

from playground.errors import DomainError, Invalid, NotFound
from playground.models import BuildStatus, Model, Prediction, Source, Version
from playground.services import catalog, files, runs, trainings
from web import presenters, snippets
from web.forms.model_settings import VISIBILITY_HELP, ExamplesForm, ModelDetailsForm
from web.forms.run import EXAMPLE_SUFFIX, form_class, initial_values
from web.forms.training import DestinationForm
from web.snippets import FileArg
from web.throttle import create_refusal
from web.views.predictions import run_panel_context

EXPLORE_PAGE_SIZE = 24
FILTERS = ("all", "public", "mine")
MODEL_TABS = ("playground", "api", "examples", "train", "readme", "versions", "settings")
TAB_LABELS = {"playground": "Playground", "api": "API", "examples": "Examples", "train": "Train", "readme": "README",
              "versions": "Versions", "settings": "Settings"}
EXAMPLE_CANDIDATES = 24
NOT_CARRIED = ("tab", "version", "part", "prediction")  # the query's keys that are not run-form values
VERSIONS_SHOWN = 20
BUILDS_SHOWN = 5


def explore(request):
    """Models grid with search, collections and a public/mine filter (GET form, works without JS), and
    the models still being built, followed every few seconds."""
    part = request.GET.get("part") if request.htmx else None
    coming = [] if request.htmx and part != "coming" else presenters.coming_builds(catalog.coming(request.user),
                                                                                  request.user)
    if part == "coming":
        if set(request.GET.get("seen", "").split(",")) - {c["key"] for c in coming} - {""}:
            return HttpResponseClientRefresh()  # one it listed is ready (or failed): the grid changes
        return render(request, "playground/explore.html#coming", {"coming": coming})
    text = request.GET.get("q", "").strip()
    chosen = request.GET.get("filter", "all")
    if chosen not in FILTERS:
        chosen = "all"
    models = catalog.explore(request.user, text, chosen)
    collection = None
    if slug := request.GET.get("collection"):
        collection = catalog.find_collection(slug)
        if collection is not None:
            models = models.filter(collections=collection)
    page = Paginator(models, EXPLORE_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "nav": "explore",
        "page": page,
        "cards": presenters.model_cards(page.object_list),
        "q": text,
        "filter": chosen,
        "filters": FILTERS,
        "collections": catalog.all_collections(),
        "collection": collection,
        "coming": coming,
    }
    template = "playground/explore.html#results" if request.htmx else "playground/explore.html"
    return render(request, template, context)


def model_page(request, owner: str, name: str):
    model = catalog.get_model(request.user, f"{owner}/{name}", for_display=True)
    if request.htmx and request.GET.get("part") == "builds":
        builds = _builds(request, model)
        response = render(request, "playground/_model_builds.html", builds)
        if not builds.get("building"):
            response["HX-Refresh"] = "true"  # a build ended: its version (or error) shows on the whole page
        return response
    version = _selected_version(request, model)
    if request.method == "POST":
        return _run(request, model, version)
    tab = request.GET.get("tab", "playground")
    if tab not in _tabs(version, model, request.user):
        tab = "playground"
    if tab == "train":
        form, destination = _train_forms(request, version)
        return _render_model(request, model, version, form, tab, destination_form=destination)
    form = None
    shown, example = _shown_run(request, model, version) if tab == "playground" else (None, False)
    if shown is not None and not example and "version" not in request.GET and not shown.version.hidden:
        version = shown.version  # the form that made it, not the latest one's
    if version is not None and version.is_ready:
        form_cls = form_class(version.schema)
        values, example_files = request.GET, {}
        if shown is not None and shown.version_id == version.pk:
            # The form that made the run shown (unless the address fills it), its files offered too.
            if not any(key not in NOT_CARRIED for key in request.GET):
                values = QueryDict(urlencode(presenters.prefill_query(shown)))
            example_files = presenters.offered_files(shown, request.user)
        form = form_cls(initial=initial_values(version.schema, form_cls, values), example_files=example_files)
    return _render_model(request, model, version, form, tab, shown=shown, example=example)


def _shown_run(request, model: Model, version: Version | None) -> tuple[Prediction | None, bool]:
    """The run shown in the output panel, and whether it is the model's default example: with
    `?prediction=<id>`, that run of this model if the viewer may see it (the URL the page moves to once
    the form has started a run, so a reload shows it again); without, the default example, as
    Replicate's model pages open: whoever sees the model sees it (its Examples tab and the API's
    `default_example` show it too), unless the page is of another version than the example's."""
    prediction_id = request.GET.get("prediction")
    if not prediction_id:
        example = model.default_example
        if example is None or example.data_removed or (
                "version" in request.GET and version is not None and example.version_id != version.pk):
            return None, False
        return example, True
    try:
        prediction = runs.get_viewable(request.user, prediction_id)
    except NotFound:
        return None, False
    return (prediction, False) if prediction.model_id == model.pk else (None, False)


@require_POST
def predict(request, owner: str, name: str):
    """The run form's target (the model page itself takes the same POST)."""
    model = catalog.get_model(request.user, f"{owner}/{name}", for_display=True)
    return _run(request, model, _selected_version(request, model))


@require_POST
def train(request, owner: str, name: str):
    """The Train tab's target: start a training of the selected version, then show its page."""
    model = catalog.get_model(request.user, f"{owner}/{name}", for_display=True)
    version = _selected_version(request, model)
    if not request.user.is_authenticated:
        return redirect(f"{reverse('login')}?{urlencode({'next': _page_path(model, version, tab='train')})}")
    if "train" not in _tabs(version, model, request.user):
        messages.error(request, f"{model.full_name} has no version ready to train.")
        return redirect(_page_path(model, version))
    form, destination = _train_forms(request, version, request.POST, request.FILES)
    ready = form.is_valid() and destination.is_valid()
    if ready and (limited := create_refusal(request.user, settings.COGMILL_RATE_LIMIT_CREATES_PER_MINUTE)):
        form.add_error(None, limited)
        return _render_model(request, model, version, form, "train", status=429, destination_form=destination)
    if ready:
        ref, new = destination.target()
        training = _created(form, lambda: trainings.create_training(
            request.user, version, ref, form.to_input(_uploader(request)), source=Source.WEB, new_destination=new,
        ))
        if training is not None:
            return redirect("training", training_id=training.id)
    return _render_model(request, model, version, form, "train", status=422, destination_form=destination)


@require_POST
def network(request, owner: str, name: str):
    """The owner turns the model's internet access on or off (its next runs get it)."""
    if not request.user.is_authenticated:
        return redirect(f"{reverse('login')}?{urlencode({'next': reverse('model', args=[owner, name])})}")
    model = catalog.owned_model(request.user, f"{owner}/{name}")
    allowed = request.POST.get("internet_access") == "on"
    catalog.update_model(model, {"internet_access": allowed})
    messages.success(request, f"Internet access for {model.full_name} is {'on' if allowed else 'off'}: "
                              "it applies from its next run.")
    return redirect(_page_path(model, None, tab="settings") + "#network")


@require_POST
def model_settings(request, owner: str, name: str):
    """The Settings tab's forms: the details (or a preview of the README typed), or the examples. Saved,
    it goes back to the tab with a message; refused, the tab shows the errors beside their fields."""
    if not request.user.is_authenticated:
        return redirect(f"{reverse('login')}?{urlencode({'next': reverse('model', args=[owner, name])})}")
    model = catalog.owned_model(request.user, f"{owner}/{name}")
    version = model.latest_version()
    section = request.POST.get("section")
    forms = _settings_forms(model, request.POST if section == "details" else None,
                            request.POST if section == "examples" else None)
    form = forms["details_form"] if section == "details" else forms["examples_form"]
    if section == "details" and request.POST.get("action") == "preview":
        forms["readme_preview"] = presenters.render_markdown(request.POST.get("readme", ""), line_breaks=False)
        return _render_model(request, model, version, None, "settings", settings_forms=forms)
    if form.is_valid():
        try:
            catalog.update_model(model, form.changes())
        except Invalid as exc:
            form.add_domain_errors(exc.errors)
        else:
            messages.success(request, f"Saved the {'details' if section == 'details' else 'examples'} of "
                                      f"{model.full_name}.")
            return redirect(_page_path(model, None, tab="settings"))
    return _render_model(request, model, version, None, "settings", status=422, settings_forms=forms)


def _settings_forms(model: Model, details=None, examples=None) -> dict:
    """The Settings tab's two forms, bound to what was posted for the one being saved."""
    candidates = list(catalog.example_candidates(model, EXAMPLE_CANDIDATES))
    covers = presenters.cover_choices(candidates)
    return {
        "details_form": ModelDetailsForm(model, covers, details),
        "examples_form": ExamplesForm(model, candidates, examples),
        "example_rows": [{"prediction": p, "preview": presenters.output_preview(p)} for p in candidates],
        "visibility_help": VISIBILITY_HELP,
    }


def _tabs(version: Version | None, model: Model, user) -> tuple[str, ...]:
    """The tabs a version has: Train only when it is ready and has a train(); Settings for the owner."""
    trainable = version is not None and version.is_ready and version.schema.trainable
    owner = user.is_authenticated and model.owner_id == user.pk
    return tuple(tab for tab in MODEL_TABS
                 if (tab != "train" or trainable) and (tab != "settings" or owner))


def _train_forms(request, version: Version, data=None, file_data=None):
    """The Train tab's forms: the training's inputs (its TrainingInput) and where it goes."""
    schema = version.schema.for_training()
    form_cls = form_class(schema)
    form = form_cls(data, file_data) if data is not None else form_cls(initial=initial_values(schema, form_cls,
                                                                                            request.GET))
    destination = None
    if request.user.is_authenticated:
        destination = DestinationForm(request.user, data, suggested=f"{version.model.name}-tuned")
    return form, destination


def _selected_version(request, model: Model) -> Version | None:
    """`?version=<id>` (404 if it is not one of the model's), else the latest ready version."""
    version_id = request.GET.get("version")
    if not version_id:
        return model.latest_version()
    return catalog.get_listed_version(model, version_id)


def _model_url(model: Model) -> str:
    return reverse("model", args=[model.owner.username, model.name])


def _page_path(model: Model, version: Version | None, **params: str) -> str:
    query = {"version": version.version_id} if version else {}
    path = _model_url(model)
    return f"{path}?{urlencode({**query, **params})}" if query or params else path


def _run(request, model: Model, version: Version | None):
    """Validate with the API's validator, upload the files and create the prediction. From the page's
    script (htmx) the answer is the output panel, following the run, and the form stays as it was;
    a plain form post goes to the prediction's page."""
    if not request.user.is_authenticated:
        return _go(request, f"{reverse('login')}?{urlencode({'next': _page_path(model, version)})}")
    if version is None or not version.is_ready:
        messages.error(request, f"{model.full_name} has no version ready to run yet.")
        return _go(request, _page_path(model, version))
    form = form_class(version.schema)(request.POST, example_uploads(request, model, version))
    if form.is_valid() and (limited := create_refusal(request.user, settings.COGMILL_RATE_LIMIT_CREATES_PER_MINUTE)):
        form.add_error(None, limited)
        return _refused(request, model, version, form, status=429)
    if form.is_valid():
        prediction = _created(form, lambda: runs.create_prediction(
            request.user, version, form.to_input(_uploader(request)), source=Source.WEB,
        ))
        if prediction is not None and request.htmx:
            response = render(request, "playground/_run_panel.html", run_panel_context(request, prediction))
            return push_url(response, _page_path(model, version, prediction=prediction.id))
        if prediction is not None:
            return redirect("prediction", prediction_id=prediction.id)
    return _refused(request, model, version, form, status=422)


def example_uploads(request, model: Model, version: Version) -> MultiValueDict:
    """The run form's files: those chosen, and for each file field left empty that offered the file of
    a run (EXAMPLE_SUFFIX), a copy of that file, as if the user had chosen it (their own upload, kept
    as long as theirs are), when they may still have it (runs.offered_input_file)."""
    chosen = request.FILES.copy()
    for name, kind in version.schema.input_kinds().items():
        run_id = request.POST.get(name + EXAMPLE_SUFFIX, "").strip()
        if kind != "file" or not run_id or chosen.get(name):
            continue
        f = runs.offered_input_file(request.user, model, run_id, name)
        if f is not None and f.size <= settings.COGMILL_MAX_UPLOAD_BYTES:
            with f.content.open("rb") as handle:
                chosen[name] = SimpleUploadedFile(f.name, handle.read(), f.content_type)
    return chosen


def _refused(request, model: Model, version: Version, form, status: int):
    """The run form again with its errors: from htmx only the form is swapped (the output panel keeps
    the last run), otherwise the whole page."""
    if not request.htmx:
        return _render_model(request, model, version, form, "playground", status=status)
    response = render(request, "playground/_model_playground.html#run-form",
                      {"model": model, "version": version, "form": form, "run_action": _run_action(model, version)},
                      status=status)
    return reswap(retarget(response, "#run-form"), "outerHTML")


def _go(request, url: str):
    """A redirect the browser follows as a page, also when asked from htmx."""
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _uploader(request):
    """How a form's files become inputs: each stored as an upload of the user's, given as its URL."""
    return lambda f: files.create_upload(request.user, f, None).api_url


def _created(form, create):
    """What `create()` made, or None with its refusal put on the form: a field's error beside the
    field, any other refusal (Conflict, NotFound, ...) above the form."""
    try:
        return create()
    except Invalid as exc:
        form.add_input_errors(exc.errors)
    except DomainError as exc:
        form.add_error(None, str(exc))
    return None


def _render_model(request, model: Model, version: Version | None, form, tab: str, status: int = 200,
                  destination_form=None, shown=None, settings_forms=None, example: bool = False):
    context = {
        "nav": "explore",
        "model": model,
        "version": version,
        "form": form,
        "destination_form": destination_form,
        "tab": tab,
        "tab_links": _tab_links(request, model, version),
        "run_action": _run_action(model, version),
        "train_action": _run_action(model, version, "model-train"),
        "login_url": f"{reverse('login')}?{urlencode({'next': request.get_full_path()})}",
        "carried": _carried(request, tab),
    }
    if shown is not None:
        context.update(run_panel_context(request, shown), shown_is_example=example,
                       can_open=not example or runs.can_view(request.user, shown))
    if tab == "api" and form is not None:
        context["snippets"] = _snippets(model, version, form)
    if tab == "examples":
        context["examples"] = presenters.examples(model)
    if tab == "versions":
        context["versions"] = catalog.listed_versions(model)[:VERSIONS_SHOWN]
    if tab == "readme":
        context["readme_html"] = _readme_html(model)
    if tab == "settings":
        context.update(settings_forms or _settings_forms(model))
    if request.htmx and request.method == "GET":
        return render(request, "playground/model.html#tabbed", context, status=status)
    context.update(_builds(request, model))
    return render(request, "playground/model.html", context, status=status)


def _carried(request, tab: str) -> list[tuple[str, str]]:
    """The run form's values while another tab is shown, kept as hidden fields that the tab links send
    along (so the API tab's snippets, and the form when one comes back, keep what was typed)."""
    if tab in ("playground", "train") or request.method != "GET":  # these tabs' forms hold their own values
        return []
    return [(key, value) for key, values in request.GET.lists() if key not in NOT_CARRIED for value in values]


def _builds(request, model: Model) -> dict:
    """Its owner's view of versions that are not ready: waiting, building (the log, refreshed while
    it grows) or failed (the error). Nobody else sees a build."""
    if model.owner_id != request.user.pk:
        return {"builds": []}
    builds = list(catalog.builds_of(model)[:BUILDS_SHOWN])
    return {"model": model, "builds": builds,
            "building": any(b.build_status in (BuildStatus.PENDING, BuildStatus.BUILDING) for b in builds)}


def _run_action(model: Model, version: Version | None, view: str = "model-predict") -> str:
    path = reverse(view, args=[model.owner.username, model.name])
    return f"{path}?{urlencode({'version': version.version_id})}" if version else path


def _tab_links(request, model: Model, version: Version | None) -> list[tuple[str, str, str]]:
    """(tab, label, href). The form's values are not in the links: the page's script sends them from
    the form (or from the fields carried while another tab shows), so they appear once in the URL."""
    return [(tab, TAB_LABELS[tab], _page_path(model, version, tab=tab))
            for tab in _tabs(version, model, request.user)]


def _readme_html(model: Model) -> str | None:
    try:
        text = catalog.readme(model)
    except NotFound:
        return None
    return presenters.render_markdown(text, line_breaks=False)


def _snippet_input(form) -> dict:
    """The form's current values as an API input; required files and secrets as placeholders."""
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name)
        if field.input_kind in ("file", "files"):
            if field.input_required:
                data[name] = FileArg(name) if field.input_kind == "file" else [FileArg(name)]
        elif field.input_kind == "secret":
            if field.input_required:
                data[name] = "YOUR_SECRET"
        elif value is not None and value != "" and value != []:
            data[name] = value
    return data


def _snippets(model: Model, version: Version, form) -> list[dict]:
    """Each language's snippet, its setup and its code highlighted for the API tab."""
    return [{"key": s.key, "label": s.label, "setup": s.setup, "setup_html": presenters.highlight(s.setup, "bash"),
             "code": s.code, "code_html": presenters.highlight(s.code, s.lexer)}
            for s in snippets.all_snippets(model.full_name, version.version_id, _snippet_input(form),
                                           settings.PUBLIC_URL)]
