"""Read-side queries of portal: API keys, for the REST API and the console."""

from __future__ import annotations

from django.db.models import QuerySet

from portal.models import ApiKey, Organization


def api_key_list(*, organization: Organization) -> QuerySet[ApiKey]:
    """The organization's API keys, by name (revoked and expired ones included: they are history)."""
    return ApiKey.objects.filter(organization=organization).select_related("organization").order_by("name")


def api_key_get(*, organization: Organization, name: str) -> ApiKey | None:
    return api_key_list(organization=organization).filter(name=name).first()
