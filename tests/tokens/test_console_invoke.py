"""The console for issue 13's policies and API properties: invoke, switch and log in the assembly editor, and
API property values per catalog."""

from __future__ import annotations

import json
import re

import pytest
from django.conf import LazySettings
from django.test import Client
from django.urls import reverse

from portal.models import AuditEvent, Catalog
from portal.services import Actor
from tests.tokens.backends import Backend, json_reply
from tests.tokens.helpers import api_document
from tests.tokens.test_console import GENERATE_CASE, add_policy, api_url, auditor, created_api, operator, tag
from tokens import editor
from tokens.models import Api, ApiPropertyValue
from tokens.properties import api_property_set
from tokens.services import api_etag, api_publish, api_replace, api_save

__all__ = ["auditor", "created_api", "operator"]  # fixtures, used by name


def invoke_form(api: Api, **changes: str) -> dict[str, str]:
    return {
        "tag": tag(api),
        "title": "order service",
        "target_url": "$(target-url)/orders/$(request.parameters.id)",
        "verb": "GET",
        "timeout": "30",
        "tls_profile": "",
        "output": "",
        "_save": "Save",
        **changes,
    }


def test_an_operator_adds_an_invoke_and_saves_its_form(operator: Client, created_api: Api) -> None:
    at = add_policy(operator, created_api, GENERATE_CASE, "invoke")
    created_api.refresh_from_db()
    _, config = editor.policy_get(created_api.document, at)
    assert (config["target-url"], config["verb"], config["timeout"]) == ("$(target-url)", "keep", 60)

    page = operator.get(api_url(created_api, "tokens_api_policy", at)).content.decode()
    assert 'name="target_url"' in page
    assert 'name="tls_profile"' in page

    response = operator.post(api_url(created_api, "tokens_api_policy", at), invoke_form(created_api))
    assert response.status_code == 302
    created_api.refresh_from_db()
    _, config = editor.policy_get(created_api.document, at)
    assert config["target-url"] == "$(target-url)/orders/$(request.parameters.id)"
    assert (config["verb"], config["timeout"]) == ("GET", 30)
    assert "tls-profile" not in config


def test_an_invoke_url_that_is_not_http_is_refused_beside_its_field(operator: Client, created_api: Api) -> None:
    at = add_policy(operator, created_api, GENERATE_CASE, "invoke")
    response = operator.post(
        api_url(created_api, "tokens_api_policy", at), invoke_form(created_api, target_url="file:///etc/passwd")
    )
    assert response.status_code == 200
    assert "must start with http:// or https://" in response.content.decode()


def test_switch_and_log_can_be_added(operator: Client, created_api: Api) -> None:
    switch_at = add_policy(operator, created_api, GENERATE_CASE, "switch")
    log_at = add_policy(operator, created_api, GENERATE_CASE, "log")
    created_api.refresh_from_db()
    assert editor.policy_get(created_api.document, switch_at)[1]["case"][0]["condition"] == "$httpVerb() = 'GET'"
    assert editor.policy_get(created_api.document, log_at)[1]["mode"] == "gather-only"


# -- API property values ------------------------------------------------------------------------------------


def property_form(api: Api, catalog: Catalog, **changes: str) -> dict[str, str]:
    return {"api": str(api.pk), "catalog": str(catalog.pk), "name": "target-url", "value": "https://prod", **changes}


def test_an_operator_sets_a_property_for_a_catalog(
    operator: Client, created_api: Api, sandbox: Catalog, actor: Actor
) -> None:
    document = created_api.document
    document["x-ibm-configuration"]["properties"] = {"target-url": {"value": "https://test"}}
    api_replace(api=created_api, document=document, expected_etag=api_etag(created_api), actor=actor)
    url = reverse("admin:tokens_apipropertyvalue_add")
    response = operator.post(url, property_form(created_api, sandbox))
    assert response.status_code == 302
    assert ApiPropertyValue.objects.get().value == "https://prod"
    assert AuditEvent.objects.filter(action="api.property.set").exists()
    listing = operator.get(reverse("admin:tokens_apipropertyvalue_changelist")).content.decode()
    assert "target-url" in listing
    assert "https://prod" not in listing  # values may be credentials: the list shows names


def test_a_property_the_api_does_not_declare_is_refused_naming_those_it_has(
    operator: Client, created_api: Api, sandbox: Catalog
) -> None:
    response = operator.post(reverse("admin:tokens_apipropertyvalue_add"), property_form(created_api, sandbox))
    assert response.status_code == 200
    assert "has no property &#x27;target-url&#x27;" in response.content.decode()
    assert not ApiPropertyValue.objects.exists()


def test_a_property_name_that_would_hide_a_context_variable_is_refused(
    operator: Client, created_api: Api, sandbox: Catalog
) -> None:
    response = operator.post(
        reverse("admin:tokens_apipropertyvalue_add"), property_form(created_api, sandbox, name="request.path")
    )
    assert response.status_code == 200
    assert "would hide the context variable" in response.content.decode()
    assert not ApiPropertyValue.objects.exists()


