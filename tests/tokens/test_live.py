"""The gateway over real HTTP (pytest-django's live server), as Postman or curl would call it.

These run with transactional_db: the live server answers from its own thread, on committed data.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from email.message import Message
from typing import Any

import jwt
import pytest
from cryptography import x509

from keyprofiles.models import Keystore
from keyprofiles.services import keyprofile_create, keystore_import
from portal.models import Catalog, Organization
from portal.services import Actor
from tests.keyfixtures import CERT2_PEM, KEY1_PEM, KEY2_PEM
from tests.tokens.helpers import api_document, segment
from tokens.demo import DemoSummary
from tokens.services import api_publish, api_save

pytestmark = pytest.mark.slow

PARTNER_CERT_OBJECT = "personal_sandbox_tlsp-partner-keyprofileV1.0.0-ca-0"


def http_get(url: str, headers: dict[str, str]) -> tuple[int, Message, bytes]:
    """GET over a real socket; HTTP error statuses are answers here, not exceptions."""
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - the live server's http:// URL
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the live server's URL
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_the_demo_generate_then_validate_over_http(demo_generated: DemoSummary, live_server: Any) -> None:
    url = demo_generated.gateway_url(live_server.url)
    client = {"X-IBM-Client-Id": demo_generated.client_id}

    status, headers, body = http_get(f"{url}/generate", {**client, "iss-claim": "apic", "aud-claim": "id1"})
    assert (status, body) == (200, b"")
    assert headers["Cache-Control"] == "no-store"
    authorization = headers["Authorization"]  # what the Postman script stores in jwt_token
    assert authorization.startswith("Bearer ")

    status, headers, body = http_get(f"{url}/validate", {**client, "Authorization": authorization})
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == segment(authorization.removeprefix("Bearer "), 1)

    tampered = authorization[:-10] + ("A" if authorization[-10] != "A" else "B") + authorization[-9:]
    status, _, body = http_get(f"{url}/validate", {**client, "Authorization": tampered})
    assert status == 400
    assert body.startswith(b"JWT validation failed, because the JWT")


def test_gateway_tokens_verify_with_pyjwt_against_the_certificate(
    demo_generated: DemoSummary, live_server: Any
) -> None:
    url = demo_generated.gateway_url(live_server.url)
    headers = {"X-IBM-Client-Id": demo_generated.client_id, "iss-claim": "apic", "aud-claim": "id1"}
    certificate = x509.load_pem_x509_certificate(Keystore.objects.get(name="JWT Keystore").certificate_pem.encode())

    _, response_headers, _ = http_get(f"{url}/generate", headers)
    token = response_headers["Authorization"].removeprefix("Bearer ")

    claims = jwt.decode(token, certificate.public_key(), algorithms=["RS256"], audience="id1", issuer="apic")
    assert claims["exp"] - claims["iat"] == 60
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(token, certificate.public_key(), algorithms=["RS256"], audience="id2", issuer="apic")


def test_an_unknown_client_id_is_401_json_over_http(demo_generated: DemoSummary, live_server: Any) -> None:
    url = f"{demo_generated.gateway_url(live_server.url)}/generate"
    claims = {"iss-claim": "apic", "aud-claim": "id1"}

    known, _, _ = http_get(url, {"X-IBM-Client-Id": demo_generated.client_id, **claims})
    status, headers, body = http_get(url, {"X-IBM-Client-Id": "0" * 32, **claims})

    assert known == 200
    assert status == 401
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {
        "httpCode": "401",
        "httpMessage": "Unauthorized",
        "moreInformation": "Invalid client id or secret.",
    }


@pytest.fixture
def partner_api(organization: Organization, sandbox: Catalog, actor: Actor) -> str:
    """A partner's certificate (fixed key 2) in a key profile enabled in sandbox, and an API validating
    tokens with its ca-0 crypto object. Returns the client id of the Sandbox Test App."""
    keystore = keystore_import(
        organization=organization,
        name="Partner Keystore",
        certificate=CERT2_PEM.encode(),
        private_key=KEY2_PEM.encode(),
        actor=actor,
    )
    keyprofile_create(
        organization=organization, title="Partner Keyprofile", keystore=keystore, catalogs=[sandbox], actor=actor
    )
    validate = {
        "jwt-validate": {"title": "check", "iss-claim": "apic", "aud-claim": "id1", "jws-crypto": PARTNER_CERT_OBJECT}
    }
    answer = {"set-variable": {"title": "answer", "actions": [{"set": "message.body", "value": "$(decoded.claims)"}]}}
    api, _ = api_save(
        organization=organization,
        document=api_document(name="partner", base_path="/partner", paths=("/validate",), execute=[validate, answer]),
        actor=actor,
    )
    api_publish(api=api, catalog=sandbox, actor=actor)
    return str(sandbox.apps.get().client_id)


def test_a_pyjwt_token_signed_with_the_profile_key_validates_over_http(partner_api: str, live_server: Any) -> None:
    url = f"{live_server.url}/personal/sandbox/partner/validate"
    claims = {"iss": "apic", "aud": "id1", "sub": "partner-user", "exp": 4102444800}
    token = jwt.encode(claims, KEY2_PEM, algorithm="RS256")
    other_key = jwt.encode(claims, KEY1_PEM, algorithm="RS256")

    status, _, body = http_get(url, {"X-IBM-Client-Id": partner_api, "Authorization": f"Bearer {token}"})
    assert (status, json.loads(body)) == (200, claims)

    status, headers, body = http_get(url, {"X-IBM-Client-Id": partner_api, "Authorization": f"Bearer {other_key}"})
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert json.loads(body)["moreInformation"].startswith(
        "JWT validation failed, because the JWT signature does not verify"
    )
