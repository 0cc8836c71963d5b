"""keyprofiles.selectors: crypto object lists, expiring certificates, and key material for policies."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from keyprofiles import selectors, services
from keyprofiles.models import CryptoObject, KeyProfile, Keystore, Truststore
from portal.models import Catalog, Organization
from portal.services import Actor, organization_create
from tests import keyfixtures as fx
from tokens.jose import JwsKey

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_uint(value: int, length: int | None = None) -> str:
    return b64url(value.to_bytes(length or (value.bit_length() + 7) // 8, "big"))


def rfc7638_thumbprint(certificate_pem: str) -> str:
    """RFC 7638 section 3, computed here from the certificate without the code under test."""
    public_key = x509.load_pem_x509_certificate(certificate_pem.encode()).public_key()
    if isinstance(public_key, rsa.RSAPublicKey):
        numbers = public_key.public_numbers()
        members = f'{{"e":"{b64url_uint(numbers.e)}","kty":"RSA","n":"{b64url_uint(numbers.n)}"}}'
    else:
        assert isinstance(public_key, ec.EllipticCurvePublicKey)
        size = (public_key.curve.key_size + 7) // 8
        point = public_key.public_numbers()
        crv = {"secp256r1": "P-256", "secp384r1": "P-384"}[public_key.curve.name]
        members = f'{{"crv":"{crv}","kty":"EC","x":"{b64url_uint(point.x, size)}","y":"{b64url_uint(point.y, size)}"}}'
    return b64url(hashlib.sha256(members.encode()).digest())


def import_key1(organization: Organization, actor: Actor, name: str = "JWT Keystore") -> Keystore:
    return services.keystore_import(
        organization=organization,
        name=name,
        certificate=fx.CERT1_PEM.encode(),
        private_key=fx.KEY1_PEM.encode(),
        actor=actor,
        now=NOW,
    )


def generate(organization: Organization, actor: Actor, name: str, *, days: int, now: datetime = NOW) -> Keystore:
    return services.keystore_generate(
        organization=organization,
        name=name,
        common_name=f"{days}.example",
        key_type="EC",
        days=days,
        actor=actor,
        now=now,
    )


@pytest.fixture
def landscape(organization: Organization, sandbox: Catalog, production: Catalog, actor: Actor) -> KeyProfile:
    """personal: a profile in sandbox and production; acme: a profile in its sandbox."""
    profile = services.keyprofile_create(
        organization=organization,
        title="JWT Keyprofile",
        keystore=import_key1(organization, actor),
        catalogs=[sandbox, production],
        actor=actor,
    )
    acme = organization_create(slug="acme", title="Acme")
    services.keyprofile_create(
        organization=acme,
        title="Acme Profile",
        keystore=import_key1(acme, actor),
        catalogs=[acme.catalogs.get()],
        actor=actor,
    )
    return profile


# crypto_object_list


def listed(**filters: str | None) -> list[str]:
    return [o.name for o in selectors.crypto_object_list(**filters)]


def test_crypto_object_list_without_filters_lists_everything_by_name(landscape: KeyProfile) -> None:
    assert listed() == [
        "acme_sandbox_tlsp-acme-profileV1.0.0-ca-0",
        "acme_sandbox_tlsp-acme-profileV1.0.0-key",
        "personal_production_tlsp-jwt-keyprofileV1.0.0-ca-0",
        "personal_production_tlsp-jwt-keyprofileV1.0.0-key",
        "personal_sandbox_tlsp-jwt-keyprofileV1.0.0-ca-0",
        "personal_sandbox_tlsp-jwt-keyprofileV1.0.0-key",
    ]


def test_crypto_object_list_by_organization(landscape: KeyProfile) -> None:
    assert listed(organization="acme") == [
        "acme_sandbox_tlsp-acme-profileV1.0.0-ca-0",
        "acme_sandbox_tlsp-acme-profileV1.0.0-key",
    ]


def test_crypto_object_list_by_catalog_spans_organizations(landscape: KeyProfile) -> None:
    assert listed(catalog="sandbox") == [
        "acme_sandbox_tlsp-acme-profileV1.0.0-ca-0",
        "acme_sandbox_tlsp-acme-profileV1.0.0-key",
        "personal_sandbox_tlsp-jwt-keyprofileV1.0.0-ca-0",
        "personal_sandbox_tlsp-jwt-keyprofileV1.0.0-key",
    ]


def test_crypto_object_list_by_organization_and_catalog(landscape: KeyProfile) -> None:
    assert listed(organization="personal", catalog="production") == [
        "personal_production_tlsp-jwt-keyprofileV1.0.0-ca-0",
        "personal_production_tlsp-jwt-keyprofileV1.0.0-key",
    ]
    assert listed(organization="acme", catalog="production") == []


def test_crypto_object_as_dict_holds_public_facts_only(landscape: KeyProfile) -> None:
    crypto_object = CryptoObject.objects.get(name="personal_sandbox_tlsp-jwt-keyprofileV1.0.0-key")
    facts = selectors.crypto_object_as_dict(crypto_object, now=NOW)
    assert facts == {
        "name": "personal_sandbox_tlsp-jwt-keyprofileV1.0.0-key",
        "role": "key",
        "organization": "personal",
        "catalog": "sandbox",
        "profile": "jwt-keyprofile",
        "profile_version": "1.0.0",
        "fingerprint_sha256": landscape.keystore.fingerprint_sha256,  # type: ignore[union-attr]
        "subject": "CN=test.example",
        "issuer": "CN=test.example",
        "key_type": "RSA",
        "key_size": 2048,
        "not_before": "2025-01-01T00:00:00+00:00",
        "not_after": "2125-01-01T00:00:00+00:00",
        "days_to_expiry": (datetime(2125, 1, 1, tzinfo=UTC) - NOW).days,
    }
    json.dumps(facts)  # serializable as it is


def test_crypto_object_as_dict_of_a_secret(organization: Organization, sandbox: Catalog, actor: Actor) -> None:
    secret = services.keystore_secret_create(organization=organization, name="HS256", actor=actor)
    services.keyprofile_create(
        organization=organization, title="HMAC", keystore=secret, catalogs=[sandbox], actor=actor
    )
    facts = selectors.crypto_object_as_dict(CryptoObject.objects.get())
    assert (facts["role"], facts["key_type"], facts["key_size"]) == ("secret", "oct", 256)
    assert "fingerprint_sha256" not in facts


# certificates_expiring


def test_certificates_expiring_finds_only_what_expires_within_the_horizon(
    organization: Organization, actor: Actor
) -> None:
    generate(organization, actor, "Short", days=10)
    generate(organization, actor, "Long", days=365)
    assert [item.store for item in selectors.certificates_expiring(within_days=30, now=NOW)] == ["Short"]
    assert [item.store for item in selectors.certificates_expiring(within_days=365, now=NOW)] == ["Short", "Long"]
    assert selectors.certificates_expiring(within_days=9, now=NOW) == []


def test_certificates_expiring_horizon_includes_its_last_moment(organization: Organization, actor: Actor) -> None:
    generate(organization, actor, "Short", days=10)
    assert [item.store for item in selectors.certificates_expiring(within_days=10, now=NOW)] == ["Short"]
    a_second_earlier = NOW - timedelta(seconds=1)
    assert selectors.certificates_expiring(within_days=10, now=a_second_earlier) == []


def test_certificates_expiring_includes_expired_ones(organization: Organization, actor: Actor) -> None:
    generate(organization, actor, "Old", days=30, now=NOW - timedelta(days=60))
    [item] = selectors.certificates_expiring(within_days=0, now=NOW)
    assert (item.kind, item.store, item.organization) == ("keystore", "Old", "personal")
    assert item.certificate.days_to_expiry(NOW) == -30


def test_certificates_expiring_ignores_shared_secrets(organization: Organization, actor: Actor) -> None:
    services.keystore_secret_create(organization=organization, name="HS256", actor=actor)
    assert selectors.certificates_expiring(within_days=100_000, now=NOW) == []


def test_certificates_expiring_reports_keystores_and_truststores(
    organization: Organization, actor: Actor, sandbox: Catalog
) -> None:
    truststore = services.truststore_import(
        organization=organization, name="Partners", data=fx.CA_CERT_PEM.encode(), actor=actor, now=NOW
    )
    generate(organization, actor, "Short", days=10)
    found = selectors.certificates_expiring(within_days=40_000, now=NOW)
    assert [(item.kind, item.store, item.organization, item.catalogs) for item in found] == [
        ("keystore", "Short", "personal", []),
        ("truststore", "Partners", "personal", []),
    ]
    assert found[1].certificate == truststore.certificates.get()


def test_certificate_catalogs_of_a_truststore_certificate_in_two_catalogs(
    organization: Organization, actor: Actor, sandbox: Catalog, production: Catalog
) -> None:
    truststore = services.truststore_import(
        organization=organization, name="Partners", data=fx.CA_CERT_PEM.encode(), actor=actor, now=NOW
    )
    services.keyprofile_create(
        organization=organization, title="Partners", truststore=truststore, catalogs=[sandbox, production], actor=actor
    )
    assert selectors.certificate_catalogs(truststore.certificates.get()) == ["personal/production", "personal/sandbox"]


def test_certificate_catalogs_of_an_enabled_keystore_names_each_catalog_once(
    organization: Organization, actor: Actor, sandbox: Catalog
) -> None:
    keystore = generate(organization, actor, "Short", days=10)
    services.keyprofile_create(
        organization=organization, title="JWT Keyprofile", keystore=keystore, catalogs=[sandbox], actor=actor
    )
    [item] = selectors.certificates_expiring(within_days=30, now=NOW)
    assert item.catalogs == ["personal/sandbox"]


# crypto_material


def test_crypto_material_of_a_private_key_has_the_rfc7638_kid(landscape: KeyProfile) -> None:
    crypto_object = CryptoObject.objects.get(name="personal_sandbox_tlsp-jwt-keyprofileV1.0.0-key")
    material = selectors.crypto_material(crypto_object)
    assert material.kid == rfc7638_thumbprint(fx.CERT1_PEM)
    assert material.role == "key"
    assert material.private_key is not None
    assert material.public_key is not None
    assert material.private_key.public_key().public_numbers() == material.public_key.public_numbers()
    assert material.not_after == datetime(2125, 1, 1, tzinfo=UTC)


def test_crypto_material_of_the_certificate_has_the_same_kid_and_no_private_key(landscape: KeyProfile) -> None:
    crypto_object = CryptoObject.objects.get(name="personal_sandbox_tlsp-jwt-keyprofileV1.0.0-ca-0")
    material = selectors.crypto_material(crypto_object)
    assert material.kid == rfc7638_thumbprint(fx.CERT1_PEM)
    assert material.private_key is None
    assert material.public_key is not None
    assert "BEGIN CERTIFICATE" in material.certificate_pem


def test_crypto_material_of_an_ec_key_has_the_rfc7638_kid(
    organization: Organization, actor: Actor, sandbox: Catalog
) -> None:
    keystore = services.keystore_import(
        organization=organization,
        name="EC",
        certificate=fx.EC384_CERT_PEM.encode(),
        private_key=fx.EC384_KEY_PEM.encode(),
        actor=actor,
        now=NOW,
    )
    services.keyprofile_create(
        organization=organization, title="EC", keystore=keystore, catalogs=[sandbox], actor=actor
    )
    material = selectors.crypto_material(CryptoObject.objects.get(role="key"))
    assert material.kid == rfc7638_thumbprint(fx.EC384_CERT_PEM)
    assert isinstance(material.private_key, ec.EllipticCurvePrivateKey)


def test_crypto_material_of_a_truststore_certificate(
    organization: Organization, actor: Actor, sandbox: Catalog
) -> None:
    truststore = services.truststore_import(
        organization=organization, name="Partners", data=fx.CERT2_PEM.encode(), actor=actor, now=NOW
    )
    services.keyprofile_create(
        organization=organization, title="Partners", truststore=truststore, catalogs=[sandbox], actor=actor
    )
    material = selectors.crypto_material(CryptoObject.objects.get())
    assert (material.role, material.private_key) == ("certificate", None)
    assert material.kid == rfc7638_thumbprint(fx.CERT2_PEM)
    assert isinstance(truststore, Truststore)


def test_crypto_material_of_a_secret_has_the_oct_thumbprint_kid(
    organization: Organization, actor: Actor, sandbox: Catalog
) -> None:
    secret = bytes(range(64, 96))
    keystore = services.keystore_secret_create(
        organization=organization, name="HS256", secret=secret.hex().encode(), actor=actor
    )
    services.keyprofile_create(
        organization=organization, title="HMAC", keystore=keystore, catalogs=[sandbox], actor=actor
    )
    material = selectors.crypto_material(CryptoObject.objects.get())
    assert material.secret == secret
    assert (material.private_key, material.public_key) == (None, None)
    expected = b64url(hashlib.sha256(f'{{"k":"{b64url(secret)}","kty":"oct"}}'.encode()).digest())
    assert material.kid == expected


def test_one_kid_for_a_key_on_every_surface(landscape: KeyProfile) -> None:
    """The key id is computed once (keyprofiles.keymaterial.jwk): the crypto objects the policies sign and
    verify with, the keystore's public JWK (REST API, JWK download) and the token codec agree, and match
    RFC 7638 computed independently above."""
    keystore = landscape.keystore
    assert keystore is not None
    private, certificate = (
        selectors.crypto_material(CryptoObject.objects.get(name=f"personal_sandbox_tlsp-jwt-keyprofileV1.0.0-{end}"))
        for end in ("key", "ca-0")
    )
    public_jwk = selectors.keystore_public_jwk(keystore)
    assert public_jwk is not None
    assert private.private_key is not None
    kids = {
        "key crypto object": private.kid,
        "certificate crypto object": certificate.kid,
        "public JWK": public_jwk["kid"],
        "codec": JwsKey.from_private_key(private.private_key).thumbprint(),
    }
    assert set(kids.values()) == {rfc7638_thumbprint(fx.CERT1_PEM)}, kids
    assert JwsKey.from_jwk({k: v for k, v in public_jwk.items() if k != "kid"}).public_jwk() == {
        k: v for k, v in public_jwk.items() if k != "kid"
    }
