"""The crypto objects of one catalog, read in one query, and the resolver that compiles policies against them.

APIC's gateway resolves a policy's crypto object by name within the catalog the API is published in; so does
``CatalogCryptoResolver``. It reads the catalog's crypto objects once (``catalog_crypto_objects``) and
parses each key once, so compiling every publication of a catalog costs one query, not three per policy
(issue 14).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from keyprofiles import selectors
from keyprofiles.models import CryptoObject, KeyProfileBinding, Keystore
from keyprofiles.sealing import SealingError
from portal.models import Catalog
from tokens import jose
from tokens.assembly import DecryptionMaterial, EncryptionMaterial, SigningMaterial, VerificationMaterial


def catalog_crypto_objects(catalog: Catalog) -> list[CryptoObject]:
    """Every crypto object enabled in ``catalog`` (retired versions too), with its keystore, certificate,
    profile and catalog, newest profile version first."""
    return list(
        CryptoObject.objects.select_related(
            "keystore", "trusted_certificate", "binding__profile", "binding__catalog__organization"
        )
        .filter(binding__catalog=catalog)
        .order_by("-binding__profile__created_at", "-binding_id", "name")
    )


class CatalogCryptoResolver:
    """Resolves crypto object names within one catalog, as APIC's gateway does for a catalog's objects.

    Signing needs the active version of a profile. Verification with a keystore's object also accepts the
    other non-retired versions of the same profile in the catalog, so tokens signed before or after a
    rotation validate during the grace period (Keycloak's passive keys). Decryption does the same: tokens
    encrypted to the old version's certificate still decrypt while it is passive, and to the new one's as soon
    as it is enabled (``next``), before any API encrypts to it. A retired version does neither.

    The catalog's crypto objects are read on first use and kept for the resolver's life: make a new resolver
    after a change to the catalog's keys (the gateway rebuilds the catalog then).
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
        self._objects: list[CryptoObject] | None = None
        self._by_name: dict[str, CryptoObject] = {}
        self._materials: dict[int, selectors.CryptoMaterial] = {}
        # (use, name) -> what signing/verifying/... answered: every publication naming a key shares one parsed
        # key object (memory and build time scale with the keys, not with the publications)
        self._resolved: dict[tuple[str, str], Any] = {}

    def crypto_objects(self) -> Sequence[CryptoObject]:
        """The catalog's crypto objects (read once; see ``catalog_crypto_objects``)."""
        if self._objects is None:
            self._objects = catalog_crypto_objects(self.catalog)
            for crypto_object in self._objects:
                self._by_name.setdefault(crypto_object.name, crypto_object)
        return self._objects

    def _object(self, name: str) -> CryptoObject:
        self.crypto_objects()
        crypto_object = self._by_name.get(name)
        if crypto_object is None:
            raise LookupError(f"no crypto object '{name}' is enabled in catalog {self.catalog}")
        return crypto_object

    def _material(self, crypto_object: CryptoObject) -> selectors.CryptoMaterial:
        material = self._materials.get(crypto_object.pk)
        if material is None:
            try:
                material = selectors.crypto_material(crypto_object)
            except SealingError as e:
                raise LookupError(f"the key of '{crypto_object.name}' cannot be unsealed: {e}") from e
            self._materials[crypto_object.pk] = material
        return material

    def signing(self, name: str) -> SigningMaterial:
        resolved: SigningMaterial | None = self._resolved.get(("signing", name))
        if resolved is None:
            resolved = self._resolved[("signing", name)] = self._signing(name)
        return resolved

    def _signing(self, name: str) -> SigningMaterial:
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
        resolved: EncryptionMaterial | None = self._resolved.get(("encrypting", name))
        if resolved is None:
            resolved = self._resolved[("encrypting", name)] = self._encrypting(name)
        return resolved

    def _encrypting(self, name: str) -> EncryptionMaterial:
        crypto_object = self._object(name)
        material = self._material(crypto_object)
        if material.secret is not None:
            return EncryptionMaterial(jose.JweKey.from_secret(material.secret), material.kid)
        assert material.public_key is not None
        return EncryptionMaterial(jose.JweKey.from_public_key(material.public_key), material.kid)

    def decrypting(self, name: str) -> DecryptionMaterial:
        resolved: DecryptionMaterial | None = self._resolved.get(("decrypting", name))
        if resolved is None:
            resolved = self._resolved[("decrypting", name)] = self._decrypting(name)
        return resolved

    def _decrypting(self, name: str) -> DecryptionMaterial:
        crypto_object = self._object(name)
        if crypto_object.role == CryptoObject.Role.CERTIFICATE:
            raise LookupError(f"'{name}' is a certificate; decrypting needs a private key or secret (a '-key' object)")
        keys: list[jose.JweKey] = []
        # The named version first: outside a rotation's grace period it is the one that opens the token.
        for candidate in self._versions(crypto_object):
            if candidate.binding.state == KeyProfileBinding.State.RETIRED:
                continue
            material = self._material(candidate)
            if material.secret is not None:
                keys.append(jose.JweKey.from_secret(material.secret))
            else:
                assert material.private_key is not None
                keys.append(jose.JweKey.from_private_key(material.private_key))
        if not keys:
            raise LookupError(f"'{name}' and every other version of its profile are retired")
        return DecryptionMaterial(tuple(keys))

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
        resolved: VerificationMaterial | None = self._resolved.get(("verifying", name))
        if resolved is None:
            resolved = self._resolved[("verifying", name)] = self._verifying(name)
        return resolved

    def _versions(self, crypto_object: CryptoObject) -> list[CryptoObject]:
        """``crypto_object``, then (for a keystore's object) the key objects of the profile's other versions
        enabled in the catalog, newest first, whatever their state."""
        candidates = [crypto_object]
        if crypto_object.keystore is not None:
            profile = crypto_object.binding.profile
            candidates.extend(
                sibling
                for sibling in self.crypto_objects()
                if sibling.binding_id != crypto_object.binding_id
                and sibling.keystore_id is not None
                and sibling.role in (CryptoObject.Role.PRIVATE_KEY, CryptoObject.Role.SECRET)
                and sibling.binding.profile.organization_id == profile.organization_id
                and sibling.binding.profile.name == profile.name
            )
        return candidates

    def _verifying(self, name: str) -> VerificationMaterial:
        keys: list[jose.JwsKey] = []
        retired: dict[str, str] = {}
        for candidate in self._versions(self._object(name)):
            material = self._material(candidate)
            if candidate.binding.state == KeyProfileBinding.State.RETIRED:
                retired[material.kid] = str(candidate.binding.profile)
            elif material.secret is not None:
                keys.append(jose.JwsKey.from_secret(material.secret))
            else:
                assert material.public_key is not None
                keys.append(jose.JwsKey.from_public_key(material.public_key))
        return VerificationMaterial(tuple(keys), retired)
