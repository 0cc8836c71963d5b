"""Tests of keyprofiles.keymaterial: every accepted format, every refusal code (each with a positive twin
that differs in one thing), generation, JWKs and thumbprints, certificate facts and secrets."""

from __future__ import annotations

import base64
import hashlib
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from keyprofiles import keymaterial
from keyprofiles.keymaterial import (
    MAX_CHAIN_LENGTH,
    MAX_UPLOAD_BYTES,
    KeyMaterialError,
    KeystoreMaterial,
    certificate_der_b64,
    certificate_jwk,
    certificate_sha256_thumbprint,
    certificates_from_upload,
    jwk_thumbprint,
    key_id,
    keystore_material_from_upload,
    keystore_material_generate,
    keystore_upload_format,
    private_key_from_sealed_der,
    public_jwk,
    public_key_from_certificate_pem,
    secret_from_upload,
    secret_generate,
    secret_thumbprint,
)
from tests import keyfixtures as fx
from tests.keyfixtures import der_of, pkcs12_of
from tests.keyprofiles.ber import tlv, tlvs

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def pem(text: str) -> bytes:
    return text.encode("ascii")


def upload(**inputs: bytes | None) -> KeystoreMaterial:
    return keystore_material_from_upload(now=NOW, **inputs)


def refusal(**inputs: bytes | None) -> KeyMaterialError:
    with pytest.raises(KeyMaterialError) as caught:
        upload(**inputs)
    return caught.value


def refusal_at(now: datetime, **inputs: bytes | None) -> KeyMaterialError:
    with pytest.raises(KeyMaterialError) as caught:
        keystore_material_from_upload(now=now, **inputs)
    return caught.value


KEY1 = {"certificate": pem(fx.CERT1_PEM), "private_key": pem(fx.KEY1_PEM)}


# Byte-built keys and certificates


def _der(tag: int, body: bytes) -> bytes:
    length = len(body)
    if length < 0x80:
        return bytes([tag, length]) + body
    octets = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(octets)]) + octets + body


def _der_integer(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def rsa_private_key_der(n: int, e: int, d: int, p: int, q: int, dp: int, dq: int, qi: int) -> bytes:
    """A PKCS#1 RSAPrivateKey (RFC 8017 appendix A.1.2), DER, from its numbers."""
    return _der(0x30, b"".join(_der_integer(v) for v in (0, n, e, d, p, q, dp, dq, qi)))


def crafted_rsa_private_key_der(bits: int) -> bytes:
    """A structurally valid RSAPrivateKey of exactly ``bits`` bits whose p and q are random odd numbers, not
    primes: built in microseconds, where generating a real key of 20000 bits would take hours."""
    rng = random.Random(bits)
    half = bits // 2
    p, q = ((rng.getrandbits(half) | (3 << (half - 2)) | 1) for _ in range(2))
    others = [rng.getrandbits(half) | 1 for _ in range(4)]
    return rsa_private_key_der(p * q, 65537, others[0], p, q, others[1], others[2], others[3])


def key1() -> rsa.RSAPrivateKey:
    key = private_key_from_sealed_der(der_of(fx.KEY1_PEM))
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def build_certificate(
    subject_key_public: object,
    subject: str,
    signer: CertificateIssuerPrivateKeyTypes,
    issuer: str,
    *,
    ca: bool = False,
    not_before: datetime = NOW - timedelta(days=1),
    not_after: datetime = NOW + timedelta(days=365),
) -> x509.Certificate:
    algorithm = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(subject_key_public)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(signer, algorithm)
    )


def certificate_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def self_signed(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> dict[str, bytes]:
    cert = build_certificate(key.public_key(), "generated.example", key, "generated.example")
    return {"certificate": certificate_pem(cert), "private_key": key_pem(key)}


def ec_chain(intermediates: int, *, ca_not_after: datetime = NOW + timedelta(days=365)) -> dict[str, bytes]:
    """A fresh EC P-256 leaf with ``intermediates`` CA certificates above it, the leaf's issuer first."""
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(intermediates + 1)]
    names = ["leaf.example"] + [f"CA {n}" for n in range(1, intermediates + 1)]
    certificates = []
    for level, key in enumerate(keys):
        is_top = level == intermediates
        signer, issuer = (key, names[level]) if is_top else (keys[level + 1], names[level + 1])
        certificates.append(
            build_certificate(
                key.public_key(),
                names[level],
                signer,
                issuer,
                ca=level > 0,
                not_after=ca_not_after if level > 0 else NOW + timedelta(days=365),
            )
        )
    return {
        "certificate": certificate_pem(certificates[0]),
        "private_key": key_pem(keys[0]),
        "chain": b"".join(certificate_pem(cert) for cert in certificates[1:]),
    }


def same_private_key(der: bytes, pem_text: str) -> bool:
    return (
        private_key_from_sealed_der(der).private_numbers()
        == private_key_from_sealed_der(der_of(pem_text)).private_numbers()
    )


# Accepted formats


def test_pem_certificate_and_pkcs8_key_are_accepted() -> None:
    material = upload(**KEY1)
    assert (material.key_type, material.key_size, material.curve) == ("RSA", 2048, None)
    assert material.certificate.subject == "CN=test.example"
    assert material.chain == ()
    assert same_private_key(material.private_key_der, fx.KEY1_PEM)


def test_traditional_rsa_key_is_accepted() -> None:
    material = upload(certificate=pem(fx.CERT1_PEM), private_key=pem(fx.KEY1_TRADITIONAL_PEM))
    assert same_private_key(material.private_key_der, fx.KEY1_PEM)


@pytest.mark.parametrize("key_text", [fx.KEY1_ENCRYPTED_PEM, fx.KEY1_ENCRYPTED_TRADITIONAL_PEM])
def test_passphrase_protected_pem_key_is_accepted_with_its_passphrase(key_text: str) -> None:
    material = upload(certificate=pem(fx.CERT1_PEM), private_key=pem(key_text), password=fx.KEY1_PASSPHRASE)
    assert same_private_key(material.private_key_der, fx.KEY1_PEM)


def test_der_certificate_and_der_key_are_accepted() -> None:
    material = upload(certificate=der_of(fx.CERT1_PEM), private_key=der_of(fx.KEY1_PEM))
    assert material.certificate.subject == "CN=test.example"
    assert same_private_key(material.private_key_der, fx.KEY1_PEM)


def test_der_traditional_and_encrypted_der_keys_are_accepted() -> None:
    upload(certificate=der_of(fx.CERT1_PEM), private_key=der_of(fx.KEY1_TRADITIONAL_PEM))
    material = upload(
        certificate=der_of(fx.CERT1_PEM), private_key=der_of(fx.KEY1_ENCRYPTED_PEM), password=fx.KEY1_PASSPHRASE
    )
    assert same_private_key(material.private_key_der, fx.KEY1_PEM)


