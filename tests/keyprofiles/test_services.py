"""keyprofiles.services: keystores (generated, uploaded, secrets), truststores, key profiles and enabling
them in catalogs under APIC's derived crypto object names.

Every refusal is checked three ways: the error (code and field), nothing stored, and a failure audit event.
Each has a positive twin that differs from it in the one input at fault.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12  # noqa: TID251 - builds a test input only
from cryptography.x509.oid import NameOID
from django.core.exceptions import ValidationError

from keyprofiles import keycache, services
from keyprofiles.keymaterial import MAX_UPLOAD_BYTES, KeyMaterialError
from keyprofiles.models import CryptoObject, KeyProfile, KeyProfileBinding, Keystore, TrustedCertificate, Truststore
from portal.invalidation import current_version
from portal.models import AuditEvent, Catalog, Organization
from portal.services import Actor, organization_create
from tests import keyfixtures as fx
from tests.keyfixtures import der_of, pkcs12_of

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
Inputs = dict[str, bytes | None]


def pem(text: str) -> bytes:
    return text.encode("ascii")


KEY1: Inputs = {"certificate": pem(fx.CERT1_PEM), "private_key": pem(fx.KEY1_PEM)}
KEY1_P12: Inputs = {"pkcs12": pkcs12_of(fx.KEY1_PKCS12_B64), "password": fx.PKCS12_PASSWORD}
LEAF: Inputs = {"certificate": pem(fx.LEAF_CERT_PEM), "private_key": pem(fx.LEAF_KEY_PEM)}


def self_signed(key: Any) -> Inputs:
    """A certificate for ``key`` signed by itself, and the key as PKCS#8 PEM."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "generated.example")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=365))
        .sign(key, None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256())
    )
    return {
        "certificate": certificate.public_bytes(serialization.Encoding.PEM),
        "private_key": key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    }


def pkcs12_key_only() -> Inputs:
    key = ec.generate_private_key(ec.SECP256R1())
    data = pkcs12.serialize_key_and_certificates(
        b"no certificate", key, None, None, serialization.BestAvailableEncryption(fx.PKCS12_PASSWORD)
    )
    return {"pkcs12": data, "password": fx.PKCS12_PASSWORD}


def damaged_key_pem() -> bytes:
    body = base64.b64encode(b"\x30\x03\x02\x01\x00" * 10)
    return b"-----BEGIN PRIVATE KEY-----\n" + body + b"\n-----END PRIVATE KEY-----\n"


def base64_lines(inputs: Inputs) -> list[str]:
    """The full-length base64 lines of the PEM inputs: what an error or event must never repeat."""
    lines = []
    for value in inputs.values():
        if value and b"-----BEGIN" in value:
            lines += [line for line in value.decode().splitlines() if len(line) == 64]
    return lines


def failures(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, outcome=AuditEvent.Outcome.FAILURE))


def import_keystore(organization: Organization, actor: Actor, name: str = "JWT Keystore", **inputs: Any) -> Keystore:
    return services.keystore_import(organization=organization, name=name, actor=actor, now=NOW, **(inputs or KEY1))


@pytest.fixture
def keystore(organization: Organization, actor: Actor) -> Keystore:
    return import_keystore(organization, actor)


@pytest.fixture
def truststore(organization: Organization, actor: Actor) -> Truststore:
    return services.truststore_import(
        organization=organization,
        name="Partners",
        data=pem(fx.CA_CERT_PEM + fx.INTERMEDIATE_CERT_PEM),
        actor=actor,
        now=NOW,
    )


@pytest.fixture
def other_organization(db: None) -> Organization:
    return organization_create(slug="acme", title="Acme")


# keystore_generate


def test_generate_defaults_to_rsa_2048_like_datapower(organization: Organization, actor: Actor) -> None:
    keystore = services.keystore_generate(
        organization=organization, name="JWT Keystore", common_name="jwt.demo.local", actor=actor, now=NOW
    )
    keystore.refresh_from_db()
    assert (keystore.kind, keystore.source) == (Keystore.Kind.KEY_PAIR, Keystore.Source.GENERATED)
    assert (keystore.key_type, keystore.key_size, keystore.curve) == ("RSA", 2048, "")
    assert keystore.subject == keystore.issuer == "CN=jwt.demo.local"
    assert (keystore.not_before, keystore.not_after) == (NOW, NOW + timedelta(days=365))
    assert keystore.chain_length == 0
    private_key = keycache.keystore_private_key(keystore)
    assert isinstance(private_key, rsa.RSAPrivateKey)
    certificate = x509.load_pem_x509_certificate(keystore.certificate_pem.encode())
    assert private_key.public_key().public_numbers() == certificate.public_key().public_numbers()
    assert private_key.public_key().public_numbers().e == 65537
    event = AuditEvent.objects.get(action="keystore.generate")
    assert (event.actor, event.outcome, event.object_repr) == ("test-operator", "success", "JWT Keystore")
    assert event.detail["fingerprint_sha256"] == keystore.fingerprint_sha256
    assert event.detail["key"] == "RSA 2048"


