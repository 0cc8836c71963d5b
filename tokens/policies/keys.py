"""How jwt-generate and jwt-validate read keys beyond a crypto object: a JWK or JWK set held in a variable
(``jws-jwk``, ``jwe-jwk``), the encryption step of a nested JWT (APIC's ``jwe-*`` properties), and how the
console names a policy's key."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

from portal.untrusted import json_loads
from tokens import jose
from tokens.context import Context
from tokens.errors import AssemblyError
from tokens.policies.base import RUNTIME_ERROR, CryptoResolver, EncryptionMaterial, Properties, lookup_message

T = TypeVar("T")


def key_summary(config: dict[str, Any]) -> str:
    """The key a jws policy uses, for the console: its crypto object, or its JWK variable."""
    jwk = config.get("jws-jwk")
    return str(config.get("jws-crypto") or (f"JWK in {jwk}" if jwk else "no key yet"))


def _jwk_text(context: Context, variable: str, policy: str) -> str:
    """The JSON text of the JWK or JWK set a variable holds (an object, its JSON text, or the request's
    bytes). Raises AssemblyError naming the variable when it is not set."""
    value = context.get(variable)
    if value is None:
        raise AssemblyError(RUNTIME_ERROR, f"{policy}: the JWK variable '{variable}' is not set.", status=500)
    if isinstance(value, bytes):
        # message.body holds the request's bytes; bad UTF-8 becomes U+FFFD and fails as JSON, by name.
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def jwk_unusable(policy: str, variable: str, error: jose.JoseError) -> AssemblyError:
    """The failure for a JWK (set) in ``variable`` that cannot do what ``policy`` asks."""
    return AssemblyError(RUNTIME_ERROR, f"{policy}: the JWK in '{variable}' is not usable: {error}", status=500)


@lru_cache(maxsize=256)
def _key_from_jwk_text(text: str) -> jose.JwkSet:
    # Parsed JWKs and JWK sets by their text, bounded: a warm request parses no key and scans no set.
    return jose.JwkSet.from_json(text)


def _from_variable(parse: Callable[[str], T], context: Context, variable: str, policy: str) -> T:
    try:
        return parse(_jwk_text(context, variable, policy))
    except jose.JoseError as e:
        raise jwk_unusable(policy, variable, e) from e


def jwk_from_variable(context: Context, variable: str, policy: str) -> jose.JwkSet:
    """The signing or verifying JWK (set) a variable holds. Raises AssemblyError naming it."""
    return _from_variable(_key_from_jwk_text, context, variable, policy)


@lru_cache(maxsize=256)
def _jwe_keys_from_jwk_text(text: str) -> jose.JweKeySet:
    return jose.JweKeySet.from_json(text)


def _jwe_jwk_from_variable(context: Context, variable: str, policy: str) -> jose.JweKeySet:
    """The encrypting or decrypting JWK (set) a variable holds. Raises AssemblyError naming it."""
    return _from_variable(_jwe_keys_from_jwk_text, context, variable, policy)


def _jwe_key_source(props: Properties) -> tuple[str | None, str | None]:
    """``jwe-crypto`` or ``jwe-jwk`` (the crypto object wins, as for jws); both None when not encrypting."""
    crypto, jwk = props.string("jwe-crypto"), props.variable("jwe-jwk")
    return (crypto, None) if crypto else (None, jwk)


@dataclass(frozen=True)
class Encryption:
    """jwt-generate's sign-then-encrypt step (APIC's jwe-* properties): a nested JWT (RFC 7519 section 5.2)."""

    alg: str
    enc: str
    material: EncryptionMaterial | None
    jwk_variable: str | None
    custom_kid: str | None

    @classmethod
    def configured(cls, props: Properties, resolver: CryptoResolver) -> Encryption | None:
        crypto, jwk = _jwe_key_source(props)
        if not crypto and not jwk:
            for prop in ("jwe-alg", "jwe-enc", "custom-kid-value-jwe"):
                if props.string(prop):
                    props.fail(prop, "encrypts only with a key: set jwe-crypto or jwe-jwk")
            return None
        alg, enc = props.string("jwe-alg"), props.string("jwe-enc")
        if alg not in jose.JWE_ALGORITHMS:
            props.fail("jwe-alg", f"{alg!r} is not supported; choose one of {', '.join(jose.JWE_ALGORITHMS)}")
        if enc not in jose.JWE_ENCRYPTIONS:
            props.fail("jwe-enc", f"{enc!r} is not supported; choose one of {', '.join(jose.JWE_ENCRYPTIONS)}")
        material = None
        if crypto:
            try:
                material = resolver.encrypting(crypto)
            except LookupError as e:
                props.fail("jwe-crypto", lookup_message(e))
            if alg not in material.key.key_algorithms():
                allowed = ", ".join(sorted(material.key.key_algorithms()))
                props.fail(
                    "jwe-alg", f"{alg} does not fit the {material.key.kind} key of '{crypto}' (allowed: {allowed})"
                )
        return cls(alg, enc, material, jwk, props.string("custom-kid-value-jwe"))

    def encrypt(self, context: Context, signed: str, policy: str) -> str:
        """The signed token encrypted. Raises AssemblyError (500) when the key cannot encrypt."""
        try:
            if self.material is not None:
                key, kid = self.material.key, self.material.kid
            else:
                assert self.jwk_variable is not None
                key_set = _jwe_jwk_from_variable(context, self.jwk_variable, policy)
                key, own_kid = key_set.encryption_key(self.alg)
                kid = own_kid or ""
            return jose.encrypt_compact(
                signed.encode("ascii"), key=key, alg=self.alg, enc=self.enc, kid=self.custom_kid or kid or None,
                cty="JWT",
            )  # fmt: skip
        except jose.JoseError as e:
            raise AssemblyError(RUNTIME_ERROR, f"{policy}: the token cannot be encrypted: {e}", status=500) from e


@dataclass(frozen=True)
class Decryption:
    """jwt-validate's decrypt-then-verify step: the keys a JWE is decrypted with."""

    keys: tuple[jose.JweKey, ...]
    jwk_variable: str | None

    @classmethod
    def configured(cls, props: Properties, resolver: CryptoResolver) -> Decryption | None:
        crypto, jwk = _jwe_key_source(props)
        if not crypto and not jwk:
            return None
        keys: tuple[jose.JweKey, ...] = ()
        if crypto:
            try:
                keys = resolver.decrypting(crypto).keys
            except LookupError as e:
                props.fail("jwe-crypto", lookup_message(e))
        return cls(keys, jwk)

    def decrypt(self, context: Context, token: str, policy: str) -> str:
        """The signed token inside an encrypted one. Raises JoseError for a token that does not decrypt."""
        keys: Sequence[jose.JweKey] = self.keys
        if self.jwk_variable is not None:
            key_set = _jwe_jwk_from_variable(context, self.jwk_variable, policy)
            keys = key_set.decryption_keys(_unverified_kid(token))
        _, plaintext = jose.decrypt_compact(token, keys=keys)
        try:
            inner = plaintext.decode("ascii")
        except UnicodeDecodeError:
            inner = ""
        if inner.count(".") != 2:
            raise jose.JoseError("malformed", "The decrypted token is not a signed JWT (a compact JWS).")
        return inner


def _unverified_kid(token: str) -> object:
    """The kid of a JWE header, to choose keys to try (never trusted otherwise); None when unreadable."""
    if len(token) > jose.MAX_JWE_BYTES:
        return None  # decrypt_compact refuses it by its size, before anything else
    try:
        header = json_loads(base64.urlsafe_b64decode(token.split(".", 1)[0] + "=="))
    except ValueError:  # binascii.Error and UntrustedTextError are ValueErrors
        return None
    return header.get("kid") if isinstance(header, dict) else None
