"""jwt-generate: sign a token with a crypto object or a JWK (DESIGN.md section 3, APIC property names)."""

from __future__ import annotations

import os
import time
from typing import Any

from portal.untrusted import UntrustedTextError, json_loads
from tokens import jose
from tokens.context import Context
from tokens.errors import AssemblyError
from tokens.policies.base import (
    RUNTIME_ERROR,
    BuildPolicies,
    CryptoResolver,
    Policy,
    PolicyKind,
    Properties,
    Property,
    SigningMaterial,
    lookup_message,
)
from tokens.policies.keys import Encryption, jwk_from_variable, jwk_unusable, key_summary

KIND = "jwt-generate"
REGISTERED_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "nbf", "iat", "jti"})
MAX_VALIDITY_SECONDS = 31622400
DEFAULT_VALIDITY_SECONDS = 3600
# The claims a token takes from context variables, and the property naming each variable.
CLAIM_PROPERTIES = (("iss", "iss-claim"), ("sub", "sub-claim"), ("aud", "aud-claim"))

PROPERTIES: dict[str, Property] = {
    "jwt": Property(starts_new=True, new_value=""),  # empty: the Authorization response header
    "iss-claim": Property(),
    "sub-claim": Property(),
    "aud-claim": Property(),
    "exp-claim": Property(DEFAULT_VALIDITY_SECONDS, starts_new=True, new_value=DEFAULT_VALIDITY_SECONDS),
    "jti-claim": Property(False, starts_new=True, new_value=False),
    "private-claims": Property(),
    "jws-alg": Property(starts_new=True, new_value="RS256"),
    "jws-crypto": Property(),
    "jws-jwk": Property(),
    "custom-kid-value-jws": Property(),
    "jwe-crypto": Property(),
    "jwe-jwk": Property(),
    "jwe-alg": Property(),
    "jwe-enc": Property(),
    "custom-kid-value-jwe": Property(),
}


