"""Reading a prediction's live events: for `Prefer: wait` and for the SSE stream."""

import time
from collections.abc import AsyncIterator

from asgiref.sync import sync_to_async

from playground import events
from playground.models import Prediction, Status


async def read_events(prediction_id: str, last_id: str = "0-0", block_ms: int = 15000
                      ) -> AsyncIterator[tuple[str, str, str] | None]:
    """Yield (entry id, event, data) from `last_id` on, replay then live, until `done`.

    Yields None each time `block_ms` passes with nothing new, so a caller can keep a
    connection alive or check a deadline.
    """
    key = events.stream_key(prediction_id)
    r = events.async_client()
    try:
        while True:
            reply = await r.xread({key: last_id}, block=block_ms, count=200)
            if not reply:
                yield None
                continue
            for entry_id, fields in reply[0][1]:
                last_id = entry_id
                yield entry_id, fields.get("event", ""), fields.get("data", "")
                if fields.get("event") == events.DONE:
                    return
    finally:
        await r.aclose()


def _load(prediction_id: str) -> Prediction:
    return Prediction.objects.select_related("model__owner", "version").get(pk=prediction_id)


async def wait_for(prediction_id: str, seconds: float) -> dict:
    """The prediction once it ends, or after `seconds` as `starting` (API.md: Prefer: wait)."""
    deadline = time.monotonic() + seconds
    prediction = await sync_to_async(_load)(prediction_id)
    if not prediction.is_terminal:
        async for item in read_events(prediction_id, block_ms=500):
            if item is not None and item[1] == events.DONE:
                break
            if time.monotonic() >= deadline:
                break
            if item is None:
                prediction = await sync_to_async(_load)(prediction_id)
                if prediction.is_terminal:
                    break
        prediction = await sync_to_async(_load)(prediction_id)
    body = await sync_to_async(prediction.to_dict)()
    if not prediction.is_terminal:
        # The clients take any other status as final and would stop waiting.
        body["status"] = Status.STARTING
    return body
