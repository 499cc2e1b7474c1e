"""Shared fixtures: one cached virtualenv for every fixture model, built models, a pool."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from runner import BuildResult, BuildSpec, InstancePool, build, ensure_venv, parse_cog_yaml
from runner.sandbox import SandboxConfig, unavailable

FIXTURES = Path(__file__).parent / "fixtures"


@dataclass(frozen=True)
class Built:
    """A fixture model copied out of the checkout and built."""

    src: Path
    result: BuildResult

    @property
    def spec(self) -> BuildSpec:
        return self.result.spec

    @property
    def venv(self) -> Path:
        return self.result.venv


def cache_dir() -> Path:
    return Path(os.environ.get("COGMILL_TEST_CACHE", "~/.cache/cogmill-test")).expanduser()


def _wait_until(condition: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    """Poll ``condition`` until it holds; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


@pytest.fixture(scope="session")
def wait_until() -> Callable[..., None]:
    """``wait_until(condition, timeout, what)``: poll with a deadline, never sleep-as-sync."""
    return _wait_until


@pytest.fixture(scope="session")
def venvs_dir() -> Path:
    path = cache_dir() / "venvs"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def shared_venv(venvs_dir: Path) -> Path:
    """The one environment all fixture models share (same cog.yaml build section)."""
    return ensure_venv(parse_cog_yaml(FIXTURES / "hello"), venvs_dir, lambda line: None)


@pytest.fixture(scope="session")
def fixture_copy(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """A fresh copy of a fixture model, so builds never write into the checkout."""

    def copy(name: str) -> Path:
        target = tmp_path_factory.mktemp(name) / name
        shutil.copytree(FIXTURES / name, target)
        return target

    return copy


@pytest.fixture(scope="session")
def model(shared_venv: Path, venvs_dir: Path, fixture_copy: Callable[[str], Path],
          sandboxed: SandboxConfig) -> Callable[[str], Built]:
    """``model("hello")`` -> that fixture, built once per session (its code inspected in the sandbox)."""
    built: dict[str, Built] = {}
    lock = threading.Lock()

    def get(name: str) -> Built:
        with lock:
            if name not in built:
                src = fixture_copy(name)
                built[name] = Built(src, build(src, venvs_dir, lambda line: None, sandbox=sandboxed))
            return built[name]

    return get


@pytest.fixture(scope="session")
def sandboxed(tmp_path_factory: pytest.TempPathFactory) -> SandboxConfig:
    """The sandbox every model runs in, as the worker sets it up (bubblewrap: `make test` installs it)."""
    reason = unavailable()
    if reason:
        pytest.fail(f"no sandbox on this machine: {reason}")
    return SandboxConfig(state_dir=tmp_path_factory.mktemp("sandboxes"))


@pytest.fixture
def pool(sandboxed: SandboxConfig) -> Iterator[InstancePool]:
    instance_pool = InstancePool(idle_seconds=60, monitor_interval=0.1, boot_timeout=60, sandbox=sandboxed)
    yield instance_pool
    instance_pool.shutdown()
