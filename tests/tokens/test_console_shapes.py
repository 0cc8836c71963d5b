"""Issue 13's API shapes, each built in the console from an empty API (the create form, the editor's actions
and policy forms, the settings page: never the YAML), published, and called through the gateway with real
loopback backends. The runtime's own tests of the same shapes, from documents, are test_invoke_shapes.py."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import LazySettings
from django.test import Client
from django.urls import reverse

from portal.models import Catalog, Organization
from tests.tokens.backends import Backend, Reply, Seen, json_reply
from tests.tokens.helpers import JWK_SECRET, oct_jwk, rsa_jwk, rsa_private, segment
from tests.tokens.test_console import (
    GENERATE_CASE,
    VALIDATE_CASE,
    add_policy,
    api_url,
    create_form,
    created_api,
    generate_form,
    operator,
    set_variable_form,
    tag,
    validate_form,
)
from tests.tokens.test_console_cases import settings_form
from tests.tokens.test_invoke_shapes import ANSWER_CLAIMS, ENRICH, EXPLAIN, PICK_KEY, idp_token
from tokens import editor
from tokens.models import Api, ConsumerApp
from tokens.services import SANDBOX_TEST_APP

__all__ = ["created_api", "operator"]  # fixtures, used by name

GATEWAY = "/personal/sandbox"
FIRST_CASE = "execute/0/case/0"


def save(client: Client, api: Api, at: str, data: dict[str, str]) -> None:
    """Save a policy form; fails showing the form's errors when the console refuses it."""
    response = client.post(api_url(api, "tokens_api_policy", at), data)
    assert response.status_code == 302, re.findall(r'role="alert">(.*?)</', response.content.decode(), re.S)


def add_saved(client: Client, api: Api, at: str, kind: str, data: dict[str, str]) -> str:
    """Add a ``kind`` policy to the branch at ``at`` and save its form with ``data`` (under the document's tag
    after the add, whatever tag ``data`` holds); returns the policy's address."""
    added = add_policy(client, api, at, kind)
    save(client, api, added, {**data, "tag": tag(api)})
    return added


def script(client: Client, api: Api, at: str, title: str, source: str) -> None:
    add_saved(client, api, at, "gatewayscript", {"title": title, "source": source, "_save": "Save"})


def invoke(client: Client, api: Api, at: str, title: str, target_url: str, *, output: str = "") -> None:
    data = {"title": title, "target_url": target_url, "verb": "GET", "timeout": "10", "tls_profile": ""}
    add_saved(client, api, at, "invoke", {**data, "output": output, "_save": "Save"})


def add_catch(client: Client, api: Api, error: str | None) -> str:
    """Add a catch for ``error`` (None: the default catch); returns its list address."""
    if error is None:
        client.post(api_url(api, "tokens_api_catch_default_add"), {"tag": tag(api)})
    else:
        client.post(api_url(api, "tokens_api_catch_add"), {"tag": tag(api), "error": error})
    api.refresh_from_db()
    return f"catch/{len(api.document['x-ibm-configuration']['assembly']['catch']) - 1}"


def create(client: Client, organization: Organization, title: str, base_path: str, *paths: str) -> Api:
    operations = {f"operations-{i}-path": "" for i in range(4)}
    operations.update({f"operations-{i}-path": path for i, path in enumerate(paths)})
    response = client.post(
        reverse("admin:tokens_api_create"),
        create_form(organization, title=title, base_path=base_path, openapi_version="2.0", **operations),
    )
    assert response.status_code == 302
    return Api.objects.get(title=title)


def publish(client: Client, api: Api, sandbox: Catalog) -> str:
    """Publish to sandbox through the API page's panel; returns the sandbox test app's client id."""
    response = client.post(api_url(api, "tokens_api_publish"), {"catalog": str(sandbox.pk)})
    assert response.status_code == 302, re.findall(r'class="errornote"[^>]*>(.*?)</', response.content.decode(), re.S)
    return str(ConsumerApp.objects.get(catalog=sandbox, name=SANDBOX_TEST_APP).client_id)


# -- 1. an HS256 JWK in a variable, private claims from a script, a default catch --------------------------

HS_JWK = {**oct_jwk(JWK_SECRET), "kid": "hs-1", "alg": "HS256"}
PRIVATE_CLAIMS = "require('apim').setvariable('token.claims', {scope: 'orders', tenant: 'acme'});\n"
ANSWER_JWT = """var apim = require('apim');
apim.output('application/json');
session.output.write({jwt: apim.getvariable('generated.jwt')});
"""
EXPLAIN_JWT = """var apim = require('apim');
apim.output('application/json');
context.message.statusCode = apim.getvariable('error.status.code');
session.output.write({error: apim.getvariable('error.name'), detail: apim.getvariable('jwt-validate.error-message')});
"""


