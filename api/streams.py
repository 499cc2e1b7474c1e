"""`urls.stream`: a run's events as server-sent events (API.md: Streaming)."""

import json
from typing import Literal

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import StreamingHttpResponse
from pydantic import BaseModel, Field

from api.problems import problem_for
from playground import events
from playground.models import Run, Status

CONTENT_TYPE = "text/event-stream"


class ServerSentEvent(BaseModel):
    """One event of the stream; `: ping` comments between them keep the connection alive."""

    event: Literal["output", "logs", "error", "done"] = Field(
        description="The official clients raise on any other name; `done` ends the stream.")
    id: str = Field(description="Send it back as `Last-Event-ID` to resume after this event.")
    data: str = Field(description="`output`: a text chunk; `logs`: log lines; `error`: the error; "
                                  "`done`: {}.")


def format_event(event: str, event_id: str, data: str) -> str:
    sse = ServerSentEvent(event=event, id=event_id, data=data)
    lines = "".join(f"data: {line}\n" for line in sse.data.split("\n"))
    return f"event: {sse.event}\nid: {sse.id}\n{lines}\n"


def _replay_from_row(run: Run) -> list[tuple[str, str, str]]:
    """Events for a finished run whose live stream has expired."""
    out = run.output
    chunks = out if isinstance(out, list) else ([] if out is None else [out])
    items = [(events.OUTPUT, c if isinstance(c, str) else json.dumps(c)) for c in chunks]
    if run.status == Status.FAILED:
        items.append((events.ERROR, run.error or f"{run._meta.verbose_name} failed"))
    items.append((events.DONE, "{}"))
    return [(f"0-{i + 1}", name, data) for i, (name, data) in enumerate(items)]


def _entry_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    try:
        return int(ms), int(seq or 0)
    except ValueError:
        return 0, 0


async def run_stream(kind: type[Run], run_id: str, last_event_id: str | None):
    run = await sync_to_async(kind.objects.filter(pk=run_id).first)()
    if run is None:
        return problem_for(404, f"{kind._meta.verbose_name} {run_id} not found")
    last_id = last_event_id or "0-0"
    has_stream = await sync_to_async(events.has_stream)(run_id)

    async def body():
        if run.is_terminal and not has_stream:
            for entry_id, name, data in _replay_from_row(run):
                if _entry_key(entry_id) > _entry_key(last_id):
                    yield format_event(name, entry_id, data)
            return
        keepalive_ms = int(settings.COGMILL_SSE_KEEPALIVE_SECONDS * 1000)
        async for item in events.read(run_id, last_id, keepalive_ms):
            yield ": ping\n\n" if item is None else format_event(item[1], item[0], item[2])

    response = StreamingHttpResponse(body(), content_type=CONTENT_TYPE)
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
