"""Two Django handlers in one WSGI application: the console's full middleware stack, and a short one for
gateway calls.

A gateway call (``/{org}/{catalog}/...``) needs no session, user, messages, CSRF or clickjacking middleware:
it authenticates by client id and answers JSON or tokens. Skipping them saves about a third of Django's time
per call (README, "Benchmark"). Paths whose first segment the portal reserves (``/admin/``, ``/static/``,
``/healthz``...) go through the full stack, as every organization slug is refused if it is reserved.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.module_loading import import_string

from portal.models import RESERVED_ORGANIZATION_SLUGS

WSGIApplication = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class GatewayHandler(WSGIHandler):
    """A WSGI handler whose middleware is ``settings.GATEWAY_MIDDLEWARE`` (synchronous middleware only).

    It sets ``Content-Length`` itself, as CommonMiddleware does on the full stack, so that answers are not
    sent chunked.
    """

    def get_response(self, request: HttpRequest) -> HttpResponseBase:
        response = super().get_response(request)
        if not response.streaming and not response.has_header("Content-Length"):
            response.headers["Content-Length"] = str(len(response.content))  # type: ignore[attr-defined]
        return response

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []
        handler = convert_exception_to_response(self._get_response)  # type: ignore[attr-defined]  # not in the stubs
        for path in reversed(settings.GATEWAY_MIDDLEWARE):
            instance = import_string(path)(handler)
            if hasattr(instance, "process_view"):
                self._view_middleware.insert(0, instance.process_view)
            if hasattr(instance, "process_template_response"):
                self._template_response_middleware.append(instance.process_template_response)
            if hasattr(instance, "process_exception"):
                self._exception_middleware.append(instance.process_exception)
            handler = convert_exception_to_response(instance)
        self._middleware_chain = handler


def is_gateway_path(path: str) -> bool:
    first = path.lstrip("/").split("/", 1)[0]
    return bool(first) and first not in RESERVED_ORGANIZATION_SLUGS


def dispatching_application(
    console: WSGIApplication,
    gateway: WSGIApplication,
    *,
    is_gateway: Callable[[str], bool] = is_gateway_path,
) -> WSGIApplication:
    """One WSGI application: paths ``is_gateway`` accepts to ``gateway``, everything else to ``console``."""

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        target = gateway if is_gateway(environ.get("PATH_INFO", "/")) else console
        return target(environ, start_response)

    return application
