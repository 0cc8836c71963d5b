"""Key rotation without a failed request.

``keyprofile_rotate`` makes a new keystore and a new profile version and enables it in the catalog as
``next``: every process verifies with it and the JWKS lists it, but nothing signs with it yet. Once every
process has seen that (a few seconds; or after the ``--prepublish`` period), the new version is activated:
every served API that names the old version's crypto objects moves to the new ones (its snapshot is
republished with only the key names changed) and the old version turns passive for a grace period at least
as long as the longest token validity among the APIs that signed with it or encrypted to it.
``lifecycle_tick`` activates pre-published versions when their time comes and retires passive versions whose
grace has ended; run it every minute (``manage.py retire_keys``).

An API may name a key through an API property (``jws-crypto: $(signing-key)``). Rotation reads each served API
with its property values in the catalog substituted (its ``ApiScope``, as the gateway compiles it), so such an
API is listed, counted and checked like one naming the key literally; at activation the property's value moves
to the new crypto object where it lives: the document's value for the catalog or its default (the snapshot is
republished, the draft saved), or the operator's value in the catalog (``api_property_set``, which has the
gateway recompile the publication). A name built from parts (``..._tlsp-$(profile)V1.0.0-key``) cannot be
renamed, so a rotation it depends on is refused.

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
from keyprofiles.models import CryptoObject, KeyProfile, KeyProfileBinding, Keystore
from portal.invalidation import propagation_seconds
from portal.models import Catalog
from portal.services import Actor, audit_record
from tokens import services
from tokens.assembly import assembly_compile
from tokens.documents import document_describe
from tokens.errors import ApiError, DocumentError, TokensError
from tokens.models import Publication
from tokens.policies.base import PolicyKind
from tokens.policies.jwt_generate import DEFAULT_VALIDITY_SECONDS
from tokens.policies.registry import policy_kind
from tokens.policies.walker import PolicyVisit, assembly_walk
from tokens.properties import (
    api_property_set,
    api_scope_from,
    catalog_property_values,
    document_property_value_replace,
)
from tokens.runtime import CatalogCryptoResolver
from tokens.scope import ApiScope, references

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


def _key_naming_policies(
    document: dict[str, Any], scope: ApiScope | None = None
) -> Iterator[tuple[PolicyVisit, PolicyKind]]:
    """The policies of the document's assembly, at any depth, whose kind names crypto objects, with their kind;
    with ``scope``, with its constant properties substituted (read them only: unchanged parts are the
    document's own)."""
    configuration = document.get("x-ibm-configuration")
    assembly = configuration.get("assembly") if isinstance(configuration, dict) else None
    if not isinstance(assembly, dict):
        return
    if scope is not None and scope.properties:
        assembly = scope.substituted(assembly)
    for visit in assembly_walk(assembly):
        kind = policy_kind(visit.kind)
        if kind is not None and kind.crypto_properties:
            yield visit, kind


@dataclass(frozen=True)
class KeyMove:
    """What moving one API to a new version's crypto objects changes (``document_key_move``)."""

    document: dict[str, Any] | None  # the document naming the new objects where it holds the names; None: unchanged
    operator_values: dict[str, str]  # the operator's property values in the catalog to change: name -> new object
    unmovable: tuple[str, ...]  # the crypto properties naming an old object in a way no rename reaches


def document_key_move(
    document: dict[str, Any],
    renames: dict[str, str],
    *,
    scope: ApiScope | None = None,
    operator_names: Collection[str] = (),
) -> KeyMove | None:
    """How ``document`` moves from the old crypto objects to the new ones (``renames``: old name -> new) in the
    catalog of ``scope`` (the API's property values there; without it, only names written in the policies are
    read). None when it names none of the old objects.

    A crypto property (one its policy kind declares) naming an old object is renamed. One that reads a property
    whose value there is an old object's whole name (``jws-crypto: $(signing-key)``) has that value renamed
    where it lives: among the operator's values (``operator_names``; changed by the caller), else in the
    document (its catalog value, else its default). Crypto object names are catalog-specific, so such a rename
    cannot change what another catalog uses. A name built from parts of properties cannot be renamed: it is
    named in ``unmovable``.
    """
    moved = copy.deepcopy(document)
    changed = False
    operator_values: dict[str, str] = {}
    unmovable: list[str] = []
    for visit, kind in _key_naming_policies(moved):
        for prop in kind.crypto_properties:
            value = visit.config.get(prop)
            if not isinstance(value, str):
                continue
            if value in renames:
                visit.config[prop] = renames[value]
                changed = True
                continue
            if scope is None or "$(" not in value:
                continue
            named = scope.substituted(value)
            if not isinstance(named, str) or named not in renames:
                continue
            read = _property_read_whole(value)
            if read is None:
                unmovable.append(f"{prop} '{value}' of policy '{visit.title}'")
            elif read in operator_names:
                operator_values[read] = renames[named]
            else:
                document_property_value_replace(moved, catalog=scope.catalog, name=read, value=renames[named])
                changed = True
    if not (changed or operator_values or unmovable):
        return None
    return KeyMove(moved if changed else None, operator_values, tuple(unmovable))


def _property_read_whole(value: str) -> str | None:
    """The property ``value`` is nothing but a reference to (``$(signing-key)``), if it is one."""
    names = references(value)
    if len(names) != 1:
        return None
    (name,) = names
    return name if value == f"$({name})" else None


def document_with_renamed_keys(
    document: dict[str, Any],
    renames: dict[str, str],
    *,
    scope: ApiScope | None = None,
    operator_names: Collection[str] = (),
) -> dict[str, Any] | None:
    """A copy of ``document`` naming the new crypto objects where it holds the names (``document_key_move``);
    None when none changed."""
    move = document_key_move(document, renames, scope=scope, operator_names=operator_names)
    return move.document if move is not None else None


def _token_validity(
    document: dict[str, Any], key_names: Collection[str], *, scope: ApiScope | None = None
) -> int | None:
    """The longest validity of the tokens that depend on one of ``key_names`` (an old version's crypto objects):
    made by a policy that names one of them in any of its crypto properties (with ``scope``'s property values
    substituted), that is, signs with it or encrypts to it, whatever it signs with (a crypto object or a JWK):
    the old key must verify or decrypt those until they expire. None if no policy does."""
    validities = [
        validity
        for visit, kind in _key_naming_policies(document, scope)
        if (validity := kind.token_validity(visit.config)) is not None
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


@dataclass(frozen=True)
class _ServedApi:
    """A publication served in a catalog, read with its property values there."""

    publication: Publication
    document: dict[str, Any]
    operator_values: dict[str, str]
    scope: ApiScope | None

    def move(self, renames: dict[str, str]) -> KeyMove | None:
        return document_key_move(self.document, renames, scope=self.scope, operator_names=self.operator_values)


def _served(catalog: Catalog) -> list[_ServedApi]:
    """The publications served in ``catalog`` (locked), each with its scope there. Two queries."""
    publications = list(
        Publication.objects.select_for_update()
        .filter(catalog=catalog)
        .exclude(state=Publication.State.RETIRED)
        .select_related("api")
    )
    values = catalog_property_values(catalog)
    served = []
    for publication in publications:
        document = publication.document
        operator_values = values.get(publication.api_id, {})
        served.append(_ServedApi(publication, document, operator_values, _scope(catalog, document, operator_values)))
    return served


def _scope(catalog: Catalog, document: dict[str, Any], operator_values: dict[str, str]) -> ApiScope | None:
    """The scope of the API ``document`` describes in ``catalog``; None for a document whose properties are
    malformed (no process could compile it either: only the names written in its policies can be read)."""
    try:
        description = document_describe(document)
        return api_scope_from(
            catalog=catalog, document=document, description=description, operator_values=operator_values
        )
    except DocumentError:
        return None


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
        served = _served(catalog)
        validities = [v for s in served if (v := _token_validity(s.document, renames, scope=s.scope)) is not None]
        moves = [(s, move) for s in served if (move := s.move(renames)) is not None]
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
            apis=sorted(str(s.publication.api) for s, _ in moves),
            renames=renames,
            dry_run=dry_run,
        )
        _check_source(old.profile.keystore, source)
        _check_renamable(moves, old.profile)
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
        _check_moves(moves, new)
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


def _check_renamable(moves: list[tuple[_ServedApi, KeyMove]], old: KeyProfile) -> None:
    """Refuse the rotation when an API names the old version's crypto objects in a way no rename reaches (checked
    in a dry run too): it would stop working when the old version retires."""
    for served, move in moves:
        if move.unmovable:
            raise RotationError(
                f"{served.publication.api} names a crypto object of {old} through API properties in a way a "
                f"rotation cannot rename ({'; '.join(move.unmovable)}): write the whole crypto object name, in "
                "the policy or in one property (jws-crypto: $(signing-key)).",
                code="api_cannot_use_key",
                conflict=True,
            )


def _check_moves(moves: list[tuple[_ServedApi, KeyMove]], new: KeyProfileBinding) -> None:
    """Refuse the rotation unless every API it will move compiles with the new version signing, with its moved
    property values."""
    resolver = CatalogCryptoResolver(new.catalog, also_signing=frozenset({new.pk}), publishing=True)
    for served, move in moves:
        document = served.document if move.document is None else move.document
        try:
            description = document_describe(document)
            scope = api_scope_from(
                catalog=new.catalog,
                document=document,
                description=description,
                operator_values={**served.operator_values, **move.operator_values},
            )
            assembly_compile(description.assembly, resolver, scope=scope)
        except ApiError as e:
            raise RotationError(
                f"{served.publication.api} cannot use the new key {new.profile}: {e}",
                code="api_cannot_use_key",
                conflict=True,
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
    for served in _served(new.catalog):
        move = served.move(renames)
        if move is None:
            continue
        api = served.publication.api
        # The operator's values first (each recompiles the served snapshot), so that the snapshot republished
        # last compiles with every name moved.
        for name, value in move.operator_values.items():
            api_property_set(api=api, catalog=new.catalog, name=name, value=value, actor=actor)
        document = api.document
        draft = document_with_renamed_keys(
            document,
            renames,
            scope=_scope(new.catalog, document, served.operator_values),
            operator_names=served.operator_values,
        )
        if draft is not None:
            services.api_save(organization=api.organization, document=draft, actor=actor)
        if move.document is not None:
            services.api_publish(api=api, catalog=new.catalog, actor=actor, document=move.document, keep_state=True)
        moved.append(str(api))
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
