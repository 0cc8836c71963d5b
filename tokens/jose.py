"""Compact JWS signing and verification: the project's only user of josepy (DESIGN.md section 5).

josepy supplies the JWA algorithm objects for HS* and ES*; everything around them is a deliberately thin
codec written here, because josepy's own JWS object path trusts an embedded ``jwk`` header, its
``JWK.load()`` turns garbage into an ``oct`` key, and it signs PS* with the maximum salt length where
RFC 7518 section 3.5 requires a salt as long as the hash (so PS* uses ``cryptography`` directly). RS* calls
``cryptography`` directly too: the same PKCS #1 v1.5 call josepy makes, without its two wrapping frames on
the gateway's hot path.

Key material arrives here as ``cryptography`` key objects (parsed by ``keyprofiles.keymaterial``), as an HMAC
secret, or as a JWK built with ``cryptography``'s numbers classes; this module never parses PEM or DER.
Claims (``exp``, ``nbf``, ``iss``, ``aud``) are the policy layer's business, not this module's.
"""

from __future__ import annotations

import binascii
import hmac
import json
import os
from collections.abc import Callable, Iterable, Sequence
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any, Final, Literal

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap
from josepy import jwa  # noqa: TID251

from keyprofiles import keymaterial
from portal.untrusted import MAX_NESTING, nesting_exceeds

__all__ = [
    "ALGORITHMS",
    "JWE_ALGORITHMS",
    "JWE_ENCRYPTIONS",
    "MAX_JWE_BYTES",
    "MAX_TOKEN_BYTES",
    "CompactSigner",
    "JoseError",
    "JoseErrorReason",
    "JweKey",
    "JweKeySet",
    "JwkSet",
    "JwsKey",
    "decrypt_compact",
    "encrypt_compact",
    "is_compact_jwe",
    "sign_compact",
    "verify_compact",
]

ALGORITHMS: Final[tuple[str, ...]] = (
    "HS256",
    "HS384",
    "HS512",
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
)
MAX_TOKEN_BYTES: Final = 8192

JoseErrorReason = Literal["size", "malformed", "algorithm", "header", "signature", "key", "decryption"]

_ALGORITHM_SET: Final = frozenset(ALGORITHMS)
# RFC 7518 section 3.4: each ES* algorithm is bound to one curve.
_EC_ALGORITHM_BY_CURVE: Final[dict[str, str]] = {
    "secp256r1": "ES256",
    "secp384r1": "ES384",
    "secp521r1": "ES512",
}
_CURVE_BY_JWK_CRV: Final[dict[str, ec.EllipticCurve]] = {
    "P-256": ec.SECP256R1(),
    "P-384": ec.SECP384R1(),
    "P-521": ec.SECP521R1(),
}
# RFC 7518 section 3.2: an HMAC key at least as long as the hash output.
_MIN_SECRET_BYTES: Final[dict[str, int]] = {"HS256": 32, "HS384": 48, "HS512": 64}
# RFC 7518 section 3.3 requires 2048 bits; the upper bound keeps a hostile JWK from costing much. Both are the
# upload rules' (DESIGN.md section 6), so every key the portal holds can sign, and a JWK can be no larger.
_RSA_MIN_BITS: Final = keymaterial.RSA_MIN_BITS
_RSA_MAX_BITS: Final = keymaterial.RSA_MAX_BITS
_MAX_JWK_TEXT: Final = 65536

_JWA_BY_NAME: Final[dict[str, jwa.JWASignature]] = {
    "HS256": jwa.HS256,
    "HS384": jwa.HS384,
    "HS512": jwa.HS512,
    "ES256": jwa.ES256,
    "ES384": jwa.ES384,
    "ES512": jwa.ES512,
}
_PKCS1_HASHES: Final[dict[str, Callable[[], hashes.HashAlgorithm]]] = {
    "RS256": hashes.SHA256,
    "RS384": hashes.SHA384,
    "RS512": hashes.SHA512,
}
_PSS_HASHES: Final[dict[str, Callable[[], hashes.HashAlgorithm]]] = {
    "PS256": hashes.SHA256,
    "PS384": hashes.SHA384,
    "PS512": hashes.SHA512,
}

# RFC 7515 sections 2 and 7.1: base64url without padding or whitespace, parts joined by dots.
_BASE64URL_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_COMPACT_ALPHABET = _BASE64URL_ALPHABET + b"."
_JSON_WHITESPACE = " \t\n\r"
_URLSAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_STANDARD_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_PADDING = (b"", b"", b"==", b"=")
# The last character of an unpadded base64url text whose unused low bits are zero; any other character
# there decodes to the same bytes, so accepting it would make a token malleable (RFC 4648 section 3.5).
_CANONICAL_LAST = (b"", b"", frozenset(b"AQgw"), frozenset(b"AEIMQUYcgkosw048"))

_Signer = Callable[[bytes], bytes]
_Verifier = Callable[[bytes, bytes], bool]


class JoseError(Exception):
    """A token or key is refused.

    ``reason`` is one of ``'size'``, ``'malformed'``, ``'algorithm'``, ``'header'``, ``'signature'``,
    ``'key'``; ``str(error)`` is a readable sentence that never echoes token or key contents. For a
    ``'signature'`` failure, ``kid`` is the (unverified) ``kid`` the token's header named, if any, so that the
    caller can say which of its keys was meant; it never chooses a key.
    """

    def __init__(self, reason: JoseErrorReason, message: str, *, kid: str | None = None) -> None:
        super().__init__(message)
        self.reason: JoseErrorReason = reason
        self.kid = kid


class _DuplicateMemberError(ValueError):
    """A JSON object names a member twice (RFC 7515 section 4: such a header MUST be rejected)."""


class _NonStandardConstantError(ValueError):
    """NaN, Infinity or -Infinity, which Python's decoder accepts but JSON does not have."""


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _DuplicateMemberError("duplicate member name")
    return obj


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are not JSON (RFC 8259 section 6), though Python's parser accepts them.
    raise _NonStandardConstantError("non-standard JSON constant")


_JSON_DECODER: Final = json.JSONDecoder(object_pairs_hook=_object_without_duplicates, parse_constant=_refuse_constant)
_JSON_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), allow_nan=False, check_circular=False)


def _not_json(value: object) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON")


# The C encoder JSONEncoder.encode makes for every call (json.dumps with these arguments makes a JSONEncoder as
# well), made once: compact, ASCII, no NaN. Claims come from the policy or from parsed JSON, so there is no
# cycle to look for; an absurdly deep value ends in RecursionError, which sign refuses like any other.
_C_CLAIMS_ENCODER: Final = (
    c_make_encoder(None, _not_json, encode_basestring_ascii, None, ":", ",", False, False, False)
    if c_make_encoder is not None
    else None
)


def _claims_json(claims: dict[str, Any]) -> bytes:
    """``claims`` as compact JSON (what ``json.dumps(claims, separators=(",", ":"), allow_nan=False)`` writes).
    Raises TypeError, ValueError or RecursionError for a value JSON cannot hold."""
    if _C_CLAIMS_ENCODER is None:
        return _JSON_ENCODER.encode(claims).encode("ascii")
    return "".join(_C_CLAIMS_ENCODER(claims, 0)).encode("ascii")


def _b64url_encode(data: bytes) -> bytes:
    return binascii.b2a_base64(data, newline=False).translate(_STANDARD_TO_URLSAFE).rstrip(b"=")


