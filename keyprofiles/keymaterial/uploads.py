"""Uploaded keystores and truststores: PEM, DER or PKCS#12, every check of DESIGN.md section 6, cheap ones first.

Cheap checks run before expensive ones: sizes, then format, then decryption, then key size and exponent
(read without the RSA consistency check), and only then the RSA consistency check, whose primality tests
would let a huge crafted key pin a CPU for minutes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from keyprofiles.keymaterial.ber import pkcs12_outline, refuse_costly
from keyprofiles.keymaterial.certificates import (
    certificate_ders_of,
    certificate_info,
    check_certificate_fields,
    check_chain_links,
    check_validity,
    order_chain,
    parse_certificate,
)
from keyprofiles.keymaterial.errors import KeyMaterialError, field_noun, quoted_name
from keyprofiles.keymaterial.facts import CertificateInfo, KeystoreMaterial
from keyprofiles.keymaterial.keys import (
    check_certificate_key,
    check_public_key,
    fully_checked_private_key,
    load_private_key,
    public_key_or_none,
    same_public_key,
)
from keyprofiles.keymaterial.limits import check_chain_length, check_size, check_upload_size, require_aware
from keyprofiles.keymaterial.pem import is_pem_text, looks_like_pfx
from keyprofiles.keymaterial.pkcs12_child import open_pkcs12_in_child


def keystore_material_from_upload(
    *,
    certificate: bytes | None = None,
    private_key: bytes | None = None,
    chain: bytes | None = None,
    pkcs12: bytes | None = None,
    password: bytes | None = None,
    now: datetime,
) -> KeystoreMaterial:
    """Check an uploaded key pair and return it as PKCS#8 DER plus certificate facts.

    Either ``pkcs12`` (with ``password``; its certificate, key and extra certificates are used, the extra
    ones ordered into a chain) or ``certificate`` and ``private_key`` (each PEM or DER; the key may be
    PKCS#8, traditional or encrypted, the latter needing ``password``) plus an optional ``chain`` file of
    up to 10 certificates, the leaf's issuer first. Further certificates after the first in the certificate
    file also count as the start of the chain. An empty ``password`` counts as none.

    Raises KeyMaterialError for every problem of DESIGN.md section 6, cheap checks first.
    """
    require_aware(now)
    password = password or None
    if pkcs12 is not None:
        for name, value in (("certificate", certificate), ("private_key", private_key), ("chain", chain)):
            if value is not None:
                raise KeyMaterialError(
                    f"Upload either a PKCS#12 file or a certificate and private key, not both: leave the "
                    f"{field_noun(name)} empty when uploading a PKCS#12 file.",
                    code="conflicting_input",
                    field=name,
                )
        return _material_from_pkcs12(pkcs12, password, now)
    if certificate is None:
        raise KeyMaterialError(
            "Upload a certificate and its private key, or a PKCS#12 file.",
            code="missing_input",
            field="certificate",
        )
    if private_key is None:
        raise KeyMaterialError(
            "Upload the private key that belongs to the certificate, or a PKCS#12 file instead.",
            code="missing_input",
            field="private_key",
        )
    return _material_from_parts(certificate, private_key, chain, password, now)


def keystore_upload_format(*, certificate: bytes | None = None, pkcs12: bytes | None = None) -> str:
    """How an accepted keystore upload is encoded: 'pkcs12', 'pem' or 'der' (``Keystore.Source`` values).

    It answers for arguments ``keystore_material_from_upload`` accepted, and checks nothing itself.
    """
    if pkcs12 is not None:
        return "pkcs12"
    if certificate is not None and is_pem_text(certificate):
        return "pem"
    return "der"


def certificates_from_upload(data: bytes, *, field: str = "certificate", now: datetime) -> tuple[CertificateInfo, ...]:
    """Check a truststore upload: one or more PEM certificates, or one DER certificate.

    Each certificate must have an accepted public key (RSA 2048-8192 bits with e = 65537, or EC P-256,
    P-384 or P-521) and be valid at ``now``. Raises KeyMaterialError naming the problem and ``field``.
    """
    require_aware(now)
    check_upload_size(data, field)
    ders, from_pem = certificate_ders_of(data, field)
    certificates = [parse_certificate(der, field, from_pem=from_pem) for der in ders]
    described = [
        (cert, "the certificate" if len(certificates) == 1 else f"certificate {n} ({quoted_name(cert.subject)})")
        for n, cert in enumerate(certificates, start=1)
    ]
    for cert, what in described:
        check_certificate_key(cert, field=field, what=what)
    for cert, what in described:
        check_validity(cert, now, field=field, what=what)
    return tuple(certificate_info(cert) for cert in certificates)


def keystore_upload_problems(
    *,
    certificate: bytes | None = None,
    private_key: bytes | None = None,
    chain: bytes | None = None,
    pkcs12: bytes | None = None,
    password: bytes | None = None,
    now: datetime,
) -> list[KeyMaterialError]:
    """Every problem of a keystore upload at once, at most one per field, for a form that reports them all.

    ``keystore_material_from_upload`` stops at the first problem; this checks each file on its own (missing,
    size, format, the key's type and size, validity), and the checks across files (the key matches the
    certificate, the chain links up) only when every file passed its own. Returns [] when the upload would
    import. Runs only after an upload was refused, so the happy path parses nothing twice.
    """
    require_aware(now)
    password = password or None
    if pkcs12 is not None:
        try:
            keystore_material_from_upload(
                certificate=certificate, private_key=private_key, chain=chain, pkcs12=pkcs12, password=password, now=now
            )
        except KeyMaterialError as e:
            return [e]
        return []
    problems: dict[str | None, KeyMaterialError] = {}

    def check(work: Callable[[], object]) -> None:
        try:
            work()
        except KeyMaterialError as e:
            problems.setdefault(e.field, e)

    if certificate is None:
        problems["certificate"] = KeyMaterialError(
            "Upload a certificate, or a PKCS#12 file instead.", code="missing_input", field="certificate"
        )
    else:
        check(lambda: certificates_from_upload(certificate, field="certificate", now=now))
    if private_key is None:
        problems["private_key"] = KeyMaterialError(
            "Upload the private key that belongs to the certificate, or a PKCS#12 file instead.",
            code="missing_input",
            field="private_key",
        )
    else:
        check(lambda: _checked_private_key_alone(private_key, password))
    if chain is not None:
        check(lambda: certificates_from_upload(chain, field="chain", now=now))
    if not problems:
        check(
            lambda: keystore_material_from_upload(
                certificate=certificate, private_key=private_key, chain=chain, password=password, now=now
            ),
        )
    return list(problems.values())


def _checked_private_key_alone(data: bytes, password: bytes | None) -> None:
    """The private key file's own checks (size, format, decryption, type and size), no certificate needed."""
    check_upload_size(data, "private_key")
    if password is not None:
        check_size(password, "password")
    key = load_private_key(data, password)
    check_public_key(key.public_key(), field="private_key", what="The private key")


def _material_from_parts(
    certificate: bytes, private_key: bytes, chain: bytes | None, password: bytes | None, now: datetime
) -> KeystoreMaterial:
    # (1) sizes, before anything else
    check_upload_size(certificate, "certificate")
    check_upload_size(private_key, "private_key")
    if chain is not None:
        check_upload_size(chain, "chain")
    if password is not None:
        check_size(password, "password")
    # (2) formats; the chain length is counted before any certificate is parsed
    certificate_ders, certificate_pem = certificate_ders_of(certificate, "certificate")
    chain_ders, chain_pem = certificate_ders_of(chain, "chain") if chain is not None else ([], True)
    chain_field = "chain" if chain_ders else "certificate"
    check_chain_length(len(certificate_ders) - 1 + len(chain_ders), chain_field)
    leaf, *extra = [parse_certificate(der, "certificate", from_pem=certificate_pem) for der in certificate_ders]
    chain_certificates = extra + [parse_certificate(der, "chain", from_pem=chain_pem) for der in chain_ders]
    # (2, 3) the key's format, then its decryption
    key = load_private_key(private_key, password)
    return _checked_material(
        key,
        leaf,
        chain_certificates,
        key_field="private_key",
        key_what="The private key",
        certificate_field="certificate",
        certificate_what="the certificate",
        chain_field=chain_field,
        now=now,
    )


def _material_from_pkcs12(data: bytes, password: bytes | None, now: datetime) -> KeystoreMaterial:
    check_upload_size(data, "pkcs12")
    if password is not None:
        check_size(password, "password")
    if not looks_like_pfx(data):
        hint = " It is PEM text: upload the certificate and key in their own fields." if b"-----BEGIN" in data else ""
        raise KeyMaterialError(
            f"The PKCS#12 file is not a PKCS#12 (.p12 or .pfx) file.{hint}",
            code="unknown_format",
            field="pkcs12",
        )
    outline = pkcs12_outline(data)
    refuse_costly(outline.costs, "pkcs12")
    if not outline.key_bags:
        # A key inside an encrypted container would reach the loader's consistency check with a size nothing
        # has checked (only the child's CPU limit would stop a huge one); the tools that write PKCS#12 files
        # keep the key in a bag of its own.
        raise KeyMaterialError(
            "The PKCS#12 file holds no private key outside its encrypted certificate containers: export it "
            "again with the key, or upload the certificates as a truststore.",
            code="pkcs12_without_key",
            field="pkcs12",
        )
    key, leaf, extra = open_pkcs12_in_child(data, password)
    if key is None:
        raise KeyMaterialError(
            "The PKCS#12 file holds no private key, only certificates: export it again with the key, or "
            "upload the certificates as a truststore.",
            code="pkcs12_without_key",
            field="pkcs12",
        )
    for cert in [leaf, *extra] if leaf is not None else extra:
        check_certificate_fields(cert, "pkcs12")
    extra = [cert for cert in extra if cert != leaf]
    if leaf is None:
        leaf = next((cert for cert in extra if same_public_key(public_key_or_none(cert), key.public_key())), None)
        if leaf is None:
            raise KeyMaterialError(
                "The PKCS#12 file holds no certificate for its private key.",
                code="pkcs12_without_certificate",
                field="pkcs12",
            )
        extra.remove(leaf)
    check_chain_length(len(extra), "pkcs12")
    return _checked_material(
        key,
        leaf,
        order_chain(leaf, extra),
        key_field="pkcs12",
        key_what="The PKCS#12 file's private key",
        certificate_field="pkcs12",
        certificate_what="the PKCS#12 file's certificate",
        chain_field="pkcs12",
        now=now,
    )


def _checked_material(
    key: PrivateKeyTypes,
    leaf: x509.Certificate,
    chain: list[x509.Certificate],
    *,
    key_field: str,
    key_what: str,
    certificate_field: str,
    certificate_what: str,
    chain_field: str,
    now: datetime,
) -> KeystoreMaterial:
    """Steps (4) to (7) of DESIGN.md section 6 for a loaded key, its certificate and chain."""
    chain_what = [f"chain certificate {n} ({quoted_name(cert.subject)})" for n, cert in enumerate(chain, start=1)]
    # (4) key types, sizes and exponents, all cheap; then the expensive RSA consistency check
    check_public_key(key.public_key(), field=key_field, what=key_what)
    leaf_public_key = check_certificate_key(leaf, field=certificate_field, what=certificate_what)
    for cert, what in zip(chain, chain_what, strict=True):
        check_certificate_key(cert, field=chain_field, what=what)
    checked_key, private_key_der = fully_checked_private_key(key, field=key_field, what=key_what)
    # (5)
    if not same_public_key(checked_key.public_key(), leaf_public_key):
        raise KeyMaterialError(
            f"{key_what} does not match the certificate (their public keys differ).",
            code="key_certificate_mismatch",
            field=key_field,
        )
    # (6)
    check_validity(leaf, now, field=certificate_field, what=certificate_what)
    for cert, what in zip(chain, chain_what, strict=True):
        check_validity(cert, now, field=chain_field, what=what)
    # (7)
    check_chain_links(leaf, chain, field=chain_field)
    info = certificate_info(leaf)
    return KeystoreMaterial(
        private_key_der=private_key_der,
        certificate=info,
        chain=tuple(certificate_info(cert) for cert in chain),
        key_type=info.key_type,
        key_size=info.key_size,
        curve=info.curve,
    )
