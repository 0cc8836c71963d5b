"""Every REST resource against every role: auditors read and never write, signers neither read nor manage,
another organization's key meets 404, and operators may do all of it (the positive twin of each row)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from keyprofiles import services as keyprofile_services
from portal.models import Organization
from portal.services import Actor
from tests import keyfixtures
from tests.api import MakeKey, bearer

ORG = "/api/v1/orgs/personal"
READS = [
    "",
    "/catalogs",
    "/catalogs/sandbox",
    "/catalogs/sandbox/crypto-objects",
    "/audit-events",
    "/api-keys",
    "/keystores",
    "/keystores/JWT Keystore",
    "/truststores",
    "/truststores/Verifiers",
    "/key-profiles",
    "/key-profiles/jwt-keyprofile",
    "/expiring-keys",
]
# (method, path, body): each refused to auditors and signers, before any change
WRITES = [
    ("post", "/catalogs", {"slug": "production", "title": "Production"}),
    ("delete", "/catalogs/sandbox", None),
    ("post", "/api-keys", {"name": "new", "role": "auditor"}),
    ("post", "/keystores", {"name": "New", "generate": {"common_name": "x", "key_type": "EC"}}),
    ("delete", "/keystores/JWT Keystore", None),
    ("post", "/truststores", {"name": "T", "certificates": keyfixtures.CA_CERT_PEM}),
    ("delete", "/truststores/Verifiers", None),
    ("post", "/key-profiles", {"title": "Other", "keystore": "JWT Keystore"}),
]


@pytest.fixture
def client(organization: Organization) -> APIClient:
    """A client, with the demo's key material in place: a keystore and a key profile enabled in sandbox."""
    keystore = keyprofile_services.keystore_import(
        organization=organization,
        name="JWT Keystore",
        certificate=keyfixtures.CERT1_PEM.encode(),
        private_key=keyfixtures.KEY1_PEM.encode(),
        actor=Actor(name="test"),
    )
    truststore = keyprofile_services.truststore_import(
        organization=organization, name="Verifiers", data=keyfixtures.CA_CERT_PEM.encode(), actor=Actor(name="test")
    )
    keyprofile_services.keyprofile_create(
        organization=organization,
        title="JWT Keyprofile",
        keystore=keystore,
        truststore=truststore,
        catalogs=[organization.catalogs.get(slug="sandbox")],
        actor=Actor(name="test"),
    )
    return APIClient()


@pytest.fixture(autouse=True)
def _fresh(fresh_api_state: None) -> None:
    """Every test here starts with an empty API key lookup and empty rate counters."""


@pytest.mark.parametrize("path", READS)
def test_auditors_and_operators_read_every_resource(client: APIClient, make_key: MakeKey, path: str) -> None:
    assert client.get(f"{ORG}{path}", **bearer(make_key("auditor"))).status_code == 200
    assert client.get(f"{ORG}{path}", **bearer(make_key("operator"))).status_code == 200


@pytest.mark.parametrize("path", READS[1:])
def test_a_signer_reads_no_resource(client: APIClient, make_key: MakeKey, path: str) -> None:
    assert client.get(f"{ORG}{path}", **bearer(make_key("signer"))).status_code == 403


@pytest.mark.parametrize("path", READS)
def test_another_organizations_operator_meets_404(
    client: APIClient, make_key: MakeKey, other_organization: Organization, path: str
) -> None:
    assert client.get(f"{ORG}{path}", **bearer(make_key(organization=other_organization))).status_code == 404


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
@pytest.mark.parametrize("role", ["auditor", "signer"])
def test_auditors_and_signers_change_nothing(
    client: APIClient, make_key: MakeKey, method: str, path: str, body: object, role: str
) -> None:
    response = getattr(client, method)(f"{ORG}{path}", body, format="json", **bearer(make_key(role)))
    assert response.status_code == 403


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_operators_make_each_change(client: APIClient, make_key: MakeKey, method: str, path: str, body: object) -> None:
    response = getattr(client, method)(f"{ORG}{path}", body, format="json", **bearer(make_key("operator")))
    # The sandbox and a keystore in use are refused for what they are (409), not for who asks.
    expected = 409 if method == "delete" else 201
    assert response.status_code == expected, response.content
