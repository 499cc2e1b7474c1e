"""Capability URLs that expire: a run's `urls.stream`, and the URLs of stored files.

Each carries a signature (keyed by SECRET_KEY) of what it opens and until when, so whoever holds it
may read without a token (the JS client sends none; a browser's <img> sends none) until then.
Every GET of a run, every page and every webhook hands out fresh ones to whoever may see the run;
once a run stops being shared, the URLs handed out before it run out.

- `urls.stream`: COGMILL_STREAM_URL_SECONDS after it was handed out (Django's TimestampSigner).
- A file's `/output/<id>/<name>`, as stored in a run's output: signed where it is shown with
  `?expires=<unix time>&sig=...`, good for COGMILL_FILE_URL_SECONDS and at most an hour more (the
  expiry is rounded up to the hour, so a page shows the same URL for an hour and browsers cache it).
"""

import enum
import math
import time
from collections.abc import Callable
from urllib.parse import parse_qs, unquote, urlsplit

from django.conf import settings
from django.core import signing
from django.utils.crypto import constant_time_compare, salted_hmac

STREAM_SALT = "cogmill.stream"


class Verdict(enum.Enum):
    VALID = "valid"
    EXPIRED = "expired"  # signed by us, for this run, but too long ago
    INVALID = "invalid"


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=STREAM_SALT)


def stream_token(run_id: str) -> str:
    """A token for `?token=` that opens the run's stream for COGMILL_STREAM_URL_SECONDS."""
    return _signer().sign(run_id).removeprefix(f"{run_id}{signing.Signer().sep}")


def check_stream_token(run_id: str, token: str | None) -> Verdict:
    if not token:
        return Verdict.INVALID
    signed = f"{run_id}{signing.Signer().sep}{token}"
    try:
        _signer().unsign(signed, max_age=settings.COGMILL_STREAM_URL_SECONDS)
    except signing.SignatureExpired:
        return Verdict.EXPIRED
    except signing.BadSignature:
        return Verdict.INVALID
    return Verdict.VALID


# ---------------------------------------------------------------- stored files

FILE_SALT = "cogmill.file"
FILES_PATH = "/output/"
ROUND_SECONDS = 3600


def _file_signature(file_id: str, name: str, expires: int, secret: str | None = None) -> str:
    return salted_hmac(FILE_SALT, f"{file_id}/{name}/{expires}", secret=secret, algorithm="sha256").hexdigest()[:32]


def signed_file_url(url: str) -> str:
    """A stored file's URL (`PUBLIC_URL/output/<id>/<name>`, as runs keep it) that opens it without
    a token until its expiry; any other string as it is."""
    if "?" in url or (parts := file_url_parts(url)) is None:
        return url
    expires = math.ceil((time.time() + settings.COGMILL_FILE_URL_SECONDS) / ROUND_SECONDS) * ROUND_SECONDS
    return f"{url}?expires={expires}&sig={_file_signature(*parts, expires)}"


def signed_only(value, urls: set[str]):
    """`value` (JSON-like) with each string that is exactly one of `urls` signed: never a URL that
    merely sits inside a text, never a file that is not one of those."""
    return map_strings(value, lambda s: signed_file_url(s) if s in urls else s)


def file_urls_in(value) -> set[str]:
    """The strings in `value` that are stored files' URLs (unsigned, as runs keep them)."""
    found = set()
    map_strings(value, lambda s: found.add(s) if file_url_parts(s) and "?" not in s else None)
    return found


def check_file_signature(file_id: str, name: str, query: str) -> Verdict:
    """Whether a file URL's query (`expires`, `sig`) opens file `file_id` named `name`."""
    fields = parse_qs(query)
    expires, sig = fields.get("expires", [""])[0], fields.get("sig", [""])[0]
    keys = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]  # URLs outlive a key's rotation
    if not expires.isascii() or not expires.isdigit() or not sig or not any(
            constant_time_compare(sig, _file_signature(file_id, name, int(expires), key)) for key in keys):
        return Verdict.INVALID
    return Verdict.VALID if int(expires) >= time.time() else Verdict.EXPIRED


def check_file_url(url: str) -> Verdict:
    """check_file_signature for a whole URL of a stored file, as someone hands it over."""
    if (parts := file_url_parts(url)) is None:
        return Verdict.INVALID
    return check_file_signature(*parts, urlsplit(url).query)


def file_url_parts(url: str) -> tuple[str, str] | None:
    """(id, name) of a stored file's URL, signed or not; None for any other string."""
    prefix = settings.PUBLIC_URL + FILES_PATH
    if not url.startswith(prefix):
        return None
    file_id, _, name = urlsplit(url).path.removeprefix(urlsplit(prefix).path).partition("/")
    return (file_id, unquote(name)) if file_id and name else None


def map_strings(value, fn: Callable[[str], str]):
    """`value` (JSON-like) with `fn` applied to every string in it."""
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [map_strings(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: map_strings(v, fn) for k, v in value.items()}
    return value
