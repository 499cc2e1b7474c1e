"""What Cogmill's features cost a sync prediction: each one against the path without it, in one run.

For examples/hello-world (`Prefer: wait`, about 1 ms of model time): p50 of predictions one at a
time, and throughput of predictions from C clients at once (bench/overhead.py's own method), for:

- the sandbox: a Cogmill as it ships (bubblewrap around the Cog server) against one started with
  COGMILL_SANDBOX=off;
- the lease heartbeat: a Cogmill renewing its leases (and its worker's liveness) every 10 s, as it
  ships, and one renewing them every 0.1 s, against one that never does while the bench runs;
- the spend check: an account with a monthly spend limit (never reached) against one without;
- deployment routing: `POST /v1/deployments/o/n/predictions` (one warm instance) against
  `POST /v1/models/o/n/predictions` for the same version (one instance too).

The four Cogmills run side by side (the spend check and the deployment are measured on the one as
it ships), and the measurements are taken in R rounds that visit every configuration in turn, so
that a slow minute of the machine falls on all of them alike: p50 over all rounds' predictions,
throughput as the median of the rounds'. Each cost is a ratio to its own baseline from this run. A
report: every answer is checked, no timing is asserted.

    .venv/bin/python bench/features.py [--n 200] [--concurrency 8] [--m 400] [--rounds 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

import tests.environment  # noqa: E402, F401  (a temporary data folder and the shared venv cache)
from bench.common import UNLIMITED, machine, started  # noqa: E402
from bench.overhead import (  # noqa: E402
    MODEL_DIR,
    MODEL_REF,
    REQUEST_TIMEOUT,
    Predict,
    check,
    summarize,
    throughput,
)
from runner.sandbox import unavailable  # noqa: E402

SERVERS = {
    "as shipped": {},
    "no sandbox": {"COGMILL_SANDBOX": "off", "COGMILL_PUSH": "staff"},
    "heartbeat every 0.1 s": {"COGMILL_RUN_LEASE_SECONDS": "0.3"},
    "no heartbeat": {"COGMILL_RUN_LEASE_SECONDS": "86400"},
}
SPEND_LIMIT = """
from decimal import Decimal
from accounts.models import User
from playground.services import billing
billing.set_limit(account=User.objects.get(username="limited"), monthly_limit=Decimal("1000000"))
"""


def predictor(client: httpx.Client, url: str, token: str, body: Callable[[str], dict]) -> Predict:
    headers = {"Authorization": f"Bearer {token}", "Prefer": "wait"}

    def predict(text: str) -> int:
        check(client.post(url, json=body(text), headers=headers), 201, text, url)
        return 0

    return predict


def by_model(base_url: str, token: str) -> Callable[[httpx.Client], Predict]:
    url = f"{base_url}/v1/models/{MODEL_REF}/predictions"
    return lambda client: predictor(client, url, token, lambda text: {"input": {"text": text}})


def configurations(stack: ExitStack) -> dict[str, Callable[[httpx.Client], Predict]]:
    """Every server started (side by side), and each configuration's way to make predictions."""
    made: dict[str, Callable[[httpx.Client], Predict]] = {}
    for name, env in servers().items():
        server = stack.enter_context(started(Path(tempfile.mkdtemp(prefix="cogmill-features-")), {**UNLIMITED, **env}))
        version = server.push(MODEL_DIR, MODEL_REF)
        token = server.token("bench")
        made[name] = by_model(server.base_url, token)
        if name == "as shipped":
            limited = server.token("limited")
            server.manage("shell", "-c", SPEND_LIMIT)
            made["spend limit"] = by_model(server.base_url, limited)
            httpx.post(f"{server.base_url}/v1/deployments", headers={"Authorization": f"Bearer {token}"},
                       json={"name": "bench", "model": MODEL_REF, "version": version, "hardware": "cpu",
                             "min_instances": 1, "max_instances": 1}, timeout=REQUEST_TIMEOUT).raise_for_status()
            url = f"{server.base_url}/v1/deployments/bench/bench/predictions"
            made["deployment"] = lambda client, url=url, token=token: predictor(
                client, url, token, lambda text: {"input": {"text": text}})
    return made


