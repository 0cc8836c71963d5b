"""The assembly interpreter's entry point: an assembly compiled once at publish, run per request (DESIGN.md
section 3).

``assembly_compile`` turns ``x-ibm-configuration.assembly`` into policy objects, each built by its kind's
module (``tokens.policies``): a bad configuration is refused with the policy's title and the property named
(``PolicyConfigError``), policies the portal does not run with their titles and types, all at once
(``PublishError``). ``CompiledAssembly.run`` executes them against a ``Context``; an ``AssemblyError`` goes
to the first ``catch`` naming it, else to the gateway. ``document_compile`` is "describe, then compile"
for a whole document, as publishing, rotation and the system checks do it.

The names other modules have imported from here are kept (the policy classes and the jwt-validate checks
live in their policy modules).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tokens.activity import ActivityLogSettings, activity_write
from tokens.context import Context, http_status
from tokens.documents import ApiDescription, document_describe
from tokens.errors import AssemblyError, PublishError
from tokens.policies.activity_log import KIND as ACTIVITY_LOG_KIND  # its record is written at the call's end
from tokens.policies.base import (
    RUNTIME_ERROR,
    CryptoResolver,
    DecryptionMaterial,
    EncryptionMaterial,
    Policy,
    SigningMaterial,
    VerificationMaterial,
    run_policies,
)
from tokens.policies.jwt_generate import DEFAULT_VALIDITY_SECONDS, MAX_VALIDITY_SECONDS, JwtGenerate
from tokens.policies.jwt_validate import (
    MAX_LEEWAY_SECONDS,
    JwtValidate,
    JwtValidationFailed,
    jwt_claims_check,
    jwt_verification_failure,
)
from tokens.policies.registry import POLICY_KINDS, policy_kind, unsupported_refusal
from tokens.policies.walker import assembly_walk
from tokens.scope import ApiScope
from tokens.trace import trace_record

if TYPE_CHECKING:
    from portal.models import Catalog

__all__ = [
    "DEFAULT_VALIDITY_SECONDS",
    "MAX_LEEWAY_SECONDS",
    "MAX_VALIDITY_SECONDS",
    "RUNTIME_ERROR",
    "CompiledAssembly",
    "CryptoResolver",
    "DecryptionMaterial",
    "EncryptionMaterial",
    "JwtGenerate",
    "JwtValidate",
    "JwtValidationFailed",
    "Policy",
    "SigningMaterial",
    "VerificationMaterial",
    "assembly_compile",
    "document_compile",
    "jwt_claims_check",
    "jwt_verification_failure",
    "run_policies",
]


@dataclass(frozen=True)
class _Catch:
    errors: frozenset[str] | None  # None: the default catch
    policies: tuple[Policy, ...]


class CompiledAssembly:
    """Compiled policies and catches, and the publication's scope (None outside a publication).

    ``run(context)`` runs the assembly: the API's scope first (its variables and properties), then the
    policies; the call's activity record last when the document sets an ``activity-log`` or the assembly has
    an ``activity-log`` policy (``logs_activity``; at APIC's default levels where the document sets none). An
    AssemblyError
    goes to the first catch naming it; ``run`` raises the one no catch handles (or one a catch raises).
    ``run_traced`` does the same for a console test call and keeps its backend calls for the Test page.
    """

    run: Callable[[Context], None]

    def __init__(
        self,
        policies: tuple[Policy, ...],
        catches: tuple[_Catch, ...],
        scope: ApiScope | None = None,
        *,
        logs_activity: bool = False,
    ) -> None:
        self.policies = policies
        self.catches = catches
        self.scope = scope
        self.logs_activity = logs_activity
        self.run = self._runner(scope)

    def in_scope(self, scope: ApiScope | None) -> CompiledAssembly:
        """The same compiled policies run in another publication's scope (one whose ``compile_key`` is this
        one's: the constant properties written into the policies are the same)."""
        return CompiledAssembly(self.policies, self.catches, scope, logs_activity=self.logs_activity)

    def run_traced(self, context: Context) -> None:
        """``run``, then, for a console test call (``tokens.trace``), keep what its invokes did, failed or not."""
        try:
            self.run(context)
        finally:
            trace_record(context)

    def _runner(self, scope: ApiScope | None) -> Callable[[Context], None]:
        """``run`` for this scope, chosen once rather than per call: a call pays only for the hooks its
        publication has (with a scope and no activity-log, one dict update before the policies)."""
        run = self._run
        if scope is None:
            return run
        enter = scope.enter
        activity = scope.activity or (ActivityLogSettings() if self.logs_activity else None)
        if activity is None:

            def run_in_scope(context: Context) -> None:
                enter(context)
                run(context)

            return run_in_scope

        def run_logged(context: Context) -> None:
            enter(context)
            try:
                run(context)
            except AssemblyError as error:
                activity_write(context, activity.level(context, failed=True), error=error.name)
                raise
            failed = http_status(context.get("message.status.code")) not in range(200, 400)
            activity_write(context, activity.level(context, failed=failed))

        return run_logged

    def _run(self, context: Context) -> None:
        try:
            for policy in self.policies:
                policy.run(context)
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


def assembly_compile(
    assembly: dict[str, Any], resolver: CryptoResolver, *, scope: ApiScope | None = None
) -> CompiledAssembly:
    """Compile an assembly; with ``scope`` (tokens.scope), its API properties are written into the policies'
    string properties and its variables start every call. Raises PublishError naming every policy the portal
    does not run, else PolicyConfigError or PublishError naming the first policy or place at fault."""
    configs_by_kind: dict[str, list[dict[str, Any]]] = {}
    unsupported = []
    for visit in assembly_walk(assembly):
        configs_by_kind.setdefault(visit.kind, []).append(visit.config)
        if policy_kind(visit.kind) is None:
            unsupported.append((visit.title, visit.kind, visit.where))
    if unsupported:
        raise unsupported_refusal(unsupported)
    for kind, configs in configs_by_kind.items():  # each kind may bound its policies, asked before compiling
        refusal = POLICY_KINDS[kind].assembly_refusal(configs)
        if refusal is not None:
            raise PublishError(refusal)
    if scope is not None and scope.properties:
        assembly = scope.substituted(assembly)  # once for the whole tree, nested policies included

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
        registered = policy_kind(kind)
        if registered is None:  # in a place the walk passes over (it names the place first)
            raise unsupported_refusal([(title, kind, where)])
        return registered.compile(title, config, resolver, build)

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
    logs_activity = ACTIVITY_LOG_KIND in configs_by_kind
    return CompiledAssembly(policies, tuple(catches), scope, logs_activity=logs_activity)


def document_compile(
    document: dict[str, Any],
    resolver: CryptoResolver,
    *,
    catalog: Catalog | None = None,
) -> tuple[ApiDescription, CompiledAssembly]:
    """Describe an API document, then compile its assembly against ``resolver``; with ``catalog``, in the
    API's scope there (its properties' values in that catalog, as the gateway compiles it).

    Raises DocumentError for a malformed document or properties, PolicyConfigError or PublishError for its
    assembly.
    """
    description = document_describe(document)
    scope = None
    if catalog is not None:
        from tokens.properties import api_scope  # reads the operator's values: needs the models loaded

        scope = api_scope(catalog=catalog, document=document, description=description)
    return description, assembly_compile(description.assembly, resolver, scope=scope)
