"""The backend calls of a console test call, for the Test page (API Connect's Test tab shows them too).

The Test page gets a trace token when it is rendered (``trace_token``: a random nonce signed with the
project's ``SECRET_KEY``) and sends it with each test call in ``X-Portal-Trace``, with a fresh
``X-Request-Id``. When a call that carries a valid token made backend calls, the assembly leaves what its
invokes did (verb, URL without its query, status or error, milliseconds, bytes: never headers or bodies) in
the shared cache for a minute (``trace_record``), where the Test page reads it back through the console
(``trace_read``, operators only). Without a token issued by the console, a gateway call writes nothing: an
outside caller cannot fill the cache.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from django.core import signing
from django.core.cache import cache

from tokens.context import Context

logger = logging.getLogger(__name__)

TRACE_HEADER = "X-Portal-Trace"
_TRACE_META = "HTTP_X_PORTAL_TRACE"
_REQUEST_ID_META = "HTTP_X_REQUEST_ID"
_SALT = "tokens.trace"
TOKEN_MAX_AGE = 8 * 3600  # a Test page left open for a working day
RECORD_SECONDS = 60
MAX_CALLS = 20


def trace_token() -> str:
    """A new trace token for a Test page."""
    return signing.TimestampSigner(salt=_SALT).sign(secrets.token_hex(16))


def _nonce(token: Any) -> str | None:
    if not isinstance(token, str) or len(token) > 200:
        return None
    try:
        return signing.TimestampSigner(salt=_SALT).unsign(token, max_age=TOKEN_MAX_AGE)
    except signing.BadSignature:
        return None


def _key(nonce: str, request_id: str) -> str:
    return f"tokens:trace:{nonce}:{request_id}"


def trace_record(context: Context) -> None:
    """Keep the call's backend calls for the Test page when the call carries a valid trace token."""
    environ = context.request_headers.environ
    if not context.backend_calls or environ is None or _TRACE_META not in environ:
        return
    nonce = _nonce(environ.get(_TRACE_META))
    request_id = environ.get(_REQUEST_ID_META)
    if nonce is None or not isinstance(request_id, str) or not 8 <= len(request_id) <= 64:
        return
    try:
        cache.set(_key(nonce, request_id), context.backend_calls[:MAX_CALLS], RECORD_SECONDS)
    except Exception:  # the shared cache is down: the test call's answer matters more than its trace
        logger.warning("the backend calls of a test call could not be kept", exc_info=True)


def trace_read(token: str, request_id: str) -> list[dict[str, Any]] | None:
    """The backend calls recorded for that test call; None when the token is not valid or nothing was kept."""
    nonce = _nonce(token)
    if nonce is None:
        return None
    found = cache.get(_key(nonce, request_id))
    return found if isinstance(found, list) else None
