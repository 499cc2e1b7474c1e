"""Cursor pages, newest first, with absolute next/previous URLs (the JS client needs them absolute)."""

import base64
import datetime as dt
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q

PAGE_SIZE = 100


class BadCursor(ValueError):
    pass


def _encode(direction: str, obj) -> str:
    raw = f"{direction}|{obj.created_at.isoformat()}|{obj.pk}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[str, dt.datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        direction, stamp, pk = raw.split("|", 2)
        if direction not in {"n", "p"}:
            raise ValueError(direction)
        return direction, dt.datetime.fromisoformat(stamp), pk
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadCursor(f"invalid cursor {cursor!r}") from exc


def _checked_pk(queryset, pk: str, cursor: str):
    """The cursor's key as the table's key type: a forged cursor is the caller's error, not ours."""
    try:
        return queryset.model._meta.pk.to_python(pk)
    except ValidationError as exc:
        raise BadCursor(f"invalid cursor {cursor!r}") from exc


def _link(request, cursor: str) -> str:
    params = {k: v for k, v in request.GET.items() if k != "cursor"}
    params["cursor"] = cursor
    return f"{settings.PUBLIC_URL}{request.path}?{urlencode(params)}"


def paginate(request, queryset, serialize, cursor: str | None, page_size: int = PAGE_SIZE) -> dict:
    """One page of `queryset` (ordered by -created_at, -pk) as {next, previous, results}.

    `cursor` is the operation's `cursor` query parameter: one of the links of a page before.
    """
    newest_first = queryset.order_by("-created_at", "-pk")
    if cursor:
        direction, stamp, pk = _decode(cursor)
        pk = _checked_pk(queryset, pk, cursor)
        older = Q(created_at__lt=stamp) | Q(created_at=stamp, pk__lt=pk)
        newer = Q(created_at__gt=stamp) | Q(created_at=stamp, pk__gt=pk)
        if direction == "n":
            rows = list(newest_first.filter(older)[: page_size + 1])
            has_older, has_newer = len(rows) > page_size, True
            rows = rows[:page_size]
        else:
            rows = list(queryset.filter(newer).order_by("created_at", "pk")[: page_size + 1])
            has_newer, has_older = len(rows) > page_size, True
            rows = list(reversed(rows[:page_size]))
    else:
        rows = list(newest_first[: page_size + 1])
        has_older, has_newer = len(rows) > page_size, False
        rows = rows[:page_size]
    return {
        "next": _link(request, _encode("n", rows[-1])) if rows and has_older else None,
        "previous": _link(request, _encode("p", rows[0])) if rows and has_newer else None,
        "results": [serialize(r) for r in rows],
    }
