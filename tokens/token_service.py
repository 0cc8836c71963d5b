"""The token service: sign claims and validate tokens with a key profile chosen by name (DESIGN.md section 4a).

``token_sign`` signs with the profile's active version in a catalog (or the version asked for) and
``token_validate`` verifies against every non-retired version of the profile there, as ``jwt-validate`` does
during a rotation. Both reuse the policies' code paths: ``tokens.jose`` signs and verifies, keys come from
``tokens.runtime.CatalogCryptoResolver``, and the claim checks and failure messages are
``tokens.assembly``'s (``jwt_claims_check``, ``jwt_verification_failure``), so a token the service accepts is
one the gateway's ``jwt-validate`` accepts, with the same message when it does not.

Which version signs:

- no ``version``: the active one;
- an ``active`` or ``next`` version: signs (``next`` so that a key can be tried before it goes live; its
  tokens verify everywhere already, since every process verifies with a ``next`` version);
- a ``passive`` or ``retired`` version never signs: ``TokenServiceError`` with code ``version_passive`` or
  ``version_retired`` (a conflict: the version exists, but its state forbids it).

Warm path: the resolved keys are kept per process, keyed by (organization, catalog, profile, version), and
dropped when the shared configuration version moves (``portal.invalidation``; every rotation, activation and
retirement bumps it). A warm call makes no database query and parses no key.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from keyprofiles import lifecycle
from keyprofiles.models import CryptoObject, KeyProfileBinding
from portal.claim_patterns import pattern_risk
from portal.invalidation import VersionWatch
from portal.models import Catalog
from tokens import jose
from tokens.assembly import (
    MAX_VALIDITY_SECONDS,
    jwt_claims_check,
    jwt_verification_failure,
)
from tokens.errors import TokensError
from tokens.runtime import CatalogCryptoResolver

State = KeyProfileBinding.State

# Claims the service sets itself; a caller may not (as jwt-generate's private claims may not set them).
SERVICE_CLAIMS = ("iat", "exp")
MIN_EXPIRES_IN = 1
MAX_EXPIRES_IN = MAX_VALIDITY_SECONDS
_CACHE_LIMIT = 1024


class TokenServiceError(TokensError):
    """A signing or validation request the service refuses (not an invalid token: see JwtValidationFailed)."""

    default_code = "token_refused"


class TokenServiceNotFound(LookupError):
    """No such catalog, profile, or version of it in the catalog; the message says which."""


@dataclass(frozen=True)
class ProfileSigner:
    """What signs for one profile version in one catalog: its ``-key`` crypto object's key, built once."""

    crypto_object: str
    version: str
    key: jose.JwsKey
    kid: str
    # One key, one algorithm (RFC 8725 section 3.1): the keystore's fixed algorithm, or its natural one while
    # none is fixed (RS256, the curve's ES*, HS256) -- what the JWKS states, so verifiers that match a token's
    # alg against the JWK's accept the service's tokens.
    algorithm: str

    @property
    def default_algorithm(self) -> str:
        return self.algorithm


@dataclass(frozen=True)
class ProfileVerifier:
    """What verifies for one profile in one catalog: the keys of its non-retired versions, the crypto object
    each comes from (by thumbprint), and the kids of retired versions (named in the failure message)."""

    keys: tuple[jose.JwsKey, ...]
    crypto_objects: dict[str, str]  # key thumbprint -> crypto object name
    retired: dict[str, str]  # kid -> "<profile> <version>"


@dataclass(frozen=True)
class SignedToken:
    token: str
    kid: str
    alg: str
    crypto_object: str
    version: str
    expires_at: datetime
    jti: str | None

    def as_dict(self) -> dict[str, Any]:
        """The REST answer (``tokens.api.token_service.TokenSignApi.OutputSerializer`` describes it)."""
        return {
            "token": self.token,
            "kid": self.kid,
            "alg": self.alg,
            "crypto_object": self.crypto_object,
            "version": self.version,
            "expires_at": self.expires_at.isoformat().replace("+00:00", "Z"),
            "jti": self.jti,
        }


@dataclass(frozen=True)
class ValidatedToken:
    claims: dict[str, Any]
    header: dict[str, Any]
    kid: str | None
    crypto_object: str

    def as_dict(self) -> dict[str, Any]:
        """The REST answer (``tokens.api.token_service.TokenValidateApi.OutputSerializer`` describes it)."""
        return {"claims": self.claims, "header": self.header, "kid": self.kid, "crypto_object": self.crypto_object}


