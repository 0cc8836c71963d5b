"""jws-jwk holding a JWK or a JWK set (DESIGN.md section 3a): key choice by the token's kid and alg, the JWK's
own kid in the header of the tokens it signs, and jws-crypto winning over jws-jwk as in API Connect."""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.keyfixtures import RSA1024_KEY_PEM
from tests.tokens.helpers import (
    KEY_OBJECT,
    NOW,
    attacker_key,
    compact,
    compile_policies,
    ec_jwk,
    ec_private,
    make_context,
    oct_jwk,
    rs256,
    rsa_jwk,
    rsa_private,
    segment,
    thumbprint,
)
from tokens import jose
from tokens.context import Context
from tokens.errors import AssemblyError
from tokens.policies import keys as policy_keys
from tokens.runtime import CatalogCryptoResolver

CLAIMS = {"iss": "apic", "exp": NOW + 60}
KEY1 = rsa_private()
KEY2 = attacker_key()


def with_kid(jwk: dict[str, str], kid: str) -> dict[str, str]:
    return {**jwk, "kid": kid}


def public_set(*keys: dict[str, str]) -> dict[str, Any]:
    return {"keys": list(keys)}


def token(key: rsa.RSAPrivateKey, kid: str | None, claims: dict[str, Any] = CLAIMS) -> str:
    header = {"alg": "RS256", "typ": "JWT"} if kid is None else {"alg": "RS256", "typ": "JWT", "kid": kid}
    return compact(header, claims, rs256(key))


def refusal(keys: jose.JwkSet, text: str) -> str:
    with pytest.raises(jose.JoseError) as caught:
        jose.verify_compact(text, keys=keys)
    assert caught.value.reason == "key"
    return str(caught.value)


TWO_KEYS = jose.JwkSet.from_json(
    public_set(with_kid(rsa_jwk(KEY1, private=False), "one"), with_kid(rsa_jwk(KEY2, private=False), "two"))
)


# -- choosing a key from a set ----------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "kid"), [(KEY1, "one"), (KEY2, "two")])
def test_a_set_verifies_with_the_key_the_token_kid_names(key: rsa.RSAPrivateKey, kid: str) -> None:
    assert jose.verify_compact(token(key, kid), keys=TWO_KEYS)[1] == CLAIMS


def test_a_kid_no_key_of_the_set_carries_is_refused_by_name() -> None:
    # Twin of the test above: the same token naming a kid the set lacks.
    assert refusal(TWO_KEYS, token(KEY1, "three")) == (
        "No key in the JWK set fits a token with kid 'three' and algorithm RS256."
    )


def test_a_kid_that_names_the_other_key_fails_the_signature_not_the_choice() -> None:
    with pytest.raises(jose.JoseError) as caught:
        jose.verify_compact(token(KEY1, "two"), keys=TWO_KEYS)
    assert caught.value.reason == "signature"


def test_a_token_without_kid_is_refused_when_several_keys_fit() -> None:
    assert refusal(TWO_KEYS, token(KEY1, None)) == (
        "2 keys in the JWK set fit a token without kid and algorithm RS256; give each key its own kid."
    )


def test_a_token_without_kid_verifies_when_the_algorithm_leaves_one_key() -> None:
    # Twin of the test above: an EC key and an RSA key, so RS256 leaves one.
    keys = jose.JwkSet.from_json(public_set(ec_jwk(ec_private(), private=False), rsa_jwk(KEY1, private=False)))
    assert jose.verify_compact(token(KEY1, None), keys=keys)[1] == CLAIMS


def test_the_jwk_alg_member_takes_part_in_the_choice() -> None:
    keys = jose.JwkSet.from_json(
        public_set({**rsa_jwk(KEY1, private=False), "alg": "RS256"}, {**rsa_jwk(KEY2, private=False), "alg": "PS256"})
    )
    assert jose.verify_compact(token(KEY1, None), keys=keys)[1] == CLAIMS


def test_a_token_kid_of_arbitrary_text_is_not_echoed() -> None:
    assert "its kid" in refusal(TWO_KEYS, token(KEY1, "<script>alert(1)</script>"))


def test_a_single_jwk_fits_any_kid() -> None:
    keys = jose.JwkSet.from_json(with_kid(rsa_jwk(KEY1, private=False), "one"))
    assert jose.verify_compact(token(KEY1, "another"), keys=keys)[1] == CLAIMS


