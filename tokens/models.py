"""APIs (their OpenAPI documents), publications in catalogs, and consumer apps with their credentials."""

from __future__ import annotations

import json
import secrets
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

from keyprofiles.models import validate_semver
from portal.models import Catalog, Organization, slug_validator, validate_no_control_characters

base_path_validator = RegexValidator(
    r"^/(?:[A-Za-z0-9._~-]+(?:/[A-Za-z0-9._~-]+)*)?\Z",
    "A base path is '/' or starts with '/' and holds path segments of letters, digits and . _ ~ - (e.g. /securetoken).",
)


class Api(models.Model):
    """One version of an API. ``document_text`` (OpenAPI 2.0 or 3.0 with ``x-ibm-configuration``, as JSON
    text so key order survives every database) is the source of truth; the other fields mirror it."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="apis")
    title = models.CharField(max_length=200, validators=[validate_no_control_characters])
    name = models.CharField(max_length=50, validators=[slug_validator])
    version = models.CharField(max_length=32, validators=[validate_semver])
    base_path = models.CharField(max_length=200, validators=[base_path_validator])
    openapi_version = models.CharField(max_length=10)
    document_text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organization__slug", "name", "version"]
        constraints = [models.UniqueConstraint(fields=["organization", "name", "version"], name="api_unique_version")]
        verbose_name = "API"
        verbose_name_plural = "APIs"

    def __str__(self) -> str:
        return f"{self.name} {self.version}"

    @property
    def document(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.document_text)
        return value


class Publication(models.Model):
    """An API version published in a catalog: a snapshot of its document, replaced whole on republish."""

    class State(models.TextChoices):
        PUBLISHED = "published", "Published"
        DEPRECATED = "deprecated", "Deprecated"
        RETIRED = "retired", "Retired"

    api = models.ForeignKey(Api, on_delete=models.PROTECT, related_name="publications")
    catalog = models.ForeignKey(Catalog, on_delete=models.PROTECT, related_name="publications")
    state = models.CharField(max_length=12, choices=State.choices, default=State.PUBLISHED)
    base_path = models.CharField(max_length=200)
    document_text = models.TextField(help_text="The snapshot served by the gateway.")
    revision = models.PositiveIntegerField(default=1)
    published_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["catalog", "base_path"]
        constraints = [models.UniqueConstraint(fields=["api", "catalog"], name="publication_unique_catalog")]

    def __str__(self) -> str:
        return f"{self.api} in {self.catalog} ({self.state})"

    @property
    def document(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.document_text)
        return value

    @property
    def is_served(self) -> bool:
        """Published and deprecated APIs answer calls; retired ones do not."""
        return self.state != self.State.RETIRED


def new_client_id() -> str:
    return secrets.token_hex(16)


class ConsumerApp(models.Model):
    """An application that calls published APIs with a client id (and, optionally, a secret)."""

    catalog = models.ForeignKey(Catalog, on_delete=models.PROTECT, related_name="apps")
    name = models.CharField(max_length=100, validators=[validate_no_control_characters])
    description = models.CharField(max_length=300, blank=True, validators=[validate_no_control_characters])
    client_id = models.CharField(
        max_length=32,
        unique=True,
        default=new_client_id,
        validators=[RegexValidator(r"^[0-9a-f]{32}\Z", "A client id is 32 lower-case hex characters.")],
    )
    # "hmac-sha256$<salt hex>$<digest hex>"; empty when the app has no secret. The secret itself is shown once.
    client_secret_hash = models.CharField(max_length=200, blank=True, editable=False)
    subscriptions = models.ManyToManyField(Publication, blank=True, related_name="subscribers")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["catalog", "name"]
        constraints = [models.UniqueConstraint(fields=["catalog", "name"], name="app_unique_name")]

    def __str__(self) -> str:
        return self.name

    @property
    def has_secret(self) -> bool:
        return bool(self.client_secret_hash)

    def clean(self) -> None:
        if self.name and not self.name.strip():
            raise ValidationError({"name": "An app needs a name."})


class ApiPropertyValue(models.Model):
    """An API property's value in one catalog, over the document's default (``x-ibm-configuration.properties``)
    and its ``x-ibm-configuration.catalogs.<catalog>.properties`` value: what an operator sets per catalog
    without editing the document (a production backend URL, say). Read by ``tokens.properties``."""

    api = models.ForeignKey(Api, on_delete=models.CASCADE, related_name="property_values")
    catalog = models.ForeignKey(Catalog, on_delete=models.CASCADE, related_name="api_property_values")
    name = models.CharField(
        max_length=100,
        validators=[
            RegexValidator(
                r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*\Z",
                "A property name holds letters, digits and . _ - (e.g. target-url).",
            )
        ],
    )
    value = models.TextField(blank=True, validators=[validate_no_control_characters])
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["api", "catalog", "name"]
        constraints = [
            models.UniqueConstraint(fields=["api", "catalog", "name"], name="api_property_value_unique_name")
        ]
        verbose_name = "API property value"

    def __str__(self) -> str:
        return f"{self.api} {self.name} in {self.catalog}"

    def clean(self) -> None:
        if self.api_id is None or self.catalog_id is None:
            return
        if self.catalog.organization_id != self.api.organization_id:
            raise ValidationError({"catalog": "The catalog belongs to another organization than the API."})
