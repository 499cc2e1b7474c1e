"""The command's HTTP client on its own: the API token goes only to the API's host, never to a host a
file output or a page's `next` link names; and an answer that is not problem+json still says what
went wrong."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cli.client import Api
from cli.errors import NOT_FOUND, CliError


@pytest.fixture
def server():
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            seen.append({"host": self.headers["Host"], "authorization": self.headers.get("Authorization"),
                         "path": self.path})
            port = self.server.server_address[1]
            pages = {"/v1/things": {"results": [1], "next": f"http://localhost:{port}/v1/things?cursor=2"},
                     "/v1/things?cursor=2": {"results": [2], "next": None}}
            found = self.path == "/file.bin" or self.path in pages
            body = (b"the bytes" if self.path == "/file.bin" else json.dumps(pages[self.path]).encode()
                    if found else b"<html>gone</html>")
            self.send_response(200 if found else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_address[1], seen
    httpd.shutdown()


def test_the_token_goes_to_the_api_host_only(server, tmp_path):
    port, seen = server
    api = Api(f"http://127.0.0.1:{port}", "r8_secret")
    api.download(f"http://127.0.0.1:{port}/file.bin", tmp_path / "same", lambda done, total: None)
    api.download(f"http://localhost:{port}/file.bin", tmp_path / "elsewhere", lambda done, total: None)
    assert (tmp_path / "elsewhere").read_bytes() == b"the bytes"
    assert [s["authorization"] for s in seen] == ["Bearer r8_secret", None]


def test_a_next_link_to_another_host_is_followed_on_the_api_host(server):
    """A page's `next` names the server as it sees itself; the token still goes only where it was given."""
    port, seen = server
    assert list(Api(f"http://127.0.0.1:{port}", "r8_secret").pages("/things")) == [1, 2]
    assert [(s["host"], s["path"], s["authorization"]) for s in seen] == [
        (f"127.0.0.1:{port}", "/v1/things", "Bearer r8_secret"),
        (f"127.0.0.1:{port}", "/v1/things?cursor=2", "Bearer r8_secret")]


def test_an_answer_that_is_not_json_says_its_status(server, tmp_path):
    port, _ = server
    api = Api(f"http://127.0.0.1:{port}", "r8_secret")
    with pytest.raises(CliError) as caught:
        api.get("/nothing")
    assert (caught.value.code, caught.value.message) == (NOT_FOUND, "404 Not Found")


def test_a_file_that_appears_at_the_target_is_left_as_it_is(server, tmp_path):
    """Saving never writes over a file, nor removes one it did not make."""
    port, _ = server
    taken = tmp_path / "taken"
    taken.write_bytes(b"someone else's")
    with pytest.raises(CliError, match="nothing was overwritten"):
        Api(f"http://127.0.0.1:{port}", "r8_secret").download(f"http://127.0.0.1:{port}/file.bin", taken,
                                                               lambda done, total: None)
    assert taken.read_bytes() == b"someone else's"
