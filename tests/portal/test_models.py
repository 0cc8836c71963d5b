"""portal.models: reserved organization slugs, the undeletable sandbox catalog, and the audit event."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ValidationError

from portal.models import RESERVED_ORGANIZATION_SLUGS, AuditEvent, Catalog, Organization
from portal.services import catalog_create, organization_create


@pytest.mark.parametrize(
    "slug", ["admin", "static", "media", "healthz", "readyz", "api", "accounts", "console", "docs"]
)
def test_reserved_organization_slug_is_refused(db: None, slug: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Organization(slug=slug, title="Shadow").full_clean()
    assert caught.value.message_dict["slug"] == [
        f"'{slug}' is reserved: it would shadow the portal's own /{slug}/ route."
    ]


def test_normal_slug_is_accepted(db: None) -> None:
    organization = Organization(slug="personal", title="Personal")
    organization.full_clean()
    organization.save()
    assert Organization.objects.get(slug="personal") == organization


@pytest.mark.parametrize("slug", ["favicon.ico", "robots.txt", ".well-known"])
def test_reserved_file_like_slugs_are_refused(db: None, slug: str) -> None:
    assert slug in RESERVED_ORGANIZATION_SLUGS
    with pytest.raises(ValidationError) as caught:
        Organization(slug=slug, title="Shadow").full_clean()
    assert "slug" in caught.value.message_dict


def test_slug_containing_a_reserved_word_is_accepted(db: None) -> None:
    assert organization_create(slug="admin-team", title="Admins").catalogs.get().is_sandbox


@pytest.mark.parametrize("slug", ["Personal", "-personal", "personal-", "per_sonal", "a" * 51, ""])
def test_malformed_slug_is_refused(db: None, slug: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Organization(slug=slug, title="Bad").full_clean()
    assert "slug" in caught.value.message_dict


@pytest.mark.parametrize("slug", ["p", "personal", "team-42", "a" * 50])
def test_well_formed_slug_is_accepted(db: None, slug: str) -> None:
    assert organization_create(slug=slug, title="Good").slug == slug


def test_organization_comes_with_its_sandbox(organization: Organization) -> None:
    sandbox = Catalog.objects.get(organization=organization)
    assert sandbox.slug == "sandbox"
    assert sandbox.is_sandbox
    assert str(sandbox) == "personal/sandbox"


def test_sandbox_instance_delete_is_refused(sandbox: Catalog) -> None:
    with pytest.raises(ValidationError, match=re.escape("The sandbox catalog cannot be deleted.")):
        sandbox.delete()
    assert Catalog.objects.filter(pk=sandbox.pk).exists()


def test_production_instance_delete_is_allowed(production: Catalog) -> None:
    assert not production.is_sandbox
    production.delete()
    assert not Catalog.objects.filter(pk=production.pk).exists()


def test_queryset_delete_including_the_sandbox_is_refused(sandbox: Catalog, production: Catalog) -> None:
    with pytest.raises(ValidationError, match=re.escape("The sandbox catalog cannot be deleted.")):
        Catalog.objects.filter(organization=sandbox.organization).delete()
    assert set(Catalog.objects.values_list("slug", flat=True)) == {"sandbox", "production"}


def test_queryset_delete_without_the_sandbox_is_allowed(sandbox: Catalog, production: Catalog) -> None:
    deleted, _ = Catalog.objects.filter(organization=sandbox.organization, slug="production").delete()
    assert deleted == 1
    assert list(Catalog.objects.values_list("slug", flat=True)) == ["sandbox"]


def test_catalog_slug_is_unique_within_an_organization(organization: Organization, production: Catalog) -> None:
    with pytest.raises(ValidationError):
        Catalog(organization=organization, slug="production", title="Again").full_clean()


def test_same_catalog_slug_in_another_organization_is_accepted(production: Catalog) -> None:
    other = organization_create(slug="acme", title="Acme")
    catalog_create(organization=other, slug="production", title="Production")
    assert Catalog.objects.filter(slug="production").count() == 2


def test_audit_event_str_names_actor_action_and_object(organization: Organization) -> None:
    event = AuditEvent.objects.get(action="organization.create")
    assert str(event).endswith(" system organization.create personal")
