"""Key pairs generated in the portal: an RSA or EC key and a self-signed certificate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from keyprofiles.keymaterial.certificates import certificate_info
from keyprofiles.keymaterial.errors import KeyMaterialError, or_list
from keyprofiles.keymaterial.facts import KeystoreMaterial, PrivateKey
from keyprofiles.keymaterial.keys import pkcs8_der
from keyprofiles.keymaterial.limits import (
    CURVE_BY_NAME,
    CURVES,
    GENERATE_RSA_BITS,
    MAX_COMMON_NAME_LENGTH,
    MAX_DAYS,
    RSA_PUBLIC_EXPONENT,
    require_aware,
)


def keystore_material_generate(
    *,
    common_name: str,
    key_type: str = "RSA",
    bits: int = 2048,
    curve: str = "P-256",
    days: int = 365,
    now: datetime,
) -> KeystoreMaterial:
    """Generate a key and a self-signed certificate, as DataPower's crypto tool does from a Common Name.

    The certificate has only the CN in its subject, a random serial, validity from ``now`` (to the second)
    for ``days`` days, SHA-256, basicConstraints CA=false and keyUsage digitalSignature (both critical) and
    a subjectKeyIdentifier. Raises KeyMaterialError for a bad parameter (before any key is generated).
    """
    require_aware(now)
    _check_common_name(common_name)
    if key_type not in ("RSA", "EC"):
        raise KeyMaterialError(
            f"The key type must be RSA or EC, not {key_type[:20]!r}.",
            code="unsupported_key_type",
            field="key_type",
        )
    if key_type == "RSA" and bits not in GENERATE_RSA_BITS:
        raise KeyMaterialError(
            f"RSA keys can be generated with {or_list(GENERATE_RSA_BITS)} bits, not {bits}.",
            code="unsupported_bits",
            field="bits",
        )
    if key_type == "EC" and curve not in CURVE_BY_NAME:
        raise KeyMaterialError(
            f"EC keys can be generated on {or_list(CURVES)}, not {curve[:20]!r}.",
            code="unsupported_curve",
            field="curve",
        )
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise KeyMaterialError(f"The validity must be 1 to {MAX_DAYS} days.", code="invalid_days", field="days")
    key: PrivateKey = (
        rsa.generate_private_key(public_exponent=RSA_PUBLIC_EXPONENT, key_size=bits)
        if key_type == "RSA"
        else ec.generate_private_key(CURVE_BY_NAME[curve])
    )
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    not_before = now.astimezone(UTC).replace(microsecond=0)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    info = certificate_info(certificate)
    return KeystoreMaterial(
        private_key_der=pkcs8_der(key),
        certificate=info,
        chain=(),
        key_type=info.key_type,
        key_size=info.key_size,
        curve=info.curve,
    )


def _check_common_name(common_name: str) -> None:
    if (
        not isinstance(common_name, str)
        or not 1 <= len(common_name) <= MAX_COMMON_NAME_LENGTH
        or common_name.strip() != common_name
        or not common_name.isprintable()
    ):
        raise KeyMaterialError(
            f"The Common Name must be 1 to {MAX_COMMON_NAME_LENGTH} printable characters, without leading or "
            "trailing spaces.",
            code="invalid_common_name",
            field="common_name",
        )