@pytest.mark.parametrize("pkcs12_b64", [fx.KEY1_PKCS12_B64, fx.KEY1_LEGACY_PKCS12_B64])
def test_pkcs12_with_password_is_accepted(pkcs12_b64: str) -> None:
    material = upload(pkcs12=pkcs12_of(pkcs12_b64), password=fx.PKCS12_PASSWORD)
    assert material.certificate.subject == "CN=test.example"
    assert material.chain == ()
    assert same_private_key(material.private_key_der, fx.KEY1_PEM)


def test_pkcs12_extra_certificates_become_the_chain_in_issuer_order() -> None:
    # The fixture holds the root before the intermediate; PKCS#12 bags carry no order.
    material = upload(pkcs12=pkcs12_of(fx.CHAIN_PKCS12_B64), password=fx.PKCS12_PASSWORD)
    assert material.certificate.subject == "CN=leaf.example"
    assert [info.subject for info in material.chain] == ["CN=Test Intermediate CA", "CN=Test Root CA"]


def test_chain_file_of_intermediates_is_accepted_leaf_issuer_first() -> None:
    material = upload(
        certificate=pem(fx.LEAF_CERT_PEM),
        private_key=pem(fx.LEAF_KEY_PEM),
        chain=pem(fx.INTERMEDIATE_CERT_PEM + fx.CA_CERT_PEM),
    )
    assert [info.subject for info in material.chain] == ["CN=Test Intermediate CA", "CN=Test Root CA"]
    assert material.chain[0].pem == fx.INTERMEDIATE_CERT_PEM


def test_certificates_after_the_first_in_the_certificate_file_start_the_chain() -> None:
    material = upload(
        certificate=pem(fx.LEAF_CERT_PEM + fx.INTERMEDIATE_CERT_PEM),
        private_key=pem(fx.LEAF_KEY_PEM),
        chain=pem(fx.CA_CERT_PEM),
    )
    assert material.certificate.subject == "CN=leaf.example"
    assert [info.subject for info in material.chain] == ["CN=Test Intermediate CA", "CN=Test Root CA"]


@pytest.mark.parametrize(
    ("certificate", "private_key", "size", "curve"),
    [
        (fx.EC256_CERT_PEM, fx.EC256_KEY_PEM, 256, "P-256"),
        (fx.EC256_CERT_PEM, fx.EC256_KEY_TRADITIONAL_PEM, 256, "P-256"),
        (fx.EC384_CERT_PEM, fx.EC384_KEY_PEM, 384, "P-384"),
    ],
)
def test_ec_keys_are_accepted(certificate: str, private_key: str, size: int, curve: str) -> None:
    material = upload(certificate=pem(certificate), private_key=pem(private_key))
    assert (material.key_type, material.key_size, material.curve) == ("EC", size, curve)
    assert (material.certificate.key_type, material.certificate.curve) == ("EC", curve)


def test_ec_p521_key_is_accepted() -> None:
    material = upload(**self_signed(ec.generate_private_key(ec.SECP521R1())))
    assert (material.key_type, material.key_size, material.curve) == ("EC", 521, "P-521")


def test_rsa_3072_key_is_accepted() -> None:
    material = upload(certificate=pem(fx.RSA3072_CERT_PEM), private_key=pem(fx.RSA3072_KEY_PEM))
    assert (material.key_type, material.key_size) == ("RSA", 3072)


def test_ec_parameters_block_before_the_key_is_tolerated() -> None:
    # `openssl ecparam -genkey -name prime256v1` writes the curve's OID block first.
    parameters = "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
    material = upload(certificate=pem(fx.EC256_CERT_PEM), private_key=pem(parameters + fx.EC256_KEY_TRADITIONAL_PEM))
    assert material.curve == "P-256"


def test_whitespace_crlf_and_byte_order_mark_around_pem_are_accepted() -> None:
    certificate = b"\xef\xbb\xbf\r\n  " + pem(fx.CERT1_PEM).replace(b"\n", b"\r\n") + b"\n\n\t "
    upload(certificate=certificate, private_key=b"\n" + pem(fx.KEY1_PEM) + b"\n")


def test_password_given_for_an_unencrypted_key_is_ignored() -> None:
    upload(**KEY1, password=b"not needed")


# Sizes, emptiness, missing input


@pytest.mark.parametrize("field", ["certificate", "private_key", "chain"])
def test_file_over_one_mebibyte_is_refused_and_one_mebibyte_is_not(field: str) -> None:
    inputs = dict(KEY1)
    if field == "chain":
        inputs = {
            "certificate": pem(fx.LEAF_CERT_PEM),
            "private_key": pem(fx.LEAF_KEY_PEM),
            "chain": pem(fx.INTERMEDIATE_CERT_PEM),
        }
    padded = inputs[field] + b"\n" * (MAX_UPLOAD_BYTES - len(inputs[field]))
    upload(**{**inputs, field: padded})
    error = refusal(**{**inputs, field: padded + b"\n"})
    assert (error.code, error.field) == ("file_too_large", field)


def test_size_is_checked_before_the_format() -> None:
    assert refusal(certificate=b"x" * (MAX_UPLOAD_BYTES + 1), private_key=pem(fx.KEY1_PEM)).code == "file_too_large"
    assert refusal(certificate=b"x" * MAX_UPLOAD_BYTES, private_key=pem(fx.KEY1_PEM)).code == "unknown_format"


def test_pkcs12_over_one_mebibyte_is_refused() -> None:
    data = pkcs12_of(fx.KEY1_PKCS12_B64)
    upload(pkcs12=data, password=fx.PKCS12_PASSWORD)
    error = refusal(pkcs12=data + b"\0" * (MAX_UPLOAD_BYTES + 1 - len(data)), password=fx.PKCS12_PASSWORD)
    assert (error.code, error.field) == ("file_too_large", "pkcs12")


@pytest.mark.parametrize("empty", [b"", b" \n\t\r\n"])
@pytest.mark.parametrize("field", ["certificate", "private_key", "chain"])
def test_empty_file_is_refused(field: str, empty: bytes) -> None:
    error = refusal(**{**KEY1, field: empty})
    assert (error.code, error.field) == ("empty_file", field)


def test_empty_pkcs12_is_refused() -> None:
    error = refusal(pkcs12=b"", password=fx.PKCS12_PASSWORD)
    assert (error.code, error.field) == ("empty_file", "pkcs12")


@pytest.mark.parametrize(
    ("inputs", "field"),
    [
        ({"certificate": pem(fx.CERT1_PEM)}, "private_key"),
        ({"private_key": pem(fx.KEY1_PEM)}, "certificate"),
        ({}, "certificate"),
        ({"chain": pem(fx.CERT1_PEM), "private_key": pem(fx.KEY1_PEM)}, "certificate"),
    ],
)
def test_missing_certificate_or_key_is_refused(inputs: dict[str, bytes], field: str) -> None:
    error = refusal(**inputs)
    assert (error.code, error.field) == ("missing_input", field)


