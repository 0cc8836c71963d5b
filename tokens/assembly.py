"""The assembly interpreter: APIC policies compiled once at publish, run per request (DESIGN.md section 3).

``assembly_compile`` turns ``x-ibm-configuration.assembly`` into policy objects, refusing a bad
configuration with the policy's title and the property named (``PolicyConfigError``) and a policy the
portal does not run with its title and type (``PublishError``). ``CompiledAssembly.run`` executes them
against a ``Context``; an ``AssemblyError`` goes to the first ``catch`` naming it, else to the gateway.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, NoReturn, Protocol

from portal.untrusted import UntrustedTextError, json_loads
from tokens import jose, replay
from tokens.context import Context, http_status
from tokens.documents import Operation
from tokens.errors import AssemblyError, PolicyConfigError, PublishError

logger = logging.getLogger(__name__)

RUNTIME_ERROR = "RuntimeError"
REGISTERED_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "nbf", "iat", "jti"})
MAX_VALIDITY_SECONDS = 31622400
DEFAULT_VALIDITY_SECONDS = 3600
MAX_LEEWAY_SECONDS = 300
# RFC 7519 section 2: a NumericDate counts seconds since 1970-01-01T00:00:00Z. The portal accepts the span
# a message can name (datetime's years 1 to 9999); beyond it a claim is junk or counts milliseconds.
EARLIEST_NUMERIC_DATE = -62135596800  # 0001-01-01T00:00:00Z
LATEST_NUMERIC_DATE = 253402300799  # 9999-12-31T23:59:59Z
COMMON_PROPERTIES = frozenset({"version", "title", "description"})
# APIC policies the portal keeps in documents but does not run: publishing refuses them by name.
KNOWN_UNSUPPORTED = frozenset(
    {
        "invoke",
        "proxy",
        "map",
        "validate",
        "parse",
        "xslt",
        "ratelimit",
        "rate-limit",
        "log",
        "redaction",
        "json-to-xml",
        "xml-to-json",
        "oauth",
        "client-security",
        "user-security",
        "websocket-upgrade",
        "graphql-introspect",
        "if",
        "switch",
    }
)


@dataclass(frozen=True)
class SigningMaterial:
    key: jose.JwsKey
    kid: str


@dataclass(frozen=True)
class EncryptionMaterial:
    """A JWE key from a crypto object, and the kid naming it in the JWE header."""

    key: jose.JweKey
    kid: str


@dataclass(frozen=True)
class VerificationMaterial:
    """The keys a validation accepts, and the kids of retired versions (which verify nothing, but are named
    in the failure message so an operator knows why an old token fails)."""

    keys: tuple[jose.JwsKey, ...]
    retired: dict[str, str]  # kid -> "<profile> <version>"


class CryptoResolver(Protocol):
    """How policies find keys: crypto objects by name within the publication's catalog."""

    def signing(self, name: str) -> SigningMaterial:
        """The key a ``-key`` crypto object signs with. Raises LookupError with a readable message."""

    def verifying(self, name: str) -> VerificationMaterial:
        """The keys a crypto object verifies with. Raises LookupError with a readable message."""

    def encrypting(self, name: str) -> EncryptionMaterial:
        """The key to encrypt tokens to: a certificate's or key's public key, or a secret. Raises LookupError."""

    def decrypting(self, name: str) -> EncryptionMaterial:
        """The key to decrypt tokens with: a private key or a secret (a '-key' object). Raises LookupError."""

    def signing_algorithm_use(self, name: str, alg: str) -> None:
        """Note that a policy signs with ``alg`` using crypto object ``name`` (one key, one algorithm).

        Raises LookupError naming both algorithms when the key is already fixed to another one.
        """


class Policy:
    kind = ""

    def __init__(self, title: str) -> None:
        self.title = title

    def run(self, context: Context) -> None:
        raise NotImplementedError


