"""Every API operation and every page, walked as each persona, finds no leak.

alice owns private things of her own (a model, a version, predictions, a training, an upload, a
deployment, a token) and made a prediction of her organization acme's private model. Each thing
carries a marker in its text. Walking every operation of /v1/openapi.json and every page pattern:

- the outsider (mallory) and the anonymous visitor never see a marker, and get the 404 of a thing
  that does not exist (anonymous API calls: 401) for each of alice's things a path names;
- her teammates (bob, and carol, acme's admin) see acme's things but never alice's own;
- a read-only token of alice's is refused (403) every write, and changes nothing;
- alice herself reads every one of those paths (so the matrix walks real things, not typos);
- and after all the others' writes, alice's things are as they were.
"""

import io
import json
import re
import tarfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.models import ApiToken
from api.api import api
from playground.models import (
    BuildStatus,
    GalleryItem,
    Hardware,
    Model,
    Prediction,
    Status,
    Training,
    Version,
    Visibility,
)
from playground.services import deployments, files
from tests.unit.conftest import ECHO_SCHEMA, bearer, client_for, ready_version

pytestmark = pytest.mark.django_db

MARK_ALICE = "alicesownsecretmark"
MARK_ACME = "acmesteamsecretmark"
# What searches ask for: the marker, in capitals, so that a page or answer that repeats the query
# does not count as showing it (searches ignore case).
SEARCH = MARK_ALICE.upper()
TRAINABLE_SCHEMA = {"components": {"schemas": {**ECHO_SCHEMA["components"]["schemas"],
                                               "TrainingInput": ECHO_SCHEMA["components"]["schemas"]["Input"],
                                               "TrainingOutput": {"type": "object"}}}}


class World:
    """alice's things and acme's, and the path parameters that name them."""

    def __init__(self, alice, acme):
        hardware = Hardware.objects.filter(sku="cpu").first() or Hardware.objects.create(sku="cpu", name="CPU")
        self.model = Model.objects.create(owner=alice, name="secret-model", description=f"mine {MARK_ALICE}",
                                          hardware=hardware, visibility=Visibility.PRIVATE)
        self.version = Version.objects.create(model=self.model, version_id="c" * 64, openapi_schema=TRAINABLE_SCHEMA,
                                              build_status=BuildStatus.READY, cog_version="0.23.1",
                                              build_log=MARK_ALICE)
        self.team_version = ready_version(acme, "team-model", ECHO_SCHEMA, "d", description=f"ours {MARK_ACME}",
                                          hardware=hardware, visibility=Visibility.PRIVATE)
        self.team_model = self.team_version.model
        done = {"status": Status.SUCCEEDED, "logs": MARK_ALICE}
        self.prediction = Prediction.objects.create(owner=alice, model=self.model, version=self.version,
                                                    input={"text": MARK_ALICE}, output=MARK_ALICE, **done)
        self.team_prediction = Prediction.objects.create(
            owner=alice, model=self.team_model, version=self.team_version, input={"text": MARK_ACME},
            output=MARK_ACME, status=Status.SUCCEEDED)
        self.training = Training.objects.create(owner=alice, model=self.model, version=self.version,
                                                destination=self.model, input={"text": MARK_ALICE}, **done)
        self.upload = files.create_upload(alice, _named_file(f"{MARK_ALICE}.txt"), None)
        self.deployment = deployments.create_deployment(alice, "secret-deploy", "alice/secret-model",
                                                        self.version.version_id, "cpu", 0, 1)
        self.token = ApiToken.issue(alice, name=MARK_ALICE)[0]
        self.gallery_item = GalleryItem.objects.create(organization=acme, prediction=self.team_prediction,
                                                       added_by=alice)

    def api_params(self, path: str) -> dict[str, str]:
        on_deployment = path.startswith("/v1/deployments/")
        return {
            "owner": "alice", "name": "secret-deploy" if on_deployment else "secret-model",
            "version_id": self.version.version_id, "prediction_id": self.prediction.id,
            "training_id": self.training.id, "file_id": self.upload.id, "slug": "no-such-collection",
        }

    def page_params(self, route: str) -> dict[str, str]:
        on_deployment = route.startswith("deployments/")
        return {
            "owner": "alice", "name": "secret-deploy" if on_deployment else "secret-model",
            "prediction_id": self.prediction.id, "training_id": self.training.id, "token_id": str(self.token.pk),
            "org_name": "acme", "item_id": str(self.gallery_item.pk), "username": "alice",
        }

    def snapshot(self) -> dict:
        """What others' writes must leave as it was."""
        self.model.refresh_from_db()
        self.deployment.refresh_from_db()
        self.prediction.refresh_from_db()
        return {
            "model": (self.model.description, self.model.visibility),
            "versions": sorted(Version.objects.filter(model=self.model).values_list("version_id", flat=True)),
            "prediction": (self.prediction.status, self.prediction.is_public, self.prediction.data_removed),
            "training": Training.objects.get(pk=self.training.pk).status,
            "upload": files.File.objects.filter(pk=self.upload.pk).exists(),
            "deployment": (self.deployment.current_release_id, self.deployment.name),
            "token": ApiToken.objects.filter(pk=self.token.pk).exists(),
            "gallery": GalleryItem.objects.filter(pk=self.gallery_item.pk).exists(),
        }


