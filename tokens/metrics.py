"""The gateway's metrics (docs/metrics.md), served by ``portal.metrics`` at ``/metrics``.

Counted on the gateway's hot path by the policies themselves, through the ``TokenRecorder`` the gateway gives
each call's context (``api_token_recorder``): tokens minted and validated by API and outcome, and validation
failures by reason (the stable codes of ``JwtValidationFailed``: ``token_expired``, ``bad_signature``...). Each
API's labelled counters are looked up once, so a token costs one increment; the latency of every gateway answer
is the gateway handler's (``portal.metrics``). Counted per refresh of the warm state: how many, how long, and the
configuration version each process serves. Read from the database at scrape time: the days until each
certificate that a catalog serves expires.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from django.db import DatabaseError
from django.utils import timezone
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from keyprofiles.models import CryptoObject, KeyProfileBinding

if TYPE_CHECKING:
    from tokens.runtime import RefreshReport

logger = logging.getLogger(__name__)

TOKENS_MINTED = Counter(
    "portal_gateway_tokens_minted", "Tokens minted by jwt-generate, by API and outcome.", ["api", "outcome"]
)
TOKENS_VALIDATED = Counter(
    "portal_gateway_tokens_validated", "Tokens checked by jwt-validate, by API and outcome.", ["api", "outcome"]
)
VALIDATION_FAILURES = Counter(
    "portal_gateway_validation_failures", "Tokens jwt-validate refused, by API and reason.", ["api", "reason"]
)
REFRESHES = Counter("portal_gateway_refreshes", "Refreshes of a process's warm state, by what they did.", ["kind"])
REFRESH_DURATION = Histogram(
    "portal_gateway_refresh_duration_seconds",
    "Time to build or patch a process's warm state, in seconds (requests are served meanwhile).",
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
CONFIG_VERSION = Gauge(
    "portal_gateway_config_version",
    "The configuration version each process serves.",
    multiprocess_mode="liveall",
)

SUCCESS, FAILURE = "success", "failure"


class ApiTokenRecorder:
    """The ``TokenRecorder`` of one API (``tokens.policies.base``): its labelled counters, each looked up on its
    first use and kept (``Counter.labels`` costs a dictionary lookup under a lock; a token then costs only the
    increment). A series appears once it is first counted, as before."""

    __slots__ = ("_failures", "_minted", "_validated", "api")

    def __init__(self, api: str) -> None:
        self.api = api
        self._minted: dict[bool, Counter] = {}
        self._validated: dict[bool, Counter] = {}
        self._failures: dict[str, Counter] = {}

    def minted(self, ok: bool) -> None:
        counter = self._minted.get(ok)
        if counter is None:
            counter = self._minted[ok] = TOKENS_MINTED.labels(self.api, SUCCESS if ok else FAILURE)
        counter.inc()

    def validated(self, ok: bool, reason: str = "") -> None:
        counter = self._validated.get(ok)
        if counter is None:
            counter = self._validated[ok] = TOKENS_VALIDATED.labels(self.api, SUCCESS if ok else FAILURE)
        counter.inc()
        if not ok:
            failures = self._failures.get(reason)
            if failures is None:
                failures = self._failures[reason] = VALIDATION_FAILURES.labels(self.api, reason or "invalid_token")
            failures.inc()


# One recorder per API name served by this process: as many as prometheus-client keeps series for anyway.
_recorders: dict[str, ApiTokenRecorder] = {}


def api_token_recorder(api: str) -> ApiTokenRecorder:
    """The recorder counting the tokens of ``api`` (its name and version, as the metrics' ``api`` label)."""
    recorder = _recorders.get(api)
    if recorder is None:
        recorder = _recorders.setdefault(api, ApiTokenRecorder(api))
    return recorder


class CertificateExpiry:
    """``portal_certificate_expiry_days`` for every certificate a catalog serves (a crypto object whose
    profile version is not retired), read with one query at scrape time."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "portal_certificate_expiry_days",
            "Days until the certificate behind a crypto object expires (negative: expired).",
            labels=["organization", "catalog", "crypto_object"],
        )
        now = timezone.now()
        served = (
            CryptoObject.objects.exclude(binding__state=KeyProfileBinding.State.RETIRED)
            .select_related("keystore", "trusted_certificate", "binding__catalog__organization")
            .order_by("name")
        )
        try:
            crypto_objects = list(served)
        except DatabaseError:  # the other metrics still answer: they are what an outage is diagnosed with
            logger.warning("metrics: certificate expiry unreadable (database unavailable)", exc_info=True)
            crypto_objects = []
        for crypto_object in crypto_objects:
            certificate = crypto_object.certificate
            if certificate is None or certificate.not_after is None:
                continue
            catalog = crypto_object.binding.catalog
            days = (certificate.not_after - now).total_seconds() / 86400
            family.add_metric([catalog.organization.slug, catalog.slug, crypto_object.name], round(days, 2))
        yield family


def certificate_expiry() -> Collector:
    return CertificateExpiry()


def record_refresh(report: RefreshReport) -> None:
    """A refresh listener (``Gateway.on_refresh``): count it, time it, and show the version now served."""
    kind = "cold" if report.cold else ("rebuild" if report.rebuilt else "patch")
    REFRESHES.labels(kind).inc()
    REFRESH_DURATION.observe(report.seconds)
    CONFIG_VERSION.set(report.version)
