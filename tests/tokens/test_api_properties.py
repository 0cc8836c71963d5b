"""API properties with per-catalog values, and the context variables of DESIGN.md section 3a."""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from portal.models import AuditEvent, Catalog, Organization
from portal.services import Actor
from tests.tokens.helpers import api_document
from tokens.activity import ActivityLogSettings
from tokens.assembly import assembly_compile
from tokens.context import Context
from tokens.documents import Operation, document_describe
from tokens.errors import AssemblyError, DocumentError, PolicyConfigError, PublishError
from tokens.models import Api, ApiPropertyValue
from tokens.properties import (
    api_property_clear,
    api_property_set,
    api_property_values,
    api_scope,
    document_property_problems,
    document_property_values,
)
from tokens.runtime import AppEntry
from tokens.scope import ApiScope, references
from tokens.services import api_publish, api_save


def with_properties(
    document: dict[str, Any], properties: dict[str, Any], catalogs: dict[str, Any] | None = None
) -> dict[str, Any]:
    document["x-ibm-configuration"]["properties"] = {name: {"value": value} for name, value in properties.items()}
    if catalogs is not None:
        document["x-ibm-configuration"]["catalogs"] = {
            catalog: {"properties": values} for catalog, values in catalogs.items()
        }
    return document


def environ_context(
    *, path: str = "/orders/42", query: str = "", operation: Operation | None = None, **meta: str
) -> Context:
    environ = {
        "wsgi.url_scheme": "https",
        "HTTP_HOST": "gw.example.com",
        "PATH_INFO": f"/personal/sandbox/shop{path}",
        "QUERY_STRING": query,
        **meta,
    }
    params = dict(part.split("=", 1) for part in query.split("&") if "=" in part)
    context = Context(verb="GET", path=path, environ=environ, query=params, body=b'{"a":1}')
    if operation is not None:
        context.set("api.operation", operation)
    return context


# -- context variables --------------------------------------------------------------------------------------


def test_request_uri_is_the_whole_url_the_client_called() -> None:
    context = environ_context(query="x=1&y=2")
    assert context.get("request.uri") == "https://gw.example.com/personal/sandbox/shop/orders/42?x=1&y=2"
    assert environ_context().get("request.uri") == "https://gw.example.com/personal/sandbox/shop/orders/42"


def test_request_parameters_come_from_the_path_then_the_query_then_the_headers() -> None:
    operation = Operation("GET", "/orders/{order-id}", "getOrder")
    context = environ_context(query="order-id=shadowed&limit=5", operation=operation, HTTP_X_TENANT="acme")
    assert context.get("request.parameters.order-id") == "42"
    assert context.get("request.parameters.limit") == "5"
    assert context.get("request.parameters.x-tenant") == "acme"
    assert context.get("request.parameters.absent") is None
    assert context.get("request.parameters")["order-id"] == "42"


def test_path_parameters_are_read_from_the_path_the_server_decoded_once_and_need_the_operation() -> None:
    operation = Operation("GET", "/orders/{id}", None)
    assert environ_context(path="/orders/a b", operation=operation).get("request.parameters.id") == "a b"
    # Sent as /orders/%2541: the server's decoding gives %41, which is what the API reads (not "A").
    assert environ_context(path="/orders/%41", operation=operation).get("request.parameters.id") == "%41"
    assert environ_context(path="/orders/a").get("request.parameters.id") is None


def test_the_operation_variables_name_the_matched_operation() -> None:
    context = environ_context(operation=Operation("GET", "/orders/{id}", "getOrder"))
    assert (context.get("api.operation.id"), context.get("api.operation.path")) == ("getOrder", "/orders/{id}")
    assert environ_context().get("api.operation.id") is None


def test_request_body_keeps_the_request_while_message_body_changes() -> None:
    context = environ_context()
    context.set("message.body", {"replaced": True})
    assert context.get("request.body") == b'{"a":1}'