def _named_file(name: str):
    return SimpleUploadedFile(name, b"private bytes " + MARK_ALICE.encode(), "text/plain")


def _bundle() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = b"predict: predict.py:Predictor\n"
        info = tarfile.TarInfo("cog.yaml")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def world(alice, acme) -> World:
    return World(alice, acme)


# ---------------------------------------------------------------- the API

OPERATIONS = sorted((method.upper(), path) for path, ops in api.get_openapi_schema()["paths"].items()
                    for method in ops)
NAMED = [(m, p) for m, p in OPERATIONS if "{" in p and "{slug}" not in p]
GLOBAL = [(m, p) for m, p in OPERATIONS if "{" not in p]


def _body(method: str, path: str, world: World) -> dict:
    """A request each operation would accept from someone allowed to make it."""
    if path.endswith("/versions") and method == "POST":
        return {"data": _bundle(), "content_type": "application/gzip"}
    if path == "/v1/files" and method == "POST":
        return {"data": {"content": _named_file("x.txt")}}
    bodies = {
        "/v1/predictions": {"version": f"alice/secret-model:{world.version.version_id}", "input": {"text": "x"}},
        "/v1/models": {"owner": "alice", "name": "fresh", "visibility": "private", "hardware": "cpu"},
        "/v1/deployments": {"name": "fresh", "model": "alice/secret-model", "version": world.version.version_id,
                            "hardware": "cpu", "min_instances": 0, "max_instances": 1},
    }
    if method == "QUERY":
        return {"data": SEARCH, "content_type": "text/plain"}
    if method == "PATCH":
        body = {"min_instances": 1} if "/deployments/" in path else {"description": "changed by someone else"}
    elif path.endswith("/trainings"):
        body = {"destination": "alice/secret-model", "input": {"text": "x"}}
    elif path.endswith("/predictions"):
        body = bodies.get(path, {"input": {"text": "x"}})
    else:
        body = bodies.get(path)
    return {} if body is None else {"data": body, "content_type": "application/json"}


def _call(client: Client, method: str, path: str, world: World, headers: dict):
    url = path.format(**world.api_params(path))
    if method == "GET":
        return client.get(url, {"query": SEARCH} if path == "/v1/search" else {}, **headers)
    body = _body(method, path, world)
    if body.get("content_type") == "application/json":
        return client.generic(method, url, json.dumps(body["data"]), "application/json", **headers)
    if body.get("content_type"):
        return client.generic(method, url, body["data"], body["content_type"], **headers)
    if "data" in body:  # multipart
        return client.post(url, body["data"], **headers)
    return client.generic(method, url, b"", **headers)