def _b64url_decode(text: bytes) -> bytes:
    """Decode unpadded base64url already known to use only its alphabet; refuse non-canonical text."""
    remainder = len(text) % 4
    if remainder == 1 or (remainder and text[-1] not in _CANONICAL_LAST[remainder]):
        raise ValueError("not canonical base64url")
    return binascii.a2b_base64(text.translate(_URLSAFE_TO_STANDARD) + _PADDING[remainder])


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        # raw_decode on the stripped text is json.loads without its two whitespace regex scans.
        text = data.decode("utf-8").strip(_JSON_WHITESPACE)
        # Two str.count calls for a usual token; the decoder recurses per level (DESIGN.md section 6).
        if nesting_exceeds(text):
            raise JoseError("malformed", f"The token {what} is nested more than {MAX_NESTING} levels deep.")
        value, end = _JSON_DECODER.raw_decode(text)
        if end != len(text):
            raise json.JSONDecodeError("data after the JSON value", text, end)
    except RecursionError as e:
        raise JoseError("malformed", f"The token {what} is nested more than {MAX_NESTING} levels deep.") from e
    except ValueError as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        if type(e) is ValueError:
            # Not a decoding error of ours or json's: int() refusing more digits than the interpreter's
            # limit (4300 by default).
            raise JoseError("malformed", f"The token {what} holds an integer too long to read.") from e
        raise JoseError("malformed", f"The token {what} is not UTF-8 JSON without duplicate members.") from e
    if not isinstance(value, dict):
        raise JoseError("malformed", f"The token {what} is not a JSON object.")
    return value


def _rsa_signers(private: rsa.RSAPrivateKey) -> dict[str, _Signer]:
    signers: dict[str, _Signer] = {}
    for name, hash_type in _PKCS1_HASHES.items():
        signers[name] = _pkcs1_signer(private, hash_type())
    for name, hash_type in _PSS_HASHES.items():
        signers[name] = _pss_signer(private, hash_type())
    return signers


def _rsa_verifiers(public: rsa.RSAPublicKey) -> dict[str, _Verifier]:
    # An RSA signature is exactly as long as the modulus (RFC 8017 sections 8.1.2 and 8.2.2).
    signature_length = (public.key_size + 7) // 8
    verifiers: dict[str, _Verifier] = {}
    for name, hash_type in _PKCS1_HASHES.items():
        verifiers[name] = _pkcs1_verifier(public, hash_type(), signature_length)
    for name, hash_type in _PSS_HASHES.items():
        verifiers[name] = _pss_verifier(public, hash_type(), signature_length)
    return verifiers


def _pkcs1_signer(private: rsa.RSAPrivateKey, hash_algorithm: hashes.HashAlgorithm) -> _Signer:
    pkcs1 = padding.PKCS1v15()  # RFC 7518 section 3.3: RSASSA-PKCS1-v1_5

    def sign(message: bytes) -> bytes:
        return private.sign(message, pkcs1, hash_algorithm)

    return sign


def _pkcs1_verifier(public: rsa.RSAPublicKey, hash_algorithm: hashes.HashAlgorithm, signature_length: int) -> _Verifier:
    pkcs1 = padding.PKCS1v15()

    def verify(message: bytes, signature: bytes) -> bool:
        if len(signature) != signature_length:
            return False
        try:
            public.verify(signature, message, pkcs1, hash_algorithm)
        except InvalidSignature:
            return False
        return True

    return verify


def _pss_padding(hash_algorithm: hashes.HashAlgorithm) -> padding.PSS:
    # RFC 7518 section 3.5: MGF1 with the same hash, salt as long as the hash output.
    return padding.PSS(mgf=padding.MGF1(hash_algorithm), salt_length=hash_algorithm.digest_size)


def _pss_signer(private: rsa.RSAPrivateKey, hash_algorithm: hashes.HashAlgorithm) -> _Signer:
    pss = _pss_padding(hash_algorithm)

    def sign(message: bytes) -> bytes:
        return private.sign(message, pss, hash_algorithm)

    return sign


def _pss_verifier(public: rsa.RSAPublicKey, hash_algorithm: hashes.HashAlgorithm, signature_length: int) -> _Verifier:
    pss = _pss_padding(hash_algorithm)

    def verify(message: bytes, signature: bytes) -> bool:
        if len(signature) != signature_length:
            return False
        try:
            public.verify(signature, message, pss, hash_algorithm)
        except InvalidSignature:
            return False
        return True

    return verify


def _jwa_signer(algorithm: jwa.JWASignature, private: object) -> _Signer:
    def sign(message: bytes) -> bytes:
        return algorithm.sign(private, message)

    return sign


def _jwa_verifier(algorithm: jwa.JWASignature, public: object, signature_length: int) -> _Verifier:
    def verify(message: bytes, signature: bytes) -> bool:
        return len(signature) == signature_length and algorithm.verify(public, message, signature)

    return verify


def _hmac_verifier(algorithm: jwa.JWASignature, secret: bytes) -> _Verifier:
    def verify(message: bytes, signature: bytes) -> bool:
        return hmac.compare_digest(algorithm.sign(secret, message), signature)

    return verify


