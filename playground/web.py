"""Browser pages of the playground (HTML; HTMX partials where a page updates itself)."""

from django.core.paginator import Paginator
from django.shortcuts import render

from playground.models import Collection, Model

EXPLORE_PAGE_SIZE = 24
FILTERS = ("all", "public", "mine")


def explore(request):
    """Models grid with search, collections and a public/mine filter (GET form, works without JS)."""
    text = request.GET.get("q", "").strip()
    chosen = request.GET.get("filter", "all")
    if chosen not in FILTERS:
        chosen = "all"
    models = Model.objects.visible_to(request.user).for_api()
    if text:
        models = models.search(text)
    if chosen == "public":
        models = models.filter(visibility="public")
    elif chosen == "mine" and request.user.is_authenticated:
        models = models.filter(owner=request.user)
    collection = None
    if slug := request.GET.get("collection"):
        collection = Collection.objects.filter(slug=slug).first()
        if collection is not None:
            models = models.filter(collections=collection)
    page = Paginator(models.order_by("-created_at"), EXPLORE_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "nav": "explore",
        "page": page,
        "q": text,
        "filter": chosen,
        "filters": FILTERS,
        "collections": Collection.objects.all(),
        "collection": collection,
    }
    template = "playground/explore.html#results" if request.htmx else "playground/explore.html"
    return render(request, template, context)
