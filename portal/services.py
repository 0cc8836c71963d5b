"""Services for organizations, catalogs, API keys and the audit trail."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from portal import apikeys
from portal.invalidation import API_KEYS
from portal.models import SANDBOX, ApiKey, AuditEvent, Catalog, Organization
from portal.profile_names import organization_profile_names


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


@transaction.atomic
def api_key_create(
    *,
    organization: Organization,
    name: str,
    role: str,
    actor: Actor,
    profiles: Sequence[str] = (),
    allow_iss: str = "",
    allow_aud: str = "",
    allow_sub: str = "",
    max_expires_in: int | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Create an API key; return the row and the key text, which exists nowhere else: show it once.

    Raises ValidationError for a bad name, role, profile list or pattern, for a profile the organization does
    not have, for signer-only options (``profiles``, ``allow_*``, ``max_expires_in``) on another role, and for
    a name the organization already uses (code ``unique``, which the REST API answers 409).
    """
    _api_key_options_check(
        organization=organization,
        role=role,
        profiles=profiles,
        signer_options={
            "allow_iss": allow_iss,
            "allow_aud": allow_aud,
            "allow_sub": allow_sub,
            "max_expires_in": max_expires_in,
        },
    )
    text = apikeys.key_generate()
    key = ApiKey(
        organization=organization,
        name=name,
        role=role,
        profiles=list(profiles),
        allow_iss=allow_iss,
        allow_aud=allow_aud,
        allow_sub=allow_sub,
        max_expires_in=max_expires_in,
        expires_at=expires_at,
        digest=apikeys.key_digest(text),
        display_prefix=apikeys.display_prefix(text),
        created_by=actor.name[:150],
    )
    key.full_clean()
    # No bump of API_KEYS: no process can have cached an answer for 256 fresh random bits.
    key.save()
    audit_record(
        actor=actor,
        action="api_key.create",
        target=key,
        organization=organization,
        detail={"role": role, "profiles": list(profiles), "display_prefix": key.display_prefix},
    )
    return key, text


def _api_key_options_check(
    *, organization: Organization, role: str, profiles: Sequence[str], signer_options: dict[str, object]
) -> None:
    """Refuse options that would give a key a meaning it cannot have.

    Only a signer uses profiles and claim constraints; on an operator or auditor key they would read as a
    restriction that is never applied. A profile name the organization does not have is a typo that gives a
    key that can never sign, and would silently gain a profile created later under that name. The check
    lives here, not in ``ApiKey.clean``, so revoking or expiring an old key never fails on a deleted profile.
    """
    if role in (ApiKey.Role.OPERATOR, ApiKey.Role.AUDITOR):
        given = {"profiles": bool(profiles)} | {
            field: value not in ("", None) for field, value in signer_options.items()
        }
        errors = {
            field: f"Only a signer key takes {field}; an {role} key would ignore it."
            for field, is_set in given.items()
            if is_set
        }
        if errors:
            raise ValidationError(errors)
        return
    if role != ApiKey.Role.SIGNER or not isinstance(profiles, list | tuple):
        return  # full_clean names a bad role or profile list
    known = organization_profile_names(organization)
    unknown = sorted({name for name in profiles if isinstance(name, str)} - known) if known is not None else []
    if unknown:
        message = (
            f"Unknown key profile(s) {', '.join(unknown)} in {organization.slug}; "
            f"known: {', '.join(sorted(known or ())) or 'none'}."
        )
        raise ValidationError(
            {"profiles": ValidationError(message, code="unknown_profile")},
        )


@transaction.atomic
def api_key_revoke(*, key: ApiKey, actor: Actor) -> ApiKey:
    """Revoke a key for good; every process refuses it within seconds. Idempotent (a second call is a no-op)."""
    key = ApiKey.objects.select_for_update().get(pk=key.pk)
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.full_clean()
        key.save(update_fields=["revoked_at"])
        API_KEYS.bump()
        audit_record(actor=actor, action="api_key.revoke", target=key, organization=key.organization)
    return key


@transaction.atomic
def api_key_expire(*, key: ApiKey, actor: Actor, at: datetime | None = None) -> ApiKey:
    """Make a key expire at ``at`` (default now); never extends a key's life. Idempotent."""
    when = at or timezone.now()
    key = ApiKey.objects.select_for_update().get(pk=key.pk)
    if key.expires_at is None or key.expires_at > when:
        key.expires_at = when
        key.full_clean()
        key.save(update_fields=["expires_at"])
        API_KEYS.bump()
        audit_record(
            actor=actor,
            action="api_key.expire",
            target=key,
            organization=key.organization,
            detail={"expires_at": when.isoformat()},
        )
    return key
