"""The gatewayscript policy in the console, in a real browser under the console's CSP: added to an API,
its source typed into the code area (a syntax error shown beside it), saved, published, and answering."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import AbstractUser
from playwright.sync_api import BrowserContext, Page, expect

from portal.console import OPERATORS
from portal.models import Catalog, Organization
from portal.services import Actor
from tests.browser.conftest import console_user
from tests.tokens.helpers import api_document
from tokens import editor
from tokens.models import Api
from tokens.services import api_save

pytestmark = pytest.mark.browser

SOURCE = """var apim = require('apim');
apim.output('application/json');
session.output.write({"hello": apim.getvariable('request.headers.x-name')});
"""
VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => window.__cspViolations.push(e.violatedDirective));
"""


def test_a_gatewayscript_is_written_in_the_code_area_published_and_answers(
    page: Page,
    context: BrowserContext,
    url: Callable[[str], str],
    screenshot: Callable[..., Path],
    sign_in: Callable[[AbstractUser], None],
    organization: Organization,
    sandbox: Catalog,
    actor: Actor,
) -> None:
    api, _ = api_save(
        organization=organization, document=api_document(name="hello", base_path="/hello", execute=[]), actor=actor
    )
    sign_in(console_user("olivia", role=OPERATORS))
    context.add_init_script(VIOLATIONS)
    page.goto(url(f"/admin/tokens/api/{api.pk}/change/"))

    page.get_by_label("Add a policy to Execute").select_option("gatewayscript")
    page.get_by_role("button", name="Add policy to Execute").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("gatewayscript")
    code = page.get_by_label("Source")
    expect(code).to_have_class("code-area")
    page.get_by_label("Title").fill("hello")
    code.fill("var = ;")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#id_source_error")).to_contain_text("This is not valid JavaScript: SyntaxError")

    page.get_by_label("Source").fill(SOURCE)
    screenshot("gatewayscript-code-area")
    page.get_by_label("Publish to").select_option(label="personal/sandbox")
    page.get_by_role("button", name="Save and Publish").click()
    expect(page.locator(".messagelist")).to_contain_text("published hello 1.0.0 to personal/sandbox")
    expect(page.locator("#assembly")).to_contain_text("JavaScript, 3 line(s)")
    assert page.evaluate("window.__cspViolations") == []

    api = Api.objects.get(pk=api.pk)
    assert editor.policy_get(api.document, "execute/0")[1]["source"] == SOURCE
    request = urllib.request.Request(  # noqa: S310 (the live server on 127.0.0.1)
        url("/personal/sandbox/hello/go"),
        headers={"X-IBM-Client-Id": sandbox.apps.get().client_id, "X-Name": "browser"},
    )
    with urllib.request.urlopen(request) as response:  # noqa: S310
        assert json.loads(response.read()) == {"hello": "browser"}
