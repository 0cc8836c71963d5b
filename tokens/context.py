"""The variables an assembly runs against, named as APIC names them (DESIGN.md section 3).

``request.verb``, ``request.path``, ``request.uri``, ``request.search`` (the query string with its ``?``, or
""), ``request.querystring`` (without it), ``request.content-type``, ``request.headers.<lower-case name>``,
``request.query.<name>``, ``request.parameters.<name>`` (path, then query, then header parameters),
``request.body``, ``message.body``, ``message.headers.<name>``, ``message.status.code``,
``message.status.reason``, ``api.operation.id``, ``api.operation.path``, and any name a policy sets
(``decoded.claims``, ``generated.jwt``, ``jwt-validate.error-message``...). The API's own variables (``api.name``,
``api.version``, ``api.catalog.name``, ``api.org.name``, ``client.app.*``, ``plan.name``) and its properties
come from its ``ApiScope`` when the assembly starts (``tokens.properties``).
Header names are case-insensitive, as in HTTP. ``$(name)`` inside a value reads a variable.

The computed variables (``request.uri``, ``request.search``, ``request.querystring``, ``request.content-type``,
``request.parameters.*``, ``api.operation.*``) are read on demand, so a
call that never reads them never pays for them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, urlencode

from portal.gateway_http import header_value

if TYPE_CHECKING:
    from tokens.policies.base import TokenRecorder

REQUEST_HEADERS = "request.headers."
REQUEST_QUERY = "request.query."
REQUEST_PARAMETERS = "request.parameters."
PATH_SAFE = "/:@!$&'()*+,;=-._~"  # RFC 3986 section 3.3: what a path segment holds unencoded
MESSAGE_HEADERS = "message.headers."
REFERENCE = re.compile(r"\$\(([^()\s]+)\)")  # $(name): a variable read inside a value


class RequestHeaders:
    """Request headers by lower-case name, with the assembly's own changes on top.

    From a WSGI environ they are read one at a time, on demand: a gateway call reads two or three headers,
    and parsing all of them for every call would cost more than most policies do.

    ``Cookie`` is never shown to an assembly: the gateway may share its origin with the console, so a browser
    sends the console's session cookie with a gateway call, and an assembly that could read it (say, into a
    ``Location`` to another site) would steal an administrator's session. Gateway clients authenticate with
    client ids, never cookies.
    """

    _SPECIAL = {"content-type": "CONTENT_TYPE", "content-length": "CONTENT_LENGTH"}
    HIDDEN = frozenset({"cookie"})

    def __init__(self, *, headers: Mapping[str, str] | None = None, environ: Mapping[str, Any] | None = None) -> None:
        self._environ = environ
        self._changed: dict[str, str | None] = (
            {name.lower(): value for name, value in headers.items() if name.lower() not in self.HIDDEN}
            if headers is not None
            else {}
        )

    @property
    def environ(self) -> Mapping[str, Any] | None:
        return self._environ

    def _environ_key(self, name: str) -> str:
        return self._SPECIAL.get(name) or "HTTP_" + name.upper().replace("-", "_")

    def get(self, name: str) -> str | None:
        if name in self._changed:
            return self._changed[name]
        if self._environ is None or name in self.HIDDEN:
            return None
        value = self._environ.get(self._environ_key(name))
        return value if isinstance(value, str) else None

    def set(self, name: str, value: str) -> None:
        self._changed[name] = value

    def clear(self, name: str) -> None:
        self._changed[name] = None

    def as_dict(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for key, value in (self._environ or {}).items():
            if key.startswith("HTTP_") and key != "HTTP_COOKIE" and isinstance(value, str):
                found[key[5:].lower().replace("_", "-")] = value
        for name, key in self._SPECIAL.items():
            if self._environ is not None and self._environ.get(key):
                found[name] = self._environ[key]
        for name, changed in self._changed.items():
            if changed is None:
                found.pop(name, None)
            else:
                found[name] = changed
        return found


class ClientApp(Protocol):
    """The consumer app the gateway admitted a call for (its client-id check): ``client.app.*``."""

    @property
    def client_id(self) -> str: ...

    @property
    def name(self) -> str: ...


class _Unrecorded:
    """A ``TokenRecorder`` that counts nothing: what a context records unless the gateway gives it one."""

    def minted(self, ok: bool) -> None:
        pass

    def validated(self, ok: bool, reason: str = "") -> None:
        pass


class Context:
    # Where jwt-generate and jwt-validate report their outcome; the gateway sets its API's (tokens.metrics).
    recorder: TokenRecorder = _Unrecorded()
    # The app the gateway admitted the call for; None when the API checks no client id (no client.app.*).
    client_app: ClientApp | None = None

    def __init__(
        self,
        *,
        verb: str,
        path: str,
        headers: Mapping[str, str] | None = None,
        environ: Mapping[str, Any] | None = None,
        query: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> None:
        """``headers`` (any case), or a WSGI ``environ`` whose HTTP_* keys are read on demand."""
        self.request_headers = RequestHeaders(headers=headers, environ=environ)
        self.request_query: Mapping[str, str] = query if query is not None else {}
        # message.headers by lower-case name -> (name as last written, value)
        self.message_headers: dict[str, tuple[str, str]] = {}
        # What each invoke of this call did (verb, URL without its query, status or error, milliseconds), for
        # the console's Test page and the activity log; never headers or bodies.
        self.backend_calls: list[dict[str, Any]] = []
        self.variables: dict[str, Any] = {
            "request.verb": verb.upper(),
            "request.path": path,
            "message.body": body if body else None,
            "request.body": body if body else None,
            "message.status.code": 200,
            "message.status.reason": "OK",
        }

    def get(self, name: str) -> Any:
        """The value of a variable, or None when it is not set."""
        if name.startswith(REQUEST_HEADERS):
            return self.request_headers.get(name[len(REQUEST_HEADERS) :].lower())
        if name.startswith(MESSAGE_HEADERS):
            entry = self.message_headers.get(name[len(MESSAGE_HEADERS) :].lower())
            return entry[1] if entry else None
        if name.startswith(REQUEST_QUERY):
            return self.request_query.get(name[len(REQUEST_QUERY) :])
        if name == "request.headers":
            return self.request_headers.as_dict()
        if name == "message.headers":
            return {original: value for original, value in self.message_headers.values()}
        value = self.variables.get(name)
        if value is None and name not in self.variables:
            return self._computed(name)
        return value

    def _computed(self, name: str) -> Any:
        """The variables derived from the request on demand; None for any other name."""
        if name.startswith(REQUEST_PARAMETERS):
            return self.request_parameter(name[len(REQUEST_PARAMETERS) :])
        if name == "request.parameters":
            return {**self.request_headers.as_dict(), **dict(self.request_query.items()), **self.path_parameters()}
        if name == "request.uri":
            return self.request_uri()
        if name == "request.querystring":
            return self.query_string()
        if name == "request.search":
            query = self.query_string()
            return f"?{query}" if query else ""
        if name == "request.content-type":
            return self.request_headers.get("content-type")
        if name in ("api.operation.id", "api.operation.path"):
            operation = self.variables.get("api.operation")
            if operation is None:
                return None
            return getattr(operation, "operation_id" if name == "api.operation.id" else "path", None)
        return None

    def path_parameters(self) -> dict[str, str]:
        """The path parameters of the operation's template (``/orders/{id}``) in ``request.path``."""
        operation = self.variables.get("api.operation")
        template = getattr(operation, "path", None)
        path = self.variables.get("request.path")
        if not isinstance(template, str) or "{" not in template or not isinstance(path, str):
            return {}
        pattern, names = _path_template(template)
        found = pattern.fullmatch(path)
        # request.path is decoded already (the server decodes PATH_INFO once): decoding again would read
        # /items/%2541 as "A", another value than any check before the gateway saw.
        return dict(zip(names, found.groups(), strict=True)) if found else {}

    def request_parameter(self, name: str) -> str | None:
        """A request parameter by name: a path parameter, else a query parameter, else a header (APIC's
        ``request.parameters`` holds the operation's parameters of every kind)."""
        path = self.path_parameters()
        if name in path:
            return path[name]
        value = self.request_query.get(name)
        if value is not None:
            return value
        return self.request_headers.get(name.lower())

    def request_uri(self) -> str:
        """The URI the client called: scheme, host, the whole path and the query (as APIC's ``request.uri``)."""
        environ = self.request_headers.environ
        if environ is None:
            return str(self.variables.get("request.path") or "")
        scheme = environ.get("wsgi.url_scheme", "http")
        host = environ.get("HTTP_HOST")
        if not host:  # PEP 3333's URL reconstruction
            port = str(environ.get("SERVER_PORT", ""))
            default = (scheme == "https" and port == "443") or (scheme == "http" and port == "80")
            host = f"{environ.get('SERVER_NAME', '')}" + ("" if default or not port else f":{port}")
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")  # as sent (gunicorn, uWSGI)
        if isinstance(raw, str) and raw.startswith("/"):
            return f"{scheme}://{host}{raw}"
        # PEP 3333: PATH_INFO is the decoded path as latin-1 text; encode it again as it was sent.
        path = f"{environ.get('SCRIPT_NAME', '')}{environ.get('PATH_INFO', '')}"
        uri = f"{scheme}://{host}{quote(path.encode('latin-1', 'replace'), safe=PATH_SAFE)}"
        query = environ.get("QUERY_STRING")
        return f"{uri}?{query}" if query else uri

    def query_string(self) -> str:
        """The query string as the client sent it, without its ``?`` (APIC's ``request.querystring``)."""
        environ = self.request_headers.environ
        if environ is not None:
            return str(environ.get("QUERY_STRING") or "")
        return urlencode(list(self.request_query.items()))

    def set(self, name: str, value: Any) -> None:
        if name.startswith(MESSAGE_HEADERS):
            header = name[len(MESSAGE_HEADERS) :]
            self.message_headers[header.lower()] = (header, _header_text(value))
        elif name.startswith(REQUEST_HEADERS):
            self.request_headers.set(name[len(REQUEST_HEADERS) :].lower(), _header_text(value))
        else:
            self.variables[name] = value

    def add(self, name: str, value: Any) -> None:
        """Append to a header (comma-joined, as HTTP folds repeated headers); elsewhere the same as set."""
        if name.startswith(MESSAGE_HEADERS):
            existing = self.get(name)
            text = _header_text(value)
            self.set(name, f"{existing}, {text}" if existing else text)
        else:
            self.set(name, value)

    def clear(self, name: str) -> None:
        if name.startswith(MESSAGE_HEADERS):
            self.message_headers.pop(name[len(MESSAGE_HEADERS) :].lower(), None)
        elif name.startswith(REQUEST_HEADERS):
            self.request_headers.clear(name[len(REQUEST_HEADERS) :].lower())
        else:
            self.variables.pop(name, None)

    def interpolate(self, template: str) -> Any:
        """Replace each ``$(name)`` by its value. A template that is one reference alone keeps the value's type
        (so ``$(decoded.claims)`` stays an object); inside text, objects are written as JSON."""
        whole = REFERENCE.fullmatch(template)
        if whole:
            return self.get(whole.group(1))
        return REFERENCE.sub(lambda m: _as_text(self.get(m.group(1))), template)

    def interpolate_json(self, template: str) -> str:
        """``template``, JSON text, with each ``$(name)`` replaced so that no value can change its structure:
        inside a string literal by the value's text escaped as JSON (a caller's ``bob", "admin": true`` stays
        one string), elsewhere by the value written as JSON."""
        parts: list[str] = []
        in_string = escaped = False
        last = 0
        for match in REFERENCE.finditer(template):
            before = template[last : match.start()]
            for char in before:  # where the reference stands: inside a string literal or not
                if escaped:
                    escaped = False
                elif char == "\\":
                    escaped = in_string
                elif char == '"':
                    in_string = not in_string
            parts.append(before)
            value = self.get(match.group(1))
            if in_string:
                parts.append(json.dumps(_as_text(value))[1:-1])
            else:
                parts.append(json.dumps(value.decode("utf-8", "replace") if isinstance(value, bytes) else value))
            last = match.end()
        parts.append(template[last:])
        return "".join(parts)


@lru_cache(maxsize=1024)
def _path_template(template: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    """``/orders/{id}`` as a pattern with one group per parameter, and the parameters' names in order."""
    parts = re.split(r"(\{[^{}/]+\})", template)
    names = tuple(part[1:-1] for part in parts if part.startswith("{"))
    pattern = "".join("([^/]+)" if part.startswith("{") else re.escape(part) for part in parts)
    return re.compile(pattern), names


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict | list | bool):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _header_text(value: Any) -> str:
    # Header values are one line of printable text: a newline in a variable must never split the response
    # (header injection), and no other control character (\x00, \x0b, \x0c...) may reach a client either.
    return header_value(_as_text(value))


def http_status(value: Any) -> int | None:
    """``value`` as an HTTP status code (RFC 9110 section 15: a whole number from 100 to 599), or None: an int,
    a whole float, or three ASCII digits; never a bool."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and len(value) == 3 and value.isascii() and value.isdigit():
        value = int(value)
    return value if isinstance(value, int) and 100 <= value <= 599 else None
