"""The sandbox around every model process: bubblewrap namespaces, an unprivileged uid, no network,
and limits.

A model is untrusted code. Each Cog server runs inside ``bwrap`` with its own mount, PID, network,
IPC and UTS namespaces. Its filesystem holds the system directories, the Python it runs on, its own
venv and bundle (all read-only), a private ``/tmp`` of bounded size, a read-only ``/inputs`` where
the worker puts the run's files, and ``/run/cogmill`` where its end of the worker's sockets lives;
nothing else of the machine (no database, no other bundles or venvs, no uploads, no settings, no
other process's ``/proc``). Its network namespace has only a loopback device of its own: the worker
reaches the Cog server through a unix socket in ``/run/cogmill`` that ``_cog_server.py`` relays to
Cog's port inside, so a model reaches neither Cogmill's services, nor other models, nor the
internet.

As root, the model runs as a uid of its own (``uid_base`` + n, one per live sandbox, held by a lock
file so worker processes on one machine never share one); otherwise as the server's own uid mapped
to another inside a user namespace. Limits on memory, processes, open files and file size are set
by ``_cog_server.py`` before any model code runs; the size of ``/tmp`` is the scratch limit; CPU
time per run is watched from outside (``cpu_seconds``).

A build step (pip, the schema's inspection of the model's code) runs in the same kind of sandbox,
with the venv being built writable and, for pip, the package index reachable through the egress
proxy (``runner/egress.py``) and nothing else.
"""

from __future__ import annotations

import fcntl
import functools
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .egress import Allow, EgressProxy

GiB = 1024**3
# All that the sandbox's own tools (prlimit, bwrap, setpriv) run with: the program inside gets its
# environment only after the uid is dropped (through env -i), so no LD_PRELOAD of a model's reaches
# a process that runs as root.
CLEAN_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
LAUNCHER = Path(__file__).with_name("_cog_server.py")
LAUNCHER_INSIDE = "/opt/cogmill/cog_server.py"
SCHEMA_HELPER_INSIDE = "/opt/cogmill/schema_helper.py"
# The folder a Cog server's Pythons find on PYTHONPATH: its sitecustomize prints a failed run's traceback.
SITE = Path(__file__).with_name("_site")
SITE_INSIDE = "/opt/cogmill/site"
_SCRIPTS = {LAUNCHER: LAUNCHER_INSIDE, Path(__file__).with_name("_schema_helper.py"): SCHEMA_HELPER_INSIDE,
            SITE / "sitecustomize.py": f"{SITE_INSIDE}/sitecustomize.py"}
RUN_INSIDE = "/run/cogmill"  # the worker's sockets (its folder, read-only inside)
WORK_INSIDE = "/run/model"  # a folder the program inside may write and the worker reads (a build's result)
INPUTS_INSIDE = "/inputs"
SCRATCH_INSIDE = "/tmp"
COG_PORT = 5000  # Cog's port inside the sandbox's own network namespace
HOOK_PORT = 5001  # where, inside, the Cog server posts training webhooks (relayed to the worker)
FILES_PORT = 5002  # where, inside, a run's input files are served to the Cog server (from /inputs)
EGRESS_PORT = 3128  # where, inside, the egress proxy listens when the sandbox may reach outside
COG_SOCKET = "cog.sock"
HOOK_SOCKET = "hooks.sock"
EGRESS_SOCKET = "egress.sock"

# /etc files a Python program may read; the rest of /etc (configuration, secrets) stays out.
_ETC = (
    "alternatives", "ca-certificates", "ca-certificates.conf", "ssl/certs", "ssl/openssl.cnf", "pki/tls/certs",
    "pki/ca-trust", "ld.so.cache", "ld.so.conf",
    "ld.so.conf.d", "localtime", "timezone", "mime.types", "fonts", "nsswitch.conf", "host.conf",
    "gai.conf", "os-release", "debian_version", "protocols", "services",
)
# Parts of the system a program runs from; each bound read-only where it is a folder.
_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt/conda")


