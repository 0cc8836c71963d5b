"""The WSGI application serves gateway calls through the short middleware list and everything else
through the console's full stack (portal/handlers.py)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from portal.handlers import is_gateway_path
from portal.wsgi import application


@pytest.mark.parametrize(
    ("path", "gateway"),
    [
        ("/personal/sandbox/securetoken/generate", True),
        ("/acme/production/x", True),
        ("/personal/sandbox/.well-known/jwks.json", True),
        ("/admin/", False),
        ("/admin/login/", False),
        ("/static/admin/css/base.css", False),
        ("/healthz", False),
        ("/readyz", False),
        ("/", False),
        ("", False),
    ],
)
def test_which_paths_are_gateway_calls(path: str, gateway: bool) -> None:
    assert is_gateway_path(path) is gateway


def _call(path: str, headers: dict[str, str] | None = None) -> tuple[str, dict[str, str], bytes]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        **{f"HTTP_{name.upper().replace('-', '_')}": value for name, value in (headers or {}).items()},
    }
    answer: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        answer["status"], answer["headers"] = status, dict(response_headers)

    # As Django's test client does: a request must not close the test's database connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        body = b"".join(application(environ, start_response))
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return answer["status"], answer["headers"], body


@pytest.mark.django_db
def test_a_gateway_call_takes_the_short_stack(settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    status, headers, body = _call("/nobody/nowhere/securetoken/generate", {"X-Request-Id": "req-12345678"})
    assert status == "404 Not Found"
    assert json.loads(body)["httpCode"] == "404"  # the gateway answered, in its JSON shape
    assert headers["X-Request-Id"] == "req-12345678"
    assert headers["Content-Length"] == str(len(body))
    assert headers["X-Content-Type-Options"] == "nosniff"  # SecurityMiddleware is on the short list
    assert "X-Frame-Options" not in headers  # the console's clickjacking middleware is not
    assert "Vary" not in headers  # nor sessions (Vary: Cookie)


@pytest.mark.django_db
def test_a_console_path_takes_the_full_stack(settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    status, headers, _ = _call("/admin/login/")
    assert status == "200 OK"
    assert headers["X-Frame-Options"] == "DENY"
    assert "X-Request-Id" in headers
