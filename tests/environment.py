"""Loaded with `-p tests.environment` before Django: gives each test run its own data folder.

Model venvs are cached across runs in COGMILL_TEST_CACHE (default ~/.cache/cogmill-test) so
a second run does not reinstall them; everything else starts empty.
"""

import os
import shutil
import tempfile
from pathlib import Path

CACHE = Path(os.environ.get("COGMILL_TEST_CACHE", Path.home() / ".cache" / "cogmill-test"))
CACHE.mkdir(parents=True, exist_ok=True)
os.environ["COGMILL_TEST_CACHE"] = str(CACHE)

_OWN_DATA_DIR = "COGMILL_TEST_KEEP_DATA_DIR" not in os.environ
if _OWN_DATA_DIR:
    os.environ["COGMILL_DATA_DIR"] = tempfile.mkdtemp(prefix="cogmill-test-")
_EMBEDDED_REDIS = not os.environ.get("REDIS_URL")
os.environ.setdefault("COGMILL_VENVS_DIR", str(CACHE / "venvs"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cogmill.settings")
# Files that release the `gated` model (tests/server.py: gate_path) live in a folder every model
# sandbox may read: a model sees nothing else of this machine.
if "COGMILL_TEST_GATES" not in os.environ:
    os.environ["COGMILL_TEST_GATES"] = tempfile.mkdtemp(prefix="cogmill-gates-")
    os.chmod(os.environ["COGMILL_TEST_GATES"], 0o755)
os.environ["COGMILL_SANDBOX_SHARED_PATHS"] = os.environ["COGMILL_TEST_GATES"]
# Page tests log in far more often than a person: the throttle's own tests turn it back on.
os.environ.setdefault("COGMILL_RATE_LIMIT_LOGINS_PER_MINUTE", "0")
os.environ.setdefault("COGMILL_RATE_LIMIT_SIGNUPS_PER_MINUTE", "0")


def pytest_unconfigure(config) -> None:
    """Stop the run's embedded Redis (settings started it) and drop its data folder."""
    data_dir = Path(os.environ["COGMILL_DATA_DIR"])
    if _EMBEDDED_REDIS:
        from cogmill import embedded_redis

        embedded_redis.stop(data_dir)
    if _OWN_DATA_DIR:
        shutil.rmtree(data_dir, ignore_errors=True)
