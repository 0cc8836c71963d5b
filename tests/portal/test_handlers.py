"""The WSGI application serves gateway calls through the short middleware list and everything else
through the console's full stack (portal/handlers.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from prometheus_client import REGISTRY

from portal.handlers import GatewayHandler, WSGIApplication, dispatching_application, is_gateway_path
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
        ("/metrics", False),
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
def test_every_gateway_answer_is_timed_and_no_console_answer_is(settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    counted = REGISTRY.get_sample_value("portal_gateway_request_duration_seconds_count") or 0.0

    wsgi_call("/admin/login/")
    after_console = REGISTRY.get_sample_value("portal_gateway_request_duration_seconds_count") or 0.0
    wsgi_call("/nobody/nowhere/securetoken/generate")
    after_gateway = REGISTRY.get_sample_value("portal_gateway_request_duration_seconds_count") or 0.0

    assert (after_console, after_gateway) == (counted, counted + 1)


@pytest.mark.django_db
def test_a_console_path_takes_the_full_stack(settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    answer = wsgi_call("/admin/login/")
    assert (answer.status, answer.reason) == (200, "OK")
    assert answer.headers["x-frame-options"] == "DENY"
    assert "x-request-id" in answer.headers


# -- what SecurityMiddleware did, in the gateway handler's own path (issue 16) --------------------------------

GATEWAY_PATH = "/nobody/nowhere/securetoken/generate"  # answers the gateway's 404: no database row needed
BEHIND_TLS = {"X-Forwarded-Proto": "https"}


@pytest.fixture
def production_security(settings: Any) -> WSGIApplication:
    """The product's WSGI application made under production's security settings (portal/settings.py), as
    gunicorn makes it at start: the handler reads them once."""
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    return dispatching_application(get_wsgi_application(), GatewayHandler())


@pytest.mark.django_db
def test_a_plain_http_gateway_call_is_redirected_to_https_in_production(production_security: WSGIApplication) -> None:
    answer = wsgi_call(
        GATEWAY_PATH, query="client_id=x", headers={"X-Request-Id": "req-12345678"}, app=production_security
    )

    assert answer.status == 301
    assert answer.headers["location"] == f"https://127.0.0.1{GATEWAY_PATH}?client_id=x"
    assert answer.headers["x-request-id"] == "req-12345678"
    assert answer.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert "strict-transport-security" not in answer.headers  # HSTS is sent over HTTPS only


@pytest.mark.django_db
def test_an_https_gateway_call_behind_the_load_balancer_gets_hsts_and_no_redirect(
    production_security: WSGIApplication,
) -> None:
    # The twin of the redirect: only X-Forwarded-Proto differs.
    answer = wsgi_call(GATEWAY_PATH, headers={"X-Request-Id": "req-12345678", **BEHIND_TLS}, app=production_security)

    assert answer.status == 404
    assert json.loads(answer.body)["httpCode"] == "404"
    assert answer.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains; preload"
    assert answer.headers["x-request-id"] == "req-12345678"


@pytest.mark.django_db
def test_a_redirect_exempt_gateway_path_is_not_redirected(settings: Any, production_security: WSGIApplication) -> None:
    settings.SECURE_REDIRECT_EXEMPT = [r"^nobody/"]
    exempt = dispatching_application(get_wsgi_application(), GatewayHandler())

    assert wsgi_call(GATEWAY_PATH, app=exempt).status == 404
    assert wsgi_call(GATEWAY_PATH, app=production_security).status == 301  # the twin, without the exemption


@pytest.mark.django_db
def test_a_redirect_for_a_host_not_served_is_a_gateway_400(production_security: WSGIApplication) -> None:
    refused = wsgi_call(GATEWAY_PATH, host="evil.example", app=production_security)
    redirected = wsgi_call(GATEWAY_PATH, host="127.0.0.1", app=production_security)  # the twin: a served host

    assert refused.status == 400
    assert json.loads(refused.body)["moreInformation"] == "The request's host name is not served here."
    assert redirected.status == 301


@pytest.mark.django_db
def test_gateway_answers_keep_the_referrer_and_opener_policies(settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["127.0.0.1"]

    answer = wsgi_call(GATEWAY_PATH)

    assert answer.headers["referrer-policy"] == "same-origin"
    assert answer.headers["cross-origin-opener-policy"] == "same-origin"


class StampMiddleware:
    """A middleware an operator might add to GATEWAY_MIDDLEWARE."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        response["X-Stamp"] = "stamped"
        return response


@pytest.mark.django_db
def test_gateway_middleware_still_runs_when_listed(settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    settings.GATEWAY_MIDDLEWARE = [f"{__name__}.StampMiddleware"]
    listed = dispatching_application(get_wsgi_application(), GatewayHandler())

    assert wsgi_call(GATEWAY_PATH, app=listed).headers["x-stamp"] == "stamped"
    assert "x-stamp" not in wsgi_call(GATEWAY_PATH).headers  # the twin: none by default
