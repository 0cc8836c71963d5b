"""Issue 13's API shapes built in the console's assembly editor in a real browser, from an empty API and
without editing YAML: an HS256 JWK in a variable, private claims from a gatewayscript, jwt-generate and
jwt-validate with ``jws-jwk`` and regex ``iss``/``aud``, and a default catch answering the validation error;
the cases of a switch and an operation-switch added and removed (after a confirmation naming the policies
that go); the API's properties and activity logging. All under the console's CSP (no violation)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from playwright.sync_api import BrowserContext, Page, expect

from portal.console import OPERATORS
from portal.models import Catalog, Organization
from portal.services import Actor
from tests.browser.conftest import console_user
from tests.tokens.helpers import new_api, segment
from tests.tokens.test_console_shapes import ANSWER_JWT, EXPLAIN_JWT, HS_JWK, PRIVATE_CLAIMS
from tests.tokens.test_invoke_shapes import ANSWER_CLAIMS
from tokens import editor
from tokens.models import Api

pytestmark = pytest.mark.browser

Url = Callable[[str], str]
Shot = Callable[..., Path]
VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => window.__cspViolations.push(e.violatedDirective));
"""


@pytest.fixture
def empty_api(
    organization: Organization, actor: Actor, context: BrowserContext, sign_in: Callable[[AbstractUser], None]
) -> Api:
    """The API the create form makes (GET /generate and GET /validate, empty cases), an operator signed in,
    and the page's CSP violations recorded."""
    sign_in(console_user("olivia", role=OPERATORS))
    context.add_init_script(VIOLATIONS)
    return editor.api_create_from_spec(organization=organization, spec=new_api(), actor=actor)


