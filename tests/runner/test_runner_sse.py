"""The SSE parser used for coglet's prediction streams."""

from __future__ import annotations

from runner.sse import iter_events


def test_events_comments_and_multiline_data() -> None:
    lines = [
        "event: start",
        'data: {"id": "p1"}',
        "",
        ": keep-alive",
        "",
        "event: log\r",
        "data: first",
        "data: second",
        "",
        "data: no name",
        "",
        "event: completed",
        "data: {}",
    ]
    assert list(iter_events(lines)) == [
        ("start", '{"id": "p1"}'),
        ("log", "first\nsecond"),
        ("message", "no name"),
        ("completed", "{}"),
    ]
