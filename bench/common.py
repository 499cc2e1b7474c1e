"""What the benches share: a real Cogmill to measure, and the machine a report was made on."""

from __future__ import annotations

import os
import platform
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.server import CogmillServer

# A shared server's per-account rate limits would be what a bench measures: lifted.
UNLIMITED = {"COGMILL_RATE_LIMIT_CREATES_PER_MINUTE": "0", "COGMILL_RATE_LIMIT_REQUESTS_PER_MINUTE": "0"}


@contextmanager
def started(data_dir: Path, extra_env: dict[str, str] | None = None) -> Iterator[CogmillServer]:
    """A real Cogmill (web and worker, tests/server.py) on `data_dir`, stopped at the end. Its
    folder is removed after a clean run (unless COGMILL_TEST_KEEP_DATA_DIR is set) and kept after a
    failure, its path said, with web.log and worker.log in it."""
    server = CogmillServer(data_dir, extra_env=extra_env)
    try:
        server.start()
        yield server
    except BaseException:
        server.stop()
        print(f"bench failed; Cogmill's logs are in {data_dir}", file=sys.stderr)
        raise
    server.stop()
    if "COGMILL_TEST_KEEP_DATA_DIR" not in os.environ:
        shutil.rmtree(data_dir, ignore_errors=True)


def machine() -> dict[str, object]:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
