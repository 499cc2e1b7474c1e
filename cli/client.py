"""The HTTP API as the command uses it: one httpx client, answers as dicts, problem+json as CliError
with its exit code, the SSE stream of a run, uploads and downloads."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
from httpx_sse import SSEError, connect_sse

from cli import config
from cli.errors import AUTH, NETWORK, USAGE, CliError, for_status

USER_AGENT = "cogmill-cli/0.1"
TIMEOUT = httpx.Timeout(30.0, read=90.0)
CHUNK = 256 * 1024
# A 429 or 503 is tried again this many times, waiting what Retry-After asks, at most MAX_PAUSE.
RETRIES, MAX_PAUSE = 3, 10.0


class Api:
    def __init__(self, base_url: str | None = None, token: str | None = None) -> None:
        self.base_url = (base_url or config.base_url()).rstrip("/")
        self.token = token if token is not None else config.token()
        headers = {"User-Agent": USER_AGENT}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        self.http = httpx.Client(base_url=self.base_url, headers=headers, timeout=TIMEOUT)

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        """The answer; an error status as a CliError. A 429 (refused before anything was done), or a
        503 to a read, is tried again after the wait the server asks for (a few times, briefly); never
        a body that was a stream, now spent."""
        if not self.token:
            raise CliError("no API token: set REPLICATE_API_TOKEN, or run `cogmill login`", AUTH)
        url = path if path.startswith("http") else f"/v1{path}"
        repeatable = "files" not in kwargs and "content" not in kwargs
        for attempt in range(RETRIES + 1):
            try:
                response = self.http.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                raise CliError(f"cannot reach {self.base_url}: {exc}", NETWORK) from None
            pause = _retry_after(response, method)
            if pause is None or not repeatable or attempt == RETRIES:
                break
            time.sleep(pause)
        if response.status_code >= 400:
            raise CliError(_problem(response), for_status(response.status_code))
        return response

    def get(self, path: str, **params) -> dict | list:
        return _json(self.request("GET", path, params={k: v for k, v in params.items() if v is not None}))

    def get_object(self, path: str) -> dict:
        """An answer that must be a JSON object."""
        return self._object(self.get(path), path)

    def post(self, path: str, body: dict | None = None, **kwargs) -> dict:
        response = self.request("POST", path, json=body, **kwargs)
        return self._object(_json(response) if response.content else {}, path)

    def _object(self, answer, path: str) -> dict:
        if not isinstance(answer, dict):
            raise CliError(f"{self.base_url} answered {path} with something that is not an object")
        return answer

    def pages(self, path: str, limit: int | None = None) -> Iterator[dict]:
        """Every item of a paginated list (`next` followed), at most `limit`."""
        url, seen = path, 0
        while url:
            page = _json(self.request("GET", url))
            if not isinstance(page, dict):
                raise CliError(f"{self.base_url} answered {path} with something that is not a page")
            for item in page.get("results") or []:
                yield item
                seen += 1
                if limit is not None and seen >= limit:
                    return
            url = self._here(page.get("next"))

    def delete(self, path: str) -> None:
        self.request("DELETE", path)

    def patch(self, path: str, body: dict) -> dict:
        return self._object(_json(self.request("PATCH", path, json=body)), path)

    def create_file(self, path: Path) -> dict:
        """The file stored with POST /v1/files: its object."""
        try:
            with path.open("rb") as handle:
                created = _json(self.request("POST", "/files", files={"content": (path.name, handle)}))
        except OSError as exc:
            raise CliError(f"cannot read {path}: {exc.strerror}", USAGE) from None
        if not isinstance(created, dict) or not isinstance(created.get("urls"), dict) or "get" not in created["urls"]:
            raise CliError(f"{self.base_url} stored {path.name} but gave no URL for it")
        return created

    def same_origin(self, url: str) -> bool:
        """Whether `url` is on the API's own origin (scheme, host and port): the only one the token
        is sent to."""
        here, there = httpx.URL(self.base_url), httpx.URL(url)
        return (there.scheme, there.host, there.port) == (here.scheme, here.host, here.port)

    @contextlib.contextmanager
    def _client_for(self, url: str) -> Iterator[httpx.Client]:
        """The API's own client (with the token) for its origin; for any other, a plain one, closed
        after: the token goes to no other host."""
        if self.same_origin(url):
            yield self.http
        else:
            with httpx.Client(headers={"User-Agent": USER_AGENT}, timeout=TIMEOUT) as plain:
                yield plain

    def _here(self, url: object) -> str | None:
        """A `next` link on the API's own origin, whatever origin the server wrote in it."""
        if not isinstance(url, str) or not url:
            return None
        return str(httpx.URL(self.base_url).copy_with(raw_path=httpx.URL(url).raw_path))

    def upload(self, path: Path) -> str:
        """A file stored for a model input: its `urls.get`, which the input takes."""
        return self.create_file(path)["urls"]["get"]

    def send(self, path: str, data: bytes, content_type: str, progress: Callable[[int, int], None]) -> dict:
        """POST `data` as the raw body, `progress(sent, total)` as it goes; the answer, an object."""
        def chunks() -> Iterator[bytes]:
            for start in range(0, len(data), CHUNK):
                yield data[start:start + CHUNK]
                progress(min(start + CHUNK, len(data)), len(data))

        response = self.request("POST", path, content=chunks(), timeout=httpx.Timeout(30.0, read=300.0),
                                headers={"Content-Type": content_type, "Content-Length": str(len(data))})
        return self._object(_json(response), path)

    def stream(self, url: str) -> Iterator[tuple[str, str]]:
        """(event, data) of a run's stream until `done` (or `error`)."""
        # The stream's URL is its own capability: another origin gets it without the token.
        try:
            with self._client_for(url) as http, connect_sse(
                    http, "GET", url, headers={"Accept": "text/event-stream"},
                    timeout=httpx.Timeout(30.0, read=None)) as source:
                if source.response.status_code >= 400:  # the run itself is polled instead
                    source.response.read()
                    raise StreamBroke(_problem(source.response))
                for event in source.iter_sse():
                    yield event.event, event.data
                    if event.event in ("done", "error"):
                        return
        except (httpx.TransportError, SSEError) as exc:
            raise StreamBroke(str(exc)) from None

    def download(self, url: str, target: Path, progress: Callable[[int, int | None], None]) -> Path:
        """A file output saved to `target`, `progress(done, total)` as it comes."""
        # The token goes only to the API's own origin: a file elsewhere (a CDN, another port, plain
        # http beside https) is fetched without it.
        made = False  # only a file this call made is removed when it fails
        try:
            with self._client_for(url) as http, http.stream("GET", url, follow_redirects=True) as response:
                if response.status_code >= 400:
                    response.read()
                    raise CliError(_problem(response), for_status(response.status_code))
                total = int(response.headers["content-length"]) if "content-length" in response.headers else None
                done = 0
                try:
                    sink = target.open("xb")  # a new file: never through a link, never over one
                except FileExistsError:
                    raise CliError(f"{target} appeared while saving it: nothing was overwritten") from None
                made = True
                with sink:
                    for chunk in response.iter_bytes():
                        sink.write(chunk)
                        done += len(chunk)
                        progress(done, total)
        except httpx.TransportError as exc:
            if made:
                target.unlink(missing_ok=True)
            raise CliError(f"downloading {url} failed: {exc}", NETWORK) from None
        except BaseException:
            if made:
                target.unlink(missing_ok=True)  # no half file left behind (Ctrl-C, a refusal)
            raise
        return target


