"""The console in a real browser, the workflow of DESIGN.md section 1 end to end:

a. log in, generate a keystore from a Common Name, create "JWT Keyprofile" 1.0.0 enabled in sandbox, and
   copy its crypto object names with the keyboard;
b. create the API of Part 2 through the forms, set jwt-generate and jwt-validate with the selects, and
   Save and Publish it to sandbox;
c. build the RuntimeError catch in the editor, then on the Test page generate, use the token, validate
   (200 with the claims), and tamper with it (400 with the message);
d. an auditor sees everything and can change nothing;
e. an upload whose key does not match its certificate shows the message beside the key field.

Each stage saves a screenshot in test-artifacts/screenshots/.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth.models import AbstractUser
from playwright.sync_api import BrowserContext, Page, expect

from keyprofiles.models import KeyProfile
from keyprofiles.services import keyprofile_create, keystore_import
from portal.console import AUDITORS, OPERATORS
from portal.models import Catalog, Organization
from portal.services import Actor
from tests.browser.conftest import console_user
from tests.keyfixtures import CERT1_PEM, KEY1_PEM, KEY2_PEM
from tokens.demo import API_DOCUMENT
from tokens.documents import document_load
from tokens.models import Api, Publication
from tokens.services import api_import, api_publish

pytestmark = pytest.mark.browser

KEY = "personal_sandbox_tlsp-jwt-keyprofileV1.0.0-key"
CERT = "personal_sandbox_tlsp-jwt-keyprofileV1.0.0-ca-0"
Url = Callable[[str], str]
Shot = Callable[..., Path]


@pytest.fixture
def profile(organization: Organization, sandbox: Catalog, actor: Actor) -> KeyProfile:
    """JWT Keystore from the fixed test key, and JWT Keyprofile 1.0.0 enabled in sandbox."""
    keystore = keystore_import(
        organization=organization,
        name="JWT Keystore",
        certificate=CERT1_PEM.encode(),
        private_key=KEY1_PEM.encode(),
        actor=actor,
    )
    return keyprofile_create(
        organization=organization, title="JWT Keyprofile", keystore=keystore, catalogs=[sandbox], actor=actor
    )


@pytest.fixture
def operator(sign_in: Callable[[AbstractUser], None]) -> AbstractUser:
    user = console_user("olivia", role=OPERATORS)
    sign_in(user)
    return user


def add_policy(page: Page, branch: str, kind: str) -> None:
    """On the API page: add a policy of ``kind`` to the branch labelled ``branch``; lands on its form."""
    page.get_by_label(f"Add a policy to {branch}").select_option(kind)
    page.get_by_role("button", name=f"Add policy to {branch}").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(kind)


def fill_action(page: Page, number: int, variable: str, value: str, value_type: str) -> None:
    page.get_by_label(f"Action of action {number}", exact=True).select_option("set")
    page.get_by_label(f"Variable of action {number}", exact=True).fill(variable)
    page.get_by_label(f"Value of action {number}", exact=True).fill(value)
    page.get_by_label(f"Type of action {number}", exact=True).select_option(value_type)


def test_a_keys_from_a_common_name_to_crypto_objects(
    page: Page, context: BrowserContext, url: Url, screenshot: Shot, organization: Organization
) -> None:
    user = console_user("admin", superuser=True)
    user.set_password("correct-horse-battery")
    user.save()
    context.grant_permissions(["clipboard-read", "clipboard-write"])

    page.goto(url("/admin/"))
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Certificates expiring within 90 days")).to_be_visible()

    page.goto(url("/admin/keyprofiles/keystore/"))
    page.get_by_role("link", name="Generate keystore").click()
    page.get_by_label("Name:", exact=True).fill("JWT Keystore")
    page.get_by_label("Common Name (CN)").fill("jwt.demo.local")
    screenshot("a1-generate-keystore")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator(".messagelist")).to_contain_text("JWT Keystore")
    expect(page.get_by_text("CN=jwt.demo.local").first).to_be_visible()

    page.goto(url("/admin/keyprofiles/keyprofile/add/"))
    page.get_by_label("Title").fill("JWT Keyprofile")
    expect(page.get_by_label("Version")).to_have_value("1.0.0")
    page.get_by_label("Keystore").select_option(label="JWT Keystore")
    page.get_by_label("personal/sandbox").check()
    page.get_by_role("button", name="Create").click()

    names = page.locator("code.crypto-object-name")
    expect(names.filter(has_text=KEY)).to_have_count(1)
    expect(names.filter(has_text=CERT)).to_have_count(1)
    copy = page.get_by_role("button", name=f"Copy {KEY}")
    copy.focus()
    page.keyboard.press("Enter")
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == KEY
    screenshot("a2-key-profile-crypto-objects")


def test_b_the_api_of_part_2_built_in_the_editor_and_published(
    page: Page, url: Url, screenshot: Shot, operator: AbstractUser, profile: KeyProfile, sandbox: Catalog
) -> None:
    page.goto(url("/admin/tokens/api/"))
    page.get_by_role("button", name="Toggle navigation").click()  # more room for the screenshots
    page.get_by_role("link", name="Create API").click()
    page.get_by_label("Title").fill("JWT Generation and Validation")
    page.get_by_label("Base path").fill("/securetoken")
    page.get_by_label("OpenAPI 2.0").check()
    page.get_by_label("Client ID", exact=True).check()
    page.get_by_label("Path of operation 1").fill("/generate")
    page.get_by_label("Verb of operation 2").select_option("get")
    page.get_by_label("Path of operation 2").fill("/validate")
    screenshot("b1-create-api")
    page.get_by_role("button", name="Create API").click()
    expect(page.get_by_role("heading", name="Case GET /generate")).to_be_visible()

    add_policy(page, "Case GET /generate", "jwt-generate")
    expect(page.get_by_label("JSON Web Token")).to_have_value("")
    page.get_by_label("Issuer Claim").fill("request.headers.iss-claim")
    page.get_by_label("Audience Claim").fill("request.headers.aud-claim")
    page.get_by_label("Validity period").fill("60")
    page.get_by_label("JTI claim").check()
    page.get_by_label("Cryptographic Algorithm").select_option("RS256")
    page.get_by_label("Sign Crypto Object").select_option(KEY)
    screenshot("b2-jwt-generate")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("Saved “jwt-generate”")

    add_policy(page, "Case GET /validate", "jwt-validate")
    expect(page.get_by_label("JSON Web Token")).to_have_value("request.headers.authorization")
    expect(page.get_by_label("Output Claims")).to_have_value("decoded.claims")
    page.get_by_label("Issuer Claim").fill("apic")
    page.get_by_label("Audience Claim").fill("id1")
    page.get_by_label("Verify Crypto Object").select_option(CERT)
    page.get_by_role("button", name="Save", exact=True).click()

    add_policy(page, "Case GET /validate", "set-variable")
    fill_action(page, 1, "message.body", "$(decoded.claims)", "any")
    page.get_by_label("Publish to").select_option(label="personal/sandbox")
    page.get_by_role("button", name="Save and Publish").click()
    expect(page.locator(".messagelist")).to_contain_text(
        "published jwt-generation-and-validation 1.0.0 to personal/sandbox"
    )

    validate_case = page.locator("#branch-execute-0-case-1")
    expect(validate_case.locator(".policy-title")).to_have_text(["jwt-validate", "set-variable"])
    expect(page.locator("pre.api-document")).to_contain_text(f"jws-crypto: {KEY}")
    expect(page.locator("#publication-sandbox")).to_contain_text("Published")
    screenshot("b3-api-editor-published", top="#assembly")

    api = Api.objects.get()
    case = api.document["x-ibm-configuration"]["assembly"]["execute"][0]["operation-switch"]["case"]
    assert case[0]["execute"][0]["jwt-generate"]["jws-crypto"] == KEY
    assert case[1]["execute"][0]["jwt-validate"]["jws-crypto"] == CERT
    assert Publication.objects.get(api=api, catalog=sandbox).state == "published"


def test_c_catch_then_generate_use_validate_and_tamper_on_the_test_page(
    page: Page,
    url: Url,
    screenshot: Shot,
    operator: AbstractUser,
    profile: KeyProfile,
    organization: Organization,
    sandbox: Catalog,
    actor: Actor,
) -> None:
    document = document_load(API_DOCUMENT.read_bytes())
    del document["x-ibm-configuration"]["assembly"]["catch"]
    api, _ = api_import(organization=organization, data=json.dumps(document), actor=actor)
    api_publish(api=api, catalog=sandbox, actor=actor)

    page.goto(url(f"/admin/tokens/api/{api.pk}/change/"))
    page.get_by_role("button", name="Toggle navigation").click()  # more room for the screenshots
    page.get_by_label("Error name").fill("RuntimeError")
    page.get_by_role("button", name="Add catch").click()
    add_policy(page, "Catch RuntimeError", "set-variable")
    page.get_by_label("Title").fill("answer-400")
    fill_action(page, 1, "message.status.code", "400", "number")
    fill_action(page, 2, "message.status.reason", "Bad Request", "string")
    fill_action(page, 3, "message.body", "$(error.message)", "string")
    screenshot("c1-catch-set-variable")
    page.get_by_label("Publish to").select_option(label="personal/sandbox")
    page.get_by_role("button", name="Save and Publish").click()
    expect(page.locator(".messagelist")).to_contain_text("revision 2")

    page.get_by_role("link", name="Test in personal/sandbox").click()
    expect(page.get_by_label("Operation")).to_have_value("0")
    expect(page.get_by_label("Client ID")).not_to_have_value("")
    expect(page.get_by_label("Headers", exact=True)).to_have_value("iss-claim: apic\naud-claim: id1")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#response-status")).to_have_text("200 OK")
    expect(page.locator("#token-claims")).to_contain_text('"iss": "apic"')
    expect(page.locator("#token-signer")).to_contain_text(KEY)
    expect(page.locator("#token-expiry")).to_contain_text(re.compile(r"in \d+ s"))
    screenshot("c2-test-generate-token", top="#test-response")

    page.get_by_role("button", name="Use this token").click()
    expect(page.get_by_label("Operation")).to_have_value("1")
    token = page.get_by_label("Headers", exact=True).input_value().removeprefix("Authorization: Bearer ")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#response-status")).to_have_text("200 OK")
    expect(page.locator("#response-body")).to_contain_text('"aud": "id1"')
    screenshot("c3-test-validate-200", top="#test-response")

    head, claims, signature = token.split(".")
    forged = signature[:-4] + ("AAAA" if not signature.endswith("AAAA") else "BBBB")
    page.get_by_label("Headers", exact=True).fill(f"Authorization: Bearer {head}.{claims}.{forged}")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#response-status")).to_have_text("400 Bad Request")
    expect(page.locator("#response-body")).to_have_text(
        re.compile(r"^JWT validation failed, because the JWT signature does not verify")
    )
    screenshot("c4-test-tampered-400", top="#test-response")


def test_d_an_auditor_sees_everything_and_changes_nothing(
    page: Page,
    url: Url,
    screenshot: Shot,
    sign_in: Callable[[AbstractUser], None],
    profile: KeyProfile,
    organization: Organization,
    sandbox: Catalog,
    actor: Actor,
) -> None:
    api, _ = api_import(organization=organization, data=API_DOCUMENT.read_bytes(), actor=actor)
    publication = api_publish(api=api, catalog=sandbox, actor=actor)
    sign_in(console_user("aldo", role=AUDITORS))
    before = Api.objects.get().document_text

    page.goto(url(f"/admin/tokens/api/{api.pk}/change/"))
    expect(page.locator(".policy-title").first).to_have_text("operation-switch")
    expect(page.locator("pre.api-document")).to_contain_text("jwt-validate")
    for control in ("Add policy", "Remove", "Add catch", "Publish", "Deprecate", "Test"):
        expect(page.get_by_role("button", name=control, exact=True)).to_have_count(0)
    expect(page.get_by_role("link", name="Edit")).to_have_count(0)
    screenshot("d1-auditor-api-page")

    forbidden = page.evaluate(
        """async (url) => {
            const token = document.cookie.split('; ').find((c) => c.startsWith('csrftoken=')).split('=')[1];
            const body = new FormData();
            body.append('csrfmiddlewaretoken', token);
            body.append('at', 'execute');
            body.append('kind', 'throw');
            const response = await fetch(url, {method: 'POST', body, headers: {'X-CSRFToken': token}});
            return [response.status, await response.text()];
        }""",
        f"/admin/tokens/api/{api.pk}/assembly/add/",
    )
    assert forbidden[0] == 403
    assert "CSRF" not in forbidden[1]
    response = page.goto(url(f"/admin/tokens/publication/{publication.pk}/test/"))
    assert response is not None
    assert response.status == 403

    page.goto(url("/admin/"))
    expect(page.locator("#recent-audit-events")).to_contain_text("api.publish")
    expect(page.locator("a.addlink")).to_have_count(0)
    page.goto(url("/admin/keyprofiles/keystore/"))
    expect(page.get_by_role("link", name="Generate keystore")).to_have_count(0)
    assert Api.objects.get().document_text == before


def test_e_an_upload_whose_key_does_not_match_shows_the_message_beside_the_key(
    page: Page, url: Url, screenshot: Shot, operator: AbstractUser, organization: Organization
) -> None:
    page.goto(url("/admin/keyprofiles/keystore/add/"))
    page.get_by_label("Name:", exact=True).fill("Mismatched")
    page.get_by_label("Certificate:", exact=True).set_input_files(
        files=[{"name": "cert.pem", "mimeType": "application/x-pem-file", "buffer": CERT1_PEM.encode()}]
    )
    page.get_by_label("Private key").set_input_files(
        files=[{"name": "key.pem", "mimeType": "application/x-pem-file", "buffer": KEY2_PEM.encode()}]
    )
    page.get_by_role("button", name="Upload").click()

    error = page.locator("#id_private_key_error")
    expect(error).to_contain_text("does not match the certificate")
    expect(page.locator(".field-private_key.errors")).to_be_visible()
    screenshot("e1-upload-mismatch")
    assert not organization.keystores.exists()


CONSOLE_PAGES = (
    "/admin/",
    "/admin/tokens/api/",
    "/admin/tokens/api/create/",
    "/admin/tokens/api/{api}/change/",
    "/admin/tokens/api/{api}/assembly/policy/execute/0/case/0/0/",
    "/admin/tokens/api/{api}/assembly/policy/execute/0/case/1/1/",
    "/admin/tokens/api/{api}/settings/",
    "/admin/tokens/publication/{publication}/test/",
    "/admin/tokens/publication/{publication}/change/",
    "/admin/tokens/consumerapp/{app}/change/",
    "/admin/keyprofiles/keystore/generate/",
    "/admin/keyprofiles/keystore/add/",
    "/admin/keyprofiles/keyprofile/add/",
    "/admin/keyprofiles/cryptoobject/",
    "/admin/portal/auditevent/",
)


def test_f_every_field_has_a_label_every_action_is_a_control_and_nothing_overflows_1280(
    page: Page,
    url: Url,
    sign_in: Callable[[AbstractUser], None],
    profile: KeyProfile,
    organization: Organization,
    sandbox: Catalog,
    actor: Actor,
) -> None:
    api, _ = api_import(organization=organization, data=API_DOCUMENT.read_bytes(), actor=actor)
    publication = api_publish(api=api, catalog=sandbox, actor=actor)
    app = publication.subscribers.get()
    sign_in(console_user("root", superuser=True))
    problems: dict[str, object] = {}

    for template in CONSOLE_PAGES:
        path = template.format(api=api.pk, publication=publication.pk, app=app.pk)
        page.goto(url(path))
        found = page.evaluate(
            """() => {
                const unlabelled = [...document.querySelectorAll('input, select, textarea')]
                    .filter((el) => !['hidden', 'submit', 'button', 'reset', 'image'].includes(el.type))
                    .filter((el) => !el.closest('[hidden]'))
                    .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                                    && !el.getAttribute('aria-labelledby'))
                    .map((el) => el.name || el.id);
                const clickableDivs = [...document.querySelectorAll('div[onclick], span[onclick], li[onclick]')]
                    .map((el) => el.className);
                const overflow = document.documentElement.scrollWidth - window.innerWidth;
                return {unlabelled, clickableDivs, overflow};
            }"""
        )
        if found["unlabelled"] or found["clickableDivs"] or found["overflow"] > 0:
            problems[path] = found
    assert problems == {}, json.dumps(problems, indent=1)

    page.goto(url(f"/admin/tokens/api/{api.pk}/change/"))
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.getAttribute('aria-label')") == "Edit jwt-generate":
            break
    else:
        pytest.fail("The first policy's Edit link is not reachable with Tab.")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("jwt-generate: jwt-generate")


VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.effectiveDirective} ${e.blockedURI || "inline"} ${e.sourceFile}:${e.lineNumber}`);
});
"""


