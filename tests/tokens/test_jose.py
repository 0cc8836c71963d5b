"""tokens.jose: the compact JWS codec, its keys, interop, RFC vectors and one test per known attack.

Attack tokens are built byte by byte here (not with the code under test), and each attack test has a
positive twin that differs from it in the one thing the attack changes.
"""

from __future__ import annotations

import base64
import hmac
import json
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from joserfc.jwk import ECKey, OctKey, RSAKey

from keyprofiles import keymaterial
from tokens.jose import (
    ALGORITHMS,
    MAX_TOKEN_BYTES,
    CompactSigner,
    JoseError,
    JwsKey,
    sign_compact,
    verify_compact,
)

CLAIMS = {"iss": "apic", "aud": "id1", "sub": "client-1", "iat": 1_700_000_000, "jti": "j-1"}
HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}
EC_CURVE_FOR: dict[str, type[ec.EllipticCurve]] = {
    "ES256": ec.SECP256R1,
    "ES384": ec.SECP384R1,
    "ES512": ec.SECP521R1,
}
PYJWT_OPTIONS: Any = {"verify_aud": False, "verify_iss": False}


# -- helpers: an independent, deliberately plain JWS builder ----------------------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jbytes(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def raw_sign(alg: str, key: Any, signing_input: bytes) -> bytes:
    """Sign like RFC 7518 section 3 says, straight with cryptography."""
    hash_algorithm = HASHES[alg[2:]]()
    if alg.startswith("HS"):
        return hmac.new(key, signing_input, hash_algorithm.name).digest()
    if alg.startswith("RS"):
        return key.sign(signing_input, padding.PKCS1v15(), hash_algorithm)
    if alg.startswith("PS"):
        pss = padding.PSS(mgf=padding.MGF1(hash_algorithm), salt_length=hash_algorithm.digest_size)
        return key.sign(signing_input, pss, hash_algorithm)
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hash_algorithm)))
    size = (key.curve.key_size + 7) // 8
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def build(header: bytes | dict[str, Any], payload: bytes | dict[str, Any], alg: str, key: Any) -> str:
    """A compact JWS over exact header and payload bytes, signed with ``alg`` (not necessarily header's)."""
    header_bytes = header if isinstance(header, bytes) else jbytes(header)
    payload_bytes = payload if isinstance(payload, bytes) else jbytes(payload)
    signing_input = f"{b64(header_bytes)}.{b64(payload_bytes)}"
    return f"{signing_input}.{b64(raw_sign(alg, key, signing_input.encode()))}"


def refused(token: str, keys: list[JwsKey], **kwargs: Any) -> str:
    """The reason verify_compact refuses ``token`` (fails the test if it accepts it)."""
    with pytest.raises(JoseError) as excinfo:
        verify_compact(token, keys=keys, **kwargs)
    return excinfo.value.reason


def claims_of(token: str, keys: list[JwsKey], **kwargs: Any) -> dict[str, Any]:
    return verify_compact(token, keys=keys, **kwargs)[1]


# -- keys -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_private() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def attacker_rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_privates() -> dict[str, ec.EllipticCurvePrivateKey]:
    return {alg: ec.generate_private_key(curve()) for alg, curve in EC_CURVE_FOR.items()}


@pytest.fixture(scope="module")
def secret() -> bytes:
    return bytes(range(64))


@pytest.fixture(scope="module")
def rsa_verifier(rsa_private: rsa.RSAPrivateKey) -> JwsKey:
    return JwsKey.from_public_key(rsa_private.public_key())


@pytest.fixture(scope="module")
def rsa_signer(rsa_private: rsa.RSAPrivateKey) -> JwsKey:
    return JwsKey.from_private_key(rsa_private)


def private_for(alg: str, rsa_private: Any, ec_privates: dict[str, Any], secret: bytes) -> Any:
    if alg.startswith("HS"):
        return secret
    if alg.startswith("ES"):
        return ec_privates[alg]
    return rsa_private


def keys_for(alg: str, private: Any) -> tuple[JwsKey, JwsKey]:
    """(signing key, verify-only key) for the raw key material of ``alg``."""
    if alg.startswith("HS"):
        key = JwsKey.from_secret(private)
        return key, key
    return JwsKey.from_private_key(private), JwsKey.from_public_key(private.public_key())


# -- round trips and interop -------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_round_trip_for_every_algorithm(alg: str, rsa_private: Any, ec_privates: Any, secret: bytes) -> None:
    signer, verifier = keys_for(alg, private_for(alg, rsa_private, ec_privates, secret))
    token = sign_compact(claims=CLAIMS, key=signer, alg=alg, kid="k-1")
    header, claims = verify_compact(token, keys=[verifier], algorithms=[alg])
    assert header == {"alg": alg, "typ": "JWT", "kid": "k-1"}
    assert claims == CLAIMS


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_our_tokens_verify_with_pyjwt(alg: str, rsa_private: Any, ec_privates: Any, secret: bytes) -> None:
    private = private_for(alg, rsa_private, ec_privates, secret)
    token = sign_compact(claims=CLAIMS, key=keys_for(alg, private)[0], alg=alg, kid=None)
    public = private if alg.startswith("HS") else private.public_key()
    assert jwt.decode(token, public, algorithms=[alg], options=PYJWT_OPTIONS) == CLAIMS


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_pyjwt_tokens_verify_here(alg: str, rsa_private: Any, ec_privates: Any, secret: bytes) -> None:
    private = private_for(alg, rsa_private, ec_privates, secret)
    token = jwt.encode(CLAIMS, private, algorithm=alg, headers={"kid": "pyjwt"})
    assert claims_of(token, [keys_for(alg, private)[1]]) == CLAIMS


def test_signed_header_is_exactly_alg_typ_kid(rsa_signer: JwsKey) -> None:
    with_kid = sign_compact(claims=CLAIMS, key=rsa_signer, alg="RS256", kid="abc")
    without_kid = sign_compact(claims=CLAIMS, key=rsa_signer, alg="RS256", kid=None)
    assert unb64(with_kid.split(".")[0]) == b'{"alg":"RS256","typ":"JWT","kid":"abc"}'
    assert unb64(without_kid.split(".")[0]) == b'{"alg":"RS256","typ":"JWT"}'
    assert unb64(with_kid.split(".")[1]) == jbytes(CLAIMS)


