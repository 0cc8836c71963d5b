"""Key material and what exposes it: keystores, truststores, key profiles, catalog bindings, crypto objects.

A keystore's private key (or shared secret) is stored only sealed (``keyprofiles.sealing``): the row holds
the master key id, the nonce and the ciphertext, with the row's ``uid`` as associated data.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from portal.models import Catalog, Organization, slug_validator, validate_no_control_characters

SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)\Z")

# The JWS algorithms (RFC 7518 section 3.1) a key of each type may sign with; tokens.jose enforces the same
# families when it builds keys. RFC 7518 section 3.4 binds each ES* algorithm to one curve, and section 3.2
# requires an HMAC key at least as long as the hash output.
RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
EC_ALGORITHM_BY_CURVE = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
HMAC_ALGORITHM_MIN_BITS = {"HS256": 256, "HS384": 384, "HS512": 512}
SIGNING_ALGORITHMS = (*HMAC_ALGORITHM_MIN_BITS, *RSA_ALGORITHMS, *EC_ALGORITHM_BY_CURVE.values())


def validate_semver(value: str) -> None:
    if not SEMVER.match(value):
        raise ValidationError(f"'{value}' is not a version of the form MAJOR.MINOR.PATCH, e.g. 1.0.0.")


class CertificateFacts(models.Model):
    """The public facts of one X.509 certificate, kept next to its PEM for lists and expiry checks."""

    # Blank only for a shared-secret keystore, which has no certificate.
    certificate_pem = models.TextField(blank=True)
    fingerprint_sha256 = models.CharField(max_length=95, blank=True, db_index=True)
    subject = models.CharField(max_length=500, blank=True)
    issuer = models.CharField(max_length=500, blank=True)
    serial_number = models.CharField(max_length=80, blank=True)
    key_type = models.CharField(max_length=8, help_text="RSA, EC, or oct for a shared secret.")
    key_size = models.PositiveIntegerField()
    not_before = models.DateTimeField(null=True, blank=True)
    not_after = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        abstract = True

    def days_to_expiry(self, now: datetime | None = None) -> int | None:
        """Whole days until the certificate expires (negative once expired); None without a certificate."""
        if self.not_after is None:
            return None
        return (self.not_after - (now or timezone.now())).days


class Keystore(CertificateFacts):
    """One private key with its certificate and intermediates, or one shared secret (for HS* algorithms)."""

    class Kind(models.TextChoices):
        KEY_PAIR = "key-pair", "Private key and certificate"
        SECRET = "secret", "Shared secret"

    class Source(models.TextChoices):
        GENERATED = "generated", "Generated in the portal"
        PEM = "pem", "PEM upload"
        DER = "der", "DER upload"
        PKCS12 = "pkcs12", "PKCS#12 upload"
        SECRET = "secret", "Secret upload"

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="keystores")
    name = models.CharField(max_length=100, validators=[validate_no_control_characters])
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.KEY_PAIR)
    source = models.CharField(max_length=10, choices=Source.choices)
    curve = models.CharField(max_length=8, blank=True)
    chain_pem = models.TextField(blank=True, help_text="Intermediate certificates, the leaf's issuer first.")
    # RFC 8725 section 3.1: one key, one algorithm. Empty until it is chosen (with a key profile) or until the
    # first published policy signs with the key; from then on publishing another algorithm with it is refused.
    algorithm = models.CharField(
        max_length=5,
        blank=True,
        choices=[(name, name) for name in SIGNING_ALGORITHMS],
        help_text="The one JWS algorithm this key signs with (and the JWKS states); empty until first use.",
    )
    # The sealed box (keyprofiles.sealing): never shown, logged or returned.
    sealed_key_id = models.CharField(max_length=64, editable=False)
    sealed_nonce = models.BinaryField(max_length=12, editable=False)
    sealed_ciphertext = models.BinaryField(editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization__slug", "name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="keystore_unique_name")]

    def __str__(self) -> str:
        return self.name

    @property
    def seal_identity(self) -> bytes:
        """The associated data binding the sealed box to this row."""
        return f"keyprofiles.keystore:{self.uid}".encode()

    @property
    def chain_length(self) -> int:
        return self.chain_pem.count("-----BEGIN CERTIFICATE-----")

    def signing_algorithms(self) -> tuple[str, ...]:
        """The JWS algorithms this key could sign with: RS*/PS* for RSA, the ES* of its curve for EC, the HS*
        its length permits for a shared secret."""
        if self.key_type == "RSA":
            return RSA_ALGORITHMS
        if self.key_type == "EC":
            algorithm = EC_ALGORITHM_BY_CURVE.get(self.curve)
            return (algorithm,) if algorithm else ()
        return tuple(name for name, bits in HMAC_ALGORITHM_MIN_BITS.items() if self.key_size >= bits)

    @property
    def natural_algorithm(self) -> str:
        """The algorithm a key of this type signs with when nobody chose: RS256, the ES* of the curve, HS256."""
        choices = self.signing_algorithms()
        return choices[0] if choices else ""

    @property
    def effective_algorithm(self) -> str:
        """The fixed algorithm, or the natural one while none is fixed (what the JWKS states)."""
        return self.algorithm or self.natural_algorithm

    def clean(self) -> None:
        if self.algorithm and self.algorithm not in self.signing_algorithms():
            raise ValidationError(
                {
                    "algorithm": f"{self.algorithm} cannot be used with this {self.key_type} key; "
                    f"choose one of {', '.join(self.signing_algorithms())}."
                }
            )


class Truststore(models.Model):
    """Certificates only, for verifying tokens signed elsewhere."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="truststores")
    name = models.CharField(max_length=100, validators=[validate_no_control_characters])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization__slug", "name"]
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="truststore_unique_name")]

    def __str__(self) -> str:
        return self.name


