"""Every algorithm, both directions, with PyJWT, jwcrypto, joserfc, Authlib, python-jose and node jose.

Portal to library: the portal's gateway signs (``jwt-generate`` with the algorithm's crypto object) and the
library verifies the way its documentation shows: asymmetric tokens through the library's own JWKS reader
from the portal's JWKS, HS* with the shared secret. Library to portal: the library signs (with the JWKS
``kid``) and the gateway's ``jwt-validate`` answers the claims. Each outcome is recorded for the table.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt as pyjwt
import pytest
from jose.exceptions import JWSError

from tests.interop.conftest import AUDIENCE, ISSUER, LIBRARY_SIGNS, PORTAL_SIGNS, Portal, record
from tests.interop.libraries import (
    ALGORITHMS,
    PYTHON_LIBRARIES,
    Library,
    NodeJose,
    PythonJose,
    SigningKey,
    Verification,
)


def library_claims() -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())}


def jwks_kids(portal: Portal) -> dict[str, str]:
    """The JWKS kid of each asymmetric algorithm's key (the JWKS states each key's one algorithm)."""
    portal.publish_jwks()
    return {key["alg"]: key["kid"] for key in json.loads(portal.jwks.body)["keys"]}


def check_portal_claims(claims: dict[str, Any]) -> None:
    assert (claims["iss"], claims["aud"]) == (ISSUER, AUDIENCE)
    assert claims["exp"] - claims["iat"] == 300


@pytest.mark.parametrize("library", PYTHON_LIBRARIES, ids=lambda library: library.name)
def test_portal_tokens_verify_with_the_library(
    library: Library, portal: Portal, signing_keys: dict[str, SigningKey]
) -> None:
    url = portal.publish_jwks()
    failures: dict[str, str] = {}
    for alg in ALGORITHMS:
        if alg not in library.supports:
            record(library.name, alg, PORTAL_SIGNS, "not implemented")
            continue
        job = Verification(token=portal.generate(alg), alg=alg, jwks_url=url, secret=signing_keys[alg].secret)
        try:
            check_portal_claims(library.verify(job))
        except Exception as e:  # one line per algorithm in the failure, not the first one only
            failures[alg] = f"{type(e).__name__}: {e}"
            record(library.name, alg, PORTAL_SIGNS, "fails")
            continue
        record(library.name, alg, PORTAL_SIGNS, "yes")
    assert failures == {}


@pytest.mark.parametrize("library", PYTHON_LIBRARIES, ids=lambda library: library.name)
def test_library_tokens_validate_in_the_portal(
    library: Library, portal: Portal, signing_keys: dict[str, SigningKey]
) -> None:
    kids = jwks_kids(portal)
    failures: dict[str, Any] = {}
    for alg in ALGORITHMS:
        if alg not in library.supports:
            record(library.name, alg, LIBRARY_SIGNS, "not implemented")
            continue
        claims = library_claims()
        status, answer = portal.validate(alg, library.sign(signing_keys[alg], claims, kids.get(alg)))
        outcome = "yes" if (status, answer) == (200, claims) else "fails"
        if outcome != "yes":
            failures[alg] = (status, answer)
        record(library.name, alg, LIBRARY_SIGNS, outcome)
    assert failures == {}


def test_portal_tokens_verify_with_node_jose_from_the_remote_jwks(
    node_jose: NodeJose, portal: Portal, signing_keys: dict[str, SigningKey]
) -> None:
    url = portal.publish_jwks()
    jobs = [
        node_jose.verify_job(
            Verification(token=portal.generate(alg), alg=alg, jwks_url=url, secret=signing_keys[alg].secret)
        )
        for alg in ALGORITHMS
    ]
    answers = node_jose.run(jobs)
    failures = {}
    for alg, answer in zip(ALGORITHMS, answers, strict=True):
        works = answer["ok"] and answer["value"]["iss"] == ISSUER
        record(NodeJose.name, alg, PORTAL_SIGNS, "yes" if works else "fails")
        if not works:
            failures[alg] = answer
    assert failures == {}


def test_node_jose_tokens_validate_in_the_portal(
    node_jose: NodeJose, portal: Portal, signing_keys: dict[str, SigningKey]
) -> None:
    kids = jwks_kids(portal)
    claims = {alg: library_claims() for alg in ALGORITHMS}
    answers = node_jose.run([node_jose.sign_job(signing_keys[alg], claims[alg], kids.get(alg)) for alg in ALGORITHMS])
    failures = {}
    for alg, answer in zip(ALGORITHMS, answers, strict=True):
        assert answer["ok"], answer
        status, body = portal.validate(alg, answer["value"])
        works = (status, body) == (200, claims[alg])
        record(NodeJose.name, alg, LIBRARY_SIGNS, "yes" if works else "fails")
        if not works:
            failures[alg] = (status, body)
    assert failures == {}


# -- what the table's gaps and the fix rest on -----------------------------------------------------------


def test_python_jose_really_lacks_pss(signing_keys: dict[str, SigningKey]) -> None:
    """The table's n/i cells for python-jose are the library's, not the suite's: it refuses to sign PS*."""
    library = PythonJose()
    assert library.sign(signing_keys["RS256"], library_claims(), None)
    with pytest.raises(JWSError):
        library.sign(signing_keys["PS256"], library_claims(), None)


def test_pyjwk_client_accepts_a_pss_token_when_the_jwks_states_ps256(portal: Portal) -> None:
    url = portal.publish_jwks()
    token = portal.generate("PS256")
    key = pyjwt.PyJWKClient(url, cache_keys=False).get_signing_key_from_jwt(token)
    assert pyjwt.decode(token, key, algorithms=["PS256"], audience=AUDIENCE)["iss"] == ISSUER


def test_pyjwk_client_refuses_the_same_token_when_the_jwks_states_rs256(portal: Portal) -> None:
    # Twin of the test above, with the JWKS as the portal served it before issue 12: alg RS256 for every RSA key.
    url = portal.publish_jwks()
    document = json.loads(portal.jwks.body)
    for key in document["keys"]:
        if key["kty"] == "RSA":
            key["alg"] = "RS256"
    portal.jwks.body = json.dumps(document).encode()
    token = portal.generate("PS256")
    key = pyjwt.PyJWKClient(url, cache_keys=False).get_signing_key_from_jwt(token)
    with pytest.raises(pyjwt.InvalidAlgorithmError):
        pyjwt.decode(token, key, algorithms=["PS256"], audience=AUDIENCE)


def test_a_library_token_signed_with_another_algorithms_key_is_refused(
    portal: Portal, signing_keys: dict[str, SigningKey]
) -> None:
    # Twin of test_library_tokens_validate_in_the_portal: the RS384 key signs for the RS256 path.
    claims = library_claims()
    wrong = SigningKey(alg="RS256", private_pem=signing_keys["RS384"].private_pem)
    status, answer = portal.validate("RS256", pyjwt.encode(claims, wrong.private_pem, algorithm="RS256"))
    assert (status, answer) == (
        400,
        "JWT validation failed, because the JWT signature does not verify: "
        "The token signature does not verify with the configured key.",
    )
