"""Loaded with `-p tests.environment` before Django: gives each test run its own data folder.

Model venvs are cached across runs in COGMILL_TEST_CACHE (default ~/.cache/cogmill-test) so
a second run does not reinstall them; everything else starts empty.
"""

import os
import tempfile
from pathlib import Path

CACHE = Path(os.environ.get("COGMILL_TEST_CACHE", Path.home() / ".cache" / "cogmill-test"))
CACHE.mkdir(parents=True, exist_ok=True)
os.environ["COGMILL_TEST_CACHE"] = str(CACHE)

if "COGMILL_TEST_KEEP_DATA_DIR" not in os.environ:
    os.environ["COGMILL_DATA_DIR"] = tempfile.mkdtemp(prefix="cogmill-test-")
os.environ.setdefault("COGMILL_VENVS_DIR", str(CACHE / "venvs"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cogmill.settings")
