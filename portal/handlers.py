"""Two Django handlers in one WSGI application: the console's full middleware stack, and the gateway's own
handler, which runs no middleware.

A gateway call (``/{org}/{catalog}/...``) needs no session, user, messages, CSRF or clickjacking middleware:
it authenticates by client id and answers JSON or tokens. Skipping them saves about a third of Django's time
per call (README, "Benchmark"); the little a gateway answer needs of the rest (the request id, the HTTPS
redirect and HSTS in production), the gateway's handler does in its own path, without a middleware chain
(issue 16). Paths whose first segment the portal reserves (``/admin/``, ``/static/``,
``/healthz``...) go through the full stack, as every organization slug is refused if it is reserved.

The gateway's handler is also where its answers are isolated from the console (DESIGN.md section 6,
``portal.gateway_http``): it resolves only the gateway's URLconf, answers every error of its own (no route,
a malformed request, an unexpected exception) in the gateway's JSON shape and never with Django's HTML or
debug pages, and puts the isolation headers on every answer. With ``PORTAL_GATEWAY_HOSTS`` set, the gateway
is served on those host names only and the console never is (README, "Running in production").
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from functools import wraps
from typing import Any

from django.conf import settings
from django.core import signals
from django.core.exceptions import (
    BadRequest,
    DisallowedHost,
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
)
from django.core.handlers.wsgi import WSGIHandler
from django.http import Http404, HttpRequest, HttpResponse, HttpResponsePermanentRedirect, UnreadablePostError
from django.http.multipartparser import MultiPartParserError
from django.http.request import split_domain_port
from django.http.response import HttpResponseBase
from django.urls import set_urlconf
from django.utils.module_loading import import_string

from portal.gateway_http import gateway_error, isolate
from portal.gateway_log import log_call
from portal.metrics import GATEWAY_LATENCY
from portal.middleware import REQUEST_ID_HEADER, request_id_for
from portal.models import RESERVED_ORGANIZATION_SLUGS

WSGIApplication = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
GetResponse = Callable[[HttpRequest], HttpResponseBase]

logger = logging.getLogger(__name__)
# The gateway's line per call (portal/gateway_log.py); its level is tokens.gateway's (GATEWAY_LOG_LEVEL).
call_logger = logging.getLogger("tokens.gateway.calls")
# Load balancers probe these on every node by address; they answer JSON on any host name.
HEALTH_PATHS = frozenset({"/healthz", "/readyz"})


class GatewayHandler(WSGIHandler):
    """A WSGI handler for gateway calls: what a gateway answer needs, in its own path, then the URLconf
    ``settings.GATEWAY_URLCONF`` behind the middleware of ``settings.GATEWAY_MIDDLEWARE`` (none by default;
    synchronous only). Every answer is the gateway's, and gets, in this path rather than from middleware:

    * the request id (``portal.middleware.request_id_for``): ``request.request_id``, echoed in ``X-Request-Id``;
    * what Django's SecurityMiddleware gives the console, read from the same settings once, when the handler
      is made: the permanent redirect of plain HTTP to HTTPS (``SECURE_SSL_REDIRECT``, ``SECURE_SSL_HOST``,
      ``SECURE_REDIRECT_EXEMPT``; HTTPS as ``SECURE_PROXY_SSL_HEADER`` says, behind the load balancer), HSTS
      on secure requests, ``Referrer-Policy`` and ``Cross-Origin-Opener-Policy``;
    * the isolation headers (``portal.gateway_http.SECURITY_HEADERS``);
    * ``Content-Length``, as CommonMiddleware sets it on the full stack, so that answers are not chunked;
    * one line in the gateway's call log (``portal.gateway_log``, logger ``tokens.gateway.calls``), whatever
      the answer: a routed call, a JWKS, a refusal, a malformed request or an unexpected error.

    It does not log each 4xx as Django's handler does (``django.request`` would log the request, query
    string included, where a caller may have put a secret).
    """

    def get_response(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        request.request_id = request_id_for(request.META)  # type: ignore[attr-defined]
        refusal = gateway_refusal(request.META)
        response: HttpResponseBase
        if refusal is not None:
            response = gateway_error(404, refusal)
        else:
            request.urlconf = settings.GATEWAY_URLCONF  # type: ignore[attr-defined]  # Django reads it if set
            set_urlconf(settings.GATEWAY_URLCONF)
            response = self._gateway_chain(request)
            response._resource_closers.append(request.close)  # type: ignore[attr-defined]  # as Django does
        if not response.streaming and not response.has_header("Content-Length"):
            response.headers["Content-Length"] = str(len(response.content))  # type: ignore[attr-defined]
        self._add_headers(request, response)
        GATEWAY_LATENCY.observe(time.perf_counter() - started)
        if call_logger.isEnabledFor(logging.INFO):
            match = request.resolver_match
            log_call(
                call_logger,
                request_id=request.request_id,  # type: ignore[attr-defined]
                organization=match.kwargs.get("organization", "") if match else "",
                catalog=match.kwargs.get("catalog", "") if match else "",
                api=getattr(request, "gateway_api", ""),
                method=request.method or "",
                path=request.path,
                status=response.status_code,
                latency_ms=round((time.perf_counter() - started) * 1000, 2),
            )
        return response

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []
        handler = gateway_exception_to_response(self._get_response)  # type: ignore[attr-defined]  # not in the stubs
        for path in reversed(settings.GATEWAY_MIDDLEWARE):
            instance = import_string(path)(handler)
            if hasattr(instance, "process_view"):
                self._view_middleware.insert(0, instance.process_view)
            if hasattr(instance, "process_template_response"):
                self._template_response_middleware.append(instance.process_template_response)
            if hasattr(instance, "process_exception"):
                self._exception_middleware.append(instance.process_exception)
            handler = gateway_exception_to_response(instance)
        self._middleware_chain = handler
        self._gateway_chain = gateway_exception_to_response(self._redirect_or_answer)
        self._load_security_settings()

    def _load_security_settings(self) -> None:
        """Read once what SecurityMiddleware reads at its start, and shape the headers every answer gets."""
        self._ssl_redirect = bool(settings.SECURE_SSL_REDIRECT)
        self._ssl_host = settings.SECURE_SSL_HOST
        self._redirect_exempt = [re.compile(pattern) for pattern in settings.SECURE_REDIRECT_EXEMPT]
        self._hsts = ""
        if settings.SECURE_HSTS_SECONDS:
            self._hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
            if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
                self._hsts += "; includeSubDomains"
            if settings.SECURE_HSTS_PRELOAD:
                self._hsts += "; preload"
        headers: dict[str, str] = {}
        policy = settings.SECURE_REFERRER_POLICY
        if policy:
            values = policy.split(",") if isinstance(policy, str) else policy
            headers["Referrer-Policy"] = ",".join(value.strip() for value in values)
        if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
            headers["Cross-Origin-Opener-Policy"] = settings.SECURE_CROSS_ORIGIN_OPENER_POLICY
        self._static_headers = headers

    def _redirect_or_answer(self, request: HttpRequest) -> HttpResponseBase:
        """SecurityMiddleware's redirect of plain HTTP to HTTPS when configured, else the routed answer."""
        if self._ssl_redirect and not request.is_secure():
            path = request.path.lstrip("/")
            if not any(pattern.search(path) for pattern in self._redirect_exempt):
                host = self._ssl_host or request.get_host()  # DisallowedHost: a 400 in the gateway's shape
                return HttpResponsePermanentRedirect(f"https://{host}{request.get_full_path()}")
        return self._middleware_chain(request)

    def _add_headers(self, request: HttpRequest, response: HttpResponseBase) -> None:
        headers = response.headers
        for name, value in self._static_headers.items():
            headers[name] = value
        isolate(response)
        if self._hsts and request.is_secure():
            headers["Strict-Transport-Security"] = self._hsts
        headers[REQUEST_ID_HEADER] = request.request_id  # type: ignore[attr-defined]