class _Properties:
    """Typed access to a policy's properties, failing with the policy title and property name."""

    def __init__(self, kind: str, title: str, config: dict[str, Any], allowed: set[str]) -> None:
        self.kind = kind
        self.title = title
        self.config = {k: v for k, v in config.items() if v is not None and v != ""}
        unknown = set(self.config) - allowed - COMMON_PROPERTIES
        if unknown:
            name = sorted(unknown)[0]
            self.fail(name, f"'{name}' is not a property the portal supports for {kind}")

    def fail(self, prop: str, problem: str) -> NoReturn:
        raise PolicyConfigError(
            f"{self.kind} policy '{self.title}', property '{prop}': {problem}.", policy=self.title, prop=prop
        )

    def string(self, prop: str, default: str | None = None) -> str | None:
        value = self.config.get(prop, default)
        if value is not None and not isinstance(value, str):
            self.fail(prop, f"must be a string, not {value!r}")
        return value

    def variable(self, prop: str, default: str | None = None) -> str | None:
        value = self.string(prop, default)
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_.\-]+", value):
            self.fail(prop, f"must be a variable name such as request.headers.iss-claim, not {value!r}")
        return value

    def integer(self, prop: str, default: int, low: int, high: int) -> int:
        value = self.config.get(prop, default)
        # ASCII digits only, and few: str.isdigit() also accepts '²', and int() refuses over 4300 digits.
        if isinstance(value, str) and re.fullmatch(r"[0-9]{1,18}", value.strip()):
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            self.fail(prop, f"must be a whole number from {low} to {high}, not {value!r}")
        return value

    def boolean(self, prop: str, default: bool) -> bool:
        value = self.config.get(prop, default)
        if isinstance(value, str) and value.lower() in {"true", "false"}:
            value = value.lower() == "true"
        if not isinstance(value, bool):
            self.fail(prop, f"must be true or false, not {value!r}")
        return value

    def pattern(self, prop: str) -> re.Pattern[str] | None:
        value = self.string(prop)
        if value is None:
            return None
        try:
            return re.compile(value)
        except re.error as e:
            self.fail(prop, f"is not a valid regular expression ({e})")

    def algorithm(self, prop: str) -> str:
        value = self.string(prop)
        if value is None:
            self.fail(prop, f"is required; choose one of {', '.join(jose.ALGORITHMS)}")
        if value not in jose.ALGORITHMS:
            self.fail(prop, f"{value!r} is not supported; choose one of {', '.join(jose.ALGORITHMS)}")
        return value

    def key_source(self) -> tuple[str | None, str | None]:
        """The crypto object name or the JWK variable; with both, the crypto object wins, as in API Connect."""
        crypto, jwk = self.string("jws-crypto"), self.variable("jws-jwk")
        if crypto:
            return crypto, None
        if not jwk:
            self.fail("jws-crypto", "name a crypto object (or set jws-jwk to a variable holding a JWK)")
        return crypto, jwk


def _jwe_key_source(props: _Properties) -> tuple[str | None, str | None]:
    """``jwe-crypto`` or ``jwe-jwk`` (the crypto object wins, as for jws); both None when not encrypting."""
    crypto, jwk = props.string("jwe-crypto"), props.variable("jwe-jwk")
    return (crypto, None) if crypto else (None, jwk)


def _lookup_message(error: LookupError) -> str:
    # str() of a KeyError quotes its argument; the resolver's messages are plain sentences.
    return str(error.args[0]) if error.args else str(error)


@lru_cache(maxsize=256)
def _jwe_keys_from_jwk_text(text: str) -> jose.JweKeySet:
    return jose.JweKeySet.from_json(text)


def _jwe_jwk_from_variable(context: Context, variable: str, policy: str) -> jose.JweKeySet:
    """The JWE JWK or JWK set a variable holds. Raises AssemblyError naming it."""
    value = context.get(variable)
    if value is None:
        raise AssemblyError(RUNTIME_ERROR, f"{policy}: the JWK variable '{variable}' is not set.", status=500)
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    try:
        return _jwe_keys_from_jwk_text(text)
    except jose.JoseError as e:
        raise AssemblyError(RUNTIME_ERROR, f"{policy}: the JWK in '{variable}' is not usable: {e}", status=500) from e


@dataclass(frozen=True)
class _Encryption:
    """jwt-generate's sign-then-encrypt step (APIC's jwe-* properties): a nested JWT (RFC 7519 section 5.2)."""

    alg: str
    enc: str
    material: EncryptionMaterial | None
    jwk_variable: str | None
    custom_kid: str | None

    @classmethod
    def configured(cls, props: _Properties, resolver: CryptoResolver) -> _Encryption | None:
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
                props.fail("jwe-crypto", _lookup_message(e))
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
class _Decryption:
    """jwt-validate's decrypt-then-verify step: the keys a JWE is decrypted with."""

    keys: tuple[jose.JweKey, ...]
    jwk_variable: str | None

    @classmethod
    def configured(cls, props: _Properties, resolver: CryptoResolver) -> _Decryption | None:
        crypto, jwk = _jwe_key_source(props)
        if not crypto and not jwk:
            return None
        keys: tuple[jose.JweKey, ...] = ()
        if crypto:
            try:
                keys = (resolver.decrypting(crypto).key,)
            except LookupError as e:
                props.fail("jwe-crypto", _lookup_message(e))
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


