"""Cursor pages (keyset: a timestamp, then the key), newest first unless asked otherwise, with
absolute next/previous URLs (the JS client needs them absolute)."""

import base64
import datetime as dt
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q

PAGE_SIZE = 100


class BadCursor(ValueError):
    pass


def _encode(direction: str, obj, key: str) -> str:
    raw = f"{direction}|{getattr(obj, key).isoformat()}|{obj.pk}"
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


def paginate(request, queryset, serialize, cursor: str | None, page_size: int = PAGE_SIZE,
             key: str = "created_at", descending: bool = True) -> dict:
    """One page of `queryset`, ordered by the timestamp `key` (a field or an annotation) then the
    primary key, newest first unless not `descending`, as {next, previous, results}.

    `cursor` is the operation's `cursor` query parameter: one of the links of a page before.
    """
    first, back = (("-", ""), ("", "-"))[not descending]
    in_order = queryset.order_by(f"{first}{key}", f"{first}pk")
    if cursor:
        direction, stamp, pk = _decode(cursor)
        pk = _checked_pk(queryset, pk, cursor)
        after, before = ("lt", "gt") if descending else ("gt", "lt")
        # The first condition alone is a range the (owner, key, pk) index seeks to; the OR then
        # breaks the tie on pk. Without it the database reads every row before the page.
        later = Q(**{f"{key}__{after}e": stamp}) & (Q(**{f"{key}__{after}": stamp}) | Q(**{key: stamp, f"pk__{after}": pk}))
        earlier = Q(**{f"{key}__{before}e": stamp}) & (Q(**{f"{key}__{before}": stamp}) | Q(**{key: stamp, f"pk__{before}": pk}))
        if direction == "n":
            rows = list(in_order.filter(later)[: page_size + 1])
            has_next, has_previous = len(rows) > page_size, True
            rows = rows[:page_size]
        else:
            rows = list(queryset.filter(earlier).order_by(f"{back}{key}", f"{back}pk")[: page_size + 1])
            has_previous, has_next = len(rows) > page_size, True
            rows = list(reversed(rows[:page_size]))
    else:
        rows = list(in_order[: page_size + 1])
        has_next, has_previous = len(rows) > page_size, False
        rows = rows[:page_size]
    return {
        "next": _link(request, _encode("n", rows[-1], key)) if rows and has_next else None,
        "previous": _link(request, _encode("p", rows[0], key)) if rows and has_previous else None,
        "results": [serialize(r) for r in rows],
    }