@pytest.mark.parametrize(("curve", "size"), [("P-256", 256), ("P-384", 384)])
def test_generate_ec(organization: Organization, actor: Actor, curve: str, size: int) -> None:
    keystore = services.keystore_generate(
        organization=organization, name="EC", common_name="ec.example", key_type="EC", curve=curve, actor=actor
    )
    assert (keystore.key_type, keystore.key_size, keystore.curve) == ("EC", size, curve)
    private_key = keycache.keystore_private_key(keystore)
    assert isinstance(private_key, ec.EllipticCurvePrivateKey)
    assert private_key.curve.key_size == size


@pytest.mark.parametrize(
    ("bad", "good", "code"),
    [
        ({"key_type": "EC", "curve": "P-192"}, {"key_type": "EC", "curve": "P-384"}, "unsupported_curve"),
        ({"key_type": "RSA", "bits": 1024}, {"key_type": "RSA", "bits": 2048}, "unsupported_bits"),
        ({"key_type": "DSA"}, {"key_type": "EC"}, "unsupported_key_type"),
        ({"key_type": "EC", "days": 0}, {"key_type": "EC", "days": 1}, "invalid_days"),
        ({"key_type": "EC", "common_name": ""}, {"key_type": "EC", "common_name": "x"}, "invalid_common_name"),
    ],
)
def test_generate_refusal_stores_nothing_and_is_audited(
    organization: Organization, actor: Actor, bad: dict[str, Any], good: dict[str, Any], code: str
) -> None:
    parameters = {"common_name": "jwt.example", **bad}
    with pytest.raises(KeyMaterialError) as caught:
        services.keystore_generate(organization=organization, name="Refused", actor=actor, **parameters)
    assert caught.value.code == code
    assert not Keystore.objects.exists()
    [event] = failures("keystore.generate")
    assert event.detail == {"name": "Refused", "code": code, "error": str(caught.value)}
    assert (event.actor, event.organization) == ("test-operator", organization)
    assert not AuditEvent.objects.filter(action="keystore.generate", outcome="success").exists()
    # The twin: the same call with the one parameter corrected.
    services.keystore_generate(
        organization=organization, name="Accepted", actor=actor, **{"common_name": "jwt.example", **good}
    )
    assert list(Keystore.objects.values_list("name", flat=True)) == ["Accepted"]


def test_generate_under_a_taken_name_is_refused(organization: Organization, actor: Actor, keystore: Keystore) -> None:
    with pytest.raises(ValidationError) as caught:
        services.keystore_generate(
            organization=organization, name="JWT Keystore", common_name="x", key_type="EC", actor=actor
        )
    assert caught.value.message_dict == {"name": ["A keystore named 'JWT Keystore' already exists in personal."]}
    assert Keystore.objects.count() == 1
    [event] = failures("keystore.generate")
    assert "code" not in event.detail
    services.keystore_generate(
        organization=organization, name="JWT Keystore 2", common_name="x", key_type="EC", actor=actor
    )


def test_same_keystore_name_in_another_organization_is_accepted(
    keystore: Keystore, other_organization: Organization, actor: Actor
) -> None:
    import_keystore(other_organization, actor)
    assert Keystore.objects.filter(name="JWT Keystore").count() == 2


# keystore_import: every upload format


