"""Gateway answers are isolated from the console (issue 9, DESIGN.md section 6), through the product's own WSGI
application: the isolation headers on every kind of answer, untyped bodies as opaque bytes, headers an
assembly may not set, control characters, the gateway's own errors in its JSON shape, its own host names,
and client secrets refused in the query string. The browser proof is tests/browser/test_gateway_isolation.py.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from django.conf import LazySettings
from django.test import Client

from portal.gateway_http import GATEWAY_CONTENT_SECURITY_POLICY
from portal.models import Catalog
from portal.services import Actor
from tests.conftest import CallLines
from tests.tokens.helpers import api_document
from tests.wsgi import WsgiAnswer, wsgi_call
from tokens import views
from tokens.context import Context
from tokens.demo import DemoSummary
from tokens.models import Publication
from tokens.services import api_publish, api_save, app_create, app_subscribe

BASE = "/personal/sandbox/securetoken"
SCRIPT = b"<script>document.title = 'script ran'</script>"


def publish(sandbox: Catalog, actor: Actor, *, execute: list[dict[str, Any]], verb: str = "get", **kwargs: Any) -> None:
    document = api_document(name="isolated", base_path="/isolated", paths=("/go",), execute=execute, **kwargs)
    document["paths"]["/go"] = {verb: {"responses": {"200": {"description": "ok"}}}}
    api, _ = api_save(organization=sandbox.organization, document=document, actor=actor)
    api_publish(api=api, catalog=sandbox, actor=actor)


def set_headers(*pairs: tuple[str, str], body: str | None = "ok") -> list[dict[str, Any]]:
    actions: list[dict[str, Any]] = [{"set": f"message.headers.{name}", "value": value} for name, value in pairs]
    if body is not None:
        actions.append({"set": "message.body", "value": body})
    return [{"set-variable": {"title": "answer", "actions": actions}}]


def assert_isolated(answer: WsgiAnswer) -> None:
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["content-security-policy"] == GATEWAY_CONTENT_SECURITY_POLICY
    names = [name.lower() for name, _ in answer.header_list]
    assert names.count("content-security-policy") == names.count("x-content-type-options") == 1


def assert_gateway_json(answer: WsgiAnswer, status: int) -> dict[str, str]:
    assert answer.status == status
    assert answer.headers["content-type"] == "application/json"
    body: dict[str, str] = json.loads(answer.body)
    assert set(body) == {"httpCode", "httpMessage", "moreInformation"}
    assert body["httpCode"] == str(status)
    assert_isolated(answer)
    return body


# -- the isolation headers on every kind of answer ---------------------------------------------------------


def test_success_error_and_jwks_answers_all_carry_the_isolation_headers(demo: DemoSummary) -> None:
    client = {"X-IBM-Client-Id": demo.client_id}
    generated = wsgi_call(f"{BASE}/generate", headers={**client, "iss-claim": "apic", "aud-claim": "id1"})
    refused = wsgi_call(f"{BASE}/validate", headers={**client, "Authorization": "Bearer not.a.token"})
    anonymous = wsgi_call(f"{BASE}/generate")
    wrong_verb = wsgi_call(f"{BASE}/generate", method="DELETE", headers=client)
    no_catalog = wsgi_call("/personal/nowhere/securetoken/generate")
    jwks = wsgi_call("/personal/sandbox/.well-known/jwks.json")

    assert [a.status for a in (generated, refused, anonymous, wrong_verb, no_catalog, jwks)] == [
        200, 400, 401, 405, 404, 200,
    ]  # fmt: skip
    for answer in (generated, refused, anonymous, wrong_verb, no_catalog, jwks):
        assert_isolated(answer)


def test_the_console_does_not_get_the_gateways_sandbox_policy(db: None) -> None:
    """The twin: the headers come from the gateway's answers, not from every answer of the process."""
    answer = wsgi_call("/admin/login/")

    assert answer.status == 200
    assert answer.headers.get("content-security-policy") != GATEWAY_CONTENT_SECURITY_POLICY


# -- untyped bodies, forbidden and malformed headers -------------------------------------------------------


def test_an_echoed_body_without_a_declared_type_is_opaque_bytes(
    demo: DemoSummary, sandbox: Catalog, actor: Actor
) -> None:
    publish(sandbox, actor, execute=[], verb="post")  # no policy sets a body: the request body is echoed

    answer = wsgi_call(
        "/personal/sandbox/isolated/go",
        method="POST",
        query=f"client_id={demo.client_id}",
        headers={"Content-Type": "text/plain"},
        body=SCRIPT,
    )

    assert answer.status == 200
    assert answer.body == SCRIPT
    assert answer.headers["content-type"] == "application/octet-stream"
    assert_isolated(answer)


