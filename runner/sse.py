"""A minimal Server-Sent Events parser (enough for coglet's streams)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator


def iter_events(lines: Iterable[str]) -> Iterator[tuple[str, str]]:
    """Yield ``(event name, data)`` for each event in a stream of lines."""
    name = "message"
    data: list[str] = []
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield name, "\n".join(data)
            name, data = "message", []
        elif not line.startswith(":"):  # ":..." is a comment, e.g. coglet's keep-alive
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
    if data:
        yield name, "\n".join(data)