def test_pss_uses_hash_length_salt_not_maximum(rsa_private: rsa.RSAPrivateKey, rsa_verifier: JwsKey) -> None:
    # josepy's own PS256 uses the maximum salt; RFC 7518 section 3.5 and every other library use 32 bytes.
    signing_input = f"{b64(jbytes({'alg': 'PS256'}))}.{b64(jbytes(CLAIMS))}"
    max_salt = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH)
    max_salt_signature = rsa_private.sign(signing_input.encode(), max_salt, hashes.SHA256())
    assert refused(f"{signing_input}.{b64(max_salt_signature)}", [rsa_verifier]) == "signature"
    rfc_token = f"{signing_input}.{b64(raw_sign('PS256', rsa_private, signing_input.encode()))}"
    assert claims_of(rfc_token, [rsa_verifier]) == CLAIMS


# -- RFC test vectors -------------------------------------------------------------------------------------

RFC7515_PAYLOAD = "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
RFC7515_A2_TOKEN = (
    "eyJhbGciOiJSUzI1NiJ9."
    + RFC7515_PAYLOAD
    + ".cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9u"
    "JdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9"
    "383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWk"
    "WywlVmtVrBp0igcN_IoypGlUPQGe77Rw"
)
RFC7515_A2_JWK = {
    "kty": "RSA",
    "n": (
        "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4Ql"
        "L-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUs"
        "LA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoud"
        "F8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"
    ),
    "e": "AQAB",
}
RFC7515_A3_TOKEN = (
    "eyJhbGciOiJFUzI1NiJ9."
    + RFC7515_PAYLOAD
    + ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
)
RFC7515_A3_JWK = {
    "kty": "EC",
    "crv": "P-256",
    "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    "d": "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI",
}
RFC7638_JWK = {
    "kty": "RSA",
    "n": (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWK"
        "RXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMic"
        "AtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3"
        "XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    ),
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}


def test_rfc7515_a2_rs256_example_verifies() -> None:
    header, claims = verify_compact(RFC7515_A2_TOKEN, keys=[JwsKey.from_jwk(RFC7515_A2_JWK)])
    assert header == {"alg": "RS256"}
    assert claims["iss"] == "joe"


def test_rfc7515_a2_example_fails_with_one_bit_of_its_modulus_changed() -> None:
    modulus = bytearray(unb64(RFC7515_A2_JWK["n"]))
    modulus[-1] ^= 0x02
    other = JwsKey.from_jwk({**RFC7515_A2_JWK, "n": b64(bytes(modulus))})
    assert refused(RFC7515_A2_TOKEN, [other]) == "signature"


def test_rfc7515_a3_es256_example_verifies_with_public_and_private_jwk() -> None:
    public = {name: value for name, value in RFC7515_A3_JWK.items() if name != "d"}
    for jwk in (public, RFC7515_A3_JWK, json.dumps(public)):
        assert claims_of(RFC7515_A3_TOKEN, [JwsKey.from_jwk(jwk)])["iss"] == "joe"
    assert JwsKey.from_jwk(RFC7515_A3_JWK).can_sign
    assert not JwsKey.from_jwk(public).can_sign


def test_rfc7638_thumbprint_example() -> None:
    assert JwsKey.from_jwk(RFC7638_JWK).thumbprint() == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_thumbprints_match_joserfc_and_ignore_the_private_part(
    rsa_private: Any, ec_privates: Any, secret: bytes
) -> None:
    assert JwsKey.from_private_key(rsa_private).thumbprint() == RSAKey.import_key(rsa_private).thumbprint()
    assert (
        JwsKey.from_public_key(rsa_private.public_key()).thumbprint()
        == JwsKey.from_private_key(rsa_private).thumbprint()
    )
    for private in ec_privates.values():
        assert JwsKey.from_private_key(private).thumbprint() == ECKey.import_key(private).thumbprint()
    assert JwsKey.from_secret(secret).thumbprint() == OctKey.import_key(secret).thumbprint()


def test_public_jwk_round_trips_and_secret_is_never_published(
    rsa_private: Any, ec_privates: Any, secret: bytes
) -> None:
    for private in (rsa_private, *ec_privates.values()):
        key = JwsKey.from_private_key(private)
        public = JwsKey.from_jwk(key.public_jwk())
        assert not public.can_sign
        assert public.thumbprint() == key.thumbprint()
        assert "d" not in key.public_jwk()
    with pytest.raises(JoseError) as excinfo:
        JwsKey.from_secret(secret).public_jwk()
    assert excinfo.value.reason == "key"


# -- attacks: unsigned and algorithm confusion ------------------------------------------------------------


@pytest.mark.parametrize("none", ["none", "None", "NONE", "nOnE"])
def test_alg_none_is_refused(none: str, rsa_private: Any, rsa_verifier: JwsKey) -> None:
    signed = build({"alg": "RS256", "typ": "JWT"}, CLAIMS, "RS256", rsa_private)
    signature = signed.split(".")[2]
    unsigned_header = b64(jbytes({"alg": none, "typ": "JWT"}))
    payload = b64(jbytes(CLAIMS))
    assert refused(f"{unsigned_header}.{payload}.", [rsa_verifier]) == "malformed"
    assert refused(f"{unsigned_header}.{payload}.{signature}", [rsa_verifier]) == "algorithm"
    assert claims_of(signed, [rsa_verifier]) == CLAIMS


@pytest.mark.parametrize("encoding", [serialization.Encoding.PEM, serialization.Encoding.DER])
def test_hs256_signed_with_the_rsa_public_key_is_refused(
    encoding: serialization.Encoding, rsa_private: Any, rsa_verifier: JwsKey
) -> None:
    public_bytes = rsa_private.public_key().public_bytes(encoding, serialization.PublicFormat.SubjectPublicKeyInfo)
    forged = build({"alg": "HS256", "typ": "JWT"}, CLAIMS, "HS256", public_bytes)
    assert refused(forged, [rsa_verifier]) == "algorithm"
    genuine = build({"alg": "RS256", "typ": "JWT"}, CLAIMS, "RS256", rsa_private)
    assert claims_of(genuine, [rsa_verifier]) == CLAIMS


def test_a_public_key_in_text_form_is_refused_as_an_hmac_secret(rsa_private: Any) -> None:
    pem = rsa_private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    ssh = rsa_private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    for text in (pem, ssh):
        with pytest.raises(JoseError) as excinfo:
            JwsKey.from_secret(text)
        assert excinfo.value.reason == "key"
    assert JwsKey.from_secret(b"s" * len(pem)).kind == "oct"


def test_embedded_jwk_header_never_supplies_the_key(rsa_private: Any, attacker_rsa: Any, rsa_verifier: JwsKey) -> None:
    attacker_jwk = JwsKey.from_private_key(attacker_rsa).public_jwk()
    header = {
        "alg": "RS256",
        "jwk": attacker_jwk,
        "jku": "https://evil.example/jwks",
        "x5u": "https://e.example",
    }
    forged = build(header, CLAIMS, "RS256", attacker_rsa)
    assert refused(forged, [rsa_verifier]) == "signature"
    genuine = build(header, CLAIMS, "RS256", rsa_private)
    assert claims_of(genuine, [rsa_verifier]) == CLAIMS


def test_kid_never_chooses_the_key(rsa_private: Any, attacker_rsa: Any, rsa_verifier: JwsKey) -> None:
    forged = build({"alg": "RS256", "kid": rsa_verifier.thumbprint()}, CLAIMS, "RS256", attacker_rsa)
    assert refused(forged, [rsa_verifier]) == "signature"
    genuine = build({"alg": "RS256", "kid": "../../etc/passwd"}, CLAIMS, "RS256", rsa_private)
    assert claims_of(genuine, [rsa_verifier]) == CLAIMS


def test_kid_naming_another_configured_key_only_changes_the_order(
    rsa_private: Any, attacker_rsa: Any, rsa_verifier: JwsKey
) -> None:
    other = JwsKey.from_public_key(attacker_rsa.public_key())
    token = build({"alg": "RS256", "kid": other.thumbprint()}, CLAIMS, "RS256", rsa_private)
    assert claims_of(token, [other, rsa_verifier]) == CLAIMS
    assert refused(token, [other]) == "signature"


def test_es256_token_against_a_p384_key_is_refused(ec_privates: dict[str, Any]) -> None:
    token = build({"alg": "ES256"}, CLAIMS, "ES256", ec_privates["ES256"])
    p384 = JwsKey.from_public_key(ec_privates["ES384"].public_key())
    assert refused(token, [p384]) == "algorithm"
    assert claims_of(token, [JwsKey.from_public_key(ec_privates["ES256"].public_key())]) == CLAIMS


def test_algorithm_outside_the_callers_list_is_refused(rsa_private: Any, rsa_verifier: JwsKey) -> None:
    token = build({"alg": "PS256"}, CLAIMS, "PS256", rsa_private)
    assert refused(token, [rsa_verifier], algorithms=["RS256"]) == "algorithm"
    assert claims_of(token, [rsa_verifier], algorithms=iter(["RS256", "PS256"])) == CLAIMS


@pytest.mark.parametrize("header", [{}, {"alg": 256}, {"alg": "EdDSA"}, {"alg": "HS1"}])
def test_missing_or_unknown_alg_is_refused(header: dict[str, Any], secret: bytes) -> None:
    key = JwsKey.from_secret(secret)
    assert refused(build(header, CLAIMS, "HS256", secret), [key]) == "algorithm"
    assert claims_of(build({**header, "alg": "HS256"}, CLAIMS, "HS256", secret), [key]) == CLAIMS


# -- attacks: tampering -----------------------------------------------------------------------------------


def flip_bit(token: str, part: int, index: int, bit: int) -> str:
    parts = token.split(".")
    data = bytearray(unb64(parts[part]))
    data[index] ^= bit
    parts[part] = b64(bytes(data))
    return ".".join(parts)


def test_one_bit_tampering_is_refused(rsa_private: Any, rsa_verifier: JwsKey) -> None:
    token = build(b'{"alg":"RS256","typ":"JWT"}', b'{"sub":"a","admin":false}', "RS256", rsa_private)
    assert claims_of(token, [rsa_verifier]) == {"sub": "a", "admin": False}
    header_tampered = flip_bit(token, 0, len(b'{"alg":"RS256","typ":"JW'), 0x01)  # typ JWT -> JWU
    payload_tampered = flip_bit(token, 1, len(b'{"sub":"'), 0x02)  # sub a -> c
    signature_tampered = flip_bit(token, 2, 255, 0x01)
    assert unb64(header_tampered.split(".")[0]) == b'{"alg":"RS256","typ":"JWU"}'
    assert unb64(payload_tampered.split(".")[1]) == b'{"sub":"c","admin":false}'
    for tampered in (header_tampered, payload_tampered, signature_tampered):
        assert refused(tampered, [rsa_verifier]) == "signature"


def test_hmac_with_another_secret_is_refused(secret: bytes) -> None:
    other = JwsKey.from_secret(bytes(reversed(secret)))
    token = build({"alg": "HS512"}, CLAIMS, "HS512", secret)
    assert refused(token, [other]) == "signature"
    assert claims_of(token, [other, JwsKey.from_secret(secret)]) == CLAIMS


# -- attacks: compact syntax ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_token(rsa_private: rsa.RSAPrivateKey) -> str:
    token = build({"alg": "RS256", "typ": "JWT"}, CLAIMS, "RS256", rsa_private)
    assert len(token.split(".")[2]) % 4 == 2  # 256 signature bytes: two base64url characters of tail
    return token


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda t: t + ".", id="trailing-dot"),
        pytest.param(lambda t: t + ".AAAA", id="fourth-part"),
        pytest.param(lambda t: t.replace(".", "..", 1), id="empty-part"),
        pytest.param(lambda t: t.rsplit(".", 1)[0], id="two-parts"),
        pytest.param(lambda t: t + "==", id="padding"),
        pytest.param(lambda t: t.replace(".", "=.", 1), id="padding-inside"),
        pytest.param(lambda t: t + "\n", id="trailing-newline"),
        pytest.param(lambda t: " " + t, id="leading-space"),
        pytest.param(lambda t: t.replace(".", ". ", 1), id="inner-space"),
        pytest.param(lambda t: t[:20] + "\t" + t[20:], id="inner-tab"),
        pytest.param(lambda t: t.replace("-", "+").replace("_", "/") + "+/", id="standard-alphabet"),
        pytest.param(lambda t: t[:-1] + "é", id="non-ascii"),
        pytest.param(lambda t: t + "AAA", id="impossible-length"),
    ],
)
def test_non_compact_syntax_is_malformed(mutate: Callable[[str], str], good_token: str, rsa_verifier: JwsKey) -> None:
    assert refused(mutate(good_token), [rsa_verifier]) == "malformed"
    assert claims_of(good_token, [rsa_verifier]) == CLAIMS