class TrustedCertificate(CertificateFacts):
    truststore = models.ForeignKey(Truststore, on_delete=models.CASCADE, related_name="certificates")
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["truststore", "position"]
        constraints = [
            models.UniqueConstraint(fields=["truststore", "position"], name="trusted_certificate_unique_position")
        ]

    def __str__(self) -> str:
        return f"{self.truststore.name}#{self.position}: {self.subject}"


class KeyProfile(models.Model):
    """A versioned TLS client profile in APIC's terms: a keystore and/or a truststore under a name."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="keyprofiles")
    title = models.CharField(max_length=200, validators=[validate_no_control_characters])
    name = models.CharField(max_length=50, validators=[slug_validator], help_text="The slug of the title.")
    version = models.CharField(max_length=32, default="1.0.0", validators=[validate_semver])
    keystore = models.ForeignKey(Keystore, null=True, blank=True, on_delete=models.PROTECT, related_name="keyprofiles")
    truststore = models.ForeignKey(
        Truststore, null=True, blank=True, on_delete=models.PROTECT, related_name="keyprofiles"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization__slug", "name", "version"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name", "version"], name="keyprofile_unique_version")
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.version}"

    def clean(self) -> None:
        if self.keystore_id is None and self.truststore_id is None:
            raise ValidationError("A key profile needs a keystore, a truststore, or both.")
        errors: dict[str, str] = {}
        if self.keystore is not None and self.keystore.organization_id != self.organization_id:
            errors["keystore"] = "The keystore belongs to another organization."
        if self.truststore is not None and self.truststore.organization_id != self.organization_id:
            errors["truststore"] = "The truststore belongs to another organization."
        if errors:
            raise ValidationError(errors)

    @property
    def crypto_object_prefix(self) -> str:
        """``tlsp-<name>V<version>``: the part of every crypto object name that names this profile."""
        return f"tlsp-{self.name}V{self.version}"


class KeyProfileBinding(models.Model):
    """A key profile version enabled in a catalog; it exposes the profile's crypto objects there.

    Its state follows the rotation life cycle of Keycloak's active/passive keys: ``next`` (in the JWKS, not
    yet signing), ``active`` (signs), ``passive`` (verifies only, until ``grace_ends_at``), ``retired`` (out of
    the JWKS, verifies nothing).
    """

    class State(models.TextChoices):
        NEXT = "next", "Next (in the JWKS, not yet signing)"
        ACTIVE = "active", "Active (signs)"
        PASSIVE = "passive", "Passive (verifies only)"
        RETIRED = "retired", "Retired"

    profile = models.ForeignKey(KeyProfile, on_delete=models.CASCADE, related_name="bindings")
    catalog = models.ForeignKey(Catalog, on_delete=models.CASCADE, related_name="keyprofile_bindings")
    enabled_at = models.DateTimeField(auto_now_add=True)
    state = models.CharField(max_length=8, choices=State.choices, default=State.ACTIVE, db_index=True)
    state_changed_at = models.DateTimeField(default=timezone.now)
    activates_at = models.DateTimeField(null=True, blank=True, help_text="When a next version starts signing.")
    grace_ends_at = models.DateTimeField(null=True, blank=True, help_text="When a passive version is retired.")
    # For a next version: the grace the version it replaces gets when this one starts signing.
    pending_grace = models.DurationField(null=True, blank=True)
    # The rotation this version replaces, if any: the version it took over from.
    replaces = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["catalog", "profile"]
        constraints = [models.UniqueConstraint(fields=["profile", "catalog"], name="binding_unique_catalog")]

    def __str__(self) -> str:
        return f"{self.profile} in {self.catalog}"

    @property
    def in_jwks(self) -> bool:
        return self.state != self.State.RETIRED

    def clean(self) -> None:
        if self.catalog.organization_id != self.profile.organization_id:
            raise ValidationError({"catalog": "The catalog belongs to another organization than the profile."})
        if self.state == self.State.NEXT and self.activates_at is None:
            raise ValidationError({"activates_at": "A next version needs the time it starts signing."})
        if self.state == self.State.PASSIVE and self.grace_ends_at is None:
            raise ValidationError({"grace_ends_at": "A passive version needs the end of its grace period."})


def crypto_object_name(*, organization: str, catalog: str, profile_prefix: str, suffix: str) -> str:
    """``<org>_<catalog>_tlsp-<name>V<version>-<suffix>``, exactly as APIC derives it."""
    return f"{organization}_{catalog}_{profile_prefix}-{suffix}"


class CryptoObject(models.Model):
    """A named key or certificate a binding exposes; the only way policies name keys."""

    class Role(models.TextChoices):
        PRIVATE_KEY = "key", "Private key"
        SECRET = "secret", "Shared secret"
        CERTIFICATE = "certificate", "Certificate"

    binding = models.ForeignKey(KeyProfileBinding, on_delete=models.CASCADE, related_name="crypto_objects")
    name = models.CharField(max_length=255, unique=True)
    role = models.CharField(max_length=12, choices=Role.choices)
    keystore = models.ForeignKey(Keystore, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    trusted_certificate = models.ForeignKey(
        TrustedCertificate, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if (self.keystore_id is None) == (self.trusted_certificate_id is None):
            raise ValidationError("A crypto object refers to exactly one keystore or one trusted certificate.")

    @property
    def certificate(self) -> CertificateFacts | None:
        """The certificate behind this object (for a key: its keystore's certificate); None for a secret."""
        if self.trusted_certificate is not None:
            return self.trusted_certificate
        if self.keystore is not None and self.keystore.kind == Keystore.Kind.KEY_PAIR:
            return self.keystore
        return None
