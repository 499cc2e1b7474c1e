"""Sharing and team galleries: who sees what, who may add, remove and star."""

from urllib.parse import parse_qs, urlparse

import pytest
from django.test import Client

from accounts.models import Membership, User
from playground.errors import NotFound
from playground.models import BuildStatus, GalleryItem, GalleryStar, Model, Prediction, Status, Version
from playground.services import galleries
from tests.unit.conftest import client_for
from web import presenters

pytestmark = pytest.mark.django_db

SCHEMA = {
    "components": {
        "schemas": {
            "Input": {
                "type": "object",
                "properties": {
                    "prompt": {"type": "string"},
                    "max_tokens": {"type": "integer"},
                    "api_key": {"type": "string", "format": "password", "x-cog-secret": True},
                    "image": {"type": "string", "format": "uri"},
                },
            },
            "Output": {"type": "array", "items": {"type": "string"}, "x-cog-array-type": "iterator"},
        }
    }
}


@pytest.fixture
def prediction(alice):
    model = Model.objects.create(owner=alice, name="writer")
    version = Version.objects.create(model=model, version_id="c" * 64, build_status=BuildStatus.READY,
                                     openapi_schema=SCHEMA)
    return Prediction.objects.create(
        owner=alice, model=model, version=version, status=Status.SUCCEEDED,
        input={"prompt": "a haiku about mills", "max_tokens": 30, "api_key": "sk-very-secret",
               "image": "https://example.com/in.png"},
        output=["Water ", "turns ", "the stone"],
    )


# ---------------------------------------------------------------- public share links

def test_private_predictions_are_404_to_everyone_but_the_owner(prediction, alice, mallory):
    assert client_for(alice).get(f"/p/{prediction.id}").status_code == 200
    assert client_for(mallory).get(f"/p/{prediction.id}").status_code == 404
    assert client_for().get(f"/p/{prediction.id}").status_code == 404


def test_a_public_prediction_opens_read_only_logged_out(prediction, alice):
    response = client_for(alice).post(f"/p/{prediction.id}/share", {"public": "1"})
    assert response.status_code == 302
    prediction.refresh_from_db()
    assert prediction.is_public

    page = client_for().get(f"/p/{prediction.id}")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Water" in html and "the stone" in html
    assert "a haiku about mills" in html
    assert "sk-very-secret" not in html
    assert f"/p/{prediction.id}/cancel" not in html
    assert f"/p/{prediction.id}/share" not in html
    assert f"/p/{prediction.id}/remove" not in html


def test_secrets_are_masked_for_the_owner_too(prediction, alice):
    html = client_for(alice).get(f"/p/{prediction.id}").content.decode()
    assert "sk-very-secret" not in html


def test_only_the_owner_toggles_sharing(prediction, mallory, bob, acme):
    assert client_for(mallory).post(f"/p/{prediction.id}/share", {"public": "1"}).status_code == 404
    assert client_for(bob).post(f"/p/{prediction.id}/share", {"public": "1"}).status_code == 404
    assert client_for().post(f"/p/{prediction.id}/share", {"public": "1"}).status_code == 302  # to /login
    prediction.refresh_from_db()
    assert not prediction.is_public
    with pytest.raises(NotFound):
        galleries.set_public(mallory, prediction, True)


def test_sharing_can_be_turned_off(prediction, alice, mallory):
    galleries.set_public(alice, prediction, True)
    assert client_for(mallory).get(f"/p/{prediction.id}").status_code == 200
    client_for(alice).post(f"/p/{prediction.id}/share", {"public": "0"})
    assert client_for(mallory).get(f"/p/{prediction.id}").status_code == 404