def test_non_canonical_trailing_bits_are_malformed(good_token: str, rsa_verifier: JwsKey) -> None:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = good_token[-1]
    malleable = good_token[:-1] + alphabet[alphabet.index(last) | 0x01]
    assert unb64(malleable.split(".")[2]) == unb64(good_token.split(".")[2])  # a lenient decoder: same bytes
    assert refused(malleable, [rsa_verifier]) == "malformed"
    assert claims_of(good_token, [rsa_verifier]) == CLAIMS


def test_non_canonical_bits_in_a_three_character_tail(rsa_private: Any, rsa_verifier: JwsKey) -> None:
    token = build(b'{"alg":"RS256"  }', CLAIMS, "RS256", rsa_private)  # 17 bytes: 23 characters
    header = token.split(".")[0]
    assert len(header) % 4 == 3  # the last character carries 2 unused bits
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    malleable = header[:-1] + alphabet[alphabet.index(header[-1]) | 0x02]
    assert unb64(malleable) == unb64(header)
    assert refused(token.replace(header, malleable, 1), [rsa_verifier]) == "malformed"
    assert claims_of(token, [rsa_verifier]) == CLAIMS


# -- attacks: JSON ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "payload"),
    [
        pytest.param(b'{"alg":"RS256","alg":"RS256"}', jbytes(CLAIMS), id="duplicate-header-member"),
        pytest.param(b'{"alg":"RS256"}', b'{"sub":"a","sub":"admin"}', id="duplicate-payload-member"),
        pytest.param(b'{"alg":"RS256"}', b'[{"sub":"a"}]', id="payload-array"),
        pytest.param(b'{"alg":"RS256"}', b'"sub"', id="payload-string"),
        pytest.param(b'["RS256"]', jbytes(CLAIMS), id="header-array"),
        pytest.param(b'{"alg":"RS256"}', b'{"exp":NaN}', id="nan"),
        pytest.param(b'{"alg":"RS256"}', b'{"exp":Infinity}', id="infinity"),
        pytest.param(b'{"alg":"RS256"}', b'{"sub":"a"} x', id="trailing-data"),
        pytest.param(b'{"alg":"RS256"}', b'{"sub":"\xff"}', id="not-utf8"),
        pytest.param(b'\xef\xbb\xbf{"alg":"RS256"}', jbytes(CLAIMS), id="utf8-bom"),
        pytest.param('{"alg":"RS256"}'.encode("utf-16"), jbytes(CLAIMS), id="utf16"),
        pytest.param(b'{"alg":"RS256"}', b"[" * 2500 + b"]" * 2500, id="deep-nesting"),
        pytest.param(b'{"alg":"RS256"}', b"", id="empty-payload"),
    ],
)
def test_bad_json_is_malformed(header: bytes, payload: bytes, rsa_private: Any, rsa_verifier: JwsKey) -> None:
    assert refused(build(header, payload, "RS256", rsa_private), [rsa_verifier]) == "malformed"
    twin = build(b'{"alg":"RS256"}', b'{"sub":"a"}', "RS256", rsa_private)
    assert claims_of(twin, [rsa_verifier]) == {"sub": "a"}