@pytest.mark.parametrize("field", ["certificate", "private_key", "chain"])
def test_pkcs12_with_another_input_is_refused(field: str) -> None:
    error = refusal(pkcs12=pkcs12_of(fx.KEY1_PKCS12_B64), password=fx.PKCS12_PASSWORD, **{field: pem(fx.CERT1_PEM)})
    assert (error.code, error.field) == ("conflicting_input", field)


# Format detection


@pytest.mark.parametrize(
    ("field", "before", "after"),
    [
        ("certificate", b"Bag Attributes\n    friendlyName: test\n", b""),
        ("certificate", b"", b"\nsubject=CN = test.example\n"),
        ("private_key", b"Key Attributes: <No Attributes>\n", b""),
        ("private_key", b"", b"\n-- end of key --\n"),
    ],
)
def test_text_around_pem_blocks_is_refused(field: str, before: bytes, after: bytes) -> None:
    error = refusal(**{**KEY1, field: before + KEY1[field] + after})
    assert (error.code, error.field) == ("junk_around_pem", field)
    upload(**{**KEY1, field: b" " * len(before) + KEY1[field] + b"\n" * len(after)})


def test_text_between_pem_blocks_is_refused() -> None:
    inputs = {"certificate": pem(fx.LEAF_CERT_PEM), "private_key": pem(fx.LEAF_KEY_PEM)}
    error = refusal(**inputs, chain=pem(fx.INTERMEDIATE_CERT_PEM + "issuer=CN = Test Root CA\n" + fx.CA_CERT_PEM))
    assert (error.code, error.field) == ("junk_around_pem", "chain")
    upload(**inputs, chain=pem(fx.INTERMEDIATE_CERT_PEM + "\n\n" + fx.CA_CERT_PEM))


def test_refusal_messages_never_repeat_the_uploaded_bytes() -> None:
    key_text = pem(fx.KEY1_PEM)
    errors = [
        refusal(certificate=pem(fx.CERT1_PEM), private_key=b"secret junk " + key_text),
        refusal(certificate=key_text, private_key=key_text),
        refusal(certificate=pem(fx.CERT1_PEM), private_key=pem(fx.KEY2_PEM)),
        refusal(certificate=pem(fx.CERT1_PEM), private_key=pem(fx.KEY1_ENCRYPTED_PEM), password=b"hunter2"),
    ]
    key_lines = [line for line in fx.KEY1_PEM.splitlines() + fx.KEY2_PEM.splitlines() if "-----" not in line]
    for error in errors:
        message = str(error)
        assert "secret junk" not in message
        assert "hunter2" not in message
        assert not any(line[:16] in message for line in key_lines)


@pytest.mark.parametrize("field", ["certificate", "private_key"])
def test_data_neither_pem_nor_der_is_refused(field: str) -> None:
    for data in (b"\x01\x02\x03 not a key or certificate", b"MIIBfake base64 without PEM lines"):
        error = refusal(**{**KEY1, field: data})
        assert (error.code, error.field) == ("unknown_format", field)


def test_pkcs12_in_the_certificate_field_is_refused_with_a_hint() -> None:
    error = refusal(certificate=pkcs12_of(fx.KEY1_PKCS12_B64), private_key=pem(fx.KEY1_PEM))
    assert (error.code, error.field) == ("unknown_format", "certificate")
    assert "PKCS#12 field" in str(error)


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: text[: len(text) // 2],  # cut short: no END line
        lambda text: text.replace("END CERTIFICATE", "END PRIVATE KEY"),
        lambda text: text.replace("M", "*", 1),  # not base64
    ],
)
def test_damaged_pem_certificate_is_refused(damage: Callable[[str], str]) -> None:
    error = refusal(certificate=pem(damage(fx.CERT1_PEM)), private_key=pem(fx.KEY1_PEM))
    assert (error.code, error.field) == ("unknown_format", "certificate")