@dataclass(frozen=True)
class Limits:
    """What one model instance may use. Zero means no limit of that kind."""

    memory_bytes: int = 8 * GiB  # private writable memory (RLIMIT_DATA) of each process
    processes: int = 512  # processes and threads of the instance (RLIMIT_NPROC, per uid)
    open_files: int = 4096  # per process (RLIMIT_NOFILE)
    file_bytes: int = 4 * GiB  # largest file it may write (RLIMIT_FSIZE)
    scratch_bytes: int = 4 * GiB  # size of its /tmp
    cpu_seconds: float = 3600.0  # CPU time the instance may spend on one run

    def prlimits(self) -> dict[str, int]:
        """prlimit's options (data, nproc, nofile, fsize) for these limits."""
        wanted = {"data": self.memory_bytes, "nproc": self.processes, "nofile": self.open_files,
                  "fsize": self.file_bytes}
        return {name: value for name, value in wanted.items() if value}

    def option(self) -> str:
        """The launcher's ``--limits`` value (the same limits, by their RLIMIT_ names), set inside
        too, before any model code runs."""
        return ",".join(f"{name.upper()}={value}" for name, value in self.prlimits().items())


@dataclass(frozen=True)
class SandboxConfig:
    """How this worker sandboxes its model processes."""

    state_dir: Path  # each live sandbox's folder (sockets, inputs, uid lock) is made under it
    limits: Limits = field(default_factory=Limits)
    uid_base: int = 200_000
    uid_count: int = 10_000
    bwrap: str = "bwrap"
    # Host folders every sandbox may read, at the same place (a shared cache of model weights, say).
    shared: tuple[Path, ...] = ()

    def open(self, venv: Path, src_dir: Path, gpu_devices: Sequence[str] = (), files: Sequence[Path] = (),
             building: bool = False) -> Sandbox:
        return Sandbox(self, venv, src_dir, gpu_devices, files, building)


def privileged() -> bool:
    return os.geteuid() == 0


@functools.cache
def tool(name: str) -> str:
    """The absolute path of a program the sandbox is made with, looked up once in the worker's own
    PATH: never in an environment a model had a hand in (its venv's bin comes first there)."""
    found = shutil.which(name, path=os.environ.get("PATH", os.defpath))
    if found is None:
        raise RuntimeError(f"{name} is not installed")
    return os.path.realpath(found)


@functools.cache
def unavailable(bwrap: str = "bwrap") -> str | None:
    """Why no sandbox can be set up on this machine, or None when one can (tried once per process)."""
    if shutil.which(bwrap) is None or shutil.which("prlimit") is None:
        return (f"bubblewrap ({bwrap}) is not installed: install it (Debian/Ubuntu: apt-get install "
                "bubblewrap), or let only trusted people push models")
    if privileged() and shutil.which("setpriv") is None:
        return "setpriv (util-linux) is not installed: the sandbox needs it to drop to the model's own uid"
    # What every sandbox uses (a sized tmpfs needs bubblewrap 0.8 or newer).
    probe = [tool(bwrap), *_namespaces(), "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev",
             "--size", "1048576", "--tmpfs", "/tmp", "--", "true"]
    try:
        result = subprocess.run(probe, capture_output=True, text=True, timeout=30, env=CLEAN_ENV)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap could not start: {exc}"
    if result.returncode != 0:
        return (f"bubblewrap cannot make a sandbox here ({result.stderr.strip() or result.returncode}): it must "
                "be 0.8 or newer, and unprivileged user namespaces must be allowed (sysctl "
                "kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0) unless the worker runs as root")
    return None


def _namespaces() -> list[str]:
    # --die-with-parent: the program inside dies with bwrap, and bwrap with the thread that started it
    # (so runner.procs.spawn starts it from a thread that lives as long as the worker). The launcher's
    # lifeline then ends everything else inside.
    spaces = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
              "--die-with-parent", "--new-session"]
    if not privileged():
        spaces += ["--unshare-user", "--uid", "1000", "--gid", "1000", "--disable-userns"]
    return spaces