def test_json_whitespace_around_values_is_accepted(rsa_private: Any, rsa_verifier: JwsKey) -> None:
    token = build(b' {"alg" : "RS256"}\r\n', b'\t{ "sub": "a" } ', "RS256", rsa_private)
    assert verify_compact(token, keys=[rsa_verifier]) == ({"alg": "RS256"}, {"sub": "a"})


# -- attacks: size, header extensions ---------------------------------------------------------------------


def token_of_length(length: int, rsa_private: Any) -> str:
    """An honestly signed RS256 token of exactly ``length`` characters."""
    empty_payload = b'{"pad":""}'
    for spaces in range(3):
        header = b'{"alg":"RS256"' + b" " * spaces + b"}"
        payload_chars = length - len(b64(header)) - 2 - len(b64(bytes(256)))
        if payload_chars % 4 == 1:  # no byte string encodes to that many characters
            continue
        pad = payload_chars * 3 // 4 - len(empty_payload)
        token = build(header, b'{"pad":"' + b"x" * pad + b'"}', "RS256", rsa_private)
        assert len(token) == length
        return token
    raise AssertionError(f"no token of length {length}")


def test_oversize_token_is_refused_before_parsing(rsa_private: Any, rsa_verifier: JwsKey) -> None:
    at_limit = token_of_length(MAX_TOKEN_BYTES, rsa_private)
    over = token_of_length(MAX_TOKEN_BYTES + 1, rsa_private)
    assert (len(at_limit), len(over)) == (8192, 8193)
    assert claims_of(at_limit, [rsa_verifier])["pad"].startswith("x")
    assert refused(over, [rsa_verifier]) == "size"
    assert refused("!" * 8193, [rsa_verifier]) == "size"
    assert refused("é" * 4097, [rsa_verifier]) == "size"  # 8194 bytes in UTF-8
    assert refused("é" * 4096, [rsa_verifier]) == "malformed"


