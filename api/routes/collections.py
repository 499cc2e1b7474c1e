"""Collections: curated lists of models, edited in the admin."""

from ninja import Router

from api.pagination import paginate
from api.responses import json_response
from playground import services
from playground.models import Collection

router = Router(tags=["collections"])


@router.get("/collections")
def list_collections(request):
    return json_response(paginate(request, Collection.objects.all(), Collection.to_dict))


@router.get("/collections/{slug}")
def get_collection(request, slug: str):
    collection = services.get_collection(slug)
    models = services.collection_models(collection, request.owner)
    return json_response({**collection.to_dict(), "models": [m.to_dict() for m in models]})
