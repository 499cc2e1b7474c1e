"""Create (or reuse) the virtualenv a BuildSpec describes."""

from __future__ import annotations

import fcntl
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlsplit

from . import sandbox as sandboxes
from .egress import hosts_only
from .envs import venv_env
from .errors import BuildError
from .interpreters import Interpreter, resolve
from .procs import run_logged
from .spec import ROOT_HINT, BuildSpec, spec_hash

Log = Callable[[str], None]
_TMP_PREFIX = ".tmp-"


def ensure_venv(
    spec: BuildSpec,
    venvs_dir: Path,
    log: Log,
    *,
    allow_root_steps: bool = False,
    strict_python: bool = False,
    src_dir: Path | None = None,
    sandbox: sandboxes.SandboxConfig | None = None,
    timeout: float | None = None,
) -> Path:
    """Return ``venvs_dir/<spec_hash>``, building it first if it does not exist.

    The venv is built in a temporary sibling and renamed into place only when
    complete, under an exclusive file lock, so concurrent builds of one spec do
    the work once and nobody ever sees a half-built venv. With a ``sandbox``, pip runs inside
    one that reaches only the package index; ``timeout`` bounds pip's run.
    """
    check_root_steps(spec, allow_root_steps)
    interpreter = _interpreter(spec, strict_python)
    venvs_dir = Path(venvs_dir)
    venvs_dir.mkdir(parents=True, exist_ok=True)
    name = spec_hash(spec)
    final = venvs_dir / name
    if _usable(final):
        log(f"Reusing environment {name[:12]}\n")
        return final
    with _locked(venvs_dir / f"{name}.lock"):
        if _usable(final):
            log(f"Reusing environment {name[:12]} (built by a concurrent build)\n")
            return final
        _remove_leftovers(venvs_dir, name)
        tmp = Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{name}-", dir=venvs_dir))
        try:
            tmp.chmod(0o755)
            _build(spec, interpreter, tmp, log, src_dir, sandbox, timeout)
            _relocate(tmp, final)
            os.rename(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    log(f"Environment {name[:12]} ready\n")
    return final


def check_root_steps(spec: BuildSpec, allowed: bool) -> None:
    """Steps that need root are refused unless the operator allows them; system packages that are
    installed on this machine already need nothing, so they pass either way."""
    if allowed:
        return
    if missing := missing_system_packages(spec.system_packages):
        them = "it" if len(missing) == 1 else "them"
        raise BuildError(
            f"cog.yaml field build.system_packages: {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not installed on this worker, and this Cogmill may not "
            f"install system packages (COGMILL_ALLOW_ROOT_BUILD_STEPS is off): ask its operator to install {them}"
        )
    for field, value in (
        ("build.pre_install", spec.pre_install),
        ("build.run", spec.run_commands),
    ):
        if value:
            raise BuildError(f"unsupported cog.yaml field {field}: {ROOT_HINT}")


def missing_system_packages(packages: Sequence[str]) -> list[str]:
    """Those of ``packages`` (Debian names, as ``name`` or ``name=version``) that dpkg does not list as
    installed here, at that version where one is given; all of them where there is no dpkg."""
    if not packages:
        return []
    names = [package.split("=")[0] for package in packages]
    try:
        listed = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Package} ${Version} ${db:Status-Status}\n", "--", *names],
            capture_output=True, text=True, timeout=60,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return list(packages)
    installed = {}
    for line in listed.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[2] == "installed":
            installed[fields[0]] = fields[1]
    missing = []
    for package in packages:
        name, _, version = package.partition("=")
        if name not in installed or (version and installed[name] != version):
            missing.append(package)
    return missing


def _interpreter(spec: BuildSpec, strict: bool) -> Interpreter:
    try:
        return resolve(spec.python_version, strict=strict)
    except LookupError as exc:
        raise BuildError(str(exc)) from None


def _usable(venv: Path) -> bool:
    return os.access(venv / "bin" / "python", os.X_OK)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_leftovers(venvs_dir: Path, name: str) -> None:
    """Temp dirs of builds that died; safe to delete because we hold the lock."""
    for leftover in venvs_dir.glob(f"{_TMP_PREFIX}{name}-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def _build(spec: BuildSpec, interpreter: Interpreter, venv: Path, log: Log, src_dir: Path | None,
           sandbox: sandboxes.SandboxConfig | None, timeout: float | None) -> None:
    if spec.python_version and interpreter.version_str != _minor(spec.python_version):
        log(
            f"Python {spec.python_version} is not installed here; "
            f"using Python {interpreter.version_str} instead\n"
        )
    log(f"Creating virtualenv with Python {interpreter.version_str} ({interpreter.executable})\n")
    run_logged([str(interpreter.executable), "-m", "venv", str(venv)], log, "creating the virtualenv")
    env = venv_env(venv, dict(spec.environment), for_build=True)
    cwd = Path(src_dir) if src_dir else venv
    if spec.system_packages:
        missing = missing_system_packages(spec.system_packages)
        if present := [package for package in spec.system_packages if package not in missing]:
            log(f"System packages already installed: {' '.join(present)}\n")
        if missing:
            _install_system_packages(missing, log)
    for command in spec.pre_install:
        run_logged(["sh", "-c", command], log, f"running {command!r}", env=env, cwd=cwd)
    _pip_install(spec, venv, log, env, cwd, sandbox, timeout)
    for command in spec.run_commands:
        run_logged(["sh", "-c", command], log, f"running {command!r}", env=env, cwd=cwd)