def test_g_the_console_runs_under_its_csp_and_a_download_keeps_its_one_name(
    page: Page,
    context: BrowserContext,
    url: Url,
    sign_in: Callable[[AbstractUser], None],
    profile: KeyProfile,
    organization: Organization,
    sandbox: Catalog,
    actor: Actor,
) -> None:
    api, _ = api_import(organization=organization, data=API_DOCUMENT.read_bytes(), actor=actor)
    publication = api_publish(api=api, catalog=sandbox, actor=actor)
    app = publication.subscribers.get()
    sign_in(console_user("root", superuser=True))
    context.add_init_script(VIOLATIONS)
    violations: dict[str, list[str]] = {}
    for template in CONSOLE_PAGES:
        path = template.format(api=api.pk, publication=publication.pk, app=app.pk)
        response = page.goto(url(path))
        assert response is not None
        assert "script-src 'self'" in (response.header_value("Content-Security-Policy") or "")
        found = page.evaluate("window.__cspViolations")
        if found:
            violations[path] = found
    # Django's change list (a list without actions) carries one inline <style> that only widens a column;
    # the CSP blocks it, harmlessly. Nothing else may be blocked: no script, no handler, no style attribute.
    blocked = {
        path: [v for v in found if not v.startswith("style-src-elem inline")] for path, found in violations.items()
    }
    assert {path: found for path, found in blocked.items() if found} == {}

    # The twin: markup with an inline handler, put into a console page, is blocked by the CSP and reported.
    page.goto(url("/admin/"))
    page.evaluate("""() => document.body.insertAdjacentHTML('beforeend', '<img src="/x" onerror="window.ran = 1">')""")
    page.wait_for_function("window.__cspViolations.length > 0")
    assert page.evaluate("window.__cspViolations")[0].startswith("script-src-attr inline")
    assert page.evaluate("window.ran") is None

    keystore = profile.keystore
    assert keystore is not None
    keystore.name = "x\"; filename*=UTF-8''evil.html; x=\""
    keystore.save(update_fields=["name"])
    page.goto(url(f"/admin/keyprofiles/keystore/{keystore.pk}/change/"))
    with page.expect_download() as download:
        page.get_by_role("link", name="Certificate (PEM)").click()
    # Chromium names the file from the one quoted filename (its quotes replaced), never "evil.html".
    assert download.value.suggested_filename.endswith(".pem")
    assert download.value.suggested_filename != "evil.html"


def test_h_five_wrong_passwords_pause_signing_in_with_a_clear_page(
    page: Page, url: Url, screenshot: Shot, organization: Organization
) -> None:
    user = console_user("olivia", role=OPERATORS)
    user.set_password("correct-horse-battery")
    user.save()
    page.goto(url("/admin/login/"))
    for _ in range(4):
        page.get_by_label("Username").fill("olivia")
        page.get_by_label("Password").fill("wrong")
        page.get_by_role("button", name="Log in").click()
        expect(page.locator(".errornote")).to_contain_text("Please enter the correct username and password")
    page.get_by_label("Username").fill("olivia")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("signing in is paused")
    screenshot("h1-login-paused")

    page.get_by_role("link", name="Back to the sign-in page").click()
    page.get_by_label("Username").fill("olivia")
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("signing in is paused")
