"""Key rotation without a failed request.

``keyprofile_rotate`` makes a new keystore and a new profile version and enables it in the catalog as
``next``: every process verifies with it and the JWKS lists it, but nothing signs with it yet. Once every
process has seen that (a few seconds; or after the ``--prepublish`` period), the new version is activated:
every served API that names the old version's crypto objects moves to the new ones (its snapshot is
republished with only the key names changed) and the old version turns passive for a grace period at least
as long as the longest token validity among the APIs that signed with it or encrypted to it.
``lifecycle_tick`` activates pre-published versions when their time comes and retires passive versions whose
grace has ended; run it every minute (``manage.py retire_keys``).

Encrypted tokens (the policies' ``jwe-crypto``, renamed like ``jws-crypto``) follow the same two steps. The
decrypting side is ready first: ``jwt-validate`` decrypts with every non-retired version of the profile it
names (``CatalogCryptoResolver.decrypting``), so once the new version is ``next`` every process opens tokens
encrypted to either key. Only then, at activation, does ``jwt-generate`` encrypt to the new version's
certificate; tokens encrypted to the old one before that keep decrypting until the old version retires.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from keyprofiles import lifecycle
from keyprofiles import services as keyprofile_services
from keyprofiles.models import CryptoObject, KeyProfileBinding, Keystore
from portal.invalidation import propagation_seconds
from portal.models import Catalog
from portal.services import Actor, audit_record
from tokens import services
from tokens.assembly import document_compile
from tokens.errors import ApiError, TokensError
from tokens.models import Publication
from tokens.policies.base import PolicyKind
from tokens.policies.jwt_generate import DEFAULT_VALIDITY_SECONDS
from tokens.policies.registry import policy_kind
from tokens.policies.walker import PolicyVisit, assembly_walk
from tokens.runtime import CatalogCryptoResolver

State = KeyProfileBinding.State


class RotationError(TokensError):
    """A rotation cannot be done as asked; the message says why and what to do."""

    default_code = "rotation_refused"


@dataclass(frozen=True)
class KeySource:
    """Where the new key comes from: generated like the current one (optionally with other RSA bits), an
    existing keystore, or uploaded files."""

    bits: int | None = None
    keystore: Keystore | None = None
    certificate: bytes | None = None
    private_key: bytes | None = None
    chain: bytes | None = None
    password: bytes | None = None

    def describe(self) -> str:
        if self.keystore is not None:
            return f"keystore '{self.keystore.name}'"
        if self.certificate is not None:
            return "uploaded certificate and key"
        return "generated like the current key" + (f" (RSA {self.bits})" if self.bits else "")


@dataclass
class RotationPlan:
    organization: str
    catalog: str
    profile: str
    old_version: str
    new_version: str
    key_source: str
    grace: timedelta
    minimum_grace: timedelta
    prepublish: timedelta
    activates_at: datetime
    grace_ends_at: datetime
    apis: list[str] = field(default_factory=list)
    renames: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "organization": self.organization,
            "catalog": self.catalog,
            "profile": self.profile,
            "old_version": self.old_version,
            "new_version": self.new_version,
            "key_source": self.key_source,
            "grace_seconds": int(self.grace.total_seconds()),
            "prepublish_seconds": int(self.prepublish.total_seconds()),
            "activates_at": self.activates_at.isoformat(),
            "old_version_retires_at": self.grace_ends_at.isoformat(),
            "apis_moved": self.apis,
            "crypto_objects": self.renames,
            "dry_run": self.dry_run,
        }


def _key_naming_policies(document: dict[str, Any]) -> Iterator[tuple[PolicyVisit, PolicyKind]]:
    """The policies of the document's assembly, at any depth, whose kind names crypto objects, with their kind."""
    configuration = document.get("x-ibm-configuration")
    assembly = configuration.get("assembly") if isinstance(configuration, dict) else None
    if not isinstance(assembly, dict):
        return
    for visit in assembly_walk(assembly):
        kind = policy_kind(visit.kind)
        if kind is not None and kind.crypto_properties:
            yield visit, kind


def document_with_renamed_keys(document: dict[str, Any], renames: dict[str, str]) -> dict[str, Any] | None:
    """A copy of ``document`` whose policies name the new crypto objects (in the properties their kinds
    declare as naming crypto objects); None when none changed."""
    renamed = copy.deepcopy(document)
    changed = False
    for visit, kind in _key_naming_policies(renamed):
        for prop in kind.crypto_properties:
            name = visit.config.get(prop)
            if isinstance(name, str) and name in renames:
                visit.config[prop] = renames[name]
                changed = True
    return renamed if changed else None


