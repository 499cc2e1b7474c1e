"""InstancePool: boots, reuse, replacement of broken instances, idle shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runner import InstancePool, NoDevice, PoolTimeout, SetupFailed

Wait = Callable[..., None]


def acquire(pool: InstancePool, built: Any, key: str | None = None, **kwargs: Any) -> Any:
    return pool.acquire(key or built.src.name, built.src, built.venv, built.spec, **kwargs)


def pid_gone(pid: int) -> Callable[[], bool]:
    """True once ``pid`` has exited (a zombie nobody reaped counts as gone)."""

    def check() -> bool:
        try:
            return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
        except FileNotFoundError:
            return True

    return check


def test_cold_then_warm(pool: InstancePool, model: Callable[[str], Any]) -> None:
    hello = model("hello")
    with acquire(pool, hello) as lease:
        assert lease.cold_start_seconds is not None and lease.cold_start_seconds > 0
        first = lease.instance
        assert first.predict("p1", {"text": "a"})["output"] == "hello a"
    with acquire(pool, hello) as lease:
        assert lease.cold_start_seconds is None
        assert lease.instance is first
        assert lease.instance.predict("p2", {"text": "b"})["output"] == "hello b"
    assert [(i["in_use"], i["ready"]) for i in pool.snapshot()] == [(0, True)]


def test_crash_is_replaced(pool: InstancePool, model: Callable[[str], Any]) -> None:
    crash = model("crash")
    with acquire(pool, crash) as lease:
        broken = lease.instance
        assert lease.instance.predict("p-crash", {"crash": True})["status"] == "failed"
    assert not broken.alive()  # UNHEALTHY on release: stopped and dropped
    with acquire(pool, crash) as lease:
        assert lease.instance is not broken
        assert lease.cold_start_seconds is not None
        result = lease.instance.predict("p-ok", {"crash": False})
    assert result["status"] == "succeeded"
    assert result["output"] == ["before", "after"]


def test_setup_failure_is_raised_and_discarded(pool: InstancePool, model: Callable[[str], Any]) -> None:
    with pytest.raises(SetupFailed) as caught, acquire(pool, model("setup-failure")):
        pytest.fail("acquire should not yield")
    assert "weights are missing" in caught.value.logs
    assert pool.snapshot() == []


def test_busy_slot_blocks_until_released(pool: InstancePool, model: Callable[[str], Any]) -> None:
    hello = model("hello")
    with acquire(pool, hello) as lease:
        with pytest.raises(PoolTimeout), acquire(pool, hello, timeout=0.2):
            pytest.fail("only one slot")
        got: list[Any] = []
        waiter = threading.Thread(target=lambda: got.append(_use_once(pool, hello)))
        waiter.start()
        waiter.join(timeout=0.2)
        assert waiter.is_alive()  # still waiting for our slot
        first = lease.instance
    waiter.join(timeout=30)
    assert got == [(first, "hello queued")]


def _use_once(pool: InstancePool, hello: Any) -> tuple[Any, str]:
    with acquire(pool, hello, timeout=30) as lease:
        return lease.instance, lease.instance.predict("p-queued", {"text": "queued"})["output"]


def test_slots_of_a_concurrent_model_run_together(
    pool: InstancePool, model: Callable[[str], Any], tmp_path: Path
) -> None:
    """concurrency.max: 2 gives two leases on one instance, and both predictions
    must be in flight at once: each waits for a file the other one creates."""
    concurrent = model("concurrent")
    a, b = f"/tmp/{tmp_path.name}-a", f"/tmp/{tmp_path.name}-b"  # in the instance's own scratch space
    results: dict[str, Any] = {}

    def run(name: str, mine: str, theirs: str) -> None:
        with acquire(pool, concurrent, timeout=30) as lease:
            results[name] = (lease.instance, lease.instance.predict(name, {"mine": mine, "theirs": theirs}))

    threads = [threading.Thread(target=run, args=args) for args in (("p-a", a, b), ("p-b", b, a))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    (instance_a, result_a), (instance_b, result_b) = results["p-a"], results["p-b"]
    assert instance_a is instance_b and instance_a.slots == 2
    assert result_a.get("output") == result_b.get("output") == "met", (result_a, result_b)
    assert len(pool.snapshot()) == 1


def test_second_instance_when_allowed(model: Callable[[str], Any], sandboxed) -> None:
    pool = InstancePool(max_instances_per_key=2, monitor_interval=0.1, sandbox=sandboxed)
    hello = model("hello")
    try:
        with acquire(pool, hello) as a, acquire(pool, hello) as b:
            assert a.instance is not b.instance
            assert len(pool.snapshot()) == 2
    finally:
        pool.shutdown()
    assert not a.instance.alive() and not b.instance.alive()


def test_idle_instances_are_stopped(model: Callable[[str], Any], sandboxed, wait_until: Wait) -> None:
    pool = InstancePool(idle_seconds=0.3, monitor_interval=0.05, sandbox=sandboxed)
    try:
        with acquire(pool, model("hello")) as lease:
            instance = lease.instance
            instance.predict("p-idle", {"text": "x"})
        assert instance.alive()
        wait_until(lambda: not instance.alive(), timeout=30, what="idle instance to stop")
        wait_until(lambda: pool.snapshot() == [], timeout=5, what="pool to forget it")
    finally:
        pool.shutdown()


def test_dead_idle_instance_is_dropped(
    pool: InstancePool, model: Callable[[str], Any], wait_until: Wait
) -> None:
    with acquire(pool, model("hello")) as lease:
        instance = lease.instance
    assert instance.process is not None
    os.killpg(instance.process.pid, signal.SIGKILL)
    wait_until(lambda: pool.snapshot() == [], timeout=30, what="monitor to drop the dead instance")
    with acquire(pool, model("hello")) as lease:
        assert lease.cold_start_seconds is not None
        assert lease.instance.predict("p-new", {"text": "again"})["output"] == "hello again"


def test_shutdown_stops_everything(model: Callable[[str], Any], sandboxed) -> None:
    pool = InstancePool(sandbox=sandboxed)
    with acquire(pool, model("hello")) as lease:
        instance = lease.instance
    pool.shutdown()
    assert not instance.alive()
    with pytest.raises(RuntimeError), acquire(pool, model("hello")):
        pass


@pytest.mark.parametrize("boxed", [True, False], ids=["sandboxed", "unsandboxed"])
def test_servers_die_with_a_killed_worker(model: Callable[[str], Any], wait_until: Wait, sandboxed,
                                          boxed: bool) -> None:
    """A worker killed with SIGKILL cannot stop its servers; they notice and exit (in a sandbox,
    every process in it: the model's uid has none left)."""
    hello = model("hello")
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from runner import CogInstance, parse_cog_yaml\n"
        "from runner.sandbox import SandboxConfig\n"
        "src, venv, state = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]\n"
        "box = SandboxConfig(Path(state)) if state else None\n"
        "instance = CogInstance(src, venv, parse_cog_yaml(src), sandbox=box)\n"
        "instance.start(); instance.wait_ready(60)\n"
        "uid = instance.sandbox.uid if box else -1\n"
        "print(instance.process.pid, instance.output_log, uid, flush=True)\n"
        "time.sleep(600)\n"
    )
    state = str(sandboxed.state_dir) if boxed else ""
    worker = subprocess.Popen(
        [sys.executable, "-c", script, str(hello.src), str(hello.venv), state],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert worker.stdout is not None
        pid, output_log, uid = worker.stdout.readline().split()
        assert Path(output_log).exists()
        if boxed:
            assert _processes_of(int(uid)), "the model runs as the sandbox's uid"
        worker.kill()
        wait_until(pid_gone(int(pid)), timeout=30, what="orphaned server to exit")
        if boxed:
            wait_until(lambda: not _processes_of(int(uid)), timeout=30, what="every process in the sandbox to end")
        else:
            assert not Path(output_log).exists()
    finally:
        worker.kill()
        worker.wait()


def _processes_of(uid: int) -> list[str]:
    found = []
    for pid in (name for name in os.listdir("/proc") if name.isdigit()):
        try:
            if os.stat(f"/proc/{pid}").st_uid == uid:
                found.append(pid)
        except OSError:
            continue
    return found


# ---------------------------------------------------------------- GPUs

def test_each_gpu_instance_gets_a_device_of_its_own(model: Callable[[str], Any], sandboxed) -> None:
    """What each Cog server is given, on a worker told it has GPUs 0 and 1 (no GPU needed here)."""
    gpu, hello = model("gpu"), model("hello")
    pool = InstancePool(idle_seconds=60, monitor_interval=0.1, boot_timeout=60, gpus=["0", "1"], sandbox=sandboxed)
    try:
        with acquire(pool, gpu, key="a") as first, acquire(pool, gpu, key="b") as second:
            seen = {first.instance.predict("p-a", {})["output"], second.instance.predict("p-b", {})["output"]}
            assert seen == {"0", "1"}
            with pytest.raises(PoolTimeout):  # both devices busy: a third model waits, never shares one
                with acquire(pool, gpu, key="c", timeout=0.5):
                    pass
            with acquire(pool, hello) as cpu:  # a model without `gpu: true` sees no GPU
                assert cpu.instance.predict("p-cpu", {"text": "x"})["output"] == "hello x"
                assert cpu.instance.extra_env["CUDA_VISIBLE_DEVICES"] == ""
        with acquire(pool, gpu, key="c") as third:  # an idle instance gives its device up
            assert third.instance.predict("p-c", {})["output"] in {"0", "1"}
        assert sum(1 for i in pool.snapshot() if i["key"] in {"a", "b", "c"}) <= 2
    finally:
        pool.shutdown()


def test_a_gpu_model_on_a_worker_without_gpus_fails_clearly(pool: InstancePool, model: Callable[[str], Any]) -> None:
    with pytest.raises(NoDevice, match="needs a GPU"):
        with acquire(pool, model("gpu")):
            pass


# -- what deployments use: warm ahead, pinned, retired, admitted, told --------

def test_warm_boots_ahead_and_a_pinned_one_outlives_the_idle_window(model: Callable[[str], Any], sandboxed,
                                                                    wait_until: Wait) -> None:
    news: list[tuple[str, str]] = []
    pool = InstancePool(idle_seconds=0.3, monitor_interval=0.05, sandbox=sandboxed, on_change=lambda info, state: news.append(
        (info["id"], state)))
    hello = model("hello")
    try:
        kept = pool.warm("d", hello.src, hello.venv, hello.spec, instance_id="kept", pinned=True)
        spare = pool.warm("d", hello.src, hello.venv, hello.spec, instance_id="spare")
        assert (kept, spare) == ("kept", "spare")
        assert news[:2] == [("kept", "booting"), ("kept", "ready")]
        wait_until(lambda: ("spare", "stopped") in news, timeout=30, what="the unpinned one to idle out")
        [left] = pool.snapshot()
        assert (left["id"], left["pinned"], left["state"]) == ("kept", True, "ready")
        with acquire(pool, hello, key="d") as lease:  # a run finds it warm
            assert lease.cold_start_seconds is None and lease.instance_id == "kept"
        pool.set_pinned("kept", False)
        wait_until(lambda: ("kept", "stopped") in news, timeout=30, what="the unpinned one to idle out too")
    finally:
        pool.shutdown()


def test_retire_lets_the_run_in_flight_finish_first(pool: InstancePool, model: Callable[[str], Any],
                                                    wait_until: Wait) -> None:
    hello = model("hello")
    with acquire(pool, hello) as lease:
        pool.retire(lease.instance_id)
        assert lease.instance.alive()  # still running its run
        assert lease.instance.predict("p-last", {"text": "last"})["output"] == "hello last"
        assert pool.snapshot() == []  # no new run gets it
    wait_until(lambda: not lease.instance.alive(), timeout=30, what="the retired instance to stop")


def test_a_new_instance_boots_only_when_admitted(model: Callable[[str], Any], sandboxed) -> None:
    hello = model("hello")
    asked: list[str] = []
    pool = InstancePool(monitor_interval=0.1, sandbox=sandboxed)
    try:
        with acquire(pool, hello, key="k", max_instances=3, admit=lambda i: asked.append(i) or len(asked) == 1) as a:
            assert a.instance_id == asked[0]  # the id it was admitted under
            with pytest.raises(PoolTimeout), acquire(pool, hello, key="k", max_instances=3,
                                                     admit=lambda i: asked.append(i) or False, timeout=1.5):
                pass  # refused room: it waits for a slot rather than boot past the limit
        assert len(pool.snapshot()) == 1 and len(asked) >= 2
    finally:
        pool.shutdown()

