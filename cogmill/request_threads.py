"""One thread per request for its synchronous code, as Django gives it, but kept for the next.

Django's ASGI handler runs each request's synchronous code (middleware, views, the ORM) on a
thread of its own, so a slow view never holds up the others. It starts that thread for the
request and another to join it when the request ends, and a new thread also means a new database
connection. Here a request is given a thread that an earlier one finished with (or a new one),
with the same isolation: one request at a time per thread. A thread whose request left work still
running on it (a client that went away while a view ran) is not given to anyone else: it is let
go once that work ends.
"""

import itertools
import queue
import threading
from concurrent.futures import Executor, Future

from asgiref.sync import ThreadSensitiveContext
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
            except BaseException as exc:  # handed to whoever waits on it, as an executor does
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