class JwsKey:
    """A key ready to sign and/or verify, built once and reused across requests and threads.

    ``kind`` is ``'RSA'``, ``'EC'`` or ``'oct'``; ``can_sign`` says whether it holds private material.
    Build one with the ``from_*`` class methods; each raises ``JoseError('key')`` for a key it refuses.
    """

    __slots__ = (
        "_allowed",
        "_header_prefixes",
        "_signers",
        "_thumbprint",
        "_thumbprint_members",
        "_verifiers",
        "can_sign",
        "kind",
    )

    _MAX_CACHED_HEADERS: Final = 64

    def __init__(
        self,
        *,
        kind: Literal["RSA", "EC", "oct"],
        thumbprint_members: dict[str, str],
        signers: dict[str, _Signer],
        verifiers: dict[str, _Verifier],
    ) -> None:
        """Internal: use the ``from_*`` class methods."""
        self.kind = kind
        self.can_sign = bool(signers)
        self._thumbprint_members = thumbprint_members
        self._signers = signers
        self._verifiers = verifiers
        self._allowed = frozenset(verifiers)
        self._thumbprint: str | None = None
        self._header_prefixes: dict[tuple[str, str | None], bytes] = {}

    def __repr__(self) -> str:
        role = "private" if self.can_sign else "public"
        if self.kind == "oct":
            role = "secret"
        return f"<JwsKey {self.kind} {role} {sorted(self._allowed)}>"

    # -- construction ------------------------------------------------------------------------------------

    @classmethod
    def from_private_key(cls, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> JwsKey:
        """A signing (and verifying) key from a ``cryptography`` RSA or EC private key.

        Raises ``JoseError('key')`` for another key type, RSA outside 2048 to 8192 bits, or an EC curve
        other than P-256, P-384 or P-521.
        """
        if isinstance(key, rsa.RSAPrivateKey):
            public = key.public_key()
            _check_rsa_size(public)
            return cls(
                kind="RSA",
                thumbprint_members=keymaterial.public_jwk(public),
                signers=_rsa_signers(key),
                verifiers=_rsa_verifiers(public),
            )
        if isinstance(key, ec.EllipticCurvePrivateKey):
            name = _ec_algorithm(key.curve)
            public_ec = key.public_key()
            algorithm = _JWA_BY_NAME[name]
            return cls(
                kind="EC",
                thumbprint_members=keymaterial.public_jwk(public_ec),
                signers={name: _jwa_signer(algorithm, key)},
                verifiers={name: _jwa_verifier(algorithm, public_ec, 2 * _ec_coordinate_length(key.curve))},
            )
        raise JoseError("key", "Only RSA and EC (P-256, P-384, P-521) private keys can sign tokens.")

    @classmethod
    def from_public_key(cls, key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey) -> JwsKey:
        """A verify-only key from a ``cryptography`` RSA or EC public key; same refusals as above."""
        if isinstance(key, rsa.RSAPublicKey):
            _check_rsa_size(key)
            return cls(
                kind="RSA", thumbprint_members=keymaterial.public_jwk(key), signers={}, verifiers=_rsa_verifiers(key)
            )
        if isinstance(key, ec.EllipticCurvePublicKey):
            name = _ec_algorithm(key.curve)
            verifier = _jwa_verifier(_JWA_BY_NAME[name], key, 2 * _ec_coordinate_length(key.curve))
            return cls(
                kind="EC", thumbprint_members=keymaterial.public_jwk(key), signers={}, verifiers={name: verifier}
            )
        raise JoseError("key", "Only RSA and EC (P-256, P-384, P-521) public keys can verify tokens.")

    @classmethod
    def from_secret(cls, secret: bytes) -> JwsKey:
        """An HMAC key for HS256 (32 bytes or more), HS384 (48 or more) and HS512 (64 or more).

        Raises ``JoseError('key')`` for a secret shorter than 32 bytes, and for one that is a PEM block or
        an SSH public key: using a published public key as an HMAC secret is the RS/HS confusion attack.
        """
        if not isinstance(secret, bytes | bytearray):
            raise JoseError("key", "An HMAC secret must be bytes.")
        secret = bytes(secret)
        if len(secret) < _MIN_SECRET_BYTES["HS256"]:
            raise JoseError("key", "An HMAC secret must be at least 32 bytes long.")
        if b"-----BEGIN" in secret or secret.startswith((b"ssh-", b"ecdsa-sha2-")):
            raise JoseError("key", "An HMAC secret must not be a public or private key in text form.")
        signers: dict[str, _Signer] = {}
        verifiers: dict[str, _Verifier] = {}
        for name, minimum in _MIN_SECRET_BYTES.items():
            if len(secret) >= minimum:
                algorithm = _JWA_BY_NAME[name]
                signers[name] = _jwa_signer(algorithm, secret)
                verifiers[name] = _hmac_verifier(algorithm, secret)
        return cls(
            kind="oct",
            thumbprint_members={"kty": "oct", "k": _b64url_encode(secret).decode("ascii")},
            signers=signers,
            verifiers=verifiers,
        )

    @classmethod
    def from_jwk(cls, jwk: dict[str, Any] | str) -> JwsKey:
        """A key from a JWK (RFC 7517/7518 section 6): ``oct``, ``RSA`` (public or private) or ``EC``.

        ``jwk`` is a dict or its JSON text. The key is built with ``cryptography``'s numbers classes, so an
        EC point off its curve or an inconsistent RSA private key is refused. A JWK ``alg`` member narrows
        the key to that one algorithm; ``use`` other than ``sig`` and multi-prime RSA (``oth``) are refused.
        Raises ``JoseError('key')`` for any JWK it cannot use, with a sentence naming the problem.
        """
        members = _jwk_members(jwk)
        if members.get("use", "sig") != "sig":
            raise JoseError("key", "The JWK is not meant for signatures (its 'use' is not 'sig').")
        kty = members.get("kty")
        key: JwsKey
        if kty == "oct":
            key = cls.from_secret(_jwk_bytes(members, "k"))
        elif kty == "RSA":
            key = _jws_key(cls, _rsa_key_from_jwk(members))
        elif kty == "EC":
            key = _jws_key(cls, _ec_key_from_jwk(members))
        else:
            raise JoseError("key", "The JWK 'kty' must be 'oct', 'RSA' or 'EC'.")
        if "alg" in members:
            alg = members["alg"]
            if not isinstance(alg, str) or alg not in key._allowed:
                raise JoseError("key", "The JWK 'alg' is not a JWS algorithm this key type can use.")
            key = key._restricted_to(alg)
        return key

    # -- properties ---------------------------------------------------------------------------------------

    def allowed_algorithms(self) -> frozenset[str]:
        """The JWS algorithms this key may sign or verify: RS*/PS* for RSA, the ES* of its curve for EC,
        the HS* its length permits for ``oct``."""
        return self._allowed

    def thumbprint(self) -> str:
        """The RFC 7638 SHA-256 thumbprint (base64url) of the public part; for ``oct``, of ``k``."""
        if self._thumbprint is None:
            self._thumbprint = keymaterial.jwk_thumbprint(self._thumbprint_members)
        return self._thumbprint

    def public_jwk(self) -> dict[str, str]:
        """The public JWK members (``kty`` and ``n``/``e`` or ``crv``/``x``/``y``) for a JWKS document.

        Raises ``JoseError('key')`` for an ``oct`` key: a secret is never published.
        """
        if self.kind == "oct":
            raise JoseError("key", "An HMAC secret has no public part to publish.")
        return dict(self._thumbprint_members)

    def _restricted_to(self, alg: str) -> JwsKey:
        """The same key, usable only with ``alg`` (a JWK's ``alg`` member, RFC 7517 section 4.4)."""
        return JwsKey(
            kind=self.kind,
            thumbprint_members=self._thumbprint_members,
            signers={alg: self._signers[alg]} if alg in self._signers else {},
            verifiers={alg: self._verifiers[alg]},
        )

    # -- hot path -----------------------------------------------------------------------------------------

    def _header_prefix(self, alg: str, kid: str | None) -> bytes:
        """The encoded protected header plus its dot, cached per (alg, kid)."""
        cache_key = (alg, kid)
        prefix = self._header_prefixes.get(cache_key)
        if prefix is None:
            header = {"alg": alg, "typ": "JWT"} if kid is None else {"alg": alg, "typ": "JWT", "kid": kid}
            prefix = _b64url_encode(json.dumps(header, separators=(",", ":")).encode("ascii")) + b"."
            if len(self._header_prefixes) < self._MAX_CACHED_HEADERS:
                self._header_prefixes[cache_key] = prefix
        return prefix


def _check_rsa_size(key: rsa.RSAPublicKey) -> None:
    if not _RSA_MIN_BITS <= key.key_size <= _RSA_MAX_BITS:
        raise JoseError("key", f"An RSA key for JWS must have {_RSA_MIN_BITS} to {_RSA_MAX_BITS} bits.")


def _ec_algorithm(curve: ec.EllipticCurve) -> str:
    name = _EC_ALGORITHM_BY_CURVE.get(curve.name)
    if name is None:
        raise JoseError("key", "An EC key for JWS must be on P-256, P-384 or P-521.")
    return name


def _ec_coordinate_length(curve: ec.EllipticCurve) -> int:
    return (curve.key_size + 7) // 8


def _jwk_members(jwk: dict[str, Any] | str) -> dict[str, Any]:
    if isinstance(jwk, str):
        if len(jwk) > _MAX_JWK_TEXT:
            raise JoseError("key", "The JWK text is too large.")
        if nesting_exceeds(jwk):
            raise JoseError("key", f"The JWK is nested more than {MAX_NESTING} levels deep.")
        try:
            parsed = _JSON_DECODER.decode(jwk)
        except (ValueError, RecursionError) as e:
            raise JoseError("key", "The JWK is not JSON without duplicate members.") from e
        jwk = parsed
    if not isinstance(jwk, dict):
        raise JoseError("key", "A JWK must be a JSON object.")
    return jwk


def _jwk_bytes(members: dict[str, Any], name: str) -> bytes:
    value = members.get(name)
    if not isinstance(value, str) or not value:
        raise JoseError("key", f"The JWK member '{name}' is missing or not a string.")
    try:
        encoded = value.encode("ascii")
        if encoded.translate(None, _BASE64URL_ALPHABET):
            raise ValueError("not base64url")
        return _b64url_decode(encoded)
    except ValueError as e:  # UnicodeEncodeError and binascii.Error are ValueErrors
        raise JoseError("key", f"The JWK member '{name}' is not unpadded base64url.") from e


def _jwk_int(members: dict[str, Any], name: str, max_bytes: int | None = None) -> int:
    raw = _jwk_bytes(members, name)
    if max_bytes is not None and len(raw.lstrip(b"\0")) > max_bytes:
        raise JoseError("key", f"The JWK member '{name}' is longer than the modulus.")
    return int.from_bytes(raw, "big")


_AnyKey = rsa.RSAPrivateKey | rsa.RSAPublicKey | ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey


def _jws_key(cls: type[JwsKey], key: _AnyKey) -> JwsKey:
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        return cls.from_private_key(key)
    return cls.from_public_key(key)


def _rsa_key_from_jwk(members: dict[str, Any]) -> rsa.RSAPrivateKey | rsa.RSAPublicKey:
    if "oth" in members:
        raise JoseError("key", "Multi-prime RSA JWKs ('oth') are not supported.")
    n_bytes = _jwk_bytes(members, "n")
    if not _RSA_MIN_BITS <= len(n_bytes.lstrip(b"\0")) * 8 <= _RSA_MAX_BITS:
        raise JoseError("key", f"An RSA key for JWS must have {_RSA_MIN_BITS} to {_RSA_MAX_BITS} bits.")
    # Every other RSA number is smaller than n; a longer one would only cost time (pow() in the recovery of
    # p and q grows with the size of d and e).
    modulus_length = len(n_bytes.lstrip(b"\0"))
    public_numbers = rsa.RSAPublicNumbers(_jwk_int(members, "e", modulus_length), int.from_bytes(n_bytes, "big"))
    if "d" not in members:
        try:
            public = public_numbers.public_key()
        except ValueError as e:
            raise JoseError("key", "The RSA JWK does not describe a valid public key.") from e
        return public
    crt_names = ("p", "q", "dp", "dq", "qi")
    present = [name for name in crt_names if name in members]
    d = _jwk_int(members, "d", modulus_length)
    try:
        if not present:
            # RFC 7518 section 6.3.2: the CRT members may be absent; recover them from n, e and d.
            p, q = rsa.rsa_recover_prime_factors(public_numbers.n, public_numbers.e, d)
            dmp1, dmq1, iqmp = rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q)
        elif len(present) == len(crt_names):
            p, q, dmp1, dmq1, iqmp = (_jwk_int(members, name, modulus_length) for name in crt_names)
        else:
            raise JoseError("key", "A private RSA JWK must carry all of 'p', 'q', 'dp', 'dq', 'qi' or none.")
        private = rsa.RSAPrivateNumbers(p, q, d, dmp1, dmq1, iqmp, public_numbers).private_key()
    except ValueError as e:
        raise JoseError("key", "The RSA JWK does not describe a valid private key.") from e
    return private