@pytest.mark.parametrize(
    "data",
    [
        b"-----BEGIN A-----" * (MAX_UPLOAD_BYTES // 17),  # would cost a block-spanning pattern minutes
        b"-----END CERTIFICATE-----\n" + pem(fx.CERT1_PEM),
        pem(fx.CERT1_PEM) + b"-----BEGIN CERTIFICATE-----\nMIIB\n",
    ],
)
def test_unpaired_pem_lines_are_refused(data: bytes) -> None:
    error = refusal(certificate=data, private_key=pem(fx.KEY1_PEM))
    assert (error.code, error.field) == ("unknown_format", "certificate")


def test_pem_certificate_block_not_holding_a_certificate_is_refused() -> None:
    wrapped = fx.KEY1_PEM.replace("PRIVATE KEY", "CERTIFICATE")
    error = refusal(certificate=pem(wrapped), private_key=pem(fx.KEY1_PEM))
    assert (error.code, error.field) == ("unknown_format", "certificate")


@pytest.mark.parametrize("key", [pem(fx.KEY1_PEM), der_of(fx.KEY1_PEM), pem(fx.KEY1_ENCRYPTED_PEM)])
def test_private_key_in_the_certificate_field_is_refused(key: bytes) -> None:
    error = refusal(certificate=key, private_key=pem(fx.KEY1_PEM))
    assert (error.code, error.field) == ("not_a_certificate", "certificate")


def test_private_key_in_the_chain_field_is_refused() -> None:
    error = refusal(**KEY1, chain=pem(fx.KEY2_PEM))
    assert (error.code, error.field) == ("not_a_certificate", "chain")


@pytest.mark.parametrize(
    "not_a_key",
    [
        pem(fx.CERT1_PEM),
        der_of(fx.CERT1_PEM),
        pem(fx.KEY1_PEM + fx.CERT1_PEM),
        key1().public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
    ],
)
def test_certificate_or_public_key_in_the_key_field_is_refused(not_a_key: bytes) -> None:
    error = refusal(certificate=pem(fx.CERT1_PEM), private_key=not_a_key)
    assert (error.code, error.field) == ("not_a_private_key", "private_key")


@pytest.mark.parametrize("data", [pem(fx.CERT1_PEM), b"\x30\x03\x02\x01\x02", b"PKCS#12? no"])
def test_pkcs12_field_holding_something_else_is_refused(data: bytes) -> None:
    error = refusal(pkcs12=data, password=fx.PKCS12_PASSWORD)
    assert (error.code, error.field) == ("unknown_format", "pkcs12")


# Passwords


@pytest.mark.parametrize(
    "key", [pem(fx.KEY1_ENCRYPTED_PEM), pem(fx.KEY1_ENCRYPTED_TRADITIONAL_PEM), der_of(fx.KEY1_ENCRYPTED_PEM)]
)
@pytest.mark.parametrize("password", [None, b""])
def test_encrypted_key_without_password_is_refused(key: bytes, password: bytes | None) -> None:
    error = refusal(certificate=pem(fx.CERT1_PEM), private_key=key, password=password)
    assert (error.code, error.field) == ("password_required", "password")


@pytest.mark.parametrize(
    "key", [pem(fx.KEY1_ENCRYPTED_PEM), pem(fx.KEY1_ENCRYPTED_TRADITIONAL_PEM), der_of(fx.KEY1_ENCRYPTED_PEM)]
)
def test_encrypted_key_with_wrong_password_is_refused(key: bytes) -> None:
    error = refusal(certificate=pem(fx.CERT1_PEM), private_key=key, password=fx.KEY1_PASSPHRASE + b"!")
    assert (error.code, error.field) == ("wrong_password", "password")
    upload(certificate=pem(fx.CERT1_PEM), private_key=key, password=fx.KEY1_PASSPHRASE)


@pytest.mark.parametrize("pkcs12_b64", [fx.KEY1_PKCS12_B64, fx.KEY1_LEGACY_PKCS12_B64])
def test_pkcs12_with_wrong_password_is_refused(pkcs12_b64: str) -> None:
    error = refusal(pkcs12=pkcs12_of(pkcs12_b64), password=b"wrong")
    assert (error.code, error.field) == ("wrong_password", "password")


@pytest.mark.parametrize("password", [None, b""])
def test_pkcs12_without_password_is_refused(password: bytes | None) -> None:
    error = refusal(pkcs12=pkcs12_of(fx.KEY1_PKCS12_B64), password=password)
    assert (error.code, error.field) == ("password_required", "password")


def test_pkcs12_without_key_is_refused() -> None:
    error = refusal(pkcs12=pkcs12_of(fx.CERTS_ONLY_PKCS12_B64), password=fx.PKCS12_PASSWORD)
    assert (error.code, error.field) == ("pkcs12_without_key", "pkcs12")


# Key type, size and exponent, before the RSA consistency check


def test_rsa_1024_key_is_refused() -> None:
    error = refusal(certificate=pem(fx.RSA1024_CERT_PEM), private_key=pem(fx.RSA1024_KEY_PEM))
    assert (error.code, error.field) == ("rsa_key_too_small", "private_key")
    assert "1024" in str(error)


def test_certificate_with_rsa_1024_public_key_is_refused() -> None:
    error = refusal(certificate=pem(fx.RSA1024_CERT_PEM), private_key=pem(fx.KEY1_PEM))
    assert (error.code, error.field) == ("rsa_key_too_small", "certificate")


def test_20000_bit_rsa_key_is_refused_before_the_consistency_check() -> None:
    error = refusal(certificate=pem(fx.CERT1_PEM), private_key=crafted_rsa_private_key_der(20000))
    assert (error.code, error.field) == ("rsa_key_too_large", "private_key")
    assert "20000" in str(error)


def test_8192_bit_rsa_key_passes_the_size_check_and_then_fails_the_consistency_check() -> None:
    # The twin of the test above: the same crafted kind of key, at the largest accepted size, reaches the
    # full check (which refuses it, its p and q not being primes).
    error = refusal(certificate=pem(fx.CERT1_PEM), private_key=crafted_rsa_private_key_der(8192))
    assert (error.code, error.field) == ("invalid_private_key", "private_key")


def test_oversized_rsa_key_in_pkcs12_is_refused_before_the_consistency_check() -> None:
    error = refusal(pkcs12=pkcs12_of(fx.OVERSIZED_RSA_PKCS12_B64), password=fx.PKCS12_PASSWORD)
    assert (error.code, error.field) == ("rsa_key_too_large", "pkcs12")


def test_certificate_with_20000_bit_rsa_public_key_is_refused() -> None:
    crafted = private_key_from_sealed_der(crafted_rsa_private_key_der(20000))
    cert = build_certificate(crafted.public_key(), "big.example", key1(), "test.example")
    error = refusal(certificate=certificate_pem(cert), private_key=pem(fx.KEY1_PEM))
    assert (error.code, error.field) == ("rsa_key_too_large", "certificate")


def test_rsa_exponent_3_is_refused() -> None:
    error = refusal(certificate=pem(fx.RSA_E3_CERT_PEM), private_key=pem(fx.RSA_E3_KEY_PEM))
    assert (error.code, error.field) == ("rsa_bad_exponent", "private_key")
    error = refusal(certificate=pem(fx.RSA_E3_CERT_PEM), private_key=pem(fx.KEY1_PEM))
    assert (error.code, error.field) == ("rsa_bad_exponent", "certificate")


def test_ec_key_on_another_curve_is_refused() -> None:
    error = refusal(**self_signed(ec.generate_private_key(ec.SECP256K1())))
    assert (error.code, error.field) == ("unsupported_curve", "private_key")
    upload(**self_signed(ec.generate_private_key(ec.SECP256R1())))


def test_ed25519_key_is_refused() -> None:
    error = refusal(**self_signed(ed25519.Ed25519PrivateKey.generate()))
    assert (error.code, error.field) == ("unsupported_key_type", "private_key")


def test_inconsistent_rsa_key_is_refused() -> None:
    numbers = key1().private_numbers()
    public = numbers.public_numbers
    fields = (public.n, public.e, numbers.d, numbers.p, numbers.q, numbers.dmp1, numbers.dmq1, numbers.iqmp)
    upload(certificate=pem(fx.CERT1_PEM), private_key=rsa_private_key_der(*fields))
    tampered = (public.n, public.e, numbers.d + 2, *fields[3:])
    error = refusal(certificate=pem(fx.CERT1_PEM), private_key=rsa_private_key_der(*tampered))
    assert (error.code, error.field) == ("invalid_private_key", "private_key")


# Key against certificate, validity, chain


@pytest.mark.parametrize(
    ("certificate", "private_key"),
    [(fx.CERT1_PEM, fx.KEY2_PEM), (fx.CERT2_PEM, fx.KEY1_PEM), (fx.EC384_CERT_PEM, fx.EC256_KEY_PEM)],
)
def test_key_not_matching_the_certificate_is_refused(certificate: str, private_key: str) -> None:
    error = refusal(certificate=pem(certificate), private_key=pem(private_key))
    assert (error.code, error.field) == ("key_certificate_mismatch", "private_key")
    assert str(error) == "The private key does not match the certificate (their public keys differ)."


def test_expired_certificate_is_refused() -> None:
    error = refusal(certificate=pem(fx.EXPIRED_CERT1_PEM), private_key=pem(fx.KEY1_PEM))
    assert (error.code, error.field) == ("certificate_expired", "certificate")
    assert str(error) == "The certificate expired on 2001-01-01 00:00 UTC."


def test_not_yet_valid_certificate_is_refused() -> None:
    error = refusal(certificate=pem(fx.NOT_YET_VALID_CERT1_PEM), private_key=pem(fx.KEY1_PEM))
    assert (error.code, error.field) == ("certificate_not_yet_valid", "certificate")
    assert "2200-01-01 00:00 UTC" in str(error)


def test_validity_includes_both_ends() -> None:
    # RFC 5280 section 4.1.2.5; certificate 1 is valid from 2025-01-01 to 2125-01-01.
    start, end = datetime(2025, 1, 1, tzinfo=UTC), datetime(2125, 1, 1, tzinfo=UTC)
    keystore_material_from_upload(now=start, **KEY1)
    keystore_material_from_upload(now=end, **KEY1)
    assert refusal_at(start - timedelta(seconds=1), **KEY1).code == "certificate_not_yet_valid"
    assert refusal_at(end + timedelta(seconds=1), **KEY1).code == "certificate_expired"


def test_pkcs12_certificate_validity_is_checked() -> None:
    later = datetime(2125, 1, 2, tzinfo=UTC)
    error = refusal_at(later, pkcs12=pkcs12_of(fx.KEY1_PKCS12_B64), password=fx.PKCS12_PASSWORD)
    assert (error.code, error.field) == ("certificate_expired", "pkcs12")


def test_chain_of_ten_is_accepted_and_of_eleven_refused() -> None:
    assert len(upload(**ec_chain(MAX_CHAIN_LENGTH)).chain) == MAX_CHAIN_LENGTH
    error = refusal(**ec_chain(MAX_CHAIN_LENGTH + 1))
    assert (error.code, error.field) == ("chain_too_long", "chain")


def test_chain_length_is_checked_before_the_links() -> None:
    inputs = {"certificate": pem(fx.LEAF_CERT_PEM), "private_key": pem(fx.LEAF_KEY_PEM)}
    assert refusal(**inputs, chain=pem(fx.INTERMEDIATE_CERT_PEM * 11)).code == "chain_too_long"
    assert refusal(**inputs, chain=pem(fx.INTERMEDIATE_CERT_PEM * 10)).code == "chain_broken"


@pytest.mark.parametrize(
    "chain",
    [
        fx.CA_CERT_PEM + fx.INTERMEDIATE_CERT_PEM,  # wrong order
        fx.CA_CERT_PEM,  # the intermediate left out
        fx.INTERMEDIATE_CERT_PEM + fx.CERT2_PEM,  # an unrelated certificate above the intermediate
    ],
)
def test_chain_not_leading_up_from_the_leaf_is_refused(chain: str) -> None:
    inputs = {"certificate": pem(fx.LEAF_CERT_PEM), "private_key": pem(fx.LEAF_KEY_PEM)}
    error = refusal(**inputs, chain=pem(chain))
    assert (error.code, error.field) == ("chain_broken", "chain")
    upload(**inputs, chain=pem(fx.INTERMEDIATE_CERT_PEM + fx.CA_CERT_PEM))


def test_chain_certificate_with_the_right_name_but_another_key_is_refused() -> None:
    impostor_key = ec.generate_private_key(ec.SECP256R1())
    impostor = build_certificate(
        impostor_key.public_key(), "Test Intermediate CA", impostor_key, "Test Root CA", ca=True
    )
    inputs = {"certificate": pem(fx.LEAF_CERT_PEM), "private_key": pem(fx.LEAF_KEY_PEM)}
    error = refusal(**inputs, chain=certificate_pem(impostor))
    assert (error.code, error.field) == ("chain_broken", "chain")
    assert "did not sign" in str(error)
    upload(**inputs, chain=pem(fx.INTERMEDIATE_CERT_PEM))


def test_expired_chain_certificate_is_refused() -> None:
    inputs = ec_chain(1, ca_not_after=NOW + timedelta(days=30))
    upload(**inputs)
    error = refusal_at(NOW + timedelta(days=31), **inputs)
    assert (error.code, error.field) == ("certificate_expired", "chain")
    assert str(error).startswith("Chain certificate 1 ('CN=CA 1') expired on ")


# Truststores


def test_truststore_upload_accepts_several_pem_or_one_der_certificate() -> None:
    infos = certificates_from_upload(pem(fx.CA_CERT_PEM + "\n" + fx.EC256_CERT_PEM), now=NOW)
    assert [info.subject for info in infos] == ["CN=Test Root CA", "CN=ec256.example"]
    (info,) = certificates_from_upload(der_of(fx.CERT1_PEM), now=NOW)
    assert info.subject == "CN=test.example"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (pem(fx.CA_CERT_PEM + fx.RSA1024_CERT_PEM), "rsa_key_too_small"),
        (pem(fx.RSA_E3_CERT_PEM), "rsa_bad_exponent"),
        (pem(fx.CA_CERT_PEM + fx.EXPIRED_CERT1_PEM), "certificate_expired"),
        (pem(fx.NOT_YET_VALID_CERT1_PEM), "certificate_not_yet_valid"),
        (pem(fx.CA_CERT_PEM + fx.KEY1_PEM), "not_a_certificate"),
        (b"junk\n" + pem(fx.CA_CERT_PEM), "junk_around_pem"),
        (b"\x00\x01", "unknown_format"),
        (b"", "empty_file"),
        (b"\n" * (MAX_UPLOAD_BYTES + 1), "file_too_large"),
    ],
)
def test_truststore_upload_refusals(data: bytes, code: str) -> None:
    with pytest.raises(KeyMaterialError) as caught:
        certificates_from_upload(data, field="certificates", now=NOW)
    assert (caught.value.code, caught.value.field) == (code, "certificates")


