"""The token service over REST (DESIGN.md section 4a): signing with a key profile chosen by name, the roles and
a signer's constraints, version states, and the warm path. Every refusal has a twin that differs in one thing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from rest_framework.test import APIClient

from keyprofiles import keycache, keymaterial, lifecycle
from keyprofiles.models import KeyProfile, KeyProfileBinding, Keystore
from keyprofiles.services import keyprofile_create, keystore_algorithm_fix, keystore_import, truststore_import
from portal import invalidation
from portal.models import Catalog, Organization
from portal.services import Actor
from tests.api import MakeKey, bearer
from tests.keyfixtures import CERT1_PEM, CERT2_PEM, KEY2_PEM
from tests.tokens.helpers import (
    HMAC_SECRET,
    KEY_OBJECT,
    NOW,
    b64url,
    compact,
    compile_policies,
    ec_private,
    flip,
    hs256,
    jbytes,
    make_context,
    rs256,
    rsa_private,
    segment,
)
from tests.tokens.rest import profile_url
from tokens.api.token_service import TokenSignApi, TokenValidateApi
from tokens.policies.jwt_validate import JwtValidationFailed
from tokens.rotation import KeySource, keyprofile_rotate
from tokens.token_service import profile_keys

pytestmark = pytest.mark.django_db

SIGN = profile_url("tokens")
CLAIMS = {"iss": "apic", "aud": "id1", "sub": "alice"}


@pytest.fixture(autouse=True)
def _fresh_service(fresh_api_state: None) -> Iterator[None]:
    """The API key lookup, the rate counters and the service's keys are per process: no test sees another's."""
    profile_keys.reset()
    yield
    profile_keys.reset()


@pytest.fixture
def client() -> APIClient:
    return APIClient()


@pytest.fixture
def operator(make_key: MakeKey) -> dict[str, str]:
    return bearer(make_key("operator", name="ops"))


def sign(client: APIClient, headers: dict[str, str], body: dict[str, Any], url: str = SIGN) -> Any:
    return client.post(url, body, format="json", **headers)


def rsa_public(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> Any:
    return key.public_key()


def decode(token: str, key: Any, algorithm: str) -> dict[str, Any]:
    """The token's claims, checked by PyJWT (an implementation independent of tokens.jose)."""
    claims: dict[str, Any] = jwt.decode(token, key, algorithms=[algorithm], options={"verify_aud": False})
    return claims


# -- signing ---------------------------------------------------------------------------------------------------


def test_an_operator_signs_with_the_active_version(
    client: APIClient, jwt_keyprofile: KeyProfile, operator: dict[str, str], frozen: int
) -> None:
    answer = sign(client, operator, {"claims": CLAIMS, "expires_in": 60})
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert answer["Cache-Control"] == "no-store"
    assert body["alg"] == "RS256"
    assert body["crypto_object"] == KEY_OBJECT
    assert body["version"] == "1.0.0"
    assert body["jti"] is None
    assert body["expires_at"] == datetime.fromtimestamp(NOW + 60, tz=UTC).isoformat().replace("+00:00", "Z")
    claims = decode(body["token"], rsa_private().public_key(), "RS256")
    assert claims == {**CLAIMS, "iat": NOW, "exp": NOW + 60}
    header = segment(body["token"], 0)
    assert header == {"alg": "RS256", "typ": "JWT", "kid": body["kid"]}
    assert body["kid"] == keymaterial.jwk_thumbprint(keymaterial.public_jwk(rsa_private().public_key()))


def test_jti_is_added_when_asked(client: APIClient, jwt_keyprofile: KeyProfile, operator: dict[str, str]) -> None:
    body = sign(client, operator, {"claims": CLAIMS, "jti": True}).json()
    claims = decode(body["token"], rsa_private().public_key(), "RS256")
    assert claims["jti"] == body["jti"]
    assert len(body["jti"]) == 36
    assert claims["exp"] - claims["iat"] == 3600  # jwt-generate's default validity


def test_each_key_type_signs_with_its_natural_algorithm(
    client: APIClient,
    ec_keyprofile: KeyProfile,
    hmac_keyprofile: KeyProfile,
    operator: dict[str, str],
) -> None:
    ec_body = sign(client, operator, {"claims": CLAIMS}, profile_url("tokens", name="ec-keyprofile")).json()
    assert ec_body["alg"] == "ES256"
    assert decode(ec_body["token"], ec_private().public_key(), "ES256")["sub"] == "alice"
    hmac_body = sign(client, operator, {"claims": CLAIMS}, profile_url("tokens", name="hmac-keyprofile")).json()
    assert hmac_body["alg"] == "HS256"
    assert decode(hmac_body["token"], HMAC_SECRET, "HS256")["sub"] == "alice"


