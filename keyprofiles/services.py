"""Services for key material: keystores, truststores, key profiles and enabling them in catalogs.

Every service validates fully before it writes, writes inside one transaction, and records an audit event.
Key material checks raise ``KeyMaterialError`` (nothing is stored); model rules raise ``ValidationError``.
A refused upload or generation is audited as a failure, outside the rolled-back transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TypeVar

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from keyprofiles import keycache, keymaterial
from keyprofiles.keymaterial import CertificateInfo, KeystoreMaterial
from keyprofiles.models import (
    CertificateFacts,
    CryptoObject,
    KeyProfile,
    KeyProfileBinding,
    Keystore,
    TrustedCertificate,
    Truststore,
    crypto_object_name,
)
from keyprofiles.sealing import master_key_ring
from portal.errors import REFUSALS, PortalError, refusal_text
from portal.invalidation import bump_version
from portal.models import AuditEvent, Catalog, Organization
from portal.services import Actor, audit_record

T = TypeVar("T")


def _audited(*, actor: Actor, action: str, organization: Organization, name: str, work: Callable[[], T]) -> T:
    """Run ``work`` in a transaction; on a refusal, record a failure event after the rollback and re-raise."""
    try:
        with transaction.atomic():
            return work()
    except REFUSALS as e:
        detail: dict[str, str] = {"name": name, "error": refusal_text(e)}
        if isinstance(e, PortalError):
            detail["code"] = e.code
        audit_record(
            actor=actor,
            action=action,
            organization=organization,
            outcome=AuditEvent.Outcome.FAILURE,
            detail=detail,
        )
        raise


def _apply_certificate_facts(row: CertificateFacts, info: CertificateInfo) -> None:
    row.certificate_pem = info.pem
    row.fingerprint_sha256 = info.fingerprint_sha256
    row.subject = info.subject
    row.issuer = info.issuer
    row.serial_number = info.serial_number
    row.key_type = info.key_type
    row.key_size = info.key_size
    row.not_before = info.not_before
    row.not_after = info.not_after


def _keystore_store(
    *,
    organization: Organization,
    name: str,
    material: KeystoreMaterial,
    source: str,
    actor: Actor,
    action: str,
) -> Keystore:
    keystore = Keystore(organization=organization, name=name, kind=Keystore.Kind.KEY_PAIR, source=source)
    _apply_certificate_facts(keystore, material.certificate)
    keystore.curve = material.curve or ""
    keystore.chain_pem = "".join(link.pem for link in material.chain)
    _seal_into(keystore, material.private_key_der)
    keystore.full_clean()
    keystore.save()
    audit_record(
        actor=actor,
        action=action,
        target=keystore,
        organization=organization,
        detail={
            "fingerprint_sha256": keystore.fingerprint_sha256,
            "subject": keystore.subject,
            "key": f"{keystore.key_type} {keystore.key_size}",
            "not_after": keystore.not_after.isoformat() if keystore.not_after else None,
        },
    )
    return keystore


def _seal_into(keystore: Keystore, plaintext: bytes) -> None:
    box = master_key_ring().seal(plaintext, identity=keystore.seal_identity)
    keystore.sealed_key_id = box.key_id
    keystore.sealed_nonce = box.nonce
    keystore.sealed_ciphertext = box.ciphertext


def _check_keystore_name(organization: Organization, name: str) -> None:
    if not name.strip():
        raise ValidationError({"name": "A keystore needs a name."})
    if Keystore.objects.filter(organization=organization, name=name).exists():
        message = f"A keystore named '{name}' already exists in {organization.slug}."
        raise ValidationError({"name": ValidationError(message, code="name_taken")})


def keystore_generate(
    *,
    organization: Organization,
    name: str,
    common_name: str,
    key_type: str = "RSA",
    bits: int = 2048,
    curve: str = "P-256",
    days: int = 365,
    actor: Actor,
    now: datetime | None = None,
) -> Keystore:
    """Generate a key and self-signed certificate, as DataPower's crypto tool does from a Common Name.

    Raises KeyMaterialError for a bad parameter and ValidationError for a taken name; nothing is stored then.
    """

    def work() -> Keystore:
        _check_keystore_name(organization, name)
        material = keymaterial.keystore_material_generate(
            common_name=common_name,
            key_type=key_type,
            bits=bits,
            curve=curve,
            days=days,
            now=now or timezone.now(),
        )
        return _keystore_store(
            organization=organization,
            name=name,
            material=material,
            source=Keystore.Source.GENERATED,
            actor=actor,
            action="keystore.generate",
        )

    return _audited(actor=actor, action="keystore.generate", organization=organization, name=name, work=work)


def keystore_import(
    *,
    organization: Organization,
    name: str,
    certificate: bytes | None = None,
    private_key: bytes | None = None,
    chain: bytes | None = None,
    pkcs12: bytes | None = None,
    password: bytes | None = None,
    actor: Actor,
    now: datetime | None = None,
) -> Keystore:
    """Import a key pair from PEM, DER or PKCS#12 uploads, after every check of DESIGN.md section 6.

    Raises KeyMaterialError naming the problem and the field at fault, or ValidationError for a taken name;
    nothing is stored then.
    """

    def work() -> Keystore:
        _check_keystore_name(organization, name)
        material = keymaterial.keystore_material_from_upload(
            certificate=certificate,
            private_key=private_key,
            chain=chain,
            pkcs12=pkcs12,
            password=password,
            now=now or timezone.now(),
        )
        source = Keystore.Source(keymaterial.keystore_upload_format(certificate=certificate, pkcs12=pkcs12))
        return _keystore_store(
            organization=organization,
            name=name,
            material=material,
            source=source,
            actor=actor,
            action="keystore.import",
        )

    return _audited(actor=actor, action="keystore.import", organization=organization, name=name, work=work)


def keystore_import_problems(
    *,
    organization: Organization,
    name: str,
    certificate: bytes | None = None,
    private_key: bytes | None = None,
    chain: bytes | None = None,
    pkcs12: bytes | None = None,
    password: bytes | None = None,
    now: datetime | None = None,
) -> ValidationError | None:
    """Every reason ``keystore_import`` refuses these arguments, by field, or None when it would accept them.

    ``keystore_import`` stops at the first problem; a form calls this after a refusal so that the person
    sees all of them at once (the name, and each file's own problem) instead of fixing them one by one.
    """
    errors: dict[str, list[str]] = {}
    try:
        _check_keystore_name(organization, name)
    except ValidationError as e:
        errors.update(e.message_dict)
    for problem in keymaterial.keystore_upload_problems(
        certificate=certificate,
        private_key=private_key,
        chain=chain,
        pkcs12=pkcs12,
        password=password,
        now=now or timezone.now(),
    ):
        errors.setdefault(problem.field or NON_FIELD_ERRORS, []).append(str(problem))
    return ValidationError(errors) if errors else None


def keystore_secret_create(
    *, organization: Organization, name: str, secret: bytes | None = None, actor: Actor
) -> Keystore:
    """Store a shared secret for HS* algorithms: the given one (at least 32 bytes) or a generated one."""

    def work() -> Keystore:
        _check_keystore_name(organization, name)
        raw = keymaterial.secret_generate() if secret is None else keymaterial.secret_from_upload(secret)
        source = Keystore.Source.GENERATED if secret is None else Keystore.Source.SECRET
        keystore = Keystore(
            organization=organization,
            name=name,
            kind=Keystore.Kind.SECRET,
            source=source,
            key_type="oct",
            key_size=len(raw) * 8,
        )
        _seal_into(keystore, raw)
        keystore.full_clean()
        keystore.save()
        audit_record(
            actor=actor,
            action="keystore.secret",
            target=keystore,
            organization=organization,
            detail={"bits": keystore.key_size},
        )
        return keystore

    return _audited(actor=actor, action="keystore.secret", organization=organization, name=name, work=work)


@transaction.atomic
def keystore_algorithm_fix(*, keystore: Keystore, algorithm: str, actor: Actor, reason: str) -> Keystore:
    """Fix the one JWS algorithm ``keystore``'s key signs with (RFC 8725 section 3.1). Idempotent.

    ``reason`` says why, for the audit event (a profile chose it, a publication first used it). Raises
    ValidationError naming both algorithms when another one is already fixed, or naming the key type when
    ``algorithm`` does not fit the key. Bumps the shared version, since the JWKS states the algorithm.
    """
    locked = Keystore.objects.select_for_update().get(pk=keystore.pk)
    if locked.algorithm == algorithm:
        keystore.algorithm = algorithm
        return locked
    if locked.algorithm:
        raise ValidationError(
            {
                "algorithm": f"Keystore '{locked.name}' signs with {locked.algorithm} only (one key, one "
                f"algorithm), not {algorithm}; use another keystore for {algorithm}."
            }
        )
    locked.algorithm = algorithm
    locked.full_clean()
    locked.save(update_fields=["algorithm"])
    keystore.algorithm = algorithm
    audit_record(
        actor=actor,
        action="keystore.algorithm",
        target=locked,
        organization=locked.organization,
        detail={"algorithm": algorithm, "reason": reason},
    )
    bump_version()
    return locked


@transaction.atomic
def keystore_delete(*, keystore: Keystore, actor: Actor) -> None:
    """Delete a keystore no key profile uses. Raises ValidationError naming the profiles that use it."""
    users = list(keystore.keyprofiles.all())
    if users:
        raise ValidationError(
            f"Keystore '{keystore.name}' is used by key profile(s) {', '.join(str(p) for p in users)}.", code="in_use"
        )
    organization = keystore.organization
    keycache.forget(keystore.uid)
    audit_record(
        actor=actor,
        action="keystore.delete",
        target=keystore,
        organization=organization,
        detail={"fingerprint_sha256": keystore.fingerprint_sha256},
    )
    keystore.delete()


@transaction.atomic
def truststore_delete(*, truststore: Truststore, actor: Actor) -> None:
    """Delete a truststore no key profile uses. Raises ValidationError (code ``in_use``) naming the profiles."""
    users = list(truststore.keyprofiles.all())
    if users:
        raise ValidationError(
            f"Truststore '{truststore.name}' is used by key profile(s) {', '.join(str(p) for p in users)}.",
            code="in_use",
        )
    audit_record(
        actor=actor,
        action="truststore.delete",
        target=truststore,
        organization=truststore.organization,
        detail={"certificates": [c.fingerprint_sha256 for c in truststore.certificates.all()]},
    )
    truststore.delete()


def truststore_import(
    *, organization: Organization, name: str, data: bytes, actor: Actor, now: datetime | None = None
) -> Truststore:
    """Create a truststore from one or more certificates. Raises KeyMaterialError or ValidationError."""

    def work() -> Truststore:
        if Truststore.objects.filter(organization=organization, name=name).exists():
            message = f"A truststore named '{name}' already exists in {organization.slug}."
            raise ValidationError({"name": ValidationError(message, code="name_taken")})
        infos = keymaterial.certificates_from_upload(data, field="certificate", now=now or timezone.now())
        truststore = Truststore(organization=organization, name=name)
        truststore.full_clean()
        truststore.save()
        for position, info in enumerate(infos):
            row = TrustedCertificate(truststore=truststore, position=position)
            _apply_certificate_facts(row, info)
            row.full_clean()
            row.save()
        audit_record(
            actor=actor,
            action="truststore.import",
            target=truststore,
            organization=organization,
            detail={"fingerprints_sha256": [info.fingerprint_sha256 for info in infos]},
        )
        return truststore

    return _audited(actor=actor, action="truststore.import", organization=organization, name=name, work=work)


def keyprofile_name_for(title: str) -> str:
    """The profile name APIC derives from a title: its slug ("JWT Keyprofile" becomes "jwt-keyprofile")."""
    return slugify(title)


@transaction.atomic
def keyprofile_create(
    *,
    organization: Organization,
    title: str,
    version: str = "1.0.0",
    keystore: Keystore | None = None,
    truststore: Truststore | None = None,
    catalogs: Iterable[Catalog] = (),
    algorithm: str = "",
    actor: Actor,
) -> KeyProfile:
    """Create a key profile and enable it in ``catalogs``. Raises ValidationError (duplicate, bad version...).

    ``algorithm``, when given, fixes the JWS algorithm of the keystore's key (``keystore_algorithm_fix``);
    left empty, the first publication that signs with the key fixes it.
    """
    name = keyprofile_name_for(title)
    if not name:
        raise ValidationError({"title": "The title must contain letters or digits to derive the profile name."})
    profile = KeyProfile(
        organization=organization,
        title=title,
        name=name,
        version=version,
        keystore=keystore,
        truststore=truststore,
    )
    profile.full_clean()
    if algorithm:
        if keystore is None:
            raise ValidationError({"algorithm": "Only a profile with a keystore signs, so only it has an algorithm."})
        keystore_algorithm_fix(keystore=keystore, algorithm=algorithm, actor=actor, reason=f"key profile {profile}")
    profile.save()
    audit_record(
        actor=actor,
        action="keyprofile.create",
        target=profile,
        organization=organization,
        detail={
            "keystore": keystore.name if keystore else None,
            "truststore": truststore.name if truststore else None,
        },
    )
    for catalog in catalogs:
        keyprofile_enable(profile=profile, catalog=catalog, actor=actor)
    return profile


@transaction.atomic
def keyprofile_enable(*, profile: KeyProfile, catalog: Catalog, actor: Actor) -> KeyProfileBinding:
    """Enable a profile in a catalog, creating its crypto objects under APIC's derived names. Idempotent.

    ``...-key`` is the private key (or shared secret), ``...-ca-0`` the keystore certificate, and
    ``...-ca-1`` onward the truststore certificates. Raises ValidationError for another organization's
    catalog or a name already taken.
    """
    existing = KeyProfileBinding.objects.filter(profile=profile, catalog=catalog).first()
    if existing is not None:
        return existing
    binding = KeyProfileBinding(profile=profile, catalog=catalog)
    binding.full_clean()
    binding.save()

    def name(suffix: str) -> str:
        return crypto_object_name(
            organization=catalog.organization.slug,
            catalog=catalog.slug,
            profile_prefix=profile.crypto_object_prefix,
            suffix=suffix,
        )

    objects: list[CryptoObject] = []
    certificate_index = 0
    if profile.keystore is not None:
        keystore = profile.keystore
        is_secret = keystore.kind == Keystore.Kind.SECRET
        role = CryptoObject.Role.SECRET if is_secret else CryptoObject.Role.PRIVATE_KEY
        objects.append(CryptoObject(binding=binding, name=name("key"), role=role, keystore=keystore))
        if not is_secret:
            objects.append(
                CryptoObject(binding=binding, name=name("ca-0"), role=CryptoObject.Role.CERTIFICATE, keystore=keystore)
            )
            certificate_index = 1
    if profile.truststore is not None:
        for trusted in profile.truststore.certificates.all():
            objects.append(
                CryptoObject(
                    binding=binding,
                    name=name(f"ca-{certificate_index}"),
                    role=CryptoObject.Role.CERTIFICATE,
                    trusted_certificate=trusted,
                )
            )
            certificate_index += 1
    for crypto_object in objects:
        crypto_object.full_clean()
        crypto_object.save()
    audit_record(
        actor=actor,
        action="keyprofile.enable",
        target=profile,
        organization=profile.organization,
        detail={"catalog": catalog.slug, "crypto_objects": [o.name for o in objects]},
    )
    bump_version()
    return binding
