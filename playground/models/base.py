"""Helpers every area's `to_dict()` shares."""

import datetime as dt

from django.conf import settings


def iso(value) -> str | None:
    """RFC 3339 with a Z, as the clients expect."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def absolute(path: str) -> str:
    return settings.PUBLIC_URL + path
