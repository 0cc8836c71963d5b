"""The gateway and the JWKS endpoint: HTTP in, a context for the assembly, HTTP out (DESIGN.md section 4)."""

from __future__ import annotations

import json
import logging
from typing import Any

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from portal.gateway_http import (
    DEFAULT_BODY_CONTENT_TYPE,
    SUBRESOURCE_DESTINATIONS,
    gateway_error,
    header_value,
    is_allowed_header_value,
    is_forbidden_header,
    is_header_name,
)
from portal.untrusted import well_formed
from tokens.conf import tokens_settings
from tokens.context import Context, http_status
from tokens.documents import CLIENT_ID_HEADER, CLIENT_SECRET_HEADER
from tokens.errors import AssemblyError
from tokens.metrics import api_token_recorder
from tokens.runtime import NO_APP, CatalogState, gateway
from tokens.trace import TRACE_HEADER

logger = logging.getLogger("tokens.gateway")

CLIENT_ID_META = "HTTP_" + CLIENT_ID_HEADER.upper().replace("-", "_")
CLIENT_SECRET_META = "HTTP_" + CLIENT_SECRET_HEADER.upper().replace("-", "_")
TRACE_META = "HTTP_" + TRACE_HEADER.upper().replace("-", "_")  # a console test call (tokens.trace)
SECRET_IN_QUERY = (
    f"Send the client secret in the {CLIENT_SECRET_HEADER} header, never in the query string: "
    "URLs are kept in logs, proxies and browser history."
)


def _catalog_state(organization: str, catalog: str) -> CatalogState | HttpResponse:
    try:
        state = gateway.catalog_state(organization, catalog)
    except DatabaseError:
        logger.warning("gateway: database unavailable while loading %s/%s", organization, catalog, exc_info=True)
        return gateway_error(503, "The configuration store is unavailable; try again shortly.")
    if state is None:
        return gateway_error(404, f"No catalog {organization}/{catalog}.")
    return state


@csrf_exempt
def jwks(request: HttpRequest, organization: str, catalog: str) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return gateway_error(405, "The JWKS answers GET only.", headers={"Allow": "GET, HEAD"})
    state = _catalog_state(organization, catalog)
    if isinstance(state, HttpResponse):
        return state
    response = HttpResponse(state.jwks, content_type="application/jwk-set+json")
    response["Cache-Control"] = f"public, max-age={tokens_settings.JWKS_MAX_AGE}"
    return response


@csrf_exempt
def gateway_call(request: HttpRequest, organization: str, catalog: str, path: str) -> HttpResponse:
    """A call to a published API: its assembly's answer, or the gateway's JSON error. The gateway's handler
    logs one line per call (portal/gateway_log.py); this view names the API in ``request.gateway_api``."""
    return _call(request, organization, catalog, "/" + path)


def _call(request: HttpRequest, organization: str, catalog: str, path: str) -> HttpResponse:
    if request.META.get("HTTP_SEC_FETCH_DEST") in SUBRESOURCE_DESTINATIONS:
        return gateway_error(403, "A browser may not load a gateway answer as a script, style sheet or worker.")
    state = _catalog_state(organization, catalog)
    if isinstance(state, HttpResponse):
        return state
    found = state.route_for(path)
    if found is None:
        return gateway_error(404, f"No API is published at {path} in {organization}/{catalog}.")
    route, operation_path = found
    request.gateway_api = route.api  # type: ignore[attr-defined]  # the call's log line names it
    verb = (request.method or "GET").upper()
    operation, allowed = route.match(operation_path, verb)
    if operation is None:
        if not allowed:
            return gateway_error(404, f"{route.api} has no operation at {operation_path}.")
        return gateway_error(
            405,
            f"{operation_path} answers {', '.join(sorted(set(allowed)))}.",
            headers={"Allow": ", ".join(sorted(set(allowed)))},
        )
    # A secret in the URL is refused whether or not the API asks for one (DESIGN.md section 4). The query
    # string is parsed only when there is one (percent-encoded names too: client%5Fsecret).
    query = request.GET if request.META.get("QUERY_STRING") else None  # a QueryDict costs ~3 µs, even empty
    if query is not None and "client_secret" in query:
        return gateway_error(400, SECRET_IN_QUERY)
    # META, not request.headers: that would parse every header of every call.
    client_id = request.META.get(CLIENT_ID_META) or request.GET.get("client_id")
    client_secret = request.META.get(CLIENT_SECRET_META)
    app = state.client_allowed(route, client_id, client_secret)
    if app is None:
        return gateway_error(401, "Invalid client id or secret.")
    body = _request_body(request)
    if isinstance(body, HttpResponse):
        return body
    context = Context(verb=verb, path=operation_path, environ=request.META, query=query, body=body)
    context.set("api.operation", operation)
    if app is not NO_APP:
        context.client_app = app  # client.app.id and client.app.name, set by the API's scope
    context.recorder = api_token_recorder(route.api)  # the metrics of the tokens its policies mint or check
    try:
        if TRACE_META in request.META:
            route.assembly.run_traced(context)
        else:
            route.assembly.run(context)
    except AssemblyError as e:
        return gateway_error(e.status, e.message, headers=e.headers, reason=e.reason)
    response = _response_from(context)
    if route.deprecated:
        response["Deprecation"] = "true"
    return response