def test_an_algorithm_that_does_not_fit_the_key_is_refused_naming_both(
    client: APIClient, jwt_keyprofile: KeyProfile, operator: dict[str, str]
) -> None:
    refused = sign(client, operator, {"claims": CLAIMS, "alg": "ES256"})
    assert refused.status_code == 400
    problem = refused.json()
    assert refused["Content-Type"] == "application/problem+json"
    assert problem["code"] == "algorithm_mismatch"
    assert "ES256" in problem["detail"]
    assert "RSA" in problem["detail"]
    assert problem["errors"] == {"alg": [problem["detail"]]}
    # The twin: the algorithm the RSA key signs with.
    accepted = sign(client, operator, {"claims": CLAIMS, "alg": "RS256"})
    assert accepted.status_code == 201
    assert decode(accepted.json()["token"], rsa_private().public_key(), "RS256")["iss"] == "apic"


def test_a_key_signs_with_its_one_algorithm_only(
    client: APIClient, jwt_keyprofile: KeyProfile, operator: dict[str, str], actor: Actor
) -> None:
    """One key, one algorithm (RFC 8725 section 3.1): PS256 fits an RSA key, but this key signs RS256 (what the
    JWKS states) until PS256 is fixed for it; then PS256 signs, by default too, and RS256 is refused."""
    refused = sign(client, operator, {"claims": CLAIMS, "alg": "PS256"})
    assert (refused.status_code, refused.json()["code"]) == (400, "algorithm_mismatch")
    assert "signs with RS256 only, not PS256" in refused.json()["detail"]

    keystore = jwt_keyprofile.keystore
    assert keystore is not None
    keystore_algorithm_fix(keystore=keystore, algorithm="PS256", actor=actor, reason="test")
    profile_keys.reset()  # the fix bumps the shared version; this process looks at it once a second

    accepted = sign(client, operator, {"claims": CLAIMS})
    assert (accepted.status_code, accepted.json()["alg"]) == (201, "PS256")
    assert decode(accepted.json()["token"], rsa_private().public_key(), "PS256")["iss"] == "apic"
    assert sign(client, operator, {"claims": CLAIMS, "alg": "RS256"}).status_code == 400


def test_an_unknown_algorithm_is_invalid_input(
    client: APIClient, jwt_keyprofile: KeyProfile, operator: dict[str, str]
) -> None:
    refused = sign(client, operator, {"claims": CLAIMS, "alg": "none"})
    assert refused.status_code == 400
    assert "alg" in refused.json()["errors"]


@pytest.mark.parametrize("claim", ["iat", "exp"])
def test_claims_may_not_set_what_the_service_sets(
    client: APIClient, jwt_keyprofile: KeyProfile, operator: dict[str, str], claim: str
) -> None:
    refused = sign(client, operator, {"claims": {**CLAIMS, claim: 1}})
    assert refused.status_code == 400
    assert refused.json()["code"] == "registered_claim"
    assert claim in refused.json()["detail"]
    # The twin: nbf is the caller's to set.
    assert sign(client, operator, {"claims": {**CLAIMS, "nbf": 1}}).status_code == 201


def test_a_jti_claim_is_the_callers_unless_the_service_is_asked_for_one(
    client: APIClient, jwt_keyprofile: KeyProfile, operator: dict[str, str]
) -> None:
    refused = sign(client, operator, {"claims": {**CLAIMS, "jti": "mine"}, "jti": True})
    assert refused.status_code == 400
    assert refused.json()["code"] == "registered_claim"
    accepted = sign(client, operator, {"claims": {**CLAIMS, "jti": "mine"}})
    assert accepted.status_code == 201
    assert decode(accepted.json()["token"], rsa_private().public_key(), "RS256")["jti"] == "mine"


@pytest.mark.parametrize(("expires_in", "status"), [(0, 400), (1, 201), (31622400, 201), (31622401, 400)])
def test_expires_in_is_bounded_as_jwt_generates_exp_claim(
    client: APIClient, jwt_keyprofile: KeyProfile, operator: dict[str, str], expires_in: int, status: int
) -> None:
    answer = sign(client, operator, {"claims": CLAIMS, "expires_in": expires_in})
    assert answer.status_code == status, answer.content
    if status == 400:
        assert "expires_in" in answer.json()["errors"]


@pytest.mark.parametrize("body", [{}, {"claims": ["iss"]}, {"claims": CLAIMS, "jti": "maybe"}, {"claims": "x"}])
def test_malformed_requests_are_invalid_input(
    client: APIClient, jwt_keyprofile: KeyProfile, operator: dict[str, str], body: dict[str, Any]
) -> None:
    answer = sign(client, operator, body)
    assert answer.status_code == 400
    assert answer.json()["code"] in {"required", "not_a_dict", "invalid"}


