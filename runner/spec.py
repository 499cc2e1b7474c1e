"""cog.yaml -> BuildSpec, and the hash that names a spec's virtualenv."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import BuildError
from .interpreters import parse_version, resolve

DEFAULT_COG_VERSION = "0.23.1"
ROOT_HINT = "needs root; Cogmill runs models in a virtualenv"

_TOP_FIELDS = {"build", "predict", "run", "train", "concurrency", "environment", "image", "model"}
_BUILD_FIELDS = {
    "python_version",
    "python_packages",
    "python_requirements",
    "sdk_version",
    "gpu",
    "cuda",
    "cudnn",
    "system_packages",
    "pre_install",
    "run",
}
_CONCURRENCY_FIELDS = {"max", "default_target"}
_REF = re.compile(r"^[\w./-]+\.py:[A-Za-z_]\w*$")
_ENV_ITEM = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.DOTALL)


@dataclass(frozen=True)
class BuildSpec:
    python_version: str | None = None
    python_packages: tuple[str, ...] = ()
    python_requirements: str | None = None
    cog_version: str = DEFAULT_COG_VERSION
    predict: str = "predict.py:Predictor"
    train: str | None = None
    concurrency_max: int = 1
    gpu: bool = False
    environment: tuple[tuple[str, str], ...] = ()
    system_packages: tuple[str, ...] = ()
    pre_install: tuple[str, ...] = ()
    run_commands: tuple[str, ...] = ()

    @property
    def root_steps(self) -> bool:
        return bool(self.system_packages or self.pre_install or self.run_commands)


def parse_cog_yaml(src_dir: Path) -> BuildSpec:
    """Read and validate ``src_dir/cog.yaml``; raise BuildError on anything unusable."""
    config = _load_yaml(Path(src_dir) / "cog.yaml")
    _reject_unknown(config, _TOP_FIELDS, "")
    build = _mapping(config.get("build"), "build")
    _reject_unknown(build, _BUILD_FIELDS, "build.")
    return BuildSpec(
        python_version=_python_version(build.get("python_version")),
        python_packages=_strings(build.get("python_packages"), "build.python_packages"),
        python_requirements=_requirements(Path(src_dir), build.get("python_requirements")),
        cog_version=_cog_version(build.get("sdk_version")),
        predict=_predict_ref(config),
        train=_ref(config.get("train"), "train") if config.get("train") else None,
        concurrency_max=_concurrency(config.get("concurrency")),
        gpu=_flag(build.get("gpu"), "build.gpu"),
        environment=_environment(config.get("environment")),
        system_packages=_package_names(build.get("system_packages")),
        pre_install=_commands(build.get("pre_install"), "build.pre_install"),
        run_commands=_commands(build.get("run"), "build.run"),
    )


def spec_hash(spec: BuildSpec) -> str:
    """sha256 of what goes into the virtualenv (not the predictor or env vars)."""
    parts = {
        "python": resolve(spec.python_version).version_str,
        "packages": list(spec.python_packages),
        "requirements": spec.python_requirements,
        "cog": spec.cog_version,
        "system_packages": list(spec.system_packages),
        "pre_install": list(spec.pre_install),
        "run": list(spec.run_commands),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _load_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise BuildError("cog.yaml not found in the bundle")
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise BuildError(f"cog.yaml is not valid YAML: {exc}") from None
    except UnicodeDecodeError:
        raise BuildError("cog.yaml is not valid UTF-8 text") from None
    return _mapping(config, "cog.yaml")


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BuildError(f"{where} must be a mapping, got {type(value).__name__}")
    return value


def _reject_unknown(section: dict[str, Any], known: set[str], prefix: str) -> None:
    for name in section:
        if name not in known:
            raise BuildError(f"unknown cog.yaml field {prefix}{name}")


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        raise BuildError(f"cog.yaml field {where} must be a list of strings")
    return tuple(str(v).strip() for v in value)


# Debian's rule for a package's name (Policy 5.6.1), with an optional `=version` as apt takes it: a
# name can never be read as an option of dpkg-query or apt-get.
_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]+(=[A-Za-z0-9.+~:-]+)?")


def _package_names(value: Any) -> tuple[str, ...]:
    names = _strings(value, "build.system_packages")
    for name in names:
        if not _PACKAGE.fullmatch(name):
            raise BuildError(f"cog.yaml field build.system_packages: {name!r} is not a Debian package name")
    return names


def _commands(value: Any, where: str) -> tuple[str, ...]:
    """``build.run`` items are strings or ``{command, mounts}``; mounts need Docker."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise BuildError(f"cog.yaml field {where} must be a list")
    commands = []
    for item in value:
        if isinstance(item, dict):
            if item.get("mounts"):
                raise BuildError(f"cog.yaml field {where}: mounts are not supported")
            item = item.get("command")
        if not isinstance(item, str):
            raise BuildError(f"cog.yaml field {where} must list shell commands")
        commands.append(item)
    return tuple(commands)


def _python_version(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    if isinstance(value, float) and text == "3.1":
        text = "3.10"  # YAML reads an unquoted 3.10 as the float 3.1
    try:
        parse_version(text)
    except ValueError:
        raise BuildError(f"cog.yaml field build.python_version is not a version: {value!r}") from None
    return text


def _requirements(src_dir: Path, value: Any) -> str | None:
    if value is None:
        return None
    path = (src_dir / str(value)).resolve()
    if not path.is_relative_to(src_dir.resolve()):
        raise BuildError("build.python_requirements must point inside the bundle")
    if not path.is_file():
        raise BuildError(f"python_requirements file {value} not found in the bundle")
    return path.read_text(encoding="utf-8")


def _cog_version(value: Any) -> str:
    if value is None:
        return DEFAULT_COG_VERSION
    text = str(value).strip()
    if not re.fullmatch(r"[0-9][0-9A-Za-z.+-]*", text):
        raise BuildError(f"cog.yaml field build.sdk_version is not a version: {value!r}")
    return text


def _predict_ref(config: dict[str, Any]) -> str:
    if config.get("predict") and config.get("run"):
        raise BuildError("cog.yaml sets both predict and run; keep one")
    value = config.get("predict") or config.get("run")
    if not value:
        raise BuildError("cog.yaml has no predict (or run) field")
    return _ref(value, "predict" if config.get("predict") else "run")


def _ref(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _REF.match(value.strip()):
        raise BuildError(f"cog.yaml field {where} must look like 'predict.py:Predictor', got {value!r}")
    return value.strip()


def _flag(value: Any, where: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise BuildError(f"cog.yaml field {where} must be true or false, got {value!r}")
    return value


def _concurrency(value: Any) -> int:
    section = _mapping(value, "concurrency")
    _reject_unknown(section, _CONCURRENCY_FIELDS, "concurrency.")
    maximum = section.get("max", 1)
    if not isinstance(maximum, int) or isinstance(maximum, bool) or maximum < 1:
        raise BuildError(f"cog.yaml field concurrency.max must be a positive integer, got {maximum!r}")
    return maximum


def _environment(value: Any) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise BuildError("cog.yaml field environment must be a list of NAME=value strings")
    pairs = []
    for item in value:
        match = _ENV_ITEM.match(item) if isinstance(item, str) else None
        if not match:
            raise BuildError(f"cog.yaml field environment: {item!r} is not NAME=value")
        pairs.append((match.group(1), match.group(2)))
    return tuple(pairs)
