"""Models through the official Python client (httpx where it has no method): values and refusals."""

import shutil
import uuid

import httpx
import pytest
import replicate
from replicate.exceptions import ReplicateError

from tests.problems import assert_problem as _problem
from tests.server import ROOT, wait_finished


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _create(cogmill, token: str, **body) -> httpx.Response:
    return httpx.post(f"{cogmill.base_url}/v1/models", json=body, headers=_headers(token))


def _patch(cogmill, token: str, ref: str, **body) -> httpx.Response:
    return httpx.patch(f"{cogmill.base_url}/v1/models/{ref}", json=body, headers=_headers(token))


def _get(cogmill, token: str, path: str) -> httpx.Response:
    return httpx.get(f"{cogmill.base_url}/v1/models/{path}", headers=_headers(token))


def _delete(cogmill, token: str, ref: str) -> httpx.Response:
    return httpx.delete(f"{cogmill.base_url}/v1/models/{ref}", headers=_headers(token))


@pytest.fixture
def private_model(client) -> str:
    name = _name("secret")
    client.models.create("alice", name, visibility="private", hardware="cpu")
    return f"alice/{name}"


@pytest.fixture
def hello_copy(cogmill, client, tmp_path) -> str:
    """alice's own public copy of hello-world, built and ready to run."""
    folder = tmp_path / "hello"
    shutil.copytree(ROOT / "examples" / "hello-world", folder)
    ref = f"alice/{_name('hello')}"
    cogmill.push(folder, ref)
    return ref


# ---------------------------------------------------------------- get

def test_get_model_has_its_latest_version(client, cogmill):
    model = client.models.get("cogmill/hello-world")
    assert (model.owner, model.name, model.visibility) == ("cogmill", "hello-world", "public")
    assert model.url == f"{cogmill.base_url}/cogmill/hello-world"
    assert model.latest_version.id == cogmill.versions["hello-world"]
    assert model.latest_version.openapi_schema["components"]["schemas"]["Input"]["properties"]["text"]
    assert model.default_example is None


def test_run_count_counts_predictions(client):
    before = client.models.get("cogmill/hello-world").run_count
    client.run("cogmill/hello-world", input={"text": "count me"})
    assert client.models.get("cogmill/hello-world").run_count == before + 1


def test_unknown_model_is_404(client):
    with pytest.raises(ReplicateError) as info:
        client.models.get("cogmill/no-such-model")
    assert info.value.status == 404


# ---------------------------------------------------------------- create

def test_create_model_answers_201_with_the_model(cogmill, token):
    name = _name("made")
    response = _create(cogmill, token, owner="alice", name=name, visibility="public", hardware="gpu-t4",
                       description="A test model", github_url="https://github.com/a/b")
    assert response.status_code == 201
    body = response.json()
    assert (body["owner"], body["name"], body["visibility"]) == ("alice", name, "public")
    assert body["description"] == "A test model"
    assert body["github_url"] == "https://github.com/a/b"
    assert body["paper_url"] is None
    assert body["run_count"] == 0 and body["latest_version"] is None and body["default_example"] is None


def test_create_with_the_client(client):
    name = _name("client-made")
    model = client.models.create("alice", name, visibility="private", hardware="cpu",
                                 cover_image_url="https://example.com/cover.png")
    assert (model.owner, model.name, model.visibility) == ("alice", name, "private")
    assert model.cover_image_url == "https://example.com/cover.png"
    assert client.models.get(f"alice/{name}").name == name


def test_create_in_someone_elses_namespace_is_403(cogmill, token):
    body = _problem(_create(cogmill, token, owner="mallory", name=_name("x"), visibility="public",
                            hardware="cpu"), 403)
    assert "alice" in body["detail"]


def test_create_duplicate_is_409(cogmill, token, private_model):
    name = private_model.split("/")[1]
    _problem(_create(cogmill, token, owner="alice", name=name, visibility="public", hardware="cpu"), 409)


@pytest.mark.parametrize("field, value", [
    ("name", "Bad Name!"),
    ("hardware", "gpu-none"),
    ("visibility", "secret"),
    ("github_url", "not a url"),
])
def test_create_with_a_bad_field_is_422_naming_it(cogmill, token, field, value):
    body = {"owner": "alice", "name": _name("ok"), "visibility": "public", "hardware": "cpu", field: value}
    problem = _problem(_create(cogmill, token, **body), 422)
    assert field in [f["field"] for f in problem["invalid_fields"]]


