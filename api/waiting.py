"""`Prefer: wait`: holding a create request on the run's live events."""

import time

from asgiref.sync import sync_to_async

from playground import events
from playground.models import Run, Status


def _load(kind: type[Run], run_id: str) -> Run:
    return kind.objects.select_related("model__owner", "version").get(pk=run_id)


async def wait_for(kind: type[Run], run_id: str, seconds: float) -> dict:
    """The run once it ends, or after `seconds` as `starting` (API.md: Prefer: wait)."""
    deadline = time.monotonic() + seconds
    run = await sync_to_async(_load)(kind, run_id)
    if not run.is_terminal:
        async for item in events.read(run_id, block_ms=500):
            if item is not None and item[1] == events.DONE:
                break
            if time.monotonic() >= deadline:
                break
            if item is None:
                run = await sync_to_async(_load)(kind, run_id)
                if run.is_terminal:
                    break
        run = await sync_to_async(_load)(kind, run_id)
    body = await sync_to_async(run.to_dict)()
    if not run.is_terminal:
        # The clients take any other status as final and would stop waiting.
        body["status"] = Status.STARTING
    return body
