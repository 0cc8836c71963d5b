"""portal's resources: catalogs, audit events and API keys, for every role, with the other organization's 404."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from keyprofiles.models import KeyProfile
from portal.apikeys import key_well_formed
from portal.models import ApiKey, AuditEvent, Catalog, Organization
from portal.services import Actor, audit_record
from tests.api import MakeKey, bearer

ORG = "/api/v1/orgs/personal"


# -- catalogs ---------------------------------------------------------------------------------------------


def test_an_operator_creates_reads_and_deletes_a_catalog_audited_as_its_key(
    client: APIClient, make_key: MakeKey
) -> None:
    operator = bearer(make_key(name="ci"))
    created = client.post(f"{ORG}/catalogs", {"slug": "production", "title": "Production"}, format="json", **operator)
    assert created.status_code == 201
    assert created.json()["slug"] == "production"
    assert client.get(f"{ORG}/catalogs/production", **operator).json()["title"] == "Production"
    assert AuditEvent.objects.get(action="catalog.create", object_repr="personal/production").actor == (
        "api-key:personal/ci"
    )
    assert client.delete(f"{ORG}/catalogs/production", **operator).status_code == 204
    assert not Catalog.objects.filter(slug="production").exists()


def test_the_sandbox_cannot_be_deleted_409(client: APIClient, make_key: MakeKey) -> None:
    operator = bearer(make_key())
    response = client.delete(f"{ORG}/catalogs/sandbox", **operator)
    assert response.status_code == 409
    assert response.json()["code"] == "sandbox_undeletable"
    assert Catalog.objects.filter(slug="sandbox").exists()


def test_a_taken_or_bad_catalog_slug_is_refused(client: APIClient, make_key: MakeKey) -> None:
    operator = bearer(make_key())
    assert (
        client.post(f"{ORG}/catalogs", {"slug": "sandbox", "title": "x"}, format="json", **operator).status_code == 409
    )
    bad = client.post(f"{ORG}/catalogs", {"slug": "Bad Slug", "title": "x"}, format="json", **operator)
    assert bad.status_code == 400
    assert "slug" in bad.json()["errors"]


def test_an_auditor_lists_catalogs_but_cannot_create_or_delete(client: APIClient, make_key: MakeKey) -> None:
    auditor = bearer(make_key("auditor"))
    listing = client.get(f"{ORG}/catalogs", **auditor)
    assert listing.status_code == 200
    assert [c["slug"] for c in listing.json()["results"]] == ["sandbox"]
    assert client.post(f"{ORG}/catalogs", {"slug": "p", "title": "P"}, format="json", **auditor).status_code == 403
    assert client.delete(f"{ORG}/catalogs/sandbox", **auditor).status_code == 403


def test_a_signer_cannot_list_catalogs(client: APIClient, make_key: MakeKey, signer_keyprofile: KeyProfile) -> None:
    assert client.get(f"{ORG}/catalogs", **bearer(make_key("signer"))).status_code == 403


def test_another_organizations_catalogs_answer_404(
    client: APIClient, make_key: MakeKey, other_organization: Organization
) -> None:
    operator = bearer(make_key())
    assert client.get("/api/v1/orgs/other/catalogs/sandbox", **operator).status_code == 404
    assert client.delete("/api/v1/orgs/other/catalogs/sandbox", **operator).status_code == 404
    assert client.get(f"{ORG}/catalogs/sandbox", **operator).status_code == 200


def test_catalogs_are_ordered_and_paginated(client: APIClient, make_key: MakeKey) -> None:
    operator = bearer(make_key())
    for slug in ("alpha", "beta"):
        client.post(f"{ORG}/catalogs", {"slug": slug, "title": slug}, format="json", **operator)
    page = client.get(f"{ORG}/catalogs?ordering=-slug&limit=2", **operator).json()
    assert page["count"] == 3
    assert [c["slug"] for c in page["results"]] == ["sandbox", "beta"]
    assert page["next"] is not None


# -- audit events -----------------------------------------------------------------------------------------


def test_audit_events_are_filtered_and_only_the_organizations_own(
    client: APIClient, make_key: MakeKey, organization: Organization, other_organization: Organization
) -> None:
    auditor = bearer(make_key("auditor"))
    actor = Actor(name="alice")
    audit_record(actor=actor, action="keystore.import", organization=organization, outcome="failure")
    audit_record(actor=actor, action="keystore.generate", organization=organization)
    audit_record(actor=actor, action="keystore.import", organization=other_organization, outcome="failure")
    failures = client.get(f"{ORG}/audit-events?action=keystore.import&outcome=failure", **auditor).json()
    assert failures["count"] == 1
    assert failures["results"][0]["actor"] == "alice"
    by_prefix = client.get(f"{ORG}/audit-events?action_prefix=keystore.&actor=alice", **auditor).json()
    assert by_prefix["count"] == 2
    since = (timezone.now() + timedelta(minutes=1)).isoformat()
    assert client.get(f"{ORG}/audit-events", {"since": since}, **auditor).json()["count"] == 0


def test_a_bad_audit_filter_is_a_400(client: APIClient, make_key: MakeKey) -> None:
    auditor = bearer(make_key("auditor"))
    response = client.get(f"{ORG}/audit-events?outcome=maybe", **auditor)
    assert response.status_code == 400
    assert "outcome" in response.json()["errors"]
    assert client.get(f"{ORG}/audit-events?outcome=success", **auditor).status_code == 200


def test_audit_events_are_read_only(client: APIClient, make_key: MakeKey, signer_keyprofile: KeyProfile) -> None:
    operator = bearer(make_key())
    assert client.post(f"{ORG}/audit-events", {}, format="json", **operator).status_code == 405
    assert client.get(f"{ORG}/audit-events", **bearer(make_key("signer"))).status_code == 403


# -- API keys ---------------------------------------------------------------------------------------------


def test_an_operator_creates_a_key_shown_once_that_then_works(
    client: APIClient, make_key: MakeKey, signer_keyprofile: KeyProfile
) -> None:
    operator = bearer(make_key(name="admin"))
    body = {"name": "ci", "role": "signer", "profiles": ["jwt-keyprofile"], "allow_aud": "id1", "expires_in": 3600}
    created = client.post(f"{ORG}/api-keys", body, format="json", **operator)
    assert created.status_code == 201
    assert created["Cache-Control"] == "no-store"
    key = created.json()["key"]
    assert key_well_formed(key)
    assert created.json()["state"] == "active"
    assert "digest" not in created.json()
    read = client.get(f"{ORG}/api-keys/ci", **operator).json()
    assert "key" not in read
    assert read["allow_aud"] == "id1"
    assert client.get(ORG, **bearer(key)).json()["role"] == "signer"


def test_revoke_and_expire_through_the_api(client: APIClient, make_key: MakeKey, recheck_always: None) -> None:
    operator = bearer(make_key(name="admin"))
    victim = make_key("auditor", name="victim")
    other = make_key("auditor", name="other")
    assert client.post(f"{ORG}/api-keys/victim/revoke", **operator).json()["state"] == "revoked"
    assert client.post(f"{ORG}/api-keys/other/expire", **operator).json()["state"] == "expired"
    assert client.get(ORG, **bearer(victim)).status_code == 401
    assert client.get(ORG, **bearer(other)).status_code == 401
    assert client.get(ORG, **operator).status_code == 200
    assert AuditEvent.objects.get(action="api_key.revoke").actor == "api-key:personal/admin"


def test_an_auditor_lists_keys_but_cannot_create_or_revoke(client: APIClient, make_key: MakeKey) -> None:
    auditor = bearer(make_key("auditor", name="reader"))
    listing = client.get(f"{ORG}/api-keys?role=auditor", **auditor).json()
    assert [k["name"] for k in listing["results"]] == ["reader"]
    assert (
        client.post(f"{ORG}/api-keys", {"name": "x", "role": "operator"}, format="json", **auditor).status_code == 403
    )
    assert client.post(f"{ORG}/api-keys/reader/revoke", **auditor).status_code == 403
    assert ApiKey.objects.get(name="reader").revoked_at is None


def test_another_organizations_keys_answer_404(
    client: APIClient, make_key: MakeKey, other_organization: Organization
) -> None:
    make_key(name="theirs", organization=other_organization)
    operator = bearer(make_key())
    assert client.post("/api/v1/orgs/other/api-keys/theirs/revoke", **operator).status_code == 404
    assert client.get(f"{ORG}/api-keys/theirs", **operator).status_code == 404
    assert ApiKey.objects.get(name="theirs").revoked_at is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "role": "operator", "allow_iss": "("}, "allow_iss"),
        ({"name": "x", "role": "operator", "expires_in": 0}, "expires_in"),
        ({"name": "x", "role": "operator", "profiles": "p"}, "profiles"),
    ],
)
def test_bad_key_input_names_the_field_and_stores_nothing(
    client: APIClient, make_key: MakeKey, body: dict[str, object], field: str
) -> None:
    operator = bearer(make_key(name="admin"))
    response = client.post(f"{ORG}/api-keys", body, format="json", **operator)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not ApiKey.objects.filter(name="x").exists()
