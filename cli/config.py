"""Where the command points and who it is: REPLICATE_API_TOKEN and REPLICATE_BASE_URL as the official
clients read them, else what `cogmill login` stored (a file only its owner may read)."""

from __future__ import annotations

import json
import os
from pathlib import Path

DEFAULT_BASE_URL = "https://api.replicate.com"


def config_path() -> Path:
    home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(home) / "cogmill" / "config.json"


def _stored() -> dict:
    try:
        return json.loads(config_path().read_text())
    except (OSError, ValueError):
        return {}


def base_url() -> str:
    return (os.environ.get("REPLICATE_BASE_URL") or _stored().get("base_url") or DEFAULT_BASE_URL).rstrip("/")


def token() -> str | None:
    return os.environ.get("REPLICATE_API_TOKEN") or _stored().get("token")


def store(base: str, api_token: str) -> Path:
    """Keep the token and base URL for later commands, in a file of mode 0600 (made so before the
    token is written into it)."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump({"base_url": base.rstrip("/"), "token": api_token}, handle)
    return path
