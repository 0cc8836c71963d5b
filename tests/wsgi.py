"""Calls through the product's own WSGI application (portal/wsgi.py), in process: the dispatcher and the
gateway's handler with its short middleware list, as gunicorn runs them. Django's test client uses the
console's full stack for every path, so what only the gateway's handler does is tested through here."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from portal.handlers import WSGIApplication
from portal.wsgi import application


@dataclass(frozen=True)
class WsgiAnswer:
    status: int
    reason: str
    header_list: list[tuple[str, str]]
    body: bytes

    @property
    def headers(self) -> dict[str, str]:
        """Response headers by lower-case name (the last one of a repeated name)."""
        return {name.lower(): value for name, value in self.header_list}


def wsgi_call(
    path: str,
    *,
    method: str = "GET",
    query: str = "",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    host: str = "127.0.0.1",
    app: WSGIApplication = application,
) -> WsgiAnswer:
    """Send one request through ``app`` (``portal.wsgi.application``: the product's, made when the suite
    starts; a test that changes the security settings makes its own); ``headers`` by their HTTP names."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": host,
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if body:
        environ["CONTENT_LENGTH"] = str(len(body))
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
    answer: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        answer["status"], answer["headers"] = status, list(response_headers)

    # As Django's test client does: a request must not close the test's database connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        chunks = app(environ, start_response)
        try:
            content = b"".join(chunks)
        finally:
            getattr(chunks, "close", lambda: None)()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    code, _, reason = answer["status"].partition(" ")
    return WsgiAnswer(int(code), reason, answer["headers"], content)