def test_claims_that_make_a_token_over_8_kib_are_refused(
    client: APIClient, jwt_keyprofile: KeyProfile, operator: dict[str, str]
) -> None:
    refused = sign(client, operator, {"claims": {**CLAIMS, "blob": "x" * 9000}})
    assert refused.status_code == 400
    assert refused.json()["code"] == "too_large"
    assert sign(client, operator, {"claims": {**CLAIMS, "blob": "x" * 4000}}).status_code == 201


# -- where: organization, catalog, profile -------------------------------------------------------------------------


def test_another_organizations_key_gets_404(
    client: APIClient, jwt_keyprofile: KeyProfile, make_key: MakeKey, other_organization: Organization
) -> None:
    stranger = bearer(make_key("operator", organization=other_organization, name="stranger"))
    refused = sign(client, stranger, {"claims": CLAIMS})
    assert refused.status_code == 404
    # The twin: the same request in the stranger's own organization reaches its (absent) profile.
    own = sign(client, stranger, {"claims": CLAIMS}, profile_url("tokens", org="other"))
    assert own.status_code == 404
    assert "sandbox" in own.json()["detail"]


def test_an_unknown_profile_or_catalog_is_404(
    client: APIClient, jwt_keyprofile: KeyProfile, operator: dict[str, str], production: Catalog
) -> None:
    assert sign(client, operator, {"claims": CLAIMS}, profile_url("tokens", name="nope")).status_code == 404
    assert sign(client, operator, {"claims": CLAIMS}, profile_url("tokens", catalog="nope")).status_code == 404
    not_enabled = sign(client, operator, {"claims": CLAIMS}, profile_url("tokens", catalog="production"))
    assert not_enabled.status_code == 404
    assert sign(client, operator, {"claims": CLAIMS}).status_code == 201


def test_without_a_key_the_answer_is_401(client: APIClient, jwt_keyprofile: KeyProfile) -> None:
    answer = sign(client, {}, {"claims": CLAIMS})
    assert answer.status_code == 401
    assert answer["WWW-Authenticate"].startswith("Bearer")


# -- roles and a signer's constraints ---------------------------------------------------------------------------


def test_an_auditor_cannot_sign(
    client: APIClient, organization: Organization, jwt_keyprofile: KeyProfile, make_key: MakeKey
) -> None:
    auditor = bearer(make_key("auditor", name="reader"))
    assert sign(client, auditor, {"claims": CLAIMS}).status_code == 403
    signer = bearer(make_key("signer", name="minter"))
    assert sign(client, signer, {"claims": CLAIMS}).status_code == 201


def test_a_signer_signs_only_with_the_profiles_it_lists(
    client: APIClient,
    organization: Organization,
    jwt_keyprofile: KeyProfile,
    ec_keyprofile: KeyProfile,
    make_key: MakeKey,
) -> None:
    signer = bearer(make_key("signer", name="minter"))
    assert sign(client, signer, {"claims": CLAIMS}).status_code == 201
    refused = sign(client, signer, {"claims": CLAIMS}, profile_url("tokens", name="ec-keyprofile"))
    assert refused.status_code == 403


@pytest.mark.parametrize(
    ("constraint", "claims", "allowed"),
    [
        ({"allow_aud": "id[0-9]"}, {"aud": "id1"}, True),
        ({"allow_aud": "id[0-9]"}, {"aud": "id12"}, False),  # the whole claim must match
        ({"allow_aud": "id[0-9]"}, {"aud": ["id1", "id2"]}, True),
        ({"allow_aud": "id[0-9]"}, {"aud": ["id1", "evil"]}, False),  # every element must match
        ({"allow_aud": "id[0-9]"}, {"iss": "apic"}, False),  # a constrained claim is required
        ({"allow_iss": "apic"}, {"iss": "apic"}, True),
        ({"allow_iss": "apic"}, {"iss": "apic2"}, False),
        ({"allow_sub": "user-.*"}, {"sub": "user-7"}, True),
        ({"allow_sub": "user-.*"}, {"sub": "admin"}, False),
    ],
)
def test_a_signer_signs_only_claims_its_constraints_allow(
    client: APIClient,
    organization: Organization,
    jwt_keyprofile: KeyProfile,
    constraint: dict[str, str],
    claims: dict[str, Any],
    allowed: bool,
    make_key: MakeKey,
) -> None:
    signer = bearer(make_key("signer", name="minter", **constraint))
    answer = sign(client, signer, {"claims": claims})
    if allowed:
        assert answer.status_code == 201, answer.content
    else:
        assert answer.status_code == 403
        claim = next(iter(constraint)).removeprefix("allow_")
        assert answer.json()["code"] == "claims_not_allowed"
        assert f"'{claim}'" in answer.json()["detail"]


