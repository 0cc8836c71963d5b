"""The API Connect API shapes of issue 13 that call backends, end to end: published, then called through the
gateway, with real loopback backends (a JSON service, an identity provider's JWKS)."""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import LazySettings
from django.test import Client

from portal.models import Catalog
from portal.services import Actor
from tests.tokens.backends import Backend, Reply, Seen, json_reply
from tests.tokens.helpers import api_document, compact, rs256, rsa_jwk, rsa_private
from tokens.errors import PublishError
from tokens.services import api_publish, api_save

GATEWAY = "/personal/sandbox"


def script(title: str, source: str) -> dict[str, Any]:
    return {"gatewayscript": {"version": "2.0.0", "title": title, "source": source}}


def invoke(title: str, target: str, **more: Any) -> dict[str, Any]:
    return {"invoke": {"version": "2.0.0", "title": title, "target-url": target, **more}}


def publish(sandbox: Catalog, actor: Actor, *, name: str, execute: list[dict[str, Any]], **options: Any) -> str:
    document = api_document(name=name, base_path=f"/{name}", execute=execute, **options)
    api, _ = api_save(organization=sandbox.organization, document=document, actor=actor)
    api_publish(api=api, catalog=sandbox, actor=actor)
    return str(sandbox.apps.get().client_id)


def call(client: Client, client_id: str, path: str, **headers: str) -> Any:
    return client.get(f"{GATEWAY}{path}", headers={"X-IBM-Client-Id": client_id, **headers})


@pytest.fixture
def orders(settings: LazySettings) -> Iterator[Backend]:
    """A JSON order service: /orders/<id>?currency=... answers the order; /orders/0 fails with a 500."""

    def answer(seen: Seen) -> Reply:
        path, _, query = seen.path.partition("?")
        order = path.rsplit("/", 1)[-1]
        if order == "0":
            return Reply(500, {"Content-Type": "application/json"}, b'{"error": "database down"}')
        body = {"id": order, "query": query, "tenant": seen.headers.get("x-tenant")}
        return Reply(200, {"Content-Type": "application/json"}, json.dumps(body).encode())

    with Backend(answer) as server:
        settings.INVOKE = {"ALLOW": f"127.0.0.1:{server.port}"}
        yield server


ENRICH = """
var apim = require('apim');
var message = apim.getvariable('message');
if (message.status.code >= 500) {
  apim.error('ConnectionError', 502, 'Bad Gateway', 'the order service failed: ' + message.body.error);
}
var order = message.body;
order.checkedBy = 'portal';
apim.setvariable('message.body', order);
apim.setvariable('message.headers.X-Order-Checked', 'yes');
"""
EXPLAIN = """
var apim = require('apim');
apim.output('application/json');
context.message.statusCode = apim.getvariable('error.status.code');
session.output.write({error: apim.getvariable('error.name'), detail: apim.getvariable('error.message')});
"""


@pytest.fixture
def order_api(sandbox: Catalog, actor: Actor, orders: Backend) -> str:
    target = orders.url("/orders/$(request.parameters.id)?currency=$(request.parameters.currency)")
    return publish(
        sandbox,
        actor,
        name="orders",
        paths=("/orders/{id}",),
        execute=[invoke("order service", target), script("enrich", ENRICH)],
        catch=[{"errors": ["ConnectionError"], "execute": [script("explain", EXPLAIN)]}],
    )


def test_an_invoke_answer_is_enriched_by_a_script(order_api: str, client: Client, orders: Backend) -> None:
    response = call(client, order_api, "/orders/orders/42?currency=EUR", **{"X-Tenant": "acme"})

    assert response.status_code == 200
    assert response.json() == {"id": "42", "query": "currency=EUR", "tenant": "acme", "checkedBy": "portal"}
    assert response["X-Order-Checked"] == "yes"
    assert "x-ibm-client-id" in orders.seen[0].headers  # forwarded, as API Connect forwards it


def test_a_script_raises_connection_error_for_a_failing_backend_and_the_catch_answers(
    order_api: str, client: Client
) -> None:
    response = call(client, order_api, "/orders/orders/0")

    assert response.status_code == 502
    assert response.json() == {"error": "ConnectionError", "detail": "the order service failed: database down"}


def test_a_refused_backend_is_a_connection_error_the_catch_handles(
    order_api: str, client: Client, settings: LazySettings
) -> None:
    settings.INVOKE = {"ALLOW": "backend.example.com"}

    response = call(client, order_api, "/orders/orders/42")

    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "ConnectionError"
    assert "is not an allowed destination" in body["detail"]


def test_an_uncaught_connection_error_answers_in_the_gateway_shape(
    sandbox: Catalog, actor: Actor, client: Client, settings: LazySettings
) -> None:
    settings.INVOKE = {"ALLOW": ""}
    client_id = publish(sandbox, actor, name="nocatch", execute=[invoke("metadata", "http://169.254.169.254/")])

    response = call(client, client_id, "/nocatch/go")

    assert response.status_code == 500
    assert response.json()["httpMessage"] == "URL Open error"
    assert "invoke policy 'metadata'" in response.json()["moreInformation"]