def _ec_key_from_jwk(members: dict[str, Any]) -> ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey:
    crv = members.get("crv")
    curve = _CURVE_BY_JWK_CRV.get(crv) if isinstance(crv, str) else None
    if curve is None:
        raise JoseError("key", "The EC JWK 'crv' must be 'P-256', 'P-384' or 'P-521'.")
    length = _ec_coordinate_length(curve)
    coordinates = []
    # RFC 7518 sections 6.2.1.2, 6.2.1.3 and 6.2.2.1: x, y and d are full length, never shortened.
    for name in ("x", "y", "d") if "d" in members else ("x", "y"):
        raw = _jwk_bytes(members, name)
        if len(raw) != length:
            raise JoseError("key", f"The EC JWK member '{name}' is not {length} bytes long.")
        coordinates.append(int.from_bytes(raw, "big"))
    try:
        public_numbers = ec.EllipticCurvePublicNumbers(coordinates[0], coordinates[1], curve)
        if len(coordinates) == 2:
            return public_numbers.public_key()
        return ec.EllipticCurvePrivateNumbers(coordinates[2], public_numbers).private_key()
    except ValueError as e:
        raise JoseError("key", "The EC JWK does not describe a valid key on its curve.") from e


_MAX_SHOWN_KID = 64
_SHOWABLE_KID = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:")


def _shown_kid(kid: str) -> str:
    """A kid to name in a message: only short, plain ones, so a message never carries arbitrary token text."""
    if len(kid) <= _MAX_SHOWN_KID and set(kid) <= _SHOWABLE_KID:
        return f"kid '{kid}'"
    return "its kid"


class _OtherKid:
    """The index entry for a token kid that no key of the set carries."""


_OTHER_KID: Final = _OtherKid()
_KidQuery = str | None | _OtherKid


class JwkSet:
    """One JWK or a JWK set (RFC 7517 sections 4 and 5), parsed once, choosing keys by dictionary lookup.

    Verification picks the one key that fits a token's ``alg`` among the keys carrying the token's ``kid``
    (when no key carries it, among the keys without ``kid``; a token without ``kid``, among all keys); a single
    JWK (not a set) fits every ``kid``.
    Signing picks the one key with a private part that may use the algorithm, and names it in the header by
    the JWK's own ``kid`` (as API Connect does), or by its RFC 7638 thumbprint when it has none. Each choice
    is computed at construction, so a request costs a lookup, never a scan or a parse.
    """

    __slots__ = ("_algorithms", "_kids", "_signing", "_verifying", "is_set", "size")

    def __init__(self, entries: list[tuple[str | None, JwsKey]], *, is_set: bool) -> None:
        """Internal: use ``from_json``."""
        self.is_set = is_set
        self.size = len(entries)
        self._kids = frozenset(kid for kid, _ in entries if kid is not None)
        self._algorithms = frozenset().union(*(key._allowed for _, key in entries))
        # Each choice is the key, or the number of keys that fit when that is not exactly one.
        self._verifying: dict[tuple[_KidQuery, str], JwsKey | int] = {}
        self._signing: dict[str, tuple[JwsKey, str] | int] = {}
        queries: list[_KidQuery] = [None, _OTHER_KID, *sorted(self._kids)]
        for alg in ALGORITHMS:
            for query in queries:
                fitting = [key for kid, key in entries if alg in key._allowed and _kid_fits(kid, query, is_set)]
                self._verifying[query, alg] = fitting[0] if len(fitting) == 1 else len(fitting)
            signers = [(key, kid or key.thumbprint()) for kid, key in entries if alg in key._signers]
            self._signing[alg] = signers[0] if len(signers) == 1 else len(signers)

    def __repr__(self) -> str:
        return f"<JwkSet {'set' if self.is_set else 'single'} of {self.size}>"

    @classmethod
    def from_json(cls, value: dict[str, Any] | str) -> JwkSet:
        """Parse a JWK or a JWK set (an object with ``keys``), given as a dict or as JSON text.

        A set's members that are not usable here (another ``kty``, ``use`` other than ``sig``, a key too
        small) are left out, as RFC 7517 section 5 allows; a set with no usable member, a member that is not
        an object, a non-string ``kid`` or a single JWK that is not usable raise ``JoseError('key')``.
        """
        members = _jwk_members(value)
        if "keys" not in members:
            kid = members.get("kid")
            if kid is not None and not isinstance(kid, str):
                raise JoseError("key", "The JWK 'kid' must be a string.")
            return cls([(kid, JwsKey.from_jwk(members))], is_set=False)
        listed = members["keys"]
        if not isinstance(listed, list) or not listed:
            raise JoseError("key", "The JWK set's 'keys' must be a non-empty list of JWKs.")
        entries: list[tuple[str | None, JwsKey]] = []
        refusals: list[str] = []
        for index, member in enumerate(listed):
            if not isinstance(member, dict):
                raise JoseError("key", f"The JWK set's key {index} is not a JSON object.")
            kid = member.get("kid")
            if kid is not None and not isinstance(kid, str):
                raise JoseError("key", f"The 'kid' of the JWK set's key {index} must be a string.")
            try:
                entries.append((kid, JwsKey.from_jwk(member)))
            except JoseError as e:
                refusals.append(f"key {index}: {e}")
        if not entries:
            raise JoseError("key", f"The JWK set has no key usable for signatures ({'; '.join(refusals[:3])}).")
        return cls(entries, is_set=True)

    def verification_key(self, kid: object, alg: str) -> JwsKey:
        """The one key for a token with this header ``kid`` (any JSON value) and ``alg``.

        Raises ``JoseError('algorithm')`` when no key of the set allows ``alg``, ``JoseError('key')`` when no
        key or several keys fit.
        """
        query: _KidQuery = kid if isinstance(kid, str) and kid in self._kids else None
        if query is None and isinstance(kid, str) and self.is_set:
            query = _OTHER_KID
        choice = self._verifying.get((query, alg), 0)
        if isinstance(choice, JwsKey):
            return choice
        if alg not in self._algorithms:
            raise JoseError("algorithm", _algorithm_refusal(alg, "the configured key"))
        token = f"a token with {_shown_kid(kid)}" if isinstance(kid, str) else "a token without kid"
        if choice == 0:
            raise JoseError("key", f"No key in the JWK set fits {token} and algorithm {alg}.")
        raise JoseError(
            "key", f"{choice} keys in the JWK set fit {token} and algorithm {alg}; give each key its own kid."
        )

    def signing_key(self, alg: str) -> tuple[JwsKey, str]:
        """The one key that signs ``alg`` and the ``kid`` for the header. Raises ``JoseError('key')`` when
        no key or several keys of the set can sign it."""
        choice = self._signing.get(alg, 0)
        if isinstance(choice, tuple):
            return choice
        if choice == 0:
            raise JoseError("key", f"The JWK cannot sign {alg}: no key in it is private, of a type and 'alg' for it.")
        raise JoseError("key", f"{choice} keys in the JWK set can sign {alg}; keep one private key per algorithm.")


