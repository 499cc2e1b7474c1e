"""Pushing model folders: through the API and `push_model`, good bundles and bad ones."""

import shutil

import httpx
import pytest

from playground.bundles import pack_dir
from tests.server import ROOT, wait_until

HELLO = ROOT / "examples" / "hello-world"


def _push(cogmill, token, ref: str, data: bytes) -> httpx.Response:
    return httpx.post(f"{cogmill.base_url}/v1/models/{ref}/versions", headers={"Authorization": f"Bearer {token}"},
                      files={"bundle": ("model.tar.gz", data, "application/gzip")}, timeout=60)


def _built(cogmill, token, url: str) -> dict:
    """The version once its build has ended, ready or failed."""

    def ended():
        body = httpx.get(url, headers={"Authorization": f"Bearer {token}"}).json()
        return body if body["build"]["status"] in {"ready", "failed"} else None

    return wait_until(ended, 300, 0.2, "the build")


def test_push_through_the_api_builds_a_runnable_version(cogmill, token, client, tmp_path):
    src = tmp_path / "echo"
    shutil.copytree(HELLO, src)
    (src / "predict.py").write_text((src / "predict.py").read_text().replace('"hello "', '"echo "'))
    response = _push(cogmill, token, "alice/echo", pack_dir(src))
    assert response.status_code == 201
    version = response.json()
    assert len(version["id"]) == 64 and version["build"]["status"] in {"pending", "building", "ready"}
    body = _built(cogmill, token, f"{cogmill.base_url}/v1/models/alice/echo/versions/{version['id']}")
    assert body["build"]["status"] == "ready", body["build"]["logs"]
    assert body["openapi_schema"]["components"]["schemas"]["Input"]["properties"]["text"]["type"] == "string"
    assert client.run(f"alice/echo:{version['id']}", input={"text": "me"}) == "echo me"
    assert client.models.get("alice/echo").visibility == "private"  # its owner makes it public
    again = _push(cogmill, token, "alice/echo", pack_dir(src))
    assert again.status_code == 200 and again.json()["id"] == version["id"]  # same bytes, same version


def test_push_into_someone_elses_namespace_is_403(cogmill, token):
    assert _push(cogmill, token, "cogmill/hijack", pack_dir(HELLO)).status_code == 403


@pytest.mark.parametrize("data, message", [(b"garbage", "not a tar archive"), (None, "cog.yaml not found")])
def test_unusable_uploads_are_400(cogmill, token, tmp_path, data, message):
    if data is None:
        (tmp_path / "predict.py").write_text("")
        data = pack_dir(tmp_path)
    response = _push(cogmill, token, "alice/broken", data)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert message in response.json()["detail"]


def test_push_without_a_file_is_400(cogmill, token):
    response = httpx.post(f"{cogmill.base_url}/v1/models/alice/empty/versions",
                          headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert response.status_code == 400


BAD_MODELS = {
    "missing-predictor": ({"cog.yaml": 'predict: "nothere.py:Predictor"\n'}, "nothere.py"),
    "import-error": ({"cog.yaml": 'predict: "predict.py:Predictor"\n',
                      "predict.py": "import not_a_module_anywhere\n"}, "not_a_module_anywhere"),
    "unsupported-field": ({"cog.yaml": 'build:\n  system_packages: ["cogmill-no-such-package"]\npredict: "predict.py:Predictor"\n',
                           "predict.py": (HELLO / "predict.py").read_text()}, "system_packages"),
    "bad-yaml": ({"cog.yaml": "predict: [unclosed\n"}, "cog.yaml"),
}


@pytest.mark.parametrize("name", sorted(BAD_MODELS))
def test_bad_bundle_fails_with_its_log_and_is_never_served(cogmill, token, tmp_path, name):
    files, needle = BAD_MODELS[name]
    for filename, text in files.items():
        (tmp_path / filename).write_text(text)
    result = cogmill.manage("push_model", str(tmp_path), f"alice/{name}", check=False)
    assert result.returncode != 0
    assert needle in result.stderr
    response = httpx.post(f"{cogmill.base_url}/v1/models/alice/{name}/predictions", json={"input": {}},
                          headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert response.status_code == 409  # the model exists, but it has nothing runnable


def test_a_model_whose_input_pattern_needs_backtracking_is_not_built(cogmill, token, tmp_path):
    """RE2 checks inputs in linear time; a pattern it cannot run (a backreference) fails the build."""
    src = tmp_path / "twice"
    src.mkdir()
    (src / "cog.yaml").write_text('predict: "predict.py:Predictor"\n')
    (src / "predict.py").write_text(
        "from cog import BasePredictor, Input\n\n\n"
        "class Predictor(BasePredictor):\n"
        "    def predict(self, word: str = Input(regex=r'^(\\w)\\1$')) -> str:\n"
        "        return word\n"
    )
    response = _push(cogmill, token, "alice/twice", pack_dir(src))
    assert response.status_code == 201
    build = _built(cogmill, token, f"{cogmill.base_url}/v1/models/alice/twice/versions/{response.json()['id']}")["build"]
    assert build["status"] == "failed"
    assert "cannot be matched in linear time" in build["error"] and "word" in build["error"]
