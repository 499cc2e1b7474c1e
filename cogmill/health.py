"""/healthz: the database, Redis, live workers and the hardware they serve.

Anyone may ask, so the answer is worked out at most once per COGMILL_HEALTH_CACHE_SECONDS per web
process (the worker ping alone takes up to a second) and says "error" without the details, which
go to the log.
"""

import logging
import time

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.http import JsonResponse

from cogmill.celery import app
from cogmill.redis import client
from playground.models import Worker

log = logging.getLogger(__name__)
_cache: dict[str, object] = {"at": None, "answer": None}


def _db() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception:
        log.warning("health: the database does not answer", exc_info=True)
        return "error"


def _redis() -> str:
    try:
        client().ping()
        return "ok"
    except Exception:
        log.warning("health: Redis does not answer", exc_info=True)
        return "error"


def _hardware() -> dict[str, int]:
    """How many live workers serve each hardware SKU (their own reports, in the database)."""
    served: dict[str, int] = {}
    try:
        for worker in Worker.objects.live():
            for sku in worker.hardware or []:
                served[sku] = served.get(sku, 0) + 1
    except Exception:
        return {}
    return dict(sorted(served.items()))


def _workers() -> int:
    try:
        return len(app.control.ping(timeout=1.0) or [])
    except Exception:
        return 0


async def healthz(request):
    at = _cache["at"]
    if at is None or time.monotonic() - at >= settings.COGMILL_HEALTH_CACHE_SECONDS:
        _cache["answer"], _cache["at"] = await _look(), time.monotonic()
    body, healthy = _cache["answer"]
    return JsonResponse(body, status=200 if healthy else 503)


async def _look() -> tuple[dict, bool]:
    db = await sync_to_async(_db)()
    redis_state = await sync_to_async(_redis, thread_sensitive=False)()
    workers = await sync_to_async(_workers, thread_sensitive=False)() if redis_state == "ok" else 0
    hardware = await sync_to_async(_hardware)() if db == "ok" else {}
    body = {"db": db, "redis": redis_state, "workers": workers, "hardware": hardware}
    return body, db == "ok" and redis_state == "ok" and workers > 0
