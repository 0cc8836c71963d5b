"""A catalog's JWK set (RFC 7517 section 5): the public keys of its crypto objects that are not retired."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from keyprofiles import keymaterial
from keyprofiles.models import CryptoObject, KeyProfileBinding


def jwks_document(crypto_objects: Iterable[CryptoObject]) -> bytes:
    """The JWK set of these crypto objects, one entry per key, in crypto object name order; retired versions
    and shared secrets (never published) are left out."""
    keys: dict[str, dict[str, Any]] = {}
    served = sorted(
        (o for o in crypto_objects if o.binding.state != KeyProfileBinding.State.RETIRED), key=lambda o: o.name
    )
    for crypto_object in served:
        certificate = crypto_object.certificate
        if certificate is None:  # shared secrets are never published
            continue
        chain_pem = crypto_object.keystore.chain_pem if crypto_object.keystore is not None else ""
        jwk: dict[str, Any] = keymaterial.public_jwk(
            keymaterial.public_key_from_certificate_pem(certificate.certificate_pem)
        )
        kid = keymaterial.jwk_thumbprint(jwk)
        if kid in keys:
            continue
        jwk.update(
            {
                "kid": kid,
                "use": "sig",
                "alg": _jwks_algorithm(crypto_object, jwk),
                "x5c": [keymaterial.certificate_der_b64(pem) for pem in _pems(certificate.certificate_pem + chain_pem)],
                "x5t#S256": keymaterial.certificate_sha256_thumbprint(certificate.certificate_pem),
            }
        )
        keys[kid] = jwk
    return json.dumps({"keys": list(keys.values())}, separators=(",", ":")).encode()


def _jwks_algorithm(crypto_object: CryptoObject, jwk: dict[str, Any]) -> str:
    """The algorithm the key signs with: fixed per keystore (RFC 8725 section 3.1), so that verifiers that
    match a token's ``alg`` to the JWK's (PyJWT ``PyJWKClient``, joserfc, node jose) accept it. A trusted
    certificate signs elsewhere; it is announced with its key type's natural algorithm."""
    if crypto_object.keystore is not None and crypto_object.keystore.effective_algorithm:
        return crypto_object.keystore.effective_algorithm
    if jwk.get("kty") == "EC":
        return {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}[jwk["crv"]]
    return "RS256"


def _pems(text: str) -> list[str]:
    end = "-----END CERTIFICATE-----"
    return [block + end + "\n" for block in text.split(end) if "-----BEGIN CERTIFICATE-----" in block]