@pytest.mark.parametrize(
    ("inputs", "source", "subject", "key", "chain_length"),
    [
        pytest.param(KEY1, "pem", "CN=test.example", "RSA 2048", 0, id="pem-pkcs8"),
        pytest.param(
            {**KEY1, "private_key": pem(fx.KEY1_TRADITIONAL_PEM)},
            "pem",
            "CN=test.example",
            "RSA 2048",
            0,
            id="pem-traditional",
        ),
        pytest.param(
            {**KEY1, "private_key": pem(fx.KEY1_ENCRYPTED_PEM), "password": fx.KEY1_PASSPHRASE},
            "pem",
            "CN=test.example",
            "RSA 2048",
            0,
            id="pem-passphrase-pkcs8",
        ),
        pytest.param(
            {**KEY1, "private_key": pem(fx.KEY1_ENCRYPTED_TRADITIONAL_PEM), "password": fx.KEY1_PASSPHRASE},
            "pem",
            "CN=test.example",
            "RSA 2048",
            0,
            id="pem-passphrase-traditional",
        ),
        pytest.param(
            {"certificate": der_of(fx.CERT1_PEM), "private_key": der_of(fx.KEY1_PEM)},
            "der",
            "CN=test.example",
            "RSA 2048",
            0,
            id="der",
        ),
        pytest.param(KEY1_P12, "pkcs12", "CN=test.example", "RSA 2048", 0, id="pkcs12-aes"),
        pytest.param(
            {"pkcs12": pkcs12_of(fx.KEY1_LEGACY_PKCS12_B64), "password": fx.PKCS12_PASSWORD},
            "pkcs12",
            "CN=test.example",
            "RSA 2048",
            0,
            id="pkcs12-legacy",
        ),
        pytest.param(
            {**LEAF, "chain": pem(fx.INTERMEDIATE_CERT_PEM + fx.CA_CERT_PEM)},
            "pem",
            "CN=leaf.example",
            "RSA 2048",
            2,
            id="pem-chain",
        ),
        pytest.param(
            {"pkcs12": pkcs12_of(fx.CHAIN_PKCS12_B64), "password": fx.PKCS12_PASSWORD},
            "pkcs12",
            "CN=leaf.example",
            "RSA 2048",
            2,
            id="pkcs12-chain",
        ),
        pytest.param(
            {"certificate": pem(fx.EC256_CERT_PEM), "private_key": pem(fx.EC256_KEY_PEM)},
            "pem",
            "CN=ec256.example",
            "EC 256",
            0,
            id="pem-ec-p256",
        ),
        pytest.param(
            {"certificate": pem(fx.RSA3072_CERT_PEM), "private_key": pem(fx.RSA3072_KEY_PEM)},
            "pem",
            "CN=rsa3072.example",
            "RSA 3072",
            0,
            id="pem-rsa-3072",
        ),
    ],
)
def test_import_accepts_every_upload_format(
    organization: Organization, actor: Actor, inputs: Inputs, source: str, subject: str, key: str, chain_length: int
) -> None:
    keystore = import_keystore(organization, actor, **inputs)
    keystore.refresh_from_db()
    assert keystore.source == source
    assert keystore.subject == subject
    assert f"{keystore.key_type} {keystore.key_size}" == key
    assert keystore.chain_length == chain_length
    certificate = x509.load_pem_x509_certificate(keystore.certificate_pem.encode())
    assert keystore.fingerprint_sha256 == certificate.fingerprint(hashes.SHA256()).hex(":").upper()
    assert keycache.keystore_private_key(keystore).public_key().public_numbers() == (
        certificate.public_key().public_numbers()
    )
    event = AuditEvent.objects.get(action="keystore.import")
    assert (event.outcome, event.object_id) == ("success", str(keystore.pk))
    assert event.detail["fingerprint_sha256"] == keystore.fingerprint_sha256


def test_imported_chain_is_stored_leaf_issuer_first(organization: Organization, actor: Actor) -> None:
    keystore = import_keystore(organization, actor, pkcs12=pkcs12_of(fx.CHAIN_PKCS12_B64), password=fx.PKCS12_PASSWORD)
    chain = x509.load_pem_x509_certificates(keystore.chain_pem.encode())
    subjects = [certificate.subject.rfc4514_string() for certificate in chain]
    assert subjects == ["CN=Test Intermediate CA", "CN=Test Root CA"]


# keystore_import: every refusal, with its twin