def test_signing_refuses_to_make_an_oversize_token(rsa_signer: JwsKey) -> None:
    with pytest.raises(JoseError) as excinfo:
        sign_compact(claims={"pad": "x" * 6000}, key=rsa_signer, alg="RS256", kid=None)
    assert excinfo.value.reason == "size"
    assert sign_compact(claims={"pad": "x" * 5000}, key=rsa_signer, alg="RS256", kid=None)


@pytest.mark.parametrize(
    "extension",
    [
        {"crit": ["exp"], "exp": 1},
        {"crit": []},
        {"crit": ["b64"], "b64": True},
        {"b64": False},
        {"crit": ["b64"], "b64": False},
        {"b64": "false"},
    ],
)
def test_critical_and_unencoded_payload_extensions_are_refused(
    extension: dict[str, Any], rsa_private: Any, rsa_verifier: JwsKey
) -> None:
    token = build({"alg": "RS256", **extension}, CLAIMS, "RS256", rsa_private)
    assert refused(token, [rsa_verifier]) == "header"
    twin = build({"alg": "RS256", "exp": 1, "b64": True}, CLAIMS, "RS256", rsa_private)
    assert claims_of(twin, [rsa_verifier]) == CLAIMS


# -- attacks: signature encodings -------------------------------------------------------------------------


def test_der_encoded_es256_signature_is_refused(ec_privates: dict[str, Any]) -> None:
    private = ec_privates["ES256"]
    verifier = JwsKey.from_public_key(private.public_key())
    signing_input = f"{b64(jbytes({'alg': 'ES256'}))}.{b64(jbytes(CLAIMS))}"
    der = private.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    assert refused(f"{signing_input}.{b64(der)}", [verifier]) == "signature"
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert claims_of(f"{signing_input}.{b64(raw)}", [verifier]) == CLAIMS


def test_zero_es256_signature_is_refused(ec_privates: dict[str, Any]) -> None:
    # CVE-2022-21449 ("psychic signatures"): r = s = 0 must never verify.
    verifier = JwsKey.from_public_key(ec_privates["ES256"].public_key())
    signing_input = f"{b64(jbytes({'alg': 'ES256'}))}.{b64(jbytes(CLAIMS))}"
    assert refused(f"{signing_input}.{b64(bytes(64))}", [verifier]) == "signature"
    good = build({"alg": "ES256"}, CLAIMS, "ES256", ec_privates["ES256"])
    assert claims_of(good, [verifier]) == CLAIMS


def test_ec_signature_with_short_coordinates_is_refused(ec_privates: dict[str, Any]) -> None:
    private = ec_privates["ES512"]
    verifier = JwsKey.from_public_key(private.public_key())
    signing_input = f"{b64(jbytes({'alg': 'ES512'}))}.{b64(jbytes(CLAIMS))}"
    r, s = decode_dss_signature(private.sign(signing_input.encode(), ec.ECDSA(hashes.SHA512())))
    assert claims_of(f"{signing_input}.{b64(r.to_bytes(66, 'big') + s.to_bytes(66, 'big'))}", [verifier])
    short = r.to_bytes(66, "big")[1:] + s.to_bytes(66, "big")[1:]  # RFC 7518 3.4: must not be shortened
    assert refused(f"{signing_input}.{b64(short)}", [verifier]) == "signature"
    assert encode_dss_signature(r, s)  # the DER form exists; it is simply not a JWS signature


@pytest.mark.parametrize(
    "reshape",
    [
        pytest.param(lambda sig: b"\x00" + sig, id="leading-zero"),
        pytest.param(lambda sig: sig[1:], id="truncated"),
        pytest.param(lambda sig: sig + sig, id="doubled"),
        pytest.param(lambda sig: b"", id="empty-bytes"),
    ],
)
def test_rs256_signature_of_wrong_length_is_refused(
    reshape: Callable[[bytes], bytes], rsa_private: Any, rsa_verifier: JwsKey
) -> None:
    signing_input = f"{b64(jbytes({'alg': 'RS256'}))}.{b64(jbytes(CLAIMS))}"
    signature = raw_sign("RS256", rsa_private, signing_input.encode())
    reshaped = reshape(signature)
    reason = "malformed" if not reshaped else "signature"
    assert refused(f"{signing_input}.{b64(reshaped)}", [rsa_verifier]) == reason
    assert claims_of(f"{signing_input}.{b64(signature)}", [rsa_verifier]) == CLAIMS


# -- keys ---------------------------------------------------------------------------------------------------


def test_allowed_algorithms_follow_the_key_type(rsa_private: Any, ec_privates: Any, secret: bytes) -> None:
    assert JwsKey.from_private_key(rsa_private).allowed_algorithms() == {
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"
    }  # fmt: skip
    for alg, private in ec_privates.items():
        assert JwsKey.from_private_key(private).allowed_algorithms() == {alg}
    # RFC 7518 section 3.2: the HMAC key must be at least as long as the hash.
    assert JwsKey.from_secret(secret[:32]).allowed_algorithms() == {"HS256"}
    assert JwsKey.from_secret(secret[:48]).allowed_algorithms() == {"HS256", "HS384"}
    assert JwsKey.from_secret(secret).allowed_algorithms() == {"HS256", "HS384", "HS512"}


def test_signing_needs_an_allowed_algorithm_and_a_private_key(
    rsa_signer: JwsKey, rsa_verifier: JwsKey, secret: bytes
) -> None:
    cases = [
        (rsa_signer, "HS256", "algorithm"),
        (rsa_signer, "ES256", "algorithm"),
        (rsa_signer, "none", "algorithm"),
        (rsa_signer, "EdDSA", "algorithm"),
        (JwsKey.from_secret(secret[:32]), "HS512", "algorithm"),
        (rsa_verifier, "RS256", "key"),
    ]
    for key, alg, reason in cases:
        with pytest.raises(JoseError) as excinfo:
            sign_compact(claims=CLAIMS, key=key, alg=alg, kid=None)
        assert excinfo.value.reason == reason, (alg, reason)
    assert sign_compact(claims=CLAIMS, key=rsa_signer, alg="RS256", kid=None)


