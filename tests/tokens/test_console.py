"""The API console through the Django test client: create an API from the form, edit its assembly (every
editor action), Save and Publish with the refusals shown where they belong, the test page and its key list,
publication states, consumer-app subscriptions, the console home and the audit log's object filter.

The editor's document functions are tested in test_editor.py, the page models in test_viewmodels.py.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser, Group
from django.test import Client
from django.urls import reverse
from django.utils.http import parse_header_parameters

from keyprofiles.models import KeyProfile
from keyprofiles.services import keystore_generate
from portal.console import AUDITORS, OPERATORS
from portal.models import AuditEvent, Catalog, Organization
from portal.services import Actor
from tokens import editor
from tokens.demo import API_DOCUMENT
from tokens.documents import document_load
from tokens.errors import DocumentError
from tokens.models import Api, ConsumerApp, Publication
from tokens.services import SANDBOX_TEST_APP, api_import, api_publish, api_save, app_create

from .helpers import new_api

KEY = "personal_sandbox_tlsp-jwt-keyprofileV1.0.0-key"
CERT = "personal_sandbox_tlsp-jwt-keyprofileV1.0.0-ca-0"
SWITCH = "execute/0"
GENERATE_CASE = "execute/0/case/0"
VALIDATE_CASE = "execute/0/case/1"


# -- fixtures for the views -------------------------------------------------------------------------------


def staff(username: str, role: str | None) -> AbstractUser:
    from django.contrib.auth import get_user_model

    user: AbstractUser = get_user_model().objects.create_user(username=username, password=None, is_staff=True)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def operator(db: None) -> Client:
    client = Client()
    client.force_login(staff("olivia", OPERATORS))
    return client


@pytest.fixture
def auditor(db: None) -> Client:
    client = Client()
    client.force_login(staff("aldo", AUDITORS))
    return client


@pytest.fixture
def demo_api(organization: Organization, jwt_keyprofile: KeyProfile, actor: Actor) -> Api:
    api, _ = api_import(organization=organization, data=API_DOCUMENT.read_bytes(), actor=actor)
    return api


@pytest.fixture
def created_api(organization: Organization, jwt_keyprofile: KeyProfile, actor: Actor) -> Api:
    """The API of DESIGN.md section 1 as the create form makes it: empty cases, no catch."""
    return editor.api_create_from_spec(organization=organization, spec=new_api(), actor=actor)


def api_url(api: Api, name: str = "tokens_api_change", *args: Any) -> str:
    return reverse(f"admin:{name}", args=[api.pk, *args])


def tag(api: Api) -> str:
    api.refresh_from_db()
    return editor.document_tag(api)


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def generate_form(api: Api, **changes: str) -> dict[str, str]:
    return {
        "tag": tag(api),
        "title": "jwt-generate",
        "jwt": "",
        "iss_claim": "request.headers.iss-claim",
        "sub_claim": "",
        "aud_claim": "request.headers.aud-claim",
        "exp_claim": "60",
        "jti_claim": "on",
        "private_claims": "",
        "jws_alg": "RS256",
        "jws_crypto": KEY,
        "jws_jwk": "",
        "_save": "Save",
        **changes,
    }


def validate_form(api: Api, **changes: str) -> dict[str, str]:
    return {
        "tag": tag(api),
        "title": "jwt-validate",
        "jwt": "request.headers.authorization",
        "output_claims": "decoded.claims",
        "iss_claim": "apic",
        "aud_claim": "id1",
        "jws_crypto": CERT,
        "jws_jwk": "",
        "_save": "Save",
        **changes,
    }


def set_variable_form(api: Api, title: str, actions: list[tuple[str, str, str, str]]) -> dict[str, str]:
    data = {
        "tag": tag(api),
        "title": title,
        "actions-TOTAL_FORMS": str(len(actions) + 1),
        "actions-INITIAL_FORMS": "0",
        "actions-MIN_NUM_FORMS": "0",
        "actions-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    for index, (verb, variable, value, value_type) in enumerate(actions):
        data.update(
            {
                f"actions-{index}-action": verb,
                f"actions-{index}-variable": variable,
                f"actions-{index}-value": value,
                f"actions-{index}-type": value_type,
            }
        )
    data.update({f"actions-{len(actions)}-action": "set", f"actions-{len(actions)}-type": "any"})
    return data


def add_policy(client: Client, api: Api, at: str, kind: str) -> str:
    """Add a policy through the editor; returns the address the editor redirected to."""
    response = client.post(api_url(api, "tokens_api_policy_add"), {"tag": tag(api), "at": at, "kind": kind})
    assert response.status_code == 302
    match = re.search(r"/assembly/policy/(.+)/$", response["Location"])
    assert match, response["Location"]
    return match.group(1)


# -- create -----------------------------------------------------------------------------------------------


def create_form(organization: Organization, **changes: str) -> dict[str, str]:
    data = {
        "organization": str(organization.pk),
        "title": "JWT Generation and Validation",
        "name": "",
        "version": "1.0.0",
        "base_path": "/securetoken",
        "openapi_version": "3.0",
        "security": "client-id",
        "operations-TOTAL_FORMS": "4",
        "operations-INITIAL_FORMS": "0",
        "operations-MIN_NUM_FORMS": "0",
        "operations-MAX_NUM_FORMS": "20",
        "operations-0-verb": "get",
        "operations-0-path": "/generate",
        "operations-1-verb": "get",
        "operations-1-path": "/validate",
        "operations-2-verb": "get",
        "operations-3-verb": "get",
    }
    return {**data, **changes}


def test_the_create_form_makes_the_api_and_opens_its_page(operator: Client, organization: Organization) -> None:
    response = operator.post(reverse("admin:tokens_api_create"), create_form(organization))

    api = Api.objects.get()
    assert response.status_code == 302
    assert response["Location"] == api_url(api)
    assert (api.name, api.version, api.base_path, api.openapi_version) == (
        "jwt-generation-and-validation",
        "1.0.0",
        "/securetoken",
        "3.0.0",
    )
    assert api.document["servers"] == [{"url": "/securetoken"}]
    page = operator.get(api_url(api))
    assert "Case GET /generate" in page.content.decode()
    assert "Case GET /validate" in page.content.decode()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"base_path": "securetoken"}, "base_path", "starts with"),
        ({"version": "1.0"}, "version", "MAJOR.MINOR.PATCH"),
        ({"name": "Not A Slug"}, "name", "lower-case"),
        ({"operations-0-path": "generate"}, "operations-0-path", "starts with"),
    ],
)
def test_the_create_form_shows_a_refusal_beside_its_field(
    operator: Client, organization: Organization, changes: dict[str, str], field: str, message: str
) -> None:
    response = operator.post(reverse("admin:tokens_api_create"), create_form(organization, **changes))

    assert response.status_code == 200
    assert not Api.objects.exists()
    html = response.content.decode()
    assert re.search(rf'id="id_{field}_error" role="alert">.*{message}', html, re.S) or (
        field.startswith("operations") and message in html
    )


def test_the_create_form_needs_an_operation_and_a_free_name(
    operator: Client, organization: Organization, created_api: Api
) -> None:
    no_operations = create_form(organization, **{"operations-0-path": "", "operations-1-path": "", "title": "Other"})
    taken = create_form(organization)

    assert (
        "Add at least one operation"
        in operator.post(reverse("admin:tokens_api_create"), no_operations).content.decode()
    )
    response = operator.post(reverse("admin:tokens_api_create"), taken)
    assert re.search(r'id="id_name_error" role="alert">.*exists already', response.content.decode(), re.S)
    assert Api.objects.count() == 1


# -- editor actions ---------------------------------------------------------------------------------------


def test_adding_a_policy_opens_its_form_with_the_organizations_crypto_objects(
    operator: Client, created_api: Api
) -> None:
    at = add_policy(operator, created_api, GENERATE_CASE, "jwt-generate")

    assert at == f"{GENERATE_CASE}/0"
    page = operator.get(api_url(created_api, "tokens_api_policy", at)).content.decode()
    for label in (
        "JSON Web Token",
        "Issuer Claim",
        "Subject Claim",
        "Audience Claim",
        "Validity period",
        "JTI claim",
        "Private claims",
        "Cryptographic Algorithm",
        "Sign Crypto Object",
        "Sign JWK variable",
    ):
        assert f">{label}:</label>" in page
    assert f'<option value="{KEY}">' in page
    assert f'<option value="{CERT}">' in page
    assert all(f'<option value="{alg}"' in page for alg in ("HS256", "RS384", "PS512", "ES256"))


def test_saving_jwt_generate_and_jwt_validate_writes_apic_properties(operator: Client, created_api: Api) -> None:
    generate = add_policy(operator, created_api, GENERATE_CASE, "jwt-generate")
    validate = add_policy(operator, created_api, VALIDATE_CASE, "jwt-validate")

    operator.post(api_url(created_api, "tokens_api_policy", generate), generate_form(created_api))
    response = operator.post(api_url(created_api, "tokens_api_policy", validate), validate_form(created_api))

    assert response.status_code == 302
    created_api.refresh_from_db()
    _, generate_config = editor.policy_get(created_api.document, generate)
    _, validate_config = editor.policy_get(created_api.document, validate)
    assert generate_config == {
        "version": "2.0.0",
        "title": "jwt-generate",
        "exp-claim": 60,
        "jti-claim": True,
        "jws-alg": "RS256",
        "iss-claim": "request.headers.iss-claim",
        "aud-claim": "request.headers.aud-claim",
        "jws-crypto": KEY,
    }
    assert validate_config == {
        "version": "2.0.0",
        "title": "jwt-validate",
        "jwt": "request.headers.authorization",
        "output-claims": "decoded.claims",
        "iss-claim": "apic",
        "aud-claim": "id1",
        "jws-crypto": CERT,
    }


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"iss_claim": "not a variable"}, "iss_claim", "variable name"),
        ({"exp_claim": "0"}, "exp_claim", "greater than or equal to 1"),
        ({"jws_crypto": "", "jws_jwk": ""}, "jws_crypto", "Choose a crypto object"),
        ({"jws_jwk": "my jwk"}, "jws_jwk", "variable name"),
    ],
)
def test_a_bad_property_shows_beside_its_field_and_saves_nothing(
    operator: Client, created_api: Api, changes: dict[str, str], field: str, message: str
) -> None:
    at = add_policy(operator, created_api, GENERATE_CASE, "jwt-generate")
    before = tag(created_api)

    response = operator.post(api_url(created_api, "tokens_api_policy", at), generate_form(created_api, **changes))

    assert response.status_code == 200
    assert re.search(rf'id="id_{field}_error" role="alert">.*{message}', response.content.decode(), re.S)
    assert tag(created_api) == before


@pytest.mark.parametrize(("checkbox", "saved"), [("on", True), ("", None)])
def test_the_replay_check_box_writes_jti_replay_check_only_when_ticked(
    operator: Client, created_api: Api, checkbox: str, saved: bool | None
) -> None:
    validate = add_policy(operator, created_api, VALIDATE_CASE, "jwt-validate")
    changes = {"jti_replay_check": checkbox} if checkbox else {}

    response = operator.post(api_url(created_api, "tokens_api_policy", validate), validate_form(created_api, **changes))

    assert response.status_code == 302
    created_api.refresh_from_db()
    _, config = editor.policy_get(created_api.document, validate)
    assert config.get("jti-replay-check") == saved


def test_a_crypto_object_and_a_jwk_variable_together_are_kept_as_in_api_connect(
    operator: Client, created_api: Api
) -> None:
    generate = add_policy(operator, created_api, GENERATE_CASE, "jwt-generate")

    response = operator.post(
        api_url(created_api, "tokens_api_policy", generate), generate_form(created_api, jws_jwk="my.jwk")
    )

    assert response.status_code == 302
    created_api.refresh_from_db()
    _, config = editor.policy_get(created_api.document, generate)
    assert (config["jws-crypto"], config["jws-jwk"]) == (KEY, "my.jwk")


def test_a_validate_pattern_that_is_not_a_regular_expression_is_refused(operator: Client, created_api: Api) -> None:
    at = add_policy(operator, created_api, VALIDATE_CASE, "jwt-validate")

    response = operator.post(
        api_url(created_api, "tokens_api_policy", at), validate_form(created_api, iss_claim="(apic")
    )

    assert re.search(r'id="id_iss_claim_error" role="alert">.*regular expression', response.content.decode(), re.S)


def test_moving_and_removing_policies_through_the_editor(operator: Client, demo_api: Api) -> None:
    validate_at = f"{VALIDATE_CASE}/0"

    down = operator.post(
        api_url(demo_api, "tokens_api_policy_move"), {"tag": tag(demo_api), "at": validate_at, "offset": "1"}
    )
    order = [next(iter(p)) for p in editor.policy_list(Api.objects.get().document, VALIDATE_CASE)]
    removed = operator.post(
        api_url(demo_api, "tokens_api_policy_remove"), {"tag": tag(demo_api), "at": f"{VALIDATE_CASE}/1"}
    )

    assert down.status_code == 302
    assert down["Location"].endswith("#assembly")
    assert order == ["set-variable", "jwt-validate"]
    assert removed.status_code == 302
    assert [next(iter(p)) for p in editor.policy_list(Api.objects.get().document, VALIDATE_CASE)] == ["set-variable"]
    assert AuditEvent.objects.filter(action="api.update", object_id=str(demo_api.pk)).count() == 2


def test_an_edit_of_a_page_older_than_the_document_saves_nothing(operator: Client, demo_api: Api) -> None:
    stale = tag(demo_api)
    operator.post(
        api_url(demo_api, "tokens_api_policy_move"), {"tag": stale, "at": f"{VALIDATE_CASE}/0", "offset": "1"}
    )
    current = tag(demo_api)

    response = operator.post(
        api_url(demo_api, "tokens_api_policy_remove"), {"tag": stale, "at": f"{VALIDATE_CASE}/0"}, follow=True
    )

    assert tag(demo_api) == current
    assert any("changed since this page was loaded" in m for m in messages_of(response))


def test_a_catch_with_set_variable_actions_is_built_through_the_editor(operator: Client, created_api: Api) -> None:
    operator.post(api_url(created_api, "tokens_api_catch_add"), {"tag": tag(created_api), "error": "RuntimeError"})
    at = add_policy(operator, created_api, "catch/0", "set-variable")

    operator.post(
        api_url(created_api, "tokens_api_policy", at),
        set_variable_form(
            created_api,
            "answer-400",
            [
                ("set", "message.status.code", "400", "number"),
                ("set", "message.status.reason", "Bad Request", "string"),
                ("set", "message.body", "$(error.message)", "string"),
            ],
        ),
    )

    created_api.refresh_from_db()
    assert created_api.document["x-ibm-configuration"]["assembly"]["catch"] == [
        {
            "errors": ["RuntimeError"],
            "execute": [
                {
                    "set-variable": {
                        "version": "2.0.0",
                        "title": "answer-400",
                        "actions": [
                            {"set": "message.status.code", "value": 400, "type": "number"},
                            {"set": "message.status.reason", "value": "Bad Request", "type": "string"},
                            {"set": "message.body", "value": "$(error.message)", "type": "string"},
                        ],
                    }
                }
            ],
        }
    ]
    removed = operator.post(api_url(created_api, "tokens_api_catch_remove"), {"tag": tag(created_api), "index": "0"})
    assert removed.status_code == 302
    assert Api.objects.get().document["x-ibm-configuration"]["assembly"]["catch"] == []


def test_a_set_variable_form_shows_existing_actions_and_a_removed_row_goes(operator: Client, demo_api: Api) -> None:
    at = f"{VALIDATE_CASE}/1"
    page = operator.get(api_url(demo_api, "tokens_api_policy", at)).content.decode()
    assert 'value="$(decoded.claims)"' in page
    assert 'value="message.body"' in page

    data = set_variable_form(demo_api, "set-variable", [("set", "message.body", "$(decoded.claims)", "any")])
    data["actions-0-DELETE"] = "on"
    operator.post(api_url(demo_api, "tokens_api_policy", at), data)

    assert editor.policy_get(Api.objects.get().document, at)[1]["actions"] == []


def test_a_policy_the_portal_does_not_run_is_shown_kept_and_named_at_publish(
    operator: Client, demo_api: Api, sandbox: Catalog, actor: Actor
) -> None:
    document = demo_api.document
    editor.policy_list(document, VALIDATE_CASE).insert(0, {"proxy": {"title": "legacy-script", "source": "x"}})
    api, _ = api_import(organization=demo_api.organization, data=json.dumps(document), actor=actor)

    page = operator.get(api_url(api)).content.decode()
    policy_page = operator.get(api_url(api, "tokens_api_policy", f"{VALIDATE_CASE}/0")).content.decode()
    response = operator.post(api_url(api, "tokens_api_publish"), {"catalog": str(sandbox.pk)})

    assert "legacy-script" in page
    assert "proxy" in page
    assert "not run by the portal" in page
    assert "source: x" in policy_page
    assert 'name="_save"' not in policy_page
    assert "Policy &#x27;legacy-script&#x27; of type &#x27;proxy&#x27;" in response.content.decode()
    assert not Publication.objects.exists()


def test_the_yaml_view_follows_every_save(operator: Client, demo_api: Api) -> None:
    operator.post(
        api_url(demo_api, "tokens_api_policy", f"{GENERATE_CASE}/0"), generate_form(demo_api, exp_claim="120")
    )

    assert "exp-claim: 120" in operator.get(api_url(demo_api)).content.decode()


# -- Save and Publish -------------------------------------------------------------------------------------


def test_save_and_publish_publishes_to_the_chosen_catalog(operator: Client, demo_api: Api, sandbox: Catalog) -> None:
    data = generate_form(
        demo_api, exp_claim="90", **{"_publish": "Save and Publish", "publish-catalog": str(sandbox.pk)}
    )
    del data["_save"]

    response = operator.post(api_url(demo_api, "tokens_api_policy", f"{GENERATE_CASE}/0"), data, follow=True)

    publication = Publication.objects.get(api=demo_api, catalog=sandbox)
    assert editor.policy_get(publication.document, f"{GENERATE_CASE}/0")[1]["exp-claim"] == 90
    assert any("published jwt-generation-and-validation 1.0.0 to personal/sandbox" in m for m in messages_of(response))
    assert ConsumerApp.objects.get(name=SANDBOX_TEST_APP).subscriptions.filter(pk=publication.pk).exists()


def test_save_and_publish_names_the_policy_and_property_beside_the_field(
    operator: Client, demo_api: Api, production: Catalog
) -> None:
    """The crypto object is enabled in sandbox only: publishing to production refuses jws-crypto."""
    data = generate_form(demo_api, **{"_publish": "Save and Publish", "publish-catalog": str(production.pk)})
    del data["_save"]

    response = operator.post(api_url(demo_api, "tokens_api_policy", f"{GENERATE_CASE}/0"), data)

    html = response.content.decode()
    assert response.status_code == 200
    error = re.search(r'id="id_jws_crypto_error" role="alert"><li>(.*?)</li>', html, re.S)
    assert error, html
    assert "jwt-generate policy &#x27;jwt-generate&#x27;, property &#x27;jws-crypto&#x27;" in error.group(1)
    assert "not published to personal/production" in error.group(1)
    assert f'name="tag" value="{tag(demo_api)}"' in html  # saved: the form now carries the new document's tag
    assert not Publication.objects.filter(catalog=production).exists()


def test_save_and_publish_with_a_good_policy_names_another_policys_problem_above_the_form(
    operator: Client, demo_api: Api, production: Catalog
) -> None:
    """The twin of the test above: the refusal names jwt-generate, so on the validate form it shows on top."""
    data = validate_form(demo_api, **{"_publish": "Save and Publish", "publish-catalog": str(production.pk)})
    del data["_save"]

    html = operator.post(api_url(demo_api, "tokens_api_policy", f"{VALIDATE_CASE}/0"), data).content.decode()

    assert re.search(r'class="errornote" role="alert">[^<]*jwt-generate policy', html)
    assert 'id="id_jws_crypto_error"' not in html


def test_the_publish_panel_publishes_and_returns_to_the_api(operator: Client, demo_api: Api, sandbox: Catalog) -> None:
    response = operator.post(api_url(demo_api, "tokens_api_publish"), {"catalog": str(sandbox.pk)})

    assert response.status_code == 302
    assert response["Location"].endswith("#publications")
    page = operator.get(api_url(demo_api)).content.decode()
    assert "/personal/sandbox/securetoken" in page
    assert "Deprecate" in page
    assert ">Test<" in page


# -- publications -----------------------------------------------------------------------------------------


def test_deprecate_and_retire_from_the_api_page(
    operator: Client, demo_api: Api, sandbox: Catalog, actor: Actor
) -> None:
    publication = api_publish(api=demo_api, catalog=sandbox, actor=actor)
    url = reverse("admin:tokens_publication_state", args=[publication.pk])

    operator.post(url, {"state": "deprecated"})
    deprecated = Publication.objects.get().state
    operator.post(url, {"state": "retired"})
    retired = Publication.objects.get().state
    refused = operator.post(url, {"state": "published"}, follow=True)

    assert (deprecated, retired) == ("deprecated", "retired")
    assert Publication.objects.get().state == "retired"
    assert any("cannot become published" in m for m in messages_of(refused))


def test_the_publication_page_links_the_test_page_and_the_api(
    operator: Client, demo_api: Api, sandbox: Catalog, actor: Actor
) -> None:
    publication = api_publish(api=demo_api, catalog=sandbox, actor=actor)

    html = operator.get(reverse("admin:tokens_publication_change", args=[publication.pk])).content.decode()

    assert reverse("admin:tokens_publication_test", args=[publication.pk]) in html
    assert api_url(demo_api) in html
    assert 'value="deprecated"' in html


# -- the test page ----------------------------------------------------------------------------------------


def test_the_test_page_fills_in_the_sandbox_test_app_and_the_demo_headers(
    operator: Client, demo_api: Api, sandbox: Catalog, actor: Actor
) -> None:
    publication = api_publish(api=demo_api, catalog=sandbox, actor=actor)
    app = ConsumerApp.objects.get(name=SANDBOX_TEST_APP)

    response = operator.get(reverse("admin:tokens_publication_test", args=[publication.pk]))

    html = response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert f'id="test-client-id" class="vTextField" value="{app.client_id}"' in html
    assert "iss-claim: apic\naud-claim: id1</textarea>" in html
    assert '"gateway": "/personal/sandbox/securetoken"' in html
    assert '"tokenHeader": "Authorization"' in html
    assert 'id="test-client-secret"' not in html


def test_the_key_list_maps_the_signing_kid_to_the_crypto_objects(
    operator: Client, demo_api: Api, sandbox: Catalog, actor: Actor, client: Client
) -> None:
    publication = api_publish(api=demo_api, catalog=sandbox, actor=actor)
    app = ConsumerApp.objects.get(name=SANDBOX_TEST_APP)
    token = client.get(
        "/personal/sandbox/securetoken/generate",
        headers={"X-IBM-Client-Id": app.client_id, "iss-claim": "apic", "aud-claim": "id1"},
    )["Authorization"].removeprefix("Bearer ")
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))

    kids = operator.get(reverse("admin:tokens_publication_keys", args=[publication.pk])).json()["kids"]

    assert sorted(o["name"] for o in kids[header["kid"]]) == [CERT, KEY]
    assert "PRIVATE" not in str(kids)


def test_the_test_page_asks_for_a_secret_when_the_api_does(
    operator: Client, organization: Organization, jwt_keyprofile: KeyProfile, sandbox: Catalog, actor: Actor
) -> None:
    api = editor.api_create_from_spec(organization=organization, spec=new_api(client_secret=True), actor=actor)
    document = api.document
    editor.policy_list(document, GENERATE_CASE).append(
        {"set-variable": {"title": "hello", "actions": [{"set": "message.body", "value": "hi", "type": "string"}]}}
    )
    editor.api_document_edit(api=api, edit=lambda d: d.update(document), tag=None, actor=actor)
    publication = api_publish(api=api, catalog=sandbox, actor=actor)

    html = operator.get(reverse("admin:tokens_publication_test", args=[publication.pk])).content.decode()

    assert 'type="password" id="test-client-secret"' in html


# -- end to end through the editor (the browser suite's twin) ---------------------------------------------


def test_the_api_built_in_the_editor_generates_validates_and_answers_400_when_tampered(
    operator: Client, created_api: Api, sandbox: Catalog, client: Client
) -> None:
    api = created_api
    generate = add_policy(operator, api, GENERATE_CASE, "jwt-generate")
    operator.post(api_url(api, "tokens_api_policy", generate), generate_form(api))
    validate = add_policy(operator, api, VALIDATE_CASE, "jwt-validate")
    operator.post(api_url(api, "tokens_api_policy", validate), validate_form(api))
    body = add_policy(operator, api, VALIDATE_CASE, "set-variable")
    operator.post(
        api_url(api, "tokens_api_policy", body),
        set_variable_form(api, "set-variable", [("set", "message.body", "$(decoded.claims)", "any")]),
    )
    operator.post(api_url(api, "tokens_api_catch_add"), {"tag": tag(api), "error": "RuntimeError"})
    answer = add_policy(operator, api, "catch/0", "set-variable")
    data = set_variable_form(
        api,
        "answer-400",
        [
            ("set", "message.status.code", "400", "number"),
            ("set", "message.status.reason", "Bad Request", "string"),
            ("set", "message.body", "$(error.message)", "string"),
        ],
    )
    data.update({"_publish": "Save and Publish", "publish-catalog": str(sandbox.pk)})
    del data["_save"]
    assert operator.post(api_url(api, "tokens_api_policy", answer), data).status_code == 302

    client_id = ConsumerApp.objects.get(name=SANDBOX_TEST_APP).client_id
    generated = client.get(
        "/personal/sandbox/securetoken/generate",
        headers={"X-IBM-Client-Id": client_id, "iss-claim": "apic", "aud-claim": "id1"},
    )
    valid = client.get(
        "/personal/sandbox/securetoken/validate",
        headers={"X-IBM-Client-Id": client_id, "Authorization": generated["Authorization"]},
    )
    head, payload, signature = generated["Authorization"].removeprefix("Bearer ").split(".")
    tampered_signature = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    tampered = client.get(
        "/personal/sandbox/securetoken/validate",
        headers={"X-IBM-Client-Id": client_id, "Authorization": f"Bearer {head}.{payload}.{tampered_signature}"},
    )

    assert generated.status_code == 200
    assert generated["Authorization"].startswith("Bearer ")
    assert valid.status_code == 200
    assert valid.json()["iss"] == "apic"
    assert valid.json()["aud"] == "id1"
    assert tampered.status_code == 400
    assert tampered.content.decode().startswith("JWT validation failed, because the JWT signature does not verify")


# -- consumer apps ----------------------------------------------------------------------------------------


def test_an_app_subscribes_and_unsubscribes_from_its_page(
    operator: Client, demo_api: Api, sandbox: Catalog, actor: Actor
) -> None:
    publication = api_publish(api=demo_api, catalog=sandbox, actor=actor)
    app, _ = app_create(catalog=sandbox, name="Mobile", actor=actor)
    page = reverse("admin:tokens_consumerapp_change", args=[app.pk])

    before = operator.get(page).content.decode()
    operator.post(reverse("admin:tokens_consumerapp_subscribe", args=[app.pk]), {"publication": str(publication.pk)})
    subscribed = list(app.subscriptions.all())
    after = operator.get(page).content.decode()
    operator.post(reverse("admin:tokens_consumerapp_unsubscribe", args=[app.pk]), {"publication": str(publication.pk)})

    assert "Subscribe to</label>" in before
    assert "Not subscribed" in before
    assert subscribed == [publication]
    assert "Unsubscribe" in after
    assert app.client_id in after
    assert not app.subscriptions.exists()
    assert list(AuditEvent.objects.filter(object_id=str(app.pk)).values_list("action", flat=True)[:2]) == [
        "app.unsubscribe",
        "app.subscribe",
    ]


def test_an_app_cannot_subscribe_to_another_catalogs_api(
    operator: Client, demo_api: Api, sandbox: Catalog, production: Catalog, actor: Actor
) -> None:
    publication = api_publish(api=demo_api, catalog=sandbox, actor=actor)
    app, _ = app_create(catalog=production, name="Elsewhere", actor=actor)

    response = operator.post(
        reverse("admin:tokens_consumerapp_subscribe", args=[app.pk]), {"publication": str(publication.pk)}, follow=True
    )

    assert not app.subscriptions.exists()
    assert any("Nothing was changed" in m for m in messages_of(response))


def test_a_reset_secret_is_shown_once_and_never_in_a_url(operator: Client, sandbox: Catalog, actor: Actor) -> None:
    app, _ = app_create(catalog=sandbox, name="Mobile", actor=actor)

    response = operator.post(reverse("admin:tokens_consumerapp_reset_secret", args=[app.pk]))
    secret = re.search(r'<code id="client-secret">([^<]+)</code>', response.content.decode())

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert secret is not None
    app.refresh_from_db()
    assert secret.group(1) not in app.client_secret_hash
    assert (
        secret.group(1) not in operator.get(reverse("admin:tokens_consumerapp_change", args=[app.pk])).content.decode()
    )
    assert operator.get(reverse("admin:tokens_consumerapp_reset_secret", args=[app.pk])).status_code == 405


# -- the console home and the audit log -------------------------------------------------------------------


def test_the_home_flags_certificates_red_within_30_days_and_amber_within_90(
    operator: Client, organization: Organization, actor: Actor, demo_api: Api, sandbox: Catalog
) -> None:
    for name, days in (("Soon", 10), ("Later", 60), ("Fine", 365)):
        keystore_generate(
            organization=organization, name=name, common_name=f"{name.lower()}.example", days=days, actor=actor
        )
    api_publish(api=demo_api, catalog=sandbox, actor=actor)

    html = operator.get(reverse("admin:index")).content.decode()

    expiring = html.split('id="expiring-heading"')[1].split("</section>")[0]
    rows = re.findall(r'<tr class="expiry-(red|amber)">\s*<td><strong>[^<]*</strong></td>\s*<td>(\w+)', expiring)
    assert sorted(rows) == [("amber", "Later"), ("red", "Soon")]
    assert "Fine" not in expiring
    assert f'<code class="crypto-object-name">{KEY}</code>' in html
    assert "JWT Generation and Validation 1.0.0" in html
    assert "state-published" in html
    assert "Recent audit events" in html
    assert "api.publish" in html


def test_the_home_shows_only_what_the_user_may_view(db: None, demo_api: Api) -> None:
    nobody = Client()
    nobody.force_login(staff("nemo", None))

    html = nobody.get(reverse("admin:index")).content.decode()

    assert "Certificates expiring" not in html
    assert "Recent audit events" not in html
    assert KEY not in html


def test_the_audit_log_filters_by_object_and_user_and_is_read_only(
    auditor: Client, demo_api: Api, sandbox: Catalog, actor: Actor
) -> None:
    api_publish(api=demo_api, catalog=sandbox, actor=actor)
    url = reverse("admin:portal_auditevent_changelist")

    by_object = auditor.get(url, {"object": f"tokens.api:{demo_api.pk}"})
    by_user = auditor.get(url, {"actor": "test-operator", "action": "api.publish"})

    assert {e.action for e in by_object.context["cl"].result_list} == {"api.create"}
    assert [e.action for e in by_user.context["cl"].result_list] == ["api.publish"]
    event = AuditEvent.objects.first()
    assert event is not None
    assert auditor.post(reverse("admin:portal_auditevent_change", args=[event.pk]), {}).status_code == 403
    assert auditor.get(reverse("admin:portal_auditevent_add")).status_code == 403
    assert auditor.post(reverse("admin:portal_auditevent_delete", args=[event.pk]), {"post": "yes"}).status_code == 403
    assert "delete_selected" not in by_object.content.decode()


def test_the_audit_link_on_the_api_page_filters_its_events(operator: Client, demo_api: Api) -> None:
    html = operator.get(api_url(demo_api)).content.decode()

    assert f"?object=tokens.api:{demo_api.pk}" in html


# -- downloads and names (issue 9, finding 6) ---------------------------------------------------------------

INJECTING_NAME = "x\"; filename*=UTF-8''evil.html; x=\""


def download_urls(api: Api, publication: Publication) -> dict[str, str]:
    return {
        "yaml export": api_url(api, "tokens_api_export", "yaml"),
        "json export": api_url(api, "tokens_api_export", "json"),
        "postman": reverse("admin:tokens_publication_postman", args=[publication.pk]),
    }


@pytest.mark.parametrize("stored_name", [INJECTING_NAME, "a\r\nSet-Cookie: x=1"])
def test_api_downloads_keep_one_file_name_whatever_name_was_stored(
    operator: Client, demo_api: Api, sandbox: Catalog, actor: Actor, stored_name: str
) -> None:
    publication = api_publish(api=demo_api, catalog=sandbox, actor=actor)
    # API names are slugs; a row written around the service is the worst case the header must survive.
    Api.objects.filter(pk=demo_api.pk).update(name=stored_name)
    for label, url in download_urls(demo_api, publication).items():
        response = operator.get(url)
        disposition, params = parse_header_parameters(response["Content-Disposition"])
        assert response.status_code == 200, label
        assert disposition == "attachment", label
        assert list(params) == ["filename"], label
        assert params["filename"].startswith(stored_name + "_1.0.0."), label
        assert "Set-Cookie" not in response.headers, label


def test_api_downloads_of_a_slug_name_are_plainly_quoted(operator: Client, demo_api: Api) -> None:
    response = operator.get(api_url(demo_api, "tokens_api_export", "yaml"))
    assert response["Content-Disposition"] == 'attachment; filename="jwt-generation-and-validation_1.0.0.yaml"'


@pytest.mark.parametrize(("field", "value"), [("name", "Mobile\r\nApp"), ("description", "line\x0bbreak")])
def test_an_app_with_a_control_character_is_refused_beside_the_field_and_not_stored(
    operator: Client, sandbox: Catalog, field: str, value: str
) -> None:
    data = {"catalog": sandbox.pk, "name": "Mobile", "description": "", field: value}
    response = operator.post(reverse("admin:tokens_consumerapp_add"), data)
    assert response.status_code == 200
    assert "Control characters are not allowed here" in response.content.decode()
    assert not ConsumerApp.objects.filter(name__startswith="Mobile").exists()


def test_an_app_with_a_plain_name_and_description_is_created(operator: Client, sandbox: Catalog) -> None:
    data = {"catalog": sandbox.pk, "name": "Mobile App", "description": "Ünïcode is fine"}
    response = operator.post(reverse("admin:tokens_consumerapp_add"), data)
    assert response.status_code == 200  # the credentials page, shown once
    assert ConsumerApp.objects.get(name="Mobile App").description == "Ünïcode is fine"


def test_an_api_document_whose_title_holds_a_control_character_is_refused(
    organization: Organization, actor: Actor
) -> None:
    document = document_load(API_DOCUMENT.read_bytes())
    document["info"]["title"] = "JWT\u2028Generation"
    with pytest.raises(DocumentError, match=r"title: Control characters are not allowed here \(found U\+2028"):
        api_save(organization=organization, document=document, actor=actor)
    assert not Api.objects.exists()


# -- what a newcomer tripped over (issue 15, item 7) ---------------------------------------------------------


def test_the_app_list_says_apis(operator: Client, demo_api: Api) -> None:
    page = operator.get(reverse("admin:app_list", args=["tokens"])).content.decode()
    assert ">APIs</a>" in page
    assert ">Apis</a>" not in page


def test_the_add_policy_select_starts_on_a_placeholder(operator: Client, created_api: Api) -> None:
    page = operator.get(api_url(created_api)).content.decode()
    select = page[page.index(f'id="add-branch-{GENERATE_CASE.replace("/", "-")}"') :]
    options = re.findall(r"<option[^>]*>[^<]*</option>", select[: select.index("</select>")])
    assert options[0] == '<option value="">Choose a policy type…</option>'
    assert not any("selected" in option for option in options)


def test_add_policy_without_a_type_says_so_and_changes_nothing(operator: Client, created_api: Api) -> None:
    before = tag(created_api)
    response = operator.post(
        api_url(created_api, "tokens_api_policy_add"), {"tag": before, "at": GENERATE_CASE, "kind": ""}, follow=True
    )
    assert messages_of(response) == ["Nothing was changed: Policy type: Choose a policy type to add."]
    assert tag(created_api) == before


def test_add_policy_with_a_type_adds_it(operator: Client, created_api: Api) -> None:
    assert add_policy(operator, created_api, GENERATE_CASE, "throw") == f"{GENERATE_CASE}/0"


def test_the_error_name_suggests_runtime_error_while_no_catch_names_it(operator: Client, created_api: Api) -> None:
    page = operator.get(api_url(created_api)).content.decode()
    assert re.search(r'<input type="text" name="error" value="RuntimeError"', page)


def test_the_error_name_is_empty_once_a_runtime_error_catch_exists(operator: Client, demo_api: Api) -> None:
    assert "RuntimeError" in editor.caught_errors(demo_api.document)
    page = operator.get(api_url(demo_api)).content.decode()
    field = re.search(r'<input type="text" name="error"[^>]*>', page)
    assert field is not None
    assert "value=" not in field.group(0)
