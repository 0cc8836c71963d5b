"""invoke: an HTTP call to a backend, through the egress guard (DESIGN.md section 3a).

Properties (APIC v10 names):

- ``target-url`` (required): the URL, ``$(name)`` allowed anywhere (an API property such as
  ``$(target-url)``, ``$(request.parameters.id)``...). A request parameter's value is percent-encoded where it
  lands, so ``/orders/$(request.parameters.id)`` cannot be turned into another path by the caller.
- ``verb``: ``keep`` (the request's verb, the default) or an HTTP verb.
- ``timeout``: seconds for the whole call, redirects and every read of the response included (default 60, at
  most ``INVOKE MAX_TIMEOUT_SECONDS``).
- ``tls-profile``: a TLS client profile (a key profile) enabled in the catalog, ``name`` or ``name:version``:
  its key and certificate for mutual TLS, its truststore to verify the backend.
- ``header-control``: ``{type: blocklist|allowlist, values: [regular expressions]}`` over the headers sent.
- ``username`` / ``password``: HTTP Basic credentials for the backend (``$(name)`` allowed, so a property
  can hold them); they replace an ``Authorization`` header from the request or ``message.headers``.
- ``inject-proxy-headers``: send the gateway's ``X-Forwarded-For``, ``-Host`` and ``-Proto``, once each
  (``Invoke._with_proxy_headers`` says what becomes of the caller's).
- ``output``: a variable to receive the response (``<output>.body``, ``<output>.headers``,
  ``<output>.status.code``, ``<output>.status.reason``, and ``<output>`` as one object); without it the
  response replaces ``message``, as in API Connect.
- ``stop-on-error``: error names; with ``OperationError``, a backend status of 400 or more raises it.
- ``cache-response`` (``protocol``, the default, ``no-cache``, ``time-to-live``), ``cache-ttl``, ``cache-key``:
  GET and HEAD responses kept per process as API Connect keeps them (``tokens.invoke_cache``).
- Transport settings real documents carry from the API Connect editor are accepted where the portal behaves
  the same way (``backend-type: detect|json``, ``persistent-connection``, ``chunked-uploads``,
  ``parameter-control``, ``http-version: HTTP/1.1``...)
  and refused naming the property where it would not (``websocket-upgrade: true``, ``compression: true``...).

What is sent: the request's headers (never ``Host``, ``Cookie``, the client secret, the console's trace token,
hop-by-hop headers, ``Accept-Encoding`` or the length, which the client computes) overlaid by ``message.headers``
set so far (a name that is not an HTTP field name is dropped and logged; a value outside Latin-1 goes as its UTF-8
bytes, ``egress.egress_request``), and ``message.body`` for a verb that carries one (an object or array as JSON); a
redirect to another origin drops the credentials among them (``egress.ORIGIN_BOUND``). What comes back: the status,
headers (hop-by-hop headers, ``Content-Length``, ``Content-Encoding`` and ``Set-Cookie`` left out) and the body,
parsed when its type says JSON, else bytes. A refused destination, a failed connection, TLS handshake or timeout,
or a response over the caps is APIC's ``ConnectionError`` (status 500), which a ``catch`` can handle.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
import ssl
import time
from typing import Any
from urllib.parse import quote, urlsplit

from django.conf import settings

from portal.gateway_http import header_value, is_header_name
from portal.untrusted import UntrustedTextError, json_loads
from tokens import egress, invoke_cache
from tokens.context import PATH_SAFE, REFERENCE, REQUEST_HEADERS, REQUEST_PARAMETERS, REQUEST_QUERY, Context
from tokens.errors import AssemblyError
from tokens.policies.base import (
    BAD_REQUEST_ERROR,
    BuildPolicies,
    CryptoResolver,
    Policy,
    PolicyKind,
    Properties,
    Property,
)
from tokens.trace import TRACE_HEADER

logger = logging.getLogger(__name__)

CONNECTION_ERROR = "ConnectionError"
OPERATION_ERROR = "OperationError"
VERBS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# RFC 9110 section 7.6.1 (hop-by-hop) and the headers the client library or the gateway owns.
_NOT_SENT = frozenset(
    {
        "host", "cookie", "content-length", "connection", "keep-alive", "proxy-connection", "proxy-authorization",
        "te", "trailer", "transfer-encoding", "upgrade", "expect", "x-ibm-client-secret",
        # The client's codings (br, zstd...) may be ones the portal cannot decode; the backend answers identity.
        "accept-encoding",
        # The console's signed trace token (tokens.trace) is the portal's own: a backend that held it could write
        # the Test page's trace records for a working day. X-Request-Id is sent: without the token it writes nothing.
        TRACE_HEADER.lower(),
    }
)  # fmt: skip
_PROXY_HEADERS = ("x-forwarded-for", "x-forwarded-host", "x-forwarded-proto")
_NOT_RETURNED = frozenset(
    {
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
        "content-length", "content-encoding", "set-cookie", "set-cookie2",
    }
)  # fmt: skip
_JSON_TYPE = re.compile(r"^application/(?:[\w.+-]+\+)?json\s*(?:;|$)", re.IGNORECASE)

# Settings of API Connect's invoke that change nothing here when they hold these values.
_ACCEPTED_AS: dict[str, set[Any]] = {
    "backend-type": {"detect", "json"},
    "http-version": {"HTTP/1.1"},
    "websocket-upgrade": {False},
    "http2-required": {False},
    "compression": {False},
    "use-http-10": {False},
    "graphql-send-type": {"detect", "json"},
}
_ACCEPTED_ANY = (
    "persistent-connection", "chunked-uploads", "cache-putpost-response",
    "decode-request-params", "encode-plus-char", "keep-payload", "parameter-control",
)  # fmt: skip
KIND = "invoke"
PROPERTIES: dict[str, Property] = {
    "target-url": Property(starts_new=True, new_value="$(target-url)"),
    "verb": Property("keep", starts_new=True, new_value="keep"),
    "timeout": Property(60, starts_new=True, new_value=60),
    "tls-profile": Property(),
    "header-control": Property(),
    "username": Property(),
    "password": Property(),
    "inject-proxy-headers": Property(False),
    "output": Property(),
    "stop-on-error": Property([]),
    **{name: Property() for name in (*_ACCEPTED_AS, *_ACCEPTED_ANY, *invoke_cache.PROPERTIES)},
}


class Invoke(Policy):
    """Calls a backend; see the module docstring."""

    kind = KIND

    def __init__(self, title: str, config: dict[str, Any], resolver: CryptoResolver) -> None:
        super().__init__(title)
        props = Properties(self.kind, title, config, PROPERTIES)
        target = props.string("target-url")
        if not target:
            props.fail("target-url", "is required: the backend URL, e.g. https://backend.example.com/$(request.path)")
        if "$(" not in target:
            if not re.match(r"^https?://", target, re.IGNORECASE):
                props.fail("target-url", f"must be an http or https URL, not {target!r}")
            try:
                urlsplit(target).port  # noqa: B018 - parsing is the check (an unclosed [ or a bad port)
            except ValueError as e:
                props.fail("target-url", f"is not a valid URL ({e})")
        self.target = target
        verb = (props.string("verb") or "keep").upper()
        if verb != "KEEP" and verb not in VERBS:
            props.fail("verb", f"must be keep or one of {', '.join(VERBS)}, not {verb!r}")
        self.verb = None if verb == "KEEP" else verb
        limit = egress.egress_settings().max_timeout_seconds
        self.timeout = props.integer("timeout", 1, limit) if "timeout" in props.config else min(60, limit)
        self.output = props.variable("output")
        self.username = props.string("username")
        self.password = props.string("password")
        if (self.username is None) != (self.password is None):
            props.fail("password" if self.password is None else "username", "goes with username and password both")
        self.proxy_headers = props.boolean("inject-proxy-headers")
        self.header_filter = _header_filter(props)
        stop = props.value("stop-on-error")
        if not isinstance(stop, list) or not all(isinstance(name, str) for name in stop):
            props.fail("stop-on-error", "must be a list of error names such as OperationError")
        self.stop_on_operation_error = OPERATION_ERROR in stop
        self.cache = invoke_cache.CacheRule.from_properties(props)
        for prop, accepted in _ACCEPTED_AS.items():
            value = props.config.get(prop)
            if value is not None and value not in accepted:
                shown = " or ".join(map(json.dumps, sorted(accepted, key=str)))
                props.fail(prop, f"the portal runs invoke only as {shown} here, not {value!r}")
        self.tls: ssl.SSLContext | None = None
        profile = props.string("tls-profile")
        if profile:
            catalog = getattr(resolver, "catalog", None)
            if catalog is None:
                props.fail("tls-profile", "TLS client profiles are resolved in a catalog; this compile has none")
            try:
                self.tls = egress.tls_profile_context(catalog=catalog, reference=profile)
            except LookupError as e:
                props.fail("tls-profile", str(e.args[0]) if e.args else str(e))

    def _failure(self, name: str, problem: str, status: int = 500, reason: str = "URL Open error") -> AssemblyError:
        return AssemblyError(name, f"invoke policy '{self.title}': {problem}.", status=status, reason=reason)

    def run(self, context: Context) -> None:
        """Call the backend. Raises AssemblyError ``ConnectionError`` when the call is refused or fails, and
        ``OperationError`` for a backend error status when ``stop-on-error`` names it."""
        try:
            url = _url(self.target, context)
        except DotSegment as e:
            raise AssemblyError(
                BAD_REQUEST_ERROR,
                f"invoke policy '{self.title}': {e}, which cannot stand in a URL's path.",
                status=400,
                reason="Bad Request",
            ) from e
        verb = self.verb or str(context.get("request.verb") or "GET")
        headers = self._headers(context)
        body = _body(context.get("message.body"), headers) if verb in _WITH_BODY else None
        call: dict[str, Any] = {"policy": self.title, "verb": verb, "url": url.split("?", 1)[0]}
        context.backend_calls.append(call)
        started = time.perf_counter()
        try:
            response, cached = self.cache.fetch(
                context,
                method=verb,
                url=url,
                headers=headers,
                tls=self.tls,
                call=lambda: egress.egress_request(
                    method=verb, url=url, headers=headers, body=body, timeout=self.timeout, tls=self.tls
                ),
            )
        except egress.EgressError as e:
            call.update(error=str(e), ms=round((time.perf_counter() - started) * 1000, 1))
            raise self._failure(CONNECTION_ERROR, str(e)) from e
        call.update(
            status=response.status, ms=round((time.perf_counter() - started) * 1000, 1), bytes=len(response.body)
        )
        if cached:
            call["cached"] = True
        message = _message(response)
        if self.output:
            context.set(self.output, message)
            context.set(f"{self.output}.body", message["body"])
            context.set(f"{self.output}.headers", message["headers"])
            context.set(f"{self.output}.status.code", response.status)
            context.set(f"{self.output}.status.reason", response.reason)
        else:
            context.message_headers.clear()
            for name, value in message["headers"].items():
                context.set(f"message.headers.{name}", value)
            context.set("message.body", message["body"])
            context.set("message.status.code", response.status)
            context.set("message.status.reason", response.reason)
        if self.stop_on_operation_error and response.status >= 400:
            raise self._failure(
                OPERATION_ERROR,
                f"the backend answered {response.status}",
                status=response.status,
                reason=response.reason,
            )

    def _headers(self, context: Context) -> dict[str, str]:
        sent: dict[str, str] = {}
        for name, value in context.request_headers.as_dict().items():
            if name not in _NOT_SENT:
                sent[name] = header_value(value)
        for original, value in context.message_headers.values():
            if original.lower() not in _NOT_SENT:
                sent = {k: v for k, v in sent.items() if k.lower() != original.lower()}
                sent[original] = value
        if self.header_filter is not None:
            keep, patterns = self.header_filter
            sent = {k: v for k, v in sent.items() if any(p.search(k) for p in patterns) == keep}
        if self.username is not None and self.password is not None:
            # The API's credentials replace the caller's: Authorization is not a list field, so it goes once
            # (RFC 9110 section 5.3); with two, a backend that reads the first would see the caller's.
            credentials = f"{_text(context, self.username)}:{_text(context, self.password)}".encode()
            sent = {k: v for k, v in sent.items() if k.lower() != "authorization"}
            sent["Authorization"] = "Basic " + base64.b64encode(credentials).decode("ascii")
        if self.proxy_headers:
            sent = self._with_proxy_headers(sent, context)
        for name in [name for name in sent if not is_header_name(name)]:
            # No HTTP client can send it (a script's `message.headers['X-A:']`, say). Dropped as the gateway drops
            # such a response header: the rest of the call is the API's, and the log names the header.
            logger.warning("invoke policy %r: dropped the header %r (not an HTTP field name)", self.title, name[:64])
            del sent[name]
        return sent

    def _with_proxy_headers(self, sent: dict[str, str], context: Context) -> dict[str, str]:
        """``sent`` with the gateway's own X-Forwarded-For, -Host and -Proto, each sent once.

        Host and Proto are what the gateway itself served (the scheme as gunicorn reports it, which believes a
        caller's X-Forwarded-Proto only from ``FORWARDED_ALLOW_IPS``): they replace the caller's. For: the
        address the call came from is appended to the list the call carried, as proxies do, when that list
        was written by load balancers the portal trusts (``PORTAL_TRUSTED_PROXIES``); otherwise the list is the
        caller's own claim and the address replaces it, so a backend reading the list never takes a caller's
        word for where it is."""
        environ = context.request_headers.environ or {}
        received = next((value for name, value in sent.items() if name.lower() == "x-forwarded-for"), "")
        address = str(environ.get("REMOTE_ADDR", ""))
        trusted = received.strip() != "" and settings.PORTAL_TRUSTED_PROXIES > 0
        sent = {name: value for name, value in sent.items() if name.lower() not in _PROXY_HEADERS}
        sent["X-Forwarded-For"] = f"{received}, {address}" if trusted else address
        sent["X-Forwarded-Host"] = str(environ.get("HTTP_HOST", ""))
        sent["X-Forwarded-Proto"] = str(environ.get("wsgi.url_scheme", "http"))
        return sent


def _header_filter(props: Properties) -> tuple[bool, tuple[re.Pattern[str], ...]] | None:
    """(keep the matches?, patterns), or None for no filter (API Connect's empty blocklist)."""
    control = props.config.get("header-control")
    if control is None:
        return None
    if not isinstance(control, dict) or control.get("type") not in ("blocklist", "allowlist"):
        props.fail("header-control", "must be {type: blocklist or allowlist, values: [regular expressions]}")
    values = control.get("values") or []
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        props.fail("header-control", "values must be a list of regular expressions")
    try:
        patterns = tuple(re.compile(value, re.IGNORECASE) for value in values)
    except re.error as e:
        props.fail("header-control", f"holds a pattern that is not a valid regular expression ({e})")
    if control["type"] == "blocklist" and not patterns:
        return None
    return control["type"] == "allowlist", patterns


def _text(context: Context, template: str) -> str:
    if "$(" not in template:
        return template
    value = context.interpolate(template)
    return value if isinstance(value, str) else json.dumps(value) if value is not None else ""


# Variables whose value the caller wrote, one value each: percent-encoded wherever they land in a URL.
_FROM_THE_CALLER = (REQUEST_PARAMETERS, REQUEST_HEADERS, REQUEST_QUERY)


class DotSegment(ValueError):
    """A request parameter whose value is ``.`` or ``..`` would land as a whole segment of the URL's path."""


def _url(template: str, context: Context) -> str:
    """The target URL with each ``$(name)`` replaced. A request parameter's, header's or query value is
    percent-encoded (it is one value from the caller: it must not add path segments, a query or a fragment);
    ``request.path`` keeps its slashes but is encoded otherwise (a ``?`` the caller sent encoded stays in the
    path). Raises DotSegment for such a value that is ``.`` or ``..`` in the path: percent-encoding leaves dots
    alone, and encoded or not (``%2E``, which many servers decode before resolving) such a segment would take
    the call to another path (RFC 3986 section 5.2.4). In the query it is only a value, and is sent as one."""
    query_starts = template.find("?")

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        value = context.get(name)
        text = "" if value is None else value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        if name == "request.path":
            return quote(text, safe=PATH_SAFE)
        if not name.startswith(_FROM_THE_CALLER):
            return text
        if text in (".", "..") and (query_starts == -1 or match.start() < query_starts):
            raise DotSegment(f"{name} is '{text}'")
        return quote(text, safe="")

    return REFERENCE.sub(replace, template)


def _body(value: Any, headers: dict[str, str]) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = "application/json"
    return json.dumps(value, separators=(",", ":")).encode()


def _message(response: egress.BackendResponse) -> dict[str, Any]:
    """The response as APIC's message: body (parsed when JSON), headers, status."""
    headers: dict[str, str] = {}
    for name, value in response.headers:
        if name.lower() in _NOT_RETURNED:
            continue
        existing = next((key for key in headers if key.lower() == name.lower()), None)
        if existing is not None:
            headers[existing] = f"{headers[existing]}, {value}"
        else:
            headers[name] = value
    body: Any = response.body
    content_type = response.header("content-type") or ""
    if body and _JSON_TYPE.match(content_type):
        # An API that says JSON and sends something else gets the bytes, as they came.
        with contextlib.suppress(UntrustedTextError):
            body = json_loads(body)
    elif not body:
        body = None
    return {"body": body, "headers": headers, "status": {"code": response.status, "reason": response.reason}}


class InvokeKind(PolicyKind):
    def summary(self, config: dict[str, Any]) -> str:
        verb = str(config.get("verb") or "keep")
        return f"{'the request verb' if verb == 'keep' else verb.upper()} {config.get('target-url') or '?'}"


def _compile(title: str, config: dict[str, Any], resolver: CryptoResolver, build: BuildPolicies) -> Policy:
    return Invoke(title, config, resolver)


POLICY = InvokeKind(kind=KIND, properties=PROPERTIES, compile=_compile)