def test_the_share_toggle_answers_htmx_with_its_partial(prediction, alice):
    response = client_for(alice).post(f"/p/{prediction.id}/share", {"public": "1"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Make private" in html and f"/p/{prediction.id}" in html
    assert "<html" not in html


def test_the_share_toggle_needs_csrf(prediction, alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(f"/p/{prediction.id}/share", {"public": "1"}).status_code == 403


# ---------------------------------------------------------------- adding and removing

def test_a_member_adds_their_prediction_to_their_organizations_gallery(prediction, alice, acme):
    response = client_for(alice).post(f"/p/{prediction.id}/gallery", {"organization": "acme"})
    assert response.status_code == 302
    item = GalleryItem.objects.get()
    assert (item.organization, item.prediction, item.added_by) == (acme, prediction, alice)
    client_for(alice).post(f"/p/{prediction.id}/gallery", {"organization": "acme"})
    assert GalleryItem.objects.count() == 1


def test_nobody_adds_to_a_gallery_of_an_organization_they_are_not_in(prediction, alice, mallory, acme):
    other = User.objects.create_user("globex", kind=User.Kind.ORGANIZATION)
    Membership.objects.create(organization=other, member=mallory)
    response = client_for(alice).post(f"/p/{prediction.id}/gallery", {"organization": "globex"},
                                      HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert "Choose one of your organizations" in response.content.decode()
    assert not GalleryItem.objects.exists()


def test_only_the_owner_adds_a_prediction_to_a_gallery(prediction, bob, acme):
    assert client_for(bob).post(f"/p/{prediction.id}/gallery", {"organization": "acme"}).status_code == 404
    with pytest.raises(NotFound):
        galleries.add_to_gallery(bob, prediction, "acme")
    assert not GalleryItem.objects.exists()


def test_members_remove_their_own_items_and_admins_any(prediction, alice, bob, carol, acme):
    item = galleries.add_to_gallery(alice, prediction, "acme")
    url = f"/galleries/acme/items/{item.pk}/remove"
    assert client_for(bob).post(url).status_code == 404
    assert client_for(carol).post(url).status_code == 302
    assert not GalleryItem.objects.exists()

    item = galleries.add_to_gallery(alice, prediction, "acme")
    assert client_for(alice).post(f"/galleries/acme/items/{item.pk}/remove").status_code == 302
    assert not GalleryItem.objects.exists()


# ---------------------------------------------------------------- gallery pages

def test_galleries_lists_my_organizations(alice, acme, mallory):
    html = client_for(alice).get("/galleries").content.decode()
    assert "/galleries/acme" in html
    assert "/galleries/acme" not in client_for(mallory).get("/galleries").content.decode()
    assert client_for().get("/galleries").status_code == 302


def test_a_gallery_is_404_to_non_members(prediction, alice, mallory, acme):
    galleries.add_to_gallery(alice, prediction, "acme")
    assert client_for(mallory).get("/galleries/acme").status_code == 404
    assert client_for(mallory).get("/galleries/alice").status_code == 404  # a person, not an organization
    assert client_for(mallory).get("/galleries/nobody").status_code == 404
    item = GalleryItem.objects.get()
    assert client_for(mallory).post(f"/galleries/acme/items/{item.pk}/star").status_code == 404
    assert not GalleryStar.objects.exists()


def test_a_gallery_card_shows_output_prompt_author_and_prompt_link(prediction, alice, bob, acme):
    galleries.add_to_gallery(alice, prediction, "acme")
    response = client_for(bob).get("/galleries/acme")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Water turns the stone" in html
    assert "a haiku about mills" in html
    assert "alice/writer" in html and "Added by alice" in html
    assert "sk-very-secret" not in html
    link = presenters.prefill_url(prediction)
    assert link.replace("&", "&amp;") in html
    url = urlparse(link)
    assert url.path == "/alice/writer"
    assert parse_qs(url.query) == {
        "version": ["c" * 64], "prompt": ["a haiku about mills"], "max_tokens": ["30"]
    }


def test_members_see_predictions_shared_on_their_gallery(prediction, alice, bob, mallory, acme):
    galleries.add_to_gallery(alice, prediction, "acme")
    assert client_for(bob).get(f"/p/{prediction.id}").status_code == 200
    assert client_for(mallory).get(f"/p/{prediction.id}").status_code == 404


def test_stars_toggle_and_sort_the_wall(prediction, alice, bob, carol, acme):
    first = galleries.add_to_gallery(alice, prediction, "acme")
    newer = Prediction.objects.create(owner=bob, model=prediction.model, version=prediction.version,
                                      status=Status.SUCCEEDED, input={"prompt": "newer one"}, output=["x"])
    second = galleries.add_to_gallery(bob, newer, "acme")

    star = f"/galleries/acme/items/{first.pk}/star"
    response = client_for(bob).post(star, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and 'aria-pressed="true"' in response.content.decode()
    assert galleries.toggle_star(carol, first) is True

    newest = [c.item for c in presenters.cards(galleries.gallery_items(acme, bob, "newest"), bob)]
    assert newest == [second, first]
    by_stars = list(galleries.gallery_items(acme, bob, "stars"))
    assert by_stars == [first, second]
    assert (by_stars[0].star_count, by_stars[0].starred) == (2, True)

    assert client_for(bob).post(star).status_code == 302  # without JS: back to the wall
    assert GalleryStar.objects.filter(item=first).count() == 1
    html = client_for(bob).get("/galleries/acme?sort=stars").content.decode()
    assert html.index("a haiku about mills") < html.index("newer one")


def test_prompt_link_leaves_out_files_and_secrets(prediction):
    fields = presenters.prompt_fields(prediction)
    assert fields == {"prompt": "a haiku about mills", "max_tokens": "30"}


def test_card_previews_text_images_and_files(prediction):
    assert presenters.output_preview(prediction).text == "Water turns the stone"

    output = {"type": "array", "items": {"type": "string", "format": "uri"}}
    files = Version.objects.create(
        model=prediction.model, version_id="d" * 64, build_status=BuildStatus.READY,
        openapi_schema={"components": {"schemas": {"Output": output}}},
    )
    made = Prediction(owner=prediction.owner, model=prediction.model, version=files, status=Status.SUCCEEDED,
                      output=["http://x/output/f1/out.png", "http://x/output/f2/notes.txt"])
    preview = presenters.output_preview(made)
    assert (preview.text, preview.images, preview.files) == (
        "", ["http://x/output/f1/out.png"], [("notes.txt", "http://x/output/f2/notes.txt")]
    )
