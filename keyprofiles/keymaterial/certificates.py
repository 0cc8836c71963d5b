"""X.509 certificates: parsing, field checks, validity and chain order."""

from __future__ import annotations

import itertools
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from keyprofiles.keymaterial.errors import KeyMaterialError, capitalized, field_noun, quoted_name, utc_text
from keyprofiles.keymaterial.facts import CertificateInfo
from keyprofiles.keymaterial.keys import is_der_private_key, public_key_facts
from keyprofiles.keymaterial.limits import MAX_NAME_LENGTH, MAX_SERIAL_BITS
from keyprofiles.keymaterial.pem import CERTIFICATE_LABELS, PRIVATE_KEY_LABELS, pem_blocks, unknown_format


def certificate_ders_of(data: bytes, field: str) -> tuple[list[bytes], bool]:
    """The DER of each certificate in a PEM file, or the data itself as a DER candidate (not yet parsed),
    and whether the data was PEM."""
    blocks = pem_blocks(data, field)
    if blocks is None:
        return [data], False
    if not blocks:
        raise KeyMaterialError(f"The {field_noun(field)} holds no PEM block.", code="unknown_format", field=field)
    for block in blocks:
        if block.label not in CERTIFICATE_LABELS:
            if block.label in PRIVATE_KEY_LABELS:
                what = "a private key"
                advice = " Upload it in the private key field." if field == "certificate" else ""
            else:
                what, advice = f"a {block.label!r} block", ""
            raise KeyMaterialError(
                f"The {field_noun(field)} holds {what}, not a certificate.{advice}",
                code="not_a_certificate",
                field=field,
            )
    return [block.der for block in blocks], True


def parse_certificate(der: bytes, field: str, *, from_pem: bool) -> x509.Certificate:
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as e:
        if from_pem:
            raise KeyMaterialError(
                f"A certificate block of the {field_noun(field)} is damaged: it holds no valid X.509 certificate.",
                code="unknown_format",
                field=field,
            ) from e
        if is_der_private_key(der):
            advice = " Upload it in the private key field." if field == "certificate" else ""
            raise KeyMaterialError(
                f"The {field_noun(field)} holds a private key, not a certificate.{advice}",
                code="not_a_certificate",
                field=field,
            ) from e
        raise unknown_format(der, field, "certificate") from e
    check_certificate_fields(cert, field)
    return cert


def check_certificate_fields(cert: x509.Certificate, field: str) -> None:
    """Read now every field the portal keeps or compares, since ``cryptography`` decodes them lazily and a
    bad one would raise later, far from here: names (invalid UTF-8 in a UTF8String, odd BMPString or
    attribute types), the serial number and the validity dates.

    Such a certificate is refused rather than kept with a cleaned-up name: RFC 5280 forbids it, other
    verifiers refuse it too, and a repaired name would no longer be the one the chain links compare.
    Raises KeyMaterialError ``invalid_certificate``.
    """
    part = "subject name"
    try:
        for part, name in (("subject name", cert.subject), ("issuer name", cert.issuer)):
            if len(name.rfc4514_string()) > MAX_NAME_LENGTH:
                raise KeyMaterialError(
                    f"The {field_noun(field)} holds a certificate whose {part} is longer than {MAX_NAME_LENGTH} "
                    "characters.",
                    code="invalid_certificate",
                    field=field,
                )
        part = "serial number"
        serial = cert.serial_number  # cryptography warns when it is not positive; refused below
        part = "validity dates"
        _ = cert.not_valid_before_utc, cert.not_valid_after_utc
    except (ValueError, TypeError, OverflowError, UnicodeError) as e:
        raise KeyMaterialError(
            f"The {field_noun(field)} holds a certificate whose {part} cannot be read: it is damaged or badly encoded.",
            code="invalid_certificate",
            field=field,
        ) from e
    # RFC 5280 section 4.1.2.2: a positive integer of at most 20 octets.
    if serial < 1 or serial.bit_length() > MAX_SERIAL_BITS:
        problem = "is not positive" if serial < 1 else "is longer than 20 octets"
        raise KeyMaterialError(
            f"The {field_noun(field)} holds a certificate whose serial number {problem}, which RFC 5280 forbids.",
            code="invalid_certificate",
            field=field,
        )


def certificate_from_pem_text(pem: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as e:
        raise KeyMaterialError(
            "The stored certificate is not a PEM certificate.", code="unknown_format", field="certificate"
        ) from e


def certificate_der(pem: str) -> bytes:
    return certificate_from_pem_text(pem).public_bytes(serialization.Encoding.DER)


def certificate_info(cert: x509.Certificate) -> CertificateInfo:
    public_key = cert.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)  # checked before
    key_type, key_size, curve = public_key_facts(public_key)
    return CertificateInfo(
        pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        fingerprint_sha256=cert.fingerprint(hashes.SHA256()).hex(":").upper(),
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial_number=format(cert.serial_number, "X"),
        key_type=key_type,
        key_size=key_size,
        curve=curve,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
    )


def check_validity(cert: x509.Certificate, now: datetime, *, field: str, what: str) -> None:
    # RFC 5280 section 4.1.2.5: the validity period includes both notBefore and notAfter.
    if now > cert.not_valid_after_utc:
        raise KeyMaterialError(
            f"{capitalized(what)} expired on {utc_text(cert.not_valid_after_utc)}.",
            code="certificate_expired",
            field=field,
        )
    if now < cert.not_valid_before_utc:
        raise KeyMaterialError(
            f"{capitalized(what)} is not valid until {utc_text(cert.not_valid_before_utc)}.",
            code="certificate_not_yet_valid",
            field=field,
        )


def order_chain(leaf: x509.Certificate, certificates: list[x509.Certificate]) -> list[x509.Certificate]:
    """PKCS#12 bags have no order, so follow issuer names from the leaf; leftovers go last (and then fail)."""
    remaining = list(certificates)
    ordered: list[x509.Certificate] = []
    current = leaf
    while remaining and current.issuer != current.subject:
        issuer = next((cert for cert in remaining if cert.subject == current.issuer), None)
        if issuer is None:
            break
        ordered.append(issuer)
        remaining.remove(issuer)
        current = issuer
    return ordered + remaining


def check_chain_links(leaf: x509.Certificate, chain: list[x509.Certificate], *, field: str) -> None:
    """Each certificate must be issued by the next one: names equal and the signature verifies."""
    links = [leaf, *chain]
    for position, (child, issuer) in enumerate(itertools.pairwise(links), start=1):
        child_what = "the certificate" if position == 1 else f"chain certificate {position - 1}"
        if child.issuer != issuer.subject:
            raise KeyMaterialError(
                f"The chain is broken at chain certificate {position}: {child_what} was issued by "
                f"{quoted_name(child.issuer)}, but chain certificate {position} is {quoted_name(issuer.subject)}. "
                "List the certificate's issuer first, then that issuer's issuer, and so on.",
                code="chain_broken",
                field=field,
            )
        try:
            child.verify_directly_issued_by(issuer)
        except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm) as e:
            raise KeyMaterialError(
                f"The chain is broken at chain certificate {position}: it is named {quoted_name(issuer.subject)} "
                f"like the issuer of {child_what}, but its key did not sign {child_what}.",
                code="chain_broken",
                field=field,
            ) from e
