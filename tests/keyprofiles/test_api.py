"""The key material resources: keystores (generate, upload), truststores, key profiles, crypto objects and
expiring keys, for every role; refusals store nothing; another organization's objects answer 404."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from keyprofiles import services
from keyprofiles.models import CryptoObject, KeyProfile, Keystore, Truststore
from portal.models import AuditEvent, Catalog, Organization
from portal.services import Actor
from tests import keyfixtures
from tests.api import MakeKey, bearer

ORG = "/api/v1/orgs/personal"
ACTOR = Actor(name="test")


@pytest.fixture(autouse=True)
def _fresh(fresh_api_state: None) -> None:
    """Every test here starts with an empty API key lookup and empty rate counters."""


@pytest.fixture
def client() -> APIClient:
    return APIClient()


def upload(name: str, content: str | bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content.encode() if isinstance(content, str) else content)


def generate_body(name: str = "JWT Keystore", **options: Any) -> dict[str, Any]:
    return {"name": name, "generate": {"common_name": "jwt.demo.local", "key_type": "EC", **options}}


@pytest.fixture
def operator(make_key: MakeKey) -> dict[str, str]:
    return bearer(make_key(name="ops"))


@pytest.fixture
def keystore(organization: Organization) -> Keystore:
    return services.keystore_import(
        organization=organization,
        name="JWT Keystore",
        certificate=keyfixtures.CERT1_PEM.encode(),
        private_key=keyfixtures.KEY1_PEM.encode(),
        actor=ACTOR,
    )


# -- keystores --------------------------------------------------------------------------------------------


def test_generate_a_keystore_from_json(client: APIClient, operator: dict[str, str]) -> None:
    response = client.post(f"{ORG}/keystores", generate_body(curve="P-384"), format="json", **operator)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["name"], body["key_type"], body["curve"], body["source"]) == (
        "JWT Keystore",
        "EC",
        "P-384",
        "generated",
    )
    assert body["public_jwk"]["kty"] == "EC"
    assert body["public_jwk"]["kid"]
    assert "d" not in body["public_jwk"]
    assert AuditEvent.objects.get(action="keystore.generate").actor == "api-key:personal/ops"


def test_generate_refuses_a_bad_option_naming_it(client: APIClient, operator: dict[str, str]) -> None:
    response = client.post(f"{ORG}/keystores", generate_body(key_type="DSA"), format="json", **operator)
    assert response.status_code == 400
    assert "generate.key_type" in response.json()["errors"]
    assert not Keystore.objects.exists()
    assert client.post(f"{ORG}/keystores", generate_body(key_type="EC"), format="json", **operator).status_code == 201


def test_upload_pem_key_and_certificate_as_multipart(client: APIClient, operator: dict[str, str]) -> None:
    data = {
        "name": "Uploaded",
        "certificate": upload("cert.pem", keyfixtures.CERT1_PEM),
        "private_key": upload("key.pem", keyfixtures.KEY1_ENCRYPTED_PEM),
        "password": keyfixtures.KEY1_PASSPHRASE.decode(),
    }
    response = client.post(f"{ORG}/keystores", data, format="multipart", **operator)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["key_type"], body["key_size"], body["source"]) == ("RSA", 2048, "pem")
    assert "PRIVATE" not in response.content.decode()
    assert keyfixtures.KEY1_PEM.splitlines()[1] not in response.content.decode()


def test_upload_pkcs12_with_its_password(client: APIClient, operator: dict[str, str]) -> None:
    data = {
        "name": "From P12",
        "pkcs12": upload("k.p12", keyfixtures.pkcs12_of(keyfixtures.KEY1_PKCS12_B64)),
        "password": keyfixtures.PKCS12_PASSWORD.decode(),
    }
    response = client.post(f"{ORG}/keystores", data, format="multipart", **operator)
    assert response.status_code == 201, response.content
    assert response.json()["source"] == "pkcs12"


def test_a_bad_upload_stores_nothing_and_audits_the_failure(client: APIClient, operator: dict[str, str]) -> None:
    data = {
        "name": "Wrong",
        "pkcs12": upload("k.p12", keyfixtures.pkcs12_of(keyfixtures.KEY1_PKCS12_B64)),
        "password": "not-the-password",
    }
    response = client.post(f"{ORG}/keystores", data, format="multipart", **operator)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "wrong_password"
    assert "password" in body["errors"]
    assert not Keystore.objects.exists()
    failure = AuditEvent.objects.get(action="keystore.import")
    assert failure.outcome == "failure"
    data["pkcs12"] = upload("k.p12", keyfixtures.pkcs12_of(keyfixtures.KEY1_PKCS12_B64))
    data["password"] = keyfixtures.PKCS12_PASSWORD.decode()
    assert client.post(f"{ORG}/keystores", data, format="multipart", **operator).status_code == 201


def test_a_key_that_does_not_match_its_certificate_is_refused(client: APIClient, operator: dict[str, str]) -> None:
    data = {
        "name": "Mismatch",
        "certificate": upload("cert.pem", keyfixtures.CERT2_PEM),
        "private_key": upload("key.pem", keyfixtures.KEY1_PEM),
    }
    response = client.post(f"{ORG}/keystores", data, format="multipart", **operator)
    assert response.status_code == 400
    assert not Keystore.objects.exists()
    data["certificate"] = upload("cert.pem", keyfixtures.CERT1_PEM)
    data["private_key"] = upload("key.pem", keyfixtures.KEY1_PEM)
    assert client.post(f"{ORG}/keystores", data, format="multipart", **operator).status_code == 201


def test_a_taken_keystore_name_is_409(client: APIClient, operator: dict[str, str], keystore: Keystore) -> None:
    response = client.post(f"{ORG}/keystores", generate_body(), format="json", **operator)
    assert response.status_code == 409
    assert response.json()["code"] == "name_taken"
    assert client.post(f"{ORG}/keystores", generate_body("Another"), format="json", **operator).status_code == 201


def test_read_a_keystore_by_name_with_its_public_jwk(client: APIClient, make_key: MakeKey, keystore: Keystore) -> None:
    auditor = bearer(make_key("auditor"))
    body = client.get(f"{ORG}/keystores/JWT Keystore", **auditor).json()
    assert body["public_jwk"]["kty"] == "RSA"
    assert set(body["public_jwk"]) == {"kty", "n", "e", "kid"}
    assert body["used_by"] == []
    listing = client.get(f"{ORG}/keystores?key_type=RSA", **auditor).json()
    assert [k["name"] for k in listing["results"]] == ["JWT Keystore"]
    assert "public_jwk" not in listing["results"][0]


def test_delete_a_keystore_refused_409_while_a_profile_uses_it(
    client: APIClient, operator: dict[str, str], keystore: Keystore, organization: Organization
) -> None:
    services.keyprofile_create(organization=organization, title="JWT Keyprofile", keystore=keystore, actor=ACTOR)
    response = client.delete(f"{ORG}/keystores/JWT Keystore", **operator)
    assert response.status_code == 409
    assert response.json()["code"] == "in_use"
    assert Keystore.objects.filter(name="JWT Keystore").exists()
    KeyProfile.objects.all().delete()
    assert client.delete(f"{ORG}/keystores/JWT Keystore", **operator).status_code == 204
    assert not Keystore.objects.exists()


def test_an_auditor_cannot_create_or_delete_keystores(client: APIClient, make_key: MakeKey, keystore: Keystore) -> None:
    auditor = bearer(make_key("auditor"))
    assert client.post(f"{ORG}/keystores", generate_body("X"), format="json", **auditor).status_code == 403
    assert client.delete(f"{ORG}/keystores/JWT Keystore", **auditor).status_code == 403
    assert Keystore.objects.count() == 1


def test_a_signer_cannot_see_keystores(
    client: APIClient, make_key: MakeKey, keystore: Keystore, signer_keyprofile: KeyProfile
) -> None:
    assert client.get(f"{ORG}/keystores", **bearer(make_key("signer"))).status_code == 403


def test_another_organizations_keystore_answers_404(
    client: APIClient, make_key: MakeKey, other_organization: Organization
) -> None:
    services.keystore_generate(
        organization=other_organization, name="Theirs", common_name="x", key_type="EC", actor=ACTOR
    )
    operator = bearer(make_key())
    assert client.get(f"{ORG}/keystores/Theirs", **operator).status_code == 404
    assert client.get("/api/v1/orgs/other/keystores/Theirs", **operator).status_code == 404
    assert client.delete("/api/v1/orgs/other/keystores/Theirs", **operator).status_code == 404
    assert Keystore.objects.filter(name="Theirs").exists()


# -- truststores ------------------------------------------------------------------------------------------


def test_create_a_truststore_from_json_pem_and_from_a_file(client: APIClient, operator: dict[str, str]) -> None:
    pem = keyfixtures.CA_CERT_PEM + keyfixtures.INTERMEDIATE_CERT_PEM
    created = client.post(f"{ORG}/truststores", {"name": "Partners", "certificates": pem}, format="json", **operator)
    assert created.status_code == 201, created.content
    assert len(created.json()["certificates"]) == 2
    as_file = {"name": "From file", "certificates": upload("ca.pem", keyfixtures.CA_CERT_PEM)}
    assert client.post(f"{ORG}/truststores", as_file, format="multipart", **operator).status_code == 201
    assert client.get(f"{ORG}/truststores/Partners", **operator).json()["certificates"][0]["subject"]


def test_a_bad_truststore_stores_nothing(client: APIClient, operator: dict[str, str]) -> None:
    response = client.post(
        f"{ORG}/truststores", {"name": "Bad", "certificates": "not a certificate"}, format="json", **operator
    )
    assert response.status_code == 400
    assert not Truststore.objects.exists()
    good = {"name": "Bad", "certificates": keyfixtures.CA_CERT_PEM}
    assert client.post(f"{ORG}/truststores", good, format="json", **operator).status_code == 201


# -- key profiles and crypto objects ----------------------------------------------------------------------


def test_create_a_key_profile_enabled_in_sandbox(
    client: APIClient, operator: dict[str, str], keystore: Keystore
) -> None:
    body = {"title": "JWT Keyprofile", "keystore": "JWT Keystore", "catalogs": ["sandbox"]}
    response = client.post(f"{ORG}/key-profiles", body, format="json", **operator)
    assert response.status_code == 201, response.content
    assert response.json() == {
        "name": "jwt-keyprofile",
        "title": "JWT Keyprofile",
        "version": "1.0.0",
        "crypto_objects": [
            "personal_sandbox_tlsp-jwt-keyprofileV1.0.0-key",
            "personal_sandbox_tlsp-jwt-keyprofileV1.0.0-ca-0",
        ],
    }
    detail = client.get(f"{ORG}/key-profiles/jwt-keyprofile", **operator).json()
    assert detail["versions"][0]["catalogs"][0]["state"] == "active"
    assert detail["versions"][0]["catalogs"][0]["catalog"] == "sandbox"


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"title": "P", "keystore": "Nope", "catalogs": ["sandbox"]}, "keystore", 400),
        ({"title": "P", "keystore": "JWT Keystore", "catalogs": ["nowhere"]}, "catalogs", 400),
        ({"title": "P", "keystore": "JWT Keystore", "version": "1.0"}, "version", 400),
        ({"title": "P"}, "", 400),
        ({"title": "P", "keystore": "JWT Keystore", "alg": "RS257"}, "alg", 400),
        ({"title": "P", "keystore": "JWT Keystore", "alg": "ES256"}, "algorithm", 400),
    ],
)
def test_key_profile_refusals_store_nothing(
    client: APIClient, operator: dict[str, str], keystore: Keystore, body: dict[str, Any], field: str, status: int
) -> None:
    response = client.post(f"{ORG}/key-profiles", body, format="json", **operator)
    assert response.status_code == status
    assert field in response.json()["errors"]
    assert not KeyProfile.objects.exists()


def test_a_key_profile_fixes_the_chosen_algorithm_of_its_keystore(
    client: APIClient, operator: dict[str, str], keystore: Keystore
) -> None:
    body = {"title": "JWT Keyprofile", "keystore": "JWT Keystore", "alg": "PS256"}
    assert client.post(f"{ORG}/key-profiles", body, format="json", **operator).status_code == 201
    keystore.refresh_from_db()
    assert keystore.algorithm == "PS256"


def test_a_duplicate_key_profile_version_is_409(
    client: APIClient, operator: dict[str, str], keystore: Keystore
) -> None:
    body = {"title": "JWT Keyprofile", "keystore": "JWT Keystore"}
    assert client.post(f"{ORG}/key-profiles", body, format="json", **operator).status_code == 201
    assert client.post(f"{ORG}/key-profiles", body, format="json", **operator).status_code == 409
    newer = {**body, "version": "1.0.1"}
    assert client.post(f"{ORG}/key-profiles", newer, format="json", **operator).status_code == 201


def test_crypto_objects_of_a_catalog(
    client: APIClient, make_key: MakeKey, keystore: Keystore, organization: Organization, production: Catalog
) -> None:
    sandbox = Catalog.objects.get(slug="sandbox")
    services.keyprofile_create(
        organization=organization, title="JWT Keyprofile", keystore=keystore, catalogs=[sandbox], actor=ACTOR
    )
    auditor = bearer(make_key("auditor"))
    listing = client.get(f"{ORG}/catalogs/sandbox/crypto-objects?role=key", **auditor).json()
    assert [o["name"] for o in listing["results"]] == ["personal_sandbox_tlsp-jwt-keyprofileV1.0.0-key"]
    assert listing["results"][0]["certificate"]["key_type"] == "RSA"
    assert client.get(f"{ORG}/catalogs/production/crypto-objects", **auditor).json()["count"] == 0
    assert client.get(f"{ORG}/catalogs/nowhere/crypto-objects", **auditor).status_code == 404
    assert CryptoObject.objects.count() == 2


def test_expiring_keys_within_days(client: APIClient, make_key: MakeKey, organization: Organization) -> None:
    soon = timezone.now() - timedelta(days=360)
    services.keystore_generate(
        organization=organization, name="Short", common_name="s", key_type="EC", days=365, now=soon, actor=ACTOR
    )
    services.keystore_generate(organization=organization, name="Long", common_name="l", key_type="EC", actor=ACTOR)
    auditor = bearer(make_key("auditor"))
    expiring = client.get(f"{ORG}/expiring-keys?within=30", **auditor).json()
    assert [(e["kind"], e["store"]) for e in expiring["results"]] == [("keystore", "Short")]
    assert client.get(f"{ORG}/expiring-keys?within=400", **auditor).json()["count"] == 2
    assert client.get(f"{ORG}/expiring-keys?within=-1", **auditor).status_code == 400


def test_an_oversized_upload_is_413_before_it_is_read(client: APIClient, operator: dict[str, str]) -> None:
    big = {"name": "Big", "pkcs12": upload("k.p12", b"\0" * (6 * 1024 * 1024)), "password": "x"}
    response = client.post(f"{ORG}/keystores", big, format="multipart", **operator)
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    one_mib_too_many = {"name": "Big", "pkcs12": upload("k.p12", b"\0" * (1024 * 1024 + 1)), "password": "x"}
    response = client.post(f"{ORG}/keystores", one_mib_too_many, format="multipart", **operator)
    assert response.status_code == 400
    assert response.json()["code"] == "file_too_large"
    assert not Keystore.objects.exists()


def test_delete_a_truststore_refused_409_while_a_profile_uses_it(
    client: APIClient, operator: dict[str, str], organization: Organization
) -> None:
    truststore = services.truststore_import(
        organization=organization, name="Partners", data=keyfixtures.CA_CERT_PEM.encode(), actor=ACTOR
    )
    services.keyprofile_create(organization=organization, title="Verify", truststore=truststore, actor=ACTOR)
    response = client.delete(f"{ORG}/truststores/Partners", **operator)
    assert response.status_code == 409
    assert response.json()["code"] == "in_use"
    KeyProfile.objects.all().delete()
    assert client.delete(f"{ORG}/truststores/Partners", **operator).status_code == 204
    assert not Truststore.objects.exists()
    assert AuditEvent.objects.filter(action="truststore.delete").count() == 1