# Generation


def test_generate_rsa_2048_like_datapower() -> None:
    material = keystore_material_generate(common_name="jwt.example.com", now=NOW + timedelta(microseconds=7))
    assert (material.key_type, material.key_size, material.curve) == ("RSA", 2048, None)
    info = material.certificate
    assert info.subject == info.issuer == "CN=jwt.example.com"
    assert info.not_before == NOW
    assert info.not_after == NOW + timedelta(days=365)
    cert = x509.load_pem_x509_certificate(pem(info.pem))
    cert.verify_directly_issued_by(cert)
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical
    assert basic.value == x509.BasicConstraints(ca=False, path_length=None)
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value == x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    identifier = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert identifier == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_oid(ExtendedKeyUsageOID.SERVER_AUTH)
    key = private_key_from_sealed_der(material.private_key_der)
    assert public_jwk(key) == public_jwk(public_key_from_certificate_pem(info.pem))
    # What the portal generates, it also accepts as an upload.
    upload(certificate=pem(info.pem), private_key=material.private_key_der)


def test_generated_serial_numbers_are_random() -> None:
    serials = {
        keystore_material_generate(common_name="a", key_type="EC", now=NOW).certificate.serial_number for _ in range(3)
    }
    assert len(serials) == 3


def test_generate_rsa_3072() -> None:
    material = keystore_material_generate(common_name="jwt.example.com", bits=3072, days=30, now=NOW)
    assert material.key_size == 3072
    assert material.certificate.days_to_expiry(NOW) == 30


