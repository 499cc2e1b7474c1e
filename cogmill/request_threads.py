"""Each request on a thread of its own, as Django gives it, but kept for the next; and served there
by Django's WSGI handler, start to end, unless its view is async.

Django's ASGI handler runs each request's synchronous code (middleware, views, the ORM) on a
thread of its own, so a slow view never holds up the others. It starts that thread for the
request and another to join it when the request ends, and a new thread also means a new database
connection. Here a request is given a thread that an earlier one finished with (or a new one),
with the same isolation: one request at a time per thread. A thread whose request left work still
running on it (a client that went away while a view ran) is not given to anyone else: it is let
go once that work ends.
"""

import asyncio
import itertools
import queue
import re
import sys
import tempfile
import threading
from concurrent.futures import Executor, Future

from asgiref.sync import ThreadSensitiveContext
from django.conf import settings
from django.db import connections

# Threads kept idle for the next requests (each with its database connection: settings.py); more
# may run at once, and those beyond this are let go when their request ends.
KEPT = 16


class _RequestThread(Executor):
    """One thread running what it is given, in order, that knows whether any of it is still to
    finish. A daemon: a request waiting on its run (`Prefer: wait`, up to a minute) does not hold up
    the process's exit once the server has stopped serving."""

    _names = itertools.count()

    def __init__(self):
        self._lock = threading.Lock()
        self._pending = 0
        self._stopping = False
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._run, name=f"request_{next(self._names)}", daemon=True).start()

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        with self._lock:
            if self._stopping:
                raise RuntimeError("this request thread is let go")
            self._pending += 1
        self._queue.put((future, fn, args, kwargs))
        return future

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            future, fn, args, kwargs = item
            del item
            if not future.set_running_or_notify_cancel():
                self._done()
                continue
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on it, as an executor does
                self._done()  # idle before the waiter hears of it: it may give this thread back at once
                future.set_exception(exc)
            else:
                self._done()
                future.set_result(result)
                del result
            del future, fn, args, kwargs  # nothing of a finished request is kept alive here

    def _done(self) -> None:
        with self._lock:
            self._pending -= 1

    @property
    def idle(self) -> bool:
        with self._lock:
            return self._pending == 0

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """The thread ends once what it was given before is done."""
        with self._lock:
            self._stopping = True
        self._queue.put(None)


class KeptThreads:
    """ASGI middleware in front of Django: each HTTP request runs on a kept thread.

    With a `wsgi_app` (Django's WSGI handler), a request for any path but those of `asgi_paths`
    (async views: event streams, health) is served by it, on that thread, start to end: its body is
    read on the event loop, then the thread makes the whole response (signals, middleware, view,
    body) in one go, and the loop sends it. Django's ASGI handler would cross between the loop and
    the thread three times a request (its request_started signal, the middleware and view, the
    request_finished one), each with asgiref's machinery: about a fifth of the web's CPU for a
    small API call. The rest go to `app` (Django's ASGI handler), whose thread-sensitive code then
    runs on the request's thread."""

    def __init__(self, app, wsgi_app=None, asgi_paths: re.Pattern | None = None, kept: int = KEPT):
        self.app = app
        self.wsgi_app = wsgi_app
        self.asgi_paths = asgi_paths
        self.kept = kept
        self._idle: list[_RequestThread] = []
        self._lock = threading.Lock()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        thread = self._take()
        try:
            async_view = self.asgi_paths is not None and self.asgi_paths.fullmatch(_path(scope)[1])
            if self.wsgi_app is None or async_view:
                async with ThreadSensitiveContext(executor=thread):
                    await self.app(scope, receive, send)
            else:
                await self._serve_wsgi(thread, scope, receive, send)
        finally:
            self._give_back(thread)

    async def _serve_wsgi(self, thread: "_RequestThread", scope, receive, send) -> None:
        # Spooled to disk past Django's in-memory limit, as its ASGI handler does.
        with tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE, mode="w+b") as body:
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client went away (or its body was cut off: cogmill/bodylimit.py) first
                body.write(message.get("body", b""))
                if not message.get("more_body"):
                    break
            length = body.tell()
            body.seek(0)
            environ = wsgi_environ(scope, body, length)
            responded = thread.submit(self._respond, environ)
            try:
                status, headers, content = await asyncio.wrap_future(responded)
            except asyncio.CancelledError:  # the server gave up on it: its response is closed unsent, there
                thread.submit(_close_unsent, responded)
                raise
            start = {"type": "http.response.start", "status": status, "headers": headers}
            if isinstance(content, bytes):
                await send(start)
                await send({"type": "http.response.body", "body": content})
                return
            gone = threading.Event()
            watching = asyncio.ensure_future(_until_disconnect(receive, gone))
            streaming = thread.submit(_stream, content, start, send, asyncio.get_running_loop(), gone)
            try:
                await asyncio.wrap_future(streaming)
            except asyncio.CancelledError:
                gone.set()  # a part on its way still goes, no more after it
                if streaming.cancel():  # it never started: the response is closed there all the same
                    thread.submit(content.close)
                raise
            finally:
                watching.cancel()

    def _respond(self, environ: dict) -> tuple[int, list, object]:
        """On the request's thread: the response's status, headers, and its body (bytes, or for a
        streaming response the iterable to send, closed once sent)."""
        started: list = []

        def start_response(status: str, headers: list, exc_info=None) -> None:
            started[:] = [int(status[:3]), [(name.lower().encode("latin-1"), value.encode("latin-1"))
                                            for name, value in headers]]

        result = self.wsgi_app(environ, start_response)
        if getattr(result, "streaming", True):  # a StreamingHttpResponse, a file (FileWrapper)
            return (*started, result)
        try:
            content = b"".join(result)
        finally:
            result.close()  # Django's request_finished: this thread's database connection is checked
        return (*started, content)

    def _take(self) -> _RequestThread:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return _RequestThread()

    def _give_back(self, thread: _RequestThread) -> None:
        if thread.idle:
            with self._lock:
                if len(self._idle) < self.kept:
                    self._idle.append(thread)
                    return
        thread.submit(connections.close_all)  # after whatever it still runs: its connection is not kept
        thread.shutdown(wait=False)  # its thread ends once that is done


