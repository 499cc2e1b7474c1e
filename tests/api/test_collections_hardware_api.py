"""Collections (curated in the admin) and hardware through the official Python client."""

import uuid

import httpx
import pytest
import replicate
from replicate.exceptions import ReplicateError


def _curate(cogmill, slug: str, name: str, description: str, model_refs: list[str]) -> None:
    """What an admin does in the Django admin: a collection holding these models."""
    code = (
        "from playground.models import Collection, Model\n"
        f"c = Collection.objects.create(slug={slug!r}, name={name!r}, description={description!r})\n"
        f"for ref in {model_refs!r}:\n"
        "    owner, name = ref.split('/')\n"
        "    c.models.add(Model.objects.get(owner__username=owner, name=name))\n"
    )
    cogmill.manage("shell", "-c", code)


@pytest.fixture
def collection(cogmill, client) -> tuple[str, str]:
    """(slug, alice's private model in it) — the collection also holds cogmill/hello-world."""
    suffix = uuid.uuid4().hex[:8]
    private = f"secret-{suffix}"
    client.models.create("alice", private, visibility="private", hardware="cpu")
    slug = f"picks-{suffix}"
    _curate(cogmill, slug, "Our picks", "Models we like", ["cogmill/hello-world", f"alice/{private}"])
    return slug, f"alice/{private}"


def test_get_collection_lists_its_models(client, collection, cogmill):
    slug, private = collection
    got = client.collections.get(slug)
    assert (got.slug, got.name, got.description) == (slug, "Our picks", "Models we like")
    assert sorted(m.id for m in got) == sorted(["cogmill/hello-world", private])
    hello = next(m for m in got if m.id == "cogmill/hello-world")
    assert hello.latest_version.id == cogmill.versions["hello-world"]


def test_collection_hides_private_models_from_others(outsider, collection):
    slug, _ = collection
    assert [m.id for m in outsider.collections.get(slug)] == ["cogmill/hello-world"]


def test_blank_description_is_an_empty_string(cogmill, client):
    slug = f"bare-{uuid.uuid4().hex[:8]}"
    _curate(cogmill, slug, "Bare", "", [])
    got = client.collections.get(slug)
    assert got.description == "" and got.models == []


def test_list_collections_walks_every_page(cogmill, client, collection):
    prefix = f"bulk-{uuid.uuid4().hex[:6]}"
    code = (
        "from playground.models import Collection\n"
        f"Collection.objects.bulk_create([Collection(slug=f'{prefix}-{{i:03d}}', name=f'Bulk {{i}}') "
        "for i in range(103)])\n"
    )
    cogmill.manage("shell", "-c", code)
    pages = list(replicate.paginate(client.collections.list))
    slugs = [c.slug for page in pages for c in page]
    assert len(pages) >= 2
    assert len(slugs) == len(set(slugs))
    assert {f"{prefix}-{i:03d}" for i in range(103)} <= set(slugs)
    assert collection[0] in slugs
    assert all(isinstance(c.description, str) for page in pages for c in page)


def test_unknown_collection_is_404(client):
    with pytest.raises(ReplicateError) as info:
        client.collections.get("no-such-collection")
    assert info.value.status == 404


def test_hardware_is_a_bare_array_of_skus(client, cogmill, token):
    skus = {hw.sku: hw.name for hw in client.hardware.list()}
    assert skus["cpu"] == "CPU"
    assert {"gpu-t4", "gpu-l40s", "gpu-a100-large", "gpu-h100"} <= set(skus)
    raw = httpx.get(f"{cogmill.base_url}/v1/hardware", headers={"Authorization": f"Bearer {token}"}).json()
    assert isinstance(raw, list)
    assert raw[0] == {"sku": "cpu", "name": "CPU"}  # cheapest first


def test_hardware_needs_a_token(cogmill):
    response = httpx.get(f"{cogmill.base_url}/v1/hardware")
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"