def test_a_type_the_assembly_declares_is_kept(demo: DemoSummary, sandbox: Catalog, actor: Actor) -> None:
    """The twin: the default applies only where no type is declared (and the CSP makes even HTML inert)."""
    publish(sandbox, actor, execute=set_headers(("Content-Type", "text/html"), body=SCRIPT.decode()))

    answer = wsgi_call("/personal/sandbox/isolated/go", headers={"X-IBM-Client-Id": demo.client_id})

    assert answer.status == 200
    assert answer.body == SCRIPT
    assert answer.headers["content-type"] == "text/html"
    assert_isolated(answer)


FORBIDDEN = [
    ("Set-Cookie", "sessionid=stolen; Path=/"),
    ("set-cookie2", "a=1"),
    ("Clear-Site-Data", '"cookies"'),
    ("Content-Security-Policy", "script-src 'unsafe-inline'"),
    ("Content-Security-Policy-Report-Only", "default-src *"),
    ("X-Content-Type-Options", "sniff"),
    ("X-Frame-Options", "ALLOWALL"),
    ("Strict-Transport-Security", "max-age=0"),
    ("Access-Control-Allow-Credentials", "true"),
    ("Cross-Origin-Opener-Policy", "unsafe-none"),
    ("Cross-Origin-Resource-Policy", "cross-origin"),
    ("Permissions-Policy", "camera=*"),
    ("Referrer-Policy", "unsafe-url"),
    ("Refresh", "0; url=https://evil.example/"),
    ("Transfer-Encoding", "chunked"),
]


@pytest.mark.parametrize(("name", "value"), FORBIDDEN)
def test_an_assembly_cannot_set_cookies_or_security_headers(
    name: str, value: str, demo: DemoSummary, sandbox: Catalog, actor: Actor
) -> None:
    publish(sandbox, actor, execute=set_headers((name, value), ("X-Custom-Header", "kept")))

    answer = wsgi_call("/personal/sandbox/isolated/go", headers={"X-IBM-Client-Id": demo.client_id})

    assert answer.status == 200
    assert answer.body == b"ok"
    assert answer.headers["x-custom-header"] == "kept"  # the twin, in the same answer
    assert value not in [v for _, v in answer.header_list]
    assert_isolated(answer)


@pytest.mark.parametrize(
    ("name", "value"),
    [("X-Custom-Header", "kept"), ("Access-Control-Allow-Origin", "*"), ("Location", "/elsewhere")],
)
def test_an_assembly_may_set_other_headers(
    name: str, value: str, demo: DemoSummary, sandbox: Catalog, actor: Actor
) -> None:
    publish(sandbox, actor, execute=set_headers((name, value)))

    answer = wsgi_call("/personal/sandbox/isolated/go", headers={"X-IBM-Client-Id": demo.client_id})

    assert answer.headers[name.lower()] == value


@pytest.mark.parametrize("name", ["X Space", "X:Colon", "X-Ünicode", "X(paren)", ""])
def test_a_header_name_that_is_not_a_token_is_dropped(name: str) -> None:
    """Publishing already refuses such names in set-variable; the answer is built safely whatever a context
    holds (a non-ASCII name used to be a 500)."""
    context = Context(verb="GET", path="/go")
    context.set(f"message.headers.{name}", "dropped")
    context.set("message.headers.X-Token-Name", "kept")
    context.set("message.body", "ok")

    response = views._response_from(context)

    assert response["X-Token-Name"] == "kept"
    assert "dropped" not in response.headers.values()


@pytest.mark.parametrize("control", ["\x0b", "\x0c", "\x00", "\r\n", "\x7f"])
def test_control_characters_never_reach_a_response_header(
    control: str, demo: DemoSummary, sandbox: Catalog, actor: Actor
) -> None:
    publish(sandbox, actor, execute=set_headers(("X-Echo", "$(request.headers.x-in)")))

    answer = wsgi_call(
        "/personal/sandbox/isolated/go",
        headers={"X-IBM-Client-Id": demo.client_id, "X-In": f"one{control}Set-Cookie: a=b"},
    )

    assert answer.status == 200
    assert answer.headers["x-echo"] == "one Set-Cookie: a=b"
    assert "set-cookie" not in answer.headers


