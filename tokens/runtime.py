"""The gateway's warm state, per process (DESIGN.md section 5).

For each catalog: its served publications compiled to routes, the credentials of its apps, and its JWKS.
The state is built from the database on first use and kept until the shared configuration version moves
(``portal.invalidation``); a warm request makes no database query and parses no key. A rebuild that fails
(the database is down) keeps serving the last good state.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import threading
from dataclasses import dataclass
from typing import Any

from keyprofiles import keymaterial, selectors
from keyprofiles.models import CryptoObject, KeyProfileBinding, Keystore
from keyprofiles.sealing import SealingError
from portal.invalidation import VersionWatch
from portal.models import Catalog
from tokens import credentials, jose
from tokens.assembly import (
    CompiledAssembly,
    EncryptionMaterial,
    SigningMaterial,
    VerificationMaterial,
    assembly_compile,
)
from tokens.documents import Operation, document_describe
from tokens.models import ConsumerApp, Publication

logger = logging.getLogger(__name__)

JWKS_MAX_AGE = 300
_NEGATIVE_CACHE_LIMIT = 1024


class CatalogCryptoResolver:
    """Resolves crypto object names within one catalog, as APIC's gateway does for a catalog's objects.

    Signing needs the active version of a profile. Verification with a keystore's object also accepts the
    other non-retired versions of the same profile in the catalog, so tokens signed before or after a
    rotation validate during the grace period (Keycloak's passive keys).
    """

    def __init__(
        self, catalog: Catalog, *, also_signing: frozenset[int] = frozenset(), publishing: bool = False
    ) -> None:
        """``also_signing``: bindings treated as active for signing (a rotation checks, before the new version
        signs, that every API it moves can sign with it).

        ``publishing``: hold signing policies to the algorithm fixed for each key, and collect in
        ``algorithm_uses`` the keys a policy signs with, so that the publication can fix their algorithm. A
        snapshot already served is compiled without it: it was accepted when it was published.
        """
        self.catalog = catalog
        self.also_signing = also_signing
        self.publishing = publishing
        self.algorithm_uses: list[tuple[Keystore, str]] = []

    def _object(self, name: str) -> CryptoObject:
        crypto_object = (
            CryptoObject.objects.select_related(
                "keystore", "trusted_certificate", "binding__profile", "binding__catalog__organization"
            )
            .filter(name=name, binding__catalog=self.catalog)
            .first()
        )
        if crypto_object is None:
            raise LookupError(f"no crypto object '{name}' is enabled in catalog {self.catalog}")
        return crypto_object

    def _material(self, crypto_object: CryptoObject) -> selectors.CryptoMaterial:
        try:
            return selectors.crypto_material(crypto_object)
        except SealingError as e:
            raise LookupError(f"the key of '{crypto_object.name}' cannot be unsealed: {e}") from e

    def signing(self, name: str) -> SigningMaterial:
        crypto_object = self._object(name)
        if crypto_object.role == CryptoObject.Role.CERTIFICATE:
            raise LookupError(f"'{name}' is a certificate; signing needs a private key or secret (a '-key' object)")
        binding = crypto_object.binding
        if binding.state != KeyProfileBinding.State.ACTIVE and binding.pk not in self.also_signing:
            raise LookupError(
                f"'{name}' belongs to {binding.profile} which is {binding.state} in {self.catalog}; "
                "only an active version signs"
            )
        material = self._material(crypto_object)
        if material.secret is not None:
            return SigningMaterial(jose.JwsKey.from_secret(material.secret), material.kid)
        assert material.private_key is not None
        return SigningMaterial(jose.JwsKey.from_private_key(material.private_key), material.kid)

    def encrypting(self, name: str) -> EncryptionMaterial:
        crypto_object = self._object(name)
        material = self._material(crypto_object)
        if material.secret is not None:
            return EncryptionMaterial(jose.JweKey.from_secret(material.secret), material.kid)
        assert material.public_key is not None
        return EncryptionMaterial(jose.JweKey.from_public_key(material.public_key), material.kid)

    def decrypting(self, name: str) -> EncryptionMaterial:
        crypto_object = self._object(name)
        if crypto_object.role == CryptoObject.Role.CERTIFICATE:
            raise LookupError(f"'{name}' is a certificate; decrypting needs a private key or secret (a '-key' object)")
        material = self._material(crypto_object)
        if material.secret is not None:
            return EncryptionMaterial(jose.JweKey.from_secret(material.secret), material.kid)
        assert material.private_key is not None
        return EncryptionMaterial(jose.JweKey.from_private_key(material.private_key), material.kid)

    def signing_algorithm_use(self, name: str, alg: str) -> None:
        if not self.publishing:
            return
        keystore = self._object(name).keystore
        if keystore is None:
            return
        if keystore.algorithm and keystore.algorithm != alg:
            raise LookupError(
                f"{alg} cannot sign with '{name}': its key signs with {keystore.algorithm} only "
                "(one key, one algorithm; the JWKS states it)"
            )
        self.algorithm_uses.append((keystore, alg))

    def verifying(self, name: str) -> VerificationMaterial:
        crypto_object = self._object(name)
        candidates = [crypto_object]
        if crypto_object.keystore is not None:
            siblings = (
                CryptoObject.objects.select_related("keystore", "binding__profile")
                .filter(
                    binding__catalog=self.catalog,
                    binding__profile__organization=crypto_object.binding.profile.organization_id,
                    binding__profile__name=crypto_object.binding.profile.name,
                    keystore__isnull=False,
                    role__in=(CryptoObject.Role.PRIVATE_KEY, CryptoObject.Role.SECRET),
                )
                .exclude(binding=crypto_object.binding)
                .order_by("-binding__profile__created_at")
            )
            candidates.extend(siblings)
        keys: list[jose.JwsKey] = []
        retired: dict[str, str] = {}
        for candidate in candidates:
            material = self._material(candidate)
            if candidate.binding.state == KeyProfileBinding.State.RETIRED:
                retired[material.kid] = str(candidate.binding.profile)
            elif material.secret is not None:
                keys.append(jose.JwsKey.from_secret(material.secret))
            else:
                assert material.public_key is not None
                keys.append(jose.JwsKey.from_public_key(material.public_key))
        return VerificationMaterial(tuple(keys), retired)


@dataclass(frozen=True)
class Route:
    """One served publication: where it listens, what it asks of callers, and its compiled assembly."""

    api: str
    base_path: str
    deprecated: bool
    operations: tuple[tuple[re.Pattern[str], Operation], ...]
    assembly: CompiledAssembly
    client_id_required: bool
    client_secret_required: bool
    subscribers: frozenset[str]

    def match(self, path: str, verb: str) -> tuple[Operation | None, list[str]]:
        """The operation for a path and verb, and the verbs the path allows (empty: no such path)."""
        allowed: list[str] = []
        for pattern, operation in self.operations:
            if pattern.fullmatch(path):
                if operation.verb == verb:
                    return operation, [operation.verb]
                allowed.append(operation.verb)
        return None, allowed


def _path_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^{}/]+\})", template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))


def _client_key(client_id: str) -> bytes:
    # Apps are found by a digest of the client id, then compared in constant time: no timing oracle on ids.
    return hashlib.sha256(client_id.encode()).digest()


@dataclass
class CatalogState:
    organization: str
    catalog: str
    routes: tuple[Route, ...]
    apps: dict[bytes, tuple[str, str]]  # digest of client id -> (client id, secret hash or "")
    jwks: bytes

    def route_for(self, path: str) -> tuple[Route, str] | None:
        """The route whose base path prefixes ``path``, and the rest of the path; longest base path wins."""
        for route in self.routes:
            base = route.base_path
            if path == base or path.startswith(base + "/"):
                return route, path[len(base) :] or "/"
        return None

    def client_allowed(self, route: Route, client_id: str | None, secret: str | None) -> bool:
        if not route.client_id_required:
            return True
        if not client_id:
            return False
        entry = self.apps.get(_client_key(client_id))
        if entry is None or not hmac.compare_digest(entry[0], client_id) or client_id not in route.subscribers:
            return False
        if route.client_secret_required:
            return bool(secret) and bool(entry[1]) and credentials.secret_matches(secret or "", entry[1])
        return True


def _jwks(catalog: Catalog) -> bytes:
    """The public keys of the catalog's crypto objects, one entry per key (RFC 7517 section 5)."""
    keys: dict[str, dict[str, Any]] = {}
    served = selectors.crypto_object_list(organization=catalog.organization.slug, catalog=catalog.slug).exclude(
        binding__state=KeyProfileBinding.State.RETIRED
    )
    for crypto_object in served:
        certificate = crypto_object.certificate
        if certificate is None:  # shared secrets are never published
            continue
        chain_pem = crypto_object.keystore.chain_pem if crypto_object.keystore is not None else ""
        jwk: dict[str, Any] = keymaterial.public_jwk(
            keymaterial.public_key_from_certificate_pem(certificate.certificate_pem)
        )
        kid = keymaterial.jwk_thumbprint(jwk)
        if kid in keys:
            continue
        jwk.update(
            {
                "kid": kid,
                "use": "sig",
                "alg": _jwks_algorithm(crypto_object, jwk),
                "x5c": [keymaterial.certificate_der_b64(pem) for pem in _pems(certificate.certificate_pem + chain_pem)],
                "x5t#S256": keymaterial.certificate_sha256_thumbprint(certificate.certificate_pem),
            }
        )
        keys[kid] = jwk
    return json.dumps({"keys": list(keys.values())}, separators=(",", ":")).encode()


def _jwks_algorithm(crypto_object: CryptoObject, jwk: dict[str, Any]) -> str:
    """The algorithm the key signs with: fixed per keystore (RFC 8725 section 3.1), so that verifiers that
    match a token's ``alg`` to the JWK's (PyJWT ``PyJWKClient``, joserfc, node jose) accept it. A trusted
    certificate signs elsewhere; it is announced with its key type's natural algorithm."""
    if crypto_object.keystore is not None and crypto_object.keystore.effective_algorithm:
        return crypto_object.keystore.effective_algorithm
    if jwk.get("kty") == "EC":
        return {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}[jwk["crv"]]
    return "RS256"


def _pems(text: str) -> list[str]:
    end = "-----END CERTIFICATE-----"
    return [block + end + "\n" for block in text.split(end) if "-----BEGIN CERTIFICATE-----" in block]


def catalog_state_build(catalog: Catalog) -> CatalogState:
    """Build a catalog's state from the database. A publication that no longer compiles (say, its crypto
    object was removed) is left out and logged rather than taking the catalog down."""
    routes: list[Route] = []
    resolver = CatalogCryptoResolver(catalog)
    publications = (
        Publication.objects.filter(catalog=catalog)
        .exclude(state=Publication.State.RETIRED)
        .select_related("api")
        .prefetch_related("subscribers")
    )
    for publication in publications:
        try:
            description = document_describe(publication.document)
            assembly = assembly_compile(description.assembly, resolver)
        except Exception as e:  # one broken snapshot must not stop the others from serving
            logger.error("publication not served", extra={"api": str(publication.api), "error": str(e)})
            continue
        routes.append(
            Route(
                api=str(publication.api),
                base_path=publication.base_path,
                deprecated=publication.state == Publication.State.DEPRECATED,
                operations=tuple((_path_pattern(op.path), op) for op in description.operations),
                assembly=assembly,
                client_id_required=description.client_id_required,
                client_secret_required=description.client_secret_required,
                subscribers=frozenset(app.client_id for app in publication.subscribers.all()),
            )
        )
    routes.sort(key=lambda route: len(route.base_path), reverse=True)
    apps = {
        _client_key(client_id): (client_id, secret_hash)
        for client_id, secret_hash in ConsumerApp.objects.filter(catalog=catalog).values_list(
            "client_id", "client_secret_hash"
        )
    }
    return CatalogState(
        organization=catalog.organization.slug,
        catalog=catalog.slug,
        routes=tuple(routes),
        apps=apps,
        jwks=_jwks(catalog),
    )


class Gateway:
    """The per-process cache of catalog states, dropped whenever the shared version moves."""

    def __init__(self) -> None:
        self._states: dict[tuple[str, str], CatalogState | None] = {}
        # The states from before the last version change: served if a rebuild fails.
        self._previous: dict[tuple[str, str], CatalogState | None] = {}
        self._lock = threading.Lock()
        self._watch = VersionWatch()

    def catalog_state(self, organization: str, catalog: str) -> CatalogState | None:
        """The catalog's state, or None when there is no such catalog. May raise a database error when cold."""
        if self._watch.changed():
            with self._lock:
                self._previous = {**self._previous, **self._states}
                self._states = {}
        key = (organization, catalog)
        try:
            return self._states[key]
        except KeyError:
            pass
        with self._lock:
            if key in self._states:
                return self._states[key]
            try:
                row = (
                    Catalog.objects.select_related("organization")
                    .filter(organization__slug=organization, slug=catalog)
                    .first()
                )
                state = catalog_state_build(row) if row is not None else None
            except Exception:
                previous = self._previous.get(key)
                if previous is None:
                    raise
                logger.warning("catalog state rebuild failed; serving the last good state", exc_info=True)
                state = previous
            if state is None and len(self._states) > _NEGATIVE_CACHE_LIMIT:
                self._states = {k: v for k, v in self._states.items() if v is not None}
            self._states[key] = state
            return state

    def is_warm(self) -> bool:
        """True when this process holds the state of at least one catalog (it can serve without the database)."""
        return any(state is not None for state in (*self._states.values(), *self._previous.values()))

    def reset(self) -> None:
        with self._lock:
            self._states = {}
            self._previous = {}
            self._watch.reset()


gateway = Gateway()