# -- a JWKS from an identity provider -------------------------------------------------------------------------

PICK_KEY = """
var apim = require('apim');
var jwks = apim.getvariable('idp.body');
var wanted = jwks.keys.filter(function (key) { return key.use === 'sig' && key.alg === 'RS256'; });
if (wanted.length === 0) apim.error('RuntimeError', 500, 'Internal Server Error', 'no signing key in the JWKS');
apim.setvariable('idp.key', JSON.stringify(wanted[0]));
"""
ANSWER_CLAIMS = """
var apim = require('apim');
apim.output('application/json');
session.output.write(apim.getvariable('decoded.claims'));
"""


@pytest.fixture
def idp(settings: LazySettings) -> Iterator[Backend]:
    public = {**rsa_jwk(rsa_private(), private=False), "kid": "idp-1", "use": "sig", "alg": "RS256"}
    other = {"kty": "oct", "kid": "x", "use": "enc", "alg": "A256KW", "k": "AAAA"}
    with Backend(json_reply(json.dumps({"keys": [other, public]}).encode())) as server:
        settings.INVOKE = {"ALLOW": f"127.0.0.1:{server.port}"}
        yield server


def idp_token(**claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": "https://idp.example.com", "aud": "portal", "sub": "ann", "iat": now, "exp": now + 300}
    return compact({"alg": "RS256", "typ": "JWT", "kid": "idp-1"}, {**payload, **claims}, rs256(rsa_private()))


@pytest.fixture
def jwks_api(sandbox: Catalog, actor: Actor, idp: Backend) -> str:
    validate = {
        "jwt-validate": {
            "title": "validate",
            "jwt": "request.headers.authorization",
            "output-claims": "decoded.claims",
            "iss-claim": r"^https://idp\.example\.com$",
            "aud-claim": "^portal$",
            "jws-jwk": "idp.key",
        }
    }
    execute = [
        invoke("fetch jwks", idp.url("/.well-known/jwks.json"), verb="GET", output="idp"),
        script("pick key", PICK_KEY),
        validate,
        script("answer", ANSWER_CLAIMS),
    ]
    return publish(sandbox, actor, name="partner", execute=execute)


def test_a_token_is_validated_with_a_key_fetched_from_the_idp_jwks(jwks_api: str, client: Client) -> None:
    response = call(client, jwks_api, "/partner/go", Authorization=f"Bearer {idp_token()}")

    assert response.status_code == 200
    assert response.json()["sub"] == "ann"


def test_a_token_from_another_issuer_is_refused_with_the_fetched_key(jwks_api: str, client: Client) -> None:
    response = call(client, jwks_api, "/partner/go", Authorization=f"Bearer {idp_token(iss='https://evil')}")

    assert response.status_code == 401
    assert "issuer claim" in response.json()["moreInformation"]


# -- switch, log and the neighbours --------------------------------------------------------------------------


def answer(title: str, value: Any) -> dict[str, Any]:
    return {"set-variable": {"title": title, "actions": [{"set": "message.body", "value": value}]}}


def test_switch_runs_the_first_case_whose_condition_holds(sandbox: Catalog, actor: Actor, client: Client) -> None:
    switch = {
        "switch": {
            "version": "2.0.0",
            "title": "by tenant",
            "case": [
                {"condition": "request.headers.x-tenant = 'acme'", "execute": [answer("acme", "for acme")]},
                {
                    "condition": "$(request.verb) === 'GET' && $exists(request.parameters.v)",
                    "execute": [answer("v", "v")],
                },
                {"otherwise": [answer("other", "for anyone")]},
            ],
        }
    }
    client_id = publish(sandbox, actor, name="tenants", execute=[switch])

    assert call(client, client_id, "/tenants/go", **{"X-Tenant": "acme"}).content == b"for acme"
    assert client.get(f"{GATEWAY}/tenants/go?v=1", headers={"X-IBM-Client-Id": client_id}).content == b"v"
    assert call(client, client_id, "/tenants/go", **{"X-Tenant": "other"}).content == b"for anyone"


def test_a_bad_switch_condition_fails_publishing_naming_the_case(sandbox: Catalog, actor: Actor) -> None:
    switch = {"switch": {"title": "broken", "case": [{"condition": "request.verb = ", "execute": []}]}}
    with pytest.raises(Exception, match=r"switch policy 'broken', property 'case\[0\]\.condition'"):
        publish(sandbox, actor, name="broken", execute=[switch])


def test_a_log_policy_writes_the_activity_record_without_secrets(
    sandbox: Catalog, actor: Actor, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    log = {"log": {"version": "2.0.0", "title": "log", "log-level": "header", "mode": "gather-and-send"}}
    client_id = publish(sandbox, actor, name="logged", execute=[log, answer("ok", "ok")])

    with caplog.at_level(logging.INFO, logger="tokens.activity"):
        response = call(client, client_id, "/logged/go", Authorization="Bearer secret-token")

    assert response.status_code == 200
    (record,) = [r for r in caplog.records if r.name == "tokens.activity"]
    activity = record.activity  # type: ignore[attr-defined]
    assert activity["verb"] == "GET"
    assert activity["request_headers"]["authorization"] == "[redacted]"
    assert "secret-token" not in json.dumps(activity)


def test_a_document_with_several_unsupported_policies_names_them_all(sandbox: Catalog, actor: Actor) -> None:
    execute = [{"map": {"title": "reshape"}}, {"proxy": {"title": "pass through"}}, {"xslt": {"title": "xml"}}]
    with pytest.raises(PublishError) as raised:
        publish(sandbox, actor, name="many", execute=execute)
    message = str(raised.value)
    assert all(f"'{title}'" in message for title in ("reshape", "pass through", "xml"))


@pytest.mark.parametrize(
    "name", ["ConnectionError", "RuntimeError", "UnauthorizedError", "BadRequestError", "JavaScriptError"]
)
def test_the_default_catch_handles_every_apic_error_name(
    sandbox: Catalog, actor: Actor, client: Client, name: str
) -> None:
    throw = {"throw": {"title": "fail", "name": name, "message": "it failed"}}
    caught = answer("caught", "caught $(error.name): $(error.message)")
    client_id = publish(sandbox, actor, name="thrower", execute=[throw], catch=[{"default": [caught]}])

    response = call(client, client_id, "/thrower/go")

    assert response.content == f"caught {name}: it failed".encode()


# -- API properties: a value per catalog ------------------------------------------------------------------


def test_an_api_property_names_the_backend_in_each_catalog(
    sandbox: Catalog, actor: Actor, client: Client, orders: Backend
) -> None:
    execute = [invoke("order service", "$(target-url)/orders/$(request.parameters.id)"), script("enrich", ENRICH)]
    document = api_document(name="props", base_path="/props", paths=("/orders/{id}",), execute=execute)
    document["x-ibm-configuration"]["properties"] = {"target-url": {"value": "http://wrong.example.com"}}
    document["x-ibm-configuration"]["catalogs"] = {"sandbox": {"properties": {"target-url": orders.url("")}}}
    api, _ = api_save(organization=sandbox.organization, document=document, actor=actor)
    api_publish(api=api, catalog=sandbox, actor=actor)

    response = call(client, str(sandbox.apps.get().client_id), "/props/orders/5")

    assert response.status_code == 200
    assert response.json()["id"] == "5"


def test_an_api_with_base_path_root_publishes(sandbox: Catalog, actor: Actor) -> None:
    document = api_document(name="root", base_path="/", execute=[answer("root", "at the root")])
    api, _ = api_save(organization=sandbox.organization, document=document, actor=actor)
    publication = api_publish(api=api, catalog=sandbox, actor=actor)
    assert publication.base_path == "/"


def test_an_api_with_base_path_root_answers_its_paths(sandbox: Catalog, actor: Actor, client: Client) -> None:
    client_id = publish(sandbox, actor, name="nested", execute=[answer("nested", "nested")])
    document = api_document(name="root", base_path="/", execute=[answer("root", "at the root")])
    api, _ = api_save(organization=sandbox.organization, document=document, actor=actor)
    api_publish(api=api, catalog=sandbox, actor=actor)

    assert call(client, client_id, "/go").content == b"at the root"
    assert call(client, client_id, "/nested/go").content == b"nested"  # the longer base path wins


# -- over real HTTP ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_order_shape_over_real_http(order_api: str, live_server: Any) -> None:
    """The gateway (pytest-django's live server) and the backend both over real sockets, as curl would call."""
    request = urllib.request.Request(  # noqa: S310 - the live server's http:// URL
        f"{live_server.url}{GATEWAY}/orders/orders/9?currency=USD",
        headers={"X-IBM-Client-Id": order_api, "X-Tenant": "acme"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the live server's URL
        assert response.status == 200
        assert response.headers["X-Order-Checked"] == "yes"
        body = json.loads(response.read())
    assert body == {"id": "9", "query": "currency=USD", "tenant": "acme", "checkedBy": "portal"}


def test_a_document_for_the_v5_compatible_gateway_runs_where_the_semantics_agree(
    sandbox: Catalog, actor: Actor, client: Client, orders: Backend
) -> None:
    switch = {
        "switch": {
            "version": "1.0.0",
            "title": "by verb",
            "case": [
                {
                    "condition": "$(request.verb) === 'GET'",
                    "execute": [
                        {"invoke": {"version": "1.0.0", "title": "get", "target-url": orders.url("/orders/3")}}
                    ],
                },
                {"otherwise": [answer("other", "not a GET")]},
            ],
        }
    }
    document = api_document(name="legacy", base_path="/legacy", execute=[switch])
    document["x-ibm-configuration"]["gateway"] = "datapower-gateway"
    api, _ = api_save(organization=sandbox.organization, document=document, actor=actor)
    api_publish(api=api, catalog=sandbox, actor=actor)

    response = call(client, str(sandbox.apps.get().client_id), "/legacy/go")

    assert (response.status_code, response.json()["id"]) == (200, "3")
