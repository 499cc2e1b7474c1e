"""What the sandbox costs: examples/hello-world's Cog server with and without it, in one run.

Boots the server K times each way (cold start: start to READY) and times N warm predictions on one
server each way, through the runner exactly as the worker calls it (`CogInstance.predict`: a PUT
read over SSE; through the sandbox's unix socket and relay, or straight over TCP). Prints p50/p95
for both and sandbox/plain ratios. A report: nothing here asserts timings; every answer is checked.

    .venv/bin/python bench/sandbox.py [--n 200] [--boots 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import tests.environment  # noqa: E402, F401  (the shared venv cache, a temp data folder)
from runner.build import build  # noqa: E402
from runner.instance import CogInstance  # noqa: E402
from runner.sandbox import SandboxConfig, unavailable  # noqa: E402

MODEL_DIR = ROOT / "examples" / "hello-world"


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def boot(src: Path, built, sandbox: SandboxConfig | None) -> tuple[CogInstance, float]:
    instance = CogInstance(src, built.venv, built.spec, sandbox=sandbox)
    started = time.perf_counter()
    instance.start()
    instance.wait_ready(120)
    return instance, (time.perf_counter() - started) * 1000


def predict(instance: CogInstance, n: int) -> list[float]:
    times = []
    for i in range(n):
        started = time.perf_counter()
        result = instance.predict(f"p{i}", {"text": str(i)})
        times.append((time.perf_counter() - started) * 1000)
        if result.get("output") != f"hello {i}":
            raise RuntimeError(f"wrong answer: {result}")
    return times


def measure(src: Path, built, sandbox: SandboxConfig | None, n: int, boots: int) -> dict:
    cold = []
    for _ in range(boots):
        instance, ms = boot(src, built, sandbox)
        predict(instance, 1)
        instance.stop()
        cold.append(ms)
    instance, _ = boot(src, built, sandbox)
    try:
        predict(instance, 10)  # warm-up
        warm = predict(instance, n)
    finally:
        instance.stop()
    return {"cold_p50_ms": statistics.median(cold), "warm_p50_ms": statistics.median(warm),
            "warm_p95_ms": percentile(warm, 0.95)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--boots", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if reason := unavailable():
        sys.exit(f"no sandbox here: {reason}")
    work = Path(tempfile.mkdtemp(prefix="cogmill-bench-sandbox-"))
    try:
        src = work / "hello-world"
        shutil.copytree(MODEL_DIR, src)
        sandbox = SandboxConfig(state_dir=work / "sandboxes")
        built = build(src, Path(os.environ["COGMILL_VENVS_DIR"]), log=lambda _line: None, sandbox=sandbox)
        plain = measure(src, built, None, args.n, args.boots)
        boxed = measure(src, built, sandbox, args.n, args.boots)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratios = {key: boxed[key] / plain[key] for key in plain}
    if args.json:
        print(json.dumps({"plain": plain, "sandboxed": boxed, "ratio": ratios}, indent=2))
        return 0
    print(f"hello-world, {args.n} warm predictions and {args.boots} cold starts each way")
    print(f"{'':12}{'plain':>12}{'sandboxed':>12}{'ratio':>8}")
    for key, label in (("cold_p50_ms", "cold p50"), ("warm_p50_ms", "warm p50"), ("warm_p95_ms", "warm p95")):
        print(f"{label:12}{plain[key]:>10.2f}ms{boxed[key]:>10.2f}ms{ratios[key]:>7.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
