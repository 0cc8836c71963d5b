"""What every gateway answer shares: the JSON error shape (DESIGN.md section 4) and the isolation headers
(DESIGN.md section 6).

The gateway serves what operators publish, and by default on the console's origin: a published API that
answered ``text/html`` with a script could act with a logged-in administrator's session (issue 9). So every
gateway answer forbids the browser to sniff a type (``nosniff``) and to run anything at all
(``default-src 'none'; sandbox``: an opaque origin, no script, no plugin, no form), whatever its type; and
an assembly may not set the headers that would undo that, or that speak for the portal's origin (cookies,
CORS credentials, HSTS...). ``portal.handlers.GatewayHandler`` applies the headers once per answer, to
every answer of the gateway's handler (views, its own errors, and middleware answers alike).

This module lives in ``portal`` because the gateway's WSGI handler does, and ``portal`` never imports
``tokens`` (DESIGN.md section 5); ``tokens.views`` builds its answers with it.
"""

from __future__ import annotations

import json
import re
from http import HTTPStatus

from django.http import HttpResponse
from django.http.response import HttpResponseBase

from portal.untrusted import well_formed

GATEWAY_CONTENT_SECURITY_POLICY = "default-src 'none'; sandbox"
SECURITY_HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": GATEWAY_CONTENT_SECURITY_POLICY,
}
# A body whose type the assembly did not declare is opaque bytes: a browser downloads it, never renders it.
DEFAULT_BODY_CONTENT_TYPE = "application/octet-stream"

# Response headers an assembly may never set (lower-case names). Framing and hop-by-hop headers are the
# server's; the rest speak for the whole origin or would undo the isolation above:
FORBIDDEN_RESPONSE_HEADERS = frozenset(
    {
        # framing, hop by hop (RFC 9110 section 7.6.1)
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "proxy-connection",
        "upgrade",
        "te",
        "trailer",
        # cookies and site state of the portal's origin
        "set-cookie",
        "set-cookie2",
        "clear-site-data",
        # the isolation itself, and the other document-security headers
        "content-security-policy",
        "content-security-policy-report-only",
        "x-content-type-options",
        "x-frame-options",
        "x-xss-protection",
        "strict-transport-security",
        "cross-origin-opener-policy",
        "cross-origin-embedder-policy",
        "cross-origin-resource-policy",
        "origin-agent-cluster",
        "permissions-policy",
        "feature-policy",
        "referrer-policy",
        "x-permitted-cross-domain-policies",
        "refresh",
        # credentialed CORS: would let any site read answers made with the console's cookies.
        # Access-Control-Allow-Origin alone stays allowed: without credentials it exposes only what a
        # client id already gets, and published APIs legitimately answer CORS.
        "access-control-allow-credentials",
    }
)
MAX_HEADER_VALUE_CHARS = 8192
# RFC 9110 section 5.6.2: a field name is a token.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # with fullmatch: "$" would also match before a final newline
# Every C0 control character and DEL: \r and \n would split the answer; \x00, \x0b, \x0c and the rest are
# refused or misread by some clients and proxies (RFC 9110 section 5.5 allows none of them in a value).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_CONTROL_BYTES = bytes(range(0x20)) + b"\x7f"


def is_header_name(name: str) -> bool:
    """True when ``name`` is a valid HTTP field name (an RFC 9110 token)."""
    return bool(_TOKEN.fullmatch(name))


# A challenge a browser answers with its own password prompt, on the portal's origin: an operator's API could
# phish the console's users with it (QA review). Bearer challenges (RFC 6750) prompt nothing.
_PROMPTING_CHALLENGE = re.compile(r"(?:^|,)\s*(?:basic|digest|negotiate|ntlm)\b", re.IGNORECASE)
# Fetch Metadata (W3C): what a browser is loading the answer as. A gateway answer is never a script, style sheet,
# worker or stylesheet transform of a page: refusing those keeps an operator's API from becoming script the
# console's `script-src 'self'` would trust.
SUBRESOURCE_DESTINATIONS = frozenset(
    {"script", "style", "worker", "sharedworker", "serviceworker", "audioworklet", "paintworklet", "xslt"}
)


def is_allowed_header_value(name: str, value: str) -> bool:
    """False for a header value an assembly may not send: a ``WWW-Authenticate`` challenge that would make a
    browser prompt for a password (Basic, Digest, Negotiate, NTLM)."""
    return name.lower() != "www-authenticate" or not _PROMPTING_CHALLENGE.search(value)


def is_forbidden_header(name: str) -> bool:
    """True when an assembly may not set the response header ``name`` (any case)."""
    return name.lower() in FORBIDDEN_RESPONSE_HEADERS


def header_value(text: str) -> str:
    """``text`` made safe as one header value: each run of control characters becomes one space, and the
    value is cut at ``MAX_HEADER_VALUE_CHARS``."""
    # The usual value (a token, a media type) is ASCII without control characters: found so by deleting them from
    # its bytes in one pass, several times faster than the substitution (or str.isprintable) over a long token.
    if text.isascii() and len(text.encode("ascii").translate(None, _CONTROL_BYTES)) == len(text):
        return text[:MAX_HEADER_VALUE_CHARS]
    return _CONTROL.sub(" ", well_formed(text))[:MAX_HEADER_VALUE_CHARS]


def isolate(response: HttpResponseBase) -> HttpResponseBase:
    """Put the isolation headers on ``response`` (replacing any) and return it."""
    headers = response.headers
    for name, value in SECURITY_HEADERS.items():
        headers[name] = value
    return response


def status_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def gateway_error(
    status: int, message: str, *, headers: dict[str, str] | None = None, reason: str = ""
) -> HttpResponse:
    """An answer in the gateway's JSON shape, e.g. {"httpCode": "401", "httpMessage": "Unauthorized", ...},
    with ``Cache-Control: no-store``. ``reason`` (the status line's phrase) and ``headers`` are cleaned of
    control characters."""
    phrase = header_value(reason)[:128] if reason else status_phrase(status)
    body = {"httpCode": str(status), "httpMessage": phrase, "moreInformation": message}
    response = HttpResponse(json.dumps(body), status=status, content_type="application/json", reason=phrase)
    for name, value in (headers or {}).items():
        response[name] = header_value(value)
    response["Cache-Control"] = "no-store"
    return response
