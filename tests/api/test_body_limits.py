"""Bodies larger than their route takes are refused with 413 before Django reads them: nothing is
spooled to disk or memory, and no authentication is needed to be refused."""

import socket
import time
from urllib.parse import urlsplit

import httpx
import pytest


def _raw(cogmill, request: bytes) -> bytes:
    """Send `request` as is (headers that lie, bodies that never end) and read the answer."""
    url = urlsplit(cogmill.base_url)
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer) < 300:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


@pytest.mark.parametrize("path", ["/v1/predictions", "/v1/files", "/login", "/v1/models/alice/x/versions"])
def test_a_declared_5_gb_body_is_refused_at_once_without_a_token(cogmill, path):
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {5 * 2**30}\r\n\r\n").encode()
    started = time.monotonic()
    answer = _raw(cogmill, head + b"x" * 1024)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"the limit is" in answer
    assert time.monotonic() - started < 30  # answered without waiting for 5 GB that never comes


def test_a_chunked_body_is_cut_off_at_the_limit(cogmill):
    def chunks():
        for _ in range(64):
            yield b"x" * 2**20  # 64 MiB in all, no Content-Length

    response = httpx.post(f"{cogmill.base_url}/v1/predictions", content=chunks(), timeout=60,
                          headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 413


def test_a_big_form_post_to_a_page_is_refused(cogmill):
    response = httpx.post(f"{cogmill.base_url}/login", data={"username": "x", "password": "y" * (2 * 2**20)},
                          timeout=60)
    assert response.status_code == 413 and "the limit is 1048576 bytes" in response.text


def test_only_a_request_with_credentials_may_send_a_big_body(cogmill):
    """An anonymous push or upload is held to the plain API cap, so it cannot make the server spool
    200 MiB before it is told to log in; with a token the push is read (and then refused as 401)."""
    body = b"x" * (11 * 2**20)
    anonymous = httpx.post(f"{cogmill.base_url}/v1/models/alice/x/versions", content=body, timeout=60,
                           headers={"Content-Type": "application/gzip"})
    assert anonymous.status_code == 413
    with_token = httpx.post(f"{cogmill.base_url}/v1/models/alice/x/versions", content=body, timeout=60,
                            headers={"Content-Type": "application/gzip", "Authorization": "Bearer nonsense"})
    assert with_token.status_code == 401
