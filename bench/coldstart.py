"""Cold vs warm: hello-world through a deployment that scaled to zero, against one kept warm.

Starts a real Cogmill (web, Celery worker and beat: tests/server.py) with a short scale-down window,
pushes examples/hello-world, and makes two deployments of it: `cold` (min_instances 0) and `warm`
(min_instances 1). Each cold run waits first until `cold` has no instance left, then times one
`Prefer: wait` prediction through it, which has to boot an instance; each warm run times one through
`warm`, whose instance is up. Prints p50/mean of both, the ratio cold/warm, and the boot time the
runs recorded (`metrics.boot_time`). A report: nothing here asserts timings.

    .venv/bin/python bench/coldstart.py [--cold 5] [--warm 20] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

# A temp COGMILL_DATA_DIR and the shared venv cache before anything loads settings (see overhead.py).
import tests.environment  # noqa: E402, F401
from tests.server import CogmillServer, wait_until  # noqa: E402

MODEL_DIR = ROOT / "examples" / "hello-world"
SCALE_DOWN_SECONDS = 2
TERMINAL = {"succeeded", "failed", "canceled"}


COUNT = "from playground.models import Instance; print(Instance.objects.filter(release__deployment__name={!r}).count())"


def instances(server: CogmillServer, name: str) -> int:
    """The deployment's instances, read from the server's own database."""
    return int(server.manage("shell", "-c", COUNT.format(name)).stdout.split()[-1])


def timed_run(client: httpx.Client, name: str, text: str) -> tuple[float, dict]:
    """Seconds from create to a finished prediction through deployment `name`, and its metrics."""
    started = time.perf_counter()
    response = client.post(f"/v1/deployments/bench/{name}/predictions", json={"input": {"text": text}},
                           headers={"Prefer": "wait"})
    response.raise_for_status()
    body = response.json()
    while body["status"] not in TERMINAL:
        body = client.get(f"/v1/predictions/{body['id']}").json()
    elapsed = time.perf_counter() - started
    if body["status"] != "succeeded" or body["output"] != f"hello {text}":
        raise RuntimeError(f"prediction {body['id']} ended {body['status']}: {body.get('error')}")
    return elapsed, body["metrics"]


def run(cold_n: int, warm_n: int) -> dict:
    data_dir = Path(os.environ["COGMILL_DATA_DIR"])
    server = CogmillServer(data_dir, beat=True, extra_env={
        "COGMILL_SCALE_DOWN_SECONDS": str(SCALE_DOWN_SECONDS), "COGMILL_SCALE_INTERVAL_SECONDS": "1"})
    try:
        server.start()
        version = server.push(MODEL_DIR, "bench/hello-world")
        token = server.token("bench")
        with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"},
                          timeout=120) as client:
            for name, minimum in (("cold", 0), ("warm", 1)):
                client.post("/v1/deployments", json={
                    "name": name, "model": "bench/hello-world", "version": version, "hardware": "cpu",
                    "min_instances": minimum, "max_instances": 1}).raise_for_status()
            wait_until(lambda: instances(server, "warm") == 1, 120, 0.2, "the warm deployment's instance")
            timed_run(client, "warm", "first")  # the warm instance answers once before timing
            warm = [timed_run(client, "warm", f"w{i}") for i in range(warm_n)]
            cold = []
            for i in range(cold_n):
                wait_until(lambda: instances(server, "cold") == 0, 120, 0.2, "the cold deployment to scale to zero")
                cold.append(timed_run(client, "cold", f"c{i}"))
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    if not all(metrics.get("cold_start") for _, metrics in cold) or any(m.get("cold_start") for _, m in warm):
        raise RuntimeError("a cold run did not record a cold start, or a warm one did")
    cold_s, warm_s = [s for s, _ in cold], [s for s, _ in warm]
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}",
        "cold": {"n": len(cold_s), "p50_ms": statistics.median(cold_s) * 1000, "mean_ms": statistics.mean(cold_s) * 1000,
                 "boot_time_p50_ms": statistics.median(m["boot_time"] for _, m in cold) * 1000},
        "warm": {"n": len(warm_s), "p50_ms": statistics.median(warm_s) * 1000, "mean_ms": statistics.mean(warm_s) * 1000},
        "ratio_p50": statistics.median(cold_s) / statistics.median(warm_s),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cold", type=int, default=5, help="cold runs (each waits for scale to zero first)")
    parser.add_argument("--warm", type=int, default=20, help="warm runs")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args()
    report = run(args.cold, args.warm)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{report['date']}  {report['machine']}")
    print(f"{'mode':6} {'n':>4} {'p50 ms':>10} {'mean ms':>10}")
    for mode in ("cold", "warm"):
        row = report[mode]
        print(f"{mode:6} {row['n']:>4} {row['p50_ms']:>10.1f} {row['mean_ms']:>10.1f}")
    print(f"cold/warm p50: {report['ratio_p50']:.1f}x   (recorded boot_time p50: "
          f"{report['cold']['boot_time_p50_ms']:.0f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
