"""The model's Settings tab: only its owner sees or changes it; details, visibility, hardware, a cover
picked from a run (signed wherever it is shown), the README with a preview, and examples picked from
the owner's runs. Bad input gets the error beside its field and changes nothing."""

from urllib.parse import urlsplit

import pytest

from playground import capabilities
from playground.models import Hardware, Model, Prediction, Status, Visibility
from tests.unit.conftest import bearer, client_for, ready_version, stored_output

pytestmark = pytest.mark.django_db

IMAGE_OUTPUT = {"components": {"schemas": {
    "Input": {"type": "object", "properties": {"text": {"type": "string"}}},
    "Output": {"type": "string", "format": "uri"},
}}}


def _details(model: Model, **changes) -> dict:
    data = {"section": "details", "description": model.description, "visibility": model.visibility,
            "hardware": model.hardware.sku if model.hardware_id else "cpu", "cover_image_url": model.cover_image_url,
            "github_url": "", "paper_url": "", "license_url": "", "readme": model.readme}
    return {**data, **changes}


@pytest.fixture
def cpu(db):
    return Hardware.objects.get_or_create(sku="cpu", defaults={"name": "CPU"})[0]


@pytest.fixture
def painter(alice, cpu):
    """alice/painter: its runs write an image; one of alice's succeeded with out.png."""
    version = ready_version(alice, "painter", IMAGE_OUTPUT, "p", hardware=cpu)
    prediction = Prediction.objects.create(owner=alice, model=version.model, version=version, input={"text": "a"},
                                           status=Status.SUCCEEDED)
    stored_output(prediction, "out.png", b"\x89PNG!", "image/png")
    return version.model


def _signed(url: str) -> bool:
    return "expires=" in urlsplit(url).query and "sig=" in urlsplit(url).query


def test_only_the_owner_has_settings(client, painter, bob):
    assert "?tab=settings" not in client.get("/alice/painter").content.decode()
    assert client.post("/alice/painter/settings", _details(painter)).status_code == 302  # to log in
    bob_client = client_for(bob)
    page = bob_client.get("/alice/painter?tab=settings").content.decode()
    assert "Settings" not in page and 'id="details-form"' not in page
    assert bob_client.post("/alice/painter/settings", _details(painter, description="mine now")).status_code == 403
    painter.refresh_from_db()
    assert painter.description == ""
    owner_page = client_for(painter.owner).get("/alice/painter?tab=settings").content.decode()
    assert 'id="details-form"' in owner_page and 'id="examples-form"' in owner_page


def test_the_owner_saves_details_and_visibility(painter):
    client = client_for(painter.owner)
    response = client.post("/alice/painter/settings", _details(
        painter, description="Paints a picture", visibility="private", github_url="https://github.com/a/painter",
        readme="# Painter\n\nIt paints."))
    assert response.status_code == 302 and response["Location"] == "/alice/painter?tab=settings"
    page = client.get("/alice/painter?tab=settings").content.decode()
    assert "Saved the details of alice/painter." in page
    assert "A model pushed through the API starts private." in page  # the visibility choices say what each means
    painter.refresh_from_db()
    assert painter.description == "Paints a picture" and painter.visibility == Visibility.PRIVATE
    assert painter.github_url == "https://github.com/a/painter"
    readme = client.get("/alice/painter?tab=readme").content.decode()
    assert "<h1>Painter</h1>" in readme


@pytest.mark.parametrize(("field", "value", "error"), [
    ("github_url", "javascript:alert(1)", "Enter a valid URL."),
    ("cover_image_url", "ftp://example.com/x.png", "Enter a valid URL."),
    ("visibility", "everyone", "Select a valid choice."),
    ("hardware", "quantum", "Select a valid choice."),
])
def test_bad_details_are_refused_beside_their_field_and_change_nothing(painter, field, value, error):
    client = client_for(painter.owner)
    response = client.post("/alice/painter/settings", _details(painter, **{"description": "changed", field: value}))
    assert response.status_code == 422
    page = response.content.decode()
    assert error in page and 'id="details-form"' in page
    painter.refresh_from_db()
    assert painter.description == "" and painter.github_url == "" and painter.cover_image_url == ""


