"""How Cogmill's cost grows with its work, from one run against a real Cogmill (tests/server.py):

- listing predictions (`GET /v1/predictions`, its first page and the sixth, by `next`) for an
  account holding 1k, 10k and 100k of them: p50 of each, and each size's ratio to the smallest;
- one streaming prediction (textgen) read live by 200 readers of its `urls.stream` at once,
  against the same prediction read by one: every reader must get every output event (their text is
  the prediction's output); the time from the create to the last reader's `done`, and the ratio;
- 1,000 predictions of hello-world queued at once, drained by one worker: predictions/s from the
  first create to the last completion, every one checked.

A report: every answer timed is checked, no time is asserted.

    .venv/bin/python bench/scale.py [--sizes 1000,10000,100000] [--readers 200] [--queued 1000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from httpx_sse import aconnect_sse  # noqa: E402

import tests.environment  # noqa: E402, F401  (a temporary data folder and the shared venv cache)
from bench.common import machine, started  # noqa: E402
from tests.server import CogmillServer, wait_until  # noqa: E402

LIST_SAMPLES = 30
DEEP_PAGES = 5
TIMEOUT = 120.0
# Finished predictions written straight into the database, oldest first, a second apart; run in the
# server's own environment (`manage.py shell`), so the same database whatever DATABASE_URL says.
SEED = """
import datetime as dt
from django.utils import timezone
from accounts.models import User
from playground.models import Prediction, Version
owner = User.objects.get(username={user!r})
version = Version.objects.get(model__owner__username="cogmill", model__name="hello-world")
have = Prediction.objects.filter(owner=owner).count()
start = timezone.now() - dt.timedelta(days=30)
batch = []
for n in range(have, {total}):
    at = start + dt.timedelta(seconds=n)
    batch.append(Prediction(owner=owner, account=owner, model=version.model, version=version, status="succeeded",
                            input={{"text": f"row {{n}}"}}, output=f"hello row {{n}}", created_at=at,
                            started_at=at, completed_at=at, metrics={{"predict_time": 0.001}}))
    if len(batch) == 5000:
        Prediction.objects.bulk_create(batch)
        batch = []
Prediction.objects.bulk_create(batch)
"""


def p50_ms(seconds: list[float]) -> float:
    return round(statistics.median(seconds) * 1000, 2)


def listing(server: CogmillServer, token: str, sizes: list[int]) -> list[dict[str, Any]]:
    """p50 of the first page and of the page DEEP_PAGES down, at each size (the account's rows)."""
    results = []
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=TIMEOUT) as http:
        for size in sizes:
            server.manage("shell", "-c", SEED.format(user="scale", total=size))
            first = http.get("/v1/predictions").json()
            url = "/v1/predictions"
            for _ in range(DEEP_PAGES):
                url = http.get(url).json()["next"]
            timings = {"first": [], "deep": []}
            for _ in range(LIST_SAMPLES):
                for which, target in (("first", "/v1/predictions"), ("deep", url)):
                    begin = time.perf_counter()
                    page = http.get(target).json()
                    timings[which].append(time.perf_counter() - begin)
                    _check_page(page, first if which == "first" else None)
            results.append({"rows": size, "first_page_p50_ms": p50_ms(timings["first"]),
                            "deep_page_p50_ms": p50_ms(timings["deep"])})
    smallest = results[0]
    for row in results:
        row["first_ratio"] = round(row["first_page_p50_ms"] / smallest["first_page_p50_ms"], 2)
        row["deep_ratio"] = round(row["deep_page_p50_ms"] / smallest["deep_page_p50_ms"], 2)
    return results


def _check_page(page: dict, same_as: dict | None) -> None:
    rows = page["results"]
    stamps = [row["created_at"] for row in rows]
    if len(rows) != 100 or stamps != sorted(stamps, reverse=True):
        raise RuntimeError(f"a page of {len(rows)} rows, or not newest first")
    if same_as is not None and [r["id"] for r in rows] != [r["id"] for r in same_as["results"]]:
        raise RuntimeError("the first page changed between two reads")


async def _read(http: httpx.AsyncClient, url: str) -> str:
    """One reader of a run's stream: its output events' text, once `done` came."""
    text = []
    async with aconnect_sse(http, "GET", url, headers={"Accept": "text/event-stream"}) as source:
        if source.response.status_code != 200:
            raise RuntimeError(f"stream answered {source.response.status_code}")
        async for event in source.aiter_sse():
            if event.event == "output":
                text.append(event.data)
            elif event.event == "error":
                raise RuntimeError(f"stream error: {event.data}")
            elif event.event == "done":
                return "".join(text)
    raise RuntimeError("the stream ended without done")


async def _fan_out(server: CogmillServer, token: str, readers: int) -> float:
    """Seconds from the create to the last of `readers` readers' `done`; every reader checked."""
    headers = {"Authorization": f"Bearer {token}"}
    body = {"version": "cogmill/textgen", "input": {"prompt": "The", "max_tokens": 300, "seed": 7,
                                                     "temperature": 0.5}}
    limits = httpx.Limits(max_connections=readers + 10, max_keepalive_connections=readers + 10)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=TIMEOUT, limits=limits) as http:
        begin = time.perf_counter()
        created = (await http.post("/v1/predictions", json=body, headers=headers)).json()
        texts = await asyncio.gather(*(_read(http, created["urls"]["stream"]) for _ in range(readers)))
        elapsed = time.perf_counter() - begin
        done = (await http.get(f"/v1/predictions/{created['id']}", headers=headers)).json()
    output = "".join(done["output"])
    if done["status"] != "succeeded" or any(text != output for text in texts) or len(output) < 100:
        raise RuntimeError(f"a reader missed events (status {done['status']}, {len(output)} characters)")
    return elapsed