@lru_cache(maxsize=256)
def _key_from_jwk_text(text: str) -> jose.JwkSet:
    # Parsed JWKs and JWK sets by their text, bounded: a warm request parses no key and scans no set.
    return jose.JwkSet.from_json(text)


def _jwk_from_variable(context: Context, variable: str, policy: str) -> jose.JwkSet:
    """The JWK or JWK set a variable holds (an object or its JSON text). Raises AssemblyError naming it."""
    value = context.get(variable)
    if value is None:
        raise AssemblyError(RUNTIME_ERROR, f"{policy}: the JWK variable '{variable}' is not set.", status=500)
    if isinstance(value, bytes):
        # message.body holds the request's bytes; bad UTF-8 becomes U+FFFD and fails as JSON, by name.
        text = value.decode("utf-8", "replace")
    else:
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    try:
        return _key_from_jwk_text(text)
    except jose.JoseError as e:
        raise AssemblyError(RUNTIME_ERROR, f"{policy}: the JWK in '{variable}' is not usable: {e}", status=500) from e


class JwtGenerate(Policy):
    kind = "jwt-generate"
    PROPERTIES = {
        "jwt", "iss-claim", "sub-claim", "aud-claim", "exp-claim", "jti-claim", "private-claims",
        "jws-alg", "jws-crypto", "jws-jwk", "custom-kid-value-jws",
        "jwe-crypto", "jwe-jwk", "jwe-alg", "jwe-enc", "custom-kid-value-jwe",
    }  # fmt: skip

    def __init__(self, title: str, config: dict[str, Any], resolver: CryptoResolver) -> None:
        super().__init__(title)
        props = _Properties(self.kind, title, config, self.PROPERTIES)
        self.output = props.variable("jwt")
        self.claim_variables = [
            (claim, variable)
            for claim, variable in (
                ("iss", props.variable("iss-claim")),
                ("sub", props.variable("sub-claim")),
                ("aud", props.variable("aud-claim")),
            )
            if variable
        ]
        self.validity = props.integer("exp-claim", DEFAULT_VALIDITY_SECONDS, 1, MAX_VALIDITY_SECONDS)
        self.jti = props.boolean("jti-claim", False)
        self.private_claims = props.variable("private-claims")
        self.alg = props.algorithm("jws-alg")
        crypto, self.jwk_variable = props.key_source()
        self.custom_kid = props.string("custom-kid-value-jws")
        self.encryption = _Encryption.configured(props, resolver)
        self.material: SigningMaterial | None = None
        if crypto:
            try:
                self.material = resolver.signing(crypto)
            except LookupError as e:
                props.fail("jws-crypto", _lookup_message(e))
            if self.alg not in self.material.key.allowed_algorithms():
                props.fail(
                    "jws-alg",
                    f"{self.alg} does not fit the {self.material.key.kind} key of '{crypto}' "
                    f"(allowed: {', '.join(sorted(self.material.key.allowed_algorithms()))})",
                )
            try:
                resolver.signing_algorithm_use(crypto, self.alg)
            except LookupError as e:
                props.fail("jws-alg", _lookup_message(e))

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
        claims: dict[str, Any] = {}
        if self.private_claims:
            claims.update(self._private_claims(context))
        for claim, variable in self.claim_variables:
            claims[claim] = self._claim(context, claim, variable)
        now = int(time.time())
        claims["iat"] = now
        claims["exp"] = now + self.validity
        if self.jti:
            claims["jti"] = str(uuid.uuid4())
        if self.material is not None:
            key, kid = self.material.key, self.material.kid
        else:
            assert self.jwk_variable is not None
            key, kid = self._jwk_signing_key(context, self.jwk_variable)
        try:
            token = jose.sign_compact(claims=claims, key=key, alg=self.alg, kid=self.custom_kid or kid)
        except jose.JoseError as e:
            # Claims too large or not JSON come from the request (a 400); a key that cannot sign is the API's.
            if e.reason in ("size", "malformed"):
                raise AssemblyError(
                    RUNTIME_ERROR, f"jwt-generate '{self.title}': {e}", status=400, reason="Bad Request"
                ) from e
            raise AssemblyError(RUNTIME_ERROR, f"jwt-generate '{self.title}': {e}", status=500) from e
        if self.encryption is not None:
            token = self.encryption.encrypt(context, token, f"jwt-generate '{self.title}'")
        context.set("generated.jwt", token)
        if self.output:
            context.set(self.output, token)
        else:
            context.set("message.headers.Authorization", f"Bearer {token}")

    def _jwk_signing_key(self, context: Context, variable: str) -> tuple[jose.JwsKey, str]:
        """The key of the JWK (set) in ``variable`` that signs ``jws-alg``, and its own kid for the header."""
        where = f"jwt-generate '{self.title}'"
        try:
            return _jwk_from_variable(context, variable, where).signing_key(self.alg)
        except jose.JoseError as e:
            message = f"{where}: the JWK in '{variable}' is not usable: {e}"
            raise AssemblyError(RUNTIME_ERROR, message, status=500) from e

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


