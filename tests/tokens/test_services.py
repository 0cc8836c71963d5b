"""tokens.services: saving and importing APIs, publishing snapshots, their states, and consumer apps."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from keyprofiles.models import KeyProfile
from portal.invalidation import current_version
from portal.models import AuditEvent, Catalog, Organization
from portal.services import Actor, organization_create
from tests.tokens.helpers import api_document, demo_document, segment
from tokens import credentials
from tokens.demo import API_DOCUMENT
from tokens.documents import document_dump
from tokens.errors import DocumentError, PolicyConfigError, PublishError
from tokens.models import Api, ConsumerApp, Publication
from tokens.services import (
    SANDBOX_TEST_APP,
    api_delete,
    api_import,
    api_publish,
    api_save,
    app_create,
    app_reset_client_id,
    app_reset_secret,
    app_subscribe,
    publication_set_state,
    sandbox_test_app,
)

Commit = Callable[..., Any]


def with_exp(seconds: int) -> dict[str, Any]:
    """The demo document with another validity for its generated tokens."""
    document = copy.deepcopy(demo_document())
    case = document["x-ibm-configuration"]["assembly"]["execute"][0]["operation-switch"]["case"][0]
    case["execute"][0]["jwt-generate"]["exp-claim"] = seconds
    return document


@pytest.fixture
def api(organization: Organization, actor: Actor, jwt_keyprofile: KeyProfile) -> Api:
    """The demo API, imported where its crypto objects (fixed key 1) are enabled in sandbox."""
    api, _ = api_import(organization=organization, data=API_DOCUMENT.read_bytes(), actor=actor)
    return api


def generate(client: Client, catalog: Catalog, actor: Actor) -> Any:
    client_id = sandbox_test_app(catalog=catalog, actor=actor).client_id
    return client.get(
        "/personal/sandbox/securetoken/generate",
        headers={"X-IBM-Client-Id": client_id, "iss-claim": "apic", "aud-claim": "id1"},
    )


def validity(response: Any) -> int:
    claims = segment(response["Authorization"].removeprefix("Bearer "), 1)
    return int(claims["exp"] - claims["iat"])


# -- saving and importing -----------------------------------------------------------------------------------


def test_api_import_creates_then_updates_one_api_version(organization: Organization, actor: Actor) -> None:
    api, created = api_import(organization=organization, data=API_DOCUMENT.read_bytes(), actor=actor)
    again, created_again = api_save(organization=organization, document=with_exp(120), actor=actor)

    assert (created, created_again) == (True, False)
    assert again.pk == api.pk
    assert (again.title, again.name, again.version, again.base_path, again.openapi_version) == (
        "JWT Generation and Validation",
        "jwt-generation-and-validation",
        "1.0.0",
        "/securetoken",
        "2.0",
    )
    assert Api.objects.get().document == with_exp(120)
    assert list(AuditEvent.objects.filter(object_type="tokens.api").values_list("action", flat=True)) == [
        "api.update",
        "api.create",
    ]


def test_api_import_refuses_a_bad_document_and_stores_nothing(organization: Organization, actor: Actor) -> None:
    document = demo_document()
    document["info"]["version"] = "1.0"

    with pytest.raises(DocumentError, match=r"info\.version"):
        api_import(organization=organization, data=document_dump(document, fmt="yaml"), actor=actor)
    assert not Api.objects.exists()
    document["info"]["version"] = "1.0.0"
    api_import(organization=organization, data=document_dump(document, fmt="yaml"), actor=actor)
    assert Api.objects.count() == 1


# -- publishing ---------------------------------------------------------------------------------------------


def test_publish_creates_a_snapshot_of_the_document(api: Api, sandbox: Catalog, actor: Actor) -> None:
    publication = api_publish(api=api, catalog=sandbox, actor=actor)

    assert (publication.state, publication.revision, publication.base_path) == ("published", 1, "/securetoken")
    assert publication.document == api.document == demo_document()
    assert publication.published_at is not None


def test_publish_bumps_the_configuration_version(api: Api, sandbox: Catalog, actor: Actor) -> None:
    before = current_version()

    api_publish(api=api, catalog=sandbox, actor=actor)

    assert current_version() > before


@pytest.mark.usefixtures("recheck_always")
def test_republish_replaces_the_snapshot_and_the_gateway_serves_it(
    api: Api, sandbox: Catalog, actor: Actor, client: Client, django_capture_on_commit_callbacks: Commit
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        first = api_publish(api=api, catalog=sandbox, actor=actor)
    assert validity(generate(client, sandbox, actor)) == 60

    with django_capture_on_commit_callbacks(execute=True):
        api, _ = api_save(organization=api.organization, document=with_exp(120), actor=actor)
        second = api_publish(api=api, catalog=sandbox, actor=actor)

    assert second.pk == first.pk
    assert second.revision == 2
    assert Publication.objects.get().document == with_exp(120)
    assert validity(generate(client, sandbox, actor)) == 120


@pytest.mark.usefixtures("recheck_always")
def test_a_document_change_does_not_change_what_is_served_until_republished(
    api: Api, sandbox: Catalog, actor: Actor, client: Client, django_capture_on_commit_callbacks: Commit
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        api_publish(api=api, catalog=sandbox, actor=actor)
        api_save(organization=api.organization, document=with_exp(120), actor=actor)

    assert validity(generate(client, sandbox, actor)) == 60
    assert Publication.objects.get().document == demo_document()

    with django_capture_on_commit_callbacks(execute=True):
        api_publish(api=Api.objects.get(), catalog=sandbox, actor=actor)
    assert validity(generate(client, sandbox, actor)) == 120


def test_publish_to_sandbox_subscribes_the_sandbox_test_app(
    api: Api, sandbox: Catalog, production: Catalog, actor: Actor
) -> None:
    other = api_save(organization=api.organization, document=api_document(name="other", base_path="/o"), actor=actor)

    in_production = api_publish(api=other[0], catalog=production, actor=actor)
    in_sandbox = api_publish(api=api, catalog=sandbox, actor=actor)

    app = ConsumerApp.objects.get(catalog=sandbox)
    assert app.name == SANDBOX_TEST_APP
    assert list(app.subscriptions.all()) == [in_sandbox]
    assert not app.has_secret
    assert not in_production.subscribers.exists()
    assert not ConsumerApp.objects.filter(catalog=production).exists()


def test_every_publish_writes_an_audit_event(api: Api, sandbox: Catalog, actor: Actor) -> None:
    api_publish(api=api, catalog=sandbox, actor=actor)
    api_publish(api=api, catalog=sandbox, actor=actor)

    events = AuditEvent.objects.filter(action="api.publish").order_by("id")
    assert [(e.actor, e.outcome, e.detail["revision"], e.detail["catalog"]) for e in events] == [
        ("test-operator", "success", 1, "sandbox"),
        ("test-operator", "success", 2, "sandbox"),
    ]
    assert {e.object_type for e in events} == {"tokens.publication"}


def test_a_refused_publish_writes_a_failure_audit_event(api: Api, production: Catalog, actor: Actor) -> None:
    with pytest.raises(PolicyConfigError):
        api_publish(api=api, catalog=production, actor=actor)

    event = AuditEvent.objects.get(action="api.publish")
    assert event.outcome == "failure"
    assert "jws-crypto" in event.detail["error"]


def test_publish_refuses_a_crypto_object_not_enabled_in_the_catalog_and_changes_nothing(
    api: Api, sandbox: Catalog, production: Catalog, actor: Actor, django_capture_on_commit_callbacks: Commit
) -> None:
    before = current_version()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(PolicyConfigError) as excinfo:
        api_publish(api=api, catalog=production, actor=actor)

    assert (excinfo.value.policy, excinfo.value.prop) == ("jwt-generate", "jws-crypto")
    assert str(excinfo.value) == (
        "jwt-generate policy 'jwt-generate', property 'jws-crypto': no crypto object "
        "'personal_sandbox_tlsp-jwt-keyprofileV1.0.0-key' is enabled in catalog personal/production."
    )
    assert current_version() == before
    assert not Publication.objects.exists()
    assert not ConsumerApp.objects.exists()
    assert api_publish(api=api, catalog=sandbox, actor=actor).catalog == sandbox  # the twin


def test_publish_refuses_an_unsupported_policy_and_changes_nothing(
    organization: Organization, sandbox: Catalog, actor: Actor
) -> None:
    script = {"proxy": {"title": "legacy script", "source": "session.output.write('x')"}}
    supported = {"set-variable": {"title": "legacy script", "actions": [{"set": "message.body", "value": "x"}]}}
    bad, _ = api_save(organization=organization, document=api_document(name="bad", execute=[script]), actor=actor)
    good, _ = api_save(
        organization=organization, document=api_document(name="good", base_path="/g", execute=[supported]), actor=actor
    )

    with pytest.raises(PublishError, match="Policy 'legacy script' of type 'proxy'"):
        api_publish(api=bad, catalog=sandbox, actor=actor)
    assert not Publication.objects.exists()
    assert api_publish(api=good, catalog=sandbox, actor=actor).api == good


def test_publish_refuses_a_catalog_of_another_organization(api: Api, actor: Actor) -> None:
    acme = organization_create(slug="acme", title="Acme")

    with pytest.raises(PublishError, match="belongs to another organization"):
        api_publish(api=api, catalog=Catalog.objects.get(organization=acme), actor=actor)
    assert not Publication.objects.exists()
    assert api_publish(api=api, catalog=Catalog.objects.get(organization=api.organization, slug="sandbox"), actor=actor)


def test_two_apis_may_not_share_a_base_path_in_one_catalog(
    api: Api, sandbox: Catalog, production: Catalog, actor: Actor
) -> None:
    api_publish(api=api, catalog=sandbox, actor=actor)
    same_path, _ = api_save(
        organization=api.organization, document=api_document(name="other", base_path="/securetoken"), actor=actor
    )
    other_path, _ = api_save(
        organization=api.organization, document=api_document(name="third", base_path="/elsewhere"), actor=actor
    )

    with pytest.raises(PublishError, match="/securetoken is already served in personal/sandbox by"):
        api_publish(api=same_path, catalog=sandbox, actor=actor)
    assert api_publish(api=other_path, catalog=sandbox, actor=actor).base_path == "/elsewhere"
    assert api_publish(api=same_path, catalog=production, actor=actor).base_path == "/securetoken"


def test_a_base_path_is_free_again_once_its_api_is_retired(api: Api, sandbox: Catalog, actor: Actor) -> None:
    publication = api_publish(api=api, catalog=sandbox, actor=actor)
    same_path, _ = api_save(
        organization=api.organization, document=api_document(name="other", base_path="/securetoken"), actor=actor
    )

    publication_set_state(publication=publication, state="retired", actor=actor)

    assert api_publish(api=same_path, catalog=sandbox, actor=actor).state == "published"


def test_a_new_version_of_an_api_retires_the_old_one_in_that_catalog(api: Api, sandbox: Catalog, actor: Actor) -> None:
    old = api_publish(api=api, catalog=sandbox, actor=actor)
    document = demo_document()
    document["info"]["version"] = "1.1.0"
    newer, _ = api_save(organization=api.organization, document=document, actor=actor)

    new = api_publish(api=newer, catalog=sandbox, actor=actor)

    old.refresh_from_db()
    assert (old.state, new.state) == ("retired", "published")


# -- publication states ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("recheck_always")
def test_deprecated_apis_still_answer_and_retired_ones_do_not(
    api: Api, sandbox: Catalog, actor: Actor, client: Client, django_capture_on_commit_callbacks: Commit
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        publication = api_publish(api=api, catalog=sandbox, actor=actor)
    published = generate(client, sandbox, actor)

    with django_capture_on_commit_callbacks(execute=True):
        publication_set_state(publication=publication, state="deprecated", actor=actor)
    deprecated = generate(client, sandbox, actor)

    with django_capture_on_commit_callbacks(execute=True):
        publication_set_state(publication=publication, state="retired", actor=actor)
    retired = generate(client, sandbox, actor)

    assert (published.status_code, published.get("Deprecation")) == (200, None)
    assert (deprecated.status_code, deprecated["Deprecation"]) == (200, "true")
    assert retired.status_code == 404


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        (["deprecated", "published"], None),
        (["deprecated", "retired"], None),
        (["retired"], "published"),
        (["retired"], "deprecated"),
        (["published"], "archived"),
    ],
)
def test_state_changes_allowed_and_refused(
    path: list[str], refused: str | None, api: Api, sandbox: Catalog, actor: Actor
) -> None:
    publication = api_publish(api=api, catalog=sandbox, actor=actor)
    for state in path:
        publication = publication_set_state(publication=publication, state=state, actor=actor)
        assert publication.state == state

    if refused is not None:
        with pytest.raises(PublishError, match=f"is {path[-1]}; it cannot become {refused}"):
            publication_set_state(publication=publication, state=refused, actor=actor)
        publication.refresh_from_db()
        assert publication.state == path[-1]


def test_a_retired_api_comes_back_by_publishing_it_again(api: Api, sandbox: Catalog, actor: Actor) -> None:
    publication = api_publish(api=api, catalog=sandbox, actor=actor)
    publication_set_state(publication=publication, state="retired", actor=actor)

    with pytest.raises(PublishError, match=r"\(publish it again instead\)"):
        publication_set_state(publication=publication, state="published", actor=actor)
    again = api_publish(api=api, catalog=sandbox, actor=actor)

    assert (again.pk, again.state, again.revision) == (publication.pk, "published", 2)


def test_a_state_change_is_idempotent_and_audited_once(api: Api, sandbox: Catalog, actor: Actor) -> None:
    publication = api_publish(api=api, catalog=sandbox, actor=actor)

    publication_set_state(publication=publication, state="deprecated", actor=actor)
    publication_set_state(publication=publication, state="deprecated", actor=actor)

    events = AuditEvent.objects.filter(action="publication.deprecated")
    assert [event.detail for event in events] == [{"from": "published", "to": "deprecated"}]


# -- consumer apps and their credentials --------------------------------------------------------------------


def test_an_app_secret_is_shown_once_and_only_its_hash_is_stored(sandbox: Catalog, actor: Actor) -> None:
    app, secret = app_create(catalog=sandbox, name="Mobile", with_secret=True, actor=actor)
    plain, no_secret = app_create(catalog=sandbox, name="Web", actor=actor)

    assert secret is not None
    assert len(secret) >= 43
    assert no_secret is None
    assert not plain.has_secret
    stored = ConsumerApp.objects.get(pk=app.pk)
    assert stored.client_secret_hash.startswith("hmac-sha256$")
    assert secret not in stored.client_secret_hash
    assert credentials.secret_matches(secret, stored.client_secret_hash)
    assert not credentials.secret_matches(secret + "x", stored.client_secret_hash)
    for row in ConsumerApp.objects.values():
        assert secret not in repr(row)
    for event in AuditEvent.objects.all():
        assert secret not in repr(event.detail)
    assert AuditEvent.objects.get(action="app.create", object_id=str(app.pk)).detail["secret"] is True


def test_two_apps_with_one_secret_have_different_hashes() -> None:
    assert credentials.secret_hash("same") != credentials.secret_hash("same")


@pytest.mark.parametrize("stored", ["", "md5$00$00", "hmac-sha256$zz$00", "hmac-sha256$$"])
def test_a_malformed_stored_hash_matches_nothing(stored: str) -> None:
    assert credentials.secret_matches("s", credentials.secret_hash("s"))
    assert not credentials.secret_matches("s", stored)


def test_reset_secret_refuses_the_old_one(sandbox: Catalog, actor: Actor) -> None:
    app, old = app_create(catalog=sandbox, name="Mobile", with_secret=True, actor=actor)
    assert old is not None

    new = app_reset_secret(app=app, actor=actor)

    stored = ConsumerApp.objects.get(pk=app.pk).client_secret_hash
    assert new != old
    assert credentials.secret_matches(new, stored)
    assert not credentials.secret_matches(old, stored)
    assert AuditEvent.objects.filter(action="app.reset-secret", object_id=str(app.pk)).count() == 1


def test_reset_client_id_gives_a_new_one(sandbox: Catalog, actor: Actor) -> None:
    app, _ = app_create(catalog=sandbox, name="Mobile", actor=actor)
    old = app.client_id

    new = app_reset_client_id(app=app, actor=actor)

    assert new != old
    assert ConsumerApp.objects.get(pk=app.pk).client_id == new
    assert not ConsumerApp.objects.filter(client_id=old).exists()


def test_client_ids_are_32_hex_and_names_unique_per_catalog(
    sandbox: Catalog, production: Catalog, actor: Actor
) -> None:
    app, _ = app_create(catalog=sandbox, name="Mobile", actor=actor)
    app_create(catalog=production, name="Mobile", actor=actor)

    assert re.fullmatch(r"[0-9a-f]{32}", app.client_id)
    with pytest.raises(ValidationError):
        app_create(catalog=sandbox, name="Mobile", actor=actor)
    with pytest.raises(ValidationError):
        app_create(catalog=sandbox, name="   ", actor=actor)


def test_an_app_subscribes_only_to_apis_of_its_catalog(
    api: Api, sandbox: Catalog, production: Catalog, actor: Actor
) -> None:
    publication = api_publish(api=api, catalog=sandbox, actor=actor)
    here, _ = app_create(catalog=sandbox, name="Here", actor=actor)
    there, _ = app_create(catalog=production, name="There", actor=actor)

    app_subscribe(app=here, publication=publication, actor=actor)
    app_subscribe(app=here, publication=publication, actor=actor)  # idempotent
    with pytest.raises(ValidationError, match="cannot subscribe to an API in personal/sandbox"):
        app_subscribe(app=there, publication=publication, actor=actor)

    assert list(here.subscriptions.all()) == [publication]
    assert not there.subscriptions.exists()


# -- deleting ----------------------------------------------------------------------------------------------


def test_an_api_served_in_a_catalog_cannot_be_deleted(api: Api, sandbox: Catalog, actor: Actor) -> None:
    api_publish(api=api, catalog=sandbox, actor=actor)
    with pytest.raises(PublishError, match="published in personal/sandbox; retire it there"):
        api_delete(api=api, actor=actor)
    assert Api.objects.filter(pk=api.pk).exists()


def test_a_retired_api_is_deleted_with_its_publications_and_audited(api: Api, sandbox: Catalog, actor: Actor) -> None:
    publication = api_publish(api=api, catalog=sandbox, actor=actor)
    publication_set_state(publication=publication, state=Publication.State.RETIRED, actor=actor)
    api_delete(api=api, actor=actor)
    assert not Api.objects.filter(pk=api.pk).exists()
    assert not Publication.objects.filter(pk=publication.pk).exists()
    event = AuditEvent.objects.get(action="api.delete")
    assert (event.actor, event.object_repr) == (actor.name, "jwt-generation-and-validation 1.0.0")