def _kid_fits(kid: str | None, query: _KidQuery, is_set: bool) -> bool:
    if not is_set or query is None:
        return True
    if query is _OTHER_KID:
        return kid is None
    return kid == query


class CompactSigner:
    """Signs claims as compact JWS with one key, algorithm and ``kid``, checked once: the protected header's
    base64url segment is encoded once and the signing function chosen once, so a token costs the claims'
    JSON, two base64url encodings and the signature (jwt-generate keeps one per policy).

    Raises ``JoseError`` when made: ``'algorithm'`` if ``alg`` is not one this key may use, ``'key'`` if the
    key cannot sign, ``'header'`` for a non-string ``kid``.
    """

    __slots__ = ("_prefix", "_signer")

    def __init__(self, *, key: JwsKey, alg: str, kid: str | None) -> None:
        if alg not in key._allowed:
            raise JoseError("algorithm", _algorithm_refusal(alg, "this key"))
        signer = key._signers.get(alg)
        if signer is None:
            raise JoseError("key", "This key holds no private part, so it cannot sign.")
        if kid is not None and not isinstance(kid, str):
            raise JoseError("header", "The key id must be a string.")
        self._signer = signer
        self._prefix = key._header_prefix(alg, kid)

    def sign(self, claims: dict[str, Any]) -> str:
        """The token text for ``claims``, with header ``{"alg", "typ": "JWT", "kid"}`` (no ``kid`` when None).

        Raises ``JoseError``: ``'malformed'`` if ``claims`` is not a JSON-serialisable object, ``'size'`` if
        the token would exceed ``MAX_TOKEN_BYTES``.
        """
        if not isinstance(claims, dict):
            raise JoseError("malformed", "The claims must be a JSON object.")
        try:
            payload = _claims_json(claims)
        except (TypeError, ValueError, RecursionError) as e:
            raise JoseError("malformed", "The claims cannot be written as JSON.") from e
        signing_input = self._prefix + _b64url_encode(payload)
        token = signing_input + b"." + _b64url_encode(self._signer(signing_input))
        if len(token) > MAX_TOKEN_BYTES:
            raise JoseError("size", f"The signed token would be larger than {MAX_TOKEN_BYTES} bytes.")
        return token.decode("ascii")


def sign_compact(*, claims: dict[str, Any], key: JwsKey, alg: str, kid: str | None) -> str:
    """Sign ``claims`` as a compact JWS with header ``{"alg": alg, "typ": "JWT", "kid": kid}``.

    ``kid`` is left out of the header when ``None``. Returns the token text.
    Raises ``JoseError``: ``'algorithm'`` if ``alg`` is not one this key may use, ``'key'`` if the key
    cannot sign, ``'malformed'`` if ``claims`` is not a JSON-serialisable object, ``'header'`` for a
    non-string ``kid``, ``'size'`` if the token would exceed ``MAX_TOKEN_BYTES``.
    """
    return CompactSigner(key=key, alg=alg, kid=kid).sign(claims)


# The protected headers of tokens that verified, parsed once by their encoded segment: a key's tokens share one
# or a few. Only a header whose token verified is kept (a forger cannot fill the table), and only so many; each
# token's header is still checked in full (its algorithm against this call's keys and algorithms, crit, b64).
_MAX_VERIFIED_HEADERS: Final = 256
_verified_headers: dict[bytes, dict[str, Any]] = {}


