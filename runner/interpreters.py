"""Pick the Python interpreter a model's virtualenv is created from."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

MIN_VERSION = (3, 10)
_MAX_MINOR = 20
_PROBE = "import sys, venv; print('%d.%d' % sys.version_info[:2]); print(sys.executable)"


@dataclass(frozen=True)
class Interpreter:
    version: tuple[int, int]
    executable: Path

    @property
    def version_str(self) -> str:
        return f"{self.version[0]}.{self.version[1]}"


def _probe(command: str) -> Interpreter | None:
    """Run a candidate and ask it what it is; pyenv shims on PATH may not work."""
    try:
        done = subprocess.run(
            [command, "-c", _PROBE], check=False, capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = done.stdout.split()
    if done.returncode != 0 or len(lines) != 2:
        return None
    major, minor = (int(part) for part in lines[0].split("."))
    return Interpreter((major, minor), Path(lines[1]))


@functools.cache
def available_interpreters() -> tuple[Interpreter, ...]:
    """Working interpreters >= 3.10: ``python3.X`` on PATH, pyenv's, and the one running us."""
    found: dict[tuple[int, int], Interpreter] = {}
    for minor in range(MIN_VERSION[1], _MAX_MINOR):
        for command in _candidates(minor):
            interpreter = _probe(command)
            if interpreter and interpreter.version == (3, minor):
                found[interpreter.version] = interpreter
                break
    current = sys.version_info[:2]
    if current >= MIN_VERSION and current not in found:
        # Not sys.executable: that may be Cogmill's own virtualenv.
        base = getattr(sys, "_base_executable", None) or sys.executable
        found[current] = Interpreter(current, Path(base))
    return tuple(sorted(found.values(), key=lambda i: i.version))


def _candidates(minor: int) -> list[str]:
    on_path = shutil.which(f"python3.{minor}")
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    installed = sorted(pyenv_root.glob(f"versions/3.{minor}.*/bin/python3.{minor}"), key=_patch, reverse=True)
    return ([on_path] if on_path else []) + [str(p) for p in installed]


def _patch(executable: Path) -> int:
    """``.../versions/3.11.7/bin/python3.11`` -> 7, so the newest patch release wins."""
    patch = executable.parts[-3].split(".")[-1]
    return int(patch) if patch.isdigit() else -1


def parse_version(text: str) -> tuple[int, int]:
    """``"3.11"`` or ``"3.11.4"`` -> ``(3, 11)``."""
    parts = text.strip().split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts[:2]):
        raise ValueError(f"not a Python version: {text!r}")
    return int(parts[0]), int(parts[1])


def default_version() -> str:
    """Without ``build.python_version`` a model gets the Python running Cogmill."""
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def resolve(requested: str | None, strict: bool = False) -> Interpreter:
    """The interpreter for ``requested``: exact match, else the closest >= 3.10."""
    wanted = parse_version(requested or default_version())
    candidates = available_interpreters()
    for interpreter in candidates:
        if interpreter.version == wanted:
            return interpreter
    if strict or not candidates:
        have = ", ".join(i.version_str for i in candidates) or "none"
        raise LookupError(f"Python {requested} is not installed (available: {have})")
    return min(candidates, key=lambda i: (_distance(i.version, wanted), i.version))


def _distance(a: tuple[int, int], b: tuple[int, int]) -> int:
    return abs((a[0] * 100 + a[1]) - (b[0] * 100 + b[1]))
