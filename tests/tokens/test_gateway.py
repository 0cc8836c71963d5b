"""The gateway and JWKS views through Django's test client: the demo flow and the HTTP contracts of
DESIGN.md section 4 (status codes, the JSON error shape, headers, and no database query once warm)."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from django.conf import LazySettings
from django.test import Client
from time_machine import TimeMachineFixture

from keyprofiles.models import KeyProfile, Keystore
from portal.models import Catalog
from portal.services import Actor
from tests.tokens.helpers import (
    HMAC_SECRET,
    NOW,
    api_document,
    b64url,
    demo_variant,
    flip,
    oct_jwk,
    segment,
    thumbprint,
)
from tokens.demo import DemoSummary
from tokens.models import Api
from tokens.services import api_publish, api_save, app_create, app_subscribe

BASE = "/personal/sandbox/securetoken"
UNAUTHORIZED = {"httpCode": "401", "httpMessage": "Unauthorized", "moreInformation": "Invalid client id or secret."}
QueryCounter = Callable[..., Any]


def generate(client: Client, client_id: str | None, **headers: str) -> Any:
    sent = {"iss-claim": "apic", "aud-claim": "id1", **headers}
    if client_id is not None:
        sent["X-IBM-Client-Id"] = client_id
    return client.get(f"{BASE}/generate", headers=sent)


def validate(client: Client, client_id: str, authorization: str, base: str = BASE) -> Any:
    return client.get(f"{base}/validate", headers={"X-IBM-Client-Id": client_id, "Authorization": authorization})


def token_of(response: Any) -> str:
    authorization = response["Authorization"]
    assert authorization.startswith("Bearer ")
    return str(authorization.removeprefix("Bearer "))


def publish(document: dict[str, Any], sandbox: Catalog, actor: Actor) -> Api:
    api, _ = api_save(organization=sandbox.organization, document=document, actor=actor)
    api_publish(api=api, catalog=sandbox, actor=actor)
    return api


# -- the demo flow ------------------------------------------------------------------------------------------


def test_generate_answers_with_a_bearer_token_as_apic_does(
    demo_generated: DemoSummary, client: Client, frozen: int
) -> None:
    response = generate(client, demo_generated.client_id, **{"iss-claim": "issuer-from-header", "aud-claim": "aud-x"})

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert response.content == b""
    token = token_of(response)
    keystore = Keystore.objects.get(name="JWT Keystore")
    public_key = x509.load_pem_x509_certificate(keystore.certificate_pem.encode()).public_key()
    header, claims = segment(token, 0), segment(token, 1)
    assert header == {"alg": "RS256", "typ": "JWT", "kid": header["kid"]}
    assert set(claims) == {"iss", "aud", "iat", "exp", "jti"}
    assert (claims["iss"], claims["aud"], claims["iat"]) == ("issuer-from-header", "aud-x", frozen)
    assert claims["exp"] - claims["iat"] == 60
    assert uuid.UUID(claims["jti"]).version == 4
    assert jwt.decode(token, public_key, algorithms=["RS256"], audience="aud-x", issuer="issuer-from-header")


def test_the_token_kid_is_the_jwks_kid_and_pyjwt_verifies_it_from_the_jwks(
    demo_generated: DemoSummary, client: Client, frozen: int
) -> None:
    token = token_of(generate(client, demo_generated.client_id))
    jwks = client.get("/personal/sandbox/.well-known/jwks.json").json()

    (key,) = jwks["keys"]
    assert segment(token, 0)["kid"] == key["kid"] == thumbprint(key)
    claims = jwt.decode(token, jwt.PyJWK(key), algorithms=["RS256"], audience="id1", issuer="apic")
    assert claims["iss"] == "apic"


def test_validate_answers_with_the_claims_as_json(demo: DemoSummary, client: Client, frozen: int) -> None:
    token = token_of(generate(client, demo.client_id))

    response = validate(client, demo.client_id, f"Bearer {token}")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    assert response.json() == segment(token, 1)


@pytest.mark.parametrize(("part", "because"), [(0, "the JWT"), (1, "the JWT"), (2, "the JWT signature does not")])
def test_a_tampered_token_is_answered_400_with_the_message(
    part: int, because: str, demo: DemoSummary, client: Client, frozen: int
) -> None:
    token = token_of(generate(client, demo.client_id))
    assert validate(client, demo.client_id, f"Bearer {token}").status_code == 200

    response = validate(client, demo.client_id, f"Bearer {flip(token, part)}")

    assert response.status_code == 400
    assert response.reason_phrase == "Bad Request"
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode().startswith(f"JWT validation failed, because {because}")


def test_an_expired_token_is_answered_400_with_its_expiry_time(
    demo: DemoSummary, client: Client, time_machine: TimeMachineFixture
) -> None:
    time_machine.move_to(NOW, tick=False)
    token = token_of(generate(client, demo.client_id))
    time_machine.move_to(NOW + 59, tick=False)
    assert validate(client, demo.client_id, f"Bearer {token}").status_code == 200

    time_machine.move_to(NOW + 61, tick=False)
    response = validate(client, demo.client_id, f"Bearer {token}")

    assert response.status_code == 400
    assert response.content == b"JWT validation failed, because the JWT has expired at 2030-01-01T12:01:00Z"


@pytest.mark.parametrize(("iss", "aud"), [("apic-evil", "id1"), ("apic", "id10")])
def test_the_demo_validate_checks_issuer_and_audience_whole(
    iss: str, aud: str, demo: DemoSummary, client: Client, frozen: int
) -> None:
    good = token_of(generate(client, demo.client_id))
    bad = token_of(generate(client, demo.client_id, **{"iss-claim": iss, "aud-claim": aud}))

    assert validate(client, demo.client_id, f"Bearer {good}").status_code == 200
    response = validate(client, demo.client_id, f"Bearer {bad}")
    assert response.status_code == 400
    assert b"does not match" in response.content


def test_a_missing_claim_header_is_a_400_not_an_empty_claim(demo: DemoSummary, client: Client) -> None:
    assert generate(client, demo.client_id).status_code == 200

    response = client.get(f"{BASE}/generate", headers={"X-IBM-Client-Id": demo.client_id, "aud-claim": "id1"})

    assert response.status_code == 400
    assert response.content == (
        b"jwt-generate 'jwt-generate': the iss claim variable 'request.headers.iss-claim' is not set."
    )
    assert "Authorization" not in response


@pytest.mark.parametrize(
    "authorization", ["", "Bearer", "Bearer " + "A" * 9000, "Bearer a.b.c", "Bearer \u00e9t\u00e9", "Basic dXNlcg=="]
)
def test_bad_tokens_are_never_a_500(authorization: str, demo: DemoSummary, client: Client) -> None:
    assert validate(client, demo.client_id, generate(client, demo.client_id)["Authorization"]).status_code == 200

    response = validate(client, demo.client_id, authorization)

    assert response.status_code == 400
    assert response.content.startswith(b"JWT validation failed, because ")


# -- client credentials -------------------------------------------------------------------------------------


def test_a_missing_client_id_is_401_in_the_gateway_shape(demo: DemoSummary, client: Client) -> None:
    assert generate(client, demo.client_id).status_code == 200

    response = generate(client, None)

    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"


@pytest.mark.parametrize("client_id", ["0" * 32, "not-a-client-id", ""])
def test_an_unknown_client_id_is_401(client_id: str, demo: DemoSummary, client: Client) -> None:
    assert generate(client, demo.client_id).status_code == 200
    response = generate(client, client_id)
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)


def test_an_app_not_subscribed_to_the_api_is_401(
    demo: DemoSummary, sandbox: Catalog, actor: Actor, client: Client
) -> None:
    production = Catalog.objects.get(organization=sandbox.organization, slug="production")
    unsubscribed, _ = app_create(catalog=sandbox, name="Unsubscribed", actor=actor)
    elsewhere, _ = app_create(catalog=production, name="Production App", actor=actor)

    assert generate(client, demo.client_id).status_code == 200
    assert (generate(client, unsubscribed.client_id).status_code, generate(client, unsubscribed.client_id).json()) == (
        401,
        UNAUTHORIZED,
    )
    assert generate(client, elsewhere.client_id).status_code == 401


def test_the_client_id_may_come_as_a_query_parameter(demo: DemoSummary, client: Client) -> None:
    headers = {"iss-claim": "apic", "aud-claim": "id1"}

    by_query = client.get(f"{BASE}/generate?client_id={demo.client_id}", headers=headers)
    wrong_query = client.get(f"{BASE}/generate?client_id={'f' * 32}", headers=headers)

    assert by_query.status_code == 200
    assert wrong_query.status_code == 401


def test_an_api_asking_for_a_secret_requires_the_right_one(
    demo: DemoSummary, sandbox: Catalog, actor: Actor, client: Client
) -> None:
    body = {"set-variable": {"title": "ok", "actions": [{"set": "message.body", "value": "ok"}]}}
    api = publish(
        api_document(name="secured", base_path="/secured", client_secret=True, execute=[body]), sandbox, actor
    )
    app, secret = app_create(catalog=sandbox, name="Secret App", with_secret=True, actor=actor)
    app_subscribe(app=app, publication=api.publications.get(), actor=actor)
    assert secret is not None
    url = "/personal/sandbox/secured/go"

    def call(client_id: str, client_secret: str | None) -> int:
        headers = {"X-IBM-Client-Id": client_id}
        if client_secret is not None:
            headers["X-IBM-Client-Secret"] = client_secret
        response = client.get(url, headers=headers)
        if response.status_code == 401:
            assert response.json() == UNAUTHORIZED
        return int(response.status_code)

    assert call(app.client_id, secret) == 200
    assert call(app.client_id, None) == 401
    assert call(app.client_id, secret[:-1] + ("A" if secret[-1] != "A" else "B")) == 401
    assert call(app.client_id, "") == 401
    assert call(demo.client_id, secret) == 401  # subscribed, but it has no secret


# -- routing ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/acme/sandbox/securetoken/generate", "No catalog acme/sandbox."),
        ("/personal/staging/securetoken/generate", "No catalog personal/staging."),
        ("/personal/sandbox/nothing/generate", "No API is published at /nothing/generate in personal/sandbox."),
        ("/personal/sandbox/securetokens/generate", "No API is published at /securetokens/generate"),
        ("/personal/sandbox/securetoken/mint", "jwt-generation-and-validation 1.0.0 has no operation at /mint."),
        ("/personal/sandbox/securetoken", "has no operation at /."),
    ],
)
def test_no_api_or_operation_at_a_path_is_404(url: str, message: str, demo: DemoSummary, client: Client) -> None:
    assert generate(client, demo.client_id).status_code == 200

    response = client.get(url, headers={"X-IBM-Client-Id": demo.client_id})

    assert response.status_code == 404
    body = response.json()
    assert (body["httpCode"], body["httpMessage"]) == ("404", "Not Found")
    assert message in body["moreInformation"]


@pytest.mark.parametrize("method", ["post", "put", "delete", "patch"])
def test_a_wrong_verb_is_405_with_allow(method: str, demo: DemoSummary, client: Client) -> None:
    assert generate(client, demo.client_id).status_code == 200

    response = getattr(client, method)(f"{BASE}/generate", headers={"X-IBM-Client-Id": demo.client_id})

    assert response.status_code == 405
    assert response["Allow"] == "GET"
    assert response.json()["httpCode"] == "405"


def test_an_uncaught_validation_failure_is_401_with_www_authenticate(
    demo: DemoSummary, sandbox: Catalog, actor: Actor, client: Client, frozen: int
) -> None:
    publish(demo_variant(name="no-catch", base_path="/nocatch", catch=False), sandbox, actor)
    token = token_of(generate(client, demo.client_id))
    tampered = flip(token, 2)

    accepted = validate(client, demo.client_id, f"Bearer {token}", base="/personal/sandbox/nocatch")
    refused = validate(client, demo.client_id, f"Bearer {tampered}", base="/personal/sandbox/nocatch")
    caught = validate(client, demo.client_id, f"Bearer {tampered}")

    assert accepted.status_code == 200
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    body = refused.json()
    assert (body["httpCode"], body["httpMessage"]) == ("401", "Unauthorized")
    assert body["moreInformation"].startswith("JWT validation failed, because the JWT signature does not verify")
    assert caught.status_code == 400
    assert "WWW-Authenticate" not in caught


def test_an_uncaught_throw_answers_in_the_gateway_shape(sandbox: Catalog, actor: Actor, client: Client) -> None:
    throw = {"throw": {"title": "boom", "name": "Overloaded", "message": "try later"}}
    publish(api_document(name="thrower", base_path="/thrower", execute=[throw]), sandbox, actor)
    calm = {"set-variable": {"title": "calm", "actions": [{"set": "message.body", "value": "fine"}]}}
    publish(api_document(name="calm", base_path="/calm", execute=[calm]), sandbox, actor)
    client_id = sandbox.apps.get().client_id

    thrown = client.get("/personal/sandbox/thrower/go", headers={"X-IBM-Client-Id": client_id})
    fine = client.get("/personal/sandbox/calm/go", headers={"X-IBM-Client-Id": client_id})

    assert (fine.status_code, fine.content) == (200, b"fine")
    assert thrown.status_code == 500
    assert thrown.json() == {"httpCode": "500", "httpMessage": "Internal Server Error", "moreInformation": "try later"}


# -- the hot path -------------------------------------------------------------------------------------------


@pytest.fixture
def version_checked_once(settings: LazySettings) -> None:
    # The version is re-read at most once a second; a slow machine must not turn that into a flaky query.
    settings.PORTAL_INVALIDATION = {**settings.PORTAL_INVALIDATION, "RECHECK_SECONDS": 3600.0}


@pytest.mark.usefixtures("version_checked_once")
def test_a_warm_generate_makes_no_database_query(
    demo: DemoSummary, client: Client, django_assert_num_queries: QueryCounter
) -> None:
    cold = generate(client, demo.client_id)

    with django_assert_num_queries(0):
        warm = generate(client, demo.client_id)

    assert (cold.status_code, warm.status_code) == (200, 200)
    assert segment(token_of(warm), 0) == segment(token_of(cold), 0)


@pytest.mark.usefixtures("version_checked_once")
def test_a_warm_validate_makes_no_database_query(
    demo: DemoSummary, client: Client, django_assert_num_queries: QueryCounter, frozen: int
) -> None:
    token = token_of(generate(client, demo.client_id))

    with django_assert_num_queries(0):
        accepted = validate(client, demo.client_id, f"Bearer {token}")
        refused = validate(client, demo.client_id, f"Bearer {flip(token, 2)}")
        unauthorized = generate(client, "0" * 32)
        jwks = client.get("/personal/sandbox/.well-known/jwks.json")

    assert (accepted.status_code, refused.status_code, unauthorized.status_code, jwks.status_code) == (
        200,
        400,
        401,
        200,
    )


def test_a_cold_request_does_query_the_database(
    demo: DemoSummary, client: Client, django_assert_max_num_queries: QueryCounter
) -> None:
    # The twin of the warm tests: the zero above is the cache at work, not a counter that counts nothing.
    with pytest.raises(pytest.fail.Exception), django_assert_max_num_queries(0):
        generate(client, demo.client_id)


# -- JWKS ---------------------------------------------------------------------------------------------------

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k", "oth"}


def test_jwks_publishes_each_public_key_once_and_never_secrets(
    demo: DemoSummary, hmac_keyprofile: KeyProfile, ec_keyprofile: KeyProfile, client: Client
) -> None:
    response = client.get("/personal/sandbox/.well-known/jwks.json")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/jwk-set+json"
    assert response["Cache-Control"] == "public, max-age=300"
    keys = response.json()["keys"]
    assert sorted((key["kty"], key["alg"]) for key in keys) == [("EC", "ES256"), ("RSA", "RS256")]
    for key in keys:
        assert key["use"] == "sig"
        assert key["kid"] == thumbprint(key)
        assert not PRIVATE_MEMBERS & set(key), key
        der = base64.b64decode(key["x5c"][0])
        assert key["x5t#S256"] == b64url(hashlib.sha256(der).digest())
        assert key["kid"] == thumbprint(_public_jwk(x509.load_der_x509_certificate(der)))
    assert thumbprint(oct_jwk(HMAC_SECRET)) not in response.content.decode()
    assert b64url(HMAC_SECRET) not in response.content.decode()


def _public_jwk(certificate: x509.Certificate) -> dict[str, str]:
    public = certificate.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        numbers = public.public_numbers()
        return {
            "kty": "RSA",
            "n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
            "e": b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
        }
    assert isinstance(public, ec.EllipticCurvePublicKey)
    point = public.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url(point.x.to_bytes(32, "big")),
        "y": b64url(point.y.to_bytes(32, "big")),
    }


def test_jwks_x5c_is_the_keystore_certificate(demo_generated: DemoSummary, client: Client) -> None:
    (key,) = client.get("/personal/sandbox/.well-known/jwks.json").json()["keys"]
    certificate = x509.load_pem_x509_certificate(Keystore.objects.get(name="JWT Keystore").certificate_pem.encode())

    assert base64.b64decode(key["x5c"][0]) == certificate.public_bytes(Encoding.DER)


def test_jwks_of_a_catalog_without_keys_is_empty_and_of_no_catalog_404(demo: DemoSummary, client: Client) -> None:
    empty = client.get("/personal/production/.well-known/jwks.json")
    missing = client.get("/personal/nowhere/.well-known/jwks.json")
    post = client.post("/personal/sandbox/.well-known/jwks.json")

    assert (empty.status_code, empty.json()) == (200, {"keys": []})
    assert missing.status_code == 404
    assert missing.json()["moreInformation"] == "No catalog personal/nowhere."
    assert (post.status_code, post["Allow"]) == (405, "GET, HEAD")
