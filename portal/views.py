"""The portal's own pages outside the console: the landing page (/), the favicon, process health (/healthz)
and readiness (/readyz).

Readiness means "can serve the gateway". The database and the cache are checked; apps add their own
probes (the token gateway reports whether it holds warm state). With the database down a node that holds
warm gateway state still serves tokens, so it answers 200 "degraded" rather than being pulled from the load
balancer; without either it answers 503. A cache outage only degrades.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from functools import cache as once
from pathlib import Path

from django.core.cache import cache
from django.db import InterfaceError, OperationalError, connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from portal.api.problems import api_not_found, api_server_error, is_api_path
from portal.models import DEFAULT_ORGANIZATION, SANDBOX

logger = logging.getLogger(__name__)

# name -> probe returning True when that part of the process can serve without the database
_warm_probes: dict[str, Callable[[], bool]] = {}
# name -> probe returning the configuration version that part of the process serves (None: nothing yet)
_version_probes: dict[str, Callable[[], int | None]] = {}


def register_warm_probe(name: str, probe: Callable[[], bool]) -> None:
    """Let an app tell /readyz that it can serve from memory while the database is away."""
    _warm_probes[name] = probe


def register_version_probe(name: str, probe: Callable[[], int | None]) -> None:
    """Let an app tell /readyz which configuration version it serves, as ``<name>_version``: a test or a
    deployment script polls it to know when a change has reached this process, instead of sleeping."""
    _version_probes[name] = probe


FAVICON = Path(__file__).resolve().parent / "static" / "console" / "favicon.ico"


@require_GET
def landing(request: HttpRequest) -> HttpResponse:
    """``/``: what the portal is, and where its console, REST API docs, demo JWKS and health checks are.

    It reads nothing from the database, so it answers while the database is away.
    """
    return render(request, "landing.html", {"organization": DEFAULT_ORGANIZATION, "catalog": SANDBOX})


@once
def _favicon_bytes() -> bytes:
    return FAVICON.read_bytes()


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """``/favicon.ico``, which browsers ask for whatever the page says (``favicon.ico`` is a reserved slug)."""
    response = HttpResponse(_favicon_bytes(), content_type="image/x-icon")
    response["Cache-Control"] = "public, max-age=86400"
    return response


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # any driver error means "not available"; the log has the detail
        logger.warning("readiness: database unavailable", exc_info=True)
        return False
    return True


def _cache_ok() -> bool:
    try:
        cache.set("portal:readyz", "1", timeout=5)
        return cache.get("portal:readyz") == "1"
    except Exception:
        logger.warning("readiness: cache unavailable", exc_info=True)
        return False


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    database, shared_cache = _database_ok(), _cache_ok()
    warm = {name: probe() for name, probe in _warm_probes.items()}
    if database and shared_cache:
        status, code = "ok", 200
    elif database or (warm and all(warm.values())):
        status, code = "degraded", 200
    else:
        status, code = "unavailable", 503
    body = {
        "status": status,
        "database": "ok" if database else "unavailable",
        "cache": "ok" if shared_cache else "unavailable",
        **{name: "warm" if value else "cold" for name, value in warm.items()},
        **{f"{name}_version": probe() for name, probe in _version_probes.items()},
    }
    return JsonResponse(body, status=code)


@csrf_exempt  # it changes nothing; without this a POST to an unknown path got the CSRF failure page as HTML
def api_path_not_found(request: HttpRequest) -> HttpResponse:
    """Any /api/ path no REST API route matches: a problem document (never the gateway's answer)."""
    return api_not_found(request)


@csrf_exempt  # as api_path_not_found: a POST must get the 404 page, not the CSRF failure page
def reserved_path_not_found(request: HttpRequest) -> HttpResponse:
    """A path under a reserved first segment that no console route matches: the console's 404, never the
    gateway's view (which the console URLconf also includes, last)."""
    raise Http404(f"No page at {request.path}.")


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler404``: a problem document under /api/, Django's page elsewhere."""
    if is_api_path(request.path):
        return api_not_found(request)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: a database that cannot be reached is a 503 with a message, not an error of ours.

    Django calls this while it handles the exception, so ``sys.exc_info()`` holds it; that covers errors
    raised in middleware too (loading the session of a console user, say), not only in views.
    """
    error = sys.exc_info()[1]
    if is_api_path(request.path):
        return api_server_error(error)
    if isinstance(error, OperationalError | InterfaceError):
        logger.warning("database unavailable: %s %s", request.method, request.path)
        # Rendered without the request: its context processors would reach for the user, in the database.
        response = HttpResponse(loader.render_to_string("503.html"), status=503)
        response["Retry-After"] = "5"
        return response
    return defaults.server_error(request)
