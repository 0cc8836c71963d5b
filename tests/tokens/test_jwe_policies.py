"""jwt-generate signs then encrypts (jwe-crypto or jwe-jwk, jwe-alg, jwe-enc, custom-kid-value-jwe), and
jwt-validate decrypts then verifies (jwe-crypto or jwe-jwk), as API Connect does; jwcrypto and joserfc read
and write the same nested tokens."""

from __future__ import annotations

import json
from typing import Any

import jwt as pyjwt
import pytest
from cryptography import x509
from joserfc import jwe as joserfc_jwe
from joserfc import jwt as joserfc_jwt
from joserfc.jwk import ECKey as JoserfcECKey
from joserfc.jwk import RSAKey as JoserfcRSAKey
from jwcrypto import jwe as jwcrypto_jwe
from jwcrypto import jwk as jwcrypto_jwk

from keyprofiles.models import KeyProfile
from tests.keyfixtures import CERT1_PEM, EC256_KEY_PEM, KEY1_PEM, KEY2_PEM
from tests.tokens.helpers import (
    CERT_OBJECT,
    EC_CERT_OBJECT,
    EC_KEY_OBJECT,
    HMAC_SECRET,
    KEY_OBJECT,
    NOW,
    SECRET_OBJECT,
    compile_policies,
    ec_jwk,
    ec_private,
    make_context,
    rsa_jwk,
    rsa_private,
    segment,
    thumbprint,
)
from tokens.context import Context
from tokens.errors import AssemblyError, PolicyConfigError
from tokens.runtime import CatalogCryptoResolver

pytestmark = pytest.mark.usefixtures("frozen")

CLAIMS = {"iss": "apic", "aud": "id1", "iat": NOW, "exp": NOW + 60}
CERT1_KID = thumbprint(rsa_jwk(rsa_private(), private=False))


def generate(**config: Any) -> dict[str, Any]:
    return {
        "jwt-generate": {
            "title": "g", "jwt": "my.token", "iss-claim": "request.headers.iss-claim", "jws-alg": "RS256",
            "jws-crypto": KEY_OBJECT, **config,
        }
    }  # fmt: skip


def validate(**config: Any) -> dict[str, Any]:
    return {"jwt-validate": {"title": "v", "jwt": "my.token", "jws-crypto": CERT_OBJECT, **config}}


def run(policies: list[dict[str, Any]], resolver: CatalogCryptoResolver, **variables: Any) -> Context:
    context = make_context({"iss-claim": "apic"})
    for name, value in variables.items():
        context.set(name.replace("_", "."), value)
    compile_policies(policies, resolver).run(context)
    return context


def failure(policies: list[dict[str, Any]], resolver: CatalogCryptoResolver, **variables: Any) -> str:
    with pytest.raises(AssemblyError) as caught:
        run(policies, resolver, **variables)
    return caught.value.message


ENCRYPT_TO_CERT1 = {"jwe-crypto": CERT_OBJECT, "jwe-alg": "RSA-OAEP-256", "jwe-enc": "A256GCM"}


def test_generate_signs_then_encrypts_to_the_crypto_objects_key(resolver: CatalogCryptoResolver) -> None:
    token = run([generate(**ENCRYPT_TO_CERT1)], resolver).get("my.token")

    header = segment(token, 0)
    assert (token.count("."), header["alg"], header["enc"], header["cty"], header["kid"]) == (
        4, "RSA-OAEP-256", "A256GCM", "JWT", CERT1_KID,
    )  # fmt: skip
    outer = jwcrypto_jwe.JWE()
    outer.deserialize(token, key=jwcrypto_jwk.JWK.from_pem(KEY1_PEM.encode()))
    public = x509.load_pem_x509_certificate(CERT1_PEM.encode()).public_key()
    assert pyjwt.decode(outer.payload, public, algorithms=["RS256"], options={"verify_aud": False})["iss"] == "apic"


def test_validate_decrypts_then_verifies(resolver: CatalogCryptoResolver) -> None:
    context = run([generate(**ENCRYPT_TO_CERT1), validate(**{"jwe-crypto": KEY_OBJECT})], resolver)
    assert context.get("decoded.claims")["iss"] == "apic"