def gateway_exception_to_response(get_response: GetResponse) -> GetResponse:
    """Wrap one layer of the gateway's stack so that an exception becomes a gateway answer, as Django's
    ``convert_exception_to_response`` does for the console, but never an HTML or debug page (whatever
    DEBUG says: the debug page shows frame locals, which may hold a key or a secret)."""

    @wraps(get_response)
    def inner(request: HttpRequest) -> HttpResponseBase:
        try:
            return get_response(request)
        except Exception as error:  # every exception becomes an answer, as on Django's own stack
            return gateway_exception_response(request, error)

    return inner


def gateway_exception_response(request: HttpRequest, error: Exception) -> HttpResponse:
    """The gateway's answer to an exception: 404, 403, 413 or 400 for what the request did wrong (each with
    a message naming it), else 500, logged with its traceback, the path (never the query string) and the
    request id."""
    if isinstance(error, Http404):
        return gateway_error(404, f"No API is published at {request.path}.")
    if isinstance(error, PermissionDenied):
        return gateway_error(403, "This call is not allowed.")
    if isinstance(error, RequestDataTooBig):
        return gateway_error(413, "The request body is too large.")
    if isinstance(error, SuspiciousOperation | BadRequest | MultiPartParserError | UnreadablePostError):
        logging.getLogger(f"django.security.{type(error).__name__}").warning(
            "gateway: refused a malformed request to %s", request.path
        )
        return gateway_error(400, _bad_request_message(error))
    request_id = getattr(request, "request_id", "")
    signals.got_request_exception.send(sender=GatewayHandler, request=request)
    logger.error(
        "gateway: unexpected error answering %s %s",
        request.method,
        request.path,
        exc_info=error,
        extra={"request_id": request_id},
    )
    return gateway_error(500, f"The gateway could not answer this call (request id {request_id or 'unknown'}).")