class Sandbox:
    """One model instance's sandbox (or one build step's): its uid, its folder on the host, and the
    command that starts a program inside. ``close()`` gives the uid back and removes the folder.

    ``building``: the venv is writable (pip installs into it) and /tmp is a folder on disk (wheels
    are big), not a tmpfs of bounded size; the caller hands the venv back to root afterwards.
    """

    def __init__(self, config: SandboxConfig, venv: Path, src_dir: Path, gpu_devices: Sequence[str] = (),
                 files: Sequence[Path] = (), building: bool = False) -> None:
        self.config = config
        self.building = building
        self._proxy: EgressProxy | None = None
        self.files = tuple(Path(f) for f in files)  # more read-only files, at the same path inside
        self.limits = config.limits
        self.venv = Path(venv)
        self.src_dir = Path(src_dir)
        self.gpu_devices = tuple(gpu_devices)
        self.uid, self.dir, self._lock = _claim_uid(Path(config.state_dir), config.uid_base, config.uid_count)
        self.run_dir = self.dir / "run"  # the program inside may write here: read it with care
        self.inputs_dir = self.dir / "inputs"
        self.sockets_dir = self.dir / "sockets"  # the worker's alone; read-only inside
        self.run_dir.mkdir()
        self.inputs_dir.mkdir(mode=0o755)
        self.sockets_dir.mkdir(mode=0o755)
        self._listener: socket.socket | None = None
        if building:
            (self.dir / "scratch").mkdir(mode=0o700)
        if privileged():
            os.chown(self.run_dir, self.uid, self.uid)
            if building:
                os.chown(self.dir / "scratch", self.uid, self.uid)
                _chown_tree(self.venv, self.uid)
        self.run_dir.chmod(0o700)
        self.pid_ns: str | None = None
        self._bwrap_pid: int | None = None
        # Only this process holds the write end: when it dies, the launcher inside reads the end.
        self._lifeline = os.pipe()
        os.set_inheritable(self._lifeline[1], False)

    @property
    def lifeline(self) -> list[str]:
        """The launcher's option that ends the sandbox when this worker process is gone; the fd
        must go to bwrap (``pass_fds``)."""
        return ["--lifeline", str(self._lifeline[0])]

    @property
    def pass_fds(self) -> tuple[int, ...]:
        fds = [self._lifeline[0]]
        if self._listener is not None:
            fds.append(self._listener.fileno())
        return tuple(fds)

    @property
    def cog_socket(self) -> Path:
        return self.sockets_dir / COG_SOCKET

    @property
    def hook_socket(self) -> Path:
        return self.sockets_dir / HOOK_SOCKET

    def serve(self, port: int) -> list[str]:
        """The worker's way in: a socket the worker itself binds (in its own folder, so nothing inside
        can put another file in its place) and listens on; the launcher inside accepts on the
        inherited descriptor and relays to ``port``. Returns the launcher's option."""
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(self.cog_socket))
        self._listener.listen(128)
        return ["--serve-fd", str(self._listener.fileno()), str(port)]

    def allow_egress(self, allow: Allow) -> list[str]:
        """Let programs inside reach what ``allow`` lets through (runner.egress); returns the
        launcher's options that relay the proxy port inside to it."""
        self._proxy = EgressProxy(self.sockets_dir / EGRESS_SOCKET, allow)
        return ["--forward", str(EGRESS_PORT), f"{RUN_INSIDE}/{EGRESS_SOCKET}"]

    def read_result(self, name: str, limit: int = 64 * 1024 * 1024) -> bytes | None:
        """A file the program inside wrote in its folder, or None: never through a link it planted,
        never more than `limit` bytes."""
        try:
            fd = os.open(self.run_dir / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                return None
            return handle.read(limit)

    def command(self, argv: Sequence[str], env: Mapping[str, str], chdir: Path | None = None) -> list[str]:
        """``prlimit ... bwrap ... -- [setpriv ...] env -i ENV argv``: ``argv`` run inside with the
        environment ``env`` (given only once the uid is dropped), from ``chdir`` (the bundle's
        folder by default), with the runner's launcher at LAUNCHER_INSIDE and its schema helper at
        SCHEMA_HELPER_INSIDE. Start it with CLEAN_ENV as its environment."""
        if self.building:
            scratch = ["--bind", str(self.dir / "scratch"), SCRATCH_INSIDE]
        else:
            size = ["--size", str(self.limits.scratch_bytes)] if self.limits.scratch_bytes else []
            scratch = ["--perms", "1777", *size, "--tmpfs", SCRATCH_INSIDE]
        # Limits set from outside, before anything of the model's runs (the launcher sets them too).
        limits = [f"--{name}={value}" for name, value in self.limits.prlimits().items()]
        # /tmp first: the bundle or venv may live under /tmp, and their binds go on top of it.
        args = [tool("prlimit"), *limits, "--", tool(self.config.bwrap), *_namespaces(), *scratch]
        mounts = _Mounts()
        for name in _SYSTEM:
            path = Path(name)
            if path.is_symlink():  # merged /usr: /bin -> usr/bin
                args += ["--symlink", os.readlink(path), name]
            elif path.is_dir():
                args += mounts.bind(path)
        args += mounts.bind(_python_prefix(self.venv))
        for name in _ETC:
            if (Path("/etc") / name).exists():
                args += mounts.bind(Path("/etc") / name)
        args += self._identity_files()
        args += mounts.bind(self.venv, "--bind" if self.building else "--ro-bind")
        args += mounts.bind(self.src_dir)
        for path in (*self.files, *self.config.shared):
            args += mounts.bind(path)
        args += ["--perms", "0755", "--dir", str(Path(LAUNCHER_INSIDE).parent), "--perms", "0755", "--dir", SITE_INSIDE]
        for script, inside in _SCRIPTS.items():
            args += ["--ro-bind", str(script), inside]
        args += ["--ro-bind", str(self.inputs_dir), INPUTS_INSIDE, "--perms", "0755", "--dir", "/run",
                 "--ro-bind", str(self.sockets_dir), RUN_INSIDE, "--bind", str(self.run_dir), WORK_INSIDE]
        args += ["--proc", "/proc", "--dev", "/dev"]
        for device in self._devices():
            args += ["--dev-bind", device, device]
        if Path("/sys/devices/system/cpu").is_dir():  # CPU counts, for thread pools
            args += ["--ro-bind", "/sys/devices/system/cpu", "/sys/devices/system/cpu"]
        args += ["--chdir", str(chdir or self.src_dir), "--"]
        if privileged():
            uid = str(self.uid)
            args += [tool("setpriv"), "--reuid", uid, "--regid", uid, "--clear-groups", "--no-new-privs", "--"]
        return args + [tool("env"), "-i", *(f"{k}={v}" for k, v in self.env(env).items()), *argv]

    def env(self, env: Mapping[str, str]) -> dict[str, str]:
        """The environment inside: ``env`` with a home and temp folder in its scratch space, and
        the egress proxy as the only proxy (none when it may not reach outside)."""
        inside = {k: v for k, v in env.items() if k.lower() not in ("http_proxy", "https_proxy", "no_proxy")}
        inside.update(HOME=SCRATCH_INSIDE, TMPDIR=SCRATCH_INSIDE, TEMP=SCRATCH_INSIDE, TMP=SCRATCH_INSIDE,
                      USER="model", LOGNAME="model")
        if self._proxy is not None:
            proxy = f"http://127.0.0.1:{EGRESS_PORT}"
            for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
                inside[name] = proxy
            inside["no_proxy"] = inside["NO_PROXY"] = "127.0.0.1,localhost"  # Cog fetching its inputs
        inside["PATH"] = os.pathsep.join([str(self.venv / "bin"), "/usr/local/bin", "/usr/bin", "/bin"])
        return inside

    def _identity_files(self) -> list[str]:
        """A passwd, group and hosts of the sandbox's own (libraries look the uid up)."""
        uid = self.uid if privileged() else 1000
        files = {
            "passwd": f"root:x:0:0:root:/root:/bin/false\nmodel:x:{uid}:{uid}:model:{SCRATCH_INSIDE}:/bin/false\n",
            "group": f"root:x:0:\nmodel:x:{uid}:\n",
            "hosts": "127.0.0.1 localhost\n::1 localhost\n",
        }
        args = []
        for name, text in files.items():
            path = self.dir / name
            path.write_text(text)
            path.chmod(0o644)
            args += ["--ro-bind", str(path), f"/etc/{name}"]
        return args

    def _devices(self) -> list[str]:
        if not self.gpu_devices:
            return []
        return sorted(str(p) for p in Path("/dev").glob("nvidia*") if not p.is_dir())

    # -- what the instance spends -------------------------------------------

    def note_started(self, pid: int) -> None:
        """Called with bwrap's pid once it runs: remembers the sandbox's PID namespace."""
        self._bwrap_pid = pid

    def cpu_seconds(self) -> float | None:
        """CPU time spent so far by every process inside (those that ended included, once their
        parent reaped them), or None if the sandbox cannot be seen."""
        ns = self._namespace()
        if ns is None:
            return None
        ticks = 0
        for pid in _pids():
            try:
                if os.readlink(f"/proc/{pid}/ns/pid") != ns:
                    continue
                with open(f"/proc/{pid}/stat", "rb") as handle:
                    fields = handle.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            ticks += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
        return ticks / os.sysconf("SC_CLK_TCK")

    def _namespace(self) -> str | None:
        if self.pid_ns is None:
            parent = self._bwrap_pid
            for pid in _pids() if parent else ():
                try:
                    with open(f"/proc/{pid}/stat", "rb") as handle:
                        ppid = int(handle.read().rsplit(b")", 1)[1].split()[1])
                    if ppid == parent:
                        self.pid_ns = os.readlink(f"/proc/{pid}/ns/pid")
                        break
                except (OSError, ValueError):
                    continue
        return self.pid_ns

    def close(self) -> None:
        if self._proxy is not None:
            self._proxy.close()
        if self._listener is not None:
            self._listener.close()
        if privileged():
            _kill_processes_of(self.uid)  # whatever the model left running inside
            if self.building:
                _chown_tree(self.venv, 0)  # no model process may ever write into a venv
        shutil.rmtree(self.dir, ignore_errors=True)
        for fd in self._lifeline:
            os.close(fd)
        self._lock.close()


def _pids() -> Iterable[str]:
    return (name for name in os.listdir("/proc") if name.isdigit())


class _Mounts:
    """Binds at the same place inside, each folder above made traversable first (bwrap would copy
    the host's modes, and a 0700 /root would hide a pyenv Python)."""

    def __init__(self) -> None:
        self.bound: list[Path] = []
        self.made: set[Path] = set()

    def bind(self, path: Path, how: str = "--ro-bind") -> list[str]:
        path = Path(path)
        if any(path == done or done in path.parents for done in self.bound):
            return []  # already inside, as part of a bound folder
        args = []
        for parent in reversed(path.parents):
            if str(parent) != "/" and parent not in self.made and not any(
                    parent == done or done in parent.parents for done in self.bound):
                args += ["--perms", "0755", "--dir", str(parent)]
                self.made.add(parent)
        self.bound.append(path)
        return args + [how, str(path), str(path)]


def _chown_tree(top: Path, uid: int) -> None:
    for folder, dirs, files in os.walk(top):
        for name in (folder, *(os.path.join(folder, n) for n in dirs + files)):
            os.lchown(name, uid, uid)


def _python_prefix(venv: Path) -> Path:
    """The installation the venv's Python comes from (pyvenv.cfg's ``home`` is its bin folder), if
    it is one of this machine's Pythons: a venv's files were written by a build, and its pyvenv.cfg
    must not choose what of the host gets mounted."""
    config = Path(venv) / "pyvenv.cfg"
    home = next((value.strip() for key, _, value in
                 (line.partition("=") for line in config.read_text().splitlines()) if key.strip() == "home"), "")
    prefix = Path(home).resolve().parent if home else Path(sys.base_prefix)
    if prefix not in _known_pythons():
        raise RuntimeError(f"{venv} names a Python this machine does not have ({home or 'none'})")
    return prefix


@functools.cache
def _known_pythons() -> frozenset[Path]:
    from .interpreters import available_interpreters

    found = {Path(i.executable).resolve().parent.parent for i in available_interpreters()}
    return frozenset(found | {Path(sys.base_prefix).resolve()})


def _uid_locks() -> Path:
    """Where the uid locks live: one folder for the whole machine, whatever data folder a worker
    uses, so no two sandboxes ever share a uid."""
    if not privileged():  # uids are mapped in a user namespace: the locks only name the folders
        return Path(tempfile.gettempdir()) / f"cogmill-sandbox-uids-{os.geteuid()}"
    run = Path("/run")
    return (run if os.access(run, os.W_OK) else Path(tempfile.gettempdir())) / "cogmill-sandbox-uids"


def _claim_uid(state_dir: Path, base: int, count: int) -> tuple[int, Path, object]:
    """The first uid no live sandbox on this machine holds; its folder, emptied; the held lock."""
    locks = _uid_locks()
    locks.mkdir(mode=0o700, parents=True, exist_ok=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    state_dir.chmod(0o711)
    for uid in range(base, base + count):
        handle = open(locks / str(uid), "a")  # noqa: SIM115 - held open as long as the sandbox lives
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        if privileged():
            _kill_processes_of(uid)  # a dead worker's sandbox that outlived it
        folder = state_dir / str(uid)
        shutil.rmtree(folder, ignore_errors=True)  # and its files
        folder.mkdir(mode=0o711)
        folder.chmod(0o711)
        return uid, folder, handle
    raise RuntimeError(f"all {count} sandbox uids from {base} are in use on this machine")


def _kill_processes_of(uid: int) -> None:
    for pid in _pids():
        try:
            if os.stat(f"/proc/{pid}").st_uid == uid:
                os.kill(int(pid), signal.SIGKILL)
        except OSError:
            continue
