"""Organizations, catalogs and audit events: the frame every key profile and API lives in."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

SANDBOX = "sandbox"
# The organization of the demo, and the one commands work in unless given --org (APIC names it so too).
DEFAULT_ORGANIZATION = "personal"

# First path segments the portal serves itself; an organization with such a slug would shadow them on the
# gateway route /{org}/{catalog}/... (DESIGN.md section 4).
RESERVED_ORGANIZATION_SLUGS = frozenset(
    {
        "admin",
        "static",
        "media",
        "healthz",
        "readyz",
        "api",
        "accounts",
        "console",
        "docs",
        "favicon.ico",
        "robots.txt",
        ".well-known",
    }
)

slug_validator = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$",
    "Use 1 to 50 lower-case letters, digits and hyphens, starting and ending with a letter or digit.",
)


class Organization(models.Model):
    slug = models.CharField(max_length=50, unique=True, validators=[slug_validator])
    title = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    def clean(self) -> None:
        if self.slug in RESERVED_ORGANIZATION_SLUGS:
            raise ValidationError(
                {"slug": f"'{self.slug}' is reserved: it would shadow the portal's own /{self.slug}/ route."}
            )


class CatalogQuerySet(models.QuerySet["Catalog"]):
    def delete(self) -> tuple[int, dict[str, int]]:
        if self.filter(slug=SANDBOX).exists():
            raise ValidationError("The sandbox catalog cannot be deleted.")
        return super().delete()


class Catalog(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="catalogs")
    slug = models.CharField(max_length=50, validators=[slug_validator])
    title = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CatalogQuerySet.as_manager()

    class Meta:
        ordering = ["organization__slug", "slug"]
        constraints = [models.UniqueConstraint(fields=["organization", "slug"], name="catalog_unique_slug")]

    def __str__(self) -> str:
        return f"{self.organization.slug}/{self.slug}"

    @property
    def is_sandbox(self) -> bool:
        return self.slug == SANDBOX

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        if self.is_sandbox:
            raise ValidationError("The sandbox catalog cannot be deleted.")
        return super().delete(*args, **kwargs)


class AuditEvent(models.Model):
    """Who did what to which object, when, and how it ended. Written by services only; never edited."""

    class Outcome(models.TextChoices):
        SUCCESS = "success", "Success"
        FAILURE = "failure", "Failure"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.CharField(max_length=150, help_text="User name, or 'cli:<command>' for management commands.")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=300, blank=True)
    organization = models.ForeignKey(Organization, null=True, blank=True, on_delete=models.SET_NULL)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.SUCCESS)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.object_repr}"


class ConfigVersion(models.Model):
    """One row: the configuration version every gateway process watches (``portal.invalidation``).

    Bumped in the same transaction as the change it announces, so a process that sees the new number also
    sees the change. With a shared cache (Redis) processes read the cached copy instead of this row.
    """

    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return str(self.value)