def test_validate_without_a_jwe_key_refuses_an_encrypted_token(resolver: CatalogCryptoResolver) -> None:
    # Twin of the test above: no jwe-crypto on the validating side.
    assert failure([generate(**ENCRYPT_TO_CERT1), validate()], resolver) == (
        "JWT validation failed, because the JWT is encrypted (JWE) and no jwe-crypto or jwe-jwk is set to decrypt it"
    )


def test_validate_with_a_jwe_key_still_accepts_a_signed_only_token(resolver: CatalogCryptoResolver) -> None:
    context = run([generate(), validate(**{"jwe-crypto": KEY_OBJECT})], resolver)
    assert context.get("decoded.claims")["iss"] == "apic"


def test_a_token_encrypted_to_another_key_does_not_decrypt(
    resolver: CatalogCryptoResolver, ec_keyprofile: KeyProfile
) -> None:
    to_ec = {"jwe-crypto": EC_CERT_OBJECT, "jwe-alg": "ECDH-ES+A128KW", "jwe-enc": "A128GCM"}
    assert run([generate(**to_ec), validate(**{"jwe-crypto": EC_KEY_OBJECT})], resolver).get("decoded.claims")
    assert failure([generate(**to_ec), validate(**{"jwe-crypto": KEY_OBJECT})], resolver) == (
        "JWT validation failed, because the JWT's algorithm is not allowed: "
        "The key management algorithm ECDH-ES+A128KW is not allowed for the configured key."
    )


def test_an_encrypted_token_whose_content_is_not_signed_is_refused(resolver: CatalogCryptoResolver) -> None:
    unsigned = jwcrypto_jwe.JWE(json.dumps(CLAIMS), protected=json.dumps({"alg": "RSA-OAEP", "enc": "A128GCM"}))
    unsigned.add_recipient(jwcrypto_jwk.JWK.from_pem(CERT1_PEM.encode()))
    signed = pyjwt.encode(CLAIMS, KEY1_PEM, algorithm="RS256")
    nested = jwcrypto_jwe.JWE(signed, protected=json.dumps({"alg": "RSA-OAEP", "enc": "A128GCM", "cty": "JWT"}))
    nested.add_recipient(jwcrypto_jwk.JWK.from_pem(CERT1_PEM.encode()))

    policies = [validate(**{"jwe-crypto": KEY_OBJECT})]
    assert run(policies, resolver, my_token=nested.serialize(compact=True)).get("decoded.claims") == CLAIMS
    assert failure(policies, resolver, my_token=unsigned.serialize(compact=True)) == (
        "JWT validation failed, because the JWT is malformed: The decrypted token is not a signed JWT (a compact JWS)."
    )


def test_joserfc_nested_tokens_validate(resolver: CatalogCryptoResolver, ec_keyprofile: KeyProfile) -> None:
    signed = joserfc_jwt.encode({"alg": "RS256"}, CLAIMS, JoserfcRSAKey.import_key(KEY1_PEM))
    ec_public = JoserfcECKey.import_key(ec_jwk(ec_private(), private=False))
    token = joserfc_jwe.encrypt_compact({"alg": "ECDH-ES", "enc": "A256GCM", "cty": "JWT"}, signed, ec_public)

    context = run([validate(**{"jwe-crypto": EC_KEY_OBJECT})], resolver, my_token=token)

    assert context.get("decoded.claims") == CLAIMS


def test_a_secret_keystore_wraps_with_a256kw_and_a_custom_kid(
    resolver: CatalogCryptoResolver, hmac_keyprofile: KeyProfile
) -> None:
    encrypt = {
        "jwe-crypto": SECRET_OBJECT,
        "jwe-alg": "A256KW",
        "jwe-enc": "A128CBC-HS256",
        "custom-kid-value-jwe": "k7",
    }
    context = run([generate(**encrypt), validate(**{"jwe-crypto": SECRET_OBJECT})], resolver)

    assert segment(context.get("my.token"), 0)["kid"] == "k7"
    outer = jwcrypto_jwe.JWE()
    outer.deserialize(context.get("my.token"), key=jwcrypto_jwk.JWK(kty="oct", k=_b64(HMAC_SECRET)))
    assert context.get("decoded.claims")["iss"] == "apic"