def test_an_hs256_jwk_signs_private_claims_and_the_default_catch_explains_a_refusal(
    operator: Client, created_api: Api, sandbox: Catalog, client: Client
) -> None:
    api = created_api
    for case in (GENERATE_CASE, VALIDATE_CASE):
        key = set_variable_form(api, f"key {case[-1]}", [("set", "hs.jwk", json.dumps(HS_JWK), "object")])
        add_saved(operator, api, case, "set-variable", key)
    script(operator, api, GENERATE_CASE, "private claims", PRIVATE_CLAIMS)
    generate = generate_form(
        api, jwt="generated.jwt", private_claims="token.claims", jws_alg="HS256", jws_crypto="", jws_jwk="hs.jwk"
    )
    add_saved(operator, api, GENERATE_CASE, "jwt-generate", generate)
    script(operator, api, GENERATE_CASE, "answer jwt", ANSWER_JWT)
    validate = validate_form(api, iss_claim="apic|idp", aud_claim="id[0-9]+", jws_crypto="", jws_jwk="hs.jwk")
    add_saved(operator, api, VALIDATE_CASE, "jwt-validate", validate)
    script(operator, api, VALIDATE_CASE, "answer claims", ANSWER_CLAIMS)
    script(operator, api, add_catch(operator, api, None), "explain", EXPLAIN_JWT)
    client_id = publish(operator, api, sandbox)

    generated = client.get(
        f"{GATEWAY}/securetoken/generate",
        headers={"X-IBM-Client-Id": client_id, "iss-claim": "apic", "aud-claim": "id1"},
    )
    token = generated.json()["jwt"]
    valid = client.get(
        f"{GATEWAY}/securetoken/validate", headers={"X-IBM-Client-Id": client_id, "Authorization": f"Bearer {token}"}
    )
    head, payload, signature = token.split(".")
    forged = f"{head}.{payload}.{'A' * len(signature)}"
    refused = client.get(
        f"{GATEWAY}/securetoken/validate", headers={"X-IBM-Client-Id": client_id, "Authorization": f"Bearer {forged}"}
    )

    assert generated.status_code == 200
    assert segment(token, 0) == {"alg": "HS256", "typ": "JWT", "kid": "hs-1"}
    assert valid.status_code == 200
    assert {k: valid.json()[k] for k in ("iss", "aud", "scope", "tenant")} == {
        "iss": "apic",
        "aud": "id1",
        "scope": "orders",
        "tenant": "acme",
    }
    assert refused.status_code == 401
    assert refused.json()["error"] == "RuntimeError"
    assert "signature" in refused.json()["detail"]


# -- 2. an invoke with path parameters, enriched by a script, a ConnectionError catch; API properties ------


@pytest.fixture
def orders(settings: LazySettings) -> Iterator[Backend]:
    def answer(seen: Seen) -> Reply:
        order = seen.path.rsplit("/", 1)[-1]
        if order == "0":
            return Reply(500, {"Content-Type": "application/json"}, b'{"error": "database down"}')
        return Reply(200, {"Content-Type": "application/json"}, json.dumps({"id": order}).encode())

    with Backend(answer) as server:
        settings.INVOKE = {"ALLOW": f"127.0.0.1:{server.port}"}
        yield server


def test_an_invoke_with_a_path_parameter_is_enriched_and_its_failure_caught(
    operator: Client, organization: Organization, sandbox: Catalog, client: Client, orders: Backend
) -> None:
    api = create(operator, organization, "Orders", "/orders", "/orders/{id}")
    invoke(operator, api, FIRST_CASE, "order service", orders.url("/orders/$(request.parameters.id)"))
    script(operator, api, FIRST_CASE, "enrich", ENRICH)
    script(operator, api, add_catch(operator, api, "ConnectionError"), "explain", EXPLAIN)
    client_id = publish(operator, api, sandbox)

    found = client.get(f"{GATEWAY}/orders/orders/42", headers={"X-IBM-Client-Id": client_id})
    failed = client.get(f"{GATEWAY}/orders/orders/0", headers={"X-IBM-Client-Id": client_id})

    assert found.status_code == 200
    assert found.json() == {"id": "42", "checkedBy": "portal"}
    assert found["X-Order-Checked"] == "yes"
    assert orders.seen[0].path == "/orders/42"
    assert failed.status_code == 502
    assert failed.json() == {"error": "ConnectionError", "detail": "the order service failed: database down"}


