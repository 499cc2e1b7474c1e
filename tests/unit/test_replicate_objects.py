"""The API's objects and lists as Replicate shapes them, in-process: the model list and its sorting,
search, `urls.stream`, model README and weights, collections, accounts, files and prediction filters."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from api.pagination import paginate
from playground.models import BuildStatus, Collection, Model, Prediction, Source, Version
from tests.problems import assert_problem
from tests.unit.conftest import ECHO_SCHEMA, bearer

pytestmark = pytest.mark.django_db

ITERATOR_SCHEMA = {"components": {"schemas": {
    "Input": {"type": "object", "properties": {"prompt": {"type": "string"}}},
    "Output": {"type": "array", "items": {"type": "string"}, "x-cog-array-type": "iterator"},
}}}


def _model(owner: User, name: str, visibility: str = "public", pushed_minutes_ago: float | None = None,
           created_minutes_ago: float = 100, description: str = "", schema: dict = ECHO_SCHEMA) -> Model:
    model = Model.objects.create(owner=owner, name=name, visibility=visibility, description=description,
                                 created_at=timezone.now() - timedelta(minutes=created_minutes_ago))
    if pushed_minutes_ago is not None:
        Version.objects.create(model=model, version_id=f"{name:0<64}"[:64], build_status=BuildStatus.READY,
                               openapi_schema=schema, cog_version="0.23.1",
                               created_at=timezone.now() - timedelta(minutes=pushed_minutes_ago))
    return model


def _names(body: dict) -> list[str]:
    return [f"{m['owner']}/{m['name']}" for m in body["results"]]


# ---------------------------------------------------------------- models.list

@pytest.fixture
def catalogue(alice, mallory):
    """Public models pushed at different times, and private ones of alice's and mallory's."""
    _model(alice, "old-model-new-version", pushed_minutes_ago=1, created_minutes_ago=300)
    _model(alice, "new-model-old-version", pushed_minutes_ago=50, created_minutes_ago=60)
    _model(mallory, "never-pushed", created_minutes_ago=30)
    _model(alice, "alices-secret", visibility="private", pushed_minutes_ago=2)
    _model(mallory, "mallorys-secret", visibility="private", pushed_minutes_ago=2)


def test_the_model_list_is_public_models_latest_version_first(client, auth, catalogue):
    body = client.get("/v1/models", **auth).json()
    assert _names(body) == ["alice/old-model-new-version", "mallory/never-pushed", "alice/new-model-old-version"]


@pytest.mark.parametrize(("params", "expected"), [
    ("sort_by=model_created_at", ["mallory/never-pushed", "alice/new-model-old-version",
                                  "alice/old-model-new-version"]),
    ("sort_by=model_created_at&sort_direction=asc", ["alice/old-model-new-version", "alice/new-model-old-version",
                                                     "mallory/never-pushed"]),
    ("sort_direction=asc", ["alice/new-model-old-version", "mallory/never-pushed", "alice/old-model-new-version"]),
])
def test_the_model_list_honours_sort_by_and_sort_direction(client, auth, catalogue, params, expected):
    assert _names(client.get(f"/v1/models?{params}", **auth).json()) == expected


def test_private_models_are_listed_only_when_asked_and_only_ones_own(client, auth, catalogue):
    names = _names(client.get("/v1/models?include_private=true", **auth).json())
    assert "alice/alices-secret" in names and "mallory/mallorys-secret" not in names


@pytest.mark.parametrize("params", ["sort_by=name", "sort_direction=up"])
def test_an_unknown_sort_is_422(client, auth, catalogue, params):
    assert_problem(client.get(f"/v1/models?{params}", **auth), 422)


@pytest.mark.parametrize("descending", [True, False])
def test_pages_of_the_sorted_list_walk_every_model_once_both_ways(rf, alice, descending):
    for i in range(7):
        _model(alice, f"m{i}", pushed_minutes_ago=i % 4, created_minutes_ago=10 + i)  # some pushed at one instant
    models = Model.objects.public().with_latest_version_at()
    ordered = list(models.order_by(*(("-latest_version_created_at", "-pk") if descending
                                     else ("latest_version_created_at", "pk"))).values_list("name", flat=True))

    def page(cursor=None):
        request = rf.get("/v1/models", {"cursor": cursor} if cursor else {})
        return paginate(request, models, lambda m: m.name, cursor, page_size=3,
                        key="latest_version_created_at", descending=descending)

    seen, current = [], page()
    while True:
        seen += current["results"]
        if not current["next"]:
            break
        current = page(current["next"].split("cursor=")[1])
    assert seen == ordered
    assert page(current["previous"].split("cursor=")[1])["results"] == ordered[3:6]


# ---------------------------------------------------------------- search

def test_search_finds_models_best_match_first_with_collections_and_pages(client, auth, alice, mallory):
    _model(alice, "upscaler", pushed_minutes_ago=1, description="makes images bigger")
    _model(mallory, "tool", pushed_minutes_ago=1, description="an upscaler of photos")
    _model(mallory, "hidden-upscaler", visibility="private", pushed_minutes_ago=1)
    images = Collection.objects.create(slug="upscalers", name="Upscalers", description="Make images larger")
    images.models.add(*Model.objects.all())
    body = client.get("/v1/search?query=upscaler", **auth).json()
    assert body["query"] == "upscaler"
    assert [hit["model"]["name"] for hit in body["models"]] == ["upscaler", "tool"]
    scores = [hit["metadata"]["score"] for hit in body["models"]]
    assert 0 < scores[1] < scores[0] <= 1
    assert body["models"][0]["metadata"] == {"score": scores[0], "tags": [], "generated_description": None}
    assert body["collections"] == [{"slug": "upscalers", "name": "Upscalers", "description": "Make images larger",
                                    "models": ["alice/upscaler", "mallory/tool"]}]
    assert body["pages"] == []
    pages = client.get("/v1/search?query=api+tokens", **auth).json()["pages"]
    assert [p["name"] for p in pages] == ["Account, API tokens and webhook secret"]
    assert pages[0]["href"].endswith("/account")


def test_search_limit_caps_the_models(client, auth, alice):
    for i in range(4):
        _model(alice, f"llama-{i}", pushed_minutes_ago=1)
    assert len(client.get("/v1/search?query=llama&limit=2", **auth).json()["models"]) == 2


@pytest.mark.parametrize("params", ["", "query=", "query=x&limit=0", "query=x&limit=51"])
def test_search_without_words_or_with_a_bad_limit_is_422(client, auth, params):
    assert_problem(client.get(f"/v1/search?{params}", **auth), 422)


# ---------------------------------------------------------------- objects

def test_urls_stream_is_offered_only_for_models_that_stream(client, auth, alice, make_prediction):
    streaming = _model(alice, "chat", pushed_minutes_ago=1, schema=ITERATOR_SCHEMA)
    echo = make_prediction()
    chat = make_prediction(of=streaming.versions.get())
    assert "stream" not in client.get(f"/v1/predictions/{echo.pk}", **auth).json()["urls"]
    urls = client.get(f"/v1/predictions/{chat.pk}", **auth).json()["urls"]
    assert f"/v1/predictions/{chat.pk}/stream?token=" in urls["stream"]


def test_patch_sets_the_readme_and_weights_url(client, auth, version, tmp_path, settings):
    response = client.patch("/v1/models/alice/echo", {"readme": "# Echo\nSays it back.",
                                                      "weights_url": "https://example.com/echo.safetensors"},
                            content_type="application/json", **auth)
    assert response.json()["weights_url"] == "https://example.com/echo.safetensors"
    readme = client.get("/v1/models/alice/echo/readme", **auth)
    assert readme.status_code == 200 and readme.content.decode() == "# Echo\nSays it back."
    client.patch("/v1/models/alice/echo", {"readme": None}, content_type="application/json", **auth)
    assert_problem(client.get("/v1/models/alice/echo/readme", **auth), 404)  # back to the version's: it has none


def test_a_weights_url_that_is_not_http_is_422(client, auth, version):
    body = assert_problem(client.patch("/v1/models/alice/echo", {"weights_url": "javascript:alert(1)"},
                                       content_type="application/json", **auth), 422)
    assert [f["field"] for f in body["invalid_fields"]] == ["weights_url"]


def test_models_say_whether_they_are_official(client, auth, alice, settings):
    settings.COGMILL_OFFICIAL_OWNERS = ["cogmill"]
    _model(User.objects.create_user("cogmill"), "hello-world", pushed_minutes_ago=1)
    _model(alice, "mine", pushed_minutes_ago=1)
    assert client.get("/v1/models/cogmill/hello-world", **auth).json()["is_official"] is True
    assert client.get("/v1/models/alice/mine", **auth).json()["is_official"] is False


def test_a_collection_has_its_full_description(client, auth):
    Collection.objects.create(slug="llms", name="LLMs", description="Text models", full_description="## Pick one")
    Collection.objects.create(slug="plain", name="Plain")
    assert client.get("/v1/collections/llms", **auth).json()["full_description"] == "## Pick one"
    assert client.get("/v1/collections/plain", **auth).json()["full_description"] is None
    assert "full_description" not in client.get("/v1/collections", **auth).json()["results"][0]


def test_an_account_has_an_avatar_that_is_an_image_and_nothing_else(client, auth, alice):
    url = client.get("/v1/account", **auth).json()["avatar_url"]
    assert url.endswith("/avatars/alice.svg")
    image = client.get("/avatars/alice.svg")  # anyone may see it, logged out too
    assert image.status_code == 200 and image["Content-Type"] == "image/svg+xml"
    assert image["X-Content-Type-Options"] == "nosniff" and "sandbox" in image["Content-Security-Policy"]
    assert b">A</text>" in image.content and b"<script" not in image.content
    assert client.get("/avatars/nobody.svg").status_code == 404


# ---------------------------------------------------------------- the predictions list

def test_created_after_includes_its_own_instant_and_source_filters(client, auth, make_prediction):
    at = timezone.now().replace(microsecond=0) - timedelta(minutes=5)
    exactly = make_prediction(created_at=at)
    web = make_prediction(created_at=at + timedelta(minutes=1), source=Source.WEB)
    make_prediction(created_at=at - timedelta(seconds=1))
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    listed = client.get(f"/v1/predictions?created_after={stamp}", **auth).json()["results"]
    assert [p["id"] for p in listed] == [web.pk, exactly.pk]
    assert [p["id"] for p in client.get("/v1/predictions?source=web", **auth).json()["results"]] == [web.pk]
    assert web.pk not in [p["id"] for p in client.get("/v1/predictions?source=api", **auth).json()["results"]]
    assert_problem(client.get("/v1/predictions?source=cli", **auth), 422)


# ---------------------------------------------------------------- files

def test_file_form_fields_name_and_type_the_upload(client, auth):
    upload = SimpleUploadedFile("blob", b"%PDF-1.4", content_type="application/octet-stream")
    body = client.post("/v1/files", {"content": upload, "filename": "../../report.pdf", "type": "application/pdf"},
                       **auth).json()
    assert (body["name"], body["content_type"]) == ("report.pdf", "application/pdf")


@pytest.mark.parametrize(("fields", "bad"), [({"type": "not a type"}, "type"), ({"filename": "../"}, "filename"),
                                             ({"type": "text/html\r\nX-Evil: 1"}, "type")])
def test_bad_file_form_fields_are_422_naming_them(client, auth, fields, bad):
    upload = SimpleUploadedFile("a.txt", b"x", content_type="text/plain")
    body = assert_problem(client.post("/v1/files", {"content": upload, **fields}, **auth), 422)
    assert [f["field"] for f in body["invalid_fields"]] == [bad]


def test_other_users_cannot_see_anothers_private_model_in_search(client, alice, mallory):
    _model(alice, "private-llama", visibility="private", pushed_minutes_ago=1)
    assert client.get("/v1/search?query=llama", **bearer(mallory)).json()["models"] == []
    assert Prediction.objects.count() == 0


def test_a_search_of_a_thousand_words_costs_what_eight_do(client, auth, alice):
    """Every word was one more condition on three columns: 1000 words held the database for about a
    second, reachable anonymously. A search now looks for its first eight different words."""
    Model.objects.create(owner=alice, name="needle-finder", visibility="public", description="finds needles")
    flood = "needle " + " ".join(f"w{i}" for i in range(1000))
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/", {"q": flood})
    assert page.status_code == 200
    assert max(query["sql"].count("LIKE") for query in queries.captured_queries) <= 8 * 3
    assert [m.name for m in Model.objects.search("NEEDLE needle   finds")] == ["needle-finder"]  # once each
    answer = client.generic("QUERY", "/v1/models", flood, content_type="text/plain", **auth)
    assert answer.status_code == 200