REFUSALS = [
    pytest.param(
        lambda: {"certificate": KEY1["certificate"]}, lambda: KEY1, "missing_input", "private_key", id="no-key"
    ),
    pytest.param(
        lambda: {"private_key": KEY1["private_key"]}, lambda: KEY1, "missing_input", "certificate", id="no-cert"
    ),
    pytest.param(
        lambda: {**KEY1_P12, "certificate": KEY1["certificate"]},
        lambda: KEY1_P12,
        "conflicting_input",
        "certificate",
        id="pkcs12-and-cert",
    ),
    pytest.param(lambda: {**KEY1, "certificate": b" \n"}, lambda: KEY1, "empty_file", "certificate", id="empty"),
    pytest.param(
        lambda: {**KEY1, "private_key": b"\n" * (MAX_UPLOAD_BYTES + 1)},
        lambda: {**KEY1, "private_key": KEY1["private_key"] + b"\n" * (MAX_UPLOAD_BYTES - len(fx.KEY1_PEM))},
        "file_too_large",
        "private_key",
        id="too-large",
    ),
    pytest.param(
        lambda: {**KEY1, "certificate": b"\x00\x01 not a certificate"},
        lambda: KEY1,
        "unknown_format",
        "certificate",
        id="unknown-format",
    ),
    pytest.param(
        lambda: {"pkcs12": KEY1["certificate"], "password": fx.PKCS12_PASSWORD},
        lambda: KEY1_P12,
        "unknown_format",
        "pkcs12",
        id="pem-as-pkcs12",
    ),
    pytest.param(
        lambda: {**KEY1, "private_key": b"Key Attributes: <No Attributes>\n" + KEY1["private_key"]},
        lambda: KEY1,
        "junk_around_pem",
        "private_key",
        id="junk-around-pem",
    ),
    pytest.param(
        lambda: {**KEY1, "private_key": KEY1["certificate"]},
        lambda: KEY1,
        "not_a_private_key",
        "private_key",
        id="cert-as-key",
    ),
    pytest.param(
        lambda: {**KEY1, "certificate": KEY1["private_key"]},
        lambda: KEY1,
        "not_a_certificate",
        "certificate",
        id="key-as-cert",
    ),
    pytest.param(
        lambda: {**KEY1, "private_key": pem(fx.KEY1_ENCRYPTED_PEM)},
        lambda: {**KEY1, "private_key": pem(fx.KEY1_ENCRYPTED_PEM), "password": fx.KEY1_PASSPHRASE},
        "password_required",
        "password",
        id="passphrase-missing",
    ),
    pytest.param(
        lambda: {**KEY1, "private_key": pem(fx.KEY1_ENCRYPTED_PEM), "password": b"wrong horse"},
        lambda: {**KEY1, "private_key": pem(fx.KEY1_ENCRYPTED_PEM), "password": fx.KEY1_PASSPHRASE},
        "wrong_password",
        "password",
        id="passphrase-wrong",
    ),
    pytest.param(
        lambda: {"pkcs12": KEY1_P12["pkcs12"]},
        lambda: KEY1_P12,
        "password_required",
        "password",
        id="pkcs12-password-missing",
    ),
    pytest.param(
        lambda: {**KEY1_P12, "password": b"wrong"},
        lambda: KEY1_P12,
        "wrong_password",
        "password",
        id="pkcs12-password-wrong",
    ),
    pytest.param(
        lambda: {**KEY1, "private_key": damaged_key_pem()},
        lambda: KEY1,
        "invalid_private_key",
        "private_key",
        id="damaged-key",
    ),
    pytest.param(
        lambda: self_signed(ed25519.Ed25519PrivateKey.generate()),
        lambda: self_signed(ec.generate_private_key(ec.SECP256R1())),
        "unsupported_key_type",
        "private_key",
        id="ed25519",
    ),
    pytest.param(
        lambda: self_signed(ec.generate_private_key(ec.SECP256K1())),
        lambda: self_signed(ec.generate_private_key(ec.SECP256R1())),
        "unsupported_curve",
        "private_key",
        id="secp256k1",
    ),
    pytest.param(
        lambda: {"certificate": pem(fx.RSA1024_CERT_PEM), "private_key": pem(fx.RSA1024_KEY_PEM)},
        lambda: KEY1,
        "rsa_key_too_small",
        "private_key",
        id="rsa-1024",
    ),
    pytest.param(
        lambda: {"pkcs12": pkcs12_of(fx.OVERSIZED_RSA_PKCS12_B64), "password": fx.PKCS12_PASSWORD},
        lambda: KEY1_P12,
        "rsa_key_too_large",
        "pkcs12",
        id="rsa-8704",
    ),
    pytest.param(
        lambda: {"certificate": pem(fx.RSA_E3_CERT_PEM), "private_key": pem(fx.RSA_E3_KEY_PEM)},
        lambda: KEY1,
        "rsa_bad_exponent",
        "private_key",
        id="rsa-e3",
    ),
    pytest.param(
        lambda: {**KEY1, "private_key": pem(fx.KEY2_PEM)},
        lambda: KEY1,
        "key_certificate_mismatch",
        "private_key",
        id="mismatch",
    ),
    pytest.param(
        lambda: {**KEY1, "certificate": pem(fx.EXPIRED_CERT1_PEM)},
        lambda: KEY1,
        "certificate_expired",
        "certificate",
        id="expired",
    ),
    pytest.param(
        lambda: {**KEY1, "certificate": pem(fx.NOT_YET_VALID_CERT1_PEM)},
        lambda: KEY1,
        "certificate_not_yet_valid",
        "certificate",
        id="not-yet-valid",
    ),
    pytest.param(
        lambda: {**LEAF, "chain": pem(fx.INTERMEDIATE_CERT_PEM * 11)},
        lambda: {**LEAF, "chain": pem(fx.INTERMEDIATE_CERT_PEM + fx.CA_CERT_PEM)},
        "chain_too_long",
        "chain",
        id="chain-too-long",
    ),
    pytest.param(
        lambda: {**LEAF, "chain": pem(fx.CA_CERT_PEM)},
        lambda: {**LEAF, "chain": pem(fx.INTERMEDIATE_CERT_PEM + fx.CA_CERT_PEM)},
        "chain_broken",
        "chain",
        id="chain-broken",
    ),
    pytest.param(
        lambda: {"pkcs12": pkcs12_of(fx.CERTS_ONLY_PKCS12_B64), "password": fx.PKCS12_PASSWORD},
        lambda: KEY1_P12,
        "pkcs12_without_key",
        "pkcs12",
        id="pkcs12-without-key",
    ),
    pytest.param(pkcs12_key_only, lambda: KEY1_P12, "pkcs12_without_certificate", "pkcs12", id="pkcs12-without-cert"),
]


@pytest.mark.parametrize(("bad", "good", "code", "field"), REFUSALS)
def test_import_refusal_stores_nothing_and_is_audited(
    organization: Organization,
    actor: Actor,
    bad: Callable[[], Inputs],
    good: Callable[[], Inputs],
    code: str,
    field: str,
) -> None:
    inputs = bad()
    with pytest.raises(KeyMaterialError) as caught:
        import_keystore(organization, actor, name="Refused", **inputs)
    assert (caught.value.code, caught.value.field) == (code, field)
    assert not Keystore.objects.exists()
    [event] = failures("keystore.import")
    assert event.detail == {"name": "Refused", "code": code, "error": str(caught.value)}
    assert (event.actor, event.organization, event.object_id) == ("test-operator", organization, "")
    assert not any(line in str(event.detail) for line in base64_lines(inputs))
    assert not AuditEvent.objects.filter(action="keystore.import", outcome="success").exists()


