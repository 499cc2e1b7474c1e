"""The worker process's one instance pool of warm Cog servers."""

import threading

from django.conf import settings

from runner.pool import InstancePool

_pool: InstancePool | None = None
_lock = threading.Lock()


def get_pool() -> InstancePool:
    global _pool
    with _lock:
        if _pool is None:
            _pool = InstancePool(idle_seconds=settings.COGMILL_IDLE_SECONDS, gpus=settings.COGMILL_WORKER_GPUS)
        return _pool


def shutdown_pool() -> None:
    global _pool
    with _lock:
        if _pool is not None:
            _pool.shutdown()
            _pool = None
