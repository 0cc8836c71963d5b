"""A request id on every request and response, for correlating logs across the load balancer and nodes."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from django.http import HttpRequest, HttpResponse

REQUEST_ID_HEADER = "X-Request-Id"
_ACCEPTABLE = re.compile(r"^[A-Za-z0-9._-]{8,64}\Z")


class RequestIdMiddleware:
    """Takes a well-formed ``X-Request-Id`` from the caller (a load balancer's) or makes one; echoes it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_for(request.META)
        request.request_id = request_id  # type: ignore[attr-defined]
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response


def request_id_for(meta: Mapping[str, Any]) -> str:
    """The caller's ``X-Request-Id`` when well formed (8 to 64 of letters, digits, ``.``, ``_``, ``-``), else a
    new random one. The gateway's handler (portal/handlers.py) gives its calls the same id, without this
    middleware."""
    given = meta.get("HTTP_X_REQUEST_ID", "")  # not request.headers: that parses every header
    return given if _ACCEPTABLE.match(given) else uuid.uuid4().hex