@pytest.mark.parametrize(
    ("claims", "kid", "reason"),
    [
        ({"exp": float("nan")}, None, "malformed"),
        ({"when": object()}, None, "malformed"),
        (["not", "an", "object"], None, "malformed"),
        (CLAIMS, 42, "header"),
    ],
)
def test_signing_refuses_bad_claims_and_kid(claims: Any, kid: Any, reason: str, rsa_signer: JwsKey) -> None:
    with pytest.raises(JoseError) as excinfo:
        sign_compact(claims=claims, key=rsa_signer, alg="RS256", kid=kid)
    assert excinfo.value.reason == reason


def test_weak_or_foreign_keys_are_refused() -> None:
    small_rsa = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (refusing it is the point)
    for build_key in (
        lambda: JwsKey.from_private_key(small_rsa),
        lambda: JwsKey.from_public_key(small_rsa.public_key()),
        lambda: JwsKey.from_private_key(ec.generate_private_key(ec.SECP256K1())),
        lambda: JwsKey.from_private_key(ed25519.Ed25519PrivateKey.generate()),  # type: ignore[arg-type]
        lambda: JwsKey.from_public_key(ed25519.Ed25519PrivateKey.generate().public_key()),  # type: ignore[arg-type]
        lambda: JwsKey.from_secret(b"x" * 31),
        lambda: JwsKey.from_secret("x" * 64),  # type: ignore[arg-type]
    ):
        with pytest.raises(JoseError) as excinfo:
            build_key()
        assert excinfo.value.reason == "key"
    assert JwsKey.from_secret(b"x" * 32).kind == "oct"


def _rsa_public_key_of(bits: int) -> rsa.RSAPublicKey:
    """An RSA public key whose modulus has exactly ``bits`` bits (an odd number, not a product of two primes:
    building a public key checks only its shape, and this is about the size rule)."""
    return rsa.RSAPublicNumbers(65537, (1 << (bits - 1)) | (1 << 64) | 1).public_key()


