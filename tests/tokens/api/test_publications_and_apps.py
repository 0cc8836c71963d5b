"""``catalogs/{catalog}/publications`` (life cycle) and ``catalogs/{catalog}/apps`` (credentials shown once,
subscriptions), each with its roles; the credentials work at the gateway."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from portal.models import AuditEvent, Catalog, Organization
from portal.services import Actor
from tests.api import MakeKey, bearer
from tokens import credentials
from tokens.demo import DemoSummary
from tokens.models import ConsumerApp, Publication
from tokens.services import SANDBOX_TEST_APP, app_create

CATALOG = "/api/v1/orgs/personal/catalogs/sandbox"
PUBLICATIONS = f"{CATALOG}/publications"
DEMO_PUBLICATION = f"{PUBLICATIONS}/jwt-generation-and-validation/1.0.0"
APPS = f"{CATALOG}/apps"
pytestmark = pytest.mark.django_db


def test_the_catalog_lists_what_it_serves(client: APIClient, demo: DemoSummary, auditor: dict[str, str]) -> None:
    listed = client.get(PUBLICATIONS, **auditor)
    assert listed.status_code == 200
    [publication] = listed.json()["results"]
    assert publication["api"] == "jwt-generation-and-validation"
    assert publication["state"] == "published"
    assert publication["gateway_path"] == "/personal/sandbox/securetoken"
    assert client.get(f"{PUBLICATIONS}?state=retired", **auditor).json()["count"] == 0
    assert client.get(f"{PUBLICATIONS}?api=jwt-generation-and-validation", **auditor).json()["count"] == 1
    assert client.get(DEMO_PUBLICATION, **auditor).json()["revision"] == 1
    assert client.get(f"{PUBLICATIONS}/jwt-generation-and-validation/9.9.9", **auditor).status_code == 404
    assert client.get("/api/v1/orgs/personal/catalogs/nowhere/publications", **auditor).status_code == 404


def test_deprecate_reinstate_and_retire(client: APIClient, demo: DemoSummary, operator: dict[str, str]) -> None:
    for state in ("deprecated", "published", "retired"):
        answer = client.patch(DEMO_PUBLICATION, {"state": state}, format="json", **operator)
        assert answer.status_code == 200, answer.content
        assert answer.json()["state"] == state
        assert Publication.objects.get().state == state
    assert AuditEvent.objects.filter(action__startswith="publication.").count() == 3
    # A retired publication comes back only by publishing again.
    refused = client.patch(DEMO_PUBLICATION, {"state": "published"}, format="json", **operator)
    assert refused.status_code == 409
    assert refused.json()["code"] == "invalid_transition"
    assert "publish it again" in refused.json()["detail"]
    assert Publication.objects.get().state == "retired"


def test_a_state_must_be_one_of_the_three(client: APIClient, demo: DemoSummary, operator: dict[str, str]) -> None:
    answer = client.patch(DEMO_PUBLICATION, {"state": "gone"}, format="json", **operator)
    assert answer.status_code == 400
    assert "state" in answer.json()["errors"]
    assert client.patch(DEMO_PUBLICATION, {"state": "deprecated"}, format="json", **operator).status_code == 200


def test_publication_roles(
    client: APIClient,
    demo: DemoSummary,
    auditor: dict[str, str],
    signer: dict[str, str],
    make_key: MakeKey,
    other_organization: Organization,
) -> None:
    assert client.get(DEMO_PUBLICATION, **auditor).status_code == 200
    assert client.patch(DEMO_PUBLICATION, {"state": "deprecated"}, format="json", **auditor).status_code == 403
    assert client.get(PUBLICATIONS, **signer).status_code == 403
    stranger = bearer(make_key("operator", organization=other_organization))
    assert client.get(DEMO_PUBLICATION, **stranger).status_code == 404
    assert Publication.objects.get().state == "published"


def test_an_app_gets_its_secret_once_and_never_again(
    client: APIClient, demo: DemoSummary, operator: dict[str, str]
) -> None:
    created = client.post(APPS, {"name": "Billing", "with_secret": True}, format="json", **operator)
    assert created.status_code == 201, created.content
    assert created["Cache-Control"] == "no-store"
    body = created.json()
    app = ConsumerApp.objects.get(name="Billing")
    assert body["client_id"] == app.client_id
    assert credentials.secret_matches(body["client_secret"], app.client_secret_hash)
    assert body["client_secret"] not in app.client_secret_hash
    # Subscribed to what sandbox serves, like an app made in the console.
    assert body["subscriptions"] == [{"api": "jwt-generation-and-validation", "version": "1.0.0", "state": "published"}]

    for answer in (client.get(f"{APPS}/{app.pk}", **operator), client.get(APPS, **operator)):
        assert answer.status_code == 200
        assert body["client_secret"] not in answer.content.decode()
        assert "client_secret" not in answer.content.decode()
    detail = client.get(f"{APPS}/{app.pk}", **operator).json()
    assert detail["has_secret"] is True
    assert detail["client_id"] == app.client_id
    events = AuditEvent.objects.filter(action="app.create")
    assert body["client_secret"] not in str(list(events.values_list("detail", flat=True)))


def test_an_app_without_a_secret_has_none_to_show(
    client: APIClient, demo: DemoSummary, operator: dict[str, str]
) -> None:
    created = client.post(APPS, {"name": "Mobile", "description": "The phone app"}, format="json", **operator)
    assert created.status_code == 201
    assert created.json()["client_secret"] is None
    assert created.json()["has_secret"] is False
    assert created.json()["description"] == "The phone app"


def test_app_names_are_unique_in_a_catalog_and_plain_text(
    client: APIClient, demo: DemoSummary, operator: dict[str, str]
) -> None:
    assert client.post(APPS, {"name": "Billing"}, format="json", **operator).status_code == 201
    taken = client.post(APPS, {"name": "Billing"}, format="json", **operator)
    assert taken.status_code == 409
    assert taken.json()["code"] == "name_taken"
    control = client.post(APPS, {"name": "Bill\x1bing"}, format="json", **operator)
    assert control.status_code == 400
    assert "name" in control.json()["errors"]
    assert ConsumerApp.objects.filter(name__startswith="Bill").count() == 1


def test_reset_secret_shows_the_new_secret_once_and_the_old_one_stops_working(
    client: APIClient, demo: DemoSummary, operator: dict[str, str], sandbox: Catalog
) -> None:
    app, old = app_create(catalog=sandbox, name="Billing", with_secret=True, actor=Actor(name="test"))
    assert old is not None
    answer = client.post(f"{APPS}/{app.pk}/reset-secret", **operator)
    assert answer.status_code == 200
    assert answer["Cache-Control"] == "no-store"
    new = answer.json()["client_secret"]
    app.refresh_from_db()
    assert credentials.secret_matches(new, app.client_secret_hash)
    assert not credentials.secret_matches(old, app.client_secret_hash)
    assert new not in client.get(f"{APPS}/{app.pk}", **operator).content.decode()


def test_the_new_app_calls_the_published_api_at_the_gateway(
    client: APIClient, demo: DemoSummary, operator: dict[str, str], recheck_always: None
) -> None:
    client_id = client.post(APPS, {"name": "Caller"}, format="json", **operator).json()["client_id"]
    gateway = Client()
    headers = {"HTTP_X_IBM_CLIENT_ID": client_id, "HTTP_ISS_CLAIM": "apic", "HTTP_AUD_CLAIM": "id1"}
    generated = gateway.get("/personal/sandbox/securetoken/generate", **headers)
    assert generated.status_code == 200
    assert generated["Authorization"].startswith("Bearer ")
    app_id = ConsumerApp.objects.get(name="Caller").pk
    assert client.delete(f"{APPS}/{app_id}", **operator).status_code == 204
    assert AuditEvent.objects.filter(action="app.delete").count() == 1
    assert gateway.get("/personal/sandbox/securetoken/generate", **headers).status_code == 401


def test_subscriptions_are_listed_added_and_removed(
    client: APIClient, demo: DemoSummary, operator: dict[str, str], sandbox: Catalog
) -> None:
    app, _ = app_create(catalog=sandbox, name="Later", actor=Actor(name="test"))
    subscriptions = f"{APPS}/{app.pk}/subscriptions"
    assert client.get(subscriptions, **operator).json() == []
    added = client.post(subscriptions, {"api": "jwt-generation-and-validation", "version": "1.0.0"}, **operator)
    assert added.status_code == 201
    assert client.get(subscriptions, **operator).json() == [
        {"api": "jwt-generation-and-validation", "version": "1.0.0", "state": "published"}
    ]
    unknown = client.post(subscriptions, {"api": "jwt-generation-and-validation", "version": "2.0.0"}, **operator)
    assert unknown.status_code == 400
    assert "api" in unknown.json()["errors"]
    assert client.delete(f"{subscriptions}/jwt-generation-and-validation/1.0.0", **operator).status_code == 204
    assert client.delete(f"{subscriptions}/jwt-generation-and-validation/1.0.0", **operator).status_code == 404
    assert not app.subscriptions.exists()


def test_a_retired_api_cannot_be_subscribed_to(
    client: APIClient, demo: DemoSummary, operator: dict[str, str], sandbox: Catalog
) -> None:
    app, _ = app_create(catalog=sandbox, name="Late", actor=Actor(name="test"))
    Publication.objects.update(state=Publication.State.RETIRED)
    refused = client.post(
        f"{APPS}/{app.pk}/subscriptions", {"api": "jwt-generation-and-validation", "version": "1.0.0"}, **operator
    )
    assert refused.status_code == 400
    assert "is retired in personal/sandbox" in refused.json()["detail"]
    assert not app.subscriptions.exists()


def test_app_roles_auditors_read_masked_client_ids_signers_and_strangers_nothing(
    client: APIClient,
    demo: DemoSummary,
    auditor: dict[str, str],
    signer: dict[str, str],
    make_key: MakeKey,
    other_organization: Organization,
) -> None:
    app = ConsumerApp.objects.get(name=SANDBOX_TEST_APP)
    seen = client.get(f"{APPS}/{app.pk}", **auditor)
    assert seen.status_code == 200
    assert seen.json()["client_id"] == f"••••{app.client_id[-4:]}"
    assert app.client_id not in client.get(APPS, **auditor).content.decode()
    assert client.post(APPS, {"name": "Nope"}, format="json", **auditor).status_code == 403
    assert client.post(f"{APPS}/{app.pk}/reset-secret", **auditor).status_code == 403
    assert client.delete(f"{APPS}/{app.pk}", **auditor).status_code == 403
    assert client.get(APPS, **signer).status_code == 403
    stranger = bearer(make_key("operator", organization=other_organization))
    assert client.get(f"{APPS}/{app.pk}", **stranger).status_code == 404
    assert client.get(f"/api/v1/orgs/other/catalogs/sandbox/apps/{app.pk}", **stranger).status_code == 404
    assert ConsumerApp.objects.filter(pk=app.pk, client_secret_hash="").exists()


def test_an_app_id_beyond_any_database_is_simply_not_found(
    client: APIClient, demo: DemoSummary, operator: dict[str, str]
) -> None:
    app = ConsumerApp.objects.get(name=SANDBOX_TEST_APP)
    assert client.get(f"{APPS}/{app.pk}", **operator).status_code == 200
    assert client.get(f"{APPS}/{2**64}", **operator).status_code == 404