def _token_validity(document: dict[str, Any], key_names: Collection[str]) -> int | None:
    """The longest validity of the tokens that depend on one of ``key_names`` (an old version's crypto objects):
    made by a policy that signs with a crypto object (``signs_with``) and names one of them in any of its crypto
    properties, that is, signs with it or encrypts to it (the old key must decrypt those until they expire).
    None if no policy does."""
    validities = [
        signing[1]
        for visit, kind in _key_naming_policies(document)
        if (signing := kind.signs_with(visit.config)) is not None
        and any(_names(visit.config.get(prop), key_names) for prop in kind.crypto_properties)
    ]
    return max(validities) if validities else None


def _names(value: object, key_names: Collection[str]) -> bool:
    return isinstance(value, str) and value in key_names


def _renames(old: KeyProfileBinding, new_prefix: str) -> dict[str, str]:
    old_prefix = old.profile.crypto_object_prefix
    return {
        name: name.replace(old_prefix, new_prefix, 1)
        for name in CryptoObject.objects.filter(binding=old).values_list("name", flat=True)
    }


def _served(catalog: Catalog) -> list[Publication]:
    return list(
        Publication.objects.select_for_update()
        .filter(catalog=catalog)
        .exclude(state=Publication.State.RETIRED)
        .select_related("api")
    )


def keyprofile_rotate(
    *,
    catalog: Catalog,
    name: str,
    source: KeySource,
    actor: Actor,
    new_version: str | None = None,
    grace: timedelta | None = None,
    prepublish: timedelta | None = None,
    dry_run: bool = False,
    wait: bool = True,
    now: datetime | None = None,
) -> RotationPlan:
    """Rotate profile ``name`` in ``catalog``. Returns the plan (carried out unless ``dry_run``).

    Two steps, so that no process ever meets a token signed by a key it does not know: first the new version
    is committed as ``next`` (every process verifies with it and the JWKS lists it); then, once every process
    has seen that (``propagation_seconds``, or the ``prepublish`` period when longer), it is activated: the
    APIs move to it and the old version turns passive. Without ``prepublish`` this call waits and activates
    it itself, unless ``wait`` is False (a console request, which must answer at once): then, as with
    ``prepublish``, ``lifecycle_tick`` (``retire_keys``, or a background step) activates it at
    ``plan.activates_at``.

    Raises RotationError (no active version, a rotation already pending, grace too short, version taken, an
    API that cannot sign with the new key), KeyMaterialError (the new key is refused) or ValidationError;
    nothing changes then.
    """
    moment = now or timezone.now()
    prepublish = prepublish or timedelta(0)
    settle = max(prepublish, timedelta(seconds=propagation_seconds()))
    with transaction.atomic():
        old = lifecycle.active_binding(catalog=catalog, name=name)
        if old is None:
            raise RotationError(
                f"Key profile '{name}' has no active version in {catalog}.", code="no_active_version", conflict=True
            )
        old = (
            KeyProfileBinding.objects.select_for_update(of=("self",)).select_related("profile__keystore").get(pk=old.pk)
        )
        if old.state != State.ACTIVE:
            raise RotationError(
                f"{old.profile} stopped being active in {catalog} while this rotation started.",
                code="no_active_version",
                conflict=True,
            )
        pending = lifecycle.profile_bindings(catalog=catalog, name=name).filter(state=State.NEXT).first()
        if pending is not None:
            raise RotationError(
                f"A rotation of '{name}' is already pending in {catalog}: version {pending.profile.version} "
                f"starts signing at {pending.activates_at:%Y-%m-%d %H:%M:%S} UTC.",
                code="rotation_pending",
                conflict=True,
            )
        if old.profile.keystore is None:
            raise RotationError(
                f"{old.profile} has no keystore: there is no key to rotate.", code="no_keystore", conflict=True
            )
        taken = set(old.profile.organization.keyprofiles.filter(name=name).values_list("version", flat=True))
        version = new_version or lifecycle.version_after(old.profile.version, taken)
        if version in taken:
            raise RotationError(
                f"Version {version} of '{name}' exists already; choose another --profile-version.",
                code="version_taken",
                field="version",
                conflict=True,
            )
        renames = _renames(old, f"tlsp-{old.profile.name}V{version}")
        publications = _served(catalog)
        validities = [v for p in publications if (v := _token_validity(p.document, renames)) is not None]
        minimum = timedelta(seconds=max(validities, default=DEFAULT_VALIDITY_SECONDS))
        grace = minimum if grace is None else grace
        if grace < minimum:
            raise RotationError(
                f"The grace period {_seconds(grace)} is shorter than {_seconds(minimum)}, the longest token "
                f"validity among the APIs that sign with or encrypt to {old.profile}: tokens minted just before the "
                "rotation would fail.",
                code="grace_too_short",
                field="grace",
            )
        activates_at = moment + settle
        plan = RotationPlan(
            organization=catalog.organization.slug,
            catalog=catalog.slug,
            profile=name,
            old_version=old.profile.version,
            new_version=version,
            key_source=source.describe(),
            grace=grace,
            minimum_grace=minimum,
            prepublish=prepublish,
            activates_at=activates_at,
            grace_ends_at=activates_at + grace,
            apis=sorted(str(p.api) for p in publications if document_with_renamed_keys(p.document, renames)),
            renames=renames,
            dry_run=dry_run,
        )
        _check_source(old.profile.keystore, source)
        if dry_run:
            return plan

        keystore = _new_keystore(old.profile.keystore, source, version=version, actor=actor, now=moment)
        profile = lifecycle.keyprofile_new_version(profile=old.profile, version=version, keystore=keystore, actor=actor)
        new = keyprofile_services.keyprofile_enable(profile=profile, catalog=catalog, actor=actor)
        new.replaces = old
        new.pending_grace = grace
        new.save(update_fields=["replaces", "pending_grace"])
        new = lifecycle.binding_transition(
            binding=new, state=State.NEXT, activates_at=activates_at, actor=actor, now=moment
        )
        _check_moves(publications, renames, new)
        audit_record(
            actor=actor,
            action="keyprofile.rotate",
            target=profile,
            organization=catalog.organization,
            detail=plan.as_dict(),
        )
    if prepublish > timedelta(0) or not wait:
        return plan
    # Every process learns the new key (it verifies) before any process signs with it.
    wait_for_propagation(settle.total_seconds())
    _activate_due(new, actor=actor, now=activates_at)
    return plan