# -- the gateway's own errors: its JSON shape, never HTML or a debug page -------------------------------------


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("path", ["/personal/sandbox", "/personal/sandbox/", "/personal", "/acme/x"])
def test_an_unrouted_gateway_path_is_a_json_404(path: str, debug: bool, db: None, settings: LazySettings) -> None:
    settings.DEBUG = debug

    body = assert_gateway_json(wsgi_call(path), 404)

    assert body["moreInformation"] == f"No API is published at {path}."


def test_the_console_404_under_debug_is_the_debug_page(db: None, settings: LazySettings) -> None:
    """The twin: DEBUG really shows Django's HTML page on the console's stack."""
    settings.DEBUG = True

    answer = wsgi_call("/docs/no-such-page")

    assert answer.status == 404
    assert answer.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("debug", [False, True])
def test_an_unexpected_exception_is_a_json_500_without_details(
    debug: bool, demo: DemoSummary, settings: LazySettings, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    settings.DEBUG = debug

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("private detail: -----BEGIN PRIVATE KEY-----")

    monkeypatch.setattr(views, "_call", broken)
    with caplog.at_level(logging.ERROR, logger="portal.handlers"):
        answer = wsgi_call(f"{BASE}/generate", headers={"X-Request-Id": "req-500-abcdef"})

    body = assert_gateway_json(answer, 500)
    assert body["moreInformation"] == "The gateway could not answer this call (request id req-500-abcdef)."
    assert b"PRIVATE" not in answer.body
    assert any(record.exc_info for record in caplog.records)  # the traceback is in the log, not the answer


def test_too_many_query_parameters_is_a_json_400(demo: DemoSummary) -> None:
    many = wsgi_call(f"{BASE}/generate", query="&".join(f"p{n}=1" for n in range(1100)))
    few = wsgi_call(f"{BASE}/generate", query="&".join(f"p{n}=1" for n in range(10)))

    assert assert_gateway_json(many, 400)["moreInformation"] == "The request has too many query or form parameters."
    assert assert_gateway_json(few, 401)  # the twin: the same call with few parameters reaches the client check


def test_a_declared_body_over_the_cap_is_a_json_413_before_it_is_read(
    demo: DemoSummary, sandbox: Catalog, actor: Actor
) -> None:
    publish(sandbox, actor, execute=[], verb="post")
    client = {"X-IBM-Client-Id": demo.client_id}

    too_big = wsgi_call(
        "/personal/sandbox/isolated/go", method="POST", headers={**client, "Content-Length": str(5 * 1024 * 1024)}
    )
    not_a_number = wsgi_call("/personal/sandbox/isolated/go", method="POST", headers={**client, "Content-Length": "x"})
    fits = wsgi_call("/personal/sandbox/isolated/go", method="POST", headers=client, body=b"a" * 1024)

    assert assert_gateway_json(too_big, 413)["moreInformation"] == "The request body is larger than 1048576 bytes."
    assert assert_gateway_json(not_a_number, 400)["moreInformation"] == "The Content-Length header is not a number."
    assert (fits.status, fits.body) == (200, b"a" * 1024)


# -- client secrets: headers only, never logged -------------------------------------------------------------


@pytest.fixture
def secret_app(demo: DemoSummary, sandbox: Catalog, actor: Actor) -> tuple[str, str]:
    publish(sandbox, actor, execute=set_headers(), client_secret=True)
    app, secret = app_create(catalog=sandbox, name="Secret App", with_secret=True, actor=actor)
    app_subscribe(app=app, publication=sandbox.publications.get(api__name="isolated"), actor=actor)
    assert secret is not None
    return app.client_id, secret


def test_a_client_secret_in_the_query_string_is_refused_naming_the_header(
    secret_app: tuple[str, str], caplog: Any, settings: LazySettings, call_lines: CallLines
) -> None:
    client_id, secret = secret_app
    with caplog.at_level(logging.DEBUG):
        in_query = wsgi_call("/personal/sandbox/isolated/go", query=f"client_id={client_id}&client_secret={secret}")
        in_header = wsgi_call(
            "/personal/sandbox/isolated/go", query=f"client_id={client_id}", headers={"X-IBM-Client-Secret": secret}
        )

    assert assert_gateway_json(in_query, 400)["moreInformation"] == views.SECRET_IN_QUERY
    assert "X-IBM-Client-Secret header" in views.SECRET_IN_QUERY
    assert (in_header.status, in_header.body) == (200, b"ok")  # the twin: the same secret in its header
    assert [line["path"] for line in call_lines.parsed()] == ["/personal/sandbox/isolated/go"] * 2  # both logged...
    logged = "\n".join([*call_lines.lines, *(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)])
    assert secret not in logged  # ...but never the query string that carried the secret, in any line


@pytest.mark.parametrize("name", ["client_secret", "client%5Fsecret", "client_secre%74"])
def test_a_client_secret_in_the_query_is_refused_even_where_no_secret_is_asked(name: str, demo: DemoSummary) -> None:
    client = f"client_id={demo.client_id}"
    headers = {"iss-claim": "apic", "aud-claim": "id1"}

    refused = wsgi_call(f"{BASE}/generate", query=f"{client}&{name}=anything", headers=headers)
    accepted = wsgi_call(f"{BASE}/generate", query=client, headers=headers)

    assert assert_gateway_json(refused, 400)["moreInformation"] == views.SECRET_IN_QUERY
    assert accepted.status == 200


def test_gunicorns_access_log_never_writes_the_query_string() -> None:
    namespace: dict[str, Any] = {}
    exec(compile((Path(__file__).parents[2] / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"), namespace)  # noqa: S102

    log_format = namespace["access_log_format"]
    assert "%(U)s" in log_format  # the path alone
    for with_query in ("%(r)s", "%(q)s", "%({raw_uri}e)s", "%({query_string}e)s"):
        assert with_query not in log_format


# -- the gateway on its own host names ----------------------------------------------------------------------


@pytest.fixture
def gateway_host(settings: LazySettings) -> str:
    settings.PORTAL_GATEWAY_HOSTS = ["gateway.example"]
    settings.ALLOWED_HOSTS = ["127.0.0.1", "console.example", "gateway.example"]
    return "gateway.example"


def test_with_gateway_hosts_the_gateway_answers_only_there(demo: DemoSummary, gateway_host: str) -> None:
    headers = {"X-IBM-Client-Id": demo.client_id, "iss-claim": "apic", "aud-claim": "id1"}

    on_gateway = wsgi_call(f"{BASE}/generate", headers=headers, host=f"{gateway_host}:443")
    on_console = wsgi_call(f"{BASE}/generate", headers=headers, host="console.example")
    jwks_on_console = wsgi_call("/personal/sandbox/.well-known/jwks.json", host="console.example")

    assert on_gateway.status == 200
    assert on_gateway.headers["authorization"].startswith("Bearer ")
    assert_isolated(on_gateway)
    for refused in (on_console, jwks_on_console):
        assert assert_gateway_json(refused, 404)["moreInformation"] == "The gateway is not served on this host name."


@pytest.mark.parametrize("path", ["/admin/login/", "/admin/", "/static/console/console.css", "/api/v1/"])
def test_with_gateway_hosts_console_paths_are_never_served_there(path: str, db: None, gateway_host: str) -> None:
    on_gateway = wsgi_call(path, host=gateway_host)
    on_console = wsgi_call("/admin/login/", host="console.example")

    assert assert_gateway_json(on_gateway, 404)["moreInformation"] == f"No API is published at {path}."
    assert "set-cookie" not in on_gateway.headers
    assert on_console.status == 200  # the twin: the console on its own host name
    assert on_console.headers["content-type"].startswith("text/html")


def test_with_gateway_hosts_health_checks_answer_on_every_host(db: None, gateway_host: str) -> None:
    for host in (gateway_host, "console.example"):
        answer = wsgi_call("/healthz", host=host)
        assert (answer.status, json.loads(answer.body)) == (200, {"status": "ok"})


@pytest.mark.parametrize(
    ("hosts", "expected"),
    [
        (["gateway.example"], "http://gateway.example/personal/sandbox/securetoken"),
        ([], "http://testserver/personal/sandbox/securetoken"),
    ],
)
def test_the_consoles_postman_collection_points_at_the_gateway_host(
    hosts: list[str], expected: str, demo: DemoSummary, admin_client: Client, settings: LazySettings
) -> None:
    settings.PORTAL_GATEWAY_HOSTS = hosts
    publication = Publication.objects.get(api__name="jwt-generation-and-validation", catalog__slug="sandbox")

    response = admin_client.get(f"/admin/tokens/publication/{publication.pk}/postman.json")

    variables = {v["key"]: v["value"] for v in json.loads(response.content)["variable"]}
    assert variables["gateway_url"] == expected
