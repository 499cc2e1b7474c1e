"""Live events in Redis, in-process: a quiet stream waits as long as it is asked to."""

import asyncio

from playground import events


def test_a_quiet_stream_waits_past_the_clients_socket_timeout():
    """A blocking read longer than redis-py's default 5 s socket timeout yields a keep-alive
    (None) instead of failing: cold starts and silent models leave streams quiet for longer."""

    async def first_item():
        async for item in events.read("nobody-writes-here", block_ms=6000):
            return item

    assert asyncio.run(first_item()) is None
