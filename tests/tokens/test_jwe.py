"""JWE in tokens.jose: the RFC 7516 and RFC 7520 examples decrypt, every alg x enc round-trips and is read by
jwcrypto and joserfc in both directions, and what must be refused (RSA1_5, zip, oversized or altered tokens,
an off-curve epk) is, each beside a twin that passes."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jwe as joserfc_jwe
from joserfc.jwk import ECKey as JoserfcECKey
from joserfc.jwk import OctKey as JoserfcOctKey
from joserfc.jwk import RSAKey as JoserfcRSAKey
from jwcrypto import jwe as jwcrypto_jwe
from jwcrypto import jwk as jwcrypto_jwk

from tests.keyfixtures import EC256_KEY_PEM, KEY1_PEM
from tests.tokens import jwe_vectors as v
from tests.tokens.helpers import b64url, ec_private, rsa_private, segment, unb64url
from tokens import jose

DECRYPTION_FAILED = "The token does not decrypt with the configured key."
PLAINTEXT = b"eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJhcGljIn0.c2lnbmF0dXJl"


def key_for(jwk: dict[str, Any]) -> jose.JweKey:
    return jose.JweKey.from_jwk({name: value for name, value in jwk.items() if name not in {"use", "alg"}})


# -- the published examples ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "jwk", "token", "plaintext"),
    [
        ("RFC 7516 A.1 RSA-OAEP A256GCM", v.RFC7516_A1_KEY, v.RFC7516_A1_TOKEN, v.RFC7516_A1_PLAINTEXT),
        ("RFC 7516 A.3 A128KW A128CBC-HS256", v.RFC7516_A3_KEY, v.RFC7516_A3_TOKEN, v.RFC7516_A3_PLAINTEXT),
        ("RFC 7520 5.2 RSA-OAEP A256GCM", v.RFC7520_5_2_KEY, v.RFC7520_5_2_TOKEN, v.RFC7520_PLAINTEXT),
        ("RFC 7520 5.4 ECDH-ES+A128KW A128GCM", v.RFC7520_5_4_KEY, v.RFC7520_5_4_TOKEN, v.RFC7520_PLAINTEXT),
        ("RFC 7520 5.5 ECDH-ES A128CBC-HS256", v.RFC7520_5_5_KEY, v.RFC7520_5_5_TOKEN, v.RFC7520_PLAINTEXT),
        ("RFC 7520 5.6 dir A128GCM", v.RFC7520_5_6_KEY, v.RFC7520_5_6_TOKEN, v.RFC7520_PLAINTEXT),
        ("RFC 7520 5.8 A128KW A128GCM", v.RFC7520_5_8_KEY, v.RFC7520_5_8_TOKEN, v.RFC7520_PLAINTEXT),
    ],
)
def test_the_rfc_examples_decrypt(name: str, jwk: dict[str, Any], token: str, plaintext: bytes) -> None:
    header, decrypted = jose.decrypt_compact(token, keys=[key_for(jwk)])
    assert decrypted == plaintext
    assert header["alg"] in jose.JWE_ALGORITHMS


@pytest.mark.parametrize(
    ("jwk", "token"), [(v.RFC7516_A2_KEY, v.RFC7516_A2_TOKEN), (v.RFC7520_5_1_KEY, v.RFC7520_5_1_TOKEN)]
)
def test_rsa1_5_examples_are_refused_before_any_decryption(jwk: dict[str, Any], token: str) -> None:
    # Twin of the RSA-OAEP examples above: the same kind of key, the algorithm RFC 8725 section 3.2 retires.
    with pytest.raises(jose.JoseError) as caught:
        jose.decrypt_compact(token, keys=[key_for(jwk)])
    assert (caught.value.reason, str(caught.value)) == (
        "algorithm",
        "The key management algorithm RSA1_5 is refused (RFC 8725 section 3.2).",
    )


def test_the_compressed_example_is_refused() -> None:
    # RFC 7520 5.9 is 5.8 with "zip": "DEF"; 5.8 decrypts above with the same key.
    with pytest.raises(jose.JoseError) as caught:
        jose.decrypt_compact(v.RFC7520_5_9_TOKEN, keys=[key_for(v.RFC7520_5_9_KEY)])
    assert (caught.value.reason, str(caught.value)) == ("header", "Compressed tokens ('zip') are refused.")


# -- round trips and other libraries ---------------------------------------------------------------------------

RSA_KEY = rsa_private(KEY1_PEM)
EC_KEY = ec_private(EC256_KEY_PEM)
SECRETS = {"A128KW": b"k" * 16, "A256KW": b"K" * 32}
DIR_SECRETS = {enc: bytes(range(length)) for enc, length in jose._CEK_BYTES.items()}


def keys_for(alg: str, enc: str) -> tuple[jose.JweKey, jose.JweKey, Any]:
    """(encrypting key, decrypting key, the raw key for the other libraries)."""
    if alg.startswith("RSA"):
        return jose.JweKey.from_public_key(RSA_KEY.public_key()), jose.JweKey.from_private_key(RSA_KEY), RSA_KEY
    if alg.startswith("ECDH"):
        return jose.JweKey.from_public_key(EC_KEY.public_key()), jose.JweKey.from_private_key(EC_KEY), EC_KEY
    secret = DIR_SECRETS[enc] if alg == "dir" else SECRETS[alg]
    key = jose.JweKey.from_secret(secret)
    return key, key, secret


COMBINATIONS = list(itertools.product(jose.JWE_ALGORITHMS, jose.JWE_ENCRYPTIONS))


@pytest.mark.parametrize(("alg", "enc"), COMBINATIONS)
def test_every_alg_and_enc_round_trips(alg: str, enc: str) -> None:
    encrypting, decrypting, _ = keys_for(alg, enc)
    token = jose.encrypt_compact(PLAINTEXT, key=encrypting, alg=alg, enc=enc, kid="k1", cty="JWT")
    header, plaintext = jose.decrypt_compact(token, keys=[decrypting])
    assert plaintext == PLAINTEXT
    assert {name: header[name] for name in ("alg", "enc", "kid", "cty")} == {
        "alg": alg, "enc": enc, "kid": "k1", "cty": "JWT"
    }  # fmt: skip


def _jwcrypto_key(raw: Any) -> jwcrypto_jwk.JWK:
    if isinstance(raw, bytes):
        return jwcrypto_jwk.JWK(kty="oct", k=b64url(raw))
    return jwcrypto_jwk.JWK.from_pyca(raw)


def _joserfc_key(raw: Any) -> Any:
    if isinstance(raw, bytes):
        return JoserfcOctKey.import_key(raw)
    return (JoserfcRSAKey if isinstance(raw, rsa.RSAPrivateKey) else JoserfcECKey).import_key(raw)


@pytest.mark.parametrize(("alg", "enc"), COMBINATIONS)
def test_jwcrypto_and_joserfc_decrypt_what_the_portal_encrypts(alg: str, enc: str) -> None:
    encrypting, _, raw = keys_for(alg, enc)
    token = jose.encrypt_compact(PLAINTEXT, key=encrypting, alg=alg, enc=enc)

    by_jwcrypto = jwcrypto_jwe.JWE(algs=[alg, enc])
    by_jwcrypto.deserialize(token, key=_jwcrypto_key(raw))
    by_joserfc = joserfc_jwe.decrypt_compact(token, _joserfc_key(raw), algorithms=[alg, enc])

    assert by_jwcrypto.payload == by_joserfc.plaintext == PLAINTEXT


@pytest.mark.parametrize(("alg", "enc"), COMBINATIONS)
def test_the_portal_decrypts_what_jwcrypto_and_joserfc_encrypt(alg: str, enc: str) -> None:
    _, decrypting, raw = keys_for(alg, enc)
    header = {"alg": alg, "enc": enc}
    by_jwcrypto = jwcrypto_jwe.JWE(PLAINTEXT, protected=json.dumps(header), algs=[alg, enc])
    by_jwcrypto.add_recipient(_jwcrypto_key(raw))
    by_joserfc = joserfc_jwe.encrypt_compact(header, PLAINTEXT, _joserfc_key(raw), algorithms=[alg, enc])

    for token in (by_jwcrypto.serialize(compact=True), by_joserfc):
        assert jose.decrypt_compact(token, keys=[decrypting])[1] == PLAINTEXT


# -- refusals, each with its twin ------------------------------------------------------------------------------


def refused(token: str, keys: list[jose.JweKey]) -> tuple[str, str]:
    with pytest.raises(jose.JoseError) as caught:
        jose.decrypt_compact(token, keys=keys)
    return caught.value.reason, str(caught.value)


def rsa_token(**header_changes: Any) -> str:
    token = jose.encrypt_compact(PLAINTEXT, key=keys_for("RSA-OAEP", "A128GCM")[0], alg="RSA-OAEP", enc="A128GCM")
    if not header_changes:
        return token
    header = {**segment(token, 0), **header_changes}
    parts = token.split(".")
    return ".".join([b64url(json.dumps(header).encode()), *parts[1:]])


def test_a_token_over_the_size_bound_is_refused_before_parsing() -> None:
    decrypting = keys_for("RSA-OAEP", "A128GCM")[1]
    assert jose.decrypt_compact(rsa_token(), keys=[decrypting])[1] == PLAINTEXT
    huge = "a" * (jose.MAX_JWE_BYTES + 1)
    assert refused(huge, [decrypting]) == ("size", f"The encrypted token is larger than {jose.MAX_JWE_BYTES} bytes.")


@pytest.mark.parametrize("part", [1, 2, 3, 4])
def test_an_altered_part_fails_with_one_message(part: int) -> None:
    decrypting = keys_for("RSA-OAEP", "A128CBC-HS256")[1]
    token = jose.encrypt_compact(
        PLAINTEXT, key=keys_for("RSA-OAEP", "A128CBC-HS256")[0], alg="RSA-OAEP", enc="A128CBC-HS256"
    )
    parts = token.split(".")
    raw = bytearray(unb64url(parts[part]))
    raw[0] ^= 1
    parts[part] = b64url(bytes(raw))
    assert jose.decrypt_compact(token, keys=[decrypting])[1] == PLAINTEXT
    assert refused(".".join(parts), [decrypting]) == ("decryption", DECRYPTION_FAILED)


def test_a_changed_protected_header_fails_authentication() -> None:
    decrypting = keys_for("RSA-OAEP", "A128GCM")[1]
    assert refused(rsa_token(kid="added"), [decrypting]) == (
        "decryption",
        "The token does not decrypt with the configured key.",
    )


def test_the_wrong_key_fails_with_the_same_message() -> None:
    other = jose.JweKey.from_private_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    assert refused(rsa_token(), [other]) == ("decryption", "The token does not decrypt with the configured key.")


def test_an_epk_off_the_curve_is_refused() -> None:
    encrypting, decrypting, _ = keys_for("ECDH-ES", "A128GCM")
    token = jose.encrypt_compact(PLAINTEXT, key=encrypting, alg="ECDH-ES", enc="A128GCM")
    assert jose.decrypt_compact(token, keys=[decrypting])[1] == PLAINTEXT
    header = segment(token, 0)
    header["epk"] = {**header["epk"], "y": header["epk"]["x"]}
    forged = ".".join([b64url(json.dumps(header).encode()), *token.split(".")[1:]])
    reason, message = refused(forged, [decrypting])
    assert (reason, message.startswith("The token header's 'epk' is not usable")) == ("header", True)


def test_an_epk_on_another_curve_is_refused() -> None:
    p384 = ec.generate_private_key(ec.SECP384R1())
    token = jose.encrypt_compact(PLAINTEXT, key=jose.JweKey.from_public_key(p384.public_key()), alg="ECDH-ES",
                                 enc="A128GCM")  # fmt: skip
    assert refused(token, [keys_for("ECDH-ES", "A128GCM")[1]]) == (
        "header",
        "The token header's 'epk' is not on the curve of the configured key.",
    )


@pytest.mark.parametrize(
    ("change", "reason", "message"),
    [
        ({"alg": "PBES2-HS256+A128KW"}, "algorithm", "The token names an unsupported key management algorithm."),
        ({"enc": "A128CBC"}, "algorithm", "The token names an unsupported content encryption."),
        ({"alg": "A128KW"}, "algorithm", "The key management algorithm A128KW is not allowed for the configured key."),
        ({"crit": ["exp"]}, "header", "The token header lists critical extensions ('crit'), none supported."),
        ({"zip": "DEF"}, "header", "Compressed tokens ('zip') are refused."),
    ],
)
def test_a_header_the_portal_does_not_accept_is_refused(change: dict[str, Any], reason: str, message: str) -> None:
    assert refused(rsa_token(**change), [keys_for("RSA-OAEP", "A128GCM")[1]]) == (reason, message)


def test_a_dir_secret_of_the_wrong_length_cannot_encrypt() -> None:
    key = jose.JweKey.from_secret(DIR_SECRETS["A128GCM"])
    assert jose.encrypt_compact(PLAINTEXT, key=key, alg="dir", enc="A128GCM")
    with pytest.raises(jose.JoseError, match="A 'dir' secret for A256GCM must be 32 bytes long"):
        jose.encrypt_compact(PLAINTEXT, key=key, alg="dir", enc="A256GCM")


def test_a_jwk_for_signatures_does_not_encrypt() -> None:
    jwk = {"kty": "oct", "k": b64url(SECRETS["A128KW"])}
    assert jose.JweKey.from_jwk(jwk).key_algorithms() == {"A128KW", "dir"}
    with pytest.raises(jose.JoseError, match="not meant for encryption"):
        jose.JweKey.from_jwk({**jwk, "use": "sig"})
