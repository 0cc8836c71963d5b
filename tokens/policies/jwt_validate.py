"""jwt-validate: verify a token and check its claims, in APIC's order and with its messages (DESIGN.md
section 3). The claim checks and failure messages are shared with the REST token service."""

from __future__ import annotations

import logging
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tokens import jose, replay
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
    lookup_message,
    shown,
)
from tokens.policies.keys import Decryption, jwk_from_variable, key_summary

logger = logging.getLogger(__name__)

KIND = "jwt-validate"
MAX_LEEWAY_SECONDS = 300
DEFAULT_JWT_SOURCE = "request.headers.authorization"
DEFAULT_OUTPUT_CLAIMS = "decoded.claims"
# RFC 7519 section 2: a NumericDate counts seconds since 1970-01-01T00:00:00Z. The portal accepts the span
# a message can name (datetime's years 1 to 9999); beyond it a claim is junk or counts milliseconds.
EARLIEST_NUMERIC_DATE = -62135596800  # 0001-01-01T00:00:00Z
LATEST_NUMERIC_DATE = 253402300799  # 9999-12-31T23:59:59Z
# The claims checked against a pattern, and the property holding each pattern.
PATTERN_PROPERTIES = (("iss", "iss-claim"), ("aud", "aud-claim"))

PROPERTIES: dict[str, Property] = {
    "jwt": Property(DEFAULT_JWT_SOURCE, starts_new=True, new_value=DEFAULT_JWT_SOURCE),
    "output-claims": Property(DEFAULT_OUTPUT_CLAIMS, starts_new=True, new_value=DEFAULT_OUTPUT_CLAIMS),
    "iss-claim": Property(),
    "aud-claim": Property(),
    "jws-crypto": Property(),
    "jws-jwk": Property(),
    "leeway": Property(0),
    # Beyond API Connect: accept each token (by iss and jti) once until it expires (tokens.replay).
    "jti-replay-check": Property(False),
    "jwe-crypto": Property(),
    "jwe-jwk": Property(),
}


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
        hint = f" ({shown(value)} looks like milliseconds; a NumericDate counts seconds since 1970)"
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
    kind = KIND

    def __init__(self, title: str, config: dict[str, Any], resolver: CryptoResolver) -> None:
        super().__init__(title)
        props = Properties(self.kind, title, config, PROPERTIES)
        self.source = props.variable("jwt") or DEFAULT_JWT_SOURCE
        self.output = props.variable("output-claims") or DEFAULT_OUTPUT_CLAIMS
        self.issuer = props.pattern("iss-claim")
        self.audience = props.pattern("aud-claim")
        self.leeway = props.integer("leeway", 0, MAX_LEEWAY_SECONDS)
        self.replay_check = props.boolean("jti-replay-check")
        self.decryption = Decryption.configured(props, resolver)
        crypto, self.jwk_variable = props.key_source()
        self.keys: tuple[jose.JwsKey, ...] = ()
        self.retired: dict[str, str] = {}
        if crypto:
            try:
                material = resolver.verifying(crypto)
            except LookupError as e:
                props.fail("jws-crypto", lookup_message(e))
            self.keys, self.retired = material.keys, material.retired
            if not self.keys:
                props.fail("jws-crypto", f"'{crypto}' and every other version of its profile are retired")

    def run(self, context: Context) -> None:
        """Put the token's claims in the ``output-claims`` variable; the call's recorder counts the token as
        accepted, or as refused with the failure's code. Raises JwtValidationFailed (after setting
        ``jwt-validate.error-message``), or AssemblyError for a JWK variable it cannot use."""
        try:
            claims = self._validate(context)
        except JwtValidationFailed as e:
            context.recorder.validated(False, e.code)
            context.set("jwt-validate.error-message", e.message)
            raise
        context.recorder.validated(True)
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
            keys = jwk_from_variable(context, self.jwk_variable, f"jwt-validate '{self.title}'")
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
                f"the issuer claim {shown(iss)} does not match '{issuer.pattern}'", code="issuer_mismatch"
            )
    if audience is not None:
        aud = claims.get("aud")
        values = aud if isinstance(aud, list) else [aud]
        if not any(isinstance(value, str) and audience.fullmatch(value) for value in values):
            raise JwtValidationFailed(
                f"the audience claim {shown(aud)} does not match '{audience.pattern}'", code="audience_mismatch"
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


class JwtValidateKind(PolicyKind):
    def summary(self, config: dict[str, Any]) -> str:
        return f"token from {config.get('jwt') or DEFAULT_JWT_SOURCE}, verified with {key_summary(config)}"

    def token_variable(self, config: dict[str, Any]) -> str | None:
        variable = config.get("jwt")
        return variable if isinstance(variable, str) and variable else DEFAULT_JWT_SOURCE

    def claim_patterns(self, config: dict[str, Any]) -> tuple[tuple[str, str], ...]:
        return tuple(
            (claim, pattern) for claim, prop in PATTERN_PROPERTIES if isinstance(pattern := config.get(prop), str)
        )


def _compile(title: str, config: dict[str, Any], resolver: CryptoResolver, build: BuildPolicies) -> Policy:
    return JwtValidate(title, config, resolver)


POLICY = JwtValidateKind(
    kind=KIND, properties=PROPERTIES, compile=_compile, crypto_properties=("jws-crypto", "jwe-crypto")
)