def test_create_without_hardware_is_422(cogmill, token):
    problem = _problem(_create(cogmill, token, owner="alice", name=_name("ok"), visibility="public"), 422)
    assert "hardware" in problem["detail"]


# ---------------------------------------------------------------- visibility

def test_private_model_is_invisible_to_others(client, outsider, private_model):
    assert client.models.get(private_model).visibility == "private"
    with pytest.raises(ReplicateError) as info:
        outsider.models.get(private_model)
    assert info.value.status == 404
    listed = [m.id for page in replicate.paginate(outsider.models.list) for m in page]
    assert private_model not in listed
    assert "cogmill/hello-world" in listed
    assert private_model not in [m.id for m in outsider.models.search(private_model.split("/")[1])]


def test_public_model_runs_for_anyone(outsider):
    assert outsider.run("cogmill/hello-world", input={"text": "stranger"}) == "hello stranger"


# ---------------------------------------------------------------- list and search

@pytest.fixture(scope="module")
def pager(cogmill) -> replicate.Client:
    """A user with 105 private models: more than one page of them."""
    client = replicate.Client(api_token=cogmill.token("pager"), base_url=cogmill.base_url)
    for i in range(105):
        client.models.create("pager", f"paged-{i:03d}", visibility="private", hardware="cpu")
    return client


def _own_models_first_page(cogmill, client: replicate.Client):
    """Cogmill's own extension of models.list: the caller's private models too (the client takes a
    first page's URL as its cursor)."""
    return client.models.list(f"{cogmill.base_url}/v1/models?include_private=true&sort_by=model_created_at")


def test_list_walks_every_page_newest_first(cogmill, pager):
    pages = [_own_models_first_page(cogmill, pager)]
    while pages[-1].next:
        pages.append(pager.models.list(pages[-1].next))
    assert len(pages) >= 2
    mine = [m.name for page in pages for m in page if m.owner == "pager"]
    assert mine == [f"paged-{i:03d}" for i in reversed(range(105))]
    assert pages[0].next.startswith("http")


def test_the_plain_list_is_public_models_only_as_on_replicate(pager):
    listed = [m for page in replicate.paginate(pager.models.list) for m in page]
    assert "cogmill/hello-world" in [m.id for m in listed]
    assert all(m.visibility == "public" for m in listed) and not any(m.owner == "pager" for m in listed)


def test_previous_link_returns_the_page_before(cogmill, pager):
    first = _own_models_first_page(cogmill, pager)
    second = pager.models.list(first.next)
    again = pager.models.list(second.previous)
    assert [m.id for m in again] == [m.id for m in first]


def test_search_finds_by_name_description_and_owner(client):
    name = _name("zebra")
    client.models.create("alice", name, visibility="public", hardware="cpu", description="Stripes and hooves")
    assert [m.id for m in client.models.search(name)] == [f"alice/{name}"]
    assert f"alice/{name}" in [m.id for m in client.models.search("stripes HOOVES")]
    assert "cogmill/hello-world" in [m.id for m in client.models.search("cogmill hello")]
    assert client.models.search("no-model-is-called-this").results == []


def test_search_pages_keep_the_query(pager):
    first = pager.models.search("paged")
    assert len(first) == 100 and "query=paged" in first.next
    rest = pager.models.list(first.next)
    names = [m.name for m in first] + [m.name for m in rest]
    assert sorted(names) == [f"paged-{i:03d}" for i in range(105)]


def test_search_without_text_is_400(cogmill, token):
    response = httpx.request("QUERY", f"{cogmill.base_url}/v1/models", content=b"  ",
                             headers={**_headers(token), "Content-Type": "text/plain"})
    _problem(response, 400)


# ---------------------------------------------------------------- update