def test_a_variable_set_by_a_policy_wins_over_a_computed_one() -> None:
    context = environ_context()
    context.set("request.uri", "set by a policy")
    assert context.get("request.uri") == "set by a policy"


def test_interpolation_reads_computed_variables() -> None:
    context = environ_context(path="/orders/7", operation=Operation("GET", "/orders/{id}", None))
    assert context.interpolate("https://backend/orders/$(request.parameters.id)") == "https://backend/orders/7"


# -- the API's scope ----------------------------------------------------------------------------------------


def scope(**overrides: Any) -> ApiScope:
    """A publication's scope: shop 1.0.0 in personal/sandbox, with two properties."""
    values: dict[str, Any] = {
        "api_name": "shop",
        "api_version": "1.0.0",
        "catalog": "sandbox",
        "organization": "personal",
        "properties": {"target-url": "https://backend.example.com", "greeting": "hello $(request.parameters.who)"},
    }
    return ApiScope(**{**values, **overrides})


def test_the_scope_sets_the_api_variables_and_properties() -> None:
    context = environ_context(query="who=ann", HTTP_X_IBM_CLIENT_ID="c" * 32)
    context.client_app = AppEntry(1, "c" * 32, "", frozenset(), "Sandbox Test App")  # as the gateway admitted it
    scope().enter(context)
    assert context.get("api.name") == "shop"
    assert context.get("api.version") == "1.0.0"
    assert (context.get("api.catalog.name"), context.get("api.org.name")) == ("sandbox", "personal")
    assert context.get("plan.name") == "default-plan"
    assert context.get("target-url") == "https://backend.example.com"
    assert context.get("greeting") == "hello ann"
    assert (context.get("client.app.id"), context.get("client.app.name")) == ("c" * 32, "Sandbox Test App")


def test_client_app_is_set_only_when_the_gateway_admitted_the_call_for_an_app() -> None:
    context = environ_context(HTTP_X_IBM_CLIENT_ID="c" * 32)  # sent, but the API checks no client id
    scope().enter(context)
    assert (context.get("client.app.id"), context.get("client.app.name")) == (None, None)
    # Twin: the API asks for the client id, so the gateway checked it and names the app.
    context = environ_context(query="client_id=" + "c" * 32)
    context.client_app = AppEntry(1, "c" * 32, "", frozenset(), "Mobile")
    scope().enter(context)
    assert (context.get("client.app.id"), context.get("client.app.name")) == ("c" * 32, "Mobile")


# -- properties in documents and per catalog ----------------------------------------------------------------


def test_a_catalog_value_in_the_document_overrides_the_default() -> None:
    document = with_properties(
        api_document(), {"target-url": "https://test"}, {"production": {"target-url": "https://prod"}}
    )
    assert document_property_values(document, "sandbox") == {"target-url": "https://test"}
    assert document_property_values(document, "production") == {"target-url": "https://prod"}


@pytest.mark.parametrize(
    ("properties", "problem"),
    [
        ({"bad name": {"value": 1}}, "must hold letters"),
        ({"request.path": {"value": "x"}}, "would hide the context variable"),
        ({"target-url": "not a mapping"}, "must be a mapping such as"),
    ],
)
def test_bad_property_declarations_are_named(properties: dict[str, Any], problem: str) -> None:
    document = api_document()
    document["x-ibm-configuration"]["properties"] = properties
    assert any(problem in line for line in document_property_problems(document))
    # Twin: a well-formed declaration.
    document["x-ibm-configuration"]["properties"] = {"target-url": {"value": "https://x"}}
    assert document_property_problems(document) == []


def values(api: Api, catalog: Catalog) -> dict[str, Any]:
    return api_property_values(catalog=catalog, document=api.document, name=api.name, version=api.version)


@pytest.fixture
def api(organization: Organization, actor: Actor) -> Api:
    document = with_properties(api_document(name="shop"), {"target-url": "https://default"})
    return api_save(organization=organization, document=document, actor=actor)[0]


