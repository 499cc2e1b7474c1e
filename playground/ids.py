import secrets
import string

_ALPHABET = string.digits + string.ascii_lowercase


def new_id(length: int = 26) -> str:
    """An id like Replicate's: 26 characters of [0-9a-z]."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_file_id() -> str:
    return new_id(32)
