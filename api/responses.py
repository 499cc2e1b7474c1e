from typing import Any

from django.http import JsonResponse


def json_response(body: Any, status: int = 200, **headers) -> JsonResponse:
    return JsonResponse(body, status=status, safe=False, headers=headers or None)