def test_members_a_set_cannot_use_are_left_out() -> None:
    small = rsa_private(RSA1024_KEY_PEM)
    keys = jose.JwkSet.from_json(
        public_set(
            {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "ed"},
            with_kid(rsa_jwk(KEY1, private=False), "enc") | {"use": "enc"},
            with_kid(rsa_jwk(small, private=False), "small"),
            with_kid(rsa_jwk(KEY1, private=False), "one"),
        )
    )
    assert keys.size == 1
    assert jose.verify_compact(token(KEY1, "one"), keys=keys)[1] == CLAIMS


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"keys": []}, "The JWK set's 'keys' must be a non-empty list of JWKs."),
        ({"keys": ["x"]}, "The JWK set's key 0 is not a JSON object."),
        ({"keys": [{**rsa_jwk(KEY1, private=False), "kid": 7}]}, "The 'kid' of the JWK set's key 0 must be a string."),
        ({"keys": [{"kty": "OKP"}]}, "The JWK set has no key usable for signatures (key 0: The JWK 'kty' must be"),
        ({**rsa_jwk(KEY1, private=False), "kid": ["a"]}, "The JWK 'kid' must be a string."),
        ('{"keys": [', "The JWK is not JSON without duplicate members."),
    ],
)
def test_an_unusable_jwk_set_is_refused_naming_the_problem(value: Any, message: str) -> None:
    jose.JwkSet.from_json({"keys": [rsa_jwk(KEY1, private=False)]})
    with pytest.raises(jose.JoseError) as caught:
        jose.JwkSet.from_json(value)
    assert str(caught.value).startswith(message)


def test_a_set_as_json_text_chooses_like_the_object() -> None:
    text = json.dumps(public_set(with_kid(rsa_jwk(KEY1, private=False), "one"), rsa_jwk(KEY2, private=False)))
    assert jose.verify_compact(token(KEY1, "one"), keys=jose.JwkSet.from_json(text))[1] == CLAIMS


# -- signing with a JWK or a set -----------------------------------------------------------------------------


def test_a_jwk_signs_under_its_own_kid_and_without_one_under_its_thumbprint() -> None:
    named = jose.JwkSet.from_json(with_kid(rsa_jwk(KEY1, private=True), "apic-key"))
    unnamed = jose.JwkSet.from_json(rsa_jwk(KEY1, private=True))
    assert named.signing_key("RS256")[1] == "apic-key"
    assert unnamed.signing_key("RS256")[1] == thumbprint(rsa_jwk(KEY1, private=False))


def test_a_set_signs_with_its_one_private_key_for_the_algorithm() -> None:
    keys = jose.JwkSet.from_json(
        public_set(with_kid(rsa_jwk(KEY2, private=False), "public"), with_kid(ec_jwk(ec_private(), private=True), "ec"))
    )
    key, kid = keys.signing_key("ES256")
    assert (kid, key.kind) == ("ec", "EC")
    with pytest.raises(jose.JoseError, match="cannot sign RS256"):
        keys.signing_key("RS256")


def test_a_set_with_two_private_keys_for_one_algorithm_does_not_guess() -> None:
    keys = jose.JwkSet.from_json(
        public_set(with_kid(rsa_jwk(KEY1, private=True), "a"), with_kid(rsa_jwk(KEY2, private=True), "b"))
    )
    with pytest.raises(jose.JoseError, match="2 keys in the JWK set can sign RS256"):
        keys.signing_key("RS256")


# -- the policies ------------------------------------------------------------------------------------------


def run(policies: list[dict[str, Any]], resolver: CatalogCryptoResolver, **variables: Any) -> Context:
    context = make_context({"iss-claim": "apic"})
    for name, value in variables.items():
        context.set(name.replace("_", "."), value)
    compile_policies(policies, resolver).run(context)
    return context


def generate(**config: Any) -> dict[str, Any]:
    return {"jwt-generate": {"title": "g", "jws-alg": "RS256", "iss-claim": "request.headers.iss-claim", **config}}


def validate(**config: Any) -> dict[str, Any]:
    return {"jwt-validate": {"title": "v", "jwt": "generated.jwt", **config}}


