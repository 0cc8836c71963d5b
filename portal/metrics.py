"""Prometheus metrics at ``/metrics`` (text exposition format), for operators (issue 14; docs/metrics.md).

Every app defines its metrics with prometheus-client where it measures them (``tokens.metrics``); this
module serves them. Under gunicorn each worker is a process with its own counters: with
``PROMETHEUS_MULTIPROC_DIR`` set (before the portal starts), prometheus-client writes them to files in that
directory and a scrape of any worker adds up every worker's (its multiprocess mode). Metrics that are read
from the database at scrape time (certificate expiry) are registered as collectors with
``register_collector``, and run in the scraped process only.

The endpoint is off (404) unless ``PORTAL_METRICS_TOKEN`` is set; a scrape then sends it as a bearer token.
Metrics carry no secret, but API names, versions and key expiry dates are not for everyone.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, Histogram, generate_latest, multiprocess
from prometheus_client.core import REGISTRY
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

GATEWAY_LATENCY = Histogram(
    "portal_gateway_request_duration_seconds",
    "Time to answer a gateway call (routed, JWKS or refused) in the gateway's handler, in seconds.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)

# Made once per scrape (a collector here runs in the scraped process only, and may query the database).
_collectors: list[Callable[[], Collector]] = []


def register_collector(factory: Callable[[], Collector]) -> None:
    """Add a collector made afresh for each scrape (``factory()``), e.g. one reading the database."""
    _collectors.append(factory)


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def exposition() -> bytes:
    """Every metric of this process, or of every worker when ``PROMETHEUS_MULTIPROC_DIR`` is set."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_Default())
    for factory in _collectors:
        registry.register(factory())
    return generate_latest(registry)


class _Default:
    """The process's own registry (metrics defined with prometheus-client's defaults register there)."""

    def collect(self):  # type: ignore[no-untyped-def]
        return REGISTRY.collect()


def _authorized(request: HttpRequest, token: str) -> bool:
    scheme, _, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """``/metrics``: 404 when ``PORTAL_METRICS_TOKEN`` is not set; 401 without that bearer token."""
    token = settings.PORTAL_METRICS_TOKEN
    if not token:
        raise Http404("Metrics are off: set PORTAL_METRICS_TOKEN to serve them.")
    if not _authorized(request, token):
        response = HttpResponse("Send the metrics token as 'Authorization: Bearer <token>'.\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        response["Content-Type"] = "text/plain; charset=utf-8"
        return response
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
