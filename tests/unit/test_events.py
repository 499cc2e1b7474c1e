"""Live events in Redis, in-process: a quiet stream waits as long as it is asked to; held events go
with the next one, in order."""

import asyncio
import threading
import uuid

import pytest
from django.utils import timezone

from cogmill.redis import client
from playground import events
from playground.models import Status
from playground.services import runs
from playground.worker.relay import Relay

DEADLINE = 10  # seconds: a deadline for conditions, not a measure


def test_a_quiet_stream_waits_past_the_clients_socket_timeout():
    """A blocking read longer than redis-py's default 5 s socket timeout yields a keep-alive
    (None) instead of failing: cold starts and silent models leave streams quiet for longer."""

    async def first_item():
        async for item in events.read("nobody-writes-here", block_ms=6000):
            return item

    assert asyncio.run(first_item()) is None


def _stream(run_id: str) -> list[tuple[str, str]]:
    return [(fields["event"], fields["data"]) for _, fields in client().xrange(events.stream_key(run_id))]


def test_a_held_event_goes_to_the_stream_with_the_next_one_in_order():
    run_id = f"held-{uuid.uuid4().hex}"
    box = events.Outbox(run_id)
    box.hold(events.OUTPUT, "hello")
    box.hold(events.ERROR, "it broke")
    assert _stream(run_id) == []  # readers need not have them sooner
    transactions = _transactions()
    box.send(events.DONE, "{}")
    assert _stream(run_id) == [(events.OUTPUT, "hello"), (events.ERROR, "it broke"), (events.DONE, "{}")]
    assert _transactions() == transactions + 1  # the three in one round trip


def _transactions() -> int:
    """How many MULTI/EXEC transactions Redis has run (its own command statistics)."""
    return client().info("commandstats").get("cmdstat_exec", {}).get("calls", 0)


@pytest.mark.django_db
@pytest.mark.parametrize("iterator", [False, True])
def test_a_models_single_output_reaches_the_stream_with_its_end_and_an_iterators_at_once(make_prediction,
                                                                                          iterator):
    run = make_prediction(status=Status.PROCESSING, started_at=timezone.now())
    relay = Relay(run, iterator)
    relay.on_event("output", {"chunk": "hello"})
    assert _stream(run.id) == ([(events.OUTPUT, "hello")] if iterator else [])
    relay.close()
    runs.end(run, Status.SUCCEEDED, output=relay.output, outbox=relay.outbox)
    assert _stream(run.id) == [(events.OUTPUT, "hello"), (events.DONE, "{}")]


def test_more_blocking_reads_at_once_than_a_plain_pool_holds_all_wait():
    """Each `Prefer: wait` in progress holds a connection while it blocks: 150 of them at once (a
    redis-py pool holds 100 unless told otherwise) all get their quiet answer, none an error."""
    results: list = []
    together = threading.Barrier(150)

    def wait(i: int) -> None:
        together.wait(DEADLINE)  # all 150 blocked in Redis at the same time
        try:
            results.append(events.read_some(f"quiet-{uuid.uuid4().hex}-{i}", block_ms=2000))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            results.append(exc)

    threads = [threading.Thread(target=wait, args=(i,)) for i in range(150)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE * 3)
    assert results == [[]] * 150
