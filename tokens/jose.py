"""Compact JWS signing and verification: the project's only user of josepy (DESIGN.md section 5).

josepy supplies the JWA algorithm objects for HS*, RS* and ES*; everything around them is a deliberately thin
codec written here, because josepy's own JWS object path trusts an embedded ``jwk`` header, its
``JWK.load()`` turns garbage into an ``oct`` key, and it signs PS* with the maximum salt length where
RFC 7518 section 3.5 requires a salt as long as the hash (so PS* uses ``cryptography`` directly).

Key material arrives here as ``cryptography`` key objects (parsed by ``keyprofiles.keymaterial``), as an HMAC
secret, or as a JWK built with ``cryptography``'s numbers classes; this module never parses PEM or DER.
Claims (``exp``, ``nbf``, ``iss``, ``aud``) are the policy layer's business, not this module's.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from josepy import jwa  # noqa: TID251

from tokens.untrusted import MAX_NESTING, nesting_exceeds

__all__ = [
    "ALGORITHMS",
    "MAX_TOKEN_BYTES",
    "JoseError",
    "JoseErrorReason",
    "JwsKey",
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

JoseErrorReason = Literal["size", "malformed", "algorithm", "header", "signature", "key"]

_ALGORITHM_SET: Final = frozenset(ALGORITHMS)
# RFC 7518 section 3.4: each ES* algorithm is bound to one curve.
_EC_ALGORITHM_BY_CURVE: Final[dict[str, str]] = {
    "secp256r1": "ES256",
    "secp384r1": "ES384",
    "secp521r1": "ES512",
}
_JWK_CRV_BY_CURVE: Final[dict[str, str]] = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
_CURVE_BY_JWK_CRV: Final[dict[str, ec.EllipticCurve]] = {
    "P-256": ec.SECP256R1(),
    "P-384": ec.SECP384R1(),
    "P-521": ec.SECP521R1(),
}
# RFC 7518 section 3.2: an HMAC key at least as long as the hash output.
_MIN_SECRET_BYTES: Final[dict[str, int]] = {"HS256": 32, "HS384": 48, "HS512": 64}
# RFC 7518 section 3.3 requires 2048 bits; the upper bound keeps a hostile JWK from costing much.
_RSA_MIN_BITS: Final = 2048
_RSA_MAX_BITS: Final = 16384
_MAX_JWK_TEXT: Final = 65536

_JWA_BY_NAME: Final[dict[str, jwa.JWASignature]] = {
    "HS256": jwa.HS256,
    "HS384": jwa.HS384,
    "HS512": jwa.HS512,
    "RS256": jwa.RS256,
    "RS384": jwa.RS384,
    "RS512": jwa.RS512,
    "ES256": jwa.ES256,
    "ES384": jwa.ES384,
    "ES512": jwa.ES512,
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


def _int_to_b64url(value: int, length: int | None = None) -> str:
    size = length if length is not None else max(1, (value.bit_length() + 7) // 8)
    return _b64url_encode(value.to_bytes(size, "big")).decode("ascii")


def _rsa_signers(private: rsa.RSAPrivateKey) -> dict[str, _Signer]:
    signers: dict[str, _Signer] = {}
    for name in ("RS256", "RS384", "RS512"):
        signers[name] = _jwa_signer(_JWA_BY_NAME[name], private)
    for name, hash_type in _PSS_HASHES.items():
        signers[name] = _pss_signer(private, hash_type())
    return signers


def _rsa_verifiers(public: rsa.RSAPublicKey) -> dict[str, _Verifier]:
    # An RSA signature is exactly as long as the modulus (RFC 8017 sections 8.1.2 and 8.2.2).
    signature_length = (public.key_size + 7) // 8
    verifiers: dict[str, _Verifier] = {}
    for name in ("RS256", "RS384", "RS512"):
        verifiers[name] = _jwa_verifier(_JWA_BY_NAME[name], public, signature_length)
    for name, hash_type in _PSS_HASHES.items():
        verifiers[name] = _pss_verifier(public, hash_type(), signature_length)
    return verifiers


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

        Raises ``JoseError('key')`` for another key type, RSA outside 2048 to 16384 bits, or an EC curve
        other than P-256, P-384 or P-521.
        """
        if isinstance(key, rsa.RSAPrivateKey):
            public = key.public_key()
            _check_rsa_size(public)
            return cls(
                kind="RSA",
                thumbprint_members=_rsa_thumbprint_members(public),
                signers=_rsa_signers(key),
                verifiers=_rsa_verifiers(public),
            )
        if isinstance(key, ec.EllipticCurvePrivateKey):
            name = _ec_algorithm(key.curve)
            public_ec = key.public_key()
            algorithm = _JWA_BY_NAME[name]
            return cls(
                kind="EC",
                thumbprint_members=_ec_thumbprint_members(public_ec),
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
                kind="RSA", thumbprint_members=_rsa_thumbprint_members(key), signers={}, verifiers=_rsa_verifiers(key)
            )
        if isinstance(key, ec.EllipticCurvePublicKey):
            name = _ec_algorithm(key.curve)
            verifier = _jwa_verifier(_JWA_BY_NAME[name], key, 2 * _ec_coordinate_length(key.curve))
            return cls(
                kind="EC", thumbprint_members=_ec_thumbprint_members(key), signers={}, verifiers={name: verifier}
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
            thumbprint_members={"k": _b64url_encode(secret).decode("ascii"), "kty": "oct"},
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
            key = _rsa_key_from_jwk(cls, members)
        elif kty == "EC":
            key = _ec_key_from_jwk(cls, members)
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
            # RFC 7638 section 3.2: required members only, sorted, no whitespace.
            canonical = json.dumps(self._thumbprint_members, sort_keys=True, separators=(",", ":"))
            digest = hashlib.sha256(canonical.encode("ascii")).digest()
            self._thumbprint = _b64url_encode(digest).decode("ascii")
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


def _rsa_thumbprint_members(key: rsa.RSAPublicKey) -> dict[str, str]:
    numbers = key.public_numbers()
    return {"e": _int_to_b64url(numbers.e), "kty": "RSA", "n": _int_to_b64url(numbers.n)}


def _ec_thumbprint_members(key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    numbers = key.public_numbers()
    length = _ec_coordinate_length(key.curve)
    return {
        "crv": _JWK_CRV_BY_CURVE[key.curve.name],
        "kty": "EC",
        "x": _int_to_b64url(numbers.x, length),
        "y": _int_to_b64url(numbers.y, length),
    }


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


def _rsa_key_from_jwk(cls: type[JwsKey], members: dict[str, Any]) -> JwsKey:
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
        return cls.from_public_key(public)
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
    return cls.from_private_key(private)


def _ec_key_from_jwk(cls: type[JwsKey], members: dict[str, Any]) -> JwsKey:
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
            return cls.from_public_key(public_numbers.public_key())
        private = ec.EllipticCurvePrivateNumbers(coordinates[2], public_numbers).private_key()
    except ValueError as e:
        raise JoseError("key", "The EC JWK does not describe a valid key on its curve.") from e
    return cls.from_private_key(private)


def sign_compact(*, claims: dict[str, Any], key: JwsKey, alg: str, kid: str | None) -> str:
    """Sign ``claims`` as a compact JWS with header ``{"alg": alg, "typ": "JWT", "kid": kid}``.

    ``kid`` is left out of the header when ``None``. Returns the token text.
    Raises ``JoseError``: ``'algorithm'`` if ``alg`` is not one this key may use, ``'key'`` if the key
    cannot sign, ``'malformed'`` if ``claims`` is not a JSON-serialisable object, ``'header'`` for a
    non-string ``kid``, ``'size'`` if the token would exceed ``MAX_TOKEN_BYTES``.
    """
    if alg not in key._allowed:
        raise JoseError("algorithm", _algorithm_refusal(alg, "this key"))
    signer = key._signers.get(alg)
    if signer is None:
        raise JoseError("key", "This key holds no private part, so it cannot sign.")
    if kid is not None and not isinstance(kid, str):
        raise JoseError("header", "The key id must be a string.")
    if not isinstance(claims, dict):
        raise JoseError("malformed", "The claims must be a JSON object.")
    try:
        payload = json.dumps(claims, separators=(",", ":"), allow_nan=False).encode("ascii")
    except (TypeError, ValueError) as e:
        raise JoseError("malformed", "The claims cannot be written as JSON.") from e
    signing_input = key._header_prefix(alg, kid) + _b64url_encode(payload)
    token = signing_input + b"." + _b64url_encode(signer(signing_input))
    if len(token) > MAX_TOKEN_BYTES:
        raise JoseError("size", f"The signed token would be larger than {MAX_TOKEN_BYTES} bytes.")
    return token.decode("ascii")


def verify_compact(
    token: str, *, keys: Sequence[JwsKey], algorithms: Iterable[str] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify a compact JWS against ``keys`` and return ``(header, claims)``; claims are not checked here.

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
    try:
        header_json = _b64url_decode(parts[0])
        payload_json = _b64url_decode(parts[1])
        signature = _b64url_decode(parts[2])
    except ValueError as e:  # binascii.Error is a ValueError
        raise JoseError("malformed", "The token has a part that is not canonical base64url.") from e
    header = _json_object(header_json, "header")
    claims = _json_object(payload_json, "payload")

    alg = header.get("alg")
    if not isinstance(alg, str):
        raise JoseError("algorithm", "The token header names no algorithm.")
    if algorithms is not None and not isinstance(algorithms, frozenset | set | tuple | list):
        algorithms = frozenset(algorithms)
    if alg not in _ALGORITHM_SET or (algorithms is not None and alg not in algorithms):
        raise JoseError("algorithm", _algorithm_refusal(alg, "this verifier"))
    if not keys:
        raise JoseError("key", "No key is configured to verify the token.")
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