def test_a_signer_signs_no_longer_than_its_max_expires_in(
    client: APIClient,
    organization: Organization,
    jwt_keyprofile: KeyProfile,
    make_key: MakeKey,
) -> None:
    signer = bearer(make_key("signer", name="minter", max_expires_in=60))
    assert sign(client, signer, {"claims": CLAIMS, "expires_in": 60}).status_code == 201
    refused = sign(client, signer, {"claims": CLAIMS, "expires_in": 61})
    assert refused.status_code == 403
    assert "60 seconds" in refused.json()["detail"]
    # The default validity (3600) is over the cap too: a capped signer must say how long.
    assert sign(client, signer, {"claims": CLAIMS}).status_code == 403


def test_only_a_constrained_signer_has_its_body_checked_strictly_by_the_permission(
    client: APIClient,
    organization: Organization,
    jwt_keyprofile: KeyProfile,
    make_key: MakeKey,
) -> None:
    # "60" as text: the serializer's coercion makes it 60, which must not slip past a signer's cap; a key
    # without constraints has nothing to slip past, so its body is left to the view (parsed once, there).
    body = {"claims": CLAIMS, "expires_in": "60"}
    capped = bearer(make_key("signer", name="capped", max_expires_in=60))
    refused = sign(client, capped, body)
    assert refused.status_code == 403
    assert refused.json()["code"] == "claims_not_allowed"
    free = bearer(make_key("signer", name="free"))
    assert sign(client, free, body).status_code == 201


# -- versions -----------------------------------------------------------------------------------------------------


@pytest.fixture
def second_keystore(organization: Organization, actor: Actor) -> Keystore:
    return keystore_import(
        organization=organization,
        name="Second",
        certificate=CERT2_PEM.encode(),
        private_key=KEY2_PEM.encode(),
        actor=actor,
    )


def rotate(sandbox: Catalog, keystore: Keystore, actor: Actor, **options: Any) -> None:
    keyprofile_rotate(
        catalog=sandbox, name="jwt-keyprofile", source=KeySource(keystore=keystore), actor=actor, **options
    )


def binding(version: str) -> KeyProfileBinding:
    return KeyProfileBinding.objects.get(profile__name="jwt-keyprofile", profile__version=version)


def test_a_next_version_signs_when_asked_by_version_and_the_active_one_by_default(
    client: APIClient,
    sandbox: Catalog,
    jwt_keyprofile: KeyProfile,
    second_keystore: Keystore,
    operator: dict[str, str],
    actor: Actor,
    recheck_always: None,
) -> None:
    from datetime import timedelta

    rotate(sandbox, second_keystore, actor, prepublish=timedelta(days=1))
    assert binding("1.0.1").state == KeyProfileBinding.State.NEXT
    by_default = sign(client, operator, {"claims": CLAIMS}).json()
    assert by_default["version"] == "1.0.0"
    early = sign(client, operator, {"claims": CLAIMS, "version": "1.0.1"})
    assert early.status_code == 201
    body = early.json()
    assert body["version"] == "1.0.1"
    assert body["crypto_object"] == "personal_sandbox_tlsp-jwt-keyprofileV1.0.1-key"
    assert decode(body["token"], rsa_private(KEY2_PEM).public_key(), "RS256")["sub"] == "alice"


def test_passive_and_retired_versions_never_sign(
    client: APIClient,
    sandbox: Catalog,
    jwt_keyprofile: KeyProfile,
    second_keystore: Keystore,
    operator: dict[str, str],
    actor: Actor,
    recheck_always: None,
) -> None:
    assert sign(client, operator, {"claims": CLAIMS, "version": "1.0.0"}).status_code == 201
    rotate(sandbox, second_keystore, actor)
    passive = sign(client, operator, {"claims": CLAIMS, "version": "1.0.0"})
    assert passive.status_code == 409
    assert passive.json()["code"] == "version_passive"
    # The default now signs with the new active version.
    assert sign(client, operator, {"claims": CLAIMS}).json()["version"] == "1.0.1"
    lifecycle.binding_transition(binding=binding("1.0.0"), state=KeyProfileBinding.State.RETIRED, actor=actor)
    retired = sign(client, operator, {"claims": CLAIMS, "version": "1.0.0"})
    assert retired.status_code == 409
    assert retired.json()["code"] == "version_retired"
    assert sign(client, operator, {"claims": CLAIMS, "version": "9.9.9"}).status_code == 404


# -- the warm path ---------------------------------------------------------------------------------------------------


def test_a_warm_signing_call_makes_no_query_and_parses_no_key(
    client: APIClient,
    jwt_keyprofile: KeyProfile,
    operator: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    django_assert_num_queries: Any,
) -> None:
    monkeypatch.setattr(invalidation, "RECHECK_SECONDS", 3600.0)
    keycache.clear()
    parses: list[str] = []
    for name in ("private_key_from_sealed_der", "public_key_from_certificate_pem"):
        original = getattr(keymaterial, name)
        monkeypatch.setattr(keymaterial, name, lambda *a, _n=name, _f=original, **k: parses.append(_n) or _f(*a, **k))
    assert sign(client, operator, {"claims": CLAIMS}).status_code == 201  # cold: the twin that queries and parses
    assert parses
    parses.clear()
    with django_assert_num_queries(0):
        for _ in range(3):
            assert sign(client, operator, {"claims": CLAIMS, "jti": True}).status_code == 201
    assert parses == []


