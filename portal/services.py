"""Services for organizations, catalogs and the audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db import models, transaction

from portal.models import SANDBOX, AuditEvent, Catalog, Organization


@dataclass(frozen=True)
class Actor:
    """Who is acting: a console user, or a management command (``cli:<name>``)."""

    name: str
    user: AbstractBaseUser | None = None

    @classmethod
    def for_user(cls, user: AbstractBaseUser | AnonymousUser) -> Actor:
        if isinstance(user, AnonymousUser) or not user.is_authenticated:
            return cls(name="anonymous")
        return cls(name=user.get_username(), user=user)

    @classmethod
    def for_command(cls, command: str) -> Actor:
        return cls(name=f"cli:{command}")


SYSTEM = Actor(name="system")


def audit_record(
    *,
    actor: Actor,
    action: str,
    target: models.Model | None = None,
    organization: Organization | None = None,
    outcome: str = AuditEvent.Outcome.SUCCESS,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one audit event. ``detail`` must never carry secrets; callers pass names and fingerprints."""
    event = AuditEvent(
        actor=actor.name[:150],
        user_id=actor.user.pk if actor.user is not None else None,
        action=action,
        object_type=target._meta.label_lower if target is not None else "",
        object_id=str(target.pk) if target is not None and target.pk is not None else "",
        object_repr=str(target)[:300] if target is not None else "",
        organization=organization,
        outcome=outcome,
        detail=detail or {},
    )
    event.full_clean()
    event.save()
    return event


@transaction.atomic
def organization_create(*, slug: str, title: str, actor: Actor = SYSTEM) -> Organization:
    """Create an organization with its sandbox catalog. Raises ValidationError for a bad or reserved slug."""
    organization = Organization(slug=slug, title=title)
    organization.full_clean()
    organization.save()
    catalog_create(organization=organization, slug=SANDBOX, title="Sandbox", actor=actor)
    audit_record(actor=actor, action="organization.create", target=organization, organization=organization)
    return organization


@transaction.atomic
def catalog_create(*, organization: Organization, slug: str, title: str, actor: Actor = SYSTEM) -> Catalog:
    """Create a catalog in an organization. Raises ValidationError for a bad or duplicate slug."""
    catalog = Catalog(organization=organization, slug=slug, title=title)
    catalog.full_clean()
    catalog.save()
    audit_record(actor=actor, action="catalog.create", target=catalog, organization=organization)
    return catalog


@transaction.atomic
def catalog_delete(*, catalog: Catalog, actor: Actor) -> None:
    """Delete a catalog. Raises ValidationError for the sandbox, which always exists."""
    organization = catalog.organization
    description = str(catalog)
    catalog.delete()
    audit_record(actor=actor, action="catalog.delete", organization=organization, detail={"catalog": description})


def organization_get_or_create(*, slug: str, title: str, actor: Actor = SYSTEM) -> Organization:
    existing = Organization.objects.filter(slug=slug).first()
    return existing or organization_create(slug=slug, title=title, actor=actor)


def catalog_get_or_create(*, organization: Organization, slug: str, title: str, actor: Actor = SYSTEM) -> Catalog:
    existing = Catalog.objects.filter(organization=organization, slug=slug).first()
    return existing or catalog_create(organization=organization, slug=slug, title=title, actor=actor)