@pytest.mark.parametrize(("curve", "size"), [("P-256", 256), ("P-384", 384), ("P-521", 521)])
def test_generate_ec(curve: str, size: int) -> None:
    material = keystore_material_generate(common_name="jwt.example.com", key_type="EC", curve=curve, now=NOW)
    assert (material.key_type, material.key_size, material.curve) == ("EC", size, curve)
    key = private_key_from_sealed_der(material.private_key_der)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    upload(certificate=pem(material.certificate.pem), private_key=material.private_key_der)


@pytest.mark.parametrize(
    ("parameters", "good", "code", "field"),
    [
        ({"common_name": ""}, {"common_name": "x"}, "invalid_common_name", "common_name"),
        ({"common_name": "x" * 65}, {"common_name": "x" * 64}, "invalid_common_name", "common_name"),
        ({"common_name": " jwt"}, {"common_name": "jwt"}, "invalid_common_name", "common_name"),
        ({"common_name": "jwt\n"}, {"common_name": "jwt"}, "invalid_common_name", "common_name"),
        ({"key_type": "DSA"}, {"key_type": "EC"}, "unsupported_key_type", "key_type"),
        ({"key_type": "EC", "curve": "P-192"}, {"key_type": "EC", "curve": "P-256"}, "unsupported_curve", "curve"),
        ({"key_type": "EC", "curve": "secp256k1"}, {"key_type": "EC"}, "unsupported_curve", "curve"),
        ({"key_type": "EC", "days": 0}, {"key_type": "EC", "days": 1}, "invalid_days", "days"),
        ({"key_type": "EC", "days": 3651}, {"key_type": "EC", "days": 3650}, "invalid_days", "days"),
    ],
)
def test_generate_refuses_bad_parameters(
    parameters: dict[str, object], good: dict[str, object], code: str, field: str
) -> None:
    defaults: dict[str, object] = {"common_name": "jwt.example.com", "key_type": "EC"}
    with pytest.raises(KeyMaterialError) as caught:
        keystore_material_generate(now=NOW, **{**defaults, **parameters})  # type: ignore[arg-type]
    assert (caught.value.code, caught.value.field) == (code, field)
    keystore_material_generate(now=NOW, **{**defaults, **good})  # type: ignore[arg-type]


@pytest.mark.parametrize("bits", [1024, 8192, 2047])
def test_generate_refuses_rsa_sizes_outside_the_list(bits: int) -> None:
    with pytest.raises(KeyMaterialError) as caught:
        keystore_material_generate(common_name="jwt.example.com", bits=bits, now=NOW)
    assert (caught.value.code, caught.value.field) == ("unsupported_bits", "bits")


# JWK and thumbprints

# RFC 7638 section 3.1: the example RSA key and its thumbprint.
RFC7638_JWK = {
    "kty": "RSA",
    "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZ"
    "CiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgn"
    "Yb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw"
    "0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def _b64url_int(text: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")


def test_rfc7638_example_thumbprint() -> None:
    assert jwk_thumbprint(RFC7638_JWK) == RFC7638_THUMBPRINT


def test_thumbprint_covers_only_the_required_members() -> None:
    required = {name: RFC7638_JWK[name] for name in ("e", "n", "kty")}
    assert jwk_thumbprint(required) == RFC7638_THUMBPRINT
    assert jwk_thumbprint({**RFC7638_JWK, "e": "Aw"}) != RFC7638_THUMBPRINT


def test_public_jwk_of_the_rfc7638_key_has_that_thumbprint() -> None:
    public_key = rsa.RSAPublicNumbers(_b64url_int(RFC7638_JWK["e"]), _b64url_int(RFC7638_JWK["n"])).public_key()
    jwk = public_jwk(public_key)
    assert jwk == {"kty": "RSA", "n": RFC7638_JWK["n"], "e": "AQAB"}
    assert jwk_thumbprint(jwk) == RFC7638_THUMBPRINT


def test_public_jwk_of_a_private_key_holds_no_private_member() -> None:
    jwk = public_jwk(key1())
    assert set(jwk) == {"kty", "n", "e"}
    assert jwk == public_jwk(public_key_from_certificate_pem(fx.CERT1_PEM))


@pytest.mark.parametrize(("curve", "length"), [(ec.SECP256R1(), 32), (ec.SECP384R1(), 48), (ec.SECP521R1(), 66)])
def test_public_jwk_of_ec_keys_has_full_length_coordinates(curve: ec.EllipticCurve, length: int) -> None:
    key = ec.generate_private_key(curve)
    jwk = public_jwk(key.public_key())
    assert set(jwk) == {"kty", "crv", "x", "y"}
    numbers = key.public_key().public_numbers()
    for member, value in (("x", numbers.x), ("y", numbers.y)):
        raw = base64.urlsafe_b64decode(jwk[member] + "=" * (-len(jwk[member]) % 4))
        assert len(raw) == length
        assert int.from_bytes(raw, "big") == value
    assert "=" not in jwk["x"] + jwk["y"]


@pytest.mark.parametrize("jwk", [{"kty": "RSA", "n": "AQAB"}, {"kty": "XYZ", "k": "AA"}, {"n": "AQAB", "e": "AQAB"}])
def test_thumbprint_of_an_incomplete_jwk_is_refused(jwk: dict[str, str]) -> None:
    with pytest.raises(KeyMaterialError) as caught:
        jwk_thumbprint(jwk)
    assert caught.value.code == "invalid_jwk"


def test_secret_thumbprint_is_the_oct_jwk_thumbprint() -> None:
    secret = bytes(range(32))
    k = base64.urlsafe_b64encode(secret).rstrip(b"=").decode()
    assert secret_thumbprint(secret) == jwk_thumbprint({"kty": "oct", "k": k})
    assert secret_thumbprint(secret) != secret_thumbprint(bytes(range(1, 33)))


def test_key_id_is_the_thumbprint_of_the_public_jwk_for_the_private_and_the_public_half() -> None:
    public_key = rsa.RSAPublicNumbers(_b64url_int(RFC7638_JWK["e"]), _b64url_int(RFC7638_JWK["n"])).public_key()
    assert key_id(public_key) == RFC7638_THUMBPRINT
    assert key_id(key1()) == key_id(public_key_from_certificate_pem(fx.CERT1_PEM)) != RFC7638_THUMBPRINT


