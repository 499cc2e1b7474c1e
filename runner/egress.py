"""The only way out of a sandbox that may use the network: an HTTP proxy on a unix socket.

A sandbox has no network of its own. When one may reach outside (a build's pip install, a model
whose owner allowed internet access), its relay forwards 127.0.0.1:EGRESS_PORT inside to this
proxy's socket, and HTTP_PROXY/HTTPS_PROXY point there. Each request names its destination
(``CONNECT host:port`` for https, an absolute URL for plain http), and ``allow(host, port)`` decides:
it returns the address to connect to (so the check and the connection use the same address) or
raises Refused. Nothing but TCP to allowed destinations leaves: no UDP, no raw sockets, no DNS of
its own (the proxy resolves).
"""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

log = logging.getLogger(__name__)
MAX_HEAD = 64 * 1024
CONNECT_TIMEOUT = 15.0
HEAD_TIMEOUT = 30.0  # to send a request's head; what follows may be as slow as a download is
MAX_CONNECTIONS = 64  # at once, per sandbox


class Refused(Exception):
    """A destination the sandbox may not reach; the message says why."""


Allow = Callable[[str, int], str]


class EgressProxy:
    def __init__(self, socket_path: Path, allow: Allow) -> None:
        self.socket_path = Path(socket_path)
        self.allow = allow
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                if not proxy._slots.acquire(blocking=False):
                    return  # a sandbox holding every slot gets no more threads of the worker's
                try:
                    proxy._handle(self.connection, self.rfile)
                finally:
                    proxy._slots.release()

        self._server = _Server(str(self.socket_path), Handler)
        self.socket_path.chmod(0o666)  # the relay inside runs as the sandbox's uid
        threading.Thread(target=self._server.serve_forever, name="sandbox-egress", daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handle(self, client: socket.socket, reader) -> None:
        client.settimeout(HEAD_TIMEOUT)
        try:
            head = _read_head(reader)
        except OSError:
            return
        if head is None:
            return
        client.settimeout(None)
        request_line, headers = head
        try:
            method, target, version = request_line.split(" ", 2)
            if method == "CONNECT":
                host, _, port_text = target.rpartition(":")
                host, port = host.strip("[]"), int(port_text)
            else:
                url = urlsplit(target)
                if url.scheme != "http" or not url.hostname:
                    raise Refused(f"only http:// URLs or CONNECT go through this proxy, not {target[:100]!r}")
                host, port = url.hostname, url.port or 80
                path = (url.path or "/") + (f"?{url.query}" if url.query else "")
            address = self.allow(host, port)
            upstream = socket.create_connection((address, port), timeout=CONNECT_TIMEOUT)
        except (Refused, ValueError, OSError) as exc:
            reason = str(exc) if isinstance(exc, Refused) else f"cannot reach it ({exc})"
            _answer(client, 403 if isinstance(exc, Refused) else 502, reason)
            return
        upstream.settimeout(None)
        with upstream:
            if method == "CONNECT":
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                kept = [line for line in headers if not line.lower().startswith(("proxy-", "connection:"))]
                upstream.sendall("\r\n".join([f"{method} {path} {version}", *kept, "Connection: close", "", ""])
                                 .encode("latin-1"))
            _splice(reader, client, upstream)  # the reader's buffer holds what came after the head


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def _read_head(reader) -> tuple[str, list[str]] | None:
    lines: list[str] = []
    size = 0
    while True:
        line = reader.readline(MAX_HEAD)
        size += len(line)
        if not line or size > MAX_HEAD:
            return None
        text = line.decode("latin-1").rstrip("\r\n")
        if not text:
            break
        lines.append(text)
    return (lines[0], lines[1:]) if lines else None


def _answer(client: socket.socket, status: int, reason: str) -> None:
    body = f"Cogmill's sandbox: {reason}\n".encode()
    phrase = "Forbidden" if status == 403 else "Bad Gateway"
    head = f"HTTP/1.1 {status} {phrase}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n" \
           "Connection: close\r\n\r\n"
    try:
        client.sendall(head.encode() + body)
    except OSError:
        pass


def _splice(reader, client: socket.socket, upstream: socket.socket) -> None:
    def down() -> None:
        try:
            while data := upstream.recv(65536):
                client.sendall(data)
        except OSError:
            pass
        finally:
            try:
                client.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    thread = threading.Thread(target=down, daemon=True)
    thread.start()
    try:
        while data := reader.read1(65536):
            upstream.sendall(data)
        upstream.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    thread.join()


def hosts_only(hosts: set[str]) -> Allow:
    """An `allow` for builds: the package index's hosts (whatever they resolve to), on any port."""

    def allow(host: str, port: int) -> str:
        if host.lower() not in hosts:
            raise Refused(f"{host} is not a package index this build may use ({', '.join(sorted(hosts))})")
        try:
            return str(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4][0])
        except OSError as exc:
            raise Refused(f"{host} could not be resolved ({exc})") from exc

    return allow
