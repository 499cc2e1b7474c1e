"""Secret inputs (Cog's `Secret`): sealed while their run waits and runs, gone once it ends.

A run's stored `input` holds a mask where a secret was, so it never shows in the API, webhooks,
examples or pages. The values themselves are kept beside it encrypted (Fernet, with a key derived
from SECRET_KEY: a database copy alone does not reveal them), read back only by the worker that
sends them to the model, and dropped when the run ends (services.runs.end).
"""

import base64
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings

MASK = "**********"


class Unsealable(Exception):
    """The sealed secrets cannot be read (the server's key changed since the run was created)."""


def _fernet() -> Fernet:
    key = hashlib.sha256(b"cogmill secret inputs\0" + settings.SECRET_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(kinds: dict[str, str], data: dict) -> tuple[dict, str]:
    """(the input as stored, secrets masked; the secrets, sealed, or "" when there are none)."""
    secrets = {name: data[name] for name, kind in kinds.items() if kind == "secret" and data.get(name) is not None}
    if not secrets:
        return data, ""
    shown = {**data, **dict.fromkeys(secrets, MASK)}
    return shown, _fernet().encrypt(json.dumps(secrets).encode()).decode()


def unseal(shown: dict, sealed: str) -> dict:
    """The input as the model must get it: the stored one with its secrets back."""
    if not sealed:
        return dict(shown)
    try:
        secrets = json.loads(_fernet().decrypt(sealed.encode()))
    except InvalidToken:
        raise Unsealable("its secret inputs can no longer be read (the server's SECRET_KEY changed since it "
                         "was created); run it again") from None
    return {**shown, **secrets}