def _catalog(organization: str, catalog: str) -> Catalog:
    row = Catalog.objects.select_related("organization").filter(organization__slug=organization, slug=catalog).first()
    if row is None:
        raise TokenServiceNotFound(f"No catalog '{catalog}' in organization '{organization}'.")
    return row


def _bindings(catalog: Catalog, profile: str) -> list[KeyProfileBinding]:
    bindings = list(lifecycle.profile_bindings(catalog=catalog, name=profile))
    if not bindings:
        raise TokenServiceNotFound(f"No key profile '{profile}' is enabled in catalog {catalog}.")
    return bindings


def _signing_binding(catalog: Catalog, profile: str, version: str | None) -> KeyProfileBinding:
    bindings = _bindings(catalog, profile)
    if version is None:
        active = next((b for b in bindings if b.state == State.ACTIVE), None)
        if active is None:
            raise TokenServiceError(
                f"Key profile '{profile}' has no active version in {catalog}.", code="no_active_version", conflict=True
            )
        return active
    binding = next((b for b in bindings if b.profile.version == version), None)
    if binding is None:
        raise TokenServiceNotFound(f"Version {version} of key profile '{profile}' is not enabled in catalog {catalog}.")
    if binding.state in (State.PASSIVE, State.RETIRED):
        raise TokenServiceError(
            f"Version {version} of '{profile}' is {binding.state} in {catalog}: it verifies "
            f"{'nothing' if binding.state == State.RETIRED else 'only'} and never signs; "
            "sign with the active version (leave out 'version').",
            code=f"version_{binding.state}",
            field="version",
            conflict=True,
        )
    return binding


def signer_build(*, organization: str, catalog: str, profile: str, version: str | None) -> ProfileSigner:
    """Resolve what signs for ``profile`` in ``catalog`` (from the database; ``ProfileKeys`` caches it).

    Raises TokenServiceNotFound (no catalog, profile or version) or TokenServiceError (no active version, a
    passive or retired version, a profile without a private key or secret).
    """
    row = _catalog(organization, catalog)
    binding = _signing_binding(row, profile, version)
    key_object = (
        CryptoObject.objects.filter(binding=binding, role__in=(CryptoObject.Role.PRIVATE_KEY, CryptoObject.Role.SECRET))
        .values_list("name", flat=True)
        .first()
    )
    if key_object is None:
        raise TokenServiceError(
            f"{binding.profile} has no keystore in {row}: it holds certificates only and cannot sign.",
            code="profile_cannot_sign",
            conflict=True,
        )
    resolver = CatalogCryptoResolver(row, also_signing=frozenset({binding.pk}))
    try:
        material = resolver.signing(key_object)
    except LookupError as e:
        raise TokenServiceError(str(e.args[0]) if e.args else str(e), code="key_unusable", conflict=True) from e
    keystore = binding.profile.keystore
    assert keystore is not None  # it has a -key object
    return ProfileSigner(
        crypto_object=key_object,
        version=binding.profile.version,
        key=material.key,
        kid=material.kid,
        algorithm=keystore.effective_algorithm,
    )


def verifier_build(*, organization: str, catalog: str, profile: str) -> ProfileVerifier:
    """Resolve what verifies for ``profile`` in ``catalog``: every crypto object of its non-retired versions
    there that verifies (certificates and shared secrets), through the gateway's resolver, which also names
    the kids of the retired versions (they verify nothing). Raises TokenServiceNotFound."""
    row = _catalog(organization, catalog)
    bindings = _bindings(row, profile)
    resolver = CatalogCryptoResolver(row)
    names = (
        CryptoObject.objects.filter(binding__in=bindings)
        .exclude(binding__state=State.RETIRED)
        .filter(role__in=(CryptoObject.Role.CERTIFICATE, CryptoObject.Role.SECRET))
        .order_by("-binding__profile__created_at", "name")
        .values_list("name", flat=True)
    )
    keys: dict[str, jose.JwsKey] = {}
    crypto_objects: dict[str, str] = {}
    retired: dict[str, str] = {}
    for name in names:
        try:
            material = resolver.verifying(name)
        except LookupError as e:
            raise TokenServiceError(str(e.args[0]) if e.args else str(e), code="key_unusable", conflict=True) from e
        retired.update(material.retired)
        for index, key in enumerate(material.keys):
            thumbprint = key.thumbprint()
            keys.setdefault(thumbprint, key)
            if index == 0:  # the resolver lists the named (non-retired) object's own key first
                crypto_objects.setdefault(thumbprint, name)
    return ProfileVerifier(keys=tuple(keys.values()), crypto_objects=crypto_objects, retired=retired)


