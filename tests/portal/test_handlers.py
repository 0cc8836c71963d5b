"""The WSGI application serves gateway calls through the short middleware list and everything else
through the console's full stack (portal/handlers.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from portal.handlers import is_gateway_path
from tests.wsgi import wsgi_call


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


@pytest.mark.django_db
def test_a_gateway_call_takes_the_short_stack(settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    answer = wsgi_call("/nobody/nowhere/securetoken/generate", headers={"X-Request-Id": "req-12345678"})
    assert (answer.status, answer.reason) == (404, "Not Found")
    assert json.loads(answer.body)["httpCode"] == "404"  # the gateway answered, in its JSON shape
    assert answer.headers["x-request-id"] == "req-12345678"
    assert answer.headers["content-length"] == str(len(answer.body))
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "x-frame-options" not in answer.headers  # the console's clickjacking middleware is not on the list
    assert "vary" not in answer.headers  # nor sessions (Vary: Cookie)


@pytest.mark.django_db
def test_a_console_path_takes_the_full_stack(settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    answer = wsgi_call("/admin/login/")
    assert (answer.status, answer.reason) == (200, "OK")
    assert answer.headers["x-frame-options"] == "DENY"
    assert "x-request-id" in answer.headers
