"""Turn a Cog model bundle into a virtualenv plus an OpenAPI schema."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import BuildError
from .sandbox import SandboxConfig
from .schema import check_predictor_file, generate_schema
from .spec import BuildSpec, parse_cog_yaml, spec_hash
from .venvs import check_root_steps, ensure_venv

__all__ = [
    "BuildError",
    "BuildResult",
    "BuildSpec",
    "build",
    "ensure_venv",
    "generate_schema",
    "parse_cog_yaml",
    "spec_hash",
]


@dataclass
class BuildResult:
    spec: BuildSpec
    spec_hash: str
    venv: Path
    schema: dict[str, Any]
    cog_version: str


def build(
    src_dir: Path,
    venvs_dir: Path,
    log: Callable[[str], None],
    allow_root_steps: bool = False,
    strict_python: bool = False,
    sandbox: SandboxConfig | None = None,
    timeout: float | None = None,
) -> BuildResult:
    """Parse cog.yaml, make the venv and write the schema; BuildError.log has it all.

    With a ``sandbox``, pip and the schema's inspection of the model's code each run inside one;
    ``timeout`` bounds pip's run."""
    lines: list[str] = []

    def record(text: str) -> None:
        lines.append(text)
        log(text)

    try:
        return _build(Path(src_dir), Path(venvs_dir), record, allow_root_steps, strict_python, sandbox, timeout)
    except BuildError as exc:
        record(f"Build failed: {exc}\n")
        exc.log = "".join(lines)
        raise


def _build(
    src_dir: Path,
    venvs_dir: Path,
    log: Callable[[str], None],
    allow_root_steps: bool,
    strict_python: bool,
    sandbox: SandboxConfig | None,
    timeout: float | None,
) -> BuildResult:
    spec = parse_cog_yaml(src_dir)
    check_root_steps(spec, allow_root_steps)
    for ref in [spec.predict] + ([spec.train] if spec.train else []):
        check_predictor_file(src_dir, ref)
    venv = ensure_venv(
        spec,
        venvs_dir,
        log,
        allow_root_steps=allow_root_steps,
        strict_python=strict_python,
        src_dir=src_dir,
        sandbox=sandbox,
        timeout=timeout,
    )
    schema = generate_schema(venv, src_dir, spec, log, sandbox)
    return BuildResult(spec, spec_hash(spec), venv, schema, spec.cog_version)
