"""`Prefer: wait`: holding a create request on the run's live events."""

import asyncio
import functools
import time

import redis
from asgiref.sync import sync_to_async

from cogmill import sql
from playground import events
from playground.models import TERMINAL, Run, Status

ROW_POLL_SECONDS = 0.25


def _ended(kind: type[Run], run_id: str) -> bool:
    return kind.objects.values_list("status", flat=True).get(pk=run_id) in TERMINAL


@functools.cache
def _own_columns(kind: type[Run]) -> sql.Table:
    """A run's columns that are not links to other rows: what changes while it runs."""
    return sql.Table(kind, leave_out=[field.attname for field in kind._meta.concrete_fields if field.is_relation])


def _answer(run: Run) -> dict:
    """The API object of the run as its row has it now: its own columns read again (one statement on
    the cursor), its model and version as they were loaded to create it (read again, links would be
    dropped and loaded anew). A row deleted meanwhile (its owner's account removed) is answered as
    it was last seen."""
    table = _own_columns(type(run))
    rows = sql.fetch(f"SELECT {table.columns()} FROM {sql.quote(table.name)} WHERE id = %s", [run.pk])
    if rows:
        fresh = table.instance(rows[0])
        for attname in table.attnames:
            setattr(run, attname, getattr(fresh, attname))
    body = run.to_dict()
    if not run.is_terminal:
        # The clients take any other status as final and would stop waiting, and the Python client
        # takes the output of this answer as already seen: a run still going shows none.
        body["status"] = Status.STARTING
        body["output"] = None
    return body


async def wait_for(run: Run, deadline: float) -> dict:
    """The run (just created, so still going) once it ends, or at `deadline` (time.monotonic) as
    `starting` (API.md: Prefer: wait)."""
    kind = type(run)
    try:
        async with asyncio.timeout_at(_loop_time(deadline)):
            try:
                await _wait_on_events(kind, run.pk)
            except redis.RedisError:  # no live events: the row alone says when it ends
                await _wait_on_row(kind, run.pk)
    except TimeoutError:
        pass
    return await sync_to_async(_answer)(run)


def _loop_time(deadline: float) -> float:
    """A time.monotonic deadline on the running loop's clock."""
    return asyncio.get_running_loop().time() + (deadline - time.monotonic())


async def _wait_on_events(kind: type[Run], run_id: str) -> None:
    async for item in events.read(run_id, block_ms=500):
        if item is not None and item[1] == events.DONE:
            return
        if item is None and await sync_to_async(_ended)(kind, run_id):
            return


async def _wait_on_row(kind: type[Run], run_id: str) -> None:
    while not await sync_to_async(_ended)(kind, run_id):
        await asyncio.sleep(ROW_POLL_SECONDS)
