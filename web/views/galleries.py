"""Browser pages for sharing: the share toggle, adding to a gallery, and organizations' galleries."""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from playground.errors import Invalid
from playground.services import galleries, runs
from web import presenters

GALLERY_PAGE_SIZE = 24


def _sort(value: str | None) -> str:
    return value if value in galleries.SORTS else "newest"


def _gallery_url(org, request: HttpRequest) -> str:
    """The gallery, in the order the form was posted from."""
    return f"{reverse('gallery', args=[org.username])}?{urlencode({'sort': _sort(request.POST.get('sort'))})}"


@require_POST
@login_required
def share(request: HttpRequest, prediction_id: str) -> HttpResponse:
    """Turn the prediction's public share link on (`public=1`) or off."""
    prediction = runs.get_own_prediction(request.user, prediction_id)
    galleries.set_public(request.user, prediction, request.POST.get("public") == "1")
    if request.htmx:
        return render(request, "playground/_share.html", {"prediction": prediction})
    messages.success(request, "Share link is on." if prediction.is_public else "Share link is off.")
    return redirect("prediction", prediction_id=prediction.id)


@require_POST
@login_required
def gallery_add(request: HttpRequest, prediction_id: str) -> HttpResponse:
    prediction = runs.get_own_prediction(request.user, prediction_id)
    chosen = request.POST.get("organization", "")
    context = {"prediction": prediction, "chosen": chosen}
    try:
        item = galleries.add_to_gallery(request.user, prediction, chosen)
    except Invalid as exc:
        if request.htmx:
            context["errors"] = [e.message for e in exc.errors]
            return render(request, "playground/_gallery_add.html", context, status=422)
        messages.error(request, exc.errors[0].message)
        return redirect("prediction", prediction_id=prediction.id)
    if request.htmx:
        context["added"] = item.organization
        return render(request, "playground/_gallery_add.html", context)
    messages.success(request, f"Added to {item.organization.username}'s gallery.")
    return redirect("prediction", prediction_id=prediction.id)


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
    org = galleries.get_gallery(request.user, org_name)
    sort = _sort(request.GET.get("sort"))
    items = galleries.gallery_items(org, request.user, sort)
    page = Paginator(items, GALLERY_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "nav": "galleries", "org": org, "sort": sort, "sorts": galleries.SORTS, "page": page,
        "cards": presenters.cards(page.object_list, request.user),
    }
    return render(request, "playground/gallery.html", context)


@require_POST
@login_required
def gallery_star(request: HttpRequest, org_name: str, item_id: int) -> HttpResponse:
    org = galleries.get_gallery(request.user, org_name)
    item = galleries.get_item(org, item_id)
    starred = galleries.toggle_star(request.user, item)
    if request.htmx:
        item.starred, item.star_count = starred, galleries.star_count(item)
        sort = _sort(request.POST.get("sort"))
        return render(request, "playground/gallery.html#star", {"org": org, "item": item, "sort": sort})
    return redirect(f"{_gallery_url(org, request)}#item-{item.pk}")


@require_POST
@login_required
def gallery_remove(request: HttpRequest, org_name: str, item_id: int) -> HttpResponse:
    org = galleries.get_gallery(request.user, org_name)
    galleries.remove_from_gallery(request.user, galleries.get_item(org, item_id))
    messages.success(request, "Removed from the gallery.")
    return redirect(_gallery_url(org, request))
