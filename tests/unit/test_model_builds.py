"""Builds on the model page: its owner follows versions that are waiting, building or failed (with
the log and the error); nobody else sees a build, and a model with no version ready to run is not
on Explore for anyone but its owner."""

import pytest

from playground.models import BuildStatus, Model, Version, Visibility
from tests.unit.conftest import client_for

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def unbuilt(alice) -> Model:
    """alice/fresh, public, with a failed build and one building, and nothing ready."""
    model = Model.objects.create(owner=alice, name="fresh", visibility=Visibility.PUBLIC, description="fresh one")
    Version.objects.create(model=model, version_id="1" * 64, build_status=BuildStatus.FAILED,
                           build_error="ERROR: No matching distribution found for torch==0.0.1",
                           build_log="Collecting torch==0.0.1\n")
    Version.objects.create(model=model, version_id="2" * 64, build_status=BuildStatus.BUILDING,
                           build_log="Installing numpy\n")
    return model


def test_the_owner_follows_failed_and_running_builds(unbuilt, alice):
    page = client_for(alice).get("/alice/fresh").content.decode()
    assert "Builds" in page and "Failed" in page and "Building…" in page
    assert "No matching distribution found for torch==0.0.1" in page and "Installing numpy" in page
    assert 'hx-trigger="every 2s"' in page  # refreshed while one builds


def test_the_builds_part_stops_refreshing_once_nothing_builds(unbuilt, alice):
    part = client_for(alice).get("/alice/fresh", {"part": "builds"}, **HTMX).content.decode()
    assert "Installing numpy" in part and "every 2s" in part
    unbuilt.versions.filter(build_status=BuildStatus.BUILDING).update(build_status=BuildStatus.READY)
    response = client_for(alice).get("/alice/fresh", {"part": "builds"}, **HTMX)
    part = response.content.decode()
    assert "every 2s" not in part and "Installing numpy" not in part and "Failed" in part
    assert response["HX-Refresh"] == "true"  # the page reloads once to show the version it built


@pytest.mark.parametrize("who", ["outsider", "anonymous"])
def test_nobody_else_sees_a_build(unbuilt, mallory, who):
    client = client_for(mallory if who == "outsider" else None)
    page = client.get("/alice/fresh").content.decode()
    assert "No matching distribution" not in page and "Installing numpy" not in page
    assert "No matching distribution" not in client.get("/alice/fresh", {"part": "builds"}, **HTMX).content.decode()


def test_a_model_with_nothing_ready_is_on_explore_only_for_its_owner(unbuilt, alice, mallory):
    assert "alice/fresh" in client_for(alice).get("/").content.decode()
    assert "alice/fresh" not in client_for(mallory).get("/").content.decode()
    assert "alice/fresh" not in client_for(None).get("/").content.decode()
    unbuilt.versions.filter(build_status=BuildStatus.BUILDING).update(build_status=BuildStatus.READY)
    assert "alice/fresh" in client_for(None).get("/").content.decode()
