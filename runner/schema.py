"""Generate ``.cog/openapi_schema.json`` for a model, as ``cog build`` would."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .envs import venv_env
from .errors import BuildError
from .procs import run_logged
from .spec import BuildSpec

HELPER = Path(__file__).with_name("_schema_helper.py")
SCHEMA_PATH = Path(".cog") / "openapi_schema.json"
IMPORT_TIMEOUT = 600.0


def generate_schema(venv: Path, src_dir: Path, spec: BuildSpec, log: Callable[[str], None]) -> dict[str, Any]:
    """Inspect the predictor with the venv's Cog SDK and write the schema file.

    coglet reads the file from its working directory at start: without it
    inputs are not validated and SSE is refused.
    """
    src_dir = Path(src_dir)
    refs = [spec.predict] + ([spec.train] if spec.train else [])
    for ref in refs:
        check_predictor_file(src_dir, ref)
    log(f"Generating OpenAPI schema for {' and '.join(refs)}\n")
    result = _run_helper(Path(venv), src_dir, spec, refs, log)
    if not result.get("ok"):
        trace = result.get("traceback", "")
        log(trace)
        raise BuildError(result.get("error", "schema generation failed"), log=trace)
    schema: dict[str, Any] = result["schema"]
    path = src_dir / SCHEMA_PATH
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(schema, indent=2), encoding="utf-8")
    return schema


def check_predictor_file(src_dir: Path, ref: str) -> None:
    filename = ref.partition(":")[0]
    path = (src_dir / filename).resolve()
    if not path.is_relative_to(src_dir.resolve()):
        raise BuildError(f"predictor file {filename} is outside the bundle")
    if not path.is_file():
        raise BuildError(f"predictor file {filename} not found")


def _run_helper(
    venv: Path, src_dir: Path, spec: BuildSpec, refs: list[str], log: Callable[[str], None]
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cogmill-schema-") as tmp:
        out = Path(tmp) / "result.json"
        command = [str(venv / "bin" / "python"), str(HELPER), str(out), *refs]
        env = venv_env(venv, dict(spec.environment))
        try:
            run_logged(command, log, "schema generation", env=env, cwd=src_dir, timeout=IMPORT_TIMEOUT)
        except BuildError as exc:
            if not out.is_file():
                raise
            log(f"{exc}\n")
        if not out.is_file():
            raise BuildError("schema generation produced no result")
        result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
        return result
