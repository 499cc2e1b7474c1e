"""Capability URLs that expire: a run's `urls.stream`.

The URL carries a signature of the run's id and the time it was handed out (Django's
TimestampSigner, keyed by SECRET_KEY), so whoever holds it may read the stream without a token
(the JS client sends none), for COGMILL_STREAM_URL_SECONDS. Every GET of the run hands out a fresh
one to whoever may see it; once a run stops being shared, the URLs handed out before run out.
"""

import enum

from django.conf import settings
from django.core import signing

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
