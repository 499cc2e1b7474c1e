"""A process-wide pool of warm Cog servers, keyed by model version."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import NoDevice, PoolTimeout
from .instance import BROKEN, PREDICT, CogInstance
from .spec import BuildSpec


@dataclass(eq=False)
class _Entry:
    key: str
    instance: CogInstance
    devices: tuple[str, ...] = ()  # the GPUs given to it (CUDA_VISIBLE_DEVICES)
    ready: bool = False
    retired: bool = False
    in_use: int = 0
    idle_since: float = field(default_factory=time.monotonic)

    def has_free_slot(self) -> bool:
        return self.ready and not self.retired and self.in_use < self.instance.slots


@dataclass(eq=False)
class Lease:
    """A slot on a ready instance. ``cold_start_seconds`` is the boot time when
    this acquire had to start the instance, else None."""

    key: str
    instance: CogInstance
    cold_start_seconds: float | None
    _entry: _Entry


class InstancePool:
    """Boots, shares, recycles and stops Cog servers for the worker's threads.

    coglet has no queue (a busy server answers 409), so the pool counts slots
    itself: ``acquire`` hands out at most ``concurrency_max`` leases per
    instance and boots up to ``max_instances_per_key`` instances per key.
    """

    def __init__(
        self,
        idle_seconds: float = 300,
        max_instances_per_key: int = 1,
        boot_timeout: float = 900,
        monitor_interval: float = 2.0,
        gpus: Iterable[str] = (),
    ) -> None:
        self.idle_seconds = idle_seconds
        # This machine's GPUs: each instance of a `gpu: true` model gets one of its own, so there
        # are never more such instances than devices; other instances see none.
        self.gpus = tuple(str(device) for device in gpus)
        self.max_instances_per_key = max_instances_per_key
        self.boot_timeout = boot_timeout
        self.monitor_interval = monitor_interval
        self._cond = threading.Condition()
        self._entries: dict[str, list[_Entry]] = {}
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
    ) -> Iterator[Lease]:
        """Yield a Lease on a ready instance with a free slot, booting one if needed.

        ``key`` names the instances that may serve it: one serving predictions is never handed
        out for a training (``mode`` TRAIN), so the caller keys the two apart.

        Raises PoolTimeout when no slot frees within ``timeout`` seconds, and
        SetupFailed / InstanceDied / BootTimeout when a boot fails (the failed
        instance is discarded, so the next acquire tries a fresh one).
        """
        lease = self._checkout(key, src_dir, venv, spec, extra_env, timeout, mode)
        try:
            yield lease
        finally:
            self._release(lease)

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
        _stop_all(entry.instance for entry in entries)
        if self._monitor is not None and self._monitor is not threading.current_thread():
            self._monitor.join(timeout=10)

    def snapshot(self) -> list[dict[str, Any]]:
        """What the pool holds, for diagnostics and admin pages."""
        now = time.monotonic()
        with self._cond:
            return [
                {
                    "key": entry.key,
                    "pid": entry.instance.process.pid if entry.instance.process else None,
                    "port": entry.instance.port,
                    "ready": entry.ready,
                    "in_use": entry.in_use,
                    "slots": entry.instance.slots,
                    "ready_seconds": entry.instance.ready_seconds,
                    "idle_seconds": now - entry.idle_since if entry.in_use == 0 else 0.0,
                    "state": "busy" if entry.in_use else "ready" if entry.ready else "booting",
                    "mode": entry.instance.mode,
                    "devices": list(entry.devices),
                }
                for entries in self._entries.values()
                for entry in entries
            ]

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
    ) -> Lease:
        deadline = time.monotonic() + timeout
        with self._cond:
            self._start_monitor()
            while True:
                if self._closed:
                    raise RuntimeError("instance pool is shut down")
                entry = self._free_entry(key)
                if entry is not None:
                    entry.in_use += 1
                    return Lease(key, entry.instance, None, entry)
                if len(self._entries.get(key, [])) < self.max_instances_per_key:
                    devices = self._devices_for(spec)
                    if devices is not None:
                        env = {**dict(extra_env or {}), "CUDA_VISIBLE_DEVICES": ",".join(devices)}
                        entry = _Entry(key, CogInstance(src_dir, venv, spec, env, mode=mode), devices)
                        self._entries.setdefault(key, []).append(entry)
                        break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise PoolTimeout(f"no free instance for {key} within {timeout:g}s")
                self._cond.wait(remaining)
        return self._boot(entry)

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
                    if e.devices and e.ready and e.in_use == 0]
            if not idle:
                return None
            victim = min(idle, key=lambda e: e.idle_since)
            self._retire(victim)
            _stop_in_background(victim.instance)
            free = list(victim.devices)
        return (free[0],)

    def _free_entry(self, key: str) -> _Entry | None:
        """The least busy usable entry; dead idle ones are dropped on the way."""
        usable = []
        for entry in list(self._entries.get(key, [])):
            if entry.ready and entry.in_use == 0 and not entry.instance.alive():
                self._retire(entry)
                _stop_in_background(entry.instance)
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
            instance.stop()
            raise
        with self._cond:
            shut_down = entry.retired
            entry.ready = True
            entry.in_use = 1
            self._cond.notify_all()
        if shut_down:  # shutdown() ran while we were booting
            instance.stop()
            raise RuntimeError("instance pool is shut down")
        return Lease(entry.key, instance, instance.ready_seconds, entry)

    def _release(self, lease: Lease) -> None:
        entry = lease._entry
        healthy = entry.instance.health() not in BROKEN
        with self._cond:
            entry.in_use -= 1
            entry.idle_since = time.monotonic()
            if not healthy:
                self._retire(entry)
            stop = entry.retired and entry.in_use == 0
            self._cond.notify_all()
        if stop:
            entry.instance.stop()

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
        _stop_all(entry.instance for entry in doomed)

    def _should_stop(self, entry: _Entry) -> bool:
        if time.monotonic() - entry.idle_since > self.idle_seconds:
            return True
        return entry.instance.health() in BROKEN


def _stop_all(instances: Iterable[CogInstance]) -> None:
    threads = [threading.Thread(target=instance.stop, daemon=True) for instance in instances]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _stop_in_background(instance: CogInstance) -> None:
    threading.Thread(target=instance.stop, daemon=True).start()
