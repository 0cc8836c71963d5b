"""Process health (/healthz) and readiness (/readyz: the database and the cache answer)."""

from __future__ import annotations

import logging

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception:  # any driver error means "not ready"; the log has the detail
        logger.warning("readiness: database unavailable", exc_info=True)
        checks["database"] = "unavailable"
    try:
        cache.set("portal:readyz", "1", timeout=5)
        checks["cache"] = "ok" if cache.get("portal:readyz") == "1" else "unavailable"
    except Exception:
        logger.warning("readiness: cache unavailable", exc_info=True)
        checks["cache"] = "unavailable"
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", **checks}, status=200 if ready else 503)