def _bad_request_message(error: Exception) -> str:
    if isinstance(error, TooManyFieldsSent):
        return "The request has too many query or form parameters."
    if isinstance(error, DisallowedHost):
        return "The request's host name is not served here."
    if isinstance(error, UnreadablePostError):
        return "The request body could not be read."
    return "The request is malformed."


def request_host(environ: Mapping[str, Any]) -> str:
    """The host name a request was sent to, read as ``HttpRequest.get_host`` reads it (``X-Forwarded-Host``
    when ``USE_X_FORWARDED_HOST``, else ``Host``, else the server name): lower case, without port or
    trailing dot; empty when malformed. Not checked against ALLOWED_HOSTS."""
    if settings.USE_X_FORWARDED_HOST and "HTTP_X_FORWARDED_HOST" in environ:
        raw = environ["HTTP_X_FORWARDED_HOST"]
    else:
        raw = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
    return str(split_domain_port(str(raw))[0])


def gateway_refusal(environ: Mapping[str, Any]) -> str | None:
    """Why the gateway's handler must answer 404 without routing, or None: with ``PORTAL_GATEWAY_HOSTS``
    set, a gateway path on another host name, or a console path on a gateway host name."""
    hosts = settings.PORTAL_GATEWAY_HOSTS
    if not hosts:
        return None
    path = environ.get("PATH_INFO", "/")
    if request_host(environ) not in hosts:
        return "The gateway is not served on this host name."
    if not is_gateway_path(path):
        return f"No API is published at {path}."
    return None


def is_gateway_path(path: str) -> bool:
    first = path.lstrip("/").split("/", 1)[0]
    return bool(first) and first not in RESERVED_ORGANIZATION_SLUGS


def dispatching_application(
    console: WSGIApplication,
    gateway: WSGIApplication,
    *,
    is_gateway: Callable[[str], bool] = is_gateway_path,
) -> WSGIApplication:
    """One WSGI application: paths ``is_gateway`` accepts to ``gateway``, everything else to ``console``.

    With ``PORTAL_GATEWAY_HOSTS`` set, every path on those host names but the health checks goes to
    ``gateway`` too, where ``gateway_refusal`` answers 404 for console paths, and for gateway paths on other
    host names: the console is never served on the gateway's host names, nor the gateway on the console's.
    """

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        to_gateway = is_gateway(path)
        if not to_gateway and settings.PORTAL_GATEWAY_HOSTS and path not in HEALTH_PATHS:
            to_gateway = request_host(environ) in settings.PORTAL_GATEWAY_HOSTS
        return (gateway if to_gateway else console)(environ, start_response)

    return application
