"""`urls.stream`: a run's events as server-sent events (API.md: Streaming)."""

import asyncio
import json
import time
from typing import Literal

import redis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import StreamingHttpResponse
from django.utils import timezone
from pydantic import BaseModel, Field

from accounts.services import requester
from api.problems import problem_for
from cogmill.slots import Slots
from playground import capabilities, events
from playground.models import Run, Status
from playground.services import runs

CONTENT_TYPE = "text/event-stream"
OUTAGE_GRACE_SECONDS = 60
# An ended run's `done` comes through the worker's outbox, which retries every second while Redis
# is away; when Redis has been answering this long and the run ended this long ago without it, the
# stream closes from the row instead.
STREAM_CATCH_UP_SECONDS = 5


class ServerSentEvent(BaseModel):
    """One event of the stream; `: ping` comments between them keep the connection alive."""

    event: Literal["output", "logs", "error", "done"] = Field(
        description="The official clients raise on any other name; `done` ends the stream.")
    id: str = Field(description="Send it back as `Last-Event-ID` to resume after this event.")
    data: str = Field(description="`output`: a text chunk; `logs`: log lines; `error`: the error; "
                                  "`done`: {}.")


PING = ": ping\n\n"


def format_event(event: str, event_id: str, data: str) -> str:
    sse = ServerSentEvent(event=event, id=event_id, data=data)
    lines = "".join(f"data: {line}\n" for line in sse.data.split("\n"))
    return f"event: {sse.event}\nid: {sse.id}\n{lines}\n"


def _replay_from_row(run: Run) -> list[tuple[str, str, str]]:
    """Events for a finished run whose live stream has expired."""
    return [(f"0-{i + 1}", name, data) for i, (name, data) in enumerate(_closing_events(run, 0))]


def _entry_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    try:
        return int(ms), int(seq or 0)
    except ValueError:
        return 0, 0


async def _formatted(run: Run, event: str, event_id: str, data: str) -> str:
    """The event as this reader gets it: a file the run yielded as its URL, signed (Run.signed)."""
    if event == events.OUTPUT and capabilities.file_urls_in(data):
        data = await sync_to_async(run.signed)(data)
    return format_event(event, event_id, data)


async def _live(kind: type[Run], run_id: str, last_id: str):
    """Replay, then live events until `done`, as (id, event, data), and None for a ping while nothing
    happens.

    Through a Redis outage the reader is kept (pings) and resumes after the last event it got; an
    outage longer than OUTAGE_GRACE_SECONDS ends it with an `error` event (clients reconnect with
    Last-Event-ID). A run that ended without its `done` reaching the stream is closed from its row.
    """
    keepalive_ms = int(settings.COGMILL_SSE_KEEPALIVE_SECONDS * 1000)
    down_since = None
    up_since = time.monotonic()
    while True:
        try:
            async for item in events.read(run_id, last_id, keepalive_ms):
                if down_since is not None:
                    down_since, up_since = None, time.monotonic()
                if item is not None:
                    last_id = item[0]
                    yield item
                    continue
                caught_up = time.monotonic() - up_since > STREAM_CATCH_UP_SECONDS
                ended = await sync_to_async(_ended_long_ago)(kind, run_id) if caught_up else None
                if ended is not None:
                    streamed = await sync_to_async(events.count)(run_id, events.OUTPUT)
                    for name, data in _closing_events(ended, streamed):
                        yield last_id, name, data
                    return
                yield None
            return
        except redis.RedisError:
            down_since = down_since or time.monotonic()
            if time.monotonic() - down_since > OUTAGE_GRACE_SECONDS:
                yield last_id, events.ERROR, "the live stream is unavailable; reconnect to resume"
                return
            yield None
            await asyncio.sleep(1)


def _ended_long_ago(kind: type[Run], run_id: str) -> Run | None:
    """The run, if it ended long enough ago that its `done` event should have been streamed."""
    run = kind.objects.filter(pk=run_id).first()
    if run is None or not run.is_terminal or run.completed_at is None:
        return None
    return run if (timezone.now() - run.completed_at).total_seconds() > STREAM_CATCH_UP_SECONDS else None


