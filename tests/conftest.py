"""A real Cogmill shared by the end-to-end suites (API clients and browser)."""

import shutil
import tempfile
from pathlib import Path

import pytest

from tests.server import ROOT, CogmillServer, gate_path

FIXTURE_MODELS = Path(__file__).parent / "fixtures" / "models"


@pytest.fixture(scope="session")
def cogmill():
    """A running Cogmill with the two examples and the test fixture models pushed."""
    data_dir = Path(tempfile.mkdtemp(prefix="cogmill-e2e-"))
    server = CogmillServer(data_dir)
    try:
        server.start()
        server.versions = {
            "hello-world": server.push(ROOT / "examples" / "hello-world", "cogmill/hello-world"),
            "textgen": server.push(ROOT / "examples" / "textgen", "cogmill/textgen"),
        }
        for name in ("gated", "failing", "files", "reader", "secretive"):
            server.versions[name] = server.push(FIXTURE_MODELS / name, f"testers/{name}")
        yield server
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def catalogue(cogmill) -> dict[str, dict]:
    """Every example beyond the first two (examples/catalog.yaml), loaded as `make run` loads them:
    built, described, collected, each with its default example run; their models as the API shows
    them. Building them takes minutes the first time (their venvs are cached across runs)."""
    import httpx
    import yaml

    listed = yaml.safe_load((ROOT / "examples" / "catalog.yaml").read_text())
    done = cogmill.manage("load_examples", "--rest", check=False, timeout=3000)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{cogmill.log_tail('worker')}"
    headers = {"Authorization": f"Bearer {cogmill.token('cogmill')}"}
    models = {}
    for name in sorted(set(listed["models"]) - set(listed["first"])):
        response = httpx.get(f"{cogmill.base_url}/v1/models/cogmill/{name}", headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        models[name] = response.json()
    return models


@pytest.fixture(scope="session")
def token(cogmill) -> str:
    return cogmill.token("alice")


@pytest.fixture(scope="session")
def other_token(cogmill) -> str:
    return cogmill.token("mallory")


@pytest.fixture
def gate() -> Path:
    """A path for the `gated` model: creating the file lets the prediction finish."""
    return gate_path()
