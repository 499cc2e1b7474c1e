"""A real HTTP server that receives webhooks in tests: it records every request and answers as scripted."""

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: str = "ok"


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: str


class _Server(ThreadingHTTPServer):
    allow_reuse_address = True  # a receiver that comes back binds the port its predecessor left


class Receiver:
    """`port`: 0 for any free port, or a given one (a receiver that comes back where it was)."""

    def __init__(self, port: int = 0):
        self._requests: list[Received] = []
        self._scripts: dict[str, list[Reply]] = {}
        self._lock = threading.Lock()
        self.server = _Server(("127.0.0.1", port), self._handler())
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def url(self, path: str = "/hook") -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def script(self, path: str, *replies: Reply) -> None:
        """Answer the next requests to `path` with these replies, then with 200."""
        with self._lock:
            self._scripts[path] = list(replies)

    def received(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self._requests if path is None or r.path == path]

    def _record(self, request: Received) -> Reply:
        with self._lock:
            self._requests.append(request)
            script = self._scripts.get(request.path)
            return script.pop(0) if script else Reply()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                headers = {name.lower(): value for name, value in self.headers.items()}
                self._answer(receiver._record(Received(self.command, self.path, headers, body)))

            do_GET = do_POST

            def _answer(self, reply: Reply) -> None:
                data = reply.body.encode()
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format, *args) -> None:
                pass

        return Handler