def _text(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


def _assert_no_leak(response, marks: tuple[str, ...], what: str) -> None:
    text = _text(response)
    for mark in marks:
        assert mark not in text, f"{what} shows {mark}: {text[:300]}"


# Refusals that are the same whether the thing exists or not, so they tell nothing: pushing to
# another's namespace, and Replicate's own 422 for a training of a version one may not use.
REFUSED_ALIKE = {
    ("POST", "/v1/models/{owner}/{name}/versions"): {403},
    ("POST", "/v1/models/{owner}/{name}/versions/{version_id}/trainings"): {422},
}


@pytest.mark.parametrize(("method", "path"), NAMED)
@pytest.mark.parametrize("persona", ["mallory", "anonymous", "bob", "carol"])
def test_others_get_404_for_alices_things_and_see_no_trace_of_them(world, persona, method, path, request):
    before = world.snapshot()
    headers = {} if persona == "anonymous" else bearer(request.getfixturevalue(persona))
    response = _call(Client(), method, path, world, headers)
    expected = {401} if persona == "anonymous" and "/stream" not in path else {404, *REFUSED_ALIKE.get((method, path), ())}
    assert response.status_code in expected, f"{persona} {method} {path}: {response.status_code} {_text(response)[:300]}"
    _assert_no_leak(response, (MARK_ALICE,) if persona in {"bob", "carol"} else (MARK_ALICE, MARK_ACME),
                    f"{persona} {method} {path}")
    assert world.snapshot() == before


@pytest.mark.parametrize(("method", "path"), [op for op in GLOBAL if op[0] in {"GET", "QUERY"}])
@pytest.mark.parametrize("persona", ["mallory", "anonymous", "bob"])
def test_lists_and_searches_show_others_nothing_of_alices(world, persona, method, path, request):
    headers = {} if persona == "anonymous" else bearer(request.getfixturevalue(persona))
    response = _call(Client(), method, path, world, headers)
    assert response.status_code in ({401} if persona == "anonymous" and path != "/v1/hardware" else {200, 401})
    _assert_no_leak(response, (MARK_ALICE,) if persona == "bob" else (MARK_ALICE, MARK_ACME), f"{persona} {path}")


@pytest.mark.parametrize(("method", "path"), [op for op in OPERATIONS if op[0] not in {"GET", "QUERY"}])
def test_a_read_only_token_is_refused_every_write(world, alice, method, path):
    before = world.snapshot()
    response = _call(Client(), method, path, world, bearer(alice, read_only=True))
    assert response.status_code == 403, f"{method} {path}: {response.status_code}"
    assert "read-only" in response.json()["detail"]
    assert world.snapshot() == before


@pytest.mark.parametrize(("method", "path"), [op for op in NAMED if op[0] == "GET"])
def test_alice_reads_every_one_of_her_things(world, alice, method, path):
    response = _call(Client(), method, path, world, bearer(alice))
    if path.endswith("/readme"):
        assert "has no README.md" in _text(response)  # the model's own 404: it has none
        return
    assert response.status_code == 200, f"{method} {path}: {response.status_code} {_text(response)[:300]}"


@pytest.mark.parametrize("persona", ["bob", "carol"])
def test_teammates_see_their_organizations_things(world, persona, request):
    """The matrix above is not passed by hiding everything: acme's model (API) and alice's run of
    it (its page; the API lists only one's own runs) are open to her teammates."""
    teammate = request.getfixturevalue(persona)
    model = Client().get("/v1/models/acme/team-model", **bearer(teammate))
    page = client_for(teammate).get(f"/p/{world.team_prediction.id}")
    assert model.status_code == page.status_code == 200
    assert MARK_ACME in _text(model) and MARK_ACME in _text(page)


# ---------------------------------------------------------------- the pages

def _page_routes() -> list[str]:
    """Every page pattern of the site (web.urls), as route strings like `p/<str:prediction_id>`."""
    routes = []

    def walk(patterns, prefix=""):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern) and entry.callback.__module__.startswith("web."):
                routes.append(prefix + str(entry.pattern))

    walk(get_resolver().url_patterns)
    return sorted(set(routes))


PAGES = _page_routes()
PERSONAL = re.compile(r"<(?:str|int):(?:owner|prediction_id|training_id|token_id|item_id)>")
NAMED_PAGES = [route for route in PAGES if PERSONAL.search(route)]


def _page_url(route: str, world: World) -> str:
    params = world.page_params(route)
    return "/" + re.sub(r"<(?:str|int):(\w+)>", lambda m: params[m.group(1)], route)


@pytest.mark.parametrize("route", NAMED_PAGES)
@pytest.mark.parametrize("persona", ["mallory", "anonymous"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_pages_of_alices_things_are_404_to_others(world, persona, route, method, request):
    before = world.snapshot()
    client = client_for(None if persona == "anonymous" else request.getfixturevalue(persona))
    url = _page_url(route, world)
    response = getattr(client, method)(url, {"text": "x", "description": "changed", "visibility": "public"})
    _assert_no_leak(response, (MARK_ALICE, MARK_ACME), f"{persona} {method} {url}")
    to_login = response.status_code == 302 and response["Location"].startswith("/login")
    assert response.status_code in {404, 405} or (persona == "anonymous" and to_login), (
        f"{persona} {method} {url}: {response.status_code}")
    assert world.snapshot() == before


@pytest.mark.parametrize("route", [r for r in PAGES if "<" not in r or r.startswith("orgs/<str:name>")])
@pytest.mark.parametrize("persona", ["mallory", "anonymous"])
def test_other_pages_show_others_nothing_of_alices(world, persona, route, request):
    client = client_for(None if persona == "anonymous" else request.getfixturevalue(persona))
    url = "/" + route.replace("<str:name>", "acme").replace("<str:username>", "alice")
    response = client.get(url, {"q": SEARCH})
    _assert_no_leak(response, (MARK_ALICE, MARK_ACME), f"{persona} GET {url}")


@pytest.mark.parametrize("route", NAMED_PAGES)
def test_alice_opens_the_pages_of_her_things(world, alice, route):
    response = client_for(alice).get(_page_url(route, world))
    assert response.status_code in {200, 405}, f"{route}: {response.status_code}"
