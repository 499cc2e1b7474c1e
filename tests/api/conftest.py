import tempfile
from pathlib import Path

import pytest
import replicate

from tests.server import ROOT, CogmillServer

FIXTURE_MODELS = Path(__file__).parent.parent / "fixtures" / "models"


@pytest.fixture(scope="session")
def cogmill():
    """A running Cogmill with the two examples and the test fixture models pushed."""
    server = CogmillServer(Path(tempfile.mkdtemp(prefix="cogmill-e2e-")))
    try:
        server.start()
        server.versions = {
            "hello-world": server.push(ROOT / "examples" / "hello-world", "cogmill/hello-world"),
            "textgen": server.push(ROOT / "examples" / "textgen", "cogmill/textgen"),
        }
        for name in ("gated", "failing", "files", "reader"):
            server.versions[name] = server.push(FIXTURE_MODELS / name, f"testers/{name}")
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def token(cogmill) -> str:
    return cogmill.token("alice")


@pytest.fixture(scope="session")
def other_token(cogmill) -> str:
    return cogmill.token("mallory")


@pytest.fixture
def client(cogmill, token) -> replicate.Client:
    return replicate.Client(api_token=token, base_url=cogmill.base_url)


@pytest.fixture
def gate(tmp_path) -> Path:
    """A path for the `gated` model: creating the file lets the prediction finish."""
    return tmp_path / "gate"
