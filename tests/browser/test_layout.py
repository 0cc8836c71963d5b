"""The console at 1280x800 as a newcomer meets it (issue 15): every list fits its box, and the Test page
brings the answer into view after *Send*.

Each stage saves a screenshot in test-artifacts/screenshots/.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib import admin
from django.contrib.auth.models import AbstractUser
from django.urls import reverse
from playwright.sync_api import Page, expect

from keyprofiles.services import keyprofile_create, keystore_import
from portal.models import Catalog, Organization
from portal.services import Actor
from tests.browser.conftest import console_user
from tests.keyfixtures import CERT1_PEM, KEY1_PEM
from tokens.demo import API_DOCUMENT
from tokens.models import Publication
from tokens.services import api_import, api_publish

pytestmark = pytest.mark.browser

Url = Callable[[str], str]
Shot = Callable[..., Path]

# Whatever is wider than its box: the page, the content column, and each table's scrolling container.
OVERFLOWS = """() => {
    const boxes = [document.documentElement, document.querySelector('#content'),
                   ...document.querySelectorAll('.results, .module, table')];
    return boxes.filter((box) => box && box.scrollWidth > box.clientWidth + 1)
        .map((box) => `${box.tagName.toLowerCase()}${box.id ? '#' + box.id : ''}`
                      + `${box.className ? '.' + String(box.className).trim().split(/\\s+/).join('.') : ''}`
                      + `: ${box.scrollWidth} > ${box.clientWidth}`);
}"""


@pytest.fixture
def served(organization: Organization, sandbox: Catalog, production: Catalog, actor: Actor) -> Publication:
    """The demo's objects, with the key profile enabled in both catalogs (a longer "Enabled in")."""
    keystore = keystore_import(
        organization=organization,
        name="JWT Keystore",
        certificate=CERT1_PEM.encode(),
        private_key=KEY1_PEM.encode(),
        actor=actor,
    )
    keyprofile_create(
        organization=organization,
        title="JWT Keyprofile",
        keystore=keystore,
        catalogs=[sandbox, production],
        actor=actor,
    )
    api, _ = api_import(organization=organization, data=API_DOCUMENT.read_bytes(), actor=actor)
    return api_publish(api=api, catalog=sandbox, actor=actor)


def list_pages() -> list[str]:
    """The change list of every model the console shows."""
    return sorted(
        reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist") for model in admin.site._registry
    )


def test_no_console_list_is_wider_than_its_box_at_1280(
    page: Page, url: Url, screenshot: Shot, sign_in: Callable[[AbstractUser], None], served: Publication
) -> None:
    sign_in(console_user("root", superuser=True))
    pages = list_pages()
    assert "/admin/keyprofiles/keystore/" in pages
    problems: dict[str, list[str]] = {}
    for path in pages:
        page.goto(url(path))
        expect(page.locator("#content")).to_be_visible()
        found: list[str] = page.evaluate(OVERFLOWS)
        if found:
            problems[path] = found
        if path == "/admin/keyprofiles/keystore/":
            expect(page.locator("#result_list")).to_contain_text("Enabled in")
            screenshot("layout-keystore-list")
    assert problems == {}, json.dumps(problems, indent=1)


def test_the_overflow_check_sees_a_table_wider_than_its_box(
    page: Page, url: Url, sign_in: Callable[[AbstractUser], None], served: Publication
) -> None:
    """The positive twin: the same check, on the same page, with one cell made too wide to fit."""
    sign_in(console_user("root", superuser=True))
    page.goto(url("/admin/keyprofiles/keystore/"))
    page.locator("#result_list td").first.evaluate("td => { td.textContent = 'x'.repeat(400); }")
    assert page.evaluate(OVERFLOWS) != []


def test_send_on_the_test_page_brings_the_response_into_view(
    page: Page, url: Url, screenshot: Shot, sign_in: Callable[[AbstractUser], None], served: Publication
) -> None:
    sign_in(console_user("root", superuser=True))
    page.goto(url(f"/admin/tokens/publication/{served.pk}/test/"))
    response = page.locator("#test-response")
    page.evaluate("window.scrollTo(0, 0)")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#response-status")).to_have_text("200 OK")
    expect(page.locator("#token-claims")).to_be_in_viewport()
    expect(response).to_be_in_viewport()
    # It had to move: the decoded token lies below the fold of a page scrolled to the top.
    claims_top = "element => element.getBoundingClientRect().top + window.scrollY"
    assert page.locator("#token-claims").evaluate(claims_top) > 800
    screenshot("layout-test-page-after-send")


# Whether the API page's actions share a line with its title or subtitle.
CROWDED = """() => {
    const tools = document.querySelector('.api-editor > .object-tools').getBoundingClientRect();
    return [...document.querySelectorAll('#content > h1, #content > h2')].some((heading) => {
        const box = heading.getBoundingClientRect();
        return tools.top < box.bottom && box.top < tools.bottom;
    });
}"""


def test_the_api_pages_actions_leave_its_title_alone(
    page: Page, url: Url, screenshot: Shot, sign_in: Callable[[AbstractUser], None], served: Publication
) -> None:
    sign_in(console_user("root", superuser=True))
    page.goto(url(f"/admin/tokens/api/{served.api_id}/change/"))
    expect(page.get_by_role("link", name="Download YAML")).to_be_visible()
    assert page.evaluate(CROWDED) is False
    screenshot("layout-api-page")
    # The twin: Django's own placement (floated up onto the heading) is what the check catches.
    # (set through the CSSOM: the console's CSP refuses an inline <style>, rightly)
    page.evaluate(
        """() => Object.assign(document.querySelector('.api-editor > .object-tools').style,
                               {display: 'block', float: 'right', marginTop: '-48px'})"""
    )
    assert page.evaluate(CROWDED) is True