@pytest.mark.parametrize("certificate", [fx.CERT1_PEM, fx.EC256_CERT_PEM])
def test_certificate_jwk_is_the_public_jwk_with_its_key_id(certificate: str) -> None:
    public_key = public_key_from_certificate_pem(certificate)
    assert certificate_jwk(certificate) == {**public_jwk(public_key), "kid": key_id(public_key)}


def test_certificate_jwk_of_another_certificate_has_another_kid() -> None:
    assert certificate_jwk(fx.CERT1_PEM)["kid"] != certificate_jwk(fx.CERT2_PEM)["kid"]


@pytest.mark.parametrize(
    ("upload", "expected"),
    [
        ({"certificate": b"\xef\xbb\xbf \r\n" + pem(fx.CERT1_PEM)}, "pem"),
        ({"certificate": der_of(fx.CERT1_PEM)}, "der"),
        ({"pkcs12": b"0"}, "pkcs12"),
    ],
)
def test_the_upload_format_is_told_from_the_certificate_file(upload: dict[str, bytes], expected: str) -> None:
    assert keystore_upload_format(**upload) == expected


# Certificate facts


def test_certificate_info_facts() -> None:
    info = upload(**KEY1).certificate
    assert info.subject == info.issuer == "CN=test.example"
    assert info.serial_number == "1001"
    assert (info.key_type, info.key_size, info.curve) == ("RSA", 2048, None)
    assert info.not_before == datetime(2025, 1, 1, tzinfo=UTC)
    assert info.not_after == datetime(2125, 1, 1, tzinfo=UTC)
    assert info.not_before.utcoffset() == timedelta(0)
    digest = hashlib.sha256(der_of(fx.CERT1_PEM)).hexdigest().upper()
    assert info.fingerprint_sha256 == ":".join(digest[i : i + 2] for i in range(0, 64, 2))
    assert der_of(info.pem) == der_of(fx.CERT1_PEM)


def test_days_to_expiry_rounds_down_and_goes_negative() -> None:
    info = upload(**KEY1).certificate
    assert info.days_to_expiry(datetime(2124, 12, 31, tzinfo=UTC)) == 1
    assert info.days_to_expiry(datetime(2124, 12, 31, 12, tzinfo=UTC)) == 0
    assert info.days_to_expiry(datetime(2125, 1, 3, tzinfo=UTC)) == -2


def test_x5c_and_x5t_s256_values() -> None:
    der = der_of(fx.CERT1_PEM)
    assert certificate_der_b64(fx.CERT1_PEM) == base64.b64encode(der).decode()
    thumbprint = certificate_sha256_thumbprint(fx.CERT1_PEM)
    assert thumbprint == base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
    assert len(thumbprint) == 43


def test_public_key_from_certificate_pem() -> None:
    public_key = public_key_from_certificate_pem(fx.EC256_CERT_PEM)
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    with pytest.raises(KeyMaterialError) as caught:
        public_key_from_certificate_pem(fx.EC256_KEY_PEM)
    assert caught.value.code == "unknown_format"


# Sealed keys and what never shows


def test_private_key_from_sealed_der_loads_the_uploaded_key() -> None:
    material = upload(certificate=pem(fx.EC256_CERT_PEM), private_key=pem(fx.EC256_KEY_PEM))
    key = private_key_from_sealed_der(material.private_key_der)
    assert public_jwk(key) == public_jwk(public_key_from_certificate_pem(fx.EC256_CERT_PEM))
    with pytest.raises(KeyMaterialError) as caught:
        private_key_from_sealed_der(material.private_key_der[:-1])
    assert caught.value.code == "invalid_private_key"


def test_keystore_material_repr_hides_the_private_key() -> None:
    material = upload(**KEY1)
    text = repr(material)
    assert "private_key_der" not in text
    assert material.private_key_der.hex()[:32] not in text
    assert repr(material.private_key_der)[2:40] not in text
    assert "CN=test.example" in text


def test_library_errors_do_not_escape() -> None:
    with pytest.raises(KeyMaterialError) as caught:
        upload(certificate=pem(fx.CERT1_PEM), private_key=crafted_rsa_private_key_der(2048))
    assert isinstance(caught.value.__cause__, ValueError)


# Shared secrets


def test_secret_generate() -> None:
    assert len(secret_generate()) == 32
    assert len(secret_generate(64)) == 64
    assert secret_generate() != secret_generate()
    with pytest.raises(ValueError, match="at least 32"):
        secret_generate(16)


SECRET = bytes(range(200, 232))  # 32 bytes, not text


@pytest.mark.parametrize(
    "data",
    [
        SECRET,
        SECRET.hex().encode(),
        SECRET.hex().upper().encode() + b"\n",
        base64.b64encode(SECRET),
        base64.b64encode(SECRET) + b"\r\n",
        base64.urlsafe_b64encode(SECRET).rstrip(b"="),
    ],
)
def test_secret_upload_reads_raw_hex_and_base64(data: bytes) -> None:
    assert secret_from_upload(data) == SECRET


def test_secret_text_with_spaces_is_taken_as_raw_bytes() -> None:
    phrase = b"a long passphrase of several words, over 32 bytes"
    assert secret_from_upload(phrase) == phrase


@pytest.mark.parametrize(
    ("short", "long"),
    [
        (SECRET[:31], SECRET),
        (SECRET[:31].hex().encode(), SECRET.hex().encode()),
        (base64.b64encode(SECRET[:31]), base64.b64encode(SECRET)),
    ],
)
def test_secret_under_32_bytes_is_refused(short: bytes, long: bytes) -> None:
    with pytest.raises(KeyMaterialError) as caught:
        secret_from_upload(short)
    assert (caught.value.code, caught.value.field) == ("secret_too_short", "secret")
    assert secret_from_upload(long) == SECRET


@pytest.mark.parametrize(("data", "code"), [(b"", "empty_file"), (b"a" * (MAX_UPLOAD_BYTES + 1), "file_too_large")])
def test_secret_upload_size_limits(data: bytes, code: str) -> None:
    with pytest.raises(KeyMaterialError) as caught:
        secret_from_upload(data)
    assert (caught.value.code, caught.value.field) == (code, "secret")


def test_constants_match_design() -> None:
    assert keymaterial.MAX_UPLOAD_BYTES == 1024 * 1024
    assert (keymaterial.RSA_MIN_BITS, keymaterial.RSA_MAX_BITS) == (2048, 8192)
    assert keymaterial.GENERATE_RSA_BITS == (2048, 3072, 4096)
    assert keymaterial.CURVES == ("P-256", "P-384", "P-521")


# -- key-derivation cost ---------------------------------------------------------------------------------------
# Files whose iteration count is rewritten in the DER to PATCHED, past the cap: the check must refuse them
# before any decryption would run that many iterations. PKCS#12 files are made with ROUNDS (an ordinary, if
# high, setting) first; the encrypted PKCS#8 key is the fixture's.