@pytest.mark.parametrize(("bad", "good", "code", "field"), REFUSALS)
def test_import_refusal_twin_is_accepted(
    organization: Organization,
    actor: Actor,
    bad: Callable[[], Inputs],
    good: Callable[[], Inputs],
    code: str,
    field: str,
) -> None:
    keystore = import_keystore(organization, actor, name="Accepted", **good())
    assert list(Keystore.objects.values_list("pk", flat=True)) == [keystore.pk]
    assert not failures("keystore.import")


def test_import_under_a_taken_name_is_refused(organization: Organization, actor: Actor, keystore: Keystore) -> None:
    with pytest.raises(ValidationError) as caught:
        import_keystore(organization, actor, **KEY1_P12)
    assert caught.value.message_dict == {"name": ["A keystore named 'JWT Keystore' already exists in personal."]}
    assert Keystore.objects.count() == 1
    [event] = failures("keystore.import")
    assert event.detail["name"] == "JWT Keystore"
    import_keystore(organization, actor, name="JWT Keystore (p12)", **KEY1_P12)


def test_import_under_a_blank_name_is_refused(organization: Organization, actor: Actor) -> None:
    with pytest.raises(ValidationError) as caught:
        import_keystore(organization, actor, name="  ")
    assert caught.value.message_dict == {"name": ["A keystore needs a name."]}
    assert not Keystore.objects.exists()


# keystore_secret_create


def test_generated_secret(organization: Organization, actor: Actor) -> None:
    keystore = services.keystore_secret_create(organization=organization, name="HS256", actor=actor)
    keystore.refresh_from_db()
    assert (keystore.kind, keystore.source) == (Keystore.Kind.SECRET, Keystore.Source.GENERATED)
    assert (keystore.key_type, keystore.key_size) == ("oct", 256)
    assert (keystore.certificate_pem, keystore.not_after) == ("", None)
    assert len(keycache.keystore_secret(keystore)) == 32
    event = AuditEvent.objects.get(action="keystore.secret")
    assert (event.outcome, event.detail) == ("success", {"bits": 256})


def test_two_generated_secrets_differ(organization: Organization, actor: Actor) -> None:
    first = services.keystore_secret_create(organization=organization, name="One", actor=actor)
    second = services.keystore_secret_create(organization=organization, name="Two", actor=actor)
    assert keycache.keystore_secret(first) != keycache.keystore_secret(second)


def test_uploaded_secret_of_32_bytes_is_accepted(organization: Organization, actor: Actor) -> None:
    secret = bytes(range(100, 132))
    keystore = services.keystore_secret_create(
        organization=organization, name="HS256", secret=secret.hex().encode(), actor=actor
    )
    assert keystore.source == Keystore.Source.SECRET
    assert keystore.key_size == 256
    assert keycache.keystore_secret(keystore) == secret


def test_uploaded_secret_of_31_bytes_is_refused(organization: Organization, actor: Actor) -> None:
    with pytest.raises(KeyMaterialError) as caught:
        services.keystore_secret_create(
            organization=organization, name="HS256", secret=bytes(range(100, 131)).hex().encode(), actor=actor
        )
    assert (caught.value.code, caught.value.field) == ("secret_too_short", "secret")
    assert not Keystore.objects.exists()
    [event] = failures("keystore.secret")
    assert event.detail["code"] == "secret_too_short"
    assert bytes(range(100, 131)).hex() not in str(event.detail)


def test_secret_under_a_taken_name_is_refused(organization: Organization, actor: Actor, keystore: Keystore) -> None:
    with pytest.raises(ValidationError):
        services.keystore_secret_create(organization=organization, name="JWT Keystore", actor=actor)
    assert Keystore.objects.count() == 1
    assert len(failures("keystore.secret")) == 1


# truststore_import


def test_truststore_import_keeps_the_certificates_in_order(truststore: Truststore) -> None:
    assert list(truststore.certificates.values_list("position", "subject")) == [
        (0, "CN=Test Root CA"),
        (1, "CN=Test Intermediate CA"),
    ]
    event = AuditEvent.objects.get(action="truststore.import")
    assert event.outcome == "success"
    assert event.detail["fingerprints_sha256"] == list(
        truststore.certificates.values_list("fingerprint_sha256", flat=True)
    )


def test_truststore_import_of_one_der_certificate(organization: Organization, actor: Actor) -> None:
    truststore = services.truststore_import(
        organization=organization, name="One", data=der_of(fx.CERT2_PEM), actor=actor, now=NOW
    )
    assert list(truststore.certificates.values_list("subject", flat=True)) == ["CN=other.example"]


