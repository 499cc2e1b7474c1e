"""One thread per request for its synchronous code, as Django gives it, but kept for the next.

Django's ASGI handler runs each request's synchronous code (middleware, views, the ORM) on a
thread of its own, so a slow view never holds up the others. It starts that thread for the
request and another to join it when the request ends, and a new thread also means a new database
connection. Here a request is given a thread that an earlier one finished with (or a new one),
with the same isolation: one request at a time per thread. A thread whose request left work still
running on it (a client that went away while a view ran) is not given to anyone else: it is let
go once that work ends.
"""

import threading
from concurrent.futures import Future, ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext
from django.db import connections

# Threads kept idle for the next requests (each with its database connection: settings.py); more
# may run at once, and those beyond this are let go when their request ends.
KEPT = 16


class _RequestThread(ThreadPoolExecutor):
    """A one-thread executor that knows whether anything it was given is still to finish."""

    def __init__(self):
        super().__init__(max_workers=1, thread_name_prefix="request")
        self._lock = threading.Lock()
        self._pending = 0

    def submit(self, fn, /, *args, **kwargs) -> Future:
        with self._lock:
            self._pending += 1
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(self._finished)
        return future

    def _finished(self, _future: Future) -> None:
        with self._lock:
            self._pending -= 1

    @property
    def idle(self) -> bool:
        with self._lock:
            return self._pending == 0


class KeptThreads:
    """ASGI middleware in front of Django's handler: each HTTP request's thread-sensitive code runs
    on a kept thread (Django's own ThreadSensitiveContext, inside, then uses it)."""

    def __init__(self, app, kept: int = KEPT):
        self.app = app
        self.kept = kept
        self._idle: list[_RequestThread] = []
        self._lock = threading.Lock()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        thread = self._take()
        try:
            async with ThreadSensitiveContext(executor=thread):
                await self.app(scope, receive, send)
        finally:
            self._give_back(thread)

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
