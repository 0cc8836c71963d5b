"""``catalogs/{catalog}/apis/{name}/{version}/properties``: an API's properties in a catalog with their
values' sources, and the operator's value set (reaching the gateway) and cleared; roles, refusals, and the
values kept from auditors and the log."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from rest_framework.test import APIClient

from keyprofiles.models import KeyProfile
from portal.models import AuditEvent, Catalog, Organization
from portal.services import Actor
from tests.api import MakeKey, bearer
from tests.tokens.helpers import KEY_OBJECT, answer, open_api, sandbox_body
from tokens.api.properties import ApiPropertySerializer
from tokens.models import Api, ApiPropertyValue
from tokens.properties import api_property_set
from tokens.services import api_publish, api_save

SANDBOX = "/api/v1/orgs/personal/catalogs/sandbox"
SHOP = f"{SANDBOX}/apis/shop/1.0.0/properties"
SIGNER = f"{SANDBOX}/apis/signer/1.0.0/properties"
SECRET = "s3cret-backend-password"
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("recheck_always")]


@pytest.fixture
def shop(sandbox: Catalog, production: Catalog, actor: Actor) -> Api:
    """``shop`` 1.0.0 published in sandbox, answering $(greeting): a default, a production value in the
    document, and ``backend`` declared without a value."""
    document = open_api(
        "shop", [answer("$(greeting)")], {"greeting": {"value": "doc"}, "backend": {"description": "per catalog"}}
    )
    document["x-ibm-configuration"]["catalogs"] = {"production": {"properties": {"greeting": "doc-prod"}}}
    api, _ = api_save(organization=sandbox.organization, document=document, actor=actor)
    api_publish(api=api, catalog=sandbox, actor=actor)
    return api


def by_name(answer: Any) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in answer.json()["results"]}


# -- listing ----------------------------------------------------------------------------------------------------


def test_the_list_names_every_property_with_its_values_source(
    client: APIClient, shop: Api, sandbox: Catalog, actor: Actor, operator: dict[str, str]
) -> None:
    listed = client.get(SHOP, **operator)
    assert listed.status_code == 200
    assert listed["Cache-Control"] == "no-store"
    assert [entry["name"] for entry in listed.json()["results"]] == ["backend", "greeting"]
    assert listed.json()["count"] == 2
    assert by_name(listed) == {
        "backend": {"name": "backend", "source": "unset", "value": None, "updated_at": None},
        "greeting": {"name": "greeting", "source": "document_default", "value": "doc", "updated_at": None},
    }
    production = client.get(SHOP.replace("/sandbox/", "/production/"), **operator)
    assert by_name(production)["greeting"]["source"] == "document_catalog"
    assert by_name(production)["greeting"]["value"] == "doc-prod"

    api_property_set(api=shop, catalog=sandbox, name="backend", value="https://b.example.com", actor=actor)
    backend = by_name(client.get(SHOP, **operator))["backend"]
    assert (backend["source"], backend["value"]) == ("operator", "https://b.example.com")
    assert backend["updated_at"] is not None
    # One property: the same entry.
    assert client.get(f"{SHOP}/backend", **operator).json() == backend
    # A collection like the others: paginated by limit and offset.
    page = client.get(f"{SHOP}?limit=1&offset=1", **operator).json()
    assert (page["count"], [entry["name"] for entry in page["results"]]) == (2, ["greeting"])


def test_a_value_an_operator_set_outside_the_documents_declarations_is_listed_and_cleared(
    client: APIClient, shop: Api, sandbox: Catalog, actor: Actor, operator: dict[str, str]
) -> None:
    # Left by an older version of the document that declared it: listed, and can be changed and cleared.
    ApiPropertyValue.objects.create(api=shop, catalog=sandbox, name="legacy", value="x")
    assert by_name(client.get(SHOP, **operator))["legacy"]["source"] == "operator"
    assert client.put(f"{SHOP}/legacy", {"value": "y"}, format="json", **operator).status_code == 200
    assert client.delete(f"{SHOP}/legacy", **operator).status_code == 204
    assert "legacy" not in by_name(client.get(SHOP, **operator))


def test_the_answers_have_exactly_the_fields_the_serializer_declares(
    client: APIClient, shop: Api, operator: dict[str, str]
) -> None:
    for entry in client.get(SHOP, **operator).json()["results"]:
        assert set(entry) == set(ApiPropertySerializer().fields)


# -- set and clear, at the gateway ------------------------------------------------------------------------------


def test_a_value_put_reaches_the_gateway_and_clearing_it_restores_the_documents(
    client: APIClient, shop: Api, operator: dict[str, str]
) -> None:
    assert sandbox_body("/shop/go") == "doc"

    created = client.put(f"{SHOP}/greeting", {"value": "hello"}, format="json", **operator)
    assert created.status_code == 201, created.content
    assert created["Cache-Control"] == "no-store"
    assert (created.json()["source"], created.json()["value"]) == ("operator", "hello")
    assert sandbox_body("/shop/go") == "hello"

    replaced = client.put(f"{SHOP}/greeting", {"value": "hi"}, format="json", **operator)
    assert replaced.status_code == 200
    assert sandbox_body("/shop/go") == "hi"

    assert client.delete(f"{SHOP}/greeting", **operator).status_code == 204
    assert sandbox_body("/shop/go") == "doc"
    assert by_name(client.get(SHOP, **operator))["greeting"]["source"] == "document_default"
    gone = client.delete(f"{SHOP}/greeting", **operator)
    assert gone.status_code == 404
    assert gone.json()["code"] == "not_found"
    assert "no operator value of 'greeting'" in gone.json()["detail"]


def test_writes_are_audited_with_the_key_and_never_the_value(
    client: APIClient, shop: Api, operator: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        assert client.put(f"{SHOP}/backend", {"value": SECRET}, format="json", **operator).status_code == 201
        assert client.get(SHOP, **operator).status_code == 200
        assert client.delete(f"{SHOP}/backend", **operator).status_code == 204
    events = AuditEvent.objects.filter(action__startswith="api.property.").order_by("pk")
    assert [event.action for event in events] == ["api.property.set", "api.property.clear"]
    assert events[0].detail == {"catalog": "sandbox", "property": "backend"}
    assert events[0].actor.startswith("api-key:personal/")
    assert SECRET not in str(list(events.values_list("detail", flat=True)))
    assert SECRET not in caplog.text
    assert all(SECRET not in str(record.__dict__) for record in caplog.records)


def test_an_empty_value_is_a_value(client: APIClient, shop: Api, operator: dict[str, str]) -> None:
    assert client.put(f"{SHOP}/greeting", {"value": ""}, format="json", **operator).status_code == 201
    assert sandbox_body("/shop/go") == ""


# -- refusals -----------------------------------------------------------------------------------------------------


def test_a_value_the_api_would_not_run_with_is_refused_naming_the_field_and_the_policy(
    client: APIClient, signer_api: Api, operator: dict[str, str]
) -> None:
    assert sandbox_body("/signer/go").count(".") == 2

    refused = client.put(f"{SIGNER}/signing-key", {"value": "no-such-key"}, format="json", **operator)

    assert refused.status_code == 400
    assert refused["Content-Type"] == "application/problem+json"
    problem = refused.json()
    assert problem["code"] == "invalid"
    [message] = problem["errors"]["value"]
    assert "would not run with this value" in message
    assert "'sign'" in message  # the policy's title
    assert "no-such-key" in message
    assert not ApiPropertyValue.objects.exists()
    assert sandbox_body("/signer/go").count(".") == 2  # still served as before
    # Twin: a crypto object that exists in sandbox.
    assert client.put(f"{SIGNER}/signing-key", {"value": KEY_OBJECT}, format="json", **operator).status_code == 201


def test_clearing_a_value_the_api_needs_is_refused(
    client: APIClient, sandbox: Catalog, actor: Actor, jwt_keyprofile: KeyProfile, operator: dict[str, str]
) -> None:
    generate = {"jwt-generate": {"title": "sign", "jws-crypto": "$(signing-key)", "jws-alg": "RS256"}}
    document = open_api("signer", [generate, answer("$(generated.jwt)")], {"signing-key": {"description": "set here"}})
    api, _ = api_save(organization=sandbox.organization, document=document, actor=actor)
    assert client.put(f"{SIGNER}/signing-key", {"value": KEY_OBJECT}, format="json", **operator).status_code == 201
    api_publish(api=api, catalog=sandbox, actor=actor)

    refused = client.delete(f"{SIGNER}/signing-key", **operator)

    assert refused.status_code == 400
    assert "would not run" in refused.json()["errors"]["name"][0]
    assert ApiPropertyValue.objects.filter(name="signing-key").exists()
    assert sandbox_body("/signer/go").count(".") == 2


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ({}, "application/json", 400),
        ({"value": None}, "application/json", 400),
        ({"value": ["a"]}, "application/json", 400),
        ({"value": "bell\x07"}, "application/json", 400),
        ("value=x", "application/x-www-form-urlencoded", 415),
    ],
)
def test_a_malformed_value_is_refused_and_nothing_is_stored(
    client: APIClient, shop: Api, operator: dict[str, str], body: Any, content_type: str, status: int
) -> None:
    if isinstance(body, dict):
        refused = client.put(f"{SHOP}/greeting", body, format="json", **operator)
    else:
        refused = client.put(f"{SHOP}/greeting", body, content_type=content_type, **operator)
    assert refused.status_code == status, refused.content
    if status == 400:
        assert "value" in refused.json()["errors"]
    assert not ApiPropertyValue.objects.exists()
    # Twin: a well-formed value.
    assert client.put(f"{SHOP}/greeting", {"value": "bell"}, format="json", **operator).status_code == 201


def test_a_value_over_the_body_limit_is_413(client: APIClient, shop: Api, operator: dict[str, str]) -> None:
    body = json.dumps({"value": "x" * (1024 * 1024)})

    refused = client.put(f"{SHOP}/greeting", body, content_type="application/json", **operator)

    assert refused.status_code == 413
    assert refused.json()["code"] == "payload_too_large"
    assert not ApiPropertyValue.objects.exists()


def test_a_name_that_would_hide_a_context_variable_is_refused(
    client: APIClient, sandbox: Catalog, actor: Actor, operator: dict[str, str]
) -> None:
    # Such a declaration cannot be published, but the document is stored (and its name listed).
    document = open_api("shop", [answer("x")], {"request.path": {"value": "x"}, "greeting": {"value": "doc"}})
    api_save(organization=sandbox.organization, document=document, actor=actor)

    refused = client.put(f"{SHOP}/request.path", {"value": "y"}, format="json", **operator)

    assert refused.status_code == 400
    assert "would hide the context variable" in refused.json()["errors"]["name"][0]
    assert client.put(f"{SHOP}/greeting", {"value": "y"}, format="json", **operator).status_code == 201


def test_unknown_apis_catalogs_and_properties_are_404(client: APIClient, shop: Api, operator: dict[str, str]) -> None:
    for url in (
        f"{SANDBOX}/apis/nothing/1.0.0/properties",
        f"{SANDBOX}/apis/shop/9.9.9/properties",
        "/api/v1/orgs/personal/catalogs/nowhere/apis/shop/1.0.0/properties",
        f"{SHOP}/missing",
        f"{SHOP}/bad%20name",
    ):
        missing = client.get(url, **operator)
        assert missing.status_code == 404, url
        assert missing.json()["code"] == "not_found"
    unknown = client.put(f"{SHOP}/missing", {"value": "x"}, format="json", **operator)
    assert unknown.status_code == 404
    assert "has no property 'missing' in sandbox (it has: backend, greeting)" in unknown.json()["detail"]
    assert client.delete(f"{SHOP}/missing", **operator).status_code == 404
    assert not ApiPropertyValue.objects.exists()
    # Twin: the API's own property, in a catalog that exists.
    assert client.get(f"{SHOP}/greeting", **operator).status_code == 200


# -- roles ----------------------------------------------------------------------------------------------------------


def test_auditors_see_the_documents_values_and_never_an_operators(
    client: APIClient, shop: Api, sandbox: Catalog, actor: Actor, auditor: dict[str, str], operator: dict[str, str]
) -> None:
    api_property_set(api=shop, catalog=sandbox, name="backend", value=SECRET, actor=actor)

    for response in (client.get(SHOP, **auditor), client.get(f"{SHOP}/backend", **auditor)):
        assert response.status_code == 200
        assert SECRET not in response.content.decode()
    listed = by_name(client.get(SHOP, **auditor))
    assert {name: (entry["source"], entry["value"]) for name, entry in listed.items()} == {
        "backend": ("operator", None),
        "greeting": ("document_default", "doc"),  # in the API's document, which auditors read anyway
    }
    # Twin: an operator sees the value.
    assert by_name(client.get(SHOP, **operator))["backend"]["value"] == SECRET


def test_only_operators_write(client: APIClient, shop: Api, auditor: dict[str, str], operator: dict[str, str]) -> None:
    assert client.put(f"{SHOP}/greeting", {"value": "x"}, format="json", **auditor).status_code == 403
    assert not ApiPropertyValue.objects.exists()
    assert client.put(f"{SHOP}/greeting", {"value": "x"}, format="json", **operator).status_code == 201
    refused = client.delete(f"{SHOP}/greeting", **auditor)
    assert refused.status_code == 403
    assert refused.json()["code"] == "permission_denied"
    assert ApiPropertyValue.objects.exists()


def test_signers_strangers_and_anonymous_callers_are_refused(
    client: APIClient,
    shop: Api,
    jwt_keyprofile: KeyProfile,
    signer: dict[str, str],
    make_key: MakeKey,
    other_organization: Organization,
) -> None:
    assert client.get(SHOP, **signer).status_code == 403
    assert client.put(f"{SHOP}/greeting", {"value": "x"}, format="json", **signer).status_code == 403
    stranger = bearer(make_key("operator", organization=other_organization))
    assert client.get(SHOP, **stranger).status_code == 404
    assert client.put(f"{SHOP}/greeting", {"value": "x"}, format="json", **stranger).status_code == 404
    anonymous = client.get(SHOP)
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"].startswith("Bearer")
    assert not ApiPropertyValue.objects.exists()


# -- the schema -----------------------------------------------------------------------------------------------------


def test_the_schema_lists_the_property_operations(client: APIClient, db: None) -> None:
    document = client.get("/api/v1/schema?format=json").json()
    base = "/api/v1/orgs/{org}/catalogs/{catalog}/apis/{name}/{version}/properties"
    collection, item = document["paths"][base], document["paths"][base + "/{property_name}"]
    operations = {
        ("get", "api_property_list", "200"): collection,
        ("get", "api_property_read", "200"): item,
        ("put", "api_property_set", "201"): item,
        ("delete", "api_property_clear", "204"): item,
    }
    for (verb, operation_id, success), path in operations.items():
        operation = path[verb]
        assert operation["operationId"] == operation_id
        assert {"401", "403", "404", success} <= set(operation["responses"])
        assert "application/problem+json" in operation["responses"]["404"]["content"]
    assert set(collection) == {"get"}
    listed = collection["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert listed["$ref"].endswith("PaginatedApiPropertyList")
    assert set(item) == {"get", "put", "delete"}
    put = item["put"]
    assert {"200", "201", "400"} <= set(put["responses"])
    assert put["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("ApiPropertyDetailInputRequest")
    names = next(p for p in put["parameters"] if p["name"] == "property_name")
    assert names["schema"]["pattern"] == r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}$"
    components = document["components"]["schemas"]
    assert set(components["ApiProperty"]["properties"]) == {"name", "source", "value", "updated_at"}
    assert components["ApiPropertySourceEnum"]["enum"] == ["operator", "document_catalog", "document_default", "unset"]
