"""This worker's instances, as the rest of Cogmill sees them: the pool's Cog servers in the Instance
table, deployment instances booted on request and followed through their rows, and the deployment
queues this worker reads while it holds their instances.

- A run gets its slot here (`slot`): a deployment's run on that release's own instances (a new one
  boots only if `services.deployments.reserve_instance` finds room under its max across every
  worker), any other run on its version's instances (one per version on this worker, as before).
- A scaler's request (`boot`) is taken by the first worker with the hardware: it boots the instance
  and then reads the deployment's queue (`deploy.<owner>.<name>`) until its last instance of that
  deployment stops.
- The heartbeat (`follow_rows`) writes how busy each instance is and carries out what the rows say:
  pinned or not, stopping, or gone (a deleted deployment).
"""

import functools
import logging
import threading
from contextlib import contextmanager
from datetime import timedelta

import httpx
from django.conf import settings
from django.db import connection
from django.utils import timezone

from cogmill.celery import app
from playground import dispatch, webhooks
from playground.models import DeploymentRelease, Instance, InstanceState, Run, Training, Version
from playground.services import deployments
from playground.worker import leases
from runner import egress, sandbox
from runner import pool as runner_pool
from runner.build import parse_cog_yaml, spec_hash
from runner.instance import PREDICT, TRAIN

log = logging.getLogger(__name__)
PREDICTION_SLOT_WAIT = 600  # seconds a prediction waits for a free instance before it fails
# A row this worker reserved is given this long to show up in its pool before it is called stale.
RESERVED_GRACE_SECONDS = 30

_pool: runner_pool.InstancePool | None = None
_reading: dict[str, set[str]] = {}  # deployment queues this worker reads -> its instances behind each
_lock = threading.Lock()
hostname: str | None = None  # Celery's name for this worker (set when it is ready)


def get_pool() -> runner_pool.InstancePool:
    """The worker process's one pool of Cog servers."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = runner_pool.InstancePool(idle_seconds=settings.COGMILL_IDLE_SECONDS,
                                             gpus=settings.COGMILL_WORKER_GPUS, on_change=on_change,
                                             sandbox=sandbox_config())
        return _pool


def sandbox_config() -> sandbox.SandboxConfig | None:
    """The sandbox this worker's model processes run in, or None when it runs them unsandboxed."""
    if not settings.COGMILL_SANDBOX_ACTIVE:
        return None
    return sandbox.SandboxConfig(state_dir=settings.DATA_DIR / "sandboxes", limits=settings.COGMILL_SANDBOX_LIMITS,
                                 uid_base=settings.COGMILL_SANDBOX_UID_BASE,
                                 shared=settings.COGMILL_SANDBOX_SHARED_PATHS)


def shutdown_pool() -> None:
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown()


def egress_for(model) -> egress.Allow | None:
    """What a model's code may reach from its sandbox: nothing, or with internet access on, public
    addresses only (the webhooks' guard: never loopback, private or link-local ones)."""
    return _public_only if model.internet_access else None


def _public_only(host: str, port: int) -> str:
    try:
        return str(webhooks.public_addresses(httpx.URL(scheme="http", host=host, port=port))[0])
    except webhooks.UnsafeDestination as exc:
        raise egress.Refused(str(exc)) from None


# ---------------------------------------------------------------- runs

class Elsewhere(Exception):
    """A deployment's run is better served by another worker: this one does not have its hardware,
    or may boot no instance of it and has none free while another worker has (or has none at all)."""


def _runtime(version) -> tuple:
    """What the pool boots a version with: its folder, venv and build spec."""
    spec = _spec(version.src_dir)
    return version.src_dir, settings.COGMILL_VENVS_DIR / (version.spec_hash or spec_hash(spec)), spec


@functools.lru_cache(maxsize=256)
def _spec(src_dir):
    """A bundle's build spec, read once: a bundle's folder is named by its content's hash."""
    return parse_cog_yaml(src_dir)