@pytest.mark.parametrize(
    ("bad", "good", "code"),
    [
        (fx.CA_CERT_PEM + fx.EXPIRED_CERT1_PEM, fx.CA_CERT_PEM + fx.CERT1_PEM, "certificate_expired"),
        (fx.CA_CERT_PEM + fx.KEY1_PEM, fx.CA_CERT_PEM + fx.CERT1_PEM, "not_a_certificate"),
        (fx.RSA1024_CERT_PEM, fx.CERT1_PEM, "rsa_key_too_small"),
        ("junk\n" + fx.CA_CERT_PEM, fx.CA_CERT_PEM, "junk_around_pem"),
    ],
)
def test_truststore_refusal_stores_nothing_and_is_audited(
    organization: Organization, actor: Actor, bad: str, good: str, code: str
) -> None:
    with pytest.raises(KeyMaterialError) as caught:
        services.truststore_import(organization=organization, name="Partners", data=pem(bad), actor=actor, now=NOW)
    assert caught.value.code == code
    assert not Truststore.objects.exists()
    assert not TrustedCertificate.objects.exists()
    [event] = failures("truststore.import")
    assert event.detail["code"] == code
    services.truststore_import(organization=organization, name="Partners", data=pem(good), actor=actor, now=NOW)
    assert Truststore.objects.count() == 1


def test_truststore_under_a_taken_name_is_refused(
    organization: Organization, actor: Actor, truststore: Truststore
) -> None:
    with pytest.raises(ValidationError) as caught:
        services.truststore_import(organization=organization, name="Partners", data=pem(fx.CERT1_PEM), actor=actor)
    assert caught.value.message_dict == {"name": ["A truststore named 'Partners' already exists in personal."]}
    assert TrustedCertificate.objects.count() == 2
    assert len(failures("truststore.import")) == 1
    services.truststore_import(organization=organization, name="Partners 2", data=pem(fx.CERT1_PEM), actor=actor)


# keyprofile_create


@pytest.mark.parametrize(
    ("title", "name"),
    [
        ("JWT Keyprofile", "jwt-keyprofile"),
        ("  My   Profile 2 ", "my-profile-2"),
        ("Schlüssel Profil", "schlussel-profil"),
    ],
)
def test_profile_name_is_the_slug_of_its_title(
    organization: Organization, actor: Actor, keystore: Keystore, title: str, name: str
) -> None:
    profile = services.keyprofile_create(organization=organization, title=title, keystore=keystore, actor=actor)
    assert (profile.title, profile.name, profile.version) == (title, name, "1.0.0")
    assert profile.crypto_object_prefix == f"tlsp-{name}V1.0.0"
    event = AuditEvent.objects.get(action="keyprofile.create")
    assert event.detail == {"keystore": "JWT Keystore", "truststore": None}


@pytest.mark.parametrize("version", ["1.0", "v1.0.0", "01.0.0", "1.0.0-beta", "1.0.0 ", ""])
def test_profile_version_that_is_not_semver_is_refused(
    organization: Organization, actor: Actor, keystore: Keystore, version: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        services.keyprofile_create(
            organization=organization, title="JWT Keyprofile", version=version, keystore=keystore, actor=actor
        )
    assert "version" in caught.value.message_dict
    assert not KeyProfile.objects.exists()


@pytest.mark.parametrize("version", ["1.0.0", "0.0.1", "10.20.30"])
def test_profile_semver_is_accepted(organization: Organization, actor: Actor, keystore: Keystore, version: str) -> None:
    profile = services.keyprofile_create(
        organization=organization, title="JWT Keyprofile", version=version, keystore=keystore, actor=actor
    )
    assert profile.version == version


def test_profile_is_unique_per_organization_name_and_version(
    organization: Organization, actor: Actor, keystore: Keystore
) -> None:
    services.keyprofile_create(organization=organization, title="JWT Keyprofile", keystore=keystore, actor=actor)
    with pytest.raises(ValidationError):
        # Another title with the same slug names the same profile.
        services.keyprofile_create(organization=organization, title="jwt  keyprofile", keystore=keystore, actor=actor)
    assert KeyProfile.objects.count() == 1
    services.keyprofile_create(
        organization=organization, title="JWT Keyprofile", version="1.0.1", keystore=keystore, actor=actor
    )
    assert KeyProfile.objects.count() == 2


def test_same_profile_in_another_organization_is_accepted(
    organization: Organization, other_organization: Organization, actor: Actor, keystore: Keystore
) -> None:
    services.keyprofile_create(organization=organization, title="JWT Keyprofile", keystore=keystore, actor=actor)
    other_keystore = import_keystore(other_organization, actor)
    services.keyprofile_create(
        organization=other_organization, title="JWT Keyprofile", keystore=other_keystore, actor=actor
    )
    assert KeyProfile.objects.filter(name="jwt-keyprofile", version="1.0.0").count() == 2


def test_profile_title_without_letters_or_digits_is_refused(
    organization: Organization, actor: Actor, keystore: Keystore
) -> None:
    with pytest.raises(ValidationError) as caught:
        services.keyprofile_create(organization=organization, title="!!! ???", keystore=keystore, actor=actor)
    assert caught.value.message_dict == {
        "title": ["The title must contain letters or digits to derive the profile name."]
    }
    services.keyprofile_create(organization=organization, title="!!! 1 ???", keystore=keystore, actor=actor)


def test_profile_without_keystore_or_truststore_is_refused(organization: Organization, actor: Actor) -> None:
    with pytest.raises(ValidationError, match=re.escape("A key profile needs a keystore, a truststore, or both.")):
        services.keyprofile_create(organization=organization, title="JWT Keyprofile", actor=actor)
    assert not KeyProfile.objects.exists()


def test_profile_with_another_organizations_keystore_is_refused(
    organization: Organization, other_organization: Organization, actor: Actor, keystore: Keystore
) -> None:
    with pytest.raises(ValidationError) as caught:
        services.keyprofile_create(organization=other_organization, title="Stolen", keystore=keystore, actor=actor)
    assert caught.value.message_dict == {"keystore": ["The keystore belongs to another organization."]}
    assert not KeyProfile.objects.exists()


def test_profile_with_another_organizations_truststore_is_refused(
    organization: Organization, other_organization: Organization, actor: Actor, truststore: Truststore
) -> None:
    with pytest.raises(ValidationError) as caught:
        services.keyprofile_create(organization=other_organization, title="Stolen", truststore=truststore, actor=actor)
    assert caught.value.message_dict == {"truststore": ["The truststore belongs to another organization."]}
    services.keyprofile_create(organization=organization, title="Own", truststore=truststore, actor=actor)


def test_profile_created_with_catalogs_is_enabled_there(
    organization: Organization, actor: Actor, keystore: Keystore, sandbox: Catalog, production: Catalog
) -> None:
    profile = services.keyprofile_create(
        organization=organization,
        title="JWT Keyprofile",
        keystore=keystore,
        catalogs=[sandbox, production],
        actor=actor,
    )
    assert set(profile.bindings.values_list("catalog__slug", flat=True)) == {"sandbox", "production"}
    assert CryptoObject.objects.count() == 4


def test_profile_create_enabling_in_a_foreign_catalog_creates_nothing(
    organization: Organization, other_organization: Organization, actor: Actor, keystore: Keystore
) -> None:
    foreign = other_organization.catalogs.get(slug="sandbox")
    with pytest.raises(ValidationError):
        services.keyprofile_create(
            organization=organization, title="JWT Keyprofile", keystore=keystore, catalogs=[foreign], actor=actor
        )
    assert not KeyProfile.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="keyprofile.").exists()


