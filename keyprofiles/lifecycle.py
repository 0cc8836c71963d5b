"""Key life cycle: profile versions and their states in a catalog, and re-sealing under a new master key.

State changes are services: audited, idempotent (asking for the state a binding already has changes
nothing), and safe under concurrency (the binding row is locked while it changes). Moving APIs to a new key
is the token side's business: ``tokens.rotation`` drives rotations and calls these.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from keyprofiles import keycache, keymaterial, services
from keyprofiles.models import KeyProfile, KeyProfileBinding, Keystore
from keyprofiles.sealing import SealedBox, SealingError, master_key_ring
from portal.invalidation import bump_version
from portal.models import Catalog
from portal.services import Actor, audit_record

State = KeyProfileBinding.State


def version_after(version: str, taken: set[str]) -> str:
    """The next patch version not in ``taken``: 1.0.0 becomes 1.0.1 (or 1.0.2 when 1.0.1 exists)."""
    major, minor, patch = (int(part) for part in version.split("."))
    candidate = f"{major}.{minor}.{patch + 1}"
    while candidate in taken:
        patch += 1
        candidate = f"{major}.{minor}.{patch + 1}"
    return candidate


def profile_bindings(*, catalog: Catalog, name: str) -> QuerySet[KeyProfileBinding]:
    """Every version of profile ``name`` enabled in ``catalog``, newest first."""
    return (
        KeyProfileBinding.objects.filter(
            catalog=catalog, profile__name=name, profile__organization=catalog.organization
        )
        .select_related("profile__keystore", "profile__truststore", "catalog__organization")
        .order_by("-profile__created_at", "-pk")
    )


def active_binding(*, catalog: Catalog, name: str) -> KeyProfileBinding | None:
    """The version of profile ``name`` that signs in ``catalog`` (the newest active one)."""
    return profile_bindings(catalog=catalog, name=name).filter(state=State.ACTIVE).first()


@transaction.atomic
def binding_transition(
    *,
    binding: KeyProfileBinding,
    state: str,
    actor: Actor,
    activates_at: datetime | None = None,
    grace_ends_at: datetime | None = None,
    now: datetime | None = None,
) -> KeyProfileBinding:
    """Move a profile version in a catalog to ``state``. Idempotent; a retired version stays retired.

    Raises ValidationError for a retired version asked to come back, or a missing time.
    """
    locked = KeyProfileBinding.objects.select_for_update().get(pk=binding.pk)
    if locked.state == state:
        return locked
    if locked.state == State.RETIRED:
        raise ValidationError(f"{locked} is retired; a retired key never signs or verifies again.")
    previous = locked.state
    locked.state = state
    locked.state_changed_at = now or timezone.now()
    locked.activates_at = activates_at if state == State.NEXT else None
    locked.grace_ends_at = grace_ends_at if state == State.PASSIVE else None
    locked.full_clean()
    locked.save()
    audit_record(
        actor=actor,
        action=f"keyprofile.{state}",
        target=locked.profile,
        organization=locked.profile.organization,
        detail={
            "catalog": locked.catalog.slug,
            "version": locked.profile.version,
            "from": previous,
            "to": state,
            "activates_at": activates_at.isoformat() if activates_at and state == State.NEXT else None,
            "grace_ends_at": grace_ends_at.isoformat() if grace_ends_at and state == State.PASSIVE else None,
        },
    )
    bump_version(catalog_id=locked.catalog_id, keys=True)
    return locked


def keystore_like(*, template: Keystore, name: str, actor: Actor, bits: int | None = None, now: datetime) -> Keystore:
    """A new generated keystore shaped like ``template``: same key type, size or curve, Common Name and
    validity length. Raises KeyMaterialError when the template cannot be reproduced (e.g. an odd RSA size)."""
    days = (
        max(1, (template.not_after - template.not_before).days) if template.not_after and template.not_before else 365
    )
    common_name = keymaterial.common_name_of(template.certificate_pem) or template.name
    return services.keystore_generate(
        organization=template.organization,
        name=name,
        common_name=common_name,
        key_type=template.key_type,
        bits=bits or template.key_size,
        curve=template.curve or "P-256",
        days=min(days, keymaterial.MAX_DAYS),
        actor=actor,
        now=now,
    )


_VERSION_SUFFIX = re.compile(r"(?: \d+\.\d+\.\d+)+(?: \(\d+\))?$")


def unique_keystore_name(*, template: Keystore, version: str) -> str:
    """``<template's name without an earlier version suffix> <version>``, made unique in the organization:
    "JWT Keystore" becomes "JWT Keystore 1.0.1", and "JWT Keystore 1.0.1" becomes "JWT Keystore 1.0.2"."""
    base = f"{_VERSION_SUFFIX.sub('', template.name)} {version}"
    name, n = base, 1
    while Keystore.objects.filter(organization=template.organization, name=name).exists():
        n += 1
        name = f"{base} ({n})"
    return name


def keyprofile_new_version(*, profile: KeyProfile, version: str, keystore: Keystore, actor: Actor) -> KeyProfile:
    """A new version of ``profile`` (same title, truststore and signing algorithm) using ``keystore``; not yet
    enabled anywhere. Raises ValidationError when ``keystore`` is already fixed to another algorithm."""
    return services.keyprofile_create(
        organization=profile.organization,
        title=profile.title,
        version=version,
        keystore=keystore,
        truststore=profile.truststore,
        catalogs=(),
        algorithm=profile.keystore.algorithm if profile.keystore is not None else "",
        actor=actor,
    )


def keystores_to_reseal(key_id: str) -> QuerySet[Keystore]:
    return Keystore.objects.exclude(sealed_key_id=key_id).order_by("pk")


def keystores_reseal(
    *, key_id: str, actor: Actor, batch_size: int = 100, progress: Callable[[int, int], None] | None = None
) -> int:
    """Re-seal every private key and secret under master key ``key_id``; returns how many were re-sealed.

    Works in batches, each in its own transaction, so it can be interrupted and run again (it resumes with
    the keys not yet under ``key_id``). Every key stays readable throughout: a box is replaced only by a box
    that opens under a key of the ring. Raises SealingError when ``key_id`` is not in the ring or a key does
    not open.
    """
    ring = master_key_ring()
    if key_id not in ring.key_ids:
        raise SealingError(f"Master key {key_id!r} is not in PORTAL_MASTER_KEYS; add it there first.")
    total = keystores_to_reseal(key_id).count()
    done = 0
    for batch in _batches(key_id, batch_size):
        with transaction.atomic():
            for keystore in Keystore.objects.select_for_update().filter(pk__in=batch).exclude(sealed_key_id=key_id):
                identity = keystore.seal_identity
                plaintext = ring.unseal(
                    SealedBox(keystore.sealed_key_id, bytes(keystore.sealed_nonce), bytes(keystore.sealed_ciphertext)),
                    identity=identity,
                )
                box = ring.seal(plaintext, identity=identity, key_id=key_id)
                previous = keystore.sealed_key_id
                keystore.sealed_key_id, keystore.sealed_nonce, keystore.sealed_ciphertext = (
                    box.key_id,
                    box.nonce,
                    box.ciphertext,
                )
                keystore.save(update_fields=["sealed_key_id", "sealed_nonce", "sealed_ciphertext"])
                audit_record(
                    actor=actor,
                    action="keystore.reseal",
                    target=keystore,
                    organization=keystore.organization,
                    detail={"from_master_key": previous, "to_master_key": key_id},
                )
                done += 1
        if progress is not None:
            progress(done, total)
    keycache.clear()
    return done


def _batches(key_id: str, size: int) -> Iterator[list[int]]:
    while True:
        batch = list(keystores_to_reseal(key_id).values_list("pk", flat=True)[:size])
        if not batch:
            return
        yield batch