def _request_body(request: HttpRequest) -> bytes | HttpResponse:
    """The request body, or a 400/413 answer. The declared length is checked before anything is read."""
    declared = request.META.get("CONTENT_LENGTH")
    if not declared or declared == "0":  # most calls (GET): nothing to check or read
        return b""
    if not (declared.isascii() and declared.isdigit()):
        return gateway_error(400, "The Content-Length header is not a number.")
    limit = tokens_settings.MAX_BODY_BYTES
    if int(declared) > limit:
        return gateway_error(413, f"The request body is larger than {limit} bytes.")
    return request.body


# RFC 9110 sections 15.3.5 and 15.4.5: these answers carry no content; bytes sent anyway would be read as
# the start of the next answer on a kept-alive connection.
_WITHOUT_CONTENT = frozenset({204, 304})


def _response_from(context: Context) -> HttpResponse:
    code = context.get("message.status.code")
    status = http_status(code)
    if status is None or status < 200:
        # An informational (1xx) status is never a final answer: a client would read it as interim (and keep
        # waiting) or as a protocol switch (RFC 9110 section 15.2).
        shown = repr(code) if len(repr(code)) <= 40 else repr(code)[:37] + "..."
        what = "an HTTP status code" if status is None else "a final HTTP status code (1xx are interim)"
        logger.warning("gateway: an assembly set message.status.code to %s", shown)
        return gateway_error(500, f"The API set message.status.code to {shown}, which is not {what}.")
    reason = context.get("message.status.reason")
    if reason == "OK" and status != 200:
        reason = None  # the context's default: a status set without its reason gets its own phrase
    body: Any = context.get("message.body")
    if status in _WITHOUT_CONTENT:
        body = None
    content_type = context.get("message.headers.content-type")
    if isinstance(body, dict | list | bool | int | float):
        payload = json.dumps(body).encode()
        content_type = content_type or "application/json"
    elif isinstance(body, bytes):
        # Bytes of unknown type (the request body echoed back, say) are never rendered (DESIGN.md section 6).
        payload = body
        content_type = content_type or DEFAULT_BODY_CONTENT_TYPE
    elif body is None:
        payload = b""
    else:
        payload = well_formed(str(body)).encode()
        content_type = content_type or "text/plain; charset=utf-8"
    response = HttpResponse(
        payload,
        status=status,
        content_type=content_type,
        reason=header_value(str(reason))[:128] if reason and status != 200 else None,
    )
    if not payload and content_type is None:
        del response["Content-Type"]
    for original, value in context.message_headers.values():
        if original.lower() == "content-type":
            continue
        if (
            not is_header_name(original)
            or is_forbidden_header(original)
            or not is_allowed_header_value(original, value)
        ):
            # Dropped, not fatal: the rest of the answer is the API's; the log says which header and why.
            logger.warning("gateway: dropped the response header %r an assembly set (not allowed)", original[:64])
            continue
        response[original] = value
    response["Cache-Control"] = "no-store"
    return response