def test_a_model_trained_from_someone_elses_private_model_cannot_go_public(painter, bob):
    """The catalogue's own refusal lands on the visibility field."""
    theirs = ready_version(bob, "secret-base", IMAGE_OUTPUT, "s", visibility=Visibility.PRIVATE)
    painter.visibility = Visibility.PRIVATE
    painter.save()
    painter.versions.update(base=theirs)
    response = client_for(painter.owner).post("/alice/painter/settings", _details(painter, visibility="public"))
    assert response.status_code == 422 and "it stays private" in response.content.decode()
    painter.refresh_from_db()
    assert painter.visibility == Visibility.PRIVATE


def test_a_rule_about_a_field_left_alone_does_not_stop_a_save(painter, bob):
    """A public model whose base was made private since may not go public again, but its owner still
    saves its description: only what changed is applied."""
    theirs = ready_version(bob, "later-private", IMAGE_OUTPUT, "s")
    painter.versions.update(base=theirs)
    theirs.model.visibility = Visibility.PRIVATE
    theirs.model.save()
    response = client_for(painter.owner).post("/alice/painter/settings", _details(painter, description="Still mine"))
    assert response.status_code == 302, [line for line in response.content.decode().splitlines() if "error" in line]
    painter.refresh_from_db()
    assert painter.description == "Still mine" and painter.visibility == Visibility.PUBLIC


def test_covers_and_links_on_this_sites_own_host_are_kept(painter, settings):
    """A site whose address has no top-level domain (http://cogmill:8000) still takes its own URLs."""
    settings.PUBLIC_URL = "http://cogmill:8000"
    cover = "http://cogmill:8000/static/img/covers/hello-world.svg"
    response = client_for(painter.owner).post("/alice/painter/settings", _details(painter, cover_image_url=cover))
    assert response.status_code == 302, [l for l in response.content.decode().splitlines() if "errorlist" in l]
    painter.refresh_from_db()
    assert painter.cover_image_url == cover


def test_a_signed_cover_given_back_is_kept_unsigned(painter):
    """A client that GETs the model and PATCHes it back sends the signed cover; what is kept is the
    file's own URL, signed again wherever it is shown (a kept signature would expire)."""
    stored = painter.predictions.get().output
    signed = capabilities.signed_file_url(stored)
    response = client_for(None).patch("/v1/models/alice/painter", {"cover_image_url": signed},
                                      content_type="application/json", **bearer(painter.owner))
    assert response.status_code == 200, response.content
    painter.refresh_from_db()
    assert painter.cover_image_url == stored and _signed(painter.shown_cover_url)


def test_a_readme_preview_is_rendered_safely_and_not_saved(painter):
    response = client_for(painter.owner).post("/alice/painter/settings", _details(
        painter, action="preview", readme="## Draft\n\n<script>alert(1)</script>**bold**"))
    page = response.content.decode()
    assert response.status_code == 200 and 'id="readme-preview"' in page
    assert "<h2>Draft</h2>" in page and "<strong>bold</strong>" in page and "<script>alert(1)" not in page
    assert "Not saved yet." in page and "## Draft" in page  # the textarea keeps what was typed
    painter.refresh_from_db()
    assert painter.readme == ""


def test_a_cover_is_picked_from_a_run_and_signed_wherever_it_is_shown(painter, bob):
    client = client_for(painter.owner)
    page = client.get("/alice/painter?tab=settings").content.decode()
    stored = painter.predictions.get().output
    assert f'value="{stored}"' in page  # offered as the URL it is kept under
    assert client.post("/alice/painter/settings", _details(painter, cover_pick=stored)).status_code == 302
    painter.refresh_from_db()
    assert painter.cover_image_url == stored
    # Others see it on Explore and in the API through a signed URL that opens the file for them.
    explore = client_for(bob).get("/").content.decode()
    shown = explore.split('class="cover" src="')[1].split('"')[0].replace("&amp;", "&")
    assert shown.startswith(stored + "?") and _signed(shown)
    assert client_for(bob).get(urlsplit(shown).path + "?" + urlsplit(shown).query).status_code == 200
    api = client_for(None).get("/v1/models/alice/painter", **bearer(bob)).json()
    assert _signed(api["cover_image_url"])