class JwtValidationFailed(AssemblyError):
    """A token jwt-validate refuses: the message is APIC's ("JWT validation failed, because ..."); ``code`` is a
    stable reason (``token_expired``, ``bad_signature``, ``issuer_mismatch``...) for the REST API and metrics."""

    def __init__(self, because: str, *, code: str = "invalid_token") -> None:
        self.code = code
        super().__init__(
            RUNTIME_ERROR,
            f"JWT validation failed, because {because}",
            status=401,
            reason="Unauthorized",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc(timestamp: float) -> str:
    """A NumericDate already checked by ``_numeric_date``, as ISO 8601 UTC.

    Epoch plus a timedelta rather than ``datetime.fromtimestamp``, which depends on the platform's C library
    for times before 1970.
    """
    # isoformat, not strftime: glibc's %Y does not pad years before 1000 to four digits.
    return (_EPOCH + timedelta(seconds=timestamp)).replace(tzinfo=None, microsecond=0).isoformat() + "Z"


def _numeric_date(claims: dict[str, Any], name: str) -> float | None:
    """The claim ``name`` as a NumericDate, or None when absent.

    Raises JwtValidationFailed when it is not a number (booleans and numeric strings included), or outside
    EARLIEST_NUMERIC_DATE to LATEST_NUMERIC_DATE; a value that would fit as milliseconds says so, the usual
    mistake of issuers written in JavaScript.
    """
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise JwtValidationFailed(f"the JWT's {name} claim is not a number", code=f"invalid_{name}")
    # Plain comparisons: exact for an int of any length (math.isfinite or a division would overflow) and
    # false for an infinite float.
    if EARLIEST_NUMERIC_DATE <= value <= LATEST_NUMERIC_DATE:
        return value
    hint = ""
    if 0 < value < (LATEST_NUMERIC_DATE + 1) * 1000:
        hint = f" ({_shown(value)} looks like milliseconds; a NumericDate counts seconds since 1970)"
    raise JwtValidationFailed(f"the JWT's {name} claim is out of range{hint}", code=f"invalid_{name}")


_JOSE_REASONS = {
    "size": "the JWT is too large",
    "malformed": "the JWT is malformed",
    "algorithm": "the JWT's algorithm is not allowed",
    "header": "the JWT header is not acceptable",
    "signature": "the JWT signature does not verify",
    "key": "no usable key verifies the JWT",
    "decryption": "the JWT does not decrypt",
}
_JOSE_CODES = {
    "size": "too_large",
    "malformed": "malformed",
    "algorithm": "algorithm_not_allowed",
    "header": "header_not_acceptable",
    "signature": "bad_signature",
    "key": "key_unusable",
    "decryption": "decryption_failed",
}


class JwtValidate(Policy):
    kind = "jwt-validate"
    PROPERTIES = {
        "jwt", "output-claims", "iss-claim", "aud-claim", "jws-crypto", "jws-jwk", "leeway", "jti-replay-check",
        "jwe-crypto", "jwe-jwk",
    }  # fmt: skip

    def __init__(self, title: str, config: dict[str, Any], resolver: CryptoResolver) -> None:
        super().__init__(title)
        props = _Properties(self.kind, title, config, self.PROPERTIES)
        self.source = props.variable("jwt", "request.headers.authorization") or "request.headers.authorization"
        self.output = props.variable("output-claims", "decoded.claims") or "decoded.claims"
        self.issuer = props.pattern("iss-claim")
        self.audience = props.pattern("aud-claim")
        self.leeway = props.integer("leeway", 0, 0, MAX_LEEWAY_SECONDS)
        # Beyond API Connect: accept each token (by iss and jti) once until it expires (tokens.replay).
        self.replay_check = props.boolean("jti-replay-check", False)
        self.decryption = _Decryption.configured(props, resolver)
        crypto, self.jwk_variable = props.key_source()
        self.keys: tuple[jose.JwsKey, ...] = ()
        self.retired: dict[str, str] = {}
        if crypto:
            try:
                material = resolver.verifying(crypto)
            except LookupError as e:
                props.fail("jws-crypto", _lookup_message(e))
            self.keys, self.retired = material.keys, material.retired
            if not self.keys:
                props.fail("jws-crypto", f"'{crypto}' and every other version of its profile are retired")

    def run(self, context: Context) -> None:
        try:
            claims = self._validate(context)
        except JwtValidationFailed as e:
            context.set("jwt-validate.error-message", e.message)
            raise
        context.set(self.output, claims)

    def _decrypted(self, context: Context, token: str) -> str:
        """The signed JWT inside an encrypted one (decrypt, then verify, as APIC does)."""
        if self.decryption is None:
            raise JwtValidationFailed(
                "the JWT is encrypted (JWE) and no jwe-crypto or jwe-jwk is set to decrypt it", code="encrypted_token"
            )
        try:
            return self.decryption.decrypt(context, token, f"jwt-validate '{self.title}'")
        except jose.JoseError as e:
            raise jwt_verification_failure(e, {}) from e

    def _validate(self, context: Context) -> dict[str, Any]:
        token = context.get(self.source)
        if not isinstance(token, str) or not token.strip():
            raise JwtValidationFailed(f"no JWT was found in {self.source}", code="token_missing")
        token = token.strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        if jose.is_compact_jwe(token):
            token = self._decrypted(context, token)
        keys: tuple[jose.JwsKey, ...] | jose.JwkSet = self.keys
        if self.jwk_variable:
            keys = _jwk_from_variable(context, self.jwk_variable, f"jwt-validate '{self.title}'")
        try:
            _, claims = jose.verify_compact(token, keys=keys)
        except jose.JoseError as e:
            raise jwt_verification_failure(e, self.retired) from e
        jwt_claims_check(claims, issuer=self.issuer, audience=self.audience, leeway=self.leeway)
        if self.replay_check:
            exp = _numeric_date(claims, "exp")
            assert exp is not None  # jwt_claims_check requires it
            _refuse_replay(claims, until=exp + self.leeway, now=time.time())
        return claims


def jwt_verification_failure(error: jose.JoseError, retired: dict[str, str]) -> JwtValidationFailed:
    """jwt-validate's failure for a token ``jose.verify_compact`` refused; a kid of a ``retired`` version
    (kid to "<profile> <version>") is named as such. Shared with the token service (tokens.token_service)."""
    if error.reason == "signature" and error.kid in retired:
        return JwtValidationFailed(
            f"the JWT was signed by a retired key ({retired[error.kid]}, kid {error.kid})", code="key_retired"
        )
    return JwtValidationFailed(
        f"{_JOSE_REASONS.get(error.reason, 'the JWT is not valid')}: {error}",
        code=_JOSE_CODES.get(error.reason, "invalid_token"),
    )


def jwt_claims_check(
    claims: dict[str, Any], *, issuer: re.Pattern[str] | None, audience: re.Pattern[str] | None, leeway: int
) -> None:
    """jwt-validate's claim checks, in its order: ``exp`` (required), ``nbf``, ``iat`` (a NumericDate), then the
    ``issuer`` and ``audience`` patterns (the whole claim; for an ``aud`` array, any element), with ``leeway``
    seconds either way. Raises JwtValidationFailed with jwt-validate's message and a reason ``code``.
    Shared with the token service (tokens.token_service)."""
    now = time.time()
    exp = _numeric_date(claims, "exp")
    if exp is None:
        raise JwtValidationFailed("the JWT has no exp (expiry) claim", code="missing_exp")
    if now >= exp + leeway:
        raise JwtValidationFailed(f"the JWT has expired at {_utc(exp)}", code="token_expired")
    nbf = _numeric_date(claims, "nbf")
    if nbf is not None and now < nbf - leeway:
        raise JwtValidationFailed(f"the JWT is not valid before {_utc(nbf)}", code="not_yet_valid")
    # iat is informational (RFC 7519 section 4.1.6), but must still be a NumericDate.
    _numeric_date(claims, "iat")
    if issuer is not None:
        iss = claims.get("iss")
        if not isinstance(iss, str) or not issuer.fullmatch(iss):
            raise JwtValidationFailed(
                f"the issuer claim {_shown(iss)} does not match '{issuer.pattern}'", code="issuer_mismatch"
            )
    if audience is not None:
        aud = claims.get("aud")
        values = aud if isinstance(aud, list) else [aud]
        if not any(isinstance(value, str) and audience.fullmatch(value) for value in values):
            raise JwtValidationFailed(
                f"the audience claim {_shown(aud)} does not match '{audience.pattern}'", code="audience_mismatch"
            )


def _refuse_replay(claims: dict[str, Any], *, until: float, now: float) -> None:
    """Record the token's jti as used; raise JwtValidationFailed when it was used before, when it has no
    jti, or when the shared cache cannot say (refusing is the safe answer for a security check)."""
    jti = claims.get("jti")
    if jti is None:
        raise JwtValidationFailed(
            "the JWT has no jti claim, which replay protection (jti-replay-check) requires", code="missing_jti"
        )
    if not isinstance(jti, str) or not jti:
        raise JwtValidationFailed("the JWT's jti claim is not a non-empty string", code="invalid_jti")
    iss = claims.get("iss")
    try:
        first = replay.jti_first_use(issuer=iss if isinstance(iss, str) else "", jti=jti, until=until, now=now)
    except replay.ReplayStateUnavailable as e:
        logger.error("replay check unavailable", extra={"error": str(e)})
        raise JwtValidationFailed(
            "the JWT could not be checked for replay (the shared cache is unavailable)", code="replay_state_unavailable"
        ) from e
    if not first:
        raise JwtValidationFailed(
            "the JWT was already used: its jti was accepted before (replay)", code="token_replayed"
        )


def _is_number(value: Any) -> bool:
    """A JSON number: an int (not a bool) or a finite float; math.isfinite would overflow on a huge int."""
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, int) and not isinstance(value, bool)