def _close_unsent(responded: Future) -> None:
    """On the request's thread: close the streaming response a request given up on was to send."""
    if not responded.cancelled() and responded.exception() is None:
        _status, _headers, content = responded.result()
        if not isinstance(content, bytes):
            content.close()


async def _until_disconnect(receive, gone: threading.Event) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    gone.set()


def _stream(content, start: dict, send, loop: asyncio.AbstractEventLoop, gone: threading.Event) -> None:
    """On the request's thread: a streaming response's start, then each part as it comes, until
    the client goes away; then the response is closed, there (Django's request_finished)."""

    def sent(message: dict) -> None:
        asyncio.run_coroutine_threadsafe(send(message), loop).result()

    try:
        sent(start)
        for part in content:
            if gone.is_set():
                return
            if part:
                sent({"type": "http.response.body", "body": bytes(part), "more_body": True})
        sent({"type": "http.response.body"})
    finally:
        content.close()


class FileWrapper:
    """`wsgi.file_wrapper`: a file Django serves (FileResponse), read in large blocks."""

    BLOCK = 256 * 1024

    def __init__(self, filelike, block_size: int = BLOCK):
        self.filelike = filelike
        self.block_size = max(block_size, self.BLOCK)

    def __iter__(self):
        while part := self.filelike.read(self.block_size):
            yield part

    def close(self) -> None:
        self.filelike.close()  # Django made this its response's close


def _path(scope: dict) -> tuple[str, str]:
    """The request's root path (the app's mount point, without its trailing slash) and its path under it."""
    root = scope.get("root_path", "").rstrip("/")
    return root, scope["path"].removeprefix(root)


def wsgi_environ(scope: dict, body, length: int) -> dict:
    """The WSGI environ (PEP 3333) of an ASGI HTTP request whose body, `length` bytes, is in `body`."""
    root, path = _path(scope)
    server = scope.get("server") or ("localhost", 80)
    environ = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": root.encode("utf-8").decode("latin-1"),
        "PATH_INFO": path.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": server[0],
        "SERVER_PORT": str(server[1] or 0),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.file_wrapper": FileWrapper,
    }
    if scope.get("client"):
        environ["REMOTE_ADDR"] = scope["client"][0]
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1")
        if "_" in name:  # X_Forwarded_Proto must not pass for X-Forwarded-Proto (Django's ASGI handler
            continue     # drops these too)
        name = name.upper().replace("-", "_")
        if name not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            name = f"HTTP_{name}"
        value = raw_value.decode("latin-1")
        if name == "HTTP_COOKIE":
            value = value.rstrip("; ")
            if name in environ:
                value = f"{environ[name]}; {value}"
        elif name in environ:  # a header sent more than once: one value, as a proxy would join them
            value = f"{environ[name]},{value}"
        environ[name] = value
    environ["CONTENT_LENGTH"] = str(length)  # what was read: a chunked body has no Content-Length
    return environ