def wait_for_propagation(seconds: float) -> None:
    """Sleep while every process picks up the new version (tests of a single process replace it)."""
    time.sleep(seconds)


def _check_moves(publications: list[Publication], renames: dict[str, str], new: KeyProfileBinding) -> None:
    """Refuse the rotation unless every API it will move compiles with the new version signing."""
    resolver = CatalogCryptoResolver(new.catalog, also_signing=frozenset({new.pk}), publishing=True)
    for publication in publications:
        snapshot = document_with_renamed_keys(publication.document, renames)
        if snapshot is None:
            continue
        try:
            document_compile(snapshot, resolver, catalog=new.catalog)
        except ApiError as e:
            raise RotationError(
                f"{publication.api} cannot use the new key {new.profile}: {e}", code="api_cannot_use_key", conflict=True
            ) from e


def _activate_due(binding: KeyProfileBinding, *, actor: Actor, now: datetime) -> bool:
    """Activate a ``next`` version (it replaces the one recorded in ``replaces``). Returns False when another
    process did it first."""
    with transaction.atomic():
        locked = KeyProfileBinding.objects.select_for_update(of=("self",)).select_related("replaces").get(pk=binding.pk)
        if locked.state != State.NEXT:
            return False
        grace = locked.pending_grace or timedelta(seconds=DEFAULT_VALIDITY_SECONDS)
        _activate(new=locked, old=locked.replaces, grace_ends_at=now + grace, actor=actor, now=now)
    return True


def _seconds(delta: timedelta) -> str:
    return f"{int(delta.total_seconds())} s"


def _check_source(template: Keystore, source: KeySource) -> None:
    """Refuse a key source that cannot replace ``template`` (checked in a dry run too)."""
    if source.keystore is not None:
        if source.keystore.organization_id != template.organization_id:
            raise RotationError(f"Keystore '{source.keystore.name}' belongs to another organization.", field="keystore")
        if source.keystore.kind != template.kind:
            raise RotationError(
                f"Keystore '{source.keystore.name}' is not of the same kind as '{template.name}'.",
                code="keystore_kind_mismatch",
                field="keystore",
            )
        _check_source_algorithm(template, source.keystore)
    if source.bits is not None and template.key_type != "RSA":
        raise RotationError(
            f"--bits sets an RSA key size, but '{template.name}' holds a {template.key_type} key; "
            "a generated key keeps the current key's type (and curve).",
            field="bits",
        )