def _shown(value: Any) -> str:
    if value is None:
        return "(absent)"
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


SET_VARIABLE_TYPES = ("any", "string", "number", "boolean", "object")


@dataclass(frozen=True)
class _Action:
    verb: str  # set, add, clear
    name: str
    value: Any
    type: str


class SetVariable(Policy):
    kind = "set-variable"

    def __init__(self, title: str, config: dict[str, Any]) -> None:
        super().__init__(title)
        props = _Properties(self.kind, title, config, {"actions"})
        actions = props.config.get("actions")
        if not isinstance(actions, list) or not actions:
            props.fail("actions", "must be a list of set, add or clear actions")
        self.actions = [self._action(props, index, action) for index, action in enumerate(actions)]

    def _action(self, props: _Properties, index: int, action: Any) -> _Action:
        where = f"actions[{index}]"
        if not isinstance(action, dict):
            props.fail(where, "must be a mapping with set, add or clear")
        verbs = [verb for verb in ("set", "add", "clear") if verb in action]
        if len(verbs) != 1:
            props.fail(where, "must have exactly one of set, add or clear")
        verb = verbs[0]
        name = action[verb]
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
            props.fail(f"{where}.{verb}", f"must be a variable name, not {name!r}")
        value_type = action.get("type", "any") or "any"
        if value_type not in SET_VARIABLE_TYPES:
            props.fail(f"{where}.type", f"{value_type!r} is not one of {', '.join(SET_VARIABLE_TYPES)}")
        value = action.get("value")
        if verb != "clear" and value is None:
            props.fail(f"{where}.value", "is required for set and add")
        if verb != "clear" and value_type != "any" and not (isinstance(value, str) and "$(" in value):
            value = _coerce(value, value_type, lambda problem: props.fail(f"{where}.value", problem))
        literal = not (isinstance(value, str) and "$(" in value)
        if verb != "clear" and name == "message.status.code" and literal and http_status(value) is None:
            props.fail(f"{where}.value", f"{value!r} is not an HTTP status code (a whole number from 100 to 599)")
        return _Action(verb, name, value, value_type)

    def run(self, context: Context) -> None:
        for action in self.actions:
            if action.verb == "clear":
                context.clear(action.name)
                continue
            value = action.value
            if isinstance(value, str) and "$(" in value:
                value = context.interpolate(value)
                if action.type != "any":
                    value = _coerce(value, action.type, self._runtime_failure(action, template=action.value))
            if action.verb == "set":
                context.set(action.name, value)
            else:
                context.add(action.name, value)

    def _runtime_failure(self, action: _Action, *, template: str) -> Callable[[str], Any]:
        # A value read from the request that does not convert is the caller's mistake (400); one read from
        # anything else is the API's (500).
        from_request = "$(request." in template

        def fail(problem: str) -> Any:
            raise AssemblyError(
                RUNTIME_ERROR,
                f"set-variable '{self.title}': {action.name} {problem}.",
                status=400 if from_request else 500,
                reason="Bad Request" if from_request else "",
            )

        return fail