def _rsa_public_jwk_of(bits: int) -> dict[str, str]:
    n = _rsa_public_key_of(bits).public_numbers().n
    return {"kty": "RSA", "e": "AQAB", "n": b64(n.to_bytes((bits + 7) // 8, "big"))}


@pytest.mark.parametrize(("accepted", "refused"), [(2048, 2047), (8192, 8193)])
def test_rsa_keys_within_the_upload_rules_sizes_are_usable_and_one_bit_outside_refused(
    accepted: int, refused: int
) -> None:
    """The codec's RSA sizes are the upload rules' (keyprofiles.keymaterial, 2048 to 8192 bits): any key the
    portal stores can sign and verify, and a JWK or key one bit outside them is refused, at both edges."""
    assert (keymaterial.RSA_MIN_BITS, keymaterial.RSA_MAX_BITS) == (2048, 8192)
    assert JwsKey.from_public_key(_rsa_public_key_of(accepted)).kind == "RSA"
    assert JwsKey.from_jwk(_rsa_public_jwk_of(accepted)).kind == "RSA"
    for build_key in (
        lambda: JwsKey.from_public_key(_rsa_public_key_of(refused)),
        lambda: JwsKey.from_jwk(_rsa_public_jwk_of(refused)),
    ):
        with pytest.raises(JoseError) as excinfo:
            build_key()
        assert (excinfo.value.reason, str(excinfo.value)) == ("key", "An RSA key for JWS must have 2048 to 8192 bits.")


@pytest.mark.parametrize("curve", [None, ec.SECP256R1(), ec.SECP521R1()])
def test_the_codec_kid_and_public_jwk_are_keymaterial_s(curve: ec.EllipticCurve | None, rsa_private: Any) -> None:
    """One key id and public JWK: the codec names a key as the JWKS, the console and the JWK download do."""
    private = rsa_private if curve is None else ec.generate_private_key(curve)
    for key in (JwsKey.from_private_key(private), JwsKey.from_public_key(private.public_key())):
        assert key.public_jwk() == keymaterial.public_jwk(private.public_key())
        assert key.thumbprint() == keymaterial.key_id(private)


@pytest.mark.parametrize(
    "jwk",
    [
        pytest.param("not json", id="garbage-text"),
        pytest.param('{"kty":"oct","kty":"RSA","k":"AAAA"}', id="duplicate-member"),
        pytest.param("[]", id="array"),
        pytest.param({}, id="no-kty"),
        pytest.param({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}, id="okp"),
        pytest.param({"kty": "oct", "k": b64(b"x" * 16)}, id="short-secret"),
        pytest.param({"kty": "oct", "k": b64(b"x" * 32) + "="}, id="padded-base64"),
        pytest.param({"kty": "oct", "k": 12345}, id="k-not-string"),
        pytest.param({"kty": "oct", "k": b64(b"x" * 32), "use": "enc"}, id="use-enc"),
        pytest.param({"kty": "oct", "k": b64(b"x" * 32), "alg": "RS256"}, id="alg-wrong-type"),
        pytest.param({"kty": "oct", "k": b64(b"x" * 32), "alg": "HS512"}, id="alg-too-strong-for-k"),
        pytest.param({**RFC7515_A2_JWK, "n": RFC7515_A2_JWK["n"][:150]}, id="rsa-too-small"),
        pytest.param({**RFC7515_A2_JWK, "e": "AAE"}, id="rsa-e-one"),
        pytest.param({**RFC7515_A2_JWK, "d": RFC7515_A3_JWK["d"]}, id="rsa-bad-d"),
        pytest.param({**RFC7515_A2_JWK, "d": b64(b"\x01" * 256), "p": "AQAB"}, id="rsa-partial-crt"),
        pytest.param({**RFC7515_A2_JWK, "oth": []}, id="rsa-multi-prime"),
        pytest.param({**RFC7515_A3_JWK, "crv": "P-192"}, id="ec-unknown-curve"),
        pytest.param({**RFC7515_A3_JWK, "y": RFC7515_A3_JWK["x"]}, id="ec-point-off-curve"),
        pytest.param({**RFC7515_A3_JWK, "x": b64(unb64(RFC7515_A3_JWK["x"])[1:])}, id="ec-short-x"),
        pytest.param({**RFC7515_A3_JWK, "d": b64(bytes(31) + b"\x07")}, id="ec-d-not-matching"),
    ],
)
def test_bad_jwks_are_refused(jwk: Any) -> None:
    with pytest.raises(JoseError) as excinfo:
        JwsKey.from_jwk(jwk)
    assert excinfo.value.reason == "key"
    assert JwsKey.from_jwk(RFC7515_A3_JWK).kind == "EC"


def test_private_rsa_jwk_signs_with_and_without_crt_members() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = private.private_numbers()

    def enc(value: int) -> str:
        return b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))

    public_jwk = JwsKey.from_private_key(private).public_jwk()
    full = {
        **public_jwk,
        "d": enc(numbers.d),
        "p": enc(numbers.p),
        "q": enc(numbers.q),
        "dp": enc(numbers.dmp1),
        "dq": enc(numbers.dmq1),
        "qi": enc(numbers.iqmp),
    }
    verifier = JwsKey.from_jwk(public_jwk)
    for jwk in (full, {**public_jwk, "d": enc(numbers.d)}):
        signer = JwsKey.from_jwk(jwk)
        assert signer.can_sign
        token = sign_compact(claims=CLAIMS, key=signer, alg="PS384", kid=signer.thumbprint())
        assert claims_of(token, [verifier]) == CLAIMS


def test_jwk_alg_member_pins_the_key_to_one_algorithm(rsa_private: Any) -> None:
    pinned = JwsKey.from_jwk({**JwsKey.from_private_key(rsa_private).public_jwk(), "alg": "RS256"})
    assert pinned.allowed_algorithms() == {"RS256"}
    assert refused(build({"alg": "PS256"}, CLAIMS, "PS256", rsa_private), [pinned]) == "algorithm"
    assert claims_of(build({"alg": "RS256"}, CLAIMS, "RS256", rsa_private), [pinned]) == CLAIMS


def test_verify_needs_at_least_one_key(good_token: str, rsa_verifier: JwsKey) -> None:
    assert refused(good_token, []) == "key"
    assert claims_of(good_token, [rsa_verifier]) == CLAIMS


def test_non_text_token_is_malformed(good_token: str, rsa_verifier: JwsKey) -> None:
    assert refused(good_token.encode(), [rsa_verifier]) == "malformed"  # type: ignore[arg-type]


def test_error_messages_do_not_echo_the_token(good_token: str, rsa_verifier: JwsKey) -> None:
    header, payload, signature = good_token.split(".")
    marked_header = b64(b'{"alg":"none","x":"secret-marker"}')
    marked_payload = b64(b'["secret-marker"]')
    attempts = [
        f"{header}.{payload}.{signature}=",
        f"{marked_header}.{payload}.{signature}",
        f"{header}.{marked_payload}.{signature}",
        f"{header}.{payload}.{signature[:-4]}AAAA",
    ]
    for attempt in attempts:
        with pytest.raises(JoseError) as excinfo:
            verify_compact(attempt, keys=[rsa_verifier])
        message = str(excinfo.value)
        assert message.endswith(".")
        assert "secret-marker" not in message
        assert all(part not in message for part in (header, payload, signature[:16]))


def test_hmac_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch, secret: bytes) -> None:
    calls: list[int] = []
    real_compare = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append(1)
        return real_compare(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    key = JwsKey.from_secret(secret)
    token = build({"alg": "HS256"}, CLAIMS, "HS256", secret)
    assert claims_of(token, [key]) == CLAIMS
    assert calls


# -- bad input: bounded depth and number length, refusals named (issue 9, finding 5) ---------------------


def _message(token: str, keys: list[JwsKey]) -> str:
    with pytest.raises(JoseError) as excinfo:
        verify_compact(token, keys=keys)
    return str(excinfo.value)


@pytest.mark.parametrize("part", ["header", "payload"])
def test_json_nested_beyond_the_limit_is_refused_by_name_before_decoding(
    part: str, rsa_private: Any, rsa_verifier: JwsKey
) -> None:
    def token(depth: int) -> str:
        deep = b'{"d":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"
        header = deep[:-1] + b',"alg":"RS256"}' if part == "header" else b'{"alg":"RS256"}'
        return build(header, deep if part == "payload" else jbytes(CLAIMS), "RS256", rsa_private)

    verify_compact(token(64), keys=[rsa_verifier])

    # 100 levels decode without a RecursionError, yet could fail when written out again deeper in a stack.
    for depth in (65, 100, 2500):
        assert _message(token(depth), [rsa_verifier]) == f"The token {part} is nested more than 64 levels deep."


def test_brackets_inside_claim_strings_are_not_nesting(rsa_private: Any, rsa_verifier: JwsKey) -> None:
    claims = {**CLAIMS, "note": "[" * 200 + "{" * 200}
    assert claims_of(build({"alg": "RS256"}, claims, "RS256", rsa_private), [rsa_verifier]) == claims


def test_an_integer_over_the_interpreters_limit_is_named(rsa_private: Any, rsa_verifier: JwsKey) -> None:
    fits = build({"alg": "RS256"}, b'{"n":' + b"9" * 4300 + b"}", "RS256", rsa_private)
    assert claims_of(fits, [rsa_verifier]) == {"n": int("9" * 4300)}

    too_long = build({"alg": "RS256"}, b'{"n":' + b"9" * 5000 + b"}", "RS256", rsa_private)

    assert _message(too_long, [rsa_verifier]) == "The token payload holds an integer too long to read."
    assert refused(too_long, [rsa_verifier]) == "malformed"


def test_jwk_text_nested_beyond_the_limit_is_refused_by_name() -> None:
    JwsKey.from_jwk(json.dumps({**RFC7515_A3_JWK, "x-note": [[[]]]}))

    with pytest.raises(JoseError) as excinfo:
        JwsKey.from_jwk('{"kty":"EC","x-note":' + "[" * 5000 + "]" * 5000 + "}")

    assert (excinfo.value.reason, str(excinfo.value)) == ("key", "The JWK is nested more than 64 levels deep.")


@pytest.mark.parametrize("member", ["d", "e"])
def test_rsa_jwk_numbers_longer_than_the_modulus_are_refused_before_any_arithmetic(member: str) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**JwsKey.from_private_key(private).public_jwk(), "d": b64(private.private_numbers().d.to_bytes(256, "big"))}
    assert JwsKey.from_jwk(jwk).can_sign
    # Leading zero bytes are padding, not length: the same number still passes.
    assert JwsKey.from_jwk({**jwk, member: b64(bytes(300) + unb64(jwk[member]))}).can_sign

    with pytest.raises(JoseError) as excinfo:
        JwsKey.from_jwk({**jwk, member: b64(b"\x01" * 6000)})

    assert str(excinfo.value) == f"The JWK member '{member}' is longer than the modulus."