class StreamBroke(Exception):
    """The run's stream ended before `done`; the run itself may go on (poll it)."""


def _retry_after(response: httpx.Response, method: str) -> float | None:
    """Seconds to wait before trying again (None: do not): a 429, or a 503 to a GET (a 503 to a
    create may come after the thing was made)."""
    if response.status_code != 429 and not (response.status_code == 503 and method == "GET"):
        return None
    try:
        asked = float(response.headers.get("retry-after", "1"))
    except ValueError:  # an HTTP date: not worth parsing for a pause this short
        asked = 1.0
    return max(0.0, asked) if asked <= MAX_PAUSE else None


def _json(response: httpx.Response):
    try:
        return response.json()
    except ValueError:
        raise CliError(f"{response.url} answered with something that is not JSON "
                       f"({response.headers.get('content-type', 'no content type')}): is the base URL right?") from None


def _problem(response: httpx.Response) -> str:
    """What the API said went wrong: problem+json's detail (and the fields it names), or the status."""
    try:
        body = response.json()
    except ValueError:
        return f"{response.status_code} {response.reason_phrase}"
    if not isinstance(body, dict):
        return f"{response.status_code} {response.reason_phrase}"
    detail = str(body.get("detail") or body.get("title") or response.reason_phrase)
    invalid = body.get("invalid_fields") if isinstance(body.get("invalid_fields"), list) else []
    fields = [f"{f.get('field')}: {f.get('description')}" for f in invalid if isinstance(f, dict)]
    return "\n".join([detail, *fields]) if fields and not all(f in detail for f in fields) else detail
