"""Organizations, catalogs and audit events: the frame every key profile and API lives in."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

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
        "metrics",
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
    r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?\Z",
    "Use 1 to 50 lower-case letters, digits and hyphens, starting and ending with a letter or digit.",
)


# Control characters (C0, DEL, C1), line and paragraph separators, and the bidirectional overrides that make
# "evil\u202egnp.pem" read as "evilmp.png": none belongs in a name, and each has been used to break a header
# or disguise a file name (issue 9: a CR/LF in a keystore name reached Content-Disposition).
_FORBIDDEN_IN_NAMES = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def validate_no_control_characters(value: str) -> None:
    """Refuse a name or title holding a control character, naming the first one found."""
    found = _FORBIDDEN_IN_NAMES.search(value)
    if found is not None:
        raise ValidationError(
            "Control characters are not allowed here (found U+%(code)04X at position %(position)d).",
            code="control_character",
            params={"code": ord(found.group()), "position": found.start() + 1},
        )


class Organization(models.Model):
    slug = models.CharField(max_length=50, unique=True, validators=[slug_validator])
    title = models.CharField(max_length=200, validators=[validate_no_control_characters])
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
            raise ValidationError("The sandbox catalog cannot be deleted.", code="sandbox_undeletable")
        return super().delete()


class Catalog(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="catalogs")
    slug = models.CharField(max_length=50, validators=[slug_validator])
    title = models.CharField(max_length=200, validators=[validate_no_control_characters])
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
            raise ValidationError("The sandbox catalog cannot be deleted.", code="sandbox_undeletable")
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
    """One row per named version counter every process watches (``portal.invalidation``): ``config`` for
    what the gateway serves, ``api-keys`` for the REST API's keys.

    Bumped in the same transaction as the change it announces, so a process that sees the new number also
    sees the change. With a shared cache (Redis) processes read the cached copy instead of this row.
    """

    name = models.CharField(max_length=50, unique=True, default="config")
    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}={self.value}"


class ConfigChange(models.Model):
    """What one bump of the gateway's version changed (``portal.invalidation.GATEWAY``), so that every process
    applies only that: one app's credentials, one catalog's publications, one catalog's keys, or everything.

    Written in the transaction that bumps the counter, with the value the bump gave it; the counter's row lock
    orders the bumps, so a process that reads version N finds every record up to N. Old records are pruned:
    a process that fell further behind than the records kept rebuilds all it holds.
    """

    class Kind(models.TextChoices):
        APP = "app", "One consumer app (credentials, subscriptions)"
        PUBLICATIONS = "publications", "The publications of one catalog"
        KEYS = "keys", "The crypto objects of one catalog"
        ALL = "all", "Everything the gateway serves"

    version = models.BigIntegerField(unique=True)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    catalog_id = models.BigIntegerField(null=True, blank=True, help_text="None: every catalog.")
    target = models.CharField(
        max_length=64, blank=True, help_text="The app's client id, or the publication's id; empty: all of the kind."
    )

    class Meta:
        ordering = ["version"]

    def __str__(self) -> str:
        return f"{self.version} {self.kind} catalog={self.catalog_id} {self.target}".rstrip()


def validate_claim_pattern(value: str) -> None:
    """A claim constraint must be a regular expression Python compiles (it is matched against the whole claim)."""
    try:
        re.compile(value)
    except re.error as e:
        raise ValidationError(f"'{value}' is not a regular expression: {e}.", code="invalid_pattern") from e


class ApiKey(models.Model):
    """A key of the REST API (``portal.apikeys``): stored only as a keyed digest of the key text, shown once.

    ``role`` decides what the key may do in its organization: ``operator`` everything, ``auditor`` read,
    ``signer`` only sign and validate with the key profiles named in ``profiles``, within the claim
    constraints (``allow_*`` patterns match the whole claim; empty means any; ``max_expires_in`` caps a
    token's lifetime). A key is usable while not revoked and not past ``expires_at``.
    """

    class Role(models.TextChoices):
        OPERATOR = "operator", "Operator"
        AUDITOR = "auditor", "Auditor"
        SIGNER = "signer", "Signer"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, validators=[slug_validator])
    role = models.CharField(max_length=10, choices=Role.choices)
    profiles = models.JSONField(
        default=list, blank=True, help_text="Key profile names a signer may use (ignored for other roles)."
    )
    allow_iss = models.CharField(max_length=300, blank=True, validators=[validate_claim_pattern])
    allow_aud = models.CharField(max_length=300, blank=True, validators=[validate_claim_pattern])
    allow_sub = models.CharField(max_length=300, blank=True, validators=[validate_claim_pattern])
    max_expires_in = models.PositiveIntegerField(null=True, blank=True)
    # Keyed digest of the key text (HMAC-SHA256, hex). Never shown, never filterable: see portal.apikeys.
    digest = models.CharField(max_length=64, unique=True, editable=False)
    # The first characters of the key text, enough for a person to tell keys apart; not a secret.
    display_prefix = models.CharField(max_length=16, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["organization__slug", "name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="apikey_unique_name")]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.display_prefix}…)"

    def clean(self) -> None:
        if not isinstance(self.profiles, list) or not all(isinstance(p, str) and p for p in self.profiles):
            raise ValidationError({"profiles": "Give a list of key profile names."})
        if self.role == self.Role.SIGNER and not self.profiles:
            raise ValidationError({"profiles": "A signer key must name the key profiles it may sign with."})
        if self.max_expires_in is not None and self.max_expires_in < 1:
            raise ValidationError({"max_expires_in": "The longest token lifetime must be at least 1 second."})

    def is_usable(self, *, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    @property
    def state(self) -> str:
        """``active``, ``expired`` or ``revoked`` now."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return "expired"
        return "active"