def verify_compact(
    token: str, *, keys: Sequence[JwsKey] | JwkSet, algorithms: Iterable[str] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify a compact JWS against ``keys`` and return ``(header, claims)``; claims are not checked here.

    ``keys`` is a sequence of keys to try, or a ``JwkSet`` that chooses the one key by the header's ``kid``
    and ``alg`` (``'key'`` when none or several fit).

    Checks, in order, each failure a ``JoseError`` with this ``reason``:
    ``'size'`` over ``MAX_TOKEN_BYTES``; ``'malformed'`` unless exactly three canonical, unpadded base64url
    parts whose header and payload are UTF-8 JSON objects without duplicate members; ``'algorithm'`` if
    ``alg`` is missing, ``none``, unknown, outside ``algorithms`` or usable by none of ``keys``; ``'header'``
    for any ``crit`` or a ``b64`` other than true; ``'signature'`` unless some key whose type allows
    ``alg`` verifies the signature; ``'key'`` if ``keys`` is empty. Header members ``jwk``, ``jku``,
    ``x5u``, ``x5c`` and ``kid`` never supply or choose a key; a ``kid`` equal to a key's thumbprint only
    decides which key is tried first.
    """
    # Size before anything else, so a huge input costs nothing (DESIGN.md section 3).
    if not isinstance(token, str):
        raise JoseError("malformed", "The token must be text.")
    if len(token) > MAX_TOKEN_BYTES:
        raise JoseError("size", f"The token is larger than {MAX_TOKEN_BYTES} bytes.")
    try:
        raw = token.encode("ascii")
    except UnicodeEncodeError:
        if len(token.encode("utf-8", "surrogatepass")) > MAX_TOKEN_BYTES:
            raise JoseError("size", f"The token is larger than {MAX_TOKEN_BYTES} bytes.") from None
        raise JoseError("malformed", "The token contains characters outside base64url.") from None
    parts = raw.split(b".")
    if len(parts) != 3 or b"" in parts or raw.translate(None, _COMPACT_ALPHABET):
        raise JoseError("malformed", "The token is not three unpadded base64url parts joined by dots.")
    known = _verified_headers.get(parts[0])
    try:
        header_json = _b64url_decode(parts[0]) if known is None else b""
        payload_json = _b64url_decode(parts[1])
        signature = _b64url_decode(parts[2])
    except ValueError as e:  # binascii.Error is a ValueError
        raise JoseError("malformed", "The token has a part that is not canonical base64url.") from e
    header = _json_object(header_json, "header") if known is None else dict(known)
    claims = _json_object(payload_json, "payload")

    alg = header.get("alg")
    if not isinstance(alg, str):
        raise JoseError("algorithm", "The token header names no algorithm.")
    if algorithms is not None and not isinstance(algorithms, frozenset | set | tuple | list):
        algorithms = frozenset(algorithms)
    if alg not in _ALGORITHM_SET or (algorithms is not None and alg not in algorithms):
        raise JoseError("algorithm", _algorithm_refusal(alg, "this verifier"))
    if isinstance(keys, JwkSet):
        candidates = [keys.verification_key(header.get("kid"), alg)]
    elif not keys:
        raise JoseError("key", "No key is configured to verify the token.")
    else:
        candidates = [key for key in keys if alg in key._allowed]
    if not candidates:
        raise JoseError("algorithm", _algorithm_refusal(alg, "the configured key"))
    # RFC 7515 section 4.1.11: an extension we would have to understand; we understand none.
    if "crit" in header:
        raise JoseError("header", "The token header lists critical extensions ('crit'), none supported.")
    # RFC 7797: an unencoded payload changes what is signed; refuse rather than misread it.
    if "b64" in header and header["b64"] is not True:
        raise JoseError("header", "The token header asks for an unencoded payload ('b64'), not supported.")

    kid = header.get("kid")
    if len(candidates) > 1 and isinstance(kid, str):
        candidates.sort(key=lambda candidate: candidate.thumbprint() != kid)
    signing_input = raw[: len(raw) - len(parts[2]) - 1]
    for key in candidates:
        if key._verifiers[alg](signing_input, signature):
            if known is None and len(_verified_headers) < _MAX_VERIFIED_HEADERS:
                _verified_headers[parts[0]] = dict(header)
            return header, claims
    raise JoseError(
        "signature",
        "The token signature does not verify with the configured key.",
        kid=kid if isinstance(kid, str) else None,
    )


def _algorithm_refusal(alg: object, whom: str) -> str:
    if isinstance(alg, str) and alg.lower() == "none":
        return "Unsigned tokens (algorithm 'none') are refused."
    if isinstance(alg, str) and alg in _ALGORITHM_SET:
        return f"The algorithm {alg} is not allowed for {whom}."
    return "The token names an unsupported algorithm."


# -- JWE (RFC 7516), compact serialization, over cryptography primitives ----------------------------------------

JWE_ALGORITHMS: Final[tuple[str, ...]] = (
    "RSA-OAEP",
    "RSA-OAEP-256",
    "ECDH-ES",
    "ECDH-ES+A128KW",
    "ECDH-ES+A256KW",
    "A128KW",
    "A256KW",
    "dir",
)
JWE_ENCRYPTIONS: Final[tuple[str, ...]] = ("A128GCM", "A192GCM", "A256GCM", "A128CBC-HS256", "A256CBC-HS512")
# A nested JWS of MAX_TOKEN_BYTES, base64url-encoded again after encryption, plus an 8192-bit RSA encrypted key
# and the header: anything longer is refused before any decryption (RFC 7516 section 11: bound the work).
MAX_JWE_BYTES: Final = 16384

# RFC 7518 section 5: the content encryption key's length for each "enc"; section 4.4: each AES key wrap's KEK.
_CEK_BYTES: Final[dict[str, int]] = {
    "A128GCM": 16,
    "A192GCM": 24,
    "A256GCM": 32,
    "A128CBC-HS256": 32,
    "A256CBC-HS512": 64,
}
_KW_BYTES: Final[dict[str, int]] = {"A128KW": 16, "A256KW": 32, "ECDH-ES+A128KW": 16, "ECDH-ES+A256KW": 32}
_CBC_HMAC_HASHES: Final[dict[str, Callable[[], hashes.HashAlgorithm]]] = {
    "A128CBC-HS256": hashes.SHA256,
    "A256CBC-HS512": hashes.SHA512,
}
# RFC 7518 section 4.3: RSA-OAEP is OAEP with SHA-1 and MGF1-SHA-1 (as specified; SHA-1 is sound inside OAEP).
_OAEP_HASHES: Final[dict[str, Callable[[], hashes.HashAlgorithm]]] = {
    "RSA-OAEP": hashes.SHA1,
    "RSA-OAEP-256": hashes.SHA256,
}
_JWE_ALGORITHM_SET: Final = frozenset(JWE_ALGORITHMS)
_JWE_ENCRYPTION_SET: Final = frozenset(JWE_ENCRYPTIONS)
_DECRYPTION_FAILED: Final = "The token does not decrypt with the configured key."


class JweKey:
    """A key to encrypt to (public RSA or EC, or a secret) or to decrypt with (private RSA or EC, or a secret).

    RSA keys use RSA-OAEP and RSA-OAEP-256, EC keys (P-256, P-384, P-521) ECDH-ES with or without AES key wrap,
    secrets of 16 or 32 bytes A128KW or A256KW, and a secret as long as a content encryption key ``dir``.
    RSA1_5 is not offered at all (RFC 8725 section 3.2 and the Bleichenbacher attacks on it).
    """

    __slots__ = ("_private", "_public", "_secret", "can_decrypt", "kind")

    def __init__(
        self,
        *,
        kind: Literal["RSA", "EC", "oct"],
        public: rsa.RSAPublicKey | ec.EllipticCurvePublicKey | None = None,
        private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | None = None,
        secret: bytes = b"",
    ) -> None:
        """Internal: use the ``from_*`` class methods."""
        self.kind = kind
        self._public = public
        self._private = private
        self._secret = secret
        self.can_decrypt = private is not None or bool(secret)

    def __repr__(self) -> str:
        role = "secret" if self.kind == "oct" else ("private" if self._private is not None else "public")
        return f"<JweKey {self.kind} {role}>"

    @classmethod
    def from_private_key(cls, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> JweKey:
        """A key that decrypts (and encrypts to itself). Raises ``JoseError('key')`` for an unsupported key."""
        if isinstance(key, rsa.RSAPrivateKey):
            _check_rsa_size(key.public_key())
            return cls(kind="RSA", public=key.public_key(), private=key)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            _ec_algorithm(key.curve)
            return cls(kind="EC", public=key.public_key(), private=key)
        raise JoseError("key", "Only RSA and EC (P-256, P-384, P-521) private keys can decrypt tokens.")

    @classmethod
    def from_public_key(cls, key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey) -> JweKey:
        """A key to encrypt to. Raises ``JoseError('key')`` for an unsupported key."""
        if isinstance(key, rsa.RSAPublicKey):
            _check_rsa_size(key)
            return cls(kind="RSA", public=key)
        if isinstance(key, ec.EllipticCurvePublicKey):
            _ec_algorithm(key.curve)
            return cls(kind="EC", public=key)
        raise JoseError("key", "Only RSA and EC (P-256, P-384, P-521) public keys can encrypt tokens.")

    @classmethod
    def from_secret(cls, secret: bytes) -> JweKey:
        """A shared secret for A128KW (16 bytes), A256KW (32 bytes) or ``dir`` (the ``enc``'s key length)."""
        if not isinstance(secret, bytes | bytearray) or len(secret) < 16:
            raise JoseError("key", "A secret for JWE must be at least 16 bytes long.")
        return cls(kind="oct", secret=bytes(secret))

    @classmethod
    def from_jwk(cls, jwk: dict[str, Any] | str) -> JweKey:
        """A key from a JWK (``RSA``, ``EC`` or ``oct``); ``use`` other than ``enc`` is refused, and so is an
        ``alg`` member that is not a JWE key management algorithm this key type can use."""
        members = _jwk_members(jwk)
        if members.get("use", "enc") != "enc":
            raise JoseError("key", "The JWK is not meant for encryption (its 'use' is not 'enc').")
        kty = members.get("kty")
        key: JweKey
        if kty == "oct":
            key = cls.from_secret(_jwk_bytes(members, "k"))
        elif kty in ("RSA", "EC"):
            material = _rsa_key_from_jwk(members) if kty == "RSA" else _ec_key_from_jwk(members)
            if isinstance(material, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
                key = cls.from_private_key(material)
            else:
                key = cls.from_public_key(material)
        else:
            raise JoseError("key", "The JWK 'kty' must be 'oct', 'RSA' or 'EC'.")
        alg = members.get("alg")
        if alg is not None and (not isinstance(alg, str) or alg not in key.key_algorithms()):
            raise JoseError("key", "The JWK 'alg' is not a JWE key management algorithm this key type can use.")
        return key

    def key_algorithms(self) -> frozenset[str]:
        """The JWE ``alg`` values this key may be used with."""
        if self.kind == "RSA":
            return frozenset(_OAEP_HASHES)
        if self.kind == "EC":
            return frozenset(("ECDH-ES", "ECDH-ES+A128KW", "ECDH-ES+A256KW"))
        names = {"dir"}
        names.update(name for name in ("A128KW", "A256KW") if len(self._secret) == _KW_BYTES[name])
        return frozenset(names)


def _content_encrypt(enc: str, cek: bytes, plaintext: bytes, aad: bytes) -> tuple[bytes, bytes, bytes]:
    """(iv, ciphertext, tag) for RFC 7518 sections 5.2 (AES-CBC with HMAC) and 5.3 (AES-GCM)."""
    if enc in _CBC_HMAC_HASHES:
        half = len(cek) // 2
        mac_key, enc_key, iv = cek[:half], cek[half:], os.urandom(16)
        padder = sym_padding.PKCS7(128).padder()
        padded = padder.update(plaintext) + padder.finalize()
        encryptor = Cipher(algorithms.AES(enc_key), modes.CBC(iv)).encryptor()
        ciphertext = encryptor.update(padded) + encryptor.finalize()
        return iv, ciphertext, _cbc_tag(enc, mac_key, aad, iv, ciphertext)
    iv = os.urandom(12)
    sealed = AESGCM(cek).encrypt(iv, plaintext, aad)
    return iv, sealed[:-16], sealed[-16:]


def _cbc_tag(enc: str, mac_key: bytes, aad: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    # RFC 7518 section 5.2.2.1: HMAC over AAD || IV || ciphertext || AL (AAD length in bits, 64-bit big-endian),
    # truncated to the first half.
    mac = crypto_hmac.HMAC(mac_key, _CBC_HMAC_HASHES[enc]())
    mac.update(aad + iv + ciphertext + (len(aad) * 8).to_bytes(8, "big"))
    return mac.finalize()[: len(mac_key)]


def _content_decrypt(enc: str, cek: bytes, iv: bytes, ciphertext: bytes, tag: bytes, aad: bytes) -> bytes:
    if len(cek) != _CEK_BYTES[enc]:
        raise JoseError("decryption", _DECRYPTION_FAILED)
    try:
        if enc in _CBC_HMAC_HASHES:
            half = len(cek) // 2
            mac_key, enc_key = cek[:half], cek[half:]
            if len(iv) != 16 or not hmac.compare_digest(_cbc_tag(enc, mac_key, aad, iv, ciphertext), tag):
                raise JoseError("decryption", _DECRYPTION_FAILED)
            decryptor = Cipher(algorithms.AES(enc_key), modes.CBC(iv)).decryptor()
            padded = decryptor.update(ciphertext) + decryptor.finalize()
            unpadder = sym_padding.PKCS7(128).unpadder()
            return unpadder.update(padded) + unpadder.finalize()
        if len(iv) != 12 or len(tag) != 16:
            raise JoseError("decryption", _DECRYPTION_FAILED)
        return AESGCM(cek).decrypt(iv, ciphertext + tag, aad)
    except (InvalidTag, ValueError) as e:  # a padding error after a good tag still says nothing more
        raise JoseError("decryption", _DECRYPTION_FAILED) from e


def _concat_kdf(shared: bytes, *, algorithm_id: str, length: int, header: dict[str, Any]) -> bytes:
    """RFC 7518 section 4.6.2: Concat KDF (NIST SP 800-56A) with SHA-256 over the ECDH shared secret."""
    apu = _header_bytes(header, "apu")
    apv = _header_bytes(header, "apv")

    def with_length(data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + data

    algorithm = with_length(algorithm_id.encode("ascii"))
    other_info = algorithm + with_length(apu) + with_length(apv) + (length * 8).to_bytes(4, "big")
    return ConcatKDFHash(algorithm=hashes.SHA256(), length=length, otherinfo=other_info).derive(shared)


def _header_bytes(header: dict[str, Any], name: str) -> bytes:
    value = header.get(name)
    if value is None:
        return b""
    if not isinstance(value, str):
        raise JoseError("header", f"The token header member '{name}' is not base64url text.")
    try:
        encoded = value.encode("ascii")
        if encoded.translate(None, _BASE64URL_ALPHABET):
            raise ValueError("not base64url")
        return _b64url_decode(encoded)
    except ValueError as e:
        raise JoseError("header", f"The token header member '{name}' is not base64url text.") from e


def _ecdh_key_length(alg: str, enc: str) -> tuple[str, int]:
    """The Concat KDF AlgorithmID and key length: the enc's CEK for direct ECDH-ES, else the KEK."""
    if alg == "ECDH-ES":
        return enc, _CEK_BYTES[enc]
    return alg, _KW_BYTES[alg]


def _epk_public(header: dict[str, Any], curve: ec.EllipticCurve) -> ec.EllipticCurvePublicKey:
    """The ephemeral public key of the header, which must be a valid point on the recipient key's curve
    (an off-curve point is the invalid-curve attack that recovers the private key)."""
    epk = header.get("epk")
    if not isinstance(epk, dict) or epk.get("kty") != "EC" or "d" in epk:
        raise JoseError("header", "The token header's 'epk' is not a public EC JWK.")
    try:
        public = _ec_key_from_jwk(epk)
    except JoseError as e:
        raise JoseError("header", f"The token header's 'epk' is not usable: {e}") from e
    if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name != curve.name:
        raise JoseError("header", "The token header's 'epk' is not on the curve of the configured key.")
    return public


def encrypt_compact(
    plaintext: bytes, *, key: JweKey, alg: str, enc: str, kid: str | None = None, cty: str | None = None
) -> str:
    """Encrypt ``plaintext`` as a compact JWE with header ``{"alg", "enc", "kid"?, "cty"?}``.

    Raises ``JoseError``: ``'algorithm'`` for an ``alg`` or ``enc`` not supported or not fit for this key (a
    ``dir`` secret must be exactly the ``enc``'s key length), ``'size'`` if the token would exceed
    ``MAX_JWE_BYTES``.
    """
    if alg not in _JWE_ALGORITHM_SET or alg not in key.key_algorithms():
        raise JoseError("algorithm", f"The key management algorithm {alg} is not available for this key.")
    if enc not in _JWE_ENCRYPTION_SET:
        raise JoseError("algorithm", f"The content encryption {enc} is not supported.")
    header: dict[str, Any] = {"alg": alg, "enc": enc}
    if kid is not None:
        header["kid"] = kid
    if cty is not None:
        header["cty"] = cty
    encrypted_key = b""
    if alg == "dir":
        if len(key._secret) != _CEK_BYTES[enc]:
            raise JoseError("algorithm", f"A 'dir' secret for {enc} must be {_CEK_BYTES[enc]} bytes long.")
        cek = key._secret
    elif alg in _OAEP_HASHES:
        assert isinstance(key._public, rsa.RSAPublicKey)
        cek = os.urandom(_CEK_BYTES[enc])
        hash_type = _OAEP_HASHES[alg]()
        encrypted_key = key._public.encrypt(
            cek, padding.OAEP(mgf=padding.MGF1(hash_type), algorithm=hash_type, label=None)
        )
    elif alg.startswith("ECDH-ES"):
        assert isinstance(key._public, ec.EllipticCurvePublicKey)
        ephemeral = ec.generate_private_key(key._public.curve)
        header["epk"] = keymaterial.public_jwk(ephemeral.public_key())
        shared = ephemeral.exchange(ec.ECDH(), key._public)
        algorithm_id, length = _ecdh_key_length(alg, enc)
        derived = _concat_kdf(shared, algorithm_id=algorithm_id, length=length, header=header)
        if alg == "ECDH-ES":
            cek = derived
        else:
            cek = os.urandom(_CEK_BYTES[enc])
            encrypted_key = aes_key_wrap(derived, cek)
    else:
        cek = os.urandom(_CEK_BYTES[enc])
        encrypted_key = aes_key_wrap(key._secret, cek)
    protected = _b64url_encode(json.dumps(header, separators=(",", ":")).encode("ascii"))
    # RFC 7516 section 5.1 step 14: the additional authenticated data is ASCII(BASE64URL(protected header)).
    iv, ciphertext, tag = _content_encrypt(enc, cek, plaintext, protected)
    token = b".".join(
        (protected, _b64url_encode(encrypted_key), _b64url_encode(iv), _b64url_encode(ciphertext), _b64url_encode(tag))
    )
    if len(token) > MAX_JWE_BYTES:
        raise JoseError("size", f"The encrypted token would be larger than {MAX_JWE_BYTES} bytes.")
    return token.decode("ascii")


def is_compact_jwe(token: str) -> bool:
    """Whether ``token`` has the five parts of a compact JWE (a compact JWS has three)."""
    return isinstance(token, str) and token.count(".") == 4


def decrypt_compact(
    token: str, *, keys: Sequence[JweKey], algorithms: Iterable[str] | None = None
) -> tuple[dict[str, Any], bytes]:
    """Decrypt a compact JWE with the first of ``keys`` that opens it; returns ``(header, plaintext)``.

    Checks, in order, each failure a ``JoseError``: ``'size'`` over ``MAX_JWE_BYTES`` (before any parsing or
    decryption); ``'malformed'`` unless five canonical base64url parts (only the encrypted key may be empty)
    with a UTF-8 JSON object header; ``'algorithm'`` for an ``alg`` or ``enc`` not supported (RSA1_5 among
    them), outside ``algorithms``, or usable by none of ``keys``; ``'header'`` for ``zip`` (compression of
    secret data leaks it, and inflating is unbounded work), ``crit``, or a bad ``epk``; ``'key'`` if ``keys``
    is empty; ``'decryption'`` when no key decrypts it, with one message whatever failed (no oracle).
    """
    if not isinstance(token, str):
        raise JoseError("malformed", "The token must be text.")
    if len(token) > MAX_JWE_BYTES:
        raise JoseError("size", f"The encrypted token is larger than {MAX_JWE_BYTES} bytes.")
    try:
        raw = token.encode("ascii")
    except UnicodeEncodeError:
        raise JoseError("malformed", "The token contains characters outside base64url.") from None
    parts = raw.split(b".")
    if len(parts) != 5 or b"" in (parts[0], parts[2], parts[3], parts[4]) or raw.translate(None, _COMPACT_ALPHABET):
        raise JoseError("malformed", "The token is not five unpadded base64url parts joined by dots.")
    try:
        header_json, encrypted_key, iv, ciphertext, tag = (_b64url_decode(part) for part in parts)
    except ValueError as e:
        raise JoseError("malformed", "The token has a part that is not canonical base64url.") from e
    header = _json_object(header_json, "header")
    alg, enc = header.get("alg"), header.get("enc")
    if alg == "RSA1_5":
        raise JoseError("algorithm", "The key management algorithm RSA1_5 is refused (RFC 8725 section 3.2).")
    if not isinstance(alg, str) or alg not in _JWE_ALGORITHM_SET:
        raise JoseError("algorithm", "The token names an unsupported key management algorithm.")
    if not isinstance(enc, str) or enc not in _JWE_ENCRYPTION_SET:
        raise JoseError("algorithm", "The token names an unsupported content encryption.")
    if algorithms is not None and alg not in frozenset(algorithms):
        raise JoseError("algorithm", f"The key management algorithm {alg} is not allowed for this verifier.")
    if "zip" in header:
        raise JoseError("header", "Compressed tokens ('zip') are refused.")
    if "crit" in header:
        raise JoseError("header", "The token header lists critical extensions ('crit'), none supported.")
    if not keys:
        raise JoseError("key", "No key is configured to decrypt the token.")
    candidates = [key for key in keys if key.can_decrypt and alg in key.key_algorithms()]
    if not candidates:
        raise JoseError("algorithm", f"The key management algorithm {alg} is not allowed for the configured key.")
    aad = parts[0]  # the protected header as sent (RFC 7516 section 5.2 step 14)
    for key in candidates:
        try:
            cek = _unwrap_cek(key, header, alg, enc, encrypted_key)
            return header, _content_decrypt(enc, cek, iv, ciphertext, tag, aad)
        except JoseError as e:
            if e.reason == "header":
                raise
    raise JoseError("decryption", _DECRYPTION_FAILED)


def _unwrap_cek(key: JweKey, header: dict[str, Any], alg: str, enc: str, encrypted_key: bytes) -> bytes:
    """The content encryption key; ``JoseError('decryption')`` for any failure, ``'header'`` for a bad epk."""
    try:
        if alg == "dir":
            if encrypted_key:
                raise JoseError("decryption", _DECRYPTION_FAILED)
            return key._secret
        if alg in _OAEP_HASHES:
            assert isinstance(key._private, rsa.RSAPrivateKey)
            hash_type = _OAEP_HASHES[alg]()
            return key._private.decrypt(
                encrypted_key, padding.OAEP(mgf=padding.MGF1(hash_type), algorithm=hash_type, label=None)
            )
        if alg.startswith("ECDH-ES"):
            assert isinstance(key._private, ec.EllipticCurvePrivateKey)
            epk = _epk_public(header, key._private.curve)
            shared = key._private.exchange(ec.ECDH(), epk)
            algorithm_id, length = _ecdh_key_length(alg, enc)
            derived = _concat_kdf(shared, algorithm_id=algorithm_id, length=length, header=header)
            if alg == "ECDH-ES":
                if encrypted_key:
                    raise JoseError("decryption", _DECRYPTION_FAILED)
                return derived
            return aes_key_unwrap(derived, encrypted_key)
        return aes_key_unwrap(key._secret, encrypted_key)
    except (ValueError, InvalidUnwrap) as e:
        raise JoseError("decryption", _DECRYPTION_FAILED) from e


class JweKeySet:
    """One JWK or a JWK set for encryption (``jwe-jwk``), parsed once.

    Encryption uses the one key that allows the ``alg``, named by its own ``kid``; decryption tries the keys
    carrying the token's ``kid`` (or, when none does, the keys without ``kid``; for a token without ``kid``,
    every key), chosen by dictionary lookup.
    """

    __slots__ = ("_all", "_by_kid", "_encrypting", "_kidless")

    def __init__(self, entries: list[tuple[str | None, JweKey]]) -> None:
        """Internal: use ``from_json``."""
        self._all = entries
        self._by_kid: dict[str, list[JweKey]] = {}
        for kid, key in entries:
            if kid is not None:
                self._by_kid.setdefault(kid, []).append(key)
        self._kidless = [key for kid, key in entries if kid is None]
        self._encrypting: dict[str, list[tuple[JweKey, str | None]]] = {
            alg: [(key, kid) for kid, key in entries if alg in key.key_algorithms()] for alg in JWE_ALGORITHMS
        }

    @classmethod
    def from_json(cls, value: dict[str, Any] | str) -> JweKeySet:
        """Parse a JWK or a JWK set. A set's members unusable for encryption are left out (RFC 7517 section 5);
        raises ``JoseError('key')`` when nothing usable is left or a single JWK is not usable."""
        members = _jwk_members(value)
        listed = members.get("keys") if "keys" in members else [members]
        if not isinstance(listed, list) or not listed:
            raise JoseError("key", "The JWK set's 'keys' must be a non-empty list of JWKs.")
        entries: list[tuple[str | None, JweKey]] = []
        refusals: list[str] = []
        for member in listed:
            if not isinstance(member, dict):
                raise JoseError("key", "A JWK must be a JSON object.")
            kid = member.get("kid")
            if kid is not None and not isinstance(kid, str):
                raise JoseError("key", "The JWK 'kid' must be a string.")
            try:
                entries.append((kid, JweKey.from_jwk(member)))
            except JoseError as e:
                if "keys" not in members:
                    raise
                refusals.append(str(e))
        if not entries:
            raise JoseError("key", f"The JWK set has no key usable for encryption ({'; '.join(refusals[:3])}).")
        return cls(entries)

    def encryption_key(self, alg: str) -> tuple[JweKey, str | None]:
        """The one key that may be used with ``alg``, and its ``kid``. Raises ``JoseError('key')`` otherwise."""
        fitting = self._encrypting.get(alg, [])
        if len(fitting) != 1:
            count = "No key" if not fitting else f"{len(fitting)} keys"
            raise JoseError("key", f"{count} in the JWK set can be used with {alg}; keep exactly one.")
        return fitting[0]

    def decryption_keys(self, kid: object) -> list[JweKey]:
        """The keys to try for a token with this header ``kid``."""
        if isinstance(kid, str):
            return self._by_kid.get(kid) or self._kidless
        return [key for _, key in self._all]