class ProfileKeys:
    """The per-process cache of signers and verifiers, dropped whenever the shared version moves."""

    def __init__(self) -> None:
        self._signers: dict[tuple[str, str, str, str | None], ProfileSigner] = {}
        self._verifiers: dict[tuple[str, str, str], ProfileVerifier] = {}
        self._lock = threading.Lock()
        self._watch = VersionWatch()

    def _check_version(self) -> None:
        if self._watch.changed():
            with self._lock:
                self._signers = {}
                self._verifiers = {}

    def signer(self, *, organization: str, catalog: str, profile: str, version: str | None) -> ProfileSigner:
        """See ``signer_build``; cached per (organization, catalog, profile, version)."""
        self._check_version()
        key = (organization, catalog, profile, version)
        found = self._signers.get(key)
        if found is None:
            found = signer_build(organization=organization, catalog=catalog, profile=profile, version=version)
            with self._lock:
                if len(self._signers) >= _CACHE_LIMIT:
                    self._signers = {}
                self._signers[key] = found
        return found

    def verifier(self, *, organization: str, catalog: str, profile: str) -> ProfileVerifier:
        """See ``verifier_build``; cached per (organization, catalog, profile)."""
        self._check_version()
        key = (organization, catalog, profile)
        found = self._verifiers.get(key)
        if found is None:
            found = verifier_build(organization=organization, catalog=catalog, profile=profile)
            with self._lock:
                if len(self._verifiers) >= _CACHE_LIMIT:
                    self._verifiers = {}
                self._verifiers[key] = found
        return found

    def reset(self) -> None:
        with self._lock:
            self._signers = {}
            self._verifiers = {}
            self._watch.reset()


profile_keys = ProfileKeys()


def token_sign(
    *,
    organization: str,
    catalog: str,
    profile: str,
    claims: dict[str, Any],
    expires_in: int,
    alg: str | None = None,
    jti: bool = False,
    version: str | None = None,
) -> SignedToken:
    """Sign ``claims`` with ``profile`` in ``catalog``, adding ``iat``, ``exp`` (now + ``expires_in``) and, with
    ``jti``, a UUID4 ``jti``. The header carries ``alg``, ``typ`` and the key's RFC 7638 thumbprint as ``kid``.

    Raises TokenServiceError: ``registered_claim`` (``claims`` sets iat, exp, or jti while ``jti`` is asked),
    ``expires_in_out_of_range``, ``algorithm_mismatch`` (``alg`` does not fit the key, or is not the one
    algorithm the key signs with; both are named),
    ``too_large`` (the token would exceed 8 KiB), and those of ``signer_build``; or TokenServiceNotFound.
    """
    reserved = [claim for claim in (*SERVICE_CLAIMS, *(("jti",) if jti else ())) if claim in claims]
    if reserved:
        raise TokenServiceError(
            f"The claims may not set {', '.join(reserved)}: the service sets "
            f"{'iat, exp and jti' if jti else 'iat and exp'} itself (use expires_in for exp).",
            code="registered_claim",
            field="claims",
        )
    if not MIN_EXPIRES_IN <= expires_in <= MAX_EXPIRES_IN:
        raise TokenServiceError(
            f"expires_in must be from {MIN_EXPIRES_IN} to {MAX_EXPIRES_IN} seconds.",
            code="expires_in_out_of_range",
            field="expires_in",
        )
    signer = profile_keys.signer(organization=organization, catalog=catalog, profile=profile, version=version)
    algorithm = alg or signer.default_algorithm
    allowed = signer.key.allowed_algorithms()
    if algorithm not in allowed:
        raise TokenServiceError(
            f"{algorithm} does not fit the {signer.key.kind} key of '{signer.crypto_object}' "
            f"(allowed: {', '.join(sorted(allowed))}).",
            code="algorithm_mismatch",
            field="alg",
        )
    if algorithm != signer.algorithm:
        raise TokenServiceError(
            f"'{signer.crypto_object}' signs with {signer.algorithm} only, not {algorithm} (one key, one "
            "algorithm: the JWKS states it, and verifiers hold the key to it).",
            code="algorithm_mismatch",
            field="alg",
        )
    now = int(time.time())
    payload = {**claims, "iat": now, "exp": now + expires_in}
    token_id = str(uuid.uuid4()) if jti else None
    if token_id is not None:
        payload["jti"] = token_id
    try:
        token = jose.sign_compact(claims=payload, key=signer.key, alg=algorithm, kid=signer.kid)
    except jose.JoseError as e:
        code = "too_large" if e.reason == "size" else "claims_not_signable"
        raise TokenServiceError(str(e), code=code, field="claims") from e
    return SignedToken(
        token=token,
        kid=signer.kid,
        alg=algorithm,
        crypto_object=signer.crypto_object,
        version=signer.version,
        expires_at=datetime.fromtimestamp(now + expires_in, tz=UTC),
        jti=token_id,
    )


