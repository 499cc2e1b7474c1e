"""A process-wide pool of warm Cog servers, keyed by model version."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .egress import Allow
from .errors import NoDevice, PoolTimeout
from .instance import BROKEN, PREDICT, CogInstance
from .sandbox import SandboxConfig
from .spec import BuildSpec

log = logging.getLogger(__name__)
# How often a checkout that was refused room for a new instance (``admit``) asks again.
ADMIT_RETRY_SECONDS = 1.0
# What ``on_change`` is told: an instance began booting, became ready, or is gone.
BOOTING, READY, STOPPED = "booting", "ready", "stopped"


def new_instance_id() -> str:
    return secrets.token_hex(8)


@dataclass(eq=False)
class _Entry:
    key: str
    instance: CogInstance
    devices: tuple[str, ...] = ()  # the GPUs given to it (CUDA_VISIBLE_DEVICES)
    id: str = field(default_factory=new_instance_id)
    idle_seconds: float | None = None  # stopped when idle this long (None: the pool's default)
    pinned: bool = False  # kept up however idle (a deployment's minimum)
    ready: bool = False
    retired: bool = False
    in_use: int = 0
    idle_since: float = field(default_factory=time.monotonic)
    ready_at: float | None = None  # wall-clock time it became ready

    def has_free_slot(self) -> bool:
        return self.ready and not self.retired and self.in_use < self.instance.slots


@dataclass(eq=False)
class Lease:
    """A slot on a ready instance. ``cold_start_seconds`` is the boot time when
    this acquire had to start the instance, else None; ``ready_at`` is the wall-clock
    time the instance became ready (a run created before it waited for a boot)."""

    key: str
    instance: CogInstance
    cold_start_seconds: float | None
    _entry: _Entry
    # Its holder saw its run succeed (the server served it to the end): given back without the
    # health check any other end gets.
    succeeded: bool = False

    @property
    def ready_at(self) -> float:
        return self._entry.ready_at or 0.0

    @property
    def instance_id(self) -> str:
        return self._entry.id


class InstancePool:
    """Boots, shares, recycles and stops Cog servers for the worker's threads.

    coglet has no queue (a busy server answers 409), so the pool counts slots
    itself: ``acquire`` hands out at most ``concurrency_max`` leases per
    instance and boots up to ``max_instances_per_key`` instances per key (or the
    acquire's own ``max_instances``), each only once ``admit`` allows it.

    ``on_change(info, state)`` hears of every instance that starts booting, becomes
    ready or is gone (``info`` as in ``snapshot``); it is called without the pool's
    lock held, from the thread that made the change.
    """

    def __init__(
        self,
        idle_seconds: float = 300,
        max_instances_per_key: int = 1,
        boot_timeout: float = 900,
        monitor_interval: float = 2.0,
        gpus: Iterable[str] = (),
        on_change: Callable[[dict[str, Any], str], None] | None = None,
        sandbox: SandboxConfig | None = None,
    ) -> None:
        self.idle_seconds = idle_seconds
        # This machine's GPUs: each instance of a `gpu: true` model gets one of its own, so there
        # are never more such instances than devices; other instances see none.
        self.gpus = tuple(str(device) for device in gpus)
        self.max_instances_per_key = max_instances_per_key
        self.boot_timeout = boot_timeout
        self.monitor_interval = monitor_interval
        self.on_change = on_change
        self.sandbox = sandbox  # every instance runs inside one of these when set
        self._cond = threading.Condition()
        self._entries: dict[str, list[_Entry]] = {}
        self._waiting: dict[str, int] = {}  # checkouts waiting for a slot, by key
        self._closed = False
        self._stopping = threading.Event()
        self._monitor: threading.Thread | None = None

    @contextmanager
    def acquire(
        self,
        key: str,
        src_dir: Path,
        venv: Path,
        spec: BuildSpec,
        extra_env: Mapping[str, str] | None = None,
        timeout: float = 600,
        mode: str = PREDICT,
        max_instances: int | None = None,
        admit: Callable[[str], bool] | None = None,
        idle_seconds: float | None = None,
        egress: Allow | None = None,
    ) -> Iterator[Lease]:
        """Yield a Lease on a ready instance with a free slot, booting one if needed.

        ``key`` names the instances that may serve it: one serving predictions is never handed
        out for a training (``mode`` TRAIN), so the caller keys the two apart. A new instance
        boots only while the key has fewer than ``max_instances`` here, no booting one will do,
        and ``admit(instance_id)`` (asked without the lock: it may look elsewhere, such as at
        other machines' instances) says yes; otherwise the checkout waits for a slot (an
        exception ``admit`` raises ends the checkout). One it boots stops after ``idle_seconds``
        idle, and may reach outside its sandbox through ``egress`` (runner.egress) when given.

        Raises PoolTimeout when no slot frees within ``timeout`` seconds, and
        SetupFailed / InstanceDied / BootTimeout when a boot fails (the failed
        instance is discarded, so the next acquire tries a fresh one).
        """
        limits = _Limits(max_instances or self.max_instances_per_key, admit, idle_seconds)
        lease = self._checkout(key, src_dir, venv, spec, extra_env, timeout, mode, limits, egress)
        try:
            yield lease
        finally:
            self._release(lease)

    def warm(
        self,
        key: str,
        src_dir: Path,
        venv: Path,
        spec: BuildSpec,
        extra_env: Mapping[str, str] | None = None,
        mode: str = PREDICT,
        instance_id: str | None = None,
        pinned: bool = False,
        idle_seconds: float | None = None,
        egress: Allow | None = None,
    ) -> str:
        """Boot an instance for ``key`` ahead of any run and leave it ready; its id.

        A ``pinned`` one is never stopped for being idle (``set_pinned`` changes that). Raises
        as ``acquire`` does when the boot fails, and NoDevice while every GPU is busy.
        """
        with self._cond:
            self._start_monitor()
            if self._closed:
                raise RuntimeError("instance pool is shut down")
            devices = self._devices_for(spec)
            if devices is None:
                raise NoDevice("every GPU of this worker is busy")
            entry = self._new_entry(key, src_dir, venv, spec, extra_env, mode, devices, instance_id, egress)
            entry.pinned, entry.idle_seconds = pinned, idle_seconds
        self._notify(entry, BOOTING)
        lease = self._boot(entry)
        self._release(lease)
        return entry.id

    def holds(self, key: str) -> bool:
        """Whether an instance for ``key`` is up or booting here."""
        with self._cond:
            return bool(self._entries.get(key))

    def set_pinned(self, instance_id: str, pinned: bool) -> None:
        with self._cond:
            for entry in self._all():
                if entry.id == instance_id:
                    entry.pinned = pinned
                    entry.idle_since = time.monotonic()  # its idle time counts from now

    def retire(self, instance_id: str) -> None:
        """Stop the instance once its runs are done (now, when it has none); no new run gets it."""
        with self._cond:
            entry = next((e for e in self._all() if e.id == instance_id), None)
            if entry is None or entry.retired:
                return
            self._retire(entry)
            idle = entry.in_use == 0
            self._cond.notify_all()
        if idle:
            self._stop_in_background(entry)

    def shutdown(self) -> None:
        """Stop the monitor and every instance; later acquires raise RuntimeError."""
        self._stopping.set()
        with self._cond:
            self._closed = True
            entries = [e for entries in self._entries.values() for e in entries]
            self._entries.clear()
            for entry in entries:
                entry.retired = True
            self._cond.notify_all()
        self._stop_all(entries)
        if self._monitor is not None and self._monitor is not threading.current_thread():
            self._monitor.join(timeout=10)

    def snapshot(self) -> list[dict[str, Any]]:
        """What the pool holds, for diagnostics and admin pages (each as ``on_change`` hears of it)."""
        with self._cond:
            return [_describe(entry) for entry in self._all()]

    def _all(self) -> list[_Entry]:
        """Every instance in circulation (caller holds the lock)."""
        return [entry for entries in self._entries.values() for entry in entries]

    # -- acquire / release ---------------------------------------------------

    def _checkout(
        self,
        key: str,
        src_dir: Path,
        venv: Path,
        spec: BuildSpec,
        extra_env: Mapping[str, str] | None,
        timeout: float,
        mode: str,
        limits: _Limits,
        egress: Allow | None,
    ) -> Lease:
        deadline = time.monotonic() + timeout
        admitted: str | None = None  # an instance id `admit` allowed, not booted yet
        with self._cond:
            self._start_monitor()
            self._waiting[key] = self._waiting.get(key, 0) + 1
            try:
                while True:
                    if self._closed:
                        raise RuntimeError("instance pool is shut down")
                    entry = self._free_entry(key)
                    if entry is not None:
                        entry.in_use += 1
                        if admitted is not None:  # a slot freed while `admit` was asked: give it back
                            self._notify_later(key, admitted)
                        return Lease(key, entry.instance, None, entry)
                    if self._may_boot(key, limits):
                        if admitted is None and limits.admit is not None:
                            admitted = self._ask(limits.admit)
                            if admitted is None:
                                self._cond.wait(min(ADMIT_RETRY_SECONDS, max(deadline - time.monotonic(), 0)))
                                if time.monotonic() >= deadline:
                                    raise PoolTimeout(f"no free instance for {key} within {timeout:g}s")
                                continue
                            continue  # the pool may have changed while the lock was released
                        devices = self._devices_for(spec)
                        if devices is not None:
                            entry = self._new_entry(key, src_dir, venv, spec, extra_env, mode, devices, admitted,
                                                    egress)
                            entry.idle_seconds = limits.idle_seconds
                            break
                    if admitted is not None:  # it can not boot now after all: the room goes back
                        self._notify_later(key, admitted)
                        admitted = None
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise PoolTimeout(f"no free instance for {key} within {timeout:g}s")
                    self._cond.wait(remaining)
            finally:
                self._waiting[key] -= 1
        self._notify(entry, BOOTING)
        return self._boot(entry)

    def _may_boot(self, key: str, limits: _Limits) -> bool:
        """Another instance for `key`: under its limit here, and more checkouts wait than the ones
        already booting will take. Caller holds the lock."""
        entries = [e for e in self._entries.get(key, []) if not e.retired]
        if len(entries) >= limits.max_instances:
            return False
        booting = sum(e.instance.slots for e in entries if not e.ready)
        return self._waiting.get(key, 0) > booting

    def _ask(self, admit: Callable[[str], bool]) -> str | None:
        """Ask `admit` for room for a new instance, with the lock released; its id when allowed."""
        instance_id = new_instance_id()
        self._cond.release()
        try:
            allowed = admit(instance_id)
        finally:
            self._cond.acquire()
        return instance_id if allowed else None

    def _notify_later(self, key: str, instance_id: str) -> None:
        """Say an admitted instance that never booted is gone (from another thread: the lock is held)."""
        if self.on_change is not None:
            info = {"key": key, "id": instance_id}
            threading.Thread(target=self.on_change, args=(info, STOPPED), name="cog-stop", daemon=True).start()

    def _new_entry(self, key, src_dir, venv, spec, extra_env, mode, devices, instance_id, egress) -> _Entry:
        env = {**dict(extra_env or {}), "CUDA_VISIBLE_DEVICES": ",".join(devices)}
        instance = CogInstance(src_dir, venv, spec, env, mode=mode, sandbox=self.sandbox, egress=egress)
        entry = _Entry(key, instance, devices)
        if instance_id is not None:
            entry.id = instance_id
        self._entries.setdefault(key, []).append(entry)
        return entry

    def _devices_for(self, spec: BuildSpec) -> tuple[str, ...] | None:
        """The devices a new instance of `spec` gets: one free GPU for a `gpu: true` model (an idle
        instance of another model gives its GPU up), none for the rest; None while every GPU is
        busy. Caller holds the lock."""
        if not spec.gpu:
            return ()
        if not self.gpus:
            raise NoDevice("this model needs a GPU (cog.yaml build.gpu: true) and this worker has none; "
                           "give the model hardware that a GPU worker serves")
        taken = {d for entries in self._entries.values() for e in entries for d in e.devices}
        free = [device for device in self.gpus if device not in taken]
        if not free:
            idle = [e for entries in self._entries.values() for e in entries
                    if e.devices and e.ready and e.in_use == 0 and not e.pinned]
            if not idle:
                return None
            victim = min(idle, key=lambda e: e.idle_since)
            self._retire(victim)
            self._stop_in_background(victim)
            free = list(victim.devices)
        return (free[0],)

    def _free_entry(self, key: str) -> _Entry | None:
        """The least busy usable entry; dead idle ones are dropped on the way."""
        usable = []
        for entry in list(self._entries.get(key, [])):
            if entry.ready and entry.in_use == 0 and not entry.instance.alive():
                self._retire(entry)
                self._stop_in_background(entry)
            elif entry.has_free_slot():
                usable.append(entry)
        return min(usable, key=lambda e: e.in_use, default=None)

    def _boot(self, entry: _Entry) -> Lease:
        instance = entry.instance
        try:
            instance.start()
            instance.wait_ready(self.boot_timeout)
        except BaseException:
            with self._cond:
                self._retire(entry)
                self._cond.notify_all()
            self._stop(entry)
            raise
        with self._cond:
            shut_down = entry.retired
            entry.ready = True
            entry.ready_at = time.time()
            entry.in_use = 1
            self._cond.notify_all()
        if shut_down:  # shutdown() or retire() ran while we were booting
            self._stop(entry)
            raise RuntimeError("instance pool is shut down" if self._closed else "the instance was stopped")
        self._notify(entry, READY)
        return Lease(entry.key, instance, instance.ready_seconds, entry)

    def _release(self, lease: Lease) -> None:
        entry = lease._entry
        healthy = not entry.instance.spoiled and (lease.succeeded or entry.instance.health() not in BROKEN)
        with self._cond:
            entry.in_use -= 1
            entry.idle_since = time.monotonic()
            if not healthy:
                self._retire(entry)
            stop = entry.retired and entry.in_use == 0
            self._cond.notify_all()
        if stop:
            self._stop(entry)

    def _retire(self, entry: _Entry) -> None:
        """Take ``entry`` out of circulation (caller holds the lock)."""
        entry.retired = True
        entries = self._entries.get(entry.key, [])
        if entry in entries:
            entries.remove(entry)
        if not entries:
            self._entries.pop(entry.key, None)

    # -- monitor -------------------------------------------------------------

    def _start_monitor(self) -> None:
        if self._monitor is None:
            self._monitor = threading.Thread(target=self._monitor_loop, name="cog-pool-monitor", daemon=True)
            self._monitor.start()

    def _monitor_loop(self) -> None:
        while not self._stopping.wait(self.monitor_interval):
            self.sweep()

    def sweep(self) -> None:
        """Stop instances idle longer than ``idle_seconds`` and idle ones that broke."""
        with self._cond:
            idle = [e for entries in self._entries.values() for e in entries if e.ready and e.in_use == 0]
        doomed = [e for e in idle if self._should_stop(e)]
        with self._cond:
            doomed = [e for e in doomed if e.in_use == 0 and not e.retired]
            for entry in doomed:
                self._retire(entry)
            if doomed:
                self._cond.notify_all()
        self._stop_all(doomed)

    def _should_stop(self, entry: _Entry) -> bool:
        idle_seconds = self.idle_seconds if entry.idle_seconds is None else entry.idle_seconds
        if not entry.pinned and time.monotonic() - entry.idle_since > idle_seconds:
            return True
        return bool(entry.instance.spoiled) or entry.instance.health() in BROKEN

    # -- stopping and telling ------------------------------------------------

    def _notify(self, entry: _Entry, state: str) -> None:
        if self.on_change is None:
            return
        try:
            self.on_change(_describe(entry), state)
        except Exception:  # what the owner does with the news never breaks a run
            log.exception("instance pool on_change failed")

    def _stop(self, entry: _Entry) -> None:
        entry.instance.stop()
        self._notify(entry, STOPPED)

    def _stop_all(self, entries: Iterable[_Entry]) -> None:
        threads = [threading.Thread(target=self._stop, args=(entry,), name="cog-stop", daemon=True)
                   for entry in entries]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _stop_in_background(self, entry: _Entry) -> None:
        threading.Thread(target=self._stop, args=(entry,), name="cog-stop", daemon=True).start()


def _describe(entry: _Entry) -> dict[str, Any]:
    """An instance as the pool tells of it."""
    return {
        "key": entry.key,
        "id": entry.id,
        "pid": entry.instance.process.pid if entry.instance.process else None,
        "port": entry.instance.port,
        "ready": entry.ready,
        "in_use": entry.in_use,
        "slots": entry.instance.slots,
        "ready_seconds": entry.instance.ready_seconds,
        "idle_seconds": time.monotonic() - entry.idle_since if entry.in_use == 0 else 0.0,
        "state": "busy" if entry.in_use else "ready" if entry.ready else "booting",
        "mode": entry.instance.mode,
        "devices": list(entry.devices),
        "pinned": entry.pinned,
    }


@dataclass(frozen=True)
class _Limits:
    max_instances: int
    admit: Callable[[str], bool] | None
    idle_seconds: float | None
