"""Console roles: "Operators" change keys, APIs and publications; "Auditors" see everything and change nothing.

The groups are made after every migrate (``portal.console.roles_sync`` on ``post_migrate``). Every custom
console view checks its permission itself; each is called here as an auditor (refused, nothing changes) and
as an operator (let through). Read-only downloads are the twin case: an auditor may read them, a staff user
without a role may not.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group, Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from keyprofiles.models import KeyProfile, Keystore
from keyprofiles.services import keyprofile_create, keystore_import
from portal.console import AUDITORS, OPERATORS, ROLES, roles_sync
from portal.models import AuditEvent, Catalog, Organization
from portal.services import Actor
from tests.keyfixtures import CERT1_PEM, KEY1_PEM
from tokens import editor
from tokens.demo import API_DOCUMENT
from tokens.models import Api, ConsumerApp, Publication
from tokens.services import api_import, api_publish

VALIDATE_POLICY = "execute/0/case/1/0"


@dataclass
class World:
    organization: Organization
    sandbox: Catalog
    keystore: Keystore
    profile: KeyProfile
    api: Api
    publication: Publication
    app: ConsumerApp


@pytest.fixture
def world(organization: Organization, sandbox: Catalog, production: Catalog, actor: Actor) -> World:
    keystore = keystore_import(
        organization=organization,
        name="JWT Keystore",
        certificate=CERT1_PEM.encode(),
        private_key=KEY1_PEM.encode(),
        actor=actor,
    )
    profile = keyprofile_create(
        organization=organization, title="JWT Keyprofile", keystore=keystore, catalogs=[sandbox], actor=actor
    )
    api, _ = api_import(organization=organization, data=API_DOCUMENT.read_bytes(), actor=actor)
    publication = api_publish(api=api, catalog=sandbox, actor=actor)
    app = ConsumerApp.objects.get(catalog=sandbox)
    return World(organization, sandbox, keystore, profile, api, publication, app)


def user_with(username: str, role: str | None) -> AbstractUser:
    user: AbstractUser = get_user_model().objects.create_user(username=username, password=None, is_staff=True)
    if role is not None:
        user.groups.add(Group.objects.get(name=role))
    return user


def client_for(role: str | None) -> Client:
    client = Client()
    client.force_login(user_with(f"user-{role or 'none'}".lower(), role))
    return client


@pytest.fixture
def operator(db: None) -> Client:
    return client_for(OPERATORS)


@pytest.fixture
def auditor(db: None) -> Client:
    return client_for(AUDITORS)


@pytest.fixture
def nobody(db: None) -> Client:
    return client_for(None)


# -- the groups -------------------------------------------------------------------------------------------


def permissions_of(role: str) -> set[str]:
    group = Group.objects.get(name=role)
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}


@pytest.mark.django_db
def test_migrate_made_both_roles_with_exactly_their_permissions() -> None:
    operators, auditors = permissions_of(OPERATORS), permissions_of(AUDITORS)

    assert {
        "keyprofiles.add_keystore",
        "keyprofiles.change_keystore",
        "keyprofiles.delete_keystore",
        "keyprofiles.view_keystore",
        "keyprofiles.add_truststore",
        "keyprofiles.add_keyprofile",
        "keyprofiles.view_cryptoobject",
        "tokens.add_api",
        "tokens.change_api",
        "tokens.delete_api",
        "tokens.add_publication",
        "tokens.change_publication",
        "tokens.add_consumerapp",
        "tokens.change_consumerapp",
        "portal.view_auditevent",
    } <= operators
    assert not {"keyprofiles.change_cryptoobject", "portal.change_auditevent", "portal.delete_auditevent"} & operators
    assert not any(p.startswith("auth.") for p in operators | auditors)
    assert auditors == {p for p in operators if ".view_" in p}
    assert all(".view_" in p for p in auditors)


@pytest.mark.django_db
def test_the_roles_are_idempotent_and_reset_hand_edits() -> None:
    group = Group.objects.get(name=AUDITORS)
    group.permissions.add(Permission.objects.get(codename="change_api"))

    roles_sync()
    roles_sync()

    assert Group.objects.filter(name__in=ROLES).count() == 2
    assert "tokens.change_api" not in permissions_of(AUDITORS)
    assert len(permissions_of(AUDITORS)) == len(ROLES[AUDITORS])


# -- every custom view: an auditor is refused and changes nothing, an operator goes through ------------------


@dataclass(frozen=True)
class ChangeView:
    name: str
    method: str
    url: Callable[[World], str]
    data: Callable[[World], dict[str, Any]] = lambda w: {}


def tag(world: World) -> str:
    world.api.refresh_from_db()
    return editor.document_tag(world.api)


def admin_url(name: str, *args: Callable[[World], Any]) -> Callable[[World], str]:
    return lambda w: reverse(f"admin:{name}", args=[arg(w) for arg in args])


API = (lambda w: w.api.pk,)
PUBLICATION = (lambda w: w.publication.pk,)
APP = (lambda w: w.app.pk,)

CHANGE_VIEWS = [
    ChangeView("keystore generate", "POST", admin_url("keyprofiles_keystore_generate"),
               lambda w: {"organization": w.organization.pk, "name": "New", "common_name": "new.example",
                          "key_type": "EC", "bits": "2048", "curve": "P-256", "days": "30"}),
    ChangeView("keystore generate page", "GET", admin_url("keyprofiles_keystore_generate")),
    ChangeView("keystore upload", "POST", admin_url("keyprofiles_keystore_add"),
               lambda w: {"organization": w.organization.pk, "name": "Uploaded"}),
    ChangeView("shared secret", "POST", admin_url("keyprofiles_keystore_secret"),
               lambda w: {"organization": w.organization.pk, "name": "Secret"}),
    ChangeView("truststore upload", "POST", admin_url("keyprofiles_truststore_add"),
               lambda w: {"organization": w.organization.pk, "name": "Trust"}),
    ChangeView("key profile create", "POST", admin_url("keyprofiles_keyprofile_add"),
               lambda w: {"organization": w.organization.pk, "title": "Other", "version": "1.0.0",
                          "keystore": w.keystore.pk}),
    ChangeView("key profile enable", "POST", admin_url("keyprofiles_keyprofile_enable", lambda w: w.profile.pk),
               lambda w: {"catalog": Catalog.objects.get(slug="production").pk}),
    ChangeView("key profile rotate page", "GET", admin_url("keyprofiles_keyprofile_rotate", lambda w: w.profile.pk)),
    ChangeView("api create", "POST", admin_url("tokens_api_create"),
               lambda w: {"organization": w.organization.pk, "title": "Other API", "version": "1.0.0",
                          "base_path": "/other", "openapi_version": "2.0", "security": "client-id",
                          "operations-TOTAL_FORMS": "1", "operations-INITIAL_FORMS": "0",
                          "operations-0-verb": "get", "operations-0-path": "/x"}),
    ChangeView("api create page", "GET", admin_url("tokens_api_create")),
    ChangeView("api import", "POST", admin_url("tokens_api_add"), lambda w: {"organization": w.organization.pk}),
    ChangeView("publish", "POST", admin_url("tokens_api_publish", *API), lambda w: {"catalog": w.sandbox.pk}),
    ChangeView("policy add", "POST", admin_url("tokens_api_policy_add", *API),
               lambda w: {"tag": tag(w), "at": "execute", "kind": "throw"}),
    ChangeView("policy move", "POST", admin_url("tokens_api_policy_move", *API),
               lambda w: {"tag": tag(w), "at": VALIDATE_POLICY, "offset": "1"}),
    ChangeView("policy remove", "POST", admin_url("tokens_api_policy_remove", *API),
               lambda w: {"tag": tag(w), "at": VALIDATE_POLICY}),
    ChangeView("catch add", "POST", admin_url("tokens_api_catch_add", *API),
               lambda w: {"tag": tag(w), "error": "OtherError"}),
    ChangeView("catch remove", "POST", admin_url("tokens_api_catch_remove", *API),
               lambda w: {"tag": tag(w), "index": "0"}),
    ChangeView("policy edit page", "GET", admin_url("tokens_api_policy", *API, lambda w: VALIDATE_POLICY)),
    ChangeView("policy save", "POST", admin_url("tokens_api_policy", *API, lambda w: VALIDATE_POLICY),
               lambda w: {"tag": tag(w), "title": "jwt-validate", "iss_claim": "apic", "aud_claim": "id1",
                          "jws_crypto": "personal_sandbox_tlsp-jwt-keyprofileV1.0.0-ca-0", "_save": "Save"}),
    ChangeView("publication state", "POST", admin_url("tokens_publication_state", *PUBLICATION),
               lambda w: {"state": "deprecated"}),
    ChangeView("publication action", "POST", admin_url("tokens_publication_changelist"),
               lambda w: {"action": "retire", "_selected_action": [w.publication.pk]}),
    ChangeView("test page", "GET", admin_url("tokens_publication_test", *PUBLICATION)),
    ChangeView("test page key list", "GET", admin_url("tokens_publication_keys", *PUBLICATION)),
    ChangeView("app create", "POST", admin_url("tokens_consumerapp_add"),
               lambda w: {"catalog": w.sandbox.pk, "name": "Mobile"}),
    ChangeView("reset secret", "POST", admin_url("tokens_consumerapp_reset_secret", *APP)),
    ChangeView("unsubscribe", "POST", admin_url("tokens_consumerapp_unsubscribe", *APP),
               lambda w: {"publication": w.publication.pk}),
    ChangeView("subscribe", "POST", admin_url("tokens_consumerapp_subscribe", *APP),
               lambda w: {"publication": w.publication.pk}),
]  # fmt: skip


def state(world: World) -> tuple[Any, ...]:
    """Everything a console view could change."""
    world.api.refresh_from_db()
    world.app.refresh_from_db()
    return (
        AuditEvent.objects.count(),
        world.api.document_text,
        list(Publication.objects.values_list("pk", "state", "revision")),
        world.app.client_secret_hash,
        list(world.app.subscriptions.values_list("pk", flat=True)),
        Api.objects.count(),
        Keystore.objects.count(),
        KeyProfile.objects.count(),
    )


def call(client: Client, view: ChangeView, world: World) -> Any:
    url = view.url(world)
    return client.post(url, view.data(world)) if view.method == "POST" else client.get(url)


@pytest.mark.parametrize("view", CHANGE_VIEWS, ids=[v.name for v in CHANGE_VIEWS])
def test_an_auditor_is_refused_and_nothing_changes(auditor: Client, world: World, view: ChangeView) -> None:
    before = state(world)

    response = call(auditor, view, world)

    assert response.status_code == 403
    assert state(world) == before


@pytest.mark.parametrize("view", CHANGE_VIEWS, ids=[v.name for v in CHANGE_VIEWS])
def test_an_operator_goes_through(operator: Client, world: World, view: ChangeView) -> None:
    response = call(operator, view, world)

    assert response.status_code in (200, 302), response.content[:500]


def test_an_operator_post_changes_what_it_says(operator: Client, world: World) -> None:
    """The positive twin of the refusals, for the actions whose effect is easy to see."""
    before = tag(world)

    operator.post(
        reverse("admin:tokens_api_policy_move", args=[world.api.pk]),
        {"tag": before, "at": VALIDATE_POLICY, "offset": "1"},
    )
    operator.post(reverse("admin:tokens_publication_state", args=[world.publication.pk]), {"state": "deprecated"})
    secret = operator.post(reverse("admin:tokens_consumerapp_reset_secret", args=[world.app.pk]))

    assert tag(world) != before
    assert Publication.objects.get().state == "deprecated"
    assert b'id="client-secret"' in secret.content


# -- read-only pages and downloads: auditors read them, a staff user without a role does not --------------

READ_VIEWS = [
    ("api page", admin_url("tokens_api_change", *API)),
    ("api export", lambda w: reverse("admin:tokens_api_export", args=[w.api.pk, "yaml"])),
    ("postman collection", admin_url("tokens_publication_postman", *PUBLICATION)),
    ("publication page", admin_url("tokens_publication_change", *PUBLICATION)),
    ("certificate download", admin_url("keyprofiles_keystore_certificate", lambda w: w.keystore.pk)),
    ("public jwk download", admin_url("keyprofiles_keystore_jwk", lambda w: w.keystore.pk)),
    ("app page", admin_url("tokens_consumerapp_change", *APP)),
    ("audit log", admin_url("portal_auditevent_changelist")),
    ("crypto objects", admin_url("keyprofiles_cryptoobject_changelist")),
]


@pytest.mark.parametrize(("name", "url"), READ_VIEWS, ids=[name for name, _ in READ_VIEWS])
def test_an_auditor_reads_what_a_user_without_a_role_may_not(
    auditor: Client, nobody: Client, operator: Client, world: World, name: str, url: Callable[[World], str]
) -> None:
    assert auditor.get(url(world)).status_code == 200
    assert operator.get(url(world)).status_code == 200
    assert nobody.get(url(world)).status_code == 403


# -- no change buttons for an auditor ---------------------------------------------------------------------

CHANGE_CONTROLS = [
    ("api page", admin_url("tokens_api_change", *API),
     ("Add policy", "Remove", "Add catch", 'value="deprecated"', ">Test<", "Publish</button>", ">Edit<")),
    ("api list", admin_url("tokens_api_changelist"), ("Create API", "Import API")),
    ("publication page", admin_url("tokens_publication_change", *PUBLICATION), ('value="retired"', "/test/")),
    ("publication list", admin_url("tokens_publication_changelist"), ("Retire selected",)),
    ("app page", admin_url("tokens_consumerapp_change", *APP), ("Reset client secret", "Unsubscribe")),
    ("keystores", admin_url("keyprofiles_keystore_changelist"), ("Generate keystore", "Add shared secret")),
    ("home", admin_url("index"), ("addlink",)),
]  # fmt: skip


@pytest.mark.parametrize(("name", "url", "controls"), CHANGE_CONTROLS, ids=[name for name, _, _ in CHANGE_CONTROLS])
def test_an_auditor_sees_no_change_controls_an_operator_sees(
    auditor: Client, operator: Client, world: World, name: str, url: Callable[[World], str], controls: tuple[str, ...]
) -> None:
    seen_by_auditor = auditor.get(url(world)).content.decode()
    seen_by_operator = operator.get(url(world)).content.decode()

    assert [c for c in controls if c in seen_by_auditor] == []
    assert [c for c in controls if c not in seen_by_operator] == []


# -- list filters: only what the admin declares (issue 9, finding 7) ----------------------------------------


def app_list(client: Client, query: str) -> Any:
    return client.get(reverse("admin:tokens_consumerapp_changelist") + query)


@pytest.mark.parametrize(
    "query",
    [
        "?client_secret_hash__startswith=hmac",  # the oracle from the review: a digest, prefix by prefix
        "?client_secret_hash=",
        "?client_id__startswith=0",
        "?catalog__organization__slug__startswith=p",  # through a declared relation to an undeclared field
        "?subscriptions__document_text__contains=jwt",
    ],
)
def test_an_auditor_cannot_filter_apps_on_an_undeclared_or_secret_field(
    auditor: Client, world: World, query: str
) -> None:
    ConsumerApp.objects.filter(pk=world.app.pk).update(client_secret_hash="hmac-sha256$00$11")
    response = app_list(auditor, query)
    assert response.status_code == 400
    assert world.app.name.encode() not in response.content


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?catalog__id__exact={sandbox}",
        "?catalog__organization__id__exact={organization}",
        "?catalog__id__exact={sandbox}&catalog__organization__id__exact={organization}",
    ],
)
def test_an_auditor_filters_apps_with_the_declared_filters(auditor: Client, world: World, query: str) -> None:
    response = app_list(auditor, query.format(sandbox=world.sandbox.pk, organization=world.organization.pk))
    assert response.status_code == 200
    assert [app.pk for app in response.context["cl"].result_list] == [world.app.pk]


@pytest.mark.parametrize(
    ("url", "query"),
    [
        (admin_url("keyprofiles_keystore_changelist"), "?sealed_key_id__startswith=test"),
        (admin_url("keyprofiles_keystore_changelist"), "?sealed_ciphertext__isnull=False"),
        (admin_url("portal_auditevent_changelist"), "?detail__icontains=secret"),
        (admin_url("tokens_publication_changelist"), "?document_text__contains=jwt"),
    ],
)
def test_no_list_answers_a_lookup_on_sealed_material_or_undeclared_fields(
    operator: Client, world: World, url: Callable[[World], str], query: str
) -> None:
    assert operator.get(url(world) + query).status_code == 400


@pytest.mark.parametrize(
    ("url", "query"),
    [
        (admin_url("keyprofiles_keystore_changelist"), "?kind__exact=key_pair&key_type__exact=RSA"),
        (admin_url("portal_auditevent_changelist"), "?action=api.publish&outcome__exact=success"),
        (admin_url("portal_auditevent_changelist"), "?object=tokens.api:1&actor=test-operator"),
        (admin_url("portal_auditevent_changelist"), "?created_at__year=2026&created_at__month=1"),
        (admin_url("tokens_publication_changelist"), "?state__exact=published"),
    ],
)
def test_the_declared_filters_and_date_hierarchy_still_filter(
    operator: Client, world: World, url: Callable[[World], str], query: str
) -> None:
    assert operator.get(url(world) + query).status_code == 200


def test_every_console_admin_filters_only_declared_fields_and_declares_no_secret_one() -> None:
    from django.contrib import admin

    from portal.console import SECRET_FIELD, DeclaredFiltersOnlyMixin

    console_admins = {
        model: model_admin
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label in ("portal", "keyprofiles", "tokens")
    }
    assert len(console_admins) >= 10
    assert [m for m, a in console_admins.items() if not isinstance(a, DeclaredFiltersOnlyMixin)] == []
    for model_admin in console_admins.values():
        declared = [
            *(f if isinstance(f, str) else f[0] for f in model_admin.list_filter if not isinstance(f, type)),
            *model_admin.search_fields,
            *([model_admin.date_hierarchy] if model_admin.date_hierarchy else []),
        ]
        assert [d for d in declared if SECRET_FIELD.search(d)] == []


# -- client ids: operators read them, auditors do not (issue 9) ------------------------------------------


def test_an_auditor_sees_client_ids_masked_where_an_operator_reads_them(
    auditor: Client, operator: Client, world: World
) -> None:
    client_id = world.app.client_id
    masked = "••••" + client_id[-4:]
    for url in (
        reverse("admin:tokens_consumerapp_changelist"),
        reverse("admin:tokens_consumerapp_change", args=[world.app.pk]),
    ):
        seen_by_auditor = auditor.get(url).content.decode()
        seen_by_operator = operator.get(url).content.decode()
        assert client_id not in seen_by_auditor
        assert masked in seen_by_auditor
        assert client_id in seen_by_operator


def test_an_auditor_cannot_search_apps_by_client_id_an_operator_can(
    auditor: Client, operator: Client, world: World
) -> None:
    query = "?q=" + world.app.client_id[:6]
    assert list(app_list(auditor, query).context["cl"].result_list) == []
    assert [app.pk for app in app_list(operator, query).context["cl"].result_list] == [world.app.pk]
    # A search by name works for both.
    assert [app.pk for app in app_list(auditor, "?q=Sandbox").context["cl"].result_list] == [world.app.pk]


def test_the_postman_collection_carries_the_client_id_for_an_operator_only(
    auditor: Client, operator: Client, world: World
) -> None:
    url = reverse("admin:tokens_publication_postman", args=[world.publication.pk])
    assert world.app.client_id not in auditor.get(url).content.decode()
    assert world.app.client_id in operator.get(url).content.decode()


def test_the_test_page_mints_nothing_for_an_auditor_and_fills_the_client_id_for_an_operator(
    auditor: Client, operator: Client, world: World
) -> None:
    url = reverse("admin:tokens_publication_test", args=[world.publication.pk])
    refused = auditor.get(url)
    assert refused.status_code == 403
    assert world.app.client_id not in refused.content.decode()
    assert f'value="{world.app.client_id}"' in operator.get(url).content.decode()


# -- the console's CSP: nothing inline that it would block -----------------------------------------------

CSP_PAGES = [
    admin_url("index"),
    admin_url("tokens_api_changelist"),
    admin_url("tokens_api_create"),
    admin_url("tokens_api_change", *API),
    admin_url("tokens_api_policy", *API, lambda w: VALIDATE_POLICY),
    admin_url("tokens_publication_test", *PUBLICATION),
    admin_url("tokens_publication_change", *PUBLICATION),
    admin_url("tokens_consumerapp_change", *APP),
    admin_url("keyprofiles_keystore_changelist"),
    admin_url("keyprofiles_keystore_generate"),
    admin_url("keyprofiles_keystore_add"),
    admin_url("keyprofiles_keyprofile_add"),
    admin_url("keyprofiles_keyprofile_rotate", lambda w: w.profile.pk),
    admin_url("portal_auditevent_changelist"),
]
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.IGNORECASE)
INLINE_HANDLER_OR_STYLE = re.compile(r"<[a-z][^>]*\s(on[a-z]+|style)\s*=", re.IGNORECASE)


def test_console_pages_send_the_csp_and_hold_no_inline_script_handler_or_style_attribute(
    operator: Client, world: World
) -> None:
    # An expiry badge on the keystore list (it once carried a style attribute).
    Keystore.objects.filter(pk=world.keystore.pk).update(not_after=timezone.now() + timedelta(days=10))
    problems = {}
    for url in (page(world) for page in CSP_PAGES):
        response = operator.get(url)
        html = response.content.decode()
        found = INLINE_SCRIPT.findall(html) + INLINE_HANDLER_OR_STYLE.findall(html)
        if response.status_code != 200 or "script-src 'self'" not in response["Content-Security-Policy"] or found:
            problems[url] = (response.status_code, found)
    assert problems == {}
    assert 'class="expiry-text-red"' in operator.get(reverse("admin:keyprofiles_keystore_changelist")).content.decode()


def test_the_inline_checks_would_see_an_inline_script_a_handler_and_a_style() -> None:
    html = '<script>alert(1)</script><a href="#" onclick="x()">x</a><strong style="color:red">y</strong>'
    assert INLINE_SCRIPT.findall(html) == ["<script>"]
    assert INLINE_HANDLER_OR_STYLE.findall(html) == ["onclick", "style"]
    assert INLINE_SCRIPT.findall('<script src="/static/console/console.js" defer></script>') == []


def test_an_auditor_reads_app_events_with_the_client_id_masked_an_operator_in_full(
    auditor: Client, operator: Client, world: World
) -> None:
    event = AuditEvent.objects.get(action="app.create")
    assert event.detail["client_id"] == world.app.client_id
    url = reverse("admin:portal_auditevent_change", args=[event.pk])
    seen_by_auditor = auditor.get(url).content.decode()
    assert world.app.client_id not in seen_by_auditor
    assert "••••" + world.app.client_id[-4:] in seen_by_auditor
    assert world.app.client_id in operator.get(url).content.decode()
    event.refresh_from_db()
    assert event.detail["client_id"] == world.app.client_id  # shown masked, never changed