def token_validate(
    *,
    organization: str,
    catalog: str,
    profile: str,
    token: str,
    issuer: str | None = None,
    audience: str | None = None,
    leeway: int = 0,
) -> ValidatedToken:
    """Verify ``token`` with every non-retired version of ``profile`` in ``catalog`` and check its claims as
    ``jwt-validate`` does (``exp`` required, ``nbf``, then ``issuer`` and ``audience`` patterns matching the
    whole claim, ``leeway`` seconds either way). A leading ``Bearer `` is stripped.

    Raises JwtValidationFailed (its message is jwt-validate's, its ``code`` the reason), TokenServiceError
    (``pattern_invalid``, or the profile verifies with no key) or TokenServiceNotFound.
    """
    issuer_pattern = _pattern(issuer, "iss")
    audience_pattern = _pattern(audience, "aud")
    verifier = profile_keys.verifier(organization=organization, catalog=catalog, profile=profile)
    if not verifier.keys:
        raise TokenServiceError(
            f"Every version of key profile '{profile}' in {catalog} is retired: nothing verifies.",
            code="profile_retired",
            conflict=True,
        )
    token = token.strip()
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    try:
        header, claims = jose.verify_compact(token, keys=verifier.keys)
    except jose.JoseError as e:
        raise jwt_verification_failure(e, verifier.retired) from e
    jwt_claims_check(claims, issuer=issuer_pattern, audience=audience_pattern, leeway=leeway)
    kid = header.get("kid") if isinstance(header.get("kid"), str) else None
    return ValidatedToken(claims=claims, header=header, kid=kid, crypto_object=_verifying_object(token, kid, verifier))


def _verifying_object(token: str, kid: str | None, verifier: ProfileVerifier) -> str:
    """The crypto object whose key verified ``token``. The ``kid`` is inside the verified header, so one of our
    own keys wrote it; only a custom kid (jwt-generate's ``custom-kid-value-jws``) costs a search."""
    if kid is not None and kid in verifier.crypto_objects:
        return verifier.crypto_objects[kid]
    for key in verifier.keys:
        try:
            jose.verify_compact(token, keys=(key,))
        except jose.JoseError:
            continue
        return verifier.crypto_objects.get(key.thumbprint(), "")
    return ""


@lru_cache(maxsize=256)
def _compiled(text: str) -> re.Pattern[str]:
    return re.compile(text)


def _pattern(text: str | None, claim: str) -> re.Pattern[str] | None:
    """``text`` compiled (cached), None when empty. Raises TokenServiceError naming the claim when ``text`` is
    not a regular expression, or is one that may backtrack catastrophically (``portal.claim_patterns``): the
    caller chooses the pattern, and one match must not pin a worker."""
    if not text:
        return None
    try:
        compiled = _compiled(text)
    except re.error as e:
        raise TokenServiceError(
            f"The {claim} pattern is not a valid regular expression ({e}).", code="pattern_invalid", field=claim
        ) from e
    risk = pattern_risk(text)
    if risk is not None:
        raise TokenServiceError(
            f"The {claim} pattern is refused: {risk}, which can make matching take exponential time.",
            code="pattern_unsafe",
            field=claim,
        )
    return compiled
