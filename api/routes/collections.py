"""Collections: curated lists of models, edited in the admin."""

from ninja import Router

from api import schemas
from api.pagination import paginate
from api.schemas import problems
from playground.models import Collection
from playground.services import catalog

router = Router(tags=["collections"])


@router.get("/collections", response={200: schemas.CollectionPage, **problems()})
def list_collections(request, cursor: str | None = None):
    return paginate(request, catalog.all_collections(), Collection.to_dict, cursor)


@router.get("/collections/{slug}", response={200: schemas.CollectionDetail, **problems(404)})
def get_collection(request, slug: str):
    """The collection with the models in it that the caller may see."""
    collection = catalog.get_collection(slug)
    models = catalog.collection_models(collection, request.owner)
    return collection.to_detail_dict([m.to_dict() for m in models])
