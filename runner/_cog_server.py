"""Start coglet's HTTP server (or, with --exec, a build step): outside a sandbox, taking it down if
Cogmill's worker goes away; inside one, under the sandbox's limits and with the relays that are its
only way out.

Usage: python _cog_server.py [OPTIONS] -- [cog.server.http arguments...]
  --watch PARENT_PID OUTPUT_LOG  exit (and remove the log) when the worker PARENT_PID is gone
  --lifeline FD                  exit when FD (a pipe's read end whose write end only the worker
                                 holds) reaches its end: the worker is gone (inside a sandbox, where
                                 its pid cannot be seen; the sandbox ends with this process)
  --limits NAME=N,...            resource limits (DATA, NPROC, NOFILE, FSIZE) set before model code
  --serve-fd FD PORT             relay connections accepted on the listening unix socket FD (the
                                 worker bound it, outside) to 127.0.0.1:PORT: its way in to Cog
  --forward PORT SOCKET          relay connections on 127.0.0.1:PORT to the unix SOCKET (the Cog
                                 server's way out to the worker, for training webhooks)
  --files DIR PORT               serve the files under DIR on 127.0.0.1:PORT (a run's input files,
                                 which the worker put there; Cog takes inputs only as URLs)
  --exec                         run the command after -- instead of Cog's server (a build step)

Runs inside the model's virtualenv, on the standard library alone: nothing of Cogmill is importable
here. Without the watch or the lifeline, a worker killed with SIGKILL would leave its model servers
running forever.
"""

import functools
import http.server
import os
import resource
import runpy
import signal
import socket
import subprocess
import sys
import threading
import time


def watch_parent(parent: int, output_log: str) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    try:
        os.unlink(output_log)  # nobody is left to read it
    except OSError:
        pass
    os.killpg(0, signal.SIGKILL)  # our process group: this server and its worker


def watch_lifeline(fd: int, on_end) -> None:
    while os.read(fd, 1):
        pass
    on_end()


def end_sandbox() -> None:
    """Kill every process this one may signal (in a sandbox: every other process in it), then exit."""
    try:
        os.kill(-1, signal.SIGKILL)
    except OSError:
        pass
    os._exit(1)


def exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def set_limits(spec: str) -> None:
    for item in filter(None, spec.split(",")):
        name, _, value = item.partition("=")
        limit = int(value)
        resource.setrlimit(getattr(resource, f"RLIMIT_{name}"), (limit, limit))


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    # From a TCP peer (Cog), every segment is acknowledged at once (TCP_QUICKACK, which the kernel
    # drops again after a while: set before each read). Cog leaves Nagle on, so on a kept-alive
    # connection each small event it writes would otherwise wait for our delayed ACK (~40 ms).
    quick = source.family != socket.AF_UNIX and hasattr(socket, "TCP_QUICKACK")
    try:
        while True:
            if quick:
                source.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            if not (data := source.recv(65536)):
                break
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock, how in ((sink, socket.SHUT_WR), (source, socket.SHUT_RD)):
            try:
                sock.shutdown(how)
            except OSError:
                pass


def _join(client: socket.socket, connect) -> None:
    try:
        upstream = connect()
    except OSError:
        client.close()  # nothing listens yet: the worker retries
        return
    for sock in (client, upstream):
        if sock.family != socket.AF_UNIX:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
    back.start()
    _pipe(client, upstream)
    back.join()
    client.close()
    upstream.close()


def _accept_forever(listener: socket.socket, connect) -> None:
    while True:
        client, _ = listener.accept()
        threading.Thread(target=_join, args=(client, connect), daemon=True).start()


class InputFiles(http.server.SimpleHTTPRequestHandler):
    """A run's input files by their exact path; no folder listings."""

    def list_directory(self, path):
        self.send_error(404)

    def log_message(self, *args) -> None:
        pass


def relay(serve: list[tuple[int, int]], forward: list[tuple[int, str]], files: tuple[str, int] | None) -> None:
    """Run the relays and the file server in a child process of their own (the model cannot stall
    them with the GIL)."""
    listeners = []
    for fd, port in serve:
        listener = socket.socket(fileno=fd)
        listeners.append((listener, lambda port=port: socket.create_connection(("127.0.0.1", port))))
    for port, path in forward:
        listener = socket.create_server(("127.0.0.1", port), backlog=128)

        def connect(path=path) -> socket.socket:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(path)
            return sock

        listeners.append((listener, connect))
    server = None
    if files is not None:
        handler = functools.partial(InputFiles, directory=files[0])
        server = http.server.ThreadingHTTPServer(("127.0.0.1", files[1]), handler)
    parent = os.getpid()
    if not (listeners or server) or os.fork() != 0:
        for listener, _ in listeners:
            listener.close()
        if server is not None:
            server.server_close()
        return
    threads = [threading.Thread(target=_accept_forever, args=pair, daemon=True) for pair in listeners]
    threads.append(threading.Thread(target=exit_with_parent, args=(parent,), daemon=True))
    if server is not None:
        threads.append(threading.Thread(target=server.serve_forever, daemon=True))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    os._exit(0)


def main() -> None:
    del sys.path[0]  # this script's folder (Cogmill's runner) is not the model's business
    args = sys.argv[1:]
    serve: list[tuple[int, int]] = []
    forward: list[tuple[int, str]] = []
    files = None
    command = False
    lifeline = None
    while args and args[0] != "--":
        option = args.pop(0)
        if option == "--watch":
            parent, output_log = int(args.pop(0)), args.pop(0)
            threading.Thread(target=watch_parent, args=(parent, output_log), daemon=True).start()
        elif option == "--limits":
            set_limits(args.pop(0))
        elif option == "--serve-fd":
            serve.append((int(args.pop(0)), int(args.pop(0))))
        elif option == "--forward":
            forward.append((int(args.pop(0)), args.pop(0)))
        elif option == "--lifeline":
            lifeline = int(args.pop(0))
        elif option == "--exec":
            command = True
        elif option == "--files":
            files = (args.pop(0), int(args.pop(0)))
        else:
            sys.exit(f"unknown option {option}")
    relay(serve, forward, files)
    if command:
        step = subprocess.Popen(args[1:])
        if lifeline is not None:
            threading.Thread(target=watch_lifeline, args=(lifeline, end_sandbox), daemon=True).start()
        sys.exit(step.wait())
    if lifeline is not None:
        threading.Thread(target=watch_lifeline, args=(lifeline, end_sandbox), daemon=True).start()
    sys.argv = ["cog.server.http", *args[1:]]
    runpy.run_module("cog.server.http", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