# keyprofile_enable


def names() -> list[str]:
    return list(CryptoObject.objects.order_by("name").values_list("name", flat=True))


def test_enable_creates_the_key_and_certificate_objects_under_apic_names(
    organization: Organization, actor: Actor, keystore: Keystore, sandbox: Catalog
) -> None:
    profile = services.keyprofile_create(
        organization=organization, title="JWT Keyprofile", keystore=keystore, actor=actor
    )
    assert names() == []
    binding = services.keyprofile_enable(profile=profile, catalog=sandbox, actor=actor)
    assert list(
        binding.crypto_objects.order_by("name").values_list("name", "role", "keystore", "trusted_certificate")
    ) == [
        ("personal_sandbox_tlsp-jwt-keyprofileV1.0.0-ca-0", "certificate", keystore.pk, None),
        ("personal_sandbox_tlsp-jwt-keyprofileV1.0.0-key", "key", keystore.pk, None),
    ]
    event = AuditEvent.objects.get(action="keyprofile.enable")
    assert event.detail == {
        "catalog": "sandbox",
        "crypto_objects": [
            "personal_sandbox_tlsp-jwt-keyprofileV1.0.0-key",
            "personal_sandbox_tlsp-jwt-keyprofileV1.0.0-ca-0",
        ],
    }


def test_enable_in_production_and_another_version_derives_those_names(
    organization: Organization, actor: Actor, keystore: Keystore, production: Catalog
) -> None:
    profile = services.keyprofile_create(
        organization=organization, title="JWT Keyprofile", version="2.0.1", keystore=keystore, actor=actor
    )
    services.keyprofile_enable(profile=profile, catalog=production, actor=actor)
    assert names() == [
        "personal_production_tlsp-jwt-keyprofileV2.0.1-ca-0",
        "personal_production_tlsp-jwt-keyprofileV2.0.1-key",
    ]


def test_enable_numbers_truststore_certificates_after_the_keystore_certificate(
    organization: Organization, actor: Actor, keystore: Keystore, truststore: Truststore, sandbox: Catalog
) -> None:
    profile = services.keyprofile_create(
        organization=organization, title="JWT Keyprofile", keystore=keystore, truststore=truststore, actor=actor
    )
    services.keyprofile_enable(profile=profile, catalog=sandbox, actor=actor)
    prefix = "personal_sandbox_tlsp-jwt-keyprofileV1.0.0"
    objects = {o.name: o for o in CryptoObject.objects.all()}
    assert sorted(objects) == [f"{prefix}-ca-0", f"{prefix}-ca-1", f"{prefix}-ca-2", f"{prefix}-key"]
    assert objects[f"{prefix}-ca-0"].keystore == keystore
    assert objects[f"{prefix}-ca-1"].trusted_certificate.subject == "CN=Test Root CA"  # type: ignore[union-attr]
    assert objects[f"{prefix}-ca-2"].trusted_certificate.subject == "CN=Test Intermediate CA"  # type: ignore[union-attr]