class JwtGenerate(Policy):
    kind = KIND

    def __init__(self, title: str, config: dict[str, Any], resolver: CryptoResolver) -> None:
        super().__init__(title)
        props = Properties(self.kind, title, config, PROPERTIES)
        self.output = props.variable("jwt")
        self.claim_variables = [
            (claim, variable) for claim, prop in CLAIM_PROPERTIES if (variable := props.variable(prop))
        ]
        self.validity = props.integer("exp-claim", 1, MAX_VALIDITY_SECONDS)
        self.jti = props.boolean("jti-claim")
        self.private_claims = props.variable("private-claims")
        self.alg = props.algorithm("jws-alg")
        crypto, self.jwk_variable = props.key_source()
        self.custom_kid = props.string("custom-kid-value-jws")
        self.encryption = Encryption.configured(props, resolver)
        # With a crypto object the key, algorithm and header are fixed: checked and encoded once, here.
        self.signer: jose.CompactSigner | None = None
        if crypto:
            material: SigningMaterial
            try:
                material = resolver.signing(crypto)
            except LookupError as e:
                props.fail("jws-crypto", lookup_message(e))
            if self.alg not in material.key.allowed_algorithms():
                props.fail(
                    "jws-alg",
                    f"{self.alg} does not fit the {material.key.kind} key of '{crypto}' "
                    f"(allowed: {', '.join(sorted(material.key.allowed_algorithms()))})",
                )
            try:
                resolver.signing_algorithm_use(crypto, self.alg)
            except LookupError as e:
                props.fail("jws-alg", lookup_message(e))
            try:
                self.signer = jose.CompactSigner(key=material.key, alg=self.alg, kid=self.custom_kid or material.kid)
            except jose.JoseError as e:
                props.fail("jws-crypto", f"'{crypto}' cannot sign {self.alg} ({e})")

    def _claim(self, context: Context, claim: str, variable: str) -> Any:
        value = context.get(variable)
        if value is None or value == "" or value == []:
            state = "is not set" if value is None else "is empty"
            raise AssemblyError(
                RUNTIME_ERROR,
                f"jwt-generate '{self.title}': the {claim} claim variable '{variable}' {state}.",
                status=400,
                reason="Bad Request",
            )
        if claim == "aud":
            if isinstance(value, list):
                return value if len(value) != 1 else value[0]
            parts = [part.strip() for part in str(value).split(",") if part.strip()]
            if not parts:
                raise AssemblyError(
                    RUNTIME_ERROR,
                    f"jwt-generate '{self.title}': the aud claim variable '{variable}' holds no audience.",
                    status=400,
                    reason="Bad Request",
                )
            return parts[0] if len(parts) == 1 else parts
        # Carried verbatim: a header that looks like JSON stays a string.
        return value if isinstance(value, str) else str(value)

    def run(self, context: Context) -> None:
        """Mint the token and put it in ``generated.jwt`` and the ``jwt`` variable (or the Authorization header);
        the call's recorder counts the token, or the failure. Raises AssemblyError (a 400 for what the request
        supplied, a 500 for a key that cannot sign)."""
        try:
            token = self._token(context)
        except AssemblyError:
            context.recorder.minted(False)
            raise
        context.recorder.minted(True)
        context.set("generated.jwt", token)
        if self.output:
            context.set(self.output, token)
        else:
            context.set("message.headers.Authorization", f"Bearer {token}")

    def _token(self, context: Context) -> str:
        claims: dict[str, Any] = {}
        if self.private_claims:
            claims.update(self._private_claims(context))
        for claim, variable in self.claim_variables:
            claims[claim] = self._claim(context, claim, variable)
        now = int(time.time())
        claims["iat"] = now
        claims["exp"] = now + self.validity
        if self.jti:
            claims["jti"] = _uuid4()
        signer = self.signer
        try:
            if signer is None:
                assert self.jwk_variable is not None
                key, kid = self._jwk_signing_key(context, self.jwk_variable)
                signer = jose.CompactSigner(key=key, alg=self.alg, kid=self.custom_kid or kid)
            token = signer.sign(claims)
        except jose.JoseError as e:
            # Claims too large or not JSON come from the request (a 400); a key that cannot sign is the API's.
            if e.reason in ("size", "malformed"):
                raise AssemblyError(
                    RUNTIME_ERROR, f"jwt-generate '{self.title}': {e}", status=400, reason="Bad Request"
                ) from e
            raise AssemblyError(RUNTIME_ERROR, f"jwt-generate '{self.title}': {e}", status=500) from e
        if self.encryption is not None:
            token = self.encryption.encrypt(context, token, f"jwt-generate '{self.title}'")
        return token

    def _jwk_signing_key(self, context: Context, variable: str) -> tuple[jose.JwsKey, str]:
        """The key of the JWK (set) in ``variable`` that signs ``jws-alg``, and its own kid for the header."""
        where = f"jwt-generate '{self.title}'"
        try:
            return jwk_from_variable(context, variable, where).signing_key(self.alg)
        except jose.JoseError as e:
            raise jwk_unusable(where, variable, e) from e

    def _private_claims(self, context: Context) -> dict[str, Any]:
        assert self.private_claims is not None
        value = context.get(self.private_claims)
        problem = ""
        if isinstance(value, str | bytes):
            try:
                value = json_loads(value)
            except UntrustedTextError as e:
                value, problem = None, f" ({e})"
        if not isinstance(value, dict):
            raise AssemblyError(
                RUNTIME_ERROR,
                f"jwt-generate '{self.title}': the private claims variable '{self.private_claims}' must hold "
                f"a JSON object{problem}.",
                status=400,
                reason="Bad Request",
            )
        clash = sorted(REGISTERED_CLAIMS & set(value))
        if clash:
            raise AssemblyError(
                RUNTIME_ERROR,
                f"jwt-generate '{self.title}': private claims may not set registered claims ({', '.join(clash)}).",
                status=400,
                reason="Bad Request",
            )
        return value


def _uuid4() -> str:
    """A random UUID (RFC 9562 section 5.4) as text, as ``str(uuid.uuid4())`` writes it, without building a
    ``uuid.UUID`` (whose checks cost more than the random bytes)."""
    octets = bytearray(os.urandom(16))
    octets[6] = (octets[6] & 0x0F) | 0x40  # version 4
    octets[8] = (octets[8] & 0x3F) | 0x80  # variant 10
    text = octets.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


class JwtGenerateKind(PolicyKind):
    def summary(self, config: dict[str, Any]) -> str:
        target = config.get("jwt") or "Authorization header"
        return f"{config.get('jws-alg', '?')} with {key_summary(config)}; token to {target}"

    def claim_variables(self, config: dict[str, Any]) -> tuple[tuple[str, str], ...]:
        return tuple(
            (claim, variable) for claim, prop in CLAIM_PROPERTIES if isinstance(variable := config.get(prop), str)
        )

    def signs_with(self, config: dict[str, Any]) -> tuple[str, int] | None:
        crypto = config.get("jws-crypto")
        if not isinstance(crypto, str) or not crypto:
            return None
        return crypto, self.token_validity(config)

    def token_validity(self, config: dict[str, Any]) -> int:
        # As the compile step reads it, leniently: a stored value that would not compile counts as the default.
        text = str(config.get("exp-claim", DEFAULT_VALIDITY_SECONDS))
        return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else DEFAULT_VALIDITY_SECONDS


def _compile(title: str, config: dict[str, Any], resolver: CryptoResolver, build: BuildPolicies) -> Policy:
    return JwtGenerate(title, config, resolver)


POLICY = JwtGenerateKind(
    kind=KIND, properties=PROPERTIES, compile=_compile, makes_token=True, crypto_properties=("jws-crypto", "jwe-crypto")
)
