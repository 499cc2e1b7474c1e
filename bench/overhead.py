"""Cogmill's overhead: sync predictions of examples/hello-world through Cogmill vs. straight to Cog.

Starts a real Cogmill (web + Celery worker, tests/server.py) and, beside it, a bare Cog server for
the same model (runner/), then times N `Prefer: wait` predictions through Cogmill's API and N
`POST /predictions` straight to the Cog server, each on one kept-alive HTTP connection, one at a
time. Prints p50/p95/mean for both and Cogmill/direct ratios. Then it measures throughput: M
`Prefer: wait` predictions through Cogmill from C clients at once (each its own connection), in
predictions completed per second, and the CPU time each process spent per prediction meanwhile
(Cogmill's web and worker, the model's server, Redis, this client). A report: every answer is
checked, no timing is asserted.

    .venv/bin/python bench/overhead.py [--n 200] [--warmup 10] [--concurrency 8] [--m 400] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psutil  # noqa: E402

# Before anything loads Django settings (tests.server does): a temp COGMILL_DATA_DIR, the shared
# venv cache, DJANGO_SETTINGS_MODULE. The Cogmill under test uses that same data folder, so the
# embedded Redis that loading the settings starts is the server's own and stops with it.
import tests.environment  # noqa: E402, F401
from bench.common import UNLIMITED, machine, started  # noqa: E402
from runner.build import build  # noqa: E402
from runner.instance import CogInstance  # noqa: E402

MODEL_DIR = ROOT / "examples" / "hello-world"
MODEL_REF = "cogmill/hello-world"
BOOT_TIMEOUT = 120.0
REQUEST_TIMEOUT = 90.0
BUSY_RETRY_SECONDS = 0.001
MAX_BUSY_RETRIES = 1000


@dataclass
class Result:
    mode: str
    n: int
    p50_ms: float
    p95_ms: float
    mean_ms: float
    retries_409: int = 0


Predict = Callable[[str], int]  # runs one prediction for a text; returns the 409 retries it took


def summarize(mode: str, seconds: list[float], retries: int) -> Result:
    ms = [s * 1000 for s in seconds]
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    p50, p95, mean = round(cuts[49], 3), round(cuts[94], 3), round(statistics.fmean(ms), 3)
    return Result(mode, len(ms), p50, p95, mean, retries)


def measure(mode: str, predict: Predict, n: int, warmup: int) -> Result:
    for i in range(warmup):
        predict(f"warm-up {i}")
    seconds: list[float] = []
    retries = 0
    for i in range(n):
        begin = time.perf_counter()
        retries += predict(f"bench {i}")
        seconds.append(time.perf_counter() - begin)
    return summarize(mode, seconds, retries)


def throughput(make_predict: Callable[[httpx.Client], Predict], concurrency: int, m: int) -> dict[str, float]:
    """Predictions completed per second when `concurrency` clients each run their share of `m`, one
    after another on a connection of their own; every answer checked."""
    shares = [m // concurrency + (1 if i < m % concurrency else 0) for i in range(concurrency)]
    failures: list[BaseException] = []
    start = threading.Barrier(concurrency + 1)

    def client(index: int) -> None:
        with httpx.Client(timeout=REQUEST_TIMEOUT) as http:
            predict = make_predict(http)
            start.wait()
            try:
                for i in range(shares[index]):
                    predict(f"c{index} {i}")
            except BaseException as exc:  # reported below: a wrong answer fails the bench
                failures.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    start.wait()
    begin = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - begin
    if failures:
        raise RuntimeError(f"{len(failures)} of {concurrency} clients failed: {failures[0]}")
    return {"concurrency": concurrency, "predictions": m, "seconds": round(elapsed, 3),
            "per_second": round(m / elapsed, 1)}


def cpu_seconds(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds (user + system) so far of each named process with its children (the model's
    server is the worker's child), and of this client."""
    found: dict[str, float] = {}
    for name, pid in {**roots, "client": os.getpid()}.items():
        root = psutil.Process(pid)
        for proc in [root] if name == "client" else [root, *root.children(recursive=True)]:
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue
            found[name] = found.get(name, 0.0) + times.user + times.system
    return found


def cpu_per_prediction(before: dict[str, float], after: dict[str, float], m: int) -> dict[str, float]:
    return {name: round(1000 * (after[name] - before.get(name, 0.0)) / m, 2) for name in after}


def check(response: httpx.Response, status_code: int, text: str, what: str) -> None:
    """Fail loudly unless the response has this HTTP status and a succeeded "hello <text>"."""
    data = response.json() if response.status_code == status_code else {}
    if data.get("status") != "succeeded" or data.get("output") != f"hello {text}":
        raise RuntimeError(f"{what}: HTTP {response.status_code} {response.text[:500]}")


def cogmill_predictor(client: httpx.Client, base_url: str, token: str) -> Predict:
    headers = {"Authorization": f"Bearer {token}", "Prefer": "wait"}

    def predict(text: str) -> int:
        body = {"version": MODEL_REF, "input": {"text": text}}
        response = client.post(f"{base_url}/v1/predictions", json=body, headers=headers)
        check(response, 201, text, "Cogmill prediction")
        return 0

    return predict


