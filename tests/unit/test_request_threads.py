"""Kept request threads (cogmill/request_threads.py): a request's synchronous code runs on a thread
an earlier request finished with, never on one another request is using, and never on one that is
still busy with work a request left behind. Served there by Django's WSGI handler, a request gets
the same answer as through Django's ASGI handler; async views still go to the latter."""

import asyncio
import os
import re
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
    task = asyncio.ensure_future(KeptThreads(app)({"type": "http", "path": "/wait"}, None, None))
    print("waiting" if await asyncio.to_thread(started.wait, 10) else "never started")
    task.cancel()  # the server gives up on the request and stops

asyncio.run(serve())
print("stopped")
"""


def test_a_request_still_waiting_does_not_hold_up_the_process_exit():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "cogmill.settings"}
    done = subprocess.run([sys.executable, "-c", _STOPPING_WHILE_A_REQUEST_WAITS], capture_output=True, text=True,
                          timeout=DEADLINE * 3, env=env, cwd=Path(__file__).parents[2], check=False)
    assert (done.returncode, done.stdout.split()) == (0, ["waiting", "stopped"]), done.stderr


# ---------------------------------------------------------------- served by Django's WSGI handler

def _wsgi_app(respond):
    """A WSGI app answering `respond(environ)` = (status, headers, body parts, on_close)."""

    class Body(list):
        def close(self):
            self.on_close()

    def app(environ, start_response):
        status, headers, parts, on_close = respond(environ)
        start_response(status, headers)
        body = Body(parts)
        body.streaming = len(parts) != 1
        body.on_close = on_close
        return body

    return app


async def _exchange(app, scope: dict, body_parts: list[bytes], disconnect_after: int | None = None) -> list[dict]:
    """Serve one request (its body in these parts) and return what the app sent."""
    incoming = [{"type": "http.request", "body": part, "more_body": i < len(body_parts) - 1}
                for i, part in enumerate(body_parts)]
    sent = []

    async def receive():
        if incoming:
            return incoming.pop(0)
        await asyncio.sleep(3600)  # the client stays until the test ends

    async def send(message):
        sent.append(message)

    await app({"type": "http", "method": "POST", "path": "/v1/things", "root_path": "", "query_string": b"a=1&b=%C3%A9",
               "headers": [(b"content-type", b"application/json"), (b"x-thing", b"one"), (b"x-thing", b"two"),
                           (b"transfer-encoding", b"chunked")],
               "client": ("10.0.0.9", 5555), "server": ("127.0.0.1", 8000), "scheme": "http", "http_version": "1.1",
               **scope}, receive, send)
    return sent


def test_a_request_is_answered_whole_by_the_wsgi_app_on_the_kept_thread():
    seen, closed = {}, []

    def respond(environ):
        seen.update(environ, body=environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"])),
                    thread=threading.get_ident())
        return "201 Created", [("Content-Type", "application/json"), ("Set-Cookie", "a=b")], [b'{"ok": true}'], \
            lambda: closed.append(threading.get_ident())

    app = KeptThreads(_app(lambda _path: "asgi"), _wsgi_app(respond), asgi_paths=re.compile("/stream"))
    sent = asyncio.run(_exchange(app, {}, [b'{"in', b'put": 1}']))
    assert sent == [
        {"type": "http.response.start", "status": 201,
         "headers": [(b"content-type", b"application/json"), (b"set-cookie", b"a=b")]},
        {"type": "http.response.body", "body": b'{"ok": true}'},
    ]
    assert seen["body"] == b'{"input": 1}' and seen["CONTENT_LENGTH"] == "12"  # chunked: its length is what came
    assert (seen["REQUEST_METHOD"], seen["PATH_INFO"], seen["QUERY_STRING"]) == ("POST", "/v1/things", "a=1&b=%C3%A9")
    assert (seen["CONTENT_TYPE"], seen["HTTP_X_THING"], seen["REMOTE_ADDR"]) == ("application/json", "one,two", "10.0.0.9")
    assert closed == [seen["thread"]] and seen["thread"] != threading.get_ident()  # closed there, after the view


def test_an_async_views_path_goes_to_the_asgi_app():
    app = KeptThreads(_app(lambda path: f"asgi {path}"), _wsgi_app(lambda environ: 1 / 0), asgi_paths=re.compile("/stream"))
    sent = asyncio.run(_exchange(app, {"path": "/stream"}, [b""]))
    assert sent[-1]["body"] == b"asgi /stream"


def test_a_streaming_response_is_sent_part_by_part_and_closed():
    closed = []
    app = KeptThreads(_app(str), _wsgi_app(lambda environ: ("200 OK", [], [b"one ", b"two"], lambda: closed.append(1))))
    sent = asyncio.run(_exchange(app, {}, [b""]))
    assert [m.get("body") for m in sent[1:]] == [b"one ", b"two", None] and closed == [1]


def test_a_body_cut_off_gets_no_answer_from_the_app():
    """The body limit (cogmill/bodylimit.py) ends a body that grows too large with a disconnect;
    the app is never called, and the limit answers."""
    calls = []
    app = KeptThreads(_app(str), _wsgi_app(lambda environ: calls.append(1)))

    async def receive():
        return {"type": "http.disconnect"}

    sent = []

    async def send(message):
        sent.append(message)

    asyncio.run(app({"type": "http", "method": "POST", "path": "/x", "headers": []}, receive, send))
    assert (calls, sent) == ([], [])


def test_every_async_view_is_served_by_the_asgi_handler():
    """Django's WSGI handler would run an async view to its end before answering: an event stream
    would never be sent. Every async view's path must be one cogmill/asgi.py sends to the ASGI handler."""
    from asgiref.sync import iscoroutinefunction
    from django.urls import URLResolver, get_resolver

    from cogmill.asgi import ASYNC_VIEWS

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                yield prefix + str(pattern.pattern), pattern.callback

    async_paths = ["/" + re.sub(r"<[^>]+>", "x1", path) for path, view in walk(get_resolver().url_patterns)
                   if iscoroutinefunction(view)]
    assert "/v1/predictions/x1/stream" in async_paths
    assert [path for path in async_paths if not ASYNC_VIEWS.fullmatch(path)] == []