def test_enable_of_a_truststore_only_profile_starts_at_ca_0(
    organization: Organization, actor: Actor, truststore: Truststore, sandbox: Catalog
) -> None:
    profile = services.keyprofile_create(
        organization=organization, title="Partners", truststore=truststore, catalogs=[sandbox], actor=actor
    )
    assert profile.keystore is None
    assert list(CryptoObject.objects.order_by("name").values_list("name", "role")) == [
        ("personal_sandbox_tlsp-partnersV1.0.0-ca-0", "certificate"),
        ("personal_sandbox_tlsp-partnersV1.0.0-ca-1", "certificate"),
    ]


def test_enable_of_a_secret_profile_exposes_only_the_secret(
    organization: Organization, actor: Actor, sandbox: Catalog
) -> None:
    secret = services.keystore_secret_create(organization=organization, name="HS256", actor=actor)
    services.keyprofile_create(
        organization=organization, title="HMAC", keystore=secret, catalogs=[sandbox], actor=actor
    )
    assert list(CryptoObject.objects.values_list("name", "role")) == [
        ("personal_sandbox_tlsp-hmacV1.0.0-key", "secret")
    ]


def test_enable_is_idempotent(organization: Organization, actor: Actor, keystore: Keystore, sandbox: Catalog) -> None:
    profile = services.keyprofile_create(
        organization=organization, title="JWT Keyprofile", keystore=keystore, actor=actor
    )
    first = services.keyprofile_enable(profile=profile, catalog=sandbox, actor=actor)
    second = services.keyprofile_enable(profile=profile, catalog=sandbox, actor=actor)
    assert first == second
    assert KeyProfileBinding.objects.count() == 1
    assert CryptoObject.objects.count() == 2
    assert AuditEvent.objects.filter(action="keyprofile.enable").count() == 1


def test_enable_in_another_organizations_catalog_is_refused(
    organization: Organization, other_organization: Organization, actor: Actor, keystore: Keystore, sandbox: Catalog
) -> None:
    profile = services.keyprofile_create(
        organization=organization, title="JWT Keyprofile", keystore=keystore, actor=actor
    )
    with pytest.raises(ValidationError) as caught:
        services.keyprofile_enable(profile=profile, catalog=other_organization.catalogs.get(), actor=actor)
    assert caught.value.message_dict == {"catalog": ["The catalog belongs to another organization than the profile."]}
    assert not KeyProfileBinding.objects.exists()
    assert not CryptoObject.objects.exists()
    services.keyprofile_enable(profile=profile, catalog=sandbox, actor=actor)
    assert CryptoObject.objects.count() == 2


def test_enable_bumps_the_configuration_version_once_committed(
    organization: Organization,
    actor: Actor,
    keystore: Keystore,
    sandbox: Catalog,
    django_capture_on_commit_callbacks: Any,
) -> None:
    profile = services.keyprofile_create(
        organization=organization, title="JWT Keyprofile", keystore=keystore, actor=actor
    )
    before = current_version()
    with django_capture_on_commit_callbacks(execute=True):
        services.keyprofile_enable(profile=profile, catalog=sandbox, actor=actor)
    assert current_version() == before + 1
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.keyprofile_enable(profile=profile, catalog=sandbox, actor=actor)  # already enabled: no change
    assert callbacks == []
    assert current_version() == before + 1


# keystore_delete


def test_delete_of_a_keystore_in_use_is_refused(organization: Organization, actor: Actor, keystore: Keystore) -> None:
    services.keyprofile_create(organization=organization, title="JWT Keyprofile", keystore=keystore, actor=actor)
    with pytest.raises(ValidationError) as caught:
        services.keystore_delete(keystore=keystore, actor=actor)
    assert caught.value.messages == ["Keystore 'JWT Keystore' is used by key profile(s) jwt-keyprofile 1.0.0."]
    assert Keystore.objects.filter(pk=keystore.pk).exists()
    assert not AuditEvent.objects.filter(action="keystore.delete").exists()


def test_delete_of_an_unused_keystore(organization: Organization, actor: Actor, keystore: Keystore) -> None:
    fingerprint, pk = keystore.fingerprint_sha256, keystore.pk
    services.keystore_delete(keystore=keystore, actor=actor)
    assert not Keystore.objects.filter(pk=pk).exists()
    event = AuditEvent.objects.get(action="keystore.delete")
    assert (event.object_id, event.object_repr, event.detail) == (
        str(pk),
        "JWT Keystore",
        {"fingerprint_sha256": fingerprint},
    )


# The recorded source of an upload


def test_pem_upload_with_a_byte_order_mark_is_recorded_as_pem(organization: Organization, actor: Actor) -> None:
    keystore = import_keystore(organization, actor, **{**KEY1, "certificate": b"\xef\xbb\xbf" + pem(fx.CERT1_PEM)})
    assert keystore.source == Keystore.Source.PEM


def test_pem_upload_with_leading_whitespace_is_recorded_as_pem(organization: Organization, actor: Actor) -> None:
    keystore = import_keystore(organization, actor, **{**KEY1, "certificate": b"\r\n  " + pem(fx.CERT1_PEM)})
    assert keystore.source == Keystore.Source.PEM
