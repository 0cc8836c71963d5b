"""The invoke policy against real loopback backends (tokens/invoke.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import LazySettings

from tests.tokens.backends import Backend, Reply, Seen, json_reply
from tokens.context import Context
from tokens.documents import Operation
from tokens.errors import AssemblyError, PolicyConfigError
from tokens.policies.invoke import Invoke

pytestmark = pytest.mark.django_db


class _NoCatalog:
    """A resolver without a catalog: enough for an invoke without a TLS client profile."""


def invoke(config: dict[str, Any]) -> Invoke:
    return Invoke("call backend", config, _NoCatalog())  # type: ignore[arg-type]


def request_context(*, verb: str = "GET", path: str = "/orders/7", body: bytes = b"", **headers: str) -> Context:
    context = Context(verb=verb, path=path, headers={"X-IBM-Client-Id": "c" * 32, **headers}, body=body)
    context.set("api.operation", Operation(verb, "/orders/{id}", None))
    return context


@pytest.fixture
def echo(settings: LazySettings) -> Iterator[Backend]:
    def answer(seen: Seen) -> Reply:
        body = json.dumps(
            {"method": seen.method, "path": seen.path, "headers": seen.headers, "body": seen.body.decode()}
        ).encode()
        return Reply(200, {"Content-Type": "application/json", "X-Backend": "echo", "Set-Cookie": "a=b"}, body)

    with Backend(answer) as server:
        settings.INVOKE = {"ALLOW": f"127.0.0.1:{server.port}"}
        yield server


def test_the_response_replaces_the_message(echo: Backend) -> None:
    context = request_context()
    invoke({"target-url": echo.url("/items/$(request.parameters.id)?q=1")}).run(context)
    body = context.get("message.body")
    assert (body["method"], body["path"]) == ("GET", "/items/7?q=1")
    assert context.get("message.status.code") == 200
    assert context.get("message.headers.x-backend") == "echo"
    assert context.get("message.headers.set-cookie") is None  # an assembly never sets cookies
    (call,) = context.backend_calls
    assert (call["verb"], call["url"], call["status"]) == ("GET", echo.url("/items/7"), 200)


def test_request_headers_are_forwarded_but_never_the_secret_or_cookies(echo: Backend) -> None:
    context = request_context(
        **{
            "X-IBM-Client-Secret": "s3cret",
            "Cookie": "sessionid=1",
            "X-Trace": "t1",
            "Authorization": "Bearer x",
            "Accept-Encoding": "br",
        }
    )
    context.set("message.headers.X-Added", "by-policy")
    invoke({"target-url": echo.url("/")}).run(context)
    sent = context.get("message.body")["headers"]
    assert (sent["x-trace"], sent["x-added"], sent["authorization"]) == ("t1", "by-policy", "Bearer x")
    assert "x-ibm-client-secret" not in sent
    assert "cookie" not in sent
    assert sent["accept-encoding"] == "identity"  # not the client's br: the portal may not decode it


def test_header_control_filters_what_is_sent(echo: Backend) -> None:
    context = request_context(**{"X-Trace": "t1", "Authorization": "Bearer x"})
    policy = invoke(
        {"target-url": echo.url("/"), "header-control": {"type": "blocklist", "values": ["^authorization$"]}}
    )
    policy.run(context)
    sent = context.get("message.body")["headers"]
    assert "authorization" not in sent
    assert sent["x-trace"] == "t1"


def test_a_request_parameter_cannot_change_the_path(echo: Backend) -> None:
    context = request_context(path="/orders/..%2Fadmin?x=1")  # as the server decoded /orders/..%252Fadmin%3Fx=1
    invoke({"target-url": echo.url("/items/$(request.parameters.id)")}).run(context)
    assert context.get("message.body")["path"] == "/items/..%252Fadmin%3Fx%3D1"


def test_the_body_goes_out_as_json_and_the_verb_is_kept(echo: Backend) -> None:
    context = request_context(verb="POST")
    context.set("message.body", {"a": 1})
    invoke({"target-url": echo.url("/")}).run(context)
    received = context.get("message.body")
    assert (received["method"], received["body"]) == ("POST", '{"a":1}')
    assert received["headers"]["content-type"] == "application/json"


def test_output_keeps_the_message_and_fills_the_variable(echo: Backend) -> None:
    context = request_context()
    context.set("message.body", "untouched")
    invoke({"target-url": echo.url("/jwks"), "output": "backend", "verb": "GET"}).run(context)
    assert context.get("message.body") == "untouched"
    assert context.get("backend.status.code") == 200
    assert context.get("backend.body")["path"] == "/jwks"
    assert context.get("backend")["headers"]["X-Backend"] == "echo"


def test_basic_credentials_can_come_from_properties(echo: Backend) -> None:
    context = request_context()
    context.set("backend-user", "svc")
    invoke({"target-url": echo.url("/"), "username": "$(backend-user)", "password": "pw"}).run(context)
    assert context.get("message.body")["headers"]["authorization"] == "Basic c3ZjOnB3"


def test_a_refused_destination_is_a_catchable_connection_error(settings: LazySettings) -> None:
    settings.INVOKE = {"ALLOW": "example.com"}
    with pytest.raises(AssemblyError) as raised:
        invoke({"target-url": "http://169.254.169.254/latest/meta-data/"}).run(request_context())
    assert raised.value.name == "ConnectionError"
    assert raised.value.status == 500
    assert "call backend" in raised.value.message


def test_a_backend_error_status_passes_through_unless_stop_on_error(settings: LazySettings) -> None:
    with Backend(json_reply(b'{"error": "nope"}', status=404)) as server:
        settings.INVOKE = {"ALLOW": f"127.0.0.1:{server.port}"}
        context = request_context()
        invoke({"target-url": server.url("/")}).run(context)
        assert (context.get("message.status.code"), context.get("message.body")) == (404, {"error": "nope"})
        with pytest.raises(AssemblyError) as raised:
            invoke({"target-url": server.url("/"), "stop-on-error": ["OperationError"]}).run(request_context())
        assert (raised.value.name, raised.value.status) == ("OperationError", 404)


@pytest.mark.parametrize(
    ("config", "prop"),
    [
        ({}, "target-url"),
        ({"target-url": "ftp://x"}, "target-url"),
        ({"target-url": "http://x", "verb": "BREW"}, "verb"),
        ({"target-url": "http://x", "timeout": 0}, "timeout"),
        ({"target-url": "http://x", "websocket-upgrade": True}, "websocket-upgrade"),
        ({"target-url": "http://x", "header-control": {"type": "blocklist", "values": ["("]}}, "header-control"),
        ({"target-url": "http://x", "username": "u"}, "password"),
        ({"target-url": "http://x", "tls-profile": "backend"}, "tls-profile"),
        ({"target-url": "http://x", "proxy": "x"}, "proxy"),
    ],
)
def test_a_bad_configuration_names_the_property(config: dict[str, Any], prop: str) -> None:
    with pytest.raises(PolicyConfigError) as raised:
        invoke(config)
    assert raised.value.prop == prop


def test_the_editor_defaults_of_api_connect_are_accepted() -> None:
    policy = invoke(
        {
            "version": "2.0.0",
            "title": "invoke",
            "backend-type": "detect",
            "header-control": {"type": "blocklist", "values": []},
            "parameter-control": {"type": "allowlist", "values": []},
            "timeout": 60,
            "verb": "keep",
            "chunked-uploads": True,
            "persistent-connection": True,
            "cache-response": "protocol",
            "cache-ttl": 900,
            "stop-on-error": [],
            "websocket-upgrade": False,
            "target-url": "$(target-url)",
        }
    )
    assert (policy.verb, policy.timeout, policy.header_filter) == (None, 60, None)