def test_a_cover_url_of_someone_elses_file_is_never_signed(painter, bob):
    """An owner may set any URL as a cover through the API, but only their own runs' files get signed:
    pointing the cover at another person's private output does not open it to anyone."""
    version = ready_version(bob, "bobs", IMAGE_OUTPUT, "b")
    theirs = Prediction.objects.create(owner=bob, model=version.model, version=version, status=Status.SUCCEEDED)
    f = stored_output(theirs, "private.png", b"x", "image/png", output=False)
    painter.cover_image_url = f.url
    painter.save()
    assert painter.shown_cover_url == f.url and not capabilities.check_file_url(painter.shown_cover_url) is \
        capabilities.Verdict.VALID


def test_a_picked_cover_must_be_one_offered(painter):
    response = client_for(painter.owner).post("/alice/painter/settings", _details(
        painter, cover_pick="http://testserver/output/nope/other.png"))
    assert response.status_code == 422 and "Select a valid choice." in response.content.decode()


def test_examples_and_the_default_are_picked_from_the_owners_runs(painter, bob):
    version = painter.versions.get()
    mine = [painter.predictions.get()] + [
        Prediction.objects.create(owner=painter.owner, model=painter, version=version, status=Status.SUCCEEDED,
                                  input={"text": str(i)}) for i in range(2)]
    failed = Prediction.objects.create(owner=painter.owner, model=painter, version=version, status=Status.FAILED)
    bobs = Prediction.objects.create(owner=bob, model=painter, version=version, status=Status.SUCCEEDED)
    client = client_for(painter.owner)
    page = client.get("/alice/painter?tab=settings").content.decode()
    assert all(f'id="candidate-{p.id}"' in page for p in mine)
    assert f'id="candidate-{failed.id}"' not in page and f'id="candidate-{bobs.id}"' not in page

    response = client.post("/alice/painter/settings", {"section": "examples", "examples": [mine[0].id, mine[1].id],
                                                       "default_example": mine[2].id})
    assert response.status_code == 302
    painter.refresh_from_db()
    assert set(painter.examples.values_list("pk", flat=True)) == {p.id for p in mine}  # the default is one too
    assert painter.default_example_id == mine[2].id
    api = client_for(None).get("/v1/models/alice/painter", **bearer(painter.owner)).json()
    assert api["default_example"]["id"] == mine[2].id

    refused = client.post("/alice/painter/settings", {"section": "examples", "examples": [bobs.id]})
    assert refused.status_code == 422 and "Select a valid choice." in refused.content.decode()
    assert set(painter.examples.values_list("pk", flat=True)) == {p.id for p in mine}

    client.post("/alice/painter/settings", {"section": "examples", "examples": [], "default_example": ""})
    painter.refresh_from_db()
    assert not painter.examples.exists() and painter.default_example_id is None


def test_explore_shows_a_cover_or_else_the_default_examples_output(painter, alice, cpu):
    writer = ready_version(alice, "writer", {"components": {"schemas": {
        "Input": {"type": "object", "properties": {}}, "Output": {"type": "string"}}}}, "w", hardware=cpu).model
    sample = Prediction.objects.create(owner=alice, model=writer, version=writer.versions.get(),
                                       status=Status.SUCCEEDED, output="Once upon a time, a sample")
    writer.default_example = sample
    writer.save()
    page = client_for(None).get("/").content.decode()
    card = page.split('href="/alice/writer"')[1].split("</a>")[0]
    assert 'class="cover sample-text"' in card and "Once upon a time, a sample" in card
