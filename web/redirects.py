"""Where a `next` parameter may send someone: a path on this site, nowhere else."""

from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme


def safe_next(request: HttpRequest, value: str | None, default: str = "") -> str:
    """`value` if it is a path on this site, else `default`. Django's check refuses schemes, other
    hosts, `//`, backslashes and control characters (browsers drop a tab: `/\\t/evil` is `//evil`)."""
    if value and value.startswith("/") and url_has_allowed_host_and_scheme(
            value, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return value
    return default
