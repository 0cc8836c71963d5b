"""The one implementation of public JWKs (RFC 7517, RFC 7518 section 6) and key ids (RFC 7638 thumbprints).

The JWKS, the console, the JWK download and the token codec (``tokens.jose``) all name keys through
``public_jwk`` and ``key_id``, so a token's ``kid`` is the one the JWKS lists.
"""

from __future__ import annotations

import base64
import hashlib
import json

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from keyprofiles.keymaterial.errors import KeyMaterialError
from keyprofiles.keymaterial.facts import PrivateKey, PublicKey
from keyprofiles.keymaterial.limits import CURVE_NAME_BY_OPENSSL_NAME

# RFC 7638 section 3.2: the members a thumbprint covers, by key type (OKP: RFC 8037 section 2).
_THUMBPRINT_MEMBERS = {
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
    "oct": ("k", "kty"),
    "OKP": ("crv", "kty", "x"),
}


def public_jwk(public_key: PublicKey | PrivateKey) -> dict[str, str]:
    """The RFC 7517 public JWK of a key: ``kty``, ``n``, ``e`` (RSA) or ``kty``, ``crv``, ``x``, ``y`` (EC).

    Given a private key, only its public half is used: the result never holds ``d`` or other private members.
    """
    if isinstance(public_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        public_key = public_key.public_key()
    if isinstance(public_key, rsa.RSAPublicKey):
        numbers = public_key.public_numbers()
        return {"kty": "RSA", "n": _b64url_uint(numbers.n), "e": _b64url_uint(numbers.e)}
    curve = CURVE_NAME_BY_OPENSSL_NAME.get(public_key.curve.name)
    if curve is None:
        raise KeyMaterialError(
            f"Keys on the curve {public_key.curve.name} have no JWK form here; use P-256, P-384 or P-521.",
            code="unsupported_curve",
        )
    ec_numbers = public_key.public_numbers()
    # RFC 7518 section 6.2.1.2: coordinates are the full size of the curve's field, leading zeros kept.
    size = (public_key.curve.key_size + 7) // 8
    return {
        "kty": "EC",
        "crv": curve,
        "x": b64url(ec_numbers.x.to_bytes(size, "big")),
        "y": b64url(ec_numbers.y.to_bytes(size, "big")),
    }


def jwk_thumbprint(jwk: dict[str, str]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a JWK, base64url: over its required members only, sorted, compact.

    Raises KeyMaterialError (code ``invalid_jwk``) for an unknown ``kty`` or a missing or non-string member.
    """
    members = _THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if members is None:
        raise KeyMaterialError("The JWK has no supported key type (kty).", code="invalid_jwk")
    required = {}
    for member in members:
        value = jwk.get(member)
        if not isinstance(value, str):
            raise KeyMaterialError(f"The JWK lacks its {member!r} member.", code="invalid_jwk")
        required[member] = value
    canonical = json.dumps(required, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def key_id(key: PublicKey | PrivateKey) -> str:
    """The ``kid`` of a key: the RFC 7638 thumbprint of its public JWK (of the public half of a private key)."""
    return jwk_thumbprint(public_jwk(key))


def secret_thumbprint(secret: bytes) -> str:
    """The RFC 7638 thumbprint of a shared secret's ``oct`` JWK, for a ``kid``.

    It reveals no more than any HMAC token made with the secret already does (both allow only guessing).
    """
    return jwk_thumbprint({"kty": "oct", "k": b64url(secret)})


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_uint(value: int) -> str:
    # RFC 7518 section 2: Base64urlUInt, the minimal big-endian octets (one zero octet for zero).
    return b64url(value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))
