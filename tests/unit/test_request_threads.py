"""Kept request threads (cogmill/request_threads.py): a request's synchronous code runs on a thread
an earlier request finished with, never on one another request is using, and never on one that is
still busy with work a request left behind."""

import asyncio
import os
import subprocess
import sys
import threading
from pathlib import Path

from asgiref.sync import sync_to_async

from cogmill.request_threads import KeptThreads

DEADLINE = 10  # seconds: a deadline for conditions, not a measure


def _app(work):
    """An ASGI app whose request runs `work(path)` as Django runs a view: thread-sensitive."""

    async def app(scope, receive, send):
        result = await sync_to_async(work)(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(result).encode()})

    return app


async def _request(app, path: str) -> str:
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    await app({"type": "http", "path": path}, receive, send)
    return sent[-1]["body"].decode()


def test_one_request_after_another_runs_on_the_same_thread():
    app = KeptThreads(_app(lambda _path: threading.get_ident()))

    async def both():
        return await _request(app, "/a"), await _request(app, "/b")

    first, second = asyncio.run(both())
    assert first == second
    assert int(first) != threading.get_ident()  # not the event loop's


def test_requests_at_the_same_time_each_have_their_own_thread():
    release = threading.Event()

    def work(path):
        if path == "/slow":
            assert release.wait(DEADLINE)
        return threading.get_ident()

    app = KeptThreads(_app(work))

    async def both():
        slow = asyncio.ensure_future(_request(app, "/slow"))
        fast = await asyncio.wait_for(_request(app, "/fast"), DEADLINE)  # not held up by /slow
        release.set()
        return await slow, fast

    slow, fast = asyncio.run(both())
    assert slow != fast


def test_a_thread_still_busy_with_an_abandoned_request_is_not_given_to_the_next():
    started, release = threading.Event(), threading.Event()

    def work(path):
        if path == "/abandoned":
            started.set()
            assert release.wait(DEADLINE)
        return threading.get_ident()

    app = KeptThreads(_app(work))

    async def scenario():
        abandoned = asyncio.ensure_future(_request(app, "/abandoned"))
        await asyncio.to_thread(started.wait, DEADLINE)
        abandoned.cancel()  # the client went away; its view's code runs on
        try:
            await abandoned
        except asyncio.CancelledError:
            pass
        nxt = await asyncio.wait_for(_request(app, "/next"), DEADLINE)  # not queued behind it
        release.set()
        return nxt

    assert asyncio.run(scenario())


# A server whose one request is still waiting (as a `Prefer: wait` does) when the server stops.
_STOPPING_WHILE_A_REQUEST_WAITS = """
import asyncio, threading
from asgiref.sync import sync_to_async
from cogmill.request_threads import KeptThreads

started = threading.Event()

def work():
    started.set()
    threading.Event().wait()  # never ends

async def app(scope, receive, send):
    await sync_to_async(work)()

async def serve():
    task = asyncio.ensure_future(KeptThreads(app)({"type": "http"}, None, None))
    await asyncio.to_thread(started.wait, 10)
    task.cancel()  # the server gives up on the request and stops

asyncio.run(serve())
print("stopped")
"""


def test_a_request_still_waiting_does_not_hold_up_the_process_exit():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "cogmill.settings"}
    done = subprocess.run([sys.executable, "-c", _STOPPING_WHILE_A_REQUEST_WAITS], capture_output=True, text=True,
                          timeout=DEADLINE * 3, env=env, cwd=Path(__file__).parents[2])
    assert (done.returncode, done.stdout.strip()) == (0, "stopped"), done.stderr