def test_properties_and_activity_logging_set_on_the_settings_page_reach_the_gateway(
    operator: Client,
    organization: Organization,
    sandbox: Catalog,
    client: Client,
    orders: Backend,
    caplog: pytest.LogCaptureFixture,
) -> None:
    api = create(operator, organization, "Orders", "/orders", "/orders/{id}")
    invoke(operator, api, FIRST_CASE, "order service", "$(target-url)/orders/$(request.parameters.id)")
    script(operator, api, FIRST_CASE, "enrich", ENRICH)
    settings = settings_form(api, [("target-url", orders.url("").rstrip("/"), "")], success_content="header")
    assert operator.post(api_url(api, "tokens_api_settings"), settings).status_code == 302
    client_id = publish(operator, api, sandbox)

    with caplog.at_level(logging.INFO, logger="tokens.activity"):
        found = client.get(f"{GATEWAY}/orders/orders/42", headers={"X-IBM-Client-Id": client_id, "X-Tenant": "acme"})

    assert found.status_code == 200
    assert found.json() == {"id": "42", "checkedBy": "portal"}
    (record,) = [r.activity for r in caplog.records if r.name == "tokens.activity"]  # type: ignore[attr-defined]
    assert record["request_headers"]["x-tenant"] == "acme"  # header content, as the settings page chose


# -- 3. a JWKS fetched by an invoke, a key picked by a script, regex iss and aud -------------------------


def test_a_token_is_checked_with_a_key_from_a_fetched_jwks(
    operator: Client, organization: Organization, sandbox: Catalog, client: Client, settings: LazySettings
) -> None:
    public = {**rsa_jwk(rsa_private(), private=False), "kid": "idp-1", "use": "sig", "alg": "RS256"}
    with Backend(json_reply(json.dumps({"keys": [public]}).encode())) as idp:
        settings.INVOKE = {"ALLOW": f"127.0.0.1:{idp.port}"}
        api = create(operator, organization, "Partner", "/partner", "/go")
        invoke(operator, api, FIRST_CASE, "fetch jwks", idp.url("/.well-known/jwks.json"), output="idp")
        script(operator, api, FIRST_CASE, "pick key", PICK_KEY)
        validate = validate_form(
            api, iss_claim=r"https://idp\.example\.com", aud_claim="portal", jws_crypto="", jws_jwk="idp.key"
        )
        add_saved(operator, api, FIRST_CASE, "jwt-validate", validate)
        script(operator, api, FIRST_CASE, "answer", ANSWER_CLAIMS)
        client_id = publish(operator, api, sandbox)

        def call(token: str) -> Any:
            return client.get(
                f"{GATEWAY}/partner/go", headers={"X-IBM-Client-Id": client_id, "Authorization": f"Bearer {token}"}
            )

        accepted = call(idp_token())
        # Twin: an issuer the anchored pattern only partly matches.
        refused = call(idp_token(iss="https://idp.example.com.evil"))

    assert accepted.status_code == 200
    assert accepted.json()["sub"] == "ann"
    assert refused.status_code == 401
    assert "issuer claim" in refused.json()["moreInformation"]


# -- 4. a switch on variables: a case edited, a case added, otherwise added ------------------------------


def test_a_switch_on_variables_answers_by_the_case_whose_condition_holds(
    operator: Client, organization: Organization, sandbox: Catalog, client: Client
) -> None:
    api = create(operator, organization, "Tenants", "/tenants", "/go")
    tier = set_variable_form(api, "tier", [("set", "route.tier", "$(request.parameters.tier)", "string")])
    add_saved(operator, api, FIRST_CASE, "set-variable", tier)
    switch = add_policy(operator, api, FIRST_CASE, "switch")
    cases = editor.policy_get(Api.objects.get(pk=api.pk).document, switch)[1]["case"]
    conditions = {"tag": tag(api), "title": "by tenant", "case": json.dumps(cases), "_save": "Save"}
    save(operator, api, switch, {**conditions, "conditions": "request.headers.x-tenant = 'acme'"})
    operator.post(
        api_url(api, "tokens_api_case_add"), {"tag": tag(api), "at": switch, "condition": "$(route.tier) === 'gold'"}
    )
    operator.post(api_url(api, "tokens_api_otherwise_add"), {"tag": tag(api), "at": switch})
    for index, body in enumerate(("for acme", "gold", "for anyone")):
        answer = set_variable_form(api, f"answer {index}", [("set", "message.body", body, "string")])
        add_saved(operator, api, f"{switch}/case/{index}", "set-variable", answer)
    client_id = publish(operator, api, sandbox)

    def call(path: str, **headers: str) -> bytes:
        response = client.get(f"{GATEWAY}/tenants{path}", headers={"X-IBM-Client-Id": client_id, **headers})
        assert response.status_code == 200
        return bytes(response.content)

    assert call("/go", **{"X-Tenant": "acme"}) == b"for acme"
    assert call("/go?tier=gold") == b"gold"
    assert call("/go?tier=silver", **{"X-Tenant": "other"}) == b"for anyone"