# -- what is computed once: the signer of a fixed key and header, the headers of verified tokens ------------------


def test_a_compact_signer_makes_the_tokens_sign_compact_makes(rsa_signer: JwsKey, rsa_verifier: JwsKey) -> None:
    signer = CompactSigner(key=rsa_signer, alg="RS256", kid="k-1")

    token = signer.sign(CLAIMS)

    # RSASSA-PKCS1-v1_5 is deterministic: the same bytes, header included.
    assert token == sign_compact(claims=CLAIMS, key=rsa_signer, alg="RS256", kid="k-1")
    assert verify_compact(token, keys=[rsa_verifier]) == ({"alg": "RS256", "typ": "JWT", "kid": "k-1"}, CLAIMS)


def test_a_compact_signer_is_refused_when_made_for_a_key_that_cannot_sign(
    rsa_signer: JwsKey, rsa_verifier: JwsKey
) -> None:
    with pytest.raises(JoseError) as public:
        CompactSigner(key=rsa_verifier, alg="RS256", kid=None)
    with pytest.raises(JoseError) as wrong_type:
        CompactSigner(key=rsa_signer, alg="ES256", kid=None)

    assert (public.value.reason, wrong_type.value.reason) == ("key", "algorithm")
    assert CompactSigner(key=rsa_signer, alg="PS256", kid=None).sign(CLAIMS)  # the positive twin


def test_a_header_seen_on_a_verified_token_is_still_checked_for_every_token(
    rsa_private: Any, attacker_rsa: Any, rsa_verifier: JwsKey, secret: bytes
) -> None:
    """verify_compact parses the header of a token that verified once per header segment; a later token with
    the same header bytes still needs its own signature, and the header's algorithm is still held against the
    keys and algorithms of each call."""
    header = {"alg": "RS256", "typ": "JWT", "kid": "k-cached"}
    genuine = build(header, CLAIMS, "RS256", rsa_private)
    assert claims_of(genuine, [rsa_verifier]) == CLAIMS

    forged = build(header, {**CLAIMS, "sub": "admin"}, "RS256", attacker_rsa)

    assert refused(forged, [rsa_verifier]) == "signature"
    assert refused(genuine, [JwsKey.from_secret(secret)]) == "algorithm"
    assert refused(genuine, [rsa_verifier], algorithms=["PS256"]) == "algorithm"
    assert claims_of(genuine, [rsa_verifier]) == CLAIMS


def test_the_header_returned_is_the_callers_to_change(rsa_private: Any, rsa_verifier: JwsKey) -> None:
    token = build({"alg": "RS256", "typ": "JWT", "kid": "k-mine"}, CLAIMS, "RS256", rsa_private)
    first, _ = verify_compact(token, keys=[rsa_verifier])
    first["kid"] = "changed"

    again, _ = verify_compact(token, keys=[rsa_verifier])

    assert again == {"alg": "RS256", "typ": "JWT", "kid": "k-mine"}


@pytest.mark.parametrize(
    "claims",
    [
        CLAIMS,
        {"name": 'Zoë \u2603 "quoted" \\ \n', "aud": ["a", "b"], "n": -1.5e-7, "big": 2**70},
        {"ok": True, "no": False, "none": None, "zero": 0, "float": 12.5},
        {"nested": {"list": [{"a": [1, 2.0, "x"]}], "empty": {}}},
    ],
)
def test_claims_are_written_as_json_dumps_writes_them(claims: dict[str, Any], rsa_signer: JwsKey) -> None:
    token = sign_compact(claims=claims, key=rsa_signer, alg="RS256", kid=None)

    assert unb64(token.split(".")[1]) == json.dumps(claims, separators=(",", ":")).encode("ascii")


@pytest.mark.parametrize(
    "claims",
    [{"n": float("nan")}, {"n": float("inf")}, {"s": {1, 2}}, {"b": b"bytes"}, {(1, 2): "key"}],
    ids=["nan", "infinity", "set", "bytes", "tuple-key"],
)
def test_claims_json_cannot_hold_are_refused_as_malformed(claims: dict[Any, Any], rsa_signer: JwsKey) -> None:
    with pytest.raises(JoseError) as refusal:
        sign_compact(claims=claims, key=rsa_signer, alg="RS256", kid=None)
    assert refusal.value.reason == "malformed"


def test_claims_nested_deeper_than_the_interpreter_goes_are_refused_as_malformed(rsa_signer: JwsKey) -> None:
    deep: Any = "bottom"
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(JoseError) as refusal:
        sign_compact(claims={"deep": deep}, key=rsa_signer, alg="RS256", kid=None)
    assert refusal.value.reason == "malformed"
    assert sign_compact(claims={"shallow": [[["bottom"]]]}, key=rsa_signer, alg="RS256", kid=None)