def _coerce(value: Any, value_type: str, fail: Callable[[str], Any]) -> Any:
    if isinstance(value, bytes):
        # $(message.body) alone keeps the request's bytes; read them as text, as $(...) inside text does.
        value = value.decode("utf-8", "replace")
    if value_type == "string":
        # Scalars and objects are written as JSON writes them (true, not True), as $(name) inside text is.
        return value if isinstance(value, str) else json.dumps(value)
    if value_type == "number":
        if _is_number(value):
            return value
        try:
            number = float(str(value))
        except ValueError:
            return fail(f"{value!r} is not a number")
        if not math.isfinite(number):
            return fail(f"{value!r} is not a number JSON can carry")
        return int(number) if number.is_integer() else number
    if value_type == "boolean":
        if isinstance(value, bool):
            return value
        if str(value).lower() in {"true", "false"}:
            return str(value).lower() == "true"
        return fail(f"{value!r} is not true or false")
    if isinstance(value, dict | list):
        return value
    if not isinstance(value, str | bytes):
        return fail(f"{_shown(value)} is not a JSON object")
    try:
        return json_loads(value)
    except UntrustedTextError as e:
        return fail(f"{_shown(value if isinstance(value, str) else '(bytes)')} is not a JSON object: {e}")


class Throw(Policy):
    kind = "throw"

    def __init__(self, title: str, config: dict[str, Any]) -> None:
        super().__init__(title)
        props = _Properties(self.kind, title, config, {"name", "message"})
        self.name = props.string("name")
        if not self.name:
            props.fail("name", "is required: the error name catch blocks match")
        self.message = props.string("message", "") or ""

    def run(self, context: Context) -> None:
        assert self.name is not None
        message = context.interpolate(self.message) if "$(" in self.message else self.message
        raise AssemblyError(self.name, str(message), status=500)