@contextmanager
def slot(run: Run):
    """A lease on an instance for `run` (see the module's doc), waiting as long as the run may."""
    version = run.version
    options = {"extra_env": version.run_environment(), "egress": egress_for(version.model)}
    release = getattr(run, "release", None)
    # A model's own instances are told apart by whether they may reach the internet, so a change of
    # that setting applies to its next run (deployment instances take it when they are replaced).
    own = version.version_id + (":internet" if version.model.internet_access else "")
    if isinstance(run, Training):
        # A training waits for its trainer (one training at a time) as long as it may run.
        key, options["mode"], options["timeout"] = f"{own}:train", TRAIN, run.timeout_seconds()
    elif release is not None:
        key = release.pool_key
        options.update(timeout=PREDICTION_SLOT_WAIT, max_instances=release.max_instances,
                       idle_seconds=settings.COGMILL_SCALE_DOWN_SECONDS,
                       admit=lambda instance_id: _admit(release, key, instance_id))
    else:
        key, options["timeout"] = own, PREDICTION_SLOT_WAIT
    if release is not None and release.hardware.sku not in settings.COGMILL_WORKER_HARDWARE:
        raise Elsewhere(key)  # read from the deployment's queue while it moved to other hardware
    with get_pool().acquire(key, *_runtime(version), **options) as lease:
        yield lease


def _admit(release: DeploymentRelease, key: str, instance_id: str) -> bool:
    """Room for another instance of the release here? Under the deployment's max, one is reserved.
    At max, a run waits for this worker's own instances to free up, unless it has none or another
    worker has a free one: then the run is Elsewhere's."""
    if not deployments.at_max(release) and deployments.reserve_instance(release, leases.WORKER_ID, instance_id):
        return True
    if not get_pool().holds(key) or deployments.free_elsewhere(release, leases.WORKER_ID):
        raise Elsewhere(key)
    return False


def boot(instance_id: str) -> None:
    """Take a scaler's request for an instance, if no other worker has, and boot it here."""
    now = timezone.now()
    if not Instance.objects.filter(pk=instance_id, worker__isnull=True, state=InstanceState.REQUESTED).update(
            worker_id=leases.WORKER_ID, state=InstanceState.BOOTING, state_since=now):
        return
    row = Instance.objects.select_related("release__deployment__owner", "version__model", "version__base",
                                         "version__weights").get(
        pk=instance_id)
    version = row.version
    try:
        get_pool().warm(row.key, *_runtime(version), extra_env=version.run_environment(), mode=PREDICT,
                        egress=egress_for(version.model),
                        instance_id=row.pk, pinned=row.pinned, idle_seconds=settings.COGMILL_SCALE_DOWN_SECONDS)
    except Exception as exc:  # the row goes, and the scaler asks again
        log.warning("instance %s of %s failed to boot: %s", row.pk, row.key, exc)
        Instance.objects.filter(pk=row.pk, worker_id=leases.WORKER_ID).delete()
        if row.release is not None:
            dispatch.scale_deployment(row.release.deployment_id)


# ---------------------------------------------------------------- the pool's news, in the table

def on_change(info: dict, state: str) -> None:
    """The pool's hook: an instance of this worker began booting, became ready, or is gone."""
    try:
        _record(info, state)
    finally:
        if threading.current_thread().name == "cog-stop":  # the pool's short-lived threads: their connection
            connection.close()