def fan_out(server: CogmillServer, token: str, readers: int) -> dict[str, Any]:
    asyncio.run(_fan_out(server, token, 1))  # untimed: textgen's instance boots
    alone = asyncio.run(_fan_out(server, token, 1))
    crowd = asyncio.run(_fan_out(server, token, readers))
    return {"readers": readers, "one_reader_s": round(alone, 3), "all_readers_s": round(crowd, 3),
            "ratio": round(crowd / alone, 2)}


def drain(server: CogmillServer, token: str, queued: int) -> dict[str, Any]:
    """Queue `queued` predictions at once, then wait for all: completions per second."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=TIMEOUT) as http:
        begin = time.perf_counter()
        ids = []
        for n in range(queued):
            created = http.post("/v1/predictions", json={"version": "cogmill/hello-world", "input": {"text": f"q{n}"}})
            if created.status_code != 201:
                raise RuntimeError(f"create {n}: {created.status_code} {created.text[:300]}")
            ids.append(created.json()["id"])
        queued_s = time.perf_counter() - begin
        pending = set(ids)

        def all_done() -> bool:
            for prediction_id in list(pending)[:50]:
                got = http.get(f"/v1/predictions/{prediction_id}").json()
                if got["status"] in ("failed", "canceled"):
                    raise RuntimeError(f"{prediction_id} {got['status']}: {got.get('error')}")
                if got["status"] == "succeeded":
                    pending.discard(prediction_id)
            return not pending

        wait_until(all_done, 1800, 0.05, "every queued prediction to finish")
        elapsed = time.perf_counter() - begin
        for n, prediction_id in enumerate(ids):
            if http.get(f"/v1/predictions/{prediction_id}").json()["output"] != f"hello q{n}":
                raise RuntimeError(f"{prediction_id}: the wrong output")
    return {"queued": queued, "queue_s": round(queued_s, 2), "drain_s": round(elapsed, 2),
            "per_second": round(queued / elapsed, 1)}


def run(sizes: list[int], readers: int, queued: int) -> dict[str, Any]:
    data_dir = Path(os.environ["COGMILL_DATA_DIR"])  # tests.environment's: its embedded Redis is the server's
    # Limits that guard a shared server would measure themselves here: raised past what the bench sends.
    limits = {
        "COGMILL_STREAMS_PER_RUN": str(readers + 10), "COGMILL_STREAMS_PER_CLIENT": str(readers + 10),
        "COGMILL_MAX_ACTIVE_RUNS": str(queued + 10), "COGMILL_RATE_LIMIT_CREATES_PER_MINUTE": str(queued * 10),
        "COGMILL_RATE_LIMIT_REQUESTS_PER_MINUTE": "1000000"}
    with started(data_dir, limits) as server:
        server.push(ROOT / "examples" / "hello-world", "cogmill/hello-world")
        server.push(ROOT / "examples" / "textgen", "cogmill/textgen")
        return {"listing": listing(server, server.token("scale"), sizes),
                "fan_out": fan_out(server, server.token("reader"), readers),
                "drain": drain(server, server.token("drainer"), queued)}


def table(results: dict[str, Any]) -> str:
    lines = [f"{'rows':>8} {'first page p50':>15} {'ratio':>6} {'page 6 p50':>12} {'ratio':>6}"]
    for row in results["listing"]:
        lines.append(f"{row['rows']:>8} {row['first_page_p50_ms']:>12.2f} ms {row['first_ratio']:>5.2f}x "
                     f"{row['deep_page_p50_ms']:>9.2f} ms {row['deep_ratio']:>5.2f}x")
    fan = results["fan_out"]
    lines.append(f"stream of one prediction: 1 reader {fan['one_reader_s']:.2f} s, {fan['readers']} readers "
                 f"{fan['all_readers_s']:.2f} s to the last done ({fan['ratio']:.2f}x), every event to each")
    drained = results["drain"]
    lines.append(f"{drained['queued']} queued (in {drained['queue_s']:.1f} s) drained in {drained['drain_s']:.1f} s: "
                 f"{drained['per_second']:.1f} predictions/s")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="rows to list at (default 1000,10000,100000)")
    parser.add_argument("--readers", type=int, default=200, help="readers of one stream (default 200)")
    parser.add_argument("--queued", type=int, default=1000, help="predictions queued at once (default 1000)")
    parser.add_argument("--json", action="store_true", help="print machine-readable results")
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.sizes.split(","))
    if sizes[0] < 100 * (DEEP_PAGES + 1):
        parser.error(f"each size must be at least {100 * (DEEP_PAGES + 1)} (page {DEEP_PAGES + 1} must exist)")
    results = run(sizes, args.readers, args.queued)
    report = {"date": datetime.now(UTC).isoformat(timespec="seconds"),
              "machine": machine(),
              **results}
    print(json.dumps(report, indent=2) if args.json else table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
