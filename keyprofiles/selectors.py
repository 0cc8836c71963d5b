"""Read-side queries over key material: keystores, truststores, key profiles, crypto objects, certificates and
their expiry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from keyprofiles import keycache, keymaterial
from keyprofiles.keymaterial import PrivateKey, PublicKey
from keyprofiles.models import (
    CertificateFacts,
    CryptoObject,
    KeyProfile,
    KeyProfileBinding,
    Keystore,
    TrustedCertificate,
    Truststore,
)
from portal.models import Organization


def crypto_object_list(*, organization: str | None = None, catalog: str | None = None) -> QuerySet[CryptoObject]:
    """Crypto objects, optionally of one organization and catalog slug, with what they refer to."""
    queryset = CryptoObject.objects.select_related(
        "binding__catalog__organization", "binding__profile", "keystore", "trusted_certificate"
    )
    if organization:
        queryset = queryset.filter(binding__catalog__organization__slug=organization)
    if catalog:
        queryset = queryset.filter(binding__catalog__slug=catalog)
    return queryset.order_by("name")


def crypto_object_as_dict(crypto_object: CryptoObject, *, now: datetime | None = None) -> dict[str, Any]:
    """The public facts of a crypto object, for ``--json`` output and the console (never key material)."""
    binding = crypto_object.binding
    facts: dict[str, Any] = {
        "name": crypto_object.name,
        "role": crypto_object.role,
        "organization": binding.catalog.organization.slug,
        "catalog": binding.catalog.slug,
        "profile": binding.profile.name,
        "profile_version": binding.profile.version,
    }
    certificate = crypto_object.certificate
    if certificate is not None:
        facts.update(certificate_as_dict(certificate, now=now))
    elif crypto_object.keystore is not None:
        facts.update({"key_type": crypto_object.keystore.key_type, "key_size": crypto_object.keystore.key_size})
    return facts


def certificate_as_dict(certificate: CertificateFacts, *, now: datetime | None = None) -> dict[str, Any]:
    return {
        "fingerprint_sha256": certificate.fingerprint_sha256,
        "subject": certificate.subject,
        "issuer": certificate.issuer,
        "key_type": certificate.key_type,
        "key_size": certificate.key_size,
        "not_before": certificate.not_before.isoformat() if certificate.not_before else None,
        "not_after": certificate.not_after.isoformat() if certificate.not_after else None,
        "days_to_expiry": certificate.days_to_expiry(now),
    }


def certificate_catalogs(certificate: CertificateFacts) -> list[str]:
    """``org/catalog`` of every catalog in which a crypto object exposes this certificate."""
    if isinstance(certificate, Keystore):
        objects = CryptoObject.objects.filter(keystore=certificate)
    elif isinstance(certificate, TrustedCertificate):
        objects = CryptoObject.objects.filter(trusted_certificate=certificate)
    else:
        return []
    # order_by() drops the model's default ordering, which would otherwise make DISTINCT see one row per object.
    pairs = objects.order_by().values_list("binding__catalog__organization__slug", "binding__catalog__slug").distinct()
    return sorted(f"{org}/{catalog}" for org, catalog in pairs)


@dataclass(frozen=True)
class ExpiringCertificate:
    kind: str  # "keystore" or "truststore"
    store: str
    organization: str
    certificate: CertificateFacts
    catalogs: list[str]


def _retired_only(field: str) -> QuerySet[CryptoObject]:
    """Ids (of ``field``: keystore or trusted_certificate) whose crypto objects all belong to retired key
    versions: such a certificate signs and verifies nothing any more, so its expiry no longer matters."""
    in_use = CryptoObject.objects.filter(**{f"{field}__isnull": False}).exclude(
        binding__state=KeyProfileBinding.State.RETIRED
    )
    return (
        CryptoObject.objects.filter(**{f"{field}__isnull": False}, binding__state=KeyProfileBinding.State.RETIRED)
        .exclude(**{f"{field}__in": in_use.values(field)})
        .values(field)
    )


def certificates_expiring(*, within_days: int, now: datetime | None = None) -> list[ExpiringCertificate]:
    """Keystore and truststore certificates whose ``not_after`` falls within ``within_days`` (or has passed)."""
    moment = now or timezone.now()
    horizon = moment + timedelta(days=within_days)
    found: list[ExpiringCertificate] = []
    keystores = Keystore.objects.filter(not_after__lte=horizon).exclude(pk__in=_retired_only("keystore"))
    for keystore in keystores.select_related("organization"):
        found.append(
            ExpiringCertificate(
                "keystore",
                keystore.name,
                keystore.organization.slug,
                keystore,
                certificate_catalogs(keystore),
            )
        )
    trusted_certificates = TrustedCertificate.objects.filter(not_after__lte=horizon).exclude(
        pk__in=_retired_only("trusted_certificate")
    )
    for trusted in trusted_certificates.select_related("truststore__organization"):
        found.append(
            ExpiringCertificate(
                "truststore",
                trusted.truststore.name,
                trusted.truststore.organization.slug,
                trusted,
                certificate_catalogs(trusted),
            )
        )
    found.sort(key=lambda item: item.certificate.not_after or moment)
    return found


@dataclass(frozen=True)
class CryptoMaterial:
    """What a policy signs or verifies with, resolved from a crypto object name once per process."""

    name: str
    role: str
    kid: str
    private_key: PrivateKey | None = None
    public_key: PublicKey | None = None
    secret: bytes | None = None
    certificate_pem: str = ""
    not_after: datetime | None = None


def crypto_material(crypto_object: CryptoObject) -> CryptoMaterial:
    """Resolve a crypto object to usable key material (unsealing and parsing through the per-process cache).

    Raises SealingError when a sealed key does not open.
    """
    role = crypto_object.role
    if role == CryptoObject.Role.SECRET:
        assert crypto_object.keystore is not None
        secret = keycache.keystore_secret(crypto_object.keystore)
        return CryptoMaterial(
            name=crypto_object.name, role=role, kid=keymaterial.secret_thumbprint(secret), secret=secret
        )
    certificate = crypto_object.certificate
    assert certificate is not None
    public_key = keymaterial.public_key_from_certificate_pem(certificate.certificate_pem)
    kid = keymaterial.key_id(public_key)
    private_key = None
    if role == CryptoObject.Role.PRIVATE_KEY:
        assert crypto_object.keystore is not None
        private_key = keycache.keystore_private_key(crypto_object.keystore)
    return CryptoMaterial(
        name=crypto_object.name,
        role=role,
        kid=kid,
        private_key=private_key,
        public_key=public_key,
        certificate_pem=certificate.certificate_pem,
        not_after=certificate.not_after,
    )


def keystore_list(*, organization: Organization) -> QuerySet[Keystore]:
    return Keystore.objects.filter(organization=organization).select_related("organization").order_by("name")


def keystore_get(*, organization: Organization, name: str) -> Keystore | None:
    return keystore_list(organization=organization).filter(name=name).first()


def keystore_public_jwk(keystore: Keystore) -> dict[str, str] | None:
    """The public JWK of a key-pair keystore's certificate, with its RFC 7638 thumbprint as ``kid``; None for a
    shared secret (which has nothing public)."""
    if keystore.kind != Keystore.Kind.KEY_PAIR or not keystore.certificate_pem:
        return None
    return keymaterial.certificate_jwk(keystore.certificate_pem)


def truststore_list(*, organization: Organization) -> QuerySet[Truststore]:
    return Truststore.objects.filter(organization=organization).prefetch_related("certificates").order_by("name")


def truststore_get(*, organization: Organization, name: str) -> Truststore | None:
    return truststore_list(organization=organization).filter(name=name).first()


def keyprofile_list(*, organization: Organization) -> QuerySet[KeyProfile]:
    """Every version of every key profile of the organization, by name and version."""
    return (
        KeyProfile.objects.filter(organization=organization)
        .select_related("keystore", "truststore")
        .order_by("name", "created_at")
    )


def keyprofile_names(organization: Organization) -> set[str]:
    """The distinct names of ``organization``'s key profiles (any version); ``portal`` asks for them to check
    the profiles an API key names (registered in ``KeyprofilesConfig.ready``)."""
    return set(KeyProfile.objects.filter(organization=organization).values_list("name", flat=True))


def keyprofile_versions(*, organization: Organization, name: str) -> list[KeyProfile]:
    """The versions of profile ``name``, with their bindings (state per catalog) and crypto objects."""
    return list(
        keyprofile_list(organization=organization)
        .filter(name=name)
        .prefetch_related("bindings__catalog", "bindings__crypto_objects")
    )


def certificates_expiring_in(
    *, organization: Organization, within_days: int, now: datetime | None = None
) -> list[ExpiringCertificate]:
    """``certificates_expiring`` restricted to one organization."""
    return [
        item
        for item in certificates_expiring(within_days=within_days, now=now)
        if item.organization == organization.slug
    ]