def direct_predictor(client: httpx.Client, cog_url: str) -> Predict:
    def predict(text: str) -> int:
        for retries in range(MAX_BUSY_RETRIES):
            response = client.post(f"{cog_url}/predictions", json={"input": {"text": text}})
            if response.status_code != 409:  # coglet frees its slot just after answering
                break
            time.sleep(BUSY_RETRY_SECONDS)
        else:
            raise RuntimeError(f"Cog server still busy after {MAX_BUSY_RETRIES} retries")
        check(response, 200, text, "direct prediction")
        return retries

    return predict


def start_cog(work_dir: Path) -> CogInstance:
    """Build hello-world (a copy, so .cog/ is not written into the repo) and boot its Cog server."""
    src = work_dir / "hello-world"
    shutil.copytree(MODEL_DIR, src)
    built = build(src, Path(os.environ["COGMILL_VENVS_DIR"]), log=lambda _line: None)
    instance = CogInstance(src, built.venv, built.spec)
    instance.start()
    instance.wait_ready(BOOT_TIMEOUT)
    return instance


def run(n: int, warmup: int, concurrency: int, m: int) -> tuple[list[Result], dict[str, float]]:
    data_dir = Path(os.environ["COGMILL_DATA_DIR"])  # tests.environment's: its embedded Redis is the server's
    work_dir = Path(tempfile.mkdtemp(prefix="cogmill-bench-"))
    instance: CogInstance | None = None
    try:
        with started(data_dir, UNLIMITED) as server:
            server.push(MODEL_DIR, MODEL_REF)
            token = server.token("bench")
            instance = start_cog(work_dir)
            with httpx.Client(timeout=REQUEST_TIMEOUT) as client:
                through = measure("cogmill", cogmill_predictor(client, server.base_url, token), n, warmup)
            with httpx.Client(timeout=REQUEST_TIMEOUT) as client:
                direct = measure(
                    "direct", direct_predictor(client, f"http://127.0.0.1:{instance.port}"), n, warmup
                )
            roots = {"web": server.procs["web"].pid, "worker": server.procs["worker"].pid}
            if (pidfile := data_dir / "redis.pid").exists():  # the embedded Redis (a shared one is not counted)
                roots["redis"] = int(pidfile.read_text())
            before = cpu_seconds(roots)
            load = throughput(lambda http: cogmill_predictor(http, server.base_url, token), concurrency, m)
            load["cpu_ms_per_prediction"] = cpu_per_prediction(before, cpu_seconds(roots), m)
            return [through, direct], load
    finally:
        if instance is not None:
            instance.stop()
        shutil.rmtree(work_dir, ignore_errors=True)


def ratios(through: Result, direct: Result) -> dict[str, float]:
    return {"p50": round(through.p50_ms / direct.p50_ms, 2), "p95": round(through.p95_ms / direct.p95_ms, 2)}


def table(results: list[Result], load: dict[str, float]) -> str:
    lines = [f"{'mode':<8} {'n':>5} {'p50 ms':>9} {'p95 ms':>9} {'mean ms':>9} {'409 retries':>12}"]
    for r in results:
        lines.append(
            f"{r.mode:<8} {r.n:>5} {r.p50_ms:>9.2f} {r.p95_ms:>9.2f} {r.mean_ms:>9.2f} {r.retries_409:>12}"
        )
    ratio = ratios(*results)
    lines.append(f"Cogmill/direct: p50 x{ratio['p50']:.2f}, p95 x{ratio['p95']:.2f}")
    lines.append(f"Cogmill throughput: {load['predictions']} predictions from {load['concurrency']} clients at once "
                 f"in {load['seconds']:.2f} s: {load['per_second']:.1f} predictions/s")
    cpu = load["cpu_ms_per_prediction"]
    lines.append("CPU per prediction meanwhile: " + ", ".join(f"{name} {ms:.1f} ms" for name, ms in cpu.items())
                 + f" (all {sum(cpu.values()):.1f} ms on {os.cpu_count()} CPUs)")
    return "\n".join(lines)


def report(results: list[Result], load: dict[str, float]) -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "results": [asdict(r) for r in results],
        "ratio_cogmill_over_direct": ratios(*results),
        "throughput": load,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="timed predictions per mode (default 200)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed predictions first (default 10)")
    parser.add_argument("--concurrency", type=int, default=8, help="clients at once for throughput (default 8)")
    parser.add_argument("--m", type=int, default=400, help="predictions for throughput (default 400)")
    parser.add_argument("--json", action="store_true", help="print machine-readable results")
    args = parser.parse_args()
    if args.n < 2:
        parser.error("--n must be at least 2")
    if args.concurrency < 1 or args.m < args.concurrency:
        parser.error("--concurrency must be at least 1 and --m at least --concurrency")
    results, load = run(args.n, args.warmup, args.concurrency, args.m)
    print(json.dumps(report(results, load), indent=2) if args.json else table(results, load))
    return 0


if __name__ == "__main__":
    sys.exit(main())
