"""Environments for the processes the runner starts.

Model code is untrusted, so child processes get an allowlisted copy of our
environment instead of all of it (no database URLs or secret keys).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

_KEEP = {
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TERM",
    "TMPDIR",
    "TEMP",
    "TMP",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "LD_LIBRARY_PATH",
    "CUDA_VISIBLE_DEVICES",
    "NVIDIA_VISIBLE_DEVICES",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
}
_KEEP_PREFIXES = ("LC_",)
_BUILD_PREFIXES = ("PIP_",)


def _allowed(name: str, prefixes: Iterable[str]) -> bool:
    return name in _KEEP or name.startswith(tuple(prefixes))


def base_env(for_build: bool = False) -> dict[str, str]:
    """The allowlisted part of our environment (plus pip's settings for builds)."""
    prefixes = _KEEP_PREFIXES + (_BUILD_PREFIXES if for_build else ())
    return {k: v for k, v in os.environ.items() if _allowed(k, prefixes)}


def venv_env(venv: Path, extra: Mapping[str, str] | None = None, for_build: bool = False) -> dict[str, str]:
    """``base_env`` with ``extra`` applied and the venv's ``bin`` first on PATH.

    coglet starts its worker as plain ``python``, so the venv must win the PATH
    lookup or the worker cannot import coglet.
    """
    env = base_env(for_build)
    env.update(extra or {})
    env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = os.pathsep.join([str(venv / "bin"), os.environ.get("PATH", os.defpath)])
    env.pop("PYTHONHOME", None)
    return env
