"""Builds on the model page: its owner follows versions that are waiting, building or failed (with
the log and the error); nobody else reads a build, and a model with no version ready to run has no
card on Explore for anyone but its owner (a public one is listed as on its way, by name)."""

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


CARD = 'class="card model-card" href="/alice/fresh"'


def test_a_model_with_nothing_ready_has_a_card_on_explore_only_for_its_owner(unbuilt, alice, mallory):
    assert CARD in client_for(alice).get("/").content.decode()
    assert CARD not in client_for(mallory).get("/").content.decode()
    assert CARD not in client_for(None).get("/").content.decode()
    unbuilt.versions.filter(build_status=BuildStatus.BUILDING).update(build_status=BuildStatus.READY)
    assert CARD in client_for(None).get("/").content.decode()


def test_explore_lists_public_models_on_their_way_and_only_their_owner_reads_the_log(unbuilt, alice, mallory):
    """What `make run` shows while its examples build: each model waiting or building, by name; the
    build log's last line for its owner alone; nothing of a private model to others."""
    for viewer in (None, mallory):
        page = client_for(viewer).get("/").content.decode()
        coming = page.split('id="coming"')[1].split("</ul>")[0]
        assert 'href="/alice/fresh"' in coming and "Building…" in coming
        assert "Installing numpy" not in page and "No matching distribution" not in page
    assert "Installing numpy" in client_for(alice).get("/").content.decode().split('id="coming"')[1]
    hidden = Model.objects.create(owner=alice, name="secret", visibility=Visibility.PRIVATE)
    Version.objects.create(model=hidden, version_id="3" * 64, build_status=BuildStatus.PENDING)
    assert "alice/secret" not in client_for(mallory).get("/").content.decode()
    assert "Waiting to build" in client_for(alice).get("/").content.decode()


def test_the_list_of_models_on_their_way_reloads_explore_when_one_it_listed_is_ready(unbuilt, mallory):
    building = unbuilt.versions.get(build_status=BuildStatus.BUILDING)
    page = client_for(mallory).get("/").content.decode()
    assert f"part=coming&amp;seen={building.pk}" in page
    part = client_for(mallory).get("/", {"part": "coming", "seen": str(building.pk)}, **HTMX)
    assert part.status_code == 200 and "every 3s" in part.content.decode() and "HX-Refresh" not in part
    # Another starts as this one ends, within one poll: the list it showed has changed all the same.
    other = Model.objects.create(owner=unbuilt.owner, name="later", visibility=Visibility.PUBLIC)
    Version.objects.create(model=other, version_id="4" * 64, build_status=BuildStatus.PENDING)
    building.build_status = BuildStatus.READY
    building.save()
    done = client_for(mallory).get("/", {"part": "coming", "seen": str(building.pk)}, **HTMX)
    assert done["HX-Refresh"] == "true"  # its card now shows in the grid
    coming = client_for(mallory).get("/").content.decode().split('id="coming"')[1].split("</ul>")[0]
    assert 'href="/alice/later"' in coming and 'href="/alice/fresh"' not in coming


def test_a_model_with_two_builds_waiting_is_listed_once(unbuilt, mallory):
    Version.objects.create(model=unbuilt, version_id="5" * 64, build_status=BuildStatus.PENDING)
    coming = client_for(mallory).get("/").content.decode().split('id="coming"')[1].split("</ul>")[0]
    assert coming.count('href="/alice/fresh"') == 1


def test_a_build_writes_its_log_to_its_row_while_it_builds(unbuilt):
    """What the owner's Builds panel and Explore read during a long build; nothing once it has ended."""
    from playground.worker.builds import LiveLog

    version = unbuilt.versions.get(build_status=BuildStatus.BUILDING)
    log = LiveLog(version.pk)
    log.FLUSH_SECONDS = 0
    log("Collecting numpy\n")
    version.refresh_from_db()
    assert version.build_log == "Collecting numpy\n"
    Version.objects.filter(pk=version.pk).update(build_status=BuildStatus.FAILED, build_log="the final log\n")
    log("late\n")
    version.refresh_from_db()
    assert version.build_log == "the final log\n"