# -- validating ------------------------------------------------------------------------------------------------------

VALIDATE = profile_url("tokens/validate")
CERT_OBJECT_V1 = "personal_sandbox_tlsp-jwt-keyprofileV1.0.0-ca-0"


def validate(client: APIClient, headers: dict[str, str], body: dict[str, Any], url: str = VALIDATE) -> Any:
    return client.post(url, body, format="json", **headers)


def minted(claims: dict[str, Any] | None = None, *, key: rsa.RSAPrivateKey | None = None, **header: Any) -> str:
    """A token built from bytes (not by the code under test), RS256 with fixed key 1 unless ``key``."""
    private = key or rsa_private()
    kid = keymaterial.jwk_thumbprint(keymaterial.public_jwk(private.public_key()))
    payload = {**CLAIMS, "iat": NOW, "exp": NOW + 60} if claims is None else claims
    return compact({"alg": "RS256", "typ": "JWT", "kid": kid, **header}, payload, rs256(private))


def swap_payload(token: str, claims: dict[str, Any]) -> str:
    """The token with another payload and the original signature."""
    header, _, signature = token.split(".")
    return f"{header}.{b64url(jbytes(claims))}.{signature}"


def swap_header(token: str, header: dict[str, Any]) -> str:
    """The token with another header and the original signature."""
    _, payload, signature = token.split(".")
    return f"{b64url(jbytes(header))}.{payload}.{signature}"


def assert_refused(answer: Any, code: str, because: str) -> None:
    assert answer.status_code == 400, answer.content
    problem = answer.json()
    assert answer["Content-Type"] == "application/problem+json"
    assert problem["code"] == code
    assert problem["detail"].startswith("JWT validation failed, because ")
    assert because in problem["detail"]


def test_a_token_the_service_signed_validates_with_its_claims_header_and_key(
    client: APIClient, jwt_keyprofile: KeyProfile, operator: dict[str, str], frozen: int
) -> None:
    signed = sign(client, operator, {"claims": CLAIMS, "expires_in": 60, "jti": True}).json()
    answer = validate(client, operator, {"token": signed["token"], "iss": "apic", "aud": "id[0-9]"})
    assert answer.status_code == 200, answer.content
    assert answer["Cache-Control"] == "no-store"
    body = answer.json()
    assert body["claims"] == {**CLAIMS, "iat": NOW, "exp": NOW + 60, "jti": signed["jti"]}
    assert body["header"] == {"alg": "RS256", "typ": "JWT", "kid": signed["kid"]}
    assert body["kid"] == signed["kid"]
    assert body["crypto_object"] == CERT_OBJECT_V1
    # A leading "Bearer " is stripped, as jwt-validate does with the Authorization header.
    assert validate(client, operator, {"token": f"Bearer {signed['token']}"}).status_code == 200


def test_an_expired_token_fails_with_jwt_validates_message_and_leeway_helps(
    client: APIClient, jwt_keyprofile: KeyProfile, operator: dict[str, str], frozen: int, time_machine: Any
) -> None:
    token = minted()
    time_machine.move_to(datetime.fromtimestamp(NOW + 100, tz=UTC), tick=False)
    expired = validate(client, operator, {"token": token})
    assert_refused(expired, "token_expired", "the JWT has expired at 2030-01-01T12:01:00Z")
    assert expired.json()["detail"] == "JWT validation failed, because the JWT has expired at 2030-01-01T12:01:00Z"
    assert validate(client, operator, {"token": token, "leeway": 60}).status_code == 200


def test_a_token_not_yet_valid_fails(
    client: APIClient, jwt_keyprofile: KeyProfile, operator: dict[str, str], frozen: int
) -> None:
    early = validate(client, operator, {"token": minted({**CLAIMS, "nbf": NOW + 30, "exp": NOW + 60})})
    assert_refused(early, "not_yet_valid", "not valid before 2030-01-01T12:00:30Z")
    assert validate(client, operator, {"token": minted({**CLAIMS, "nbf": NOW, "exp": NOW + 60})}).status_code == 200


def test_a_token_without_exp_fails(
    client: APIClient, jwt_keyprofile: KeyProfile, operator: dict[str, str], frozen: int
) -> None:
    assert_refused(validate(client, operator, {"token": minted(dict(CLAIMS))}), "missing_exp", "no exp")