def _check_source_algorithm(template: Keystore, keystore: Keystore) -> None:
    """The new key signs with the algorithm the old one was fixed to (one key, one algorithm)."""
    algorithm = template.algorithm
    if not algorithm:
        return
    if algorithm not in keystore.signing_algorithms():
        raise RotationError(
            f"'{template.name}' signs with {algorithm}, which does not fit the {keystore.key_type} key of "
            f"'{keystore.name}'."
        )
    if keystore.algorithm and keystore.algorithm != algorithm:
        raise RotationError(
            f"'{template.name}' signs with {algorithm}, but '{keystore.name}' signs with {keystore.algorithm} only "
            "(one key, one algorithm)."
        )


def _new_keystore(template: Keystore, source: KeySource, *, version: str, actor: Actor, now: datetime) -> Keystore:
    if source.keystore is not None:
        return source.keystore
    name = lifecycle.unique_keystore_name(template=template, version=version)
    if source.certificate is not None or source.private_key is not None:
        return keyprofile_services.keystore_import(
            organization=template.organization,
            name=name,
            certificate=source.certificate,
            private_key=source.private_key,
            chain=source.chain,
            password=source.password,
            actor=actor,
            now=now,
        )
    if template.kind == Keystore.Kind.SECRET:
        return keyprofile_services.keystore_secret_create(organization=template.organization, name=name, actor=actor)
    return lifecycle.keystore_like(template=template, name=name, bits=source.bits, actor=actor, now=now)


def _activate(
    *, new: KeyProfileBinding, old: KeyProfileBinding | None, grace_ends_at: datetime, actor: Actor, now: datetime
) -> list[str]:
    """Make ``new`` sign: move the served APIs from ``old``'s crypto objects to ``new``'s, republish them,
    and make ``old`` passive until ``grace_ends_at``. Returns the APIs moved."""
    lifecycle.binding_transition(binding=new, state=State.ACTIVE, actor=actor, now=now)
    moved: list[str] = []
    if old is None:
        return moved
    renames = _renames(old, new.profile.crypto_object_prefix)
    for publication in _served(new.catalog):
        snapshot = document_with_renamed_keys(publication.document, renames)
        if snapshot is None:
            continue
        draft = document_with_renamed_keys(publication.api.document, renames)
        if draft is not None:
            services.api_save(organization=publication.api.organization, document=draft, actor=actor)
        services.api_publish(api=publication.api, catalog=new.catalog, actor=actor, document=snapshot, keep_state=True)
        moved.append(str(publication.api))
    if old.state == State.ACTIVE:
        lifecycle.binding_transition(
            binding=old, state=State.PASSIVE, grace_ends_at=grace_ends_at, actor=actor, now=now
        )
    return moved


@dataclass
class TickReport:
    activated: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)


def lifecycle_tick(*, actor: Actor, now: datetime | None = None, dry_run: bool = False) -> TickReport:
    """Activate next versions whose time has come and retire passive versions whose grace has ended.

    Safe to run every minute and from several hosts at once: each binding is locked while it changes, and a
    binding already moved is left alone.
    """
    moment = now or timezone.now()
    report = TickReport()
    due = KeyProfileBinding.objects.filter(state=State.NEXT, activates_at__lte=moment).select_related(
        "profile", "catalog__organization", "replaces"
    )
    for binding in due:
        report.activated.append(f"{binding.profile} in {binding.catalog}")
        if not dry_run:
            _activate_due(binding, actor=actor, now=moment)
    ended = KeyProfileBinding.objects.filter(state=State.PASSIVE, grace_ends_at__lte=moment).select_related(
        "profile", "catalog__organization"
    )
    for binding in ended:
        report.retired.append(f"{binding.profile} in {binding.catalog}")
        if not dry_run:
            lifecycle.binding_transition(binding=binding, state=State.RETIRED, actor=actor, now=moment)
    return report


def profiles_expiring(*, within_days: int, now: datetime | None = None) -> list[tuple[Catalog, str]]:
    """(catalog, profile name) of every active version whose certificate expires within ``within_days`` and
    whose profile has no rotation pending in that catalog already."""
    horizon = (now or timezone.now()) + timedelta(days=within_days)
    pending = KeyProfileBinding.objects.filter(state=State.NEXT)
    bindings = (
        KeyProfileBinding.objects.filter(state=State.ACTIVE, profile__keystore__not_after__lte=horizon)
        .exclude(
            Exists(
                pending.filter(
                    catalog=OuterRef("catalog"),
                    profile__organization=OuterRef("profile__organization"),
                    profile__name=OuterRef("profile__name"),
                )
            )
        )
        .select_related("catalog__organization", "profile")
    )
    return sorted({(b.catalog, b.profile.name) for b in bindings}, key=lambda pair: (str(pair[0]), pair[1]))
