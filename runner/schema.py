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
from .sandbox import CLEAN_ENV, LAUNCHER_INSIDE, SCHEMA_HELPER_INSIDE, WORK_INSIDE, SandboxConfig
from .spec import BuildSpec

HELPER = Path(__file__).with_name("_schema_helper.py")
SCHEMA_PATH = Path(".cog") / "openapi_schema.json"
IMPORT_TIMEOUT = 600.0


def generate_schema(venv: Path, src_dir: Path, spec: BuildSpec, log: Callable[[str], None],
                    sandbox: SandboxConfig | None = None) -> dict[str, Any]:
    """Inspect the predictor with the venv's Cog SDK and write the schema file.

    coglet reads the file from its working directory at start: without it
    inputs are not validated and SSE is refused. Inspecting imports the model's code, so with a
    ``sandbox`` it happens inside one, with no network.
    """
    src_dir = Path(src_dir)
    refs = [spec.predict] + ([spec.train] if spec.train else [])
    for ref in refs:
        check_predictor_file(src_dir, ref)
    log(f"Generating OpenAPI schema for {' and '.join(refs)}\n")
    result = _run_helper(Path(venv), src_dir, spec, refs, log, sandbox)
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
    venv: Path, src_dir: Path, spec: BuildSpec, refs: list[str], log: Callable[[str], None],
    sandbox: SandboxConfig | None,
) -> dict[str, Any]:
    python = str(venv / "bin" / "python")
    env = venv_env(venv, dict(spec.environment))
    with tempfile.TemporaryDirectory(prefix="cogmill-schema-") as tmp:
        box = sandbox.open(venv, src_dir) if sandbox is not None else None
        try:
            if box is None:
                out = Path(tmp) / "result.json"
                command = [python, str(HELPER), str(out), *refs]
            else:
                out = None
                command = box.command([python, LAUNCHER_INSIDE, *box.lifeline, "--limits", box.limits.option(),
                                       "--exec", "--", python, SCHEMA_HELPER_INSIDE, f"{WORK_INSIDE}/result.json",
                                       *refs], env)
                env = CLEAN_ENV
            try:
                run_logged(command, log, "schema generation", env=env, cwd=src_dir, timeout=IMPORT_TIMEOUT,
                           pass_fds=box.pass_fds if box is not None else ())
            except BuildError as exc:
                if _result(out, box) is None:
                    raise
                log(f"{exc}\n")
            try:
                result: dict[str, Any] = json.loads(_result(out, box) or b"")
            except ValueError:
                raise BuildError("schema generation produced no result") from None
            if not isinstance(result, dict):
                raise BuildError("schema generation produced no result")
            return result
        finally:
            if box is not None:
                box.close()


def _result(out: Path | None, box) -> bytes | None:
    """What the helper wrote: in a sandbox, read from its folder without following a link it made."""
    if box is not None:
        return box.read_result("result.json")
    return out.read_bytes() if out is not None and out.is_file() else None
