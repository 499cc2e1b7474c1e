"""Each example's first build, its environment's size, and a second build of the same spec.

For every folder in examples/ (or those named), in a venvs folder of its own that starts empty: the
build as a worker runs it (runner.build, in the sandbox when this machine has one), timed; the
size of the environment it made; then the same build again, which finds the environment and only
regenerates the schema. The README's table of examples comes from this report. Nothing here
asserts a time; a build that fails is reported as failed, with the end of its log.

    .venv/bin/python bench/examples.py [NAME ...] [--json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import tests.environment  # noqa: E402, F401  (a temp data folder)
from runner.build import build  # noqa: E402
from runner.errors import BuildError  # noqa: E402
from runner.sandbox import SandboxConfig, unavailable  # noqa: E402

EXAMPLES = ROOT / "examples"


def size_of(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def measure(folder: Path, work: Path, sandbox: SandboxConfig | None) -> dict:
    src, venvs = work / folder.name, work / f"{folder.name}-venvs"
    shutil.copytree(folder, src)
    lines: list[str] = []
    started = time.perf_counter()
    try:
        first = build(src, venvs, log=lines.append, sandbox=sandbox)
    except BuildError as exc:
        return {"name": folder.name, "failed": str(exc), "log_tail": "".join(lines)[-2000:]}
    first_seconds = time.perf_counter() - started
    started = time.perf_counter()
    again = build(src, venvs, log=lambda _line: None, sandbox=sandbox)
    assert again.venv == first.venv, "the same spec built a second environment"
    return {"name": folder.name, "first_build_s": round(first_seconds, 1),
            "second_build_s": round(time.perf_counter() - started, 1),
            "venv_mb": round(size_of(first.venv) / 2**20)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    folders = [p for p in sorted(EXAMPLES.iterdir()) if (p / "cog.yaml").is_file()
               and (not args.names or p.name in args.names)]
    work = Path(tempfile.mkdtemp(prefix="cogmill-bench-examples-"))
    try:
        sandbox = None if unavailable() else SandboxConfig(state_dir=work / "sandboxes")
        results = [measure(folder, work, sandbox) for folder in folders]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps({"sandboxed": sandbox is not None, "results": results}, indent=2))
        return 0
    print(f"first and second builds of each example ({'sandboxed' if sandbox else 'no sandbox'})\n")
    print("| example | first build | environment | second build |")
    print("|---|---:|---:|---:|")
    for r in results:
        if "failed" in r:
            print(f"| {r['name']} | failed: {r['failed']} | | |")
        else:
            print(f"| {r['name']} | {r['first_build_s']} s | {r['venv_mb']} MB | {r['second_build_s']} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
