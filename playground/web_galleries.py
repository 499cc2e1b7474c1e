"""Browser pages for sharing: the share toggle, adding to a gallery, and organizations' galleries."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from playground import galleries
from playground.inputs import InvalidInput
from playground.models import Prediction
from playground.services import NotFound

GALLERY_PAGE_SIZE = 24


def _own_prediction(request: HttpRequest, prediction_id: str) -> Prediction:
    mine = Prediction.objects.filter(owner=request.user).select_related("model__owner")
    prediction = mine.filter(pk=prediction_id).first()
    if prediction is None:
        raise Http404("No such prediction")
    return prediction


def _gallery(request: HttpRequest, org_name: str):
    try:
        return galleries.get_gallery(request.user, org_name)
    except NotFound as exc:
        raise Http404(str(exc)) from exc


def _sort(value: str | None) -> str:
    return value if value in galleries.SORTS else "newest"


@require_POST
@login_required
def share(request: HttpRequest, prediction_id: str) -> HttpResponse:
    """Turn the prediction's public share link on (`public=1`) or off."""
    prediction = _own_prediction(request, prediction_id)
    galleries.set_public(request.user, prediction, request.POST.get("public") == "1")
    if request.htmx:
        return render(request, "playground/_share.html", {"prediction": prediction})
    messages.success(request, "Share link is on." if prediction.is_public else "Share link is off.")
    return redirect(f"/p/{prediction.id}")


@require_POST
@login_required
def gallery_add(request: HttpRequest, prediction_id: str) -> HttpResponse:
    prediction = _own_prediction(request, prediction_id)
    chosen = request.POST.get("organization", "")
    context = {"prediction": prediction, "chosen": chosen}
    try:
        item = galleries.add_to_gallery(request.user, prediction, chosen)
    except InvalidInput as exc:
        if request.htmx:
            context["errors"] = [e.message for e in exc.errors]
            return render(request, "playground/_gallery_add.html", context, status=422)
        messages.error(request, exc.errors[0].message)
        return redirect(f"/p/{prediction.id}")
    if request.htmx:
        context["added"] = item.organization
        return render(request, "playground/_gallery_add.html", context)
    messages.success(request, f"Added to {item.organization.username}'s gallery.")
    return redirect(f"/p/{prediction.id}")


@login_required
def gallery_list(request: HttpRequest) -> HttpResponse:
    """The galleries of the organizations I belong to."""
    orgs = (
        request.user.organizations()
        .annotate(item_count=Count("gallery_items", distinct=True))
        .order_by("username")
    )
    return render(request, "playground/galleries.html", {"nav": "galleries", "organizations": orgs})


@login_required
def gallery(request: HttpRequest, org_name: str) -> HttpResponse:
    """An organization's wall of predictions, newest or most starred first."""
    org = _gallery(request, org_name)
    sort = _sort(request.GET.get("sort"))
    items = galleries.gallery_items(org, request.user, sort)
    page = Paginator(items, GALLERY_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "nav": "galleries", "org": org, "sort": sort, "sorts": galleries.SORTS, "page": page,
        "cards": galleries.cards(page.object_list, request.user),
    }
    return render(request, "playground/gallery.html", context)


@require_POST
@login_required
def gallery_star(request: HttpRequest, org_name: str, item_id: int) -> HttpResponse:
    org = _gallery(request, org_name)
    try:
        item = galleries.get_item(org, item_id)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    starred = galleries.toggle_star(request.user, item)
    if request.htmx:
        item.starred, item.star_count = starred, galleries.star_count(item)
        sort = _sort(request.POST.get("sort"))
        return render(request, "playground/gallery.html#star", {"org": org, "item": item, "sort": sort})
    return redirect(f"/galleries/{org.username}?sort={_sort(request.POST.get('sort'))}#item-{item.pk}")


@require_POST
@login_required
def gallery_remove(request: HttpRequest, org_name: str, item_id: int) -> HttpResponse:
    org = _gallery(request, org_name)
    try:
        galleries.remove_from_gallery(request.user, galleries.get_item(org, item_id))
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    messages.success(request, "Removed from the gallery.")
    return redirect(f"/galleries/{org.username}?sort={_sort(request.POST.get('sort'))}")