def _record(info: dict, state: str) -> None:
    now = timezone.now()
    if state == runner_pool.STOPPED:
        _stop_reading(info["id"])
        row = Instance.objects.filter(pk=info["id"]).select_related("release").first()
        Instance.objects.filter(pk=info["id"]).delete()
        if row is not None and row.release is not None:
            dispatch.scale_deployment(row.release.deployment_id)  # a lost pinned one is replaced
        return
    fields = {"pid": info.get("pid"), "slots": info.get("slots") or 1, "devices": info.get("devices") or [],
              "mode": info.get("mode") or PREDICT, "state_since": now,
              "state": InstanceState.BOOTING if state == runner_pool.BOOTING else InstanceState.READY}
    if state == runner_pool.READY:
        fields["boot_seconds"] = info.get("ready_seconds")
    updated = Instance.objects.filter(pk=info["id"]).exclude(state=InstanceState.STOPPING).update(**fields)
    if not updated and state == runner_pool.BOOTING and not DeploymentRelease.owns_pool_key(info["key"]):
        version = Version.objects.filter(version_id=info["key"].partition(":")[0]).first()
        if version is not None:  # an instance for runs of a version (no deployment): its row starts here
            Instance.objects.create(id=info["id"], worker_id=leases.WORKER_ID, key=info["key"], version=version,
                                    **fields)
    if state == runner_pool.READY and DeploymentRelease.owns_pool_key(info["key"]):
        row = Instance.objects.filter(pk=info["id"]).select_related("release__deployment__owner").first()
        if row is not None and row.release is not None:
            _read(dispatch.deployment_queue(row.release.deployment.full_name), info["id"])


# ---------------------------------------------------------------- deployment queues

def _read(queue: str, instance_id: str) -> None:
    """Read the deployment's queue while this worker holds instance_id (one of its instances)."""
    with _lock:
        start = not _reading.get(queue)
        _reading.setdefault(queue, set()).add(instance_id)
        if start:
            _consume(queue)


def _stop_reading(instance_id: str) -> None:
    """Stop reading a deployment's queue when this worker's last instance of it is gone."""
    with _lock:
        queue = next((q for q, ids in _reading.items() if instance_id in ids), None)
        if queue is None:
            return
        _reading[queue].discard(instance_id)
        if not _reading[queue]:
            del _reading[queue]
            _consume(queue, stop=True)


def _consume(queue: str, stop: bool = False) -> None:
    """Ask this worker's Celery consumer to start (or stop) reading `queue`: a broadcast addressed to
    this worker alone, sent under the lock so that the consumer gets them in the order they happen.
    Starting again is harmless: the heartbeat repeats it, in case a broadcast was lost."""
    if hostname is None:
        return
    try:
        if stop:
            app.control.cancel_consumer(queue, destination=[hostname], reply=False)
        else:
            app.control.add_consumer(queue, destination=[hostname], reply=False)
    except Exception as exc:  # the broker is away; the heartbeat tries again
        log.warning("could not %s reading %s: %s", "stop" if stop else "start", queue, exc)


# ---------------------------------------------------------------- heartbeat

def follow_rows() -> None:
    """Write how busy each instance is, and do what the rows say: pin, unpin, stop."""
    pool = get_pool()
    snapshot = pool.snapshot()  # before the rows: a row written meanwhile is not taken for missing
    rows = {row.pk: row for row in Instance.objects.filter(worker_id=leases.WORKER_ID)}
    seen = set()
    for info in snapshot:
        seen.add(info["id"])
        row = rows.get(info["id"])
        deployed = DeploymentRelease.owns_pool_key(info["key"])
        if deployed and (row is None or row.state == InstanceState.STOPPING):
            pool.retire(info["id"])
            continue
        if row is None:
            continue
        if deployed and row.pinned != info["pinned"]:
            pool.set_pinned(info["id"], row.pinned)
        if row.in_use != info["in_use"] or (row.pid is None and info["pid"]):
            Instance.objects.filter(pk=row.pk).update(in_use=info["in_use"], pid=info["pid"])
    stale = timezone.now() - timedelta(seconds=RESERVED_GRACE_SECONDS)
    lost = [pk for pk, row in rows.items() if pk not in seen and row.state != InstanceState.REQUESTED
            and row.state_since < stale]
    if lost:
        Instance.objects.filter(pk__in=lost).delete()
    with _lock:
        for queue in _reading:
            _consume(queue)
