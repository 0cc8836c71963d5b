"""The in-process half of the benchmark: the jwt-generate and jwt-validate policies against raw
``cryptography``, the ``tokens.jose`` codec alone, PyJWT and joserfc, all with one RSA-2048 key and RS256.

Every contender signs the demo's claims (iss, aud, iat, exp one hour on, a UUID4 jti) with the header
``{"alg", "typ", "kid"}``, or verifies the one token the policy minted and checks exp, iss and aud:

* raw: the bare ``sign``/``verify`` call of ``cryptography`` on that token's signing input, no JSON, no
  base64url, no claims: the floor;
* policy: ``JwtGenerate.run`` / ``JwtValidate.run`` built from the demo document's own policy properties, run
  against a ``Context`` holding the request headers (the context is built once, outside the timing);
* codec: ``tokens.jose.sign_compact`` / ``verify_compact`` alone (claims made per call, not checked);
* pyjwt, joserfc: the same work with the peers (``jwt.decode`` with issuer and audience;
  ``joserfc.jwt.decode`` then a ``JWTClaimsRegistry``).
"""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

import jwt as pyjwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from joserfc import jwt as joserfc_jwt
from joserfc.jwk import RSAKey

from bench.timing import Timing, interleaved
from bench.workload import (
    ALGORITHM,
    AUDIENCE,
    CLAIM_HEADERS,
    ISSUER,
    RSA_BITS,
    VALIDITY_SECONDS,
    bench_document,
    policy_config,
)
from tokens import jose
from tokens.assembly import (
    DecryptionMaterial,
    EncryptionMaterial,
    JwtGenerate,
    JwtValidate,
    SigningMaterial,
    VerificationMaterial,
)
from tokens.context import Context

SIGN_COUNT = 30  # about 12 ms of RSA-2048 signing per contender and round: short rounds, many of them
VERIFY_COUNT = 300  # verifying is some 15 times cheaper per call


class _FixedKeyResolver:
    """A ``CryptoResolver`` that answers every crypto object name with the benchmark's one key."""

    def __init__(self, private_key: rsa.RSAPrivateKey) -> None:
        signing_key = jose.JwsKey.from_private_key(private_key)
        self._signing = SigningMaterial(signing_key, signing_key.thumbprint())
        self._verifying = VerificationMaterial((jose.JwsKey.from_public_key(private_key.public_key()),), {})

    def signing(self, name: str) -> SigningMaterial:
        return self._signing

    def verifying(self, name: str) -> VerificationMaterial:
        return self._verifying

    def encrypting(self, name: str) -> EncryptionMaterial:
        raise LookupError("the benchmark does not encrypt")

    def decrypting(self, name: str) -> DecryptionMaterial:
        raise LookupError("the benchmark does not decrypt")

    def signing_algorithm_use(self, name: str, alg: str) -> None:
        """The benchmark's key signs RS256 only; nothing to record."""


def _claims() -> dict[str, Any]:
    """The claims the demo's jwt-generate makes, built per call as the policy builds them."""
    now = int(time.time())
    return {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + VALIDITY_SECONDS, "jti": str(uuid.uuid4())}


def measure(rounds: int) -> dict[str, dict[str, Timing]]:
    """``{"sign": {contender: Timing}, "verify": {...}}`` for raw, policy, codec, pyjwt and joserfc."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    public_key = private_key.public_key()
    resolver = _FixedKeyResolver(private_key)
    signing = resolver.signing("")
    document = bench_document()
    generate = JwtGenerate("jwt-generate", policy_config(document, "jwt-generate"), resolver)
    validate = JwtValidate("jwt-validate", policy_config(document, "jwt-validate"), resolver)

    generate_context = Context(verb="GET", path="/generate", headers=CLAIM_HEADERS)
    generate.run(generate_context)
    token: str = generate_context.get("generated.jwt")
    validate_context = Context(verb="GET", path="/validate", headers={"Authorization": f"Bearer {token}"})
    validate.run(validate_context)  # fails loudly here if the pinned claims and the policy disagree

    signing_input, _, encoded_signature = token.rpartition(".")
    message = signing_input.encode("ascii")
    signature = base64.urlsafe_b64decode(encoded_signature + "==")
    pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
    header = {"alg": ALGORITHM, "kid": signing.kid}
    joserfc_private, joserfc_public = RSAKey.import_key(private_key), RSAKey.import_key(public_key)
    joserfc_claims = joserfc_jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": ISSUER}, aud={"essential": True, "value": AUDIENCE}, exp={"essential": True}
    )
    verifying_keys = resolver.verifying("").keys

    def joserfc_verify() -> None:
        joserfc_claims.validate(joserfc_jwt.decode(token, joserfc_public, algorithms=[ALGORITHM]).claims)

    sign = interleaved(
        {
            "raw": lambda: private_key.sign(message, pkcs1, sha256),
            "policy": lambda: generate.run(generate_context),
            "codec": lambda: jose.sign_compact(claims=_claims(), key=signing.key, alg=ALGORITHM, kid=signing.kid),
            "pyjwt": lambda: pyjwt.encode(_claims(), private_key, algorithm=ALGORITHM, headers={"kid": signing.kid}),
            "joserfc": lambda: joserfc_jwt.encode(header, _claims(), joserfc_private, algorithms=[ALGORITHM]),
        },
        SIGN_COUNT,
        rounds,
    )
    verify = interleaved(
        {
            "raw": lambda: public_key.verify(signature, message, pkcs1, sha256),
            "policy": lambda: validate.run(validate_context),
            "codec": lambda: jose.verify_compact(token, keys=verifying_keys, algorithms=(ALGORITHM,)),
            "pyjwt": lambda: pyjwt.decode(
                token,
                public_key,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                audience=AUDIENCE,
                options={"require": ["exp", "iss", "aud"]},
            ),
            "joserfc": joserfc_verify,
        },
        VERIFY_COUNT,
        rounds,
    )
    return {"sign": sign, "verify": verify}
