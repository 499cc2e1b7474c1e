"""Model versions through the official Python client: list, get, delete (hidden when still used)."""

import shutil
import uuid
from pathlib import Path

import httpx
import pytest
from replicate.exceptions import ReplicateError
from replicate.version import Versions

from tests.server import ROOT, wait_finished


def _hello_folder(parent: Path, tag: str) -> Path:
    """hello-world with a README line of its own, so each push is a distinct version."""
    folder = parent / tag
    shutil.copytree(ROOT / "examples" / "hello-world", folder)
    with (folder / "README.md").open("a") as readme:
        readme.write(f"\n{tag}\n")
    return folder


@pytest.fixture
def two_versions(cogmill, tmp_path) -> tuple[str, str, str]:
    """(alice's model ref, older version id, newer version id)."""
    suffix = uuid.uuid4().hex[:8]
    ref = f"alice/versioned-{suffix}"
    older = cogmill.push(_hello_folder(tmp_path, f"one-{suffix}"), ref)
    newer = cogmill.push(_hello_folder(tmp_path, f"two-{suffix}"), ref)
    return ref, older, newer


def _status(call) -> int:
    with pytest.raises(ReplicateError) as info:
        call()
    return info.value.status


def test_list_versions_newest_first(client, two_versions):
    ref, older, newer = two_versions
    page = client.models.get(ref).versions.list()
    assert [v.id for v in page] == [newer, older]
    assert page.next is None
    assert all(v.cog_version and v.openapi_schema["components"]["schemas"]["Output"] for v in page)


def test_get_version(client, cogmill):
    version = client.models.get("cogmill/hello-world").versions.get(cogmill.versions["hello-world"])
    assert version.id == cogmill.versions["hello-world"]
    assert version.openapi_schema["components"]["schemas"]["Input"]["properties"]["text"]["type"] == "string"


def test_unknown_version_is_404(client):
    assert _status(lambda: client.models.get("cogmill/hello-world").versions.get("0" * 64)) == 404


def test_outsider_reads_public_versions(outsider, cogmill):
    versions = outsider.models.get("cogmill/hello-world").versions.list()
    assert cogmill.versions["hello-world"] in [v.id for v in versions]


def test_versions_of_a_private_model_are_404_to_others(cogmill, token, outsider, two_versions):
    ref, older, _ = two_versions
    httpx.patch(f"{cogmill.base_url}/v1/models/{ref}", json={"visibility": "private"},
                headers={"Authorization": f"Bearer {token}"}).raise_for_status()
    versions = Versions(outsider, ref)
    assert _status(versions.list) == 404
    assert _status(lambda: versions.get(older)) == 404
    assert _status(lambda: versions.delete(older)) == 404


def test_delete_unused_version_removes_it_and_its_bundle(cogmill, client, two_versions):
    ref, older, newer = two_versions
    versions = client.models.get(ref).versions
    assert versions.delete(older) is True
    assert [v.id for v in versions.list()] == [newer]
    assert _status(lambda: versions.get(older)) == 404
    assert not (cogmill.data_dir / "versions" / older).exists()
    assert not (cogmill.data_dir / "versions" / f"{older}.tar.gz").exists()
    assert client.run(ref, input={"text": "still"}) == "hello still"


def test_delete_used_version_hides_it_and_keeps_its_predictions(client, two_versions):
    ref, older, newer = two_versions
    prediction = wait_finished(
        client.predictions.create(version=f"{ref}:{older}", input={"text": "kept"}, wait=True))
    versions = client.models.get(ref).versions
    assert versions.delete(older) is True
    assert [v.id for v in versions.list()] == [newer]
    assert _status(lambda: versions.get(older)) == 404
    kept = client.predictions.get(prediction.id)
    assert (kept.version, kept.output) == (older, "hello kept")
    assert _status(lambda: client.run(f"{ref}:{older}", input={"text": "gone"})) == 422  # an invalid version
    assert _status(lambda: client.predictions.create(version=older, input={"text": "gone"})) == 422


def test_latest_version_follows_deletes(client, two_versions):
    ref, older, newer = two_versions
    client.models.get(ref).versions.delete(newer)
    assert client.models.get(ref).latest_version.id == older


def test_delete_by_others(outsider, cogmill):
    versions = outsider.models.get("cogmill/hello-world").versions
    assert _status(lambda: versions.delete(cogmill.versions["hello-world"])) == 403
    assert versions.get(cogmill.versions["hello-world"]).id == cogmill.versions["hello-world"]


def test_delete_unknown_version_is_404(client, two_versions):
    ref, _, _ = two_versions
    assert _status(lambda: client.models.get(ref).versions.delete("f" * 64)) == 404
