"""Edge cases real libraries produce, each with the portal's intended outcome and why, beside it.

Tokens are signed by jwcrypto, which writes the header and claims exactly as given (other libraries add or
normalise members), with the RS256 key, and validated by the portal's gateway (``jwt-validate`` with the
RS256 crypto object, issuer and audience patterns). The last test runs the other way: a portal token with an
``aud`` array, read by PyJWT and joserfc.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import jwt as pyjwt
from joserfc import jwt as joserfc_jwt
from joserfc.jwk import KeySet as JoserfcKeySet
from joserfc.jwt import JWTClaimsRegistry
from jwcrypto import jwk as jwcrypto_jwk
from jwcrypto import jwt as jwcrypto_jwt

from tests.interop.conftest import AUDIENCE, ISSUER, Portal
from tests.interop.libraries import SigningKey

ACCEPTED = 200
REFUSED = 400


@dataclass(frozen=True)
class FromNow:
    """A NumericDate this many seconds from when the token is signed (the suite may run long after import)."""

    seconds: float


@dataclass(frozen=True)
class Case:
    name: str
    header: dict[str, Any]  # beside alg, which is always RS256
    claims: dict[str, Any]  # over and above a valid iss, aud, iat and exp (None removes a claim)
    status: int
    because: str  # the intended outcome, and why
    message: str = ""  # for a refusal: what the jwt-validate message says


CASES = (
    Case("typ JWT", {"typ": "JWT"}, {}, ACCEPTED, "the usual header (RFC 7519 section 5.1)"),
    Case("typ absent", {}, {}, ACCEPTED, "typ is optional (RFC 7519 section 5.1); jwcrypto and joserfc omit it"),
    Case("typ lower case", {"typ": "jwt"}, {}, ACCEPTED, "typ is informational, and compared case-insensitively"),
    Case("typ at+jwt", {"typ": "at+jwt"}, {}, ACCEPTED, "RFC 9068 access tokens (Auth0, Okta); APIC ignores typ"),
    Case("typ JOSE", {"typ": "JOSE"}, {}, ACCEPTED, "RFC 7515 section 4.1.9; the portal does not type-check"),
    Case("kid absent", {"typ": "JWT"}, {}, ACCEPTED, "jws-crypto names the keys; kid never chooses one"),
    Case("kid unknown", {"kid": "from-another-issuer"}, {}, ACCEPTED, "kid only orders the crypto object's keys"),
    Case("aud array with a match", {}, {"aud": ["other", AUDIENCE]}, ACCEPTED, "any element may match (RFC 7519)"),
    Case(
        "aud array without a match", {}, {"aud": ["other", "another"]}, REFUSED, "no element matches the pattern",
        'the audience claim ["other", "another"] does not match',
    ),
    Case("float exp", {}, {"exp": FromNow(300.5)}, ACCEPTED, "NumericDate may be fractional (RFC 7519 2)"),
    Case(
        "float exp past", {}, {"exp": FromNow(-0.5)}, REFUSED, "expired, fraction or not", "the JWT has expired",
    ),
    Case(
        "iat in the future", {}, {"iat": FromNow(3600)}, ACCEPTED,
        "iat is informational (RFC 7519 4.1.6); nbf says when a token becomes valid, as in APIC",
    ),
    Case(
        "nbf in the future", {}, {"nbf": FromNow(3600)}, REFUSED, "not yet valid (RFC 7519 4.1.5)",
        "the JWT is not valid before",
    ),
    Case("exp absent", {}, {"exp": None}, REFUSED, "exp is required (DESIGN.md)", "the JWT has no exp (expiry) claim"),
    Case("exp as text", {}, {"exp": "2000000000"}, REFUSED, "NumericDate is a number", "exp claim is not a number"),
    Case(
        "crit header", {"crit": ["b64"], "b64": True}, {}, REFUSED, "RFC 7515 4.1.11: the portal understands none",
        "critical extensions",
    ),
)  # fmt: skip


def signed(key: SigningKey, case: Case) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 300}
    claims.update(case.claims)
    claims = {
        name: time.time() + value.seconds if isinstance(value, FromNow) else value
        for name, value in claims.items()
        if value is not None
    }
    token = jwcrypto_jwt.JWT(header={"alg": "RS256", **case.header}, claims=json.dumps(claims))
    token.make_signed_token(jwcrypto_jwk.JWK.from_pem(key.private_pem))
    return str(token.serialize())


def test_edge_cases_real_libraries_produce_have_their_intended_outcome(
    portal: Portal, signing_keys: dict[str, SigningKey]
) -> None:
    outcomes, answers = {}, {}
    for case in CASES:
        status, answer = portal.validate("RS256", signed(signing_keys["RS256"], case))
        answers[case.name] = answer
        outcomes[case.name] = (status, case.message in answer if status == REFUSED else answer["iss"] == ISSUER)
    assert outcomes == {case.name: (case.status, True) for case in CASES}, answers


def test_a_portal_token_with_an_aud_array_verifies_in_pyjwt_and_joserfc(portal: Portal) -> None:
    answer = portal.client.get(
        "/personal/sandbox/interop/sign/es256",
        headers={"X-IBM-Client-Id": portal.client_id, "iss-claim": ISSUER, "aud-claim": f"other, {AUDIENCE}"},
    )
    token = answer["Authorization"].removeprefix("Bearer ")
    jwks = json.loads(portal.client.get("/personal/sandbox/.well-known/jwks.json").content)
    (jwk,) = [key for key in jwks["keys"] if key["alg"] == "ES256"]

    assert pyjwt.decode(token, pyjwt.PyJWK(jwk), algorithms=["ES256"], audience=AUDIENCE)["aud"] == ["other", AUDIENCE]
    decoded = joserfc_jwt.decode(token, JoserfcKeySet.import_key_set(jwks), algorithms=["ES256"])
    JWTClaimsRegistry(aud={"essential": True, "value": AUDIENCE}).validate(decoded.claims)