@dataclass(frozen=True)
class _Case:
    operations: tuple[tuple[str | None, str | None], ...]  # (verb, path) or (None, operationId)
    policies: tuple[Policy, ...]


class OperationSwitch(Policy):
    kind = "operation-switch"

    def __init__(self, title: str, config: dict[str, Any], build: Callable[[Any, str], tuple[Policy, ...]]) -> None:
        super().__init__(title)
        props = _Properties(self.kind, title, config, {"case", "otherwise"})
        cases = props.config.get("case")
        if not isinstance(cases, list) or not cases:
            props.fail("case", "must list at least one case")
        self.cases: list[_Case] = []
        for index, case in enumerate(cases):
            where = f"case[{index}]"
            if not isinstance(case, dict) or not isinstance(case.get("operations"), list):
                props.fail(where, "must have an operations list and an execute list")
            operations: list[tuple[str | None, str | None]] = []
            for operation in case["operations"]:
                if isinstance(operation, str):
                    operations.append((None, operation))
                elif (
                    isinstance(operation, dict)
                    and isinstance(operation.get("verb"), str)
                    and isinstance(operation.get("path"), str)
                ):
                    operations.append((operation["verb"].upper(), operation["path"]))
                else:
                    props.fail(f"{where}.operations", f"{operation!r} is neither an operationId nor a verb and path")
            execute = case.get("execute", [])
            if not isinstance(execute, list):
                props.fail(f"{where}.execute", "must be a list of policies")
            self.cases.append(_Case(tuple(operations), build(execute, f"{where}.execute")))
        otherwise = props.config.get("otherwise", [])
        if not isinstance(otherwise, list):
            props.fail("otherwise", "must be a list of policies")
        self.otherwise = build(otherwise, "otherwise")

    def run(self, context: Context) -> None:
        operation: Operation | None = context.get("api.operation")
        for case in self.cases:
            for verb, path in case.operations:
                if operation is None:
                    continue
                if (verb is None and path == operation.operation_id) or (
                    verb == operation.verb and path == operation.path
                ):
                    run_policies(case.policies, context)
                    return
        run_policies(self.otherwise, context)