def test_an_operator_value_for_a_catalog_wins_and_clearing_it_restores_the_document(
    api: Api, sandbox: Catalog, production: Catalog, actor: Actor
) -> None:
    api_property_set(api=api, catalog=production, name="target-url", value="https://prod", actor=actor)
    assert values(api, production) == {"target-url": "https://prod"}
    assert values(api, sandbox) == {"target-url": "https://default"}
    event = AuditEvent.objects.filter(action="api.property.set").get()
    assert event.detail == {"catalog": "production", "property": "target-url"}  # never the value
    assert api_property_clear(api=api, catalog=production, name="target-url", actor=actor)
    assert values(api, production) == {"target-url": "https://default"}
    assert not api_property_clear(api=api, catalog=production, name="target-url", actor=actor)


@pytest.mark.parametrize(("name", "field"), [("request.path", "name"), ("bad name", "name")])
def test_a_property_value_with_a_bad_name_is_refused(
    api: Api, sandbox: Catalog, actor: Actor, name: str, field: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        api_property_set(api=api, catalog=sandbox, name=name, value="x", actor=actor)
    assert field in raised.value.message_dict


def test_the_scope_of_a_publication_reads_its_catalog_values(api: Api, production: Catalog, actor: Actor) -> None:
    api_property_set(api=api, catalog=production, name="target-url", value="https://prod", actor=actor)
    built = api_scope(catalog=production, document=api.document, description=document_describe(api.document))
    assert (built.api_name, built.catalog, built.organization) == ("shop", "production", "personal")
    assert built.properties == {"target-url": "https://prod"}
    assert built.activity is None


# -- properties in the assembly ------------------------------------------------------------------------------


class _NoKeys:
    def signing(self, name: str) -> Any:
        raise LookupError(f"no crypto object {name!r} here")

    verifying = signing


def scoped_assembly(execute: list[dict[str, Any]], **properties: Any) -> Any:
    return assembly_compile({"execute": execute}, _NoKeys(), scope=scope(properties=properties))  # type: ignore[arg-type]


def test_a_constant_property_is_written_into_policies_at_compile_time() -> None:
    validate = {"jwt-validate": {"title": "v", "iss-claim": "$(issuer-pattern)", "jws-jwk": "k"}}
    compiled = scoped_assembly([validate], **{"issuer-pattern": "^apic$"})
    assert compiled.policies[0].issuer.pattern == "^apic$"
    # Twin: the same policy without the property fails at publish, naming it.
    with pytest.raises(PolicyConfigError, match="iss-claim"):
        scoped_assembly([{"jwt-validate": {"title": "v", "iss-claim": "$(missing", "jws-jwk": "k"}}])


def test_a_property_is_read_per_call_where_it_reads_the_request() -> None:
    answer = {"set-variable": {"title": "a", "actions": [{"set": "message.body", "value": "$(greeting)"}]}}
    compiled = scoped_assembly([answer], greeting="hello $(request.parameters.who)")
    context = environ_context(query="who=ann")
    compiled.run(context)
    assert context.get("message.body") == "hello ann"
    assert context.get("api.name") == "shop"


def test_a_gatewayscript_source_is_never_substituted() -> None:
    source = "var apim = require('apim'); apim.setvariable('message.body', '$(target-url)');"
    compiled = scoped_assembly([{"gatewayscript": {"title": "s", "source": source}}], **{"target-url": "https://x"})
    context = environ_context()
    compiled.run(context)
    assert context.get("message.body") == "$(target-url)"
    assert context.get("target-url") == "https://x"  # the script reads it with getvariable


def test_publishing_refuses_a_bad_property_declaration(
    sandbox: Catalog, actor: Actor, organization: Organization
) -> None:
    document = api_document(name="bad-props")
    document["x-ibm-configuration"]["properties"] = {"request.path": {"value": "x"}}
    api, _ = api_save(organization=organization, document=document, actor=actor)
    with pytest.raises(DocumentError, match="would hide the context variable"):
        api_publish(api=api, catalog=sandbox, actor=actor)


def test_an_activity_log_setting_writes_each_call_at_its_level(caplog: pytest.LogCaptureFixture) -> None:
    settings = ActivityLogSettings(enabled=True, success_content="activity", error_content="header")
    throw = {"throw": {"title": "t", "name": "BadRequestError"}}
    compiled = assembly_compile({"execute": [throw]}, _NoKeys(), scope=scope(activity=settings))  # type: ignore[arg-type]
    with caplog.at_level(logging.INFO, logger="tokens.activity"), pytest.raises(AssemblyError):
        compiled.run(environ_context(HTTP_AUTHORIZATION="Bearer secret"))
    (record,) = [r for r in caplog.records if r.name == "tokens.activity"]
    assert record.activity["error"] == "BadRequestError"  # type: ignore[attr-defined]
    assert record.activity["request_headers"]["authorization"] == "[redacted]"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("entry", "problem"),
    [({"success-content": "everything"}, "success-content must be one of"), ("on", "must be a mapping")],
)
def test_a_bad_activity_log_setting_is_named(entry: Any, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        ActivityLogSettings.from_document({"x-ibm-configuration": {"activity-log": entry}})
    assert (
        ActivityLogSettings.from_document({"x-ibm-configuration": {"activity-log": {"enabled": False}}}).enabled
        is False
    )


def test_publications_with_equal_values_of_the_properties_read_can_share_a_compiled_assembly() -> None:
    answer = {"set-variable": {"title": "a", "actions": [{"set": "message.body", "value": "$(target-url)"}]}}
    read = references(json.dumps(answer))
    first = scope(properties={"target-url": "https://x", "greeting": "hi $(request.verb)"})
    second = scope(api_name="other", properties={"target-url": "https://x", "greeting": "yo $(request.verb)"})
    third = scope(properties={"target-url": "https://y"})
    assert first.compile_key(read) == second.compile_key(
        read
    )  # the greetings differ, but the assembly never reads them
    assert first.compile_key() != second.compile_key()
    assert first.compile_key(read) != third.compile_key(read)
    shared = assembly_compile({"execute": [answer]}, _NoKeys(), scope=first)  # type: ignore[arg-type]
    context = environ_context()
    shared.in_scope(second).run(context)
    assert (context.get("message.body"), context.get("api.name"), context.get("greeting")) == (
        "https://x",
        "other",
        "yo GET",
    )


def test_a_property_that_reads_the_request_is_written_into_the_policy_as_its_text() -> None:
    """So the policy reads the request by its own rules: invoke percent-encodes a parameter where it lands."""
    read_per_call = scope(properties={"region-url": "https://$(request.parameters.region).example.com"})
    constant = scope(properties={"region-url": "https://eu.example.com"})
    config = {"target-url": "$(region-url)/orders", "title": "$(region-url)"}

    assert read_per_call.substituted(config)["target-url"] == "https://$(request.parameters.region).example.com/orders"
    assert constant.substituted(config)["target-url"] == "https://eu.example.com/orders"


# -- the v5-compatible gateway's activity-log policy ---------------------------------------------------------


def logged(caplog: pytest.LogCaptureFixture, execute: list[dict[str, Any]], **context: str) -> dict[str, Any]:
    """The one activity record a call of ``execute`` writes (in a scope whose document sets no activity-log)."""
    compiled = assembly_compile({"execute": execute}, _NoKeys(), scope=scope())  # type: ignore[arg-type]
    with caplog.at_level(logging.INFO, logger="tokens.activity"), contextlib.suppress(AssemblyError):
        compiled.run(environ_context(**context))
    (record,) = [r for r in caplog.records if r.name == "tokens.activity"]
    return record.activity  # type: ignore[attr-defined,no-any-return]


ACTIVITY_LOG = {"activity-log": {"version": "1.0.0", "title": "log", "content": "header", "error-content": "activity"}}


def test_an_activity_log_policy_writes_the_record_at_its_success_level(caplog: pytest.LogCaptureFixture) -> None:
    record = logged(caplog, [ACTIVITY_LOG], HTTP_X_TENANT="acme")
    assert record["request_headers"]["x-tenant"] == "acme"


def test_an_activity_log_policy_writes_a_failed_call_at_its_error_level(caplog: pytest.LogCaptureFixture) -> None:
    record = logged(caplog, [ACTIVITY_LOG, {"throw": {"title": "t", "name": "BadRequestError"}}], HTTP_X_TENANT="a")
    assert record["error"] == "BadRequestError"
    assert "request_headers" not in record  # activity: the call, not its headers


def test_a_log_policys_level_wins_over_an_activity_log_policy(caplog: pytest.LogCaptureFixture) -> None:
    gather = {"log": {"title": "l", "log-level": "payload", "mode": "gather-only"}}
    record = logged(caplog, [ACTIVITY_LOG, gather])
    assert record["request_body"] == '{"a":1}'


def test_without_an_activity_log_policy_or_setting_no_record_is_written(caplog: pytest.LogCaptureFixture) -> None:
    compiled = assembly_compile({"execute": []}, _NoKeys(), scope=scope())  # type: ignore[arg-type]
    with caplog.at_level(logging.INFO, logger="tokens.activity"):
        compiled.run(environ_context())
    assert not [r for r in caplog.records if r.name == "tokens.activity"]


@pytest.mark.parametrize("prop", ["content", "error-content"])
def test_an_activity_log_policy_with_an_unknown_level_is_refused_naming_it(prop: str) -> None:
    policy = {"activity-log": {"title": "log", prop: "everything"}}
    with pytest.raises(PolicyConfigError, match=f"activity-log policy 'log', property '{prop}'"):
        assembly_compile({"execute": [policy]}, _NoKeys())  # type: ignore[arg-type]


def test_the_query_string_variables_read_as_the_client_sent_them() -> None:
    context = environ_context(query="q=1&r=a%20b")
    assert context.get("request.querystring") == "q=1&r=a%20b"
    assert context.get("request.search") == "?q=1&r=a%20b"
    # Twin: no query string at all.
    assert environ_context().get("request.search") == ""
    assert environ_context().get("request.querystring") == ""


def test_the_scope_names_the_base_path_and_the_api_type() -> None:
    context = environ_context()
    scope(base_path="/shop").enter(context)
    assert (context.get("api.root"), context.get("api.type")) == ("/shop", "REST")


def test_a_value_for_a_property_the_api_does_not_have_is_refused_naming_those_it_has(
    api: Api, sandbox: Catalog, actor: Actor
) -> None:
    with pytest.raises(ValidationError) as refused:
        api_property_set(api=api, catalog=sandbox, name="target-ulr", value="https://x", actor=actor)
    assert "has no property 'target-ulr' (it has: target-url)" in refused.value.message_dict["name"][0]
    assert not ApiPropertyValue.objects.exists()
    api_property_set(api=api, catalog=sandbox, name="target-url", value="https://x", actor=actor)  # the twin


def test_property_values_may_not_multiply_the_policies_past_a_bound() -> None:
    big = scope(properties={"big": "x" * 100_000})
    many = {"execute": [{"set-variable": {"title": "a", "actions": [{"set": "v", "value": "$(big)" * 11}]}}]}
    with pytest.raises(PublishError, match="would add more than 1048576 characters"):
        big.substituted(many)
    ten = {"execute": [{"set-variable": {"title": "a", "actions": [{"set": "v", "value": "$(big)" * 10}]}}]}
    assert len(big.substituted(ten)["execute"][0]["set-variable"]["actions"][0]["value"]) == 1_000_000  # the twin
