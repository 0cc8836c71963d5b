"""portal.services: actors, the audit trail, and the organization and catalog services."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import AbstractUser, AnonymousUser
from django.core.exceptions import ValidationError

from portal.models import AuditEvent, Catalog, Organization
from portal.services import (
    SYSTEM,
    Actor,
    audit_record,
    catalog_create,
    catalog_delete,
    catalog_get_or_create,
    organization_create,
    organization_get_or_create,
)


def actions() -> list[tuple[str, str, str]]:
    return list(AuditEvent.objects.order_by("id").values_list("actor", "action", "outcome"))


# Actors


def test_actor_for_an_anonymous_user() -> None:
    assert Actor.for_user(AnonymousUser()) == Actor(name="anonymous")


def test_actor_for_a_logged_in_user(django_user_model: type[AbstractUser]) -> None:
    user = django_user_model.objects.create_user(username="operator", password=None)
    actor = Actor.for_user(user)
    assert actor.name == "operator"
    assert actor.user == user


def test_actor_for_a_command() -> None:
    assert Actor.for_command("import_keystore") == Actor(name="cli:import_keystore")


# audit_record


def test_audit_record_describes_the_target_and_the_user(
    organization: Organization, django_user_model: type[AbstractUser]
) -> None:
    user = django_user_model.objects.create_user(username="operator", password=None)
    event = audit_record(
        actor=Actor.for_user(user),
        action="thing.touch",
        target=organization,
        organization=organization,
        detail={"why": "test"},
    )
    event.refresh_from_db()
    assert (event.actor, event.user, event.action) == ("operator", user, "thing.touch")
    assert (event.object_type, event.object_id, event.object_repr) == (
        "portal.organization",
        str(organization.pk),
        "personal",
    )
    assert event.organization == organization
    assert event.outcome == AuditEvent.Outcome.SUCCESS
    assert event.detail == {"why": "test"}


def test_audit_record_without_target_or_user(db: None) -> None:
    event = audit_record(actor=Actor(name="cli:x"), action="thing.fail", outcome=AuditEvent.Outcome.FAILURE)
    event.refresh_from_db()
    assert (event.user, event.object_type, event.object_id, event.object_repr) == (None, "", "", "")
    assert event.outcome == "failure"
    assert event.detail == {}


def test_audit_record_cuts_a_long_actor_name(db: None) -> None:
    event = audit_record(actor=Actor(name="x" * 200), action="thing.touch")
    assert event.actor == "x" * 150


# Organizations and catalogs


def test_organization_create_records_the_sandbox_and_the_organization(db: None, actor: Actor) -> None:
    organization = organization_create(slug="personal", title="Personal", actor=actor)
    assert list(organization.catalogs.values_list("slug", "title")) == [("sandbox", "Sandbox")]
    assert actions() == [
        ("test-operator", "catalog.create", "success"),
        ("test-operator", "organization.create", "success"),
    ]
    event = AuditEvent.objects.get(action="organization.create")
    assert (event.object_type, event.object_repr, event.organization) == (
        "portal.organization",
        "personal",
        organization,
    )


def test_organization_create_defaults_to_the_system_actor(db: None) -> None:
    organization_create(slug="personal", title="Personal")
    assert {name for name, _, _ in actions()} == {SYSTEM.name}


def test_organization_create_with_a_reserved_slug_stores_nothing(db: None, actor: Actor) -> None:
    with pytest.raises(ValidationError) as caught:
        organization_create(slug="healthz", title="Shadow", actor=actor)
    assert "slug" in caught.value.message_dict
    assert not Organization.objects.exists()
    assert not Catalog.objects.exists()
    assert not AuditEvent.objects.exists()


def test_organization_create_with_a_duplicate_slug_is_refused(organization: Organization, actor: Actor) -> None:
    with pytest.raises(ValidationError) as caught:
        organization_create(slug="personal", title="Again", actor=actor)
    assert "slug" in caught.value.message_dict
    assert Organization.objects.count() == 1


def test_catalog_create_records_an_event(organization: Organization, actor: Actor) -> None:
    catalog = catalog_create(organization=organization, slug="production", title="Production", actor=actor)
    event = AuditEvent.objects.get(action="catalog.create", actor="test-operator")
    assert (event.object_type, event.object_id, event.object_repr) == (
        "portal.catalog",
        str(catalog.pk),
        "personal/production",
    )


def test_catalog_create_with_a_duplicate_slug_records_nothing(production: Catalog, actor: Actor) -> None:
    before = AuditEvent.objects.count()
    with pytest.raises(ValidationError):
        catalog_create(organization=production.organization, slug="production", title="Again", actor=actor)
    assert AuditEvent.objects.count() == before


def test_catalog_delete_of_production_is_recorded(production: Catalog, actor: Actor) -> None:
    catalog_delete(catalog=production, actor=actor)
    assert not Catalog.objects.filter(slug="production").exists()
    event = AuditEvent.objects.get(action="catalog.delete")
    assert event.actor == "test-operator"
    assert event.detail == {"catalog": "personal/production"}
    assert event.organization == production.organization


def test_catalog_delete_of_the_sandbox_is_refused_and_not_recorded(sandbox: Catalog, actor: Actor) -> None:
    with pytest.raises(ValidationError, match=re.escape("The sandbox catalog cannot be deleted.")):
        catalog_delete(catalog=sandbox, actor=actor)
    assert Catalog.objects.filter(pk=sandbox.pk).exists()
    assert not AuditEvent.objects.filter(action="catalog.delete").exists()


def test_get_or_create_services_are_idempotent(db: None, actor: Actor) -> None:
    first = organization_get_or_create(slug="personal", title="Personal", actor=actor)
    production = catalog_get_or_create(organization=first, slug="production", title="Production", actor=actor)
    events = AuditEvent.objects.count()
    assert organization_get_or_create(slug="personal", title="Other title", actor=actor) == first
    assert catalog_get_or_create(organization=first, slug="production", title="Other", actor=actor) == production
    assert catalog_get_or_create(organization=first, slug="sandbox", title="Sandbox", actor=actor).is_sandbox
    assert AuditEvent.objects.count() == events
    assert Organization.objects.count() == 1
    assert Catalog.objects.count() == 2