def test_patch_changes_only_what_is_sent(cogmill, token, client):
    name = _name("patched")
    client.models.create("alice", name, visibility="public", hardware="cpu", description="before",
                         paper_url="https://arxiv.org/abs/1")
    response = _patch(cogmill, token, f"alice/{name}", description="after", visibility="private",
                      hardware="gpu-l40s", license_url="https://example.com/license")
    assert response.status_code == 200
    body = response.json()
    assert (body["description"], body["visibility"]) == ("after", "private")
    assert body["license_url"] == "https://example.com/license"
    assert body["paper_url"] == "https://arxiv.org/abs/1"
    cleared = _patch(cogmill, token, f"alice/{name}", paper_url=None).json()
    assert cleared["paper_url"] is None and cleared["description"] == "after"


def test_patch_with_bad_values_is_422_and_changes_nothing(cogmill, token, client, private_model):
    problem = _problem(_patch(cogmill, token, private_model, hardware="gpu-none", description="new"), 422)
    assert [f["field"] for f in problem["invalid_fields"]] == ["hardware"]
    assert client.models.get(private_model).description is None
    _problem(_patch(cogmill, token, private_model, colour="blue"), 422)
    _problem(_patch(cogmill, token, private_model, visibility=None), 422)


def test_patch_by_others(cogmill, other_token, private_model):
    _problem(_patch(cogmill, other_token, "cogmill/hello-world", description="mine now"), 403)
    _problem(_patch(cogmill, other_token, private_model, description="mine now"), 404)


# ---------------------------------------------------------------- delete

def test_delete_model_without_versions(client, private_model):
    assert client.models.delete(private_model) is True
    with pytest.raises(ReplicateError) as info:
        client.models.get(private_model)
    assert info.value.status == 404


def test_delete_model_with_versions_is_409(cogmill, token, hello_copy):
    response = _delete(cogmill, token, hello_copy)
    assert "delete them first" in _problem(response, 409)["detail"]


def test_delete_by_others(cogmill, other_token, private_model):
    _problem(_delete(cogmill, other_token, "cogmill/hello-world"), 403)
    _problem(_delete(cogmill, other_token, private_model), 404)


# ---------------------------------------------------------------- examples

def test_examples_chosen_by_the_owner(cogmill, token, client, outsider, hello_copy):
    assert client.models.get(hello_copy).default_example is None
    prediction = wait_finished(
        client.models.predictions.create(model=hello_copy, input={"text": "example"}, wait=True))
    assert prediction.status == "succeeded"
    response = _patch(cogmill, token, hello_copy, default_example=prediction.id)
    assert response.status_code == 200
    model = outsider.models.get(hello_copy)
    assert model.default_example.id == prediction.id
    assert model.default_example.output == "hello example"
    examples = _get(cogmill, token, f"{hello_copy}/examples").json()
    assert [e["id"] for e in examples["results"]] == [prediction.id]
    assert examples["results"][0]["input"] == {"text": "example"}


def test_examples_must_be_the_owners_succeeded_predictions(cogmill, token, outsider, hello_copy):
    theirs = wait_finished(
        outsider.models.predictions.create(model=hello_copy, input={"text": "not yours"}, wait=True))
    problem = _problem(_patch(cogmill, token, hello_copy, examples=[theirs.id, "nope"]), 422)
    assert problem["invalid_fields"][0]["field"] == "examples"
    assert "nope" in problem["detail"] and theirs.id in problem["detail"]
    _problem(_patch(cogmill, token, hello_copy, default_example="nope"), 422)


def test_examples_of_a_model_without_any(cogmill, token):
    response = _get(cogmill, token, "cogmill/textgen/examples")
    assert response.json() == {"next": None, "previous": None, "results": []}


# ---------------------------------------------------------------- readme

def test_readme_is_the_latest_versions_markdown(cogmill, token):
    response = _get(cogmill, token, "cogmill/hello-world/readme")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/markdown")
    assert response.text == (ROOT / "examples" / "hello-world" / "README.md").read_text()


def test_readme_missing_is_404(cogmill, token, private_model):
    for ref in ("testers/failing", private_model):
        response = _get(cogmill, token, f"{ref}/readme")
        assert "README" in _problem(response, 404)["detail"]


def test_readme_of_a_hidden_model_is_404(cogmill, other_token, private_model):
    response = _get(cogmill, other_token, f"{private_model}/readme")
    assert "not found" in _problem(response, 404)["detail"]