@pytest.mark.parametrize(
    ("tamper", "code"),
    [
        (lambda token: flip(token, 2), "bad_signature"),
        (lambda token: swap_header(token, {"alg": "RS256", "typ": "JWT", "kid": "other"}), "bad_signature"),
        (lambda token: swap_payload(token, {"iss": "apic", "exp": 9999999999}), "bad_signature"),
        (lambda token: "not-a-token", "malformed"),
        (lambda token: token + "=", "malformed"),
        (lambda token: "A" * 9000, "too_large"),
    ],
)
def test_a_tampered_or_malformed_token_fails_with_its_code(
    client: APIClient, jwt_keyprofile: KeyProfile, operator: dict[str, str], frozen: int, tamper: Any, code: str
) -> None:
    token = minted()
    assert validate(client, operator, {"token": token}).status_code == 200
    assert_refused(validate(client, operator, {"token": tamper(token)}), code, "")


def test_algorithm_confusion_and_none_fail(
    client: APIClient, jwt_keyprofile: KeyProfile, operator: dict[str, str], frozen: int
) -> None:
    # RS/HS confusion: the published certificate used as an HMAC secret.
    confused = compact({"alg": "HS256", "typ": "JWT"}, {**CLAIMS, "exp": NOW + 60}, hs256(CERT1_PEM.encode()))
    assert_refused(validate(client, operator, {"token": confused}), "algorithm_not_allowed", "algorithm")
    unsigned = compact({"alg": "none", "typ": "JWT"}, {**CLAIMS, "exp": NOW + 60}, None) + "AA"
    assert_refused(validate(client, operator, {"token": unsigned}), "algorithm_not_allowed", "algorithm")


def test_a_token_signed_by_another_key_fails(
    client: APIClient, jwt_keyprofile: KeyProfile, operator: dict[str, str], frozen: int
) -> None:
    foreign = minted(key=rsa_private(KEY2_PEM))
    assert_refused(validate(client, operator, {"token": foreign}), "bad_signature", "signature does not verify")


@pytest.mark.parametrize(
    ("refused", "twin", "code"),
    [
        ({"iss": "ap"}, {"iss": "ap.*"}, "issuer_mismatch"),  # the whole claim must match
        ({"iss": "other"}, {"iss": "apic"}, "issuer_mismatch"),
        ({"aud": "id"}, {"aud": "id[0-9]"}, "audience_mismatch"),
        ({"aud": "id2"}, {"aud": "id1"}, "audience_mismatch"),
    ],
)
def test_issuer_and_audience_patterns_match_the_whole_claim(
    client: APIClient,
    jwt_keyprofile: KeyProfile,
    operator: dict[str, str],
    frozen: int,
    refused: dict[str, str],
    twin: dict[str, str],
    code: str,
) -> None:
    token = minted()
    assert_refused(validate(client, operator, {"token": token, **refused}), code, "does not match")
    assert validate(client, operator, {"token": token, **twin}).status_code == 200


def test_an_invalid_pattern_is_refused_naming_the_claim(
    client: APIClient, jwt_keyprofile: KeyProfile, operator: dict[str, str], frozen: int
) -> None:
    refused = validate(client, operator, {"token": minted(), "iss": "(unclosed"})
    assert refused.status_code == 400
    assert refused.json()["code"] == "pattern_invalid"
    assert refused.json()["errors"] == {"iss": [refused.json()["detail"]]}


def test_a_pattern_that_can_backtrack_catastrophically_is_refused_before_matching(
    client: APIClient, jwt_keyprofile: KeyProfile, operator: dict[str, str], frozen: int
) -> None:
    """``(a+)+$`` against 40 a's and a '!' would take 2**40 steps in Python's re; it is refused unmatched."""
    token = minted({**CLAIMS, "iss": "a" * 40 + "!", "iat": NOW, "exp": NOW + 60})
    refused = validate(client, operator, {"token": token, "iss": "(a+)+$"})
    assert refused.status_code == 400
    assert refused.json()["code"] == "pattern_unsafe"
    assert refused.json()["errors"] == {"iss": [refused.json()["detail"]]}
    assert "nested quantifiers" in refused.json()["detail"]


def test_an_ordinary_pattern_against_the_same_long_claim_is_matched(
    client: APIClient, jwt_keyprofile: KeyProfile, operator: dict[str, str], frozen: int
) -> None:
    """The twin: the same claim and an ordinary pattern (no nested quantifier) match and mismatch as usual."""
    token = minted({**CLAIMS, "iss": "a" * 40 + "!", "iat": NOW, "exp": NOW + 60})
    assert validate(client, operator, {"token": token, "iss": "a+!"}).status_code == 200
    assert_refused(validate(client, operator, {"token": token, "iss": "a+$"}), "issuer_mismatch", "does not match")