def test_an_auditor_cannot_set_a_property(auditor: Client, created_api: Api, sandbox: Catalog) -> None:
    response = auditor.post(reverse("admin:tokens_apipropertyvalue_add"), property_form(created_api, sandbox))
    assert response.status_code == 403
    assert not ApiPropertyValue.objects.exists()


@pytest.mark.parametrize("kind", ["invoke", "switch", "log"])
def test_the_outline_summarises_the_new_kinds(operator: Client, created_api: Api, kind: str) -> None:
    add_policy(operator, created_api, GENERATE_CASE, kind)
    assert operator.get(api_url(created_api)).status_code == 200


# -- the Test page shows the backend calls ------------------------------------------------------------------


def test_the_test_page_reads_back_the_backend_calls_of_a_test_call(
    operator: Client, sandbox: Catalog, actor: Actor, settings: LazySettings, client: Client
) -> None:
    with Backend(json_reply(b'{"ok": true}')) as backend:
        settings.INVOKE = {"ALLOW": f"127.0.0.1:{backend.port}"}
        invoke = {"invoke": {"title": "backend", "target-url": backend.url("/status?secret=no")}}
        document = api_document(name="traced", base_path="/traced", execute=[invoke])
        api, _ = api_save(organization=sandbox.organization, document=document, actor=actor)
        publication = api_publish(api=api, catalog=sandbox, actor=actor)
        page = operator.get(reverse("admin:tokens_publication_test", args=[publication.pk])).content.decode()
        setup = json.loads(re.search(r'<script id="test-setup" type="application/json">(.*?)</script>', page).group(1))  # type: ignore[union-attr]
        client_id = str(sandbox.apps.get().client_id)
        headers = {"X-IBM-Client-Id": client_id, "X-Request-Id": "a" * 32, "X-Portal-Trace": setup["trace"]}
        assert client.get("/personal/sandbox/traced/go", headers=headers).status_code == 200
        # Twin: the same call without the console's token leaves nothing.
        untraced = {**headers, "X-Request-Id": "b" * 32, "X-Portal-Trace": "forged:token"}
        client.get("/personal/sandbox/traced/go", headers=untraced)

    calls = operator.get(setup["backendCalls"], {"trace": setup["trace"], "request": "a" * 32}).json()["calls"]
    assert [(c["policy"], c["verb"], c["url"], c["status"]) for c in calls] == [
        ("backend", "GET", backend.url("/status"), 200)
    ]
    assert operator.get(setup["backendCalls"], {"trace": setup["trace"], "request": "b" * 32}).json() == {"calls": []}


def test_an_operator_edits_the_conditions_of_a_switch_and_keeps_its_cases(operator: Client, created_api: Api) -> None:
    at = add_policy(operator, created_api, GENERATE_CASE, "switch")
    inner = add_policy(operator, created_api, f"{at}/case/0", "throw")
    page = operator.get(api_url(created_api, "tokens_api_policy", at)).content.decode()
    assert "$httpVerb() = &#x27;GET&#x27;" in page
    created_api.refresh_from_db()
    cases = editor.policy_get(created_api.document, at)[1]["case"]
    form = {"tag": tag(created_api), "title": "by tenant", "case": json.dumps(cases), "_save": "Save"}

    refused = operator.post(api_url(created_api, "tokens_api_policy", at), {**form, "conditions": "request.verb = "})
    assert "Line 1: the condition ends where a value is expected." in refused.content.decode()
    twice = operator.post(api_url(created_api, "tokens_api_policy", at), {**form, "conditions": "true\nfalse"})
    assert "Give one condition per case: this switch has 1." in twice.content.decode()

    saved = operator.post(
        api_url(created_api, "tokens_api_policy", at), {**form, "conditions": "request.headers.x-tenant = 'acme'"}
    )
    assert saved.status_code == 302
    created_api.refresh_from_db()
    (case,) = editor.policy_get(created_api.document, at)[1]["case"]
    assert case["condition"] == "request.headers.x-tenant = 'acme'"
    assert editor.policy_get(created_api.document, inner)[0] == "throw"  # the case's policies are kept


def test_a_property_values_page_shows_the_value_to_an_operator_and_not_to_an_auditor(
    operator: Client, auditor: Client, created_api: Api, sandbox: Catalog, actor: Actor
) -> None:
    document = created_api.document
    document["x-ibm-configuration"]["properties"] = {"backend-key": {}}
    api = api_replace(api=created_api, document=document, expected_etag=api_etag(created_api), actor=actor)
    row = api_property_set(api=api, catalog=sandbox, name="backend-key", value="s3cr3t-value", actor=actor)
    page = reverse("admin:tokens_apipropertyvalue_change", args=[row.pk])

    assert "s3cr3t-value" in operator.get(page).content.decode()
    seen_by_auditor = auditor.get(page)
    assert seen_by_auditor.status_code == 200
    assert "backend-key" in seen_by_auditor.content.decode()
    assert "s3cr3t-value" not in seen_by_auditor.content.decode()
