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
def token(cogmill) -> str:
    return cogmill.token("alice")


@pytest.fixture(scope="session")
def other_token(cogmill) -> str:
    return cogmill.token("mallory")


@pytest.fixture
def gate() -> Path:
    """A path for the `gated` model: creating the file lets the prediction finish."""
    return gate_path()
