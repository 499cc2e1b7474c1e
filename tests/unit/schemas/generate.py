"""Regenerate the OpenAPI schemas the form tests use, with Cogmill's own runner.

    .venv/bin/python tests/unit/schemas/generate.py

Each model is copied to a temporary folder (builds write .cog/ into it) and built with the shared
test venv cache, exactly as the runner suite does; its schema is saved here as <name>.json.
"""

import json
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT))

from runner import build  # noqa: E402 (after the path insert)
from tests.runner.conftest import cache_dir  # noqa: E402

MODELS = {
    "every-input-type": ROOT / "tests" / "runner" / "fixtures" / "every-input-type",
    "hello-world": ROOT / "examples" / "hello-world",
    "textgen": ROOT / "examples" / "textgen",
    "reader": ROOT / "tests" / "fixtures" / "models" / "reader",
    "more-inputs": HERE / "models" / "more-inputs",
}


def generate(name: str, src: Path, venvs: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"schema-{name}-") as tmp:
        copy = Path(tmp) / name
        shutil.copytree(src, copy, ignore=shutil.ignore_patterns(".cog"))
        return build(copy, venvs, lambda line: None).schema


def main() -> None:
    venvs = cache_dir() / "venvs"
    venvs.mkdir(parents=True, exist_ok=True)
    for name, src in MODELS.items():
        schema = generate(name, src, venvs)
        (HERE / f"{name}.json").write_text(json.dumps(schema, indent=2, sort_keys=False) + "\n")
        print(f"wrote {name}.json")


if __name__ == "__main__":
    main()