def add_policy(page: Page, branch: str, kind: str, title: str) -> None:
    """On the API page: add a ``kind`` policy to the branch labelled ``branch`` and title it."""
    page.get_by_label(f"Add a policy to {branch}", exact=True).select_option(kind)
    page.get_by_role("button", name=f"Add policy to {branch}", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(kind)
    page.get_by_label("Title").fill(title)


def save(page: Page, saved: str) -> None:
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text(f"Saved “{saved}”")


def add_script(page: Page, branch: str, title: str, source: str) -> None:
    add_policy(page, branch, "gatewayscript", title)
    page.get_by_label("Source").fill(source)
    save(page, title)


def add_key(page: Page, branch: str, title: str) -> None:
    add_policy(page, branch, "set-variable", title)
    page.get_by_label("Action of action 1", exact=True).select_option("set")
    page.get_by_label("Variable of action 1", exact=True).fill("hs.jwk")
    page.get_by_label("Value of action 1", exact=True).fill(json.dumps(HS_JWK))
    page.get_by_label("Type of action 1", exact=True).select_option("object")
    save(page, title)


def gateway(url: Url, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(url(path), headers=headers)  # noqa: S310 (the live server on 127.0.0.1)
    try:
        with urllib.request.urlopen(request) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_an_hs256_jwk_api_with_scripts_and_a_default_catch_is_built_and_answers(
    page: Page, url: Url, screenshot: Shot, empty_api: Api, sandbox: Catalog
) -> None:
    page.goto(url(f"/admin/tokens/api/{empty_api.pk}/change/"))
    page.get_by_role("button", name="Toggle navigation").click()

    add_key(page, "Case GET /generate", "signing key")
    add_script(page, "Case GET /generate", "private claims", PRIVATE_CLAIMS)
    add_policy(page, "Case GET /generate", "jwt-generate", "generate")
    page.get_by_label("JSON Web Token").fill("generated.jwt")
    page.get_by_label("Issuer Claim").fill("request.headers.iss-claim")
    page.get_by_label("Audience Claim").fill("request.headers.aud-claim")
    page.get_by_label("Private claims").fill("token.claims")
    page.get_by_label("Cryptographic Algorithm").select_option("HS256")
    page.get_by_label("Sign JWK variable").fill("hs.jwk")
    screenshot("shapes-1-jwt-generate-jws-jwk")
    save(page, "generate")
    add_script(page, "Case GET /generate", "answer jwt", ANSWER_JWT)

    add_key(page, "Case GET /validate", "verifying key")
    add_policy(page, "Case GET /validate", "jwt-validate", "validate")
    page.get_by_label("Issuer Claim").fill("apic|idp")
    page.get_by_label("Audience Claim").fill("id[0-9]+")
    page.get_by_label("Verify JWK variable").fill("hs.jwk")
    save(page, "validate")
    add_script(page, "Case GET /validate", "answer claims", ANSWER_CLAIMS)

    page.get_by_role("button", name="Add default catch").click()
    expect(page.get_by_role("heading", name="Default (any other error)")).to_be_visible()
    add_policy(page, "Default (any other error)", "gatewayscript", "explain")
    page.get_by_label("Source").fill(EXPLAIN_JWT)
    page.get_by_label("Publish to").select_option(label="personal/sandbox")
    page.get_by_role("button", name="Save and Publish").click()
    expect(page.locator(".messagelist")).to_contain_text("published jwt-generation-and-validation 1.0.0")
    expect(page.locator("#branch-execute-0-case-0 .policy-title")).to_have_text(
        ["signing key", "private claims", "generate", "answer jwt"]
    )
    screenshot("shapes-1-assembly", top="#assembly")
    assert page.evaluate("window.__cspViolations") == []

    client_id = str(sandbox.apps.get().client_id)
    status, generated = gateway(
        url,
        "/personal/sandbox/securetoken/generate",
        {"X-IBM-Client-Id": client_id, "iss-claim": "apic", "aud-claim": "id1"},
    )
    token = generated["jwt"]
    valid = gateway(
        url,
        "/personal/sandbox/securetoken/validate",
        {"X-IBM-Client-Id": client_id, "Authorization": f"Bearer {token}"},
    )
    head, payload, signature = token.split(".")
    refused = gateway(
        url,
        "/personal/sandbox/securetoken/validate",
        {"X-IBM-Client-Id": client_id, "Authorization": f"Bearer {head}.{payload}.{'A' * len(signature)}"},
    )

    assert status == 200
    assert segment(token, 0)["kid"] == "hs-1"
    assert valid[0] == 200
    assert (valid[1]["iss"], valid[1]["aud"], valid[1]["scope"]) == ("apic", "id1", "orders")
    assert refused[0] == 401
    assert refused[1]["error"] == "RuntimeError"
    assert "signature" in refused[1]["detail"]


def test_cases_are_added_and_removed_and_the_settings_saved_in_the_browser(
    page: Page, url: Url, screenshot: Shot, empty_api: Api
) -> None:
    page.goto(url(f"/admin/tokens/api/{empty_api.pk}/change/"))
    page.get_by_role("button", name="Toggle navigation").click()

    add_policy(page, "Case GET /generate", "switch", "by tenant")
    save(page, "by tenant")
    page.get_by_label("Condition of a new case of by tenant").fill("request.headers.x-tenant = ")
    page.get_by_role("button", name="Add a case to by tenant").click()
    expect(page.locator(".messagelist")).to_contain_text("the condition ends where a value is expected")
    page.get_by_label("Condition of a new case of by tenant").fill("request.headers.x-tenant = 'acme'")
    page.get_by_role("button", name="Add a case to by tenant").click()
    page.get_by_role("button", name="Add otherwise to by tenant").click()
    expect(page.get_by_role("button", name="Add otherwise to by tenant")).to_have_count(0)
    add_policy(page, "When request.headers.x-tenant = 'acme'", "throw", "refuse acme")
    save(page, "refuse acme")
    add_policy(page, "When request.headers.x-tenant = 'acme'", "log", "log acme")
    save(page, "log acme")
    screenshot("shapes-2-switch-cases", top="#assembly")

    page.get_by_role("button", name="Remove the case When request.headers.x-tenant = 'acme'").click()
    expect(page.locator("#case-remove-count")).to_have_text("2 policies")
    screenshot("shapes-2-remove-case-confirm")
    page.get_by_role("link", name="Cancel").click()
    expect(page.get_by_role("heading", name="When request.headers.x-tenant = 'acme'")).to_be_visible()
    page.get_by_role("button", name="Remove the case When request.headers.x-tenant = 'acme'").click()
    page.get_by_role("button", name="Remove the case and 2 policies").click()
    expect(page.locator(".messagelist")).to_contain_text(
        "Removed “When request.headers.x-tenant = 'acme'” and its 2 policies from “by tenant”."
    )
    expect(page.get_by_role("heading", name="When request.headers.x-tenant = 'acme'")).to_have_count(0)

    page.get_by_role("button", name="Remove the case Case GET /validate").click()  # empty: no question
    expect(page.locator(".messagelist")).to_contain_text("Removed “Case GET /validate”")
    page.get_by_label("Operation of a new case of operation-switch").select_option("GET /validate")
    page.get_by_role("button", name="Add a case to operation-switch").click()
    expect(page.get_by_role("heading", name="Case GET /validate")).to_be_visible()

    page.get_by_role("link", name="Edit properties and activity logging").click()
    page.get_by_label("Name of property 1", exact=True).fill("target-url")
    page.get_by_label("Value of property 1", exact=True).fill("https://orders.example.com")
    page.get_by_label("Content for success").select_option("header")
    screenshot("shapes-3-settings")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#settings")).to_contain_text("$(target-url) = https://orders.example.com")
    expect(page.locator("#settings")).to_contain_text("success: header, errors: payload")
    assert page.evaluate("window.__cspViolations") == []

    document = Api.objects.get(pk=empty_api.pk).document
    configuration = document["x-ibm-configuration"]
    assert configuration["properties"] == {"target-url": {"value": "https://orders.example.com"}}
    switch = editor.policy_get(document, "execute/0/case/0/0")[1]
    assert [list(case) for case in switch["case"]] == [["condition", "execute"], ["otherwise"]]