def test_generate_puts_the_jwks_own_kid_in_the_header_and_validate_finds_it_in_a_set(
    resolver: CatalogCryptoResolver,
) -> None:
    signing = public_set(with_kid(rsa_jwk(KEY1, private=True), "apic-1"))
    verifying = public_set(
        with_kid(rsa_jwk(KEY2, private=False), "apic-2"), with_kid(rsa_jwk(KEY1, private=False), "apic-1")
    )

    context = run(
        [generate(**{"jws-jwk": "my.signing"}), validate(**{"jws-jwk": "my.verifying"})],
        resolver,
        my_signing=json.dumps(signing),
        my_verifying=verifying,
    )

    assert segment(context.get("generated.jwt"), 0)["kid"] == "apic-1"
    assert context.get("decoded.claims")["iss"] == "apic"
    # The same set, read by PyJWT, finds the same key by the same kid.
    assert jwt.decode(context.get("generated.jwt"), jwt.PyJWKSet.from_dict(verifying)["apic-1"], algorithms=["RS256"])


def test_validate_with_a_set_lacking_the_tokens_kid_fails_with_its_message(resolver: CatalogCryptoResolver) -> None:
    signing = with_kid(rsa_jwk(KEY1, private=True), "apic-1")
    verifying = public_set(with_kid(rsa_jwk(KEY1, private=False), "apic-9"))

    with pytest.raises(AssemblyError) as caught:
        run([generate(**{"jws-jwk": "my.signing"}), validate(**{"jws-jwk": "my.verifying"})], resolver,
            my_signing=signing, my_verifying=verifying)  # fmt: skip

    assert caught.value.message == (
        "JWT validation failed, because no usable key verifies the JWT: "
        "No key in the JWK set fits a token with kid 'apic-1' and algorithm RS256."
    )


def test_jws_crypto_wins_over_jws_jwk_as_in_api_connect(resolver: CatalogCryptoResolver) -> None:
    context = run([generate(**{"jws-crypto": KEY_OBJECT, "jws-jwk": "my.unset"})], resolver)

    kid = segment(context.get("generated.jwt"), 0)["kid"]
    assert kid == thumbprint(rsa_jwk(KEY1, private=False))


def test_jws_jwk_alone_reads_its_variable(resolver: CatalogCryptoResolver) -> None:
    # Twin of the test above: without jws-crypto, the unset JWK variable is the error.
    with pytest.raises(AssemblyError, match=r"the JWK variable 'my\.unset' is not set"):
        run([generate(**{"jws-jwk": "my.unset"})], resolver)


def test_a_warm_policy_parses_a_jwk_set_once(resolver: CatalogCryptoResolver, monkeypatch: pytest.MonkeyPatch) -> None:
    policy_keys._key_from_jwk_text.cache_clear()
    parsed: list[str] = []
    original = jose.JwkSet.from_json

    def counting(value: dict[str, Any] | str) -> jose.JwkSet:
        parsed.append("x")
        return original(value)

    monkeypatch.setattr(jose.JwkSet, "from_json", staticmethod(counting))
    verifying = public_set(with_kid(rsa_jwk(KEY2, private=False), "b"), with_kid(rsa_jwk(KEY1, private=False), "a"))
    compiled = compile_policies([validate(**{"jws-jwk": "my.keys"})], resolver)
    for _ in range(3):
        context = make_context()
        context.set("generated.jwt", token(KEY1, "a"))
        context.set("my.keys", verifying)
        compiled.run(context)
    assert len(parsed) == 1


def test_ec_keys_in_a_set_are_chosen_by_curve_algorithm() -> None:
    p384 = ec.generate_private_key(ec.SECP384R1())
    keys = jose.JwkSet.from_json(public_set(ec_jwk(ec_private(), private=False), oct_jwk()))
    signer = jose.JwsKey.from_private_key(p384)
    signed = jose.sign_compact(claims=CLAIMS, key=signer, alg="ES384", kid=None)
    with pytest.raises(jose.JoseError) as caught:
        jose.verify_compact(signed, keys=keys)
    assert caught.value.reason == "algorithm"


def test_an_embedded_jwk_header_never_supplies_the_key_from_a_set() -> None:
    """CVE-2018-0114 style: the attacker signs with their own key and embeds its public JWK, naming a kid of
    the set. The set's key is used, so the signature fails; the twin, signed by the set's key, passes."""
    attacker_public = with_kid(rsa_jwk(KEY2, private=False), "one")
    header = {"alg": "RS256", "typ": "JWT", "kid": "one", "jwk": attacker_public}
    keys = jose.JwkSet.from_json(public_set(with_kid(rsa_jwk(KEY1, private=False), "one")))

    assert jose.verify_compact(compact(header, CLAIMS, rs256(KEY1)), keys=keys)[1] == CLAIMS
    with pytest.raises(jose.JoseError) as caught:
        jose.verify_compact(compact(header, CLAIMS, rs256(KEY2)), keys=keys)
    assert caught.value.reason == "signature"
