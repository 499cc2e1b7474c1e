from asgiref.sync import sync_to_async
from django.db import connection
from django.http import JsonResponse

from cogmill.celery import app
from cogmill.redis import client
from playground.models import Worker


def _db() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as exc:
        return f"error: {exc}"


def _redis() -> str:
    try:
        client().ping()
        return "ok"
    except Exception as exc:
        return f"error: {exc}"


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
    db = await sync_to_async(_db)()
    redis_state = await sync_to_async(_redis, thread_sensitive=False)()
    workers = await sync_to_async(_workers, thread_sensitive=False)() if redis_state == "ok" else 0
    hardware = await sync_to_async(_hardware)() if db == "ok" else {}
    body = {"db": db, "redis": redis_state, "workers": workers, "hardware": hardware}
    healthy = db == "ok" and redis_state == "ok" and workers > 0
    return JsonResponse(body, status=200 if healthy else 503)
