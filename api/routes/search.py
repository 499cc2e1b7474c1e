"""Search across models, collections and Cogmill's own pages (Replicate's GET /v1/search)."""

from django.conf import settings
from ninja import Query, Router

from api import schemas
from api.schemas import problems
from playground.services import catalog

router = Router(tags=["search"])

# Cogmill's pages a search can point to: (title, path, words it is found by besides its title).
PAGES = (
    ("API reference", "/v1/docs", "docs documentation openapi http endpoints swagger"),
    ("Explore models", "/", "browse catalogue catalog playground run"),
    ("Prediction history", "/history", "predictions runs past outputs"),
    ("Galleries", "/galleries", "shared prompts team organization examples"),
    ("Account, API tokens and webhook secret", "/account", "token tokens key keys webhooks password settings"),
)


def _pages(text: str) -> list[dict]:
    words = text.lower().split()
    return [{"name": name, "href": f"{settings.PUBLIC_URL}{path}"} for name, path, also in PAGES
            if all(word in f"{name} {also}".lower() for word in words)]


@router.get("/search", response={200: schemas.SearchResults, **problems(422)})
def search(request, query: str = Query(..., min_length=1, max_length=200, description="The words to look for."),
           limit: int = Query(20, ge=1, le=50, description="The most models to return.")):
    """Models (best match first, with a relevance score), collections and pages matching every word."""
    models = catalog.search_models(request.owner, query, limit)
    collections = catalog.search_collections(query)
    return {
        "query": query,
        "models": [{"model": model.to_dict(), "metadata": {"score": score, "tags": [], "generated_description": None}}
                   for model, score in models],
        "collections": [{**c.to_dict(), "models": sorted(m.full_name for m in catalog.collection_models(c, request.owner))}
                        for c in collections],
        "pages": _pages(query),
    }