ROUNDS = 0x10_0000  # 1,048,576: three bytes in DER
PATCHED = 0x7F_FFFF  # 8,388,607, above MAX_KDF_ITERATIONS, also three bytes


def _with_rounds(der: bytes, rounds: int) -> bytes:
    """``der`` with every INTEGER ROUNDS (02 03 10 00 00) rewritten to ``rounds`` (three bytes)."""
    old = bytes([0x02, 0x03]) + ROUNDS.to_bytes(3, "big")
    assert old in der
    return der.replace(old, bytes([0x02, 0x03]) + rounds.to_bytes(3, "big"))


def _with_pbkdf2_iterations(der: bytes, rounds: int) -> bytes:
    """``der`` re-encoded with PBKDF2-params' iterationCount (the INTEGER after the salt) set to ``rounds``."""
    items = tlvs(der)
    out = b""
    for index, (tag, content) in enumerate(items):
        if tag == 0x02 and index == 1 and items[0][0] == 0x04:
            content = rounds.to_bytes((rounds.bit_length() + 8) // 8, "big")
        elif tag in (0x30, 0xA0):
            content = _with_pbkdf2_iterations(content, rounds)
        out += tlv(tag, content)
    return out


def _pkcs8_encrypted(rounds: int | None) -> bytes:
    """Key 1, PKCS#8 encrypted with KEY1_PASSPHRASE, with its PBKDF2 count rewritten to ``rounds``."""
    der = der_of(fx.KEY1_ENCRYPTED_PEM)
    return der if rounds is None else _with_pbkdf2_iterations(der, rounds)


def _pkcs12(rounds: int) -> bytes:
    key = serialization.load_pem_private_key(fx.KEY1_PEM.encode(), None)  # noqa: TID251 - a test builds its input
    certificate = x509.load_pem_x509_certificate(fx.CERT1_PEM.encode())
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(ROUNDS)
        .key_cert_algorithm(serialization.pkcs12.PBES.PBESv2SHA256AndAES256CBC)  # noqa: TID251
        .hmac_hash(hashes.SHA256())
        .build(fx.PKCS12_PASSWORD)
    )
    der = serialization.pkcs12.serialize_key_and_certificates(b"k", key, certificate, None, encryption)  # noqa: TID251
    return _with_rounds(der, rounds)


def test_an_encrypted_der_key_asking_for_millions_of_iterations_too_many_is_refused() -> None:
    with pytest.raises(KeyMaterialError) as refused:
        keymaterial.keystore_material_from_upload(
            certificate=fx.CERT1_PEM.encode(),
            private_key=_pkcs8_encrypted(PATCHED),
            password=fx.KEY1_PASSPHRASE,
            now=NOW,
        )
    assert (refused.value.code, refused.value.field) == ("key_derivation_too_costly", "private_key")
    assert "8,388,607" in str(refused.value)


def test_the_same_encrypted_der_key_with_its_own_count_is_accepted() -> None:
    material = keymaterial.keystore_material_from_upload(
        certificate=fx.CERT1_PEM.encode(), private_key=_pkcs8_encrypted(None), password=fx.KEY1_PASSPHRASE, now=NOW
    )
    assert material.key_type == "RSA"


def test_a_count_at_the_cap_passes_the_cost_check_and_reaches_decryption() -> None:
    # The rewritten count derives another key, so decryption fails: but only decryption, not the cost check.
    with pytest.raises(KeyMaterialError) as refused:
        keymaterial.keystore_material_from_upload(
            certificate=fx.CERT1_PEM.encode(),
            private_key=_pkcs8_encrypted(keymaterial.MAX_KDF_ITERATIONS),
            password=fx.KEY1_PASSPHRASE,
            now=NOW,
        )
    assert refused.value.code == "wrong_password"


def test_an_encrypted_pem_key_asking_for_too_many_iterations_is_refused() -> None:
    pem = b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n" + base64.encodebytes(_pkcs8_encrypted(PATCHED))
    pem += b"-----END ENCRYPTED PRIVATE KEY-----\n"
    with pytest.raises(KeyMaterialError) as refused:
        keymaterial.keystore_material_from_upload(
            certificate=fx.CERT1_PEM.encode(), private_key=pem, password=fx.KEY1_PASSPHRASE, now=NOW
        )
    assert refused.value.code == "key_derivation_too_costly"


def test_a_pkcs12_asking_for_too_many_iterations_is_refused() -> None:
    with pytest.raises(KeyMaterialError) as refused:
        keymaterial.keystore_material_from_upload(pkcs12=_pkcs12(PATCHED), password=fx.PKCS12_PASSWORD, now=NOW)
    assert (refused.value.code, refused.value.field) == ("key_derivation_too_costly", "pkcs12")


def test_a_pkcs12_with_a_high_but_usual_count_is_accepted() -> None:
    material = keymaterial.keystore_material_from_upload(pkcs12=_pkcs12(ROUNDS), password=fx.PKCS12_PASSWORD, now=NOW)
    assert (
        material.certificate.subject
        == keymaterial.keystore_material_from_upload(
            certificate=fx.CERT1_PEM.encode(), private_key=fx.KEY1_PEM.encode(), now=NOW
        ).certificate.subject
    )


# keystore_upload_problems: every problem of an upload at once (the console's upload form, issue 15)


def problems_of(**upload: bytes | None) -> list[tuple[str | None, str]]:
    return [(e.field, e.code) for e in keymaterial.keystore_upload_problems(now=NOW, **upload)]


def test_upload_problems_of_a_good_upload_are_none() -> None:
    assert problems_of(certificate=fx.CERT1_PEM.encode(), private_key=fx.KEY1_PEM.encode()) == []


def test_upload_problems_name_a_text_certificate_and_the_missing_key_together() -> None:
    assert problems_of(certificate=b"hello") == [("certificate", "unknown_format"), ("private_key", "missing_input")]


def test_upload_problems_name_each_bad_file_before_checking_them_together() -> None:
    assert problems_of(certificate=b"hello", private_key=b"not a key", chain=b"nor a chain") == [
        ("certificate", "unknown_format"),
        ("private_key", "unknown_format"),
        ("chain", "unknown_format"),
    ]


def test_upload_problems_check_across_files_once_each_file_is_good() -> None:
    assert problems_of(certificate=fx.CERT1_PEM.encode(), private_key=fx.KEY2_PEM.encode()) == [
        ("private_key", "key_certificate_mismatch")
    ]


def test_upload_problems_of_a_pkcs12_file_are_its_import_refusal() -> None:
    good = pkcs12_of(fx.KEY1_PKCS12_B64)
    assert problems_of(pkcs12=good, password=fx.PKCS12_PASSWORD) == []
    assert problems_of(pkcs12=good, password=b"wrong") == [("password", "wrong_password")]
