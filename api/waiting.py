"""`Prefer: wait`: holding a create request on the run's live events."""

import functools
import math
import time

import redis

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


def wait_for(run: Run, deadline: float) -> dict:
    """The run (just created, so still going) once it ends, or at `deadline` (time.monotonic) as
    `starting` (API.md: Prefer: wait). Blocks the request's own thread (cogmill/request_threads.py:
    each request has one, and a waiting one does not hold up the process's exit); a client that goes
    away leaves it waiting until the run ends or the deadline passes."""
    kind = type(run)
    try:
        _wait_on_events(kind, run.pk, deadline)
    except redis.RedisError:  # no live events: the row alone says when it ends
        _wait_on_row(kind, run.pk, deadline)
    return _answer(run)


def _wait_on_events(kind: type[Run], run_id: str, deadline: float) -> None:
    last_id = "0-0"
    while (left := deadline - time.monotonic()) > 0:
        found = events.read_some(run_id, last_id, block_ms=math.ceil(left * 1000))
        if any(event == events.DONE for _, event, _ in found):
            return
        if found:
            last_id = found[-1][0]
        elif _ended(kind, run_id):  # a quiet while: the row says whether it ended all the same
            return


def _wait_on_row(kind: type[Run], run_id: str, deadline: float) -> None:
    while not _ended(kind, run_id) and (left := deadline - time.monotonic()) > 0:
        time.sleep(min(ROW_POLL_SECONDS, left))