def test_a_header_spelled_with_underscores_is_dropped_and_cookies_are_joined():
    """As Django's ASGI handler does: `X_Forwarded_Proto` must not pass for the proxy's
    `X-Forwarded-Proto` (it would make http look like https), and two Cookie headers are one."""
    seen = {}

    def respond(environ):
        seen.update(environ)
        return "200 OK", [], [b"ok"], lambda: None

    app = KeptThreads(_app(str), _wsgi_app(respond))
    asyncio.run(_exchange(app, {"headers": [(b"x_forwarded_proto", b"https"), (b"x-forwarded-proto", b"http"),
                                            (b"cookie", b"a=1; "), (b"cookie", b"b=2")]}, [b""]))
    assert (seen["HTTP_X_FORWARDED_PROTO"], seen["HTTP_COOKIE"]) == ("http", "a=1; b=2")


def test_an_async_views_path_under_a_root_path_still_goes_to_the_asgi_app():
    app = KeptThreads(_app(lambda path: f"asgi {path}"), _wsgi_app(lambda environ: 1 / 0), asgi_paths=re.compile("/stream"))
    sent = asyncio.run(_exchange(app, {"root_path": "/cogmill", "path": "/cogmill/stream"}, [b""]))
    assert sent[-1]["body"] == b"asgi /cogmill/stream"


def test_a_streaming_response_that_cannot_be_sent_is_closed_all_the_same_on_its_thread():
    ran, closed = [], []

    def respond(environ):
        ran.append(threading.get_ident())
        return "200 OK", [], [b"one ", b"two"], lambda: closed.append(threading.get_ident())

    app = KeptThreads(_app(str), _wsgi_app(respond))
    incoming = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive():
        if incoming:
            return incoming.pop()
        await asyncio.sleep(3600)  # as a server does once the body is in: until the client goes

    async def send(message):
        raise OSError("the connection is gone")

    async def serve():
        try:
            await app({"type": "http", "method": "GET", "path": "/file", "headers": []}, receive, send)
        except OSError:
            pass

    asyncio.run(serve())
    # Django's request_finished ran where the view did: that thread's database connection is checked.
    assert closed == ran and ran != [threading.get_ident()]


def test_a_request_given_up_while_its_streaming_response_is_made_has_it_closed_on_its_thread():
    making, release, closed = threading.Event(), threading.Event(), threading.Event()
    ran, closed_on = [], []

    def respond(environ):
        ran.append(threading.get_ident())
        making.set()
        assert release.wait(DEADLINE)
        return "200 OK", [], [b"one ", b"two"], lambda: (closed_on.append(threading.get_ident()), closed.set())

    app = KeptThreads(_app(str), _wsgi_app(respond))

    async def scenario():
        task = asyncio.ensure_future(_exchange(app, {"method": "GET", "path": "/file"}, [b""]))
        await asyncio.to_thread(making.wait, DEADLINE)
        task.cancel()  # the server gives up on the request while its thread makes the response
        try:
            await task
        except asyncio.CancelledError:
            pass
        release.set()
        return await asyncio.to_thread(closed.wait, DEADLINE)

    assert asyncio.run(scenario())
    assert closed_on == ran