def servers() -> dict[str, dict[str, str]]:
    """The Cogmills to start: without the sandbox's, where this machine has none."""
    if (why := unavailable()) is None:
        return SERVERS
    print(f"no sandbox here ({why}): its cost is not measured", file=sys.stderr)
    return {name: {**env, **SERVERS["no sandbox"]} for name, env in SERVERS.items() if name != "no sandbox"}


def measured(made: dict[str, Callable[[httpx.Client], Predict]], n: int, concurrency: int, m: int,
             rounds: int) -> dict[str, dict[str, float]]:
    """Each configuration's p50 and throughput, from `rounds` rounds that visit them all in turn."""
    clients = {name: httpx.Client(timeout=REQUEST_TIMEOUT) for name in made}
    seconds: dict[str, list[float]] = {name: [] for name in made}
    rates: dict[str, list[float]] = {name: [] for name in made}
    try:
        for name, make in made.items():  # warm: each server's instance up, connections open
            predict = make(clients[name])
            for i in range(10):
                predict(f"warm-up {i}")
        names = list(made)
        for r in range(rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:
                predict = made[name](clients[name])
                for i in range(max(n // rounds, 1)):
                    begin = time.perf_counter()
                    predict(f"round {r} {i}")
                    seconds[name].append(time.perf_counter() - begin)
                rates[name].append(throughput(made[name], concurrency, max(m // rounds, concurrency))["per_second"])
    finally:
        for client in clients.values():
            client.close()
    return {name: {"p50_ms": summarize(name, seconds[name], 0).p50_ms,
                   "p95_ms": summarize(name, seconds[name], 0).p95_ms,
                   "per_second": statistics.median(rates[name])} for name in made}


COSTS = [  # (what, with it, without it)
    ("sandbox", "as shipped", "no sandbox"),
    ("lease heartbeat, as shipped (every 10 s)", "as shipped", "no heartbeat"),
    ("lease heartbeat, every 0.1 s", "heartbeat every 0.1 s", "no heartbeat"),
    ("spend check (a limit set)", "spend limit", "as shipped"),
    ("deployment routing", "deployment", "as shipped"),
]


def costs(found: dict[str, dict]) -> list[dict[str, Any]]:
    rows = []
    for what, on, off in COSTS:
        if on in found and off in found:
            rows.append({"feature": what, "p50_ratio": round(found[on]["p50_ms"] / found[off]["p50_ms"], 2),
                         "throughput_ratio": round(found[on]["per_second"] / found[off]["per_second"], 2),
                         "with": found[on], "without": found[off]})
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'feature':<42} {'p50 with/without':>22} {'ratio':>6} {'pred/s with/without':>22} {'ratio':>6}"]
    for r in rows:
        on, off = r["with"], r["without"]
        lines.append(f"{r['feature']:<42} {on['p50_ms']:>10.2f} / {off['p50_ms']:>6.2f} ms {r['p50_ratio']:>6.2f} "
                     f"{on['per_second']:>12.1f} / {off['per_second']:>7.1f} {r['throughput_ratio']:>6.2f}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="timed predictions one at a time, per configuration (default 200)")
    parser.add_argument("--concurrency", type=int, default=8, help="clients at once for throughput (default 8)")
    parser.add_argument("--m", type=int, default=400, help="predictions for throughput, per configuration (default 400)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds over every configuration (default 5)")
    parser.add_argument("--json", action="store_true", help="print machine-readable results")
    args = parser.parse_args()
    if args.rounds < 1 or args.n < 2 * args.rounds or args.concurrency < 1 or args.m < args.concurrency * args.rounds:
        parser.error("--rounds at least 1, --n at least 2 per round, --m at least --concurrency per round")
    with ExitStack() as stack:
        found = measured(configurations(stack), args.n, args.concurrency, args.m, args.rounds)
    rows = costs(found)
    if args.json:
        print(json.dumps({"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
                          "n": args.n, "concurrency": args.concurrency, "m": args.m, "rounds": args.rounds,
                          "costs": rows}, indent=2))
    else:
        print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