def _b64(data: bytes) -> str:
    return jwcrypto_jwk.base64url_encode(data)


def test_jwe_jwk_sets_encrypt_under_their_own_kid_and_decrypt_by_it(resolver: CatalogCryptoResolver) -> None:
    public_set = {
        "keys": [
            {**rsa_jwk(rsa_private(KEY2_PEM), private=False), "kid": "partner-2", "alg": "RSA-OAEP-256"},
            {**ec_jwk(ec_private(EC256_KEY_PEM), private=False), "kid": "partner-ec"},
        ]
    }
    private_set = {
        "keys": [
            {**rsa_jwk(rsa_private(), private=True), "kid": "other"},
            {**rsa_jwk(rsa_private(KEY2_PEM), private=True), "kid": "partner-2"},
        ]
    }
    encrypt = {"jwe-jwk": "my.partner", "jwe-alg": "RSA-OAEP-256", "jwe-enc": "A128GCM"}

    context = run([generate(**encrypt), validate(**{"jwe-jwk": "my.private"})], resolver,
                  my_partner=public_set, my_private=json.dumps(private_set))  # fmt: skip

    assert segment(context.get("my.token"), 0)["kid"] == "partner-2"
    assert context.get("decoded.claims")["iss"] == "apic"


def test_a_jwe_jwk_held_as_bytes_is_read_as_text_and_junk_bytes_fail_by_name(resolver: CatalogCryptoResolver) -> None:
    """message.body holds the request's bytes: a JWK there encrypts as the same JWK as text does (it once
    failed with a TypeError, a 500), and bytes that are no JWK fail naming the variable."""
    public = {**rsa_jwk(rsa_private(KEY2_PEM), private=False), "kid": "partner-2"}
    encrypt = {"jwe-jwk": "my.partner", "jwe-alg": "RSA-OAEP-256", "jwe-enc": "A128GCM"}

    context = run([generate(**encrypt)], resolver, my_partner=json.dumps(public).encode())

    assert segment(context.get("my.token"), 0)["kid"] == "partner-2"
    assert "the JWK in 'my.partner' is not usable" in failure([generate(**encrypt)], resolver, my_partner=b"\xff{")


@pytest.mark.parametrize(
    ("good", "bad", "prop", "problem"),
    [
        ({}, {"jwe-alg": "RSA-OAEP"}, "jwe-alg", "encrypts only with a key: set jwe-crypto or jwe-jwk"),
        (ENCRYPT_TO_CERT1, {**ENCRYPT_TO_CERT1, "jwe-alg": "RSA1_5"}, "jwe-alg", "'RSA1_5' is not supported"),
        (ENCRYPT_TO_CERT1, {**ENCRYPT_TO_CERT1, "jwe-alg": "A128KW"}, "jwe-alg", "A128KW does not fit the RSA key"),
        (ENCRYPT_TO_CERT1, {**ENCRYPT_TO_CERT1, "jwe-enc": "A128CBC"}, "jwe-enc", "'A128CBC' is not supported"),
        (ENCRYPT_TO_CERT1, {**ENCRYPT_TO_CERT1, "jwe-crypto": "nope"}, "jwe-crypto", "no crypto object 'nope'"),
    ],
)
def test_a_bad_jwe_property_of_generate_is_refused_at_publish(
    good: dict[str, Any], bad: dict[str, Any], prop: str, problem: str, resolver: CatalogCryptoResolver
) -> None:
    compile_policies([generate(**good)], resolver)
    with pytest.raises(PolicyConfigError) as caught:
        compile_policies([generate(**bad)], resolver)
    assert f"property '{prop}': {problem}" in str(caught.value)


def test_validate_refuses_a_certificate_to_decrypt_with(resolver: CatalogCryptoResolver) -> None:
    compile_policies([validate(**{"jwe-crypto": KEY_OBJECT})], resolver)
    with pytest.raises(PolicyConfigError, match=r"property 'jwe-crypto': '.*-ca-0' is a certificate; decrypting"):
        compile_policies([validate(**{"jwe-crypto": CERT_OBJECT})], resolver)