def _install_system_packages(packages: Sequence[str], log: Log) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run_logged(["apt-get", "update", "-q"], log, "apt-get update", env=env)
    run_logged(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages],
        log,
        "installing system packages",
        env=env,
    )


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _pip_install(spec: BuildSpec, venv: Path, log: Log, env: Mapping[str, str], cwd: Path,
                 sandbox: sandboxes.SandboxConfig | None, timeout: float | None) -> None:
    wanted = [f"cog=={spec.cog_version}", *spec.python_packages]
    if spec.python_requirements is not None:
        requirements = venv / "cogmill-requirements.txt"
        requirements.write_text(spec.python_requirements, encoding="utf-8")
        wanted += ["-r", str(requirements)]
    log(f"$ pip install {' '.join(wanted)}\n")
    pip = [
        str(venv / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar",
        "off",
    ]
    if sandbox is None:
        run_logged(pip + wanted, log, "pip install", env=env, cwd=cwd, timeout=timeout)
        return
    # In the sandbox pip runs from the venv, isolated (-I: no bundle folder on its path to shadow
    # pip), with pip's settings and no cog.yaml environment: nothing of the bundle steers what goes
    # into a venv that every model with the same spec shares.
    hosts, local = pip_sources()
    box = sandbox.open(venv, venv, files=local, building=True)
    try:
        relay = box.allow_egress(hosts_only(hosts))
        isolated = [pip[0], "-I", *pip[1:]]
        command = [str(venv / "bin" / "python"), sandboxes.LAUNCHER_INSIDE, *box.lifeline, *relay, "--exec", "--",
                   *isolated, *wanted]
        run_logged(box.command(command, venv_env(venv, for_build=True), chdir=venv), log, "pip install",
                   env=sandboxes.CLEAN_ENV, cwd=venv, timeout=timeout, pass_fds=box.pass_fds)
    finally:
        box.close()


_SOURCE_KEYS = ("index-url", "extra-index-url", "find-links", "constraint", "requirement", "cert", "client-cert")
_PIP_CONFIG_FILES = (Path("/etc/pip.conf"), Path("/etc/xdg/pip"))


@functools.cache
def pip_sources() -> tuple[frozenset[str], tuple[Path, ...]]:
    """Where pip on this machine gets packages: the hosts of its indexes (PyPI's unless replaced),
    and the local files it reads (machine-wide config, file:// indexes, find-links, constraints)."""
    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True)
    settings = {}
    for line in listed.stdout.splitlines():
        key, _, value = line.partition("=")
        settings[key.rsplit(".", 1)[-1]] = value.strip().strip("'\"")
    for name, value in os.environ.items():
        if name.startswith("PIP_"):
            settings[name[4:].lower().replace("_", "-")] = value
    hosts = set() if "index-url" in settings else {"pypi.org", "files.pythonhosted.org"}
    local = [path for path in _PIP_CONFIG_FILES if path.exists()]
    for key in _SOURCE_KEYS:
        for item in settings.get(key, "").split():
            parsed = urlsplit(item)
            if parsed.scheme in ("http", "https") and parsed.hostname:
                hosts.add(parsed.hostname.lower())
            elif parsed.scheme == "file" or item.startswith("/"):
                path = Path(unquote(parsed.path if parsed.scheme == "file" else item))
                if path.exists():
                    local.append(path)
    if hosts & {"pypi.org"}:
        hosts.add("files.pythonhosted.org")  # where PyPI's index sends pip for the files
    return frozenset(hosts), tuple(dict.fromkeys(local))


def _relocate(tmp: Path, final: Path) -> None:
    """Point scripts and activate files at the path the venv is renamed to."""
    old, new = str(tmp).encode(), str(final).encode()
    for path in (tmp / "bin").iterdir():
        if path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        if old in data and b"\0" not in data[:1024]:
            path.write_bytes(data.replace(old, new))
    config = tmp / "pyvenv.cfg"
    config.write_bytes(config.read_bytes().replace(old, new))
