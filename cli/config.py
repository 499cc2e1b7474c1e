"""Where the command points and who it is. A token and its server go together: REPLICATE_API_TOKEN
with REPLICATE_BASE_URL (or replicate.com), as the official clients read them; else what `cogmill
login` stored (a file only its owner may read), used only for the server it was stored for. A token
is never sent to a server it was not given for."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

DEFAULT_BASE_URL = "https://api.replicate.com"


def config_path() -> Path:
    home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(home) / "cogmill" / "config.json"


def _stored() -> dict:
    try:
        stored = json.loads(config_path().read_text())
    except (OSError, ValueError):
        return {}
    return stored if isinstance(stored, dict) else {}


def _clean(url: str) -> str:
    return url.strip().rstrip("/")


def base_url() -> str:
    return _clean(os.environ.get("REPLICATE_BASE_URL") or _stored().get("base_url") or DEFAULT_BASE_URL)


def token() -> str | None:
    """The environment's token when it is set; else the stored one, if it was stored for this server."""
    if os.environ.get("REPLICATE_API_TOKEN"):
        return os.environ["REPLICATE_API_TOKEN"]
    stored = _stored()
    if stored.get("token") and _clean(str(stored.get("base_url") or "")) == base_url():
        return str(stored["token"])
    return None


def store(base: str, api_token: str) -> Path:
    """Keep the token and its server for later commands: written to a new file of mode 0600 beside the
    config, then renamed over it, so a reader never sees half of it and no link is followed."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".config-")  # mode 0600
    try:
        with os.fdopen(descriptor, "w") as handle:
            json.dump({"base_url": _clean(base), "token": api_token}, handle)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
