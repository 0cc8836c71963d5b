"""Read-side queries of portal: catalogs, API keys and audit events, for the REST API and the console."""

from __future__ import annotations

from django.db.models import QuerySet

from portal.models import ApiKey, AuditEvent, Catalog, Organization


def api_key_list(*, organization: Organization) -> QuerySet[ApiKey]:
    """The organization's API keys, by name (revoked and expired ones included: they are history)."""
    return ApiKey.objects.filter(organization=organization).select_related("organization").order_by("name")


def api_key_get(*, organization: Organization, name: str) -> ApiKey | None:
    return api_key_list(organization=organization).filter(name=name).first()


def catalog_list(*, organization: Organization) -> QuerySet[Catalog]:
    return Catalog.objects.filter(organization=organization).select_related("organization").order_by("slug")


def catalog_get(*, organization: Organization, slug: str) -> Catalog | None:
    return catalog_list(organization=organization).filter(slug=slug).first()


def audit_event_list(*, organization: Organization) -> QuerySet[AuditEvent]:
    """The organization's audit events, newest first."""
    return AuditEvent.objects.filter(organization=organization).order_by("-created_at", "-id")