def test_during_a_rotation_both_versions_verify_and_a_retired_key_is_named(
    client: APIClient,
    sandbox: Catalog,
    jwt_keyprofile: KeyProfile,
    second_keystore: Keystore,
    operator: dict[str, str],
    actor: Actor,
    recheck_always: None,
) -> None:
    old = sign(client, operator, {"claims": CLAIMS}).json()["token"]
    rotate(sandbox, second_keystore, actor)
    new = sign(client, operator, {"claims": CLAIMS}).json()
    assert new["version"] == "1.0.1"
    passive = validate(client, operator, {"token": old})
    assert passive.status_code == 200
    assert passive.json()["crypto_object"] == CERT_OBJECT_V1
    assert validate(client, operator, {"token": new["token"]}).json()["crypto_object"] == (
        "personal_sandbox_tlsp-jwt-keyprofileV1.0.1-ca-0"
    )
    lifecycle.binding_transition(binding=binding("1.0.0"), state=KeyProfileBinding.State.RETIRED, actor=actor)
    retired = validate(client, operator, {"token": old})
    assert_refused(retired, "key_retired", "signed by a retired key (jwt-keyprofile 1.0.0")
    assert validate(client, operator, {"token": new["token"]}).status_code == 200


def test_who_may_validate(
    client: APIClient,
    organization: Organization,
    jwt_keyprofile: KeyProfile,
    ec_keyprofile: KeyProfile,
    operator: dict[str, str],
    frozen: int,
    make_key: MakeKey,
    other_organization: Organization,
) -> None:
    token = minted()
    signer = bearer(make_key("signer", name="minter"))
    assert validate(client, signer, {"token": token}).status_code == 200
    assert (
        validate(client, signer, {"token": token}, profile_url("tokens/validate", name="ec-keyprofile")).status_code
        == 403
    )
    auditor = bearer(make_key("auditor", name="reader"))
    assert validate(client, auditor, {"token": token}).status_code == 403
    stranger = bearer(make_key("operator", organization=other_organization, name="stranger"))
    assert validate(client, stranger, {"token": token}).status_code == 404
    assert validate(client, operator, {"token": token}, profile_url("tokens/validate", name="nope")).status_code == 404


def test_a_warm_validation_makes_no_query_and_parses_no_key(
    client: APIClient,
    jwt_keyprofile: KeyProfile,
    operator: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    django_assert_num_queries: Any,
) -> None:
    monkeypatch.setattr(invalidation, "RECHECK_SECONDS", 3600.0)
    token = sign(client, operator, {"claims": CLAIMS}).json()["token"]
    keycache.clear()
    parses: list[str] = []
    for name in ("private_key_from_sealed_der", "public_key_from_certificate_pem"):
        original = getattr(keymaterial, name)
        monkeypatch.setattr(keymaterial, name, lambda *a, _n=name, _f=original, **k: parses.append(_n) or _f(*a, **k))
    assert validate(client, operator, {"token": token}).status_code == 200  # cold: queries and parses
    assert parses
    parses.clear()
    with django_assert_num_queries(0):
        for _ in range(3):
            assert validate(client, operator, {"token": token, "iss": "apic", "aud": "id1"}).status_code == 200
    assert parses == []


@pytest.mark.parametrize(
    ("claims", "checks", "code"),
    [
        ({**CLAIMS, "exp": NOW - 1}, {}, "token_expired"),
        ({**CLAIMS, "exp": NOW + 60, "nbf": NOW + 30}, {}, "not_yet_valid"),
        ({**CLAIMS, "exp": (NOW + 60) * 1000}, {}, "invalid_exp"),
        ({**CLAIMS, "exp": NOW + 60}, {"iss": "other"}, "issuer_mismatch"),
        ({**CLAIMS, "exp": NOW + 60}, {"aud": "other"}, "audience_mismatch"),
        ({**CLAIMS, "exp": NOW + 60}, {}, None),
    ],
)
def test_the_service_and_the_jwt_validate_policy_give_the_same_answer(
    client: APIClient,
    resolver: Any,
    operator: dict[str, str],
    frozen: int,
    claims: dict[str, Any],
    checks: dict[str, str],
    code: str | None,
) -> None:
    """One implementation of the claim checks: the same token fails with the same message and reason code
    through the gateway's policy and through the token service (or passes both)."""
    token = minted(claims)
    config = {
        "title": "check",
        "jws-crypto": CERT_OBJECT_V1,
        "iss-claim": checks.get("iss"),
        "aud-claim": checks.get("aud"),
    }
    policy = compile_policies([{"jwt-validate": config}], resolver)
    answer = validate(client, operator, {"token": token, **checks})
    if code is None:
        policy.run(make_context({"authorization": f"Bearer {token}"}))
        assert answer.status_code == 200
        return
    with pytest.raises(JwtValidationFailed) as failed:
        policy.run(make_context({"authorization": f"Bearer {token}"}))
    assert failed.value.code == code
    assert answer.json()["code"] == code
    assert answer.json()["detail"] == failed.value.message