def run_policies(policies: Sequence[Policy], context: Context) -> None:
    for policy in policies:
        policy.run(context)


@dataclass(frozen=True)
class _Catch:
    errors: frozenset[str] | None  # None: the default catch
    policies: tuple[Policy, ...]


class CompiledAssembly:
    def __init__(self, policies: tuple[Policy, ...], catches: tuple[_Catch, ...]) -> None:
        self.policies = policies
        self.catches = catches

    def run(self, context: Context) -> None:
        """Run the assembly. Raises the AssemblyError no catch handles (or one a catch raises)."""
        try:
            run_policies(self.policies, context)
        except AssemblyError as error:
            handler = next(
                (c for c in self.catches if c.errors is None or error.name in c.errors),
                None,
            )
            if handler is None:
                raise
            context.set("message.status.code", error.status)
            context.set("message.status.reason", error.reason)
            context.set("error.name", error.name)
            context.set("error.message", error.message)
            context.set("error.status.code", error.status)
            context.set("error.status.reason", error.reason)
            run_policies(handler.policies, context)


def assembly_compile(assembly: dict[str, Any], resolver: CryptoResolver) -> CompiledAssembly:
    """Compile an assembly. Raises PolicyConfigError or PublishError naming the policy at fault."""

    def build(policies: Any, where: str) -> tuple[Policy, ...]:
        if not isinstance(policies, list):
            raise PublishError(f"assembly {where} must be a list of policies.")
        return tuple(build_one(entry, f"{where}[{index}]") for index, entry in enumerate(policies))

    def build_one(entry: Any, where: str) -> Policy:
        if not isinstance(entry, dict) or len(entry) != 1:
            raise PublishError(f"assembly {where} must be a mapping of one policy type to its properties.")
        kind, config = next(iter(entry.items()))
        config = config if isinstance(config, dict) else {}
        title = str(config.get("title") or kind)
        if kind == "jwt-generate":
            return JwtGenerate(title, config, resolver)
        if kind == "jwt-validate":
            return JwtValidate(title, config, resolver)
        if kind == "set-variable":
            return SetVariable(title, config)
        if kind == "throw":
            return Throw(title, config)
        if kind == "operation-switch":
            return OperationSwitch(title, config, build)
        if kind == "gatewayscript":
            from tokens.gatewayscript import GatewayScript  # it builds on Policy, defined here

            return GatewayScript(title, config)
        known = "an APIC policy" if kind in KNOWN_UNSUPPORTED else "a policy type"
        raise PublishError(
            f"Policy '{title}' of type '{kind}' ({known} the portal does not run) is in the assembly at {where}; "
            "remove or replace it before publishing: skipping it would change what the API does."
        )

    policies = build(assembly.get("execute", []), "execute")
    catches: list[_Catch] = []
    for index, entry in enumerate(assembly.get("catch") or []):
        where = f"catch[{index}]"
        if not isinstance(entry, dict):
            raise PublishError(f"assembly {where} must be a mapping with errors and execute, or default.")
        if "default" in entry:
            catches.append(_Catch(None, build(entry["default"], f"{where}.default")))
            continue
        errors = entry.get("errors")
        if not isinstance(errors, list) or not errors or not all(isinstance(e, str) and e for e in errors):
            raise PublishError(f"assembly {where}.errors must list error names such as RuntimeError.")
        catches.append(_Catch(frozenset(errors), build(entry.get("execute", []), f"{where}.execute")))
    return CompiledAssembly(policies, tuple(catches))