def _closing_events(run: Run, streamed_outputs: int) -> list[tuple[str, str]]:
    """What the stream never got, from the row: output chunks past those streamed, error, done."""
    missing = _output_events(run)[streamed_outputs:]
    closing = [(events.ERROR, run.error or f"{run._meta.verbose_name} failed")] if run.status == Status.FAILED else []
    return [*missing, *closing, (events.DONE, "{}")]


def _output_events(run: Run) -> list[tuple[str, str]]:
    out = run.output
    chunks = out if isinstance(out, list) else ([] if out is None else [out])
    return [(events.OUTPUT, c if isinstance(c, str) else json.dumps(c)) for c in chunks]


async def run_stream(request, kind: type[Run], run_id: str, last_event_id: str | None, token: str | None):
    """The stream, for a holder of a live `urls.stream` (its `token`) or a viewer who may see the run
    (a Bearer token, or the pages' session); 404 for everyone else, as if the run did not exist."""
    run = await sync_to_async(kind.objects.select_related("model__owner").filter(pk=run_id).first)()
    not_found = problem_for(404, f"{kind._meta.verbose_name} {run_id} not found")
    if run is None:
        return not_found
    viewer = await sync_to_async(requester)(request)
    verdict = capabilities.check_stream_token(run_id, token)
    if verdict is not capabilities.Verdict.VALID and not await sync_to_async(runs.can_view_run)(viewer, run):
        if verdict is capabilities.Verdict.EXPIRED:
            return problem_for(403, f"This stream URL has expired: GET the {kind._meta.verbose_name} "
                                    "for a fresh urls.stream.")
        return not_found
    slots = Slots(_stream_caps(request, viewer, run, verdict), ttl=3 * settings.COGMILL_SSE_KEEPALIVE_SECONDS + 30)
    if (full := await slots.acquire()) is not None:
        response = problem_for(429, _too_many(full, kind))
        response["Retry-After"] = str(STREAM_RETRY_SECONDS)
        return response
    last_id = last_event_id or "0-0"
    try:
        has_stream = await sync_to_async(events.has_stream)(run_id)
    except BaseException:
        await slots.release()
        raise

    async def body():
        try:
            if run.is_terminal and not has_stream:
                for entry_id, name, data in _replay_from_row(run):
                    if _entry_key(entry_id) > _entry_key(last_id):
                        yield await _formatted(run, name, entry_id, data)
                return
            async for item in _live(kind, run_id, last_id):
                yield PING if item is None else await _formatted(run, item[1], item[0], item[2])
                try:
                    await slots.renew_if_due()
                except redis.RedisError:
                    pass  # the stream rides out the outage (_live); the claim lapses at worst
        finally:
            await slots.release()

    response = StreamingHttpResponse(body(), content_type=CONTENT_TYPE)
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


STREAM_RETRY_SECONDS = 10
RUN_SLOTS = "cogmill:streams:run:"
CLIENT_SLOTS = "cogmill:streams:client:"


def _stream_caps(request, viewer, run: Run, verdict: capabilities.Verdict) -> dict[str, int]:
    """Readers at once, per client: its account; for a holder of the run's `urls.stream` alone (the JS
    client sends no token), the run owner's account, whose token handed it out; else its address,
    which a proxy may share. Per run too, except for its owner, whom other readers never lock out."""
    if viewer.is_authenticated:
        who = f"account:{viewer.pk}"
    elif verdict is capabilities.Verdict.VALID:
        who = f"account:{run.owner_id}"
    else:
        who = f"ip:{request.META.get('REMOTE_ADDR', '')}"
    caps = {f"{CLIENT_SLOTS}{who}": settings.COGMILL_STREAMS_PER_CLIENT}
    if not (viewer.is_authenticated and viewer.pk == run.owner_id):
        caps[f"{RUN_SLOTS}{run.id}"] = settings.COGMILL_STREAMS_PER_RUN
    return caps


def _too_many(full_key: str, kind: type[Run]) -> str:
    if full_key.startswith(RUN_SLOTS):
        return (f"This {kind._meta.verbose_name} already has {settings.COGMILL_STREAMS_PER_RUN} readers of its "
                "live stream; retry when one has left, or poll it with GET.")
    return (f"This client already reads {settings.COGMILL_STREAMS_PER_CLIENT} live streams; "
            "close one before opening another.")