# -- the schema ------------------------------------------------------------------------------------------------------


def test_the_answers_have_exactly_the_fields_the_schema_describes(
    client: APIClient, jwt_keyprofile: KeyProfile, operator: dict[str, str]
) -> None:
    signed = sign(client, operator, {"claims": CLAIMS, "jti": True}).json()
    assert set(signed) == set(TokenSignApi.OutputSerializer().fields)
    assert TokenSignApi.OutputSerializer(data=signed).is_valid()
    validated = validate(client, operator, {"token": signed["token"]}).json()
    assert set(validated) == set(TokenValidateApi.OutputSerializer().fields)
    assert TokenValidateApi.OutputSerializer(data=validated).is_valid()


def test_the_schema_describes_every_token_service_and_rotation_operation(client: APIClient, db: None) -> None:
    document = client.get("/api/v1/schema?format=json").json()
    base = "/api/v1/orgs/{org}/catalogs/{catalog}/key-profiles/{name}"
    expected = {
        f"{base}/tokens": ("token_sign", "201", "TokenSignInput", "TokenSignOutput"),
        f"{base}/tokens/validate": ("token_validate", "200", "TokenValidateInput", "TokenValidateOutput"),
        f"{base}/rotate": ("keyprofile_rotate", "200", "KeyProfileRotateInput", "KeyProfileRotateOutput"),
    }
    for path, (operation_id, success, request, answer) in expected.items():
        operation = document["paths"][path]["post"]
        assert operation["operationId"] == operation_id
        assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(request + "Request")
        assert operation["responses"][success]["content"]["application/json"]["schema"]["$ref"].endswith(answer)
        assert "application/problem+json" in operation["responses"]["400"]["content"]
        assert {p["name"] for p in operation["parameters"]} == {"org", "catalog", "name"}
    components = document["components"]["schemas"]
    assert set(components["TokenSignOutput"]["properties"]) == set(TokenSignApi.OutputSerializer().fields)
    assert components["KeyProfileRotateInputRequest"]["properties"]["grace"]["type"] == "string"


def test_a_token_with_characters_outside_ascii_is_malformed(
    client: APIClient, jwt_keyprofile: KeyProfile, operator: dict[str, str], frozen: int
) -> None:
    token = minted()
    assert validate(client, operator, {"token": token}).status_code == 200
    # A lone surrogate, as JSON can carry it escaped (the test client would not encode it raw).
    body = '{"token": "' + token[:-1] + '\\ud800"}'
    lone = client.post(VALIDATE, body, content_type="application/json", **operator)
    assert_refused(lone, "malformed", "base64url")
    assert_refused(validate(client, operator, {"token": token[:-1] + "é"}), "malformed", "base64url")


def test_a_truststore_profile_validates_tokens_signed_elsewhere_and_never_signs(
    client: APIClient, organization: Organization, sandbox: Catalog, operator: dict[str, str], actor: Actor
) -> None:
    truststore = truststore_import(organization=organization, name="Partners", data=CERT2_PEM.encode(), actor=actor)
    keyprofile_create(
        organization=organization, title="Partner Keys", truststore=truststore, catalogs=[sandbox], actor=actor
    )
    url = profile_url("tokens/validate", name="partner-keys")
    partner = minted({**CLAIMS, "exp": int(time.time()) + 60}, key=rsa_private(KEY2_PEM))
    answer = validate(client, operator, {"token": partner}, url)
    assert answer.status_code == 200, answer.content
    assert answer.json()["crypto_object"] == "personal_sandbox_tlsp-partner-keysV1.0.0-ca-0"
    ours = minted({**CLAIMS, "exp": int(time.time()) + 60})
    assert_refused(validate(client, operator, {"token": ours}, url), "bad_signature", "signature")
    refused = sign(client, operator, {"claims": CLAIMS}, profile_url("tokens", name="partner-keys"))
    assert refused.status_code == 409
    assert refused.json()["code"] == "profile_cannot_sign"


def test_a_profile_whose_every_version_is_retired_neither_signs_nor_verifies(
    client: APIClient, jwt_keyprofile: KeyProfile, operator: dict[str, str], actor: Actor, recheck_always: None
) -> None:
    token = sign(client, operator, {"claims": CLAIMS}).json()["token"]
    assert validate(client, operator, {"token": token}).status_code == 200
    lifecycle.binding_transition(binding=binding("1.0.0"), state=KeyProfileBinding.State.RETIRED, actor=actor)
    no_signer = sign(client, operator, {"claims": CLAIMS})
    assert no_signer.status_code == 409
    assert no_signer.json()["code"] == "no_active_version"
    no_verifier = validate(client, operator, {"token": token})
    assert no_verifier.status_code == 409
    assert no_verifier.json()["code"] == "profile_retired"
