"""Input files given by URL are downloaded by the worker, with the webhooks' guard, never by the model.

A real HTTP server on this machine stands in for a site on the internet: the one decision patched
is that its address counts as public (everything else about the guard is the real one)."""

import http.server
import threading
from pathlib import Path

import pytest

from playground import webhooks
from playground.worker import inputs

ROUTES = {
    "/photo.png": (200, {"Content-Type": "image/png"}, b"\x89PNG fake"),
    "/to-metadata": (302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b""),
    "/to-file": (302, {"Location": "file:///etc/passwd"}, b""),
    "/to-photo": (301, {"Location": "/photo.png"}, b""),
    "/huge": (200, {"Content-Type": "application/octet-stream"}, b"x" * 4096),
    "/gone": (404, {}, b"no"),
}


class Site(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, headers, body = ROUTES[self.path]
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def site(monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    real = webhooks.pinned

    def pinned(url, allow_private=False):
        url = webhooks.httpx.URL(str(url))
        if url.host == "127.0.0.1" and url.port == port:
            return webhooks.Target(url)  # this one test address counts as public
        return real(url, allow_private)

    monkeypatch.setattr(webhooks, "pinned", pinned)
    yield f"http://127.0.0.1:{port}"
    server.shutdown()


def test_a_public_file_is_downloaded_under_its_own_name(site, tmp_path: Path):
    path = inputs._download(f"{site}/photo.png", tmp_path)
    assert path.name == "photo.png" and path.read_bytes() == b"\x89PNG fake"
    (tmp_path / "again").mkdir()
    assert inputs._download(f"{site}/to-photo", tmp_path / "again").read_bytes() == b"\x89PNG fake"


@pytest.mark.parametrize("route, says", [
    ("/to-metadata", "169.254.169.254 is a private, loopback, link-local or reserved address"),
    ("/to-file", "file:/+etc/passwd is not an http:// or https:// URL"),
    ("/gone", "answered 404"),
])
def test_a_redirect_elsewhere_or_a_missing_file_is_refused(site, tmp_path: Path, route, says):
    with pytest.raises(inputs.Unfetchable, match=says):
        inputs._download(f"{site}{route}", tmp_path)


def test_a_file_over_the_cap_is_refused(site, tmp_path: Path, settings):
    settings.COGMILL_FETCH_MAX_BYTES = 1024
    with pytest.raises(inputs.Unfetchable, match="4096 bytes, more than the 1024 Cogmill fetches"):
        inputs._download(f"{site}/huge", tmp_path)


def test_private_addresses_are_refused_before_any_connection(tmp_path: Path):
    for url in ["http://127.0.0.1:6379/", "http://10.1.2.3/x.png", "http://[::1]/x", "http://169.254.169.254/"]:
        with pytest.raises(inputs.Unfetchable, match="private, loopback, link-local or reserved"):
            inputs._download(url, tmp_path)
