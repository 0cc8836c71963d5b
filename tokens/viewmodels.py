"""What console pages show, shaped for their templates: the assembly editor's outline, the API's properties
and activity logging, the test page's operations, where a publication is served, and the console home.
Built from documents and selector results; no database query here (``tokens.selectors`` reads the database).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.http.request import split_domain_port

from keyprofiles.models import CryptoObject
from portal.models import AuditEvent, Catalog
from tokens.activity import ActivityLogSettings
from tokens.documents import document_describe
from tokens.editor import (
    CASE_KINDS,
    ApiProperty,
    EditorError,
    api_activity_log,
    api_properties,
    case_removal,
    editable_assembly,
    is_switch_otherwise,
    operations_without_case,
)
from tokens.models import Publication
from tokens.policies import switch
from tokens.policies.base import PolicyKind
from tokens.policies.registry import NOT_RUN, policy_kind
from tokens.policies.walker import PolicyVisit, assembly_branches, assembly_walk, one_policy, policy_branches

# -- outline (what the editor shows) ----------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyItem:
    at: str
    kind: str
    title: str
    runs: bool  # the portal runs this type; others are kept and refused at publish
    editable: bool
    summary: str
    first: bool
    last: bool
    branches: tuple[PolicyBranch, ...] = ()
    cases: CaseControls | None = None  # a switch or operation-switch: what the editor offers for its cases

    @property
    def dom_id(self) -> str:
        return "policy-" + self.at.replace("/", "-")


@dataclass(frozen=True)
class CaseControls:
    """The case actions of a switch (a new case takes a condition; otherwise may be added) or of an
    operation-switch (a new case takes one of the operations no case names)."""

    by_condition: bool
    can_add_otherwise: bool = False
    free_operations: tuple[str, ...] = ()  # "GET /path"


@dataclass(frozen=True)
class PolicyBranch:
    at: str  # list address
    label: str
    policies: tuple[PolicyItem, ...]
    removable: bool = False  # a case (or a switch's otherwise) the editor may remove with its policies

    @property
    def dom_id(self) -> str:
        return branch_dom_id(self.at)


def branch_dom_id(at: str) -> str:
    """The element id of the branch at the list address ``at`` on the API page (an editor action's anchor)."""
    return "branch-" + at.replace("/", "-")


@dataclass(frozen=True)
class CatchItem:
    index: int
    label: str
    branch: PolicyBranch


@dataclass(frozen=True)
class AssemblyOutline:
    execute: PolicyBranch
    catches: tuple[CatchItem, ...]
    has_default_catch: bool = False


def _case_controls(document: dict[str, Any], kind: str, config: dict[str, Any]) -> CaseControls | None:
    if kind not in CASE_KINDS:
        return None
    if kind == switch.KIND:
        cases = config.get("case")
        has_otherwise = "otherwise" in config or (isinstance(cases, list) and any(map(is_switch_otherwise, cases)))
        return CaseControls(by_condition=True, can_add_otherwise=not has_otherwise)
    free = tuple(f"{operation.verb} {operation.path}" for operation in operations_without_case(document, config))
    return CaseControls(by_condition=False, free_operations=free)


def _removable(document: dict[str, Any], at: str) -> bool:
    """Whether the editor offers to remove the branch at ``at``: a case of a switch or operation-switch, or a
    switch's otherwise, unless ``tokens.editor.case_remove`` would refuse it (the last case, an
    operation-switch's otherwise)."""
    try:
        case_removal(document, at=at)
    except EditorError:
        return False
    return True


def _branch(
    document: dict[str, Any], policies: list[Any], at: str, label: str, *, removable: bool = False
) -> PolicyBranch:
    items: list[PolicyItem] = []
    for index, entry in enumerate(policies):
        item_at = f"{at}/{index}"
        policy = one_policy(entry)
        if policy is None:
            items.append(PolicyItem(item_at, "?", "(not a policy)", False, False, repr(entry)[:80], index == 0, False))
            continue
        kind, config = policy
        registered = policy_kind(kind)
        items.append(
            PolicyItem(
                at=item_at,
                kind=kind,
                title=str(config.get("title") or kind),
                runs=registered is not None,
                editable=registered is not None,
                summary=registered.summary(config) if registered is not None else NOT_RUN,
                first=index == 0,
                last=False,
                branches=tuple(
                    _branch(
                        document,
                        branch.policies(),
                        f"{item_at}/{branch.at}",
                        branch.label,
                        removable=kind in CASE_KINDS and _removable(document, f"{item_at}/{branch.at}"),
                    )
                    for branch in policy_branches(kind, config)
                ),
                cases=_case_controls(document, kind, config),
            )
        )
    if items:
        items[-1] = replace(items[-1], last=True)
    return PolicyBranch(at=at, label=label, policies=tuple(items), removable=removable)


def assembly_outline(document: dict[str, Any]) -> AssemblyOutline:
    """The assembly as the editor shows it: policies in order, the branches each holds, catches.

    Raises EditorError when the document has no assembly to edit.
    """
    execute, *catches = assembly_branches(editable_assembly(document))
    return AssemblyOutline(
        execute=_branch(document, execute.policies(), execute.at, execute.label),
        catches=tuple(
            CatchItem(
                int(catch.at.split("/")[1]), catch.label, _branch(document, catch.policies(), catch.at, catch.label)
            )
            for catch in catches
        ),
        has_default_catch=any(catch.key == "default" for catch in catches),
    )


# -- properties and activity logging (the API page's summary) ---------------------------------------------


@dataclass(frozen=True)
class ApiSettingsSummary:
    """The API's properties and activity logging as its page lists them; ``problem`` names a malformed entry."""

    properties: tuple[ApiProperty, ...]
    activity_log: ActivityLogSettings | None
    problem: str = ""


def api_settings_summary(document: dict[str, Any]) -> ApiSettingsSummary:
    try:
        return ApiSettingsSummary(tuple(api_properties(document)), api_activity_log(document))
    except EditorError as e:
        return ApiSettingsSummary((), None, str(e))


# -- the test page ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OperationForTest:
    """One operation as the test page offers it: headers to prefill, and where a token goes."""

    verb: str
    path: str
    headers: tuple[tuple[str, str], ...]
    token_header: str = ""  # the request header a policy checking a token on this operation reads it from
    makes_token: bool = False

    @property
    def label(self) -> str:
        return f"{self.verb} {self.path}"


_HEADER_VARIABLE = re.compile(r"^request\.headers\.([A-Za-z0-9!#$%&'*+.^_`|~-]+)\Z")
_LITERAL_PATTERN = re.compile(r"^[A-Za-z0-9 _:/@-]+\Z")


def _header_name(variable: Any) -> str | None:
    match = _HEADER_VARIABLE.match(variable) if isinstance(variable, str) else None
    if match is None:
        return None
    name = match.group(1)
    return "Authorization" if name.lower() == "authorization" else name


def operations_for_test(document: dict[str, Any]) -> list[OperationForTest]:
    """The operations of a published document with the headers its token policies read, prefilled.

    A claim of a token made from ``request.headers.X`` gets header X, valued with the literal pattern a
    policy checking tokens in the same API expects for that claim (``apic``, ``id1`` in the demo), else
    empty. The policies of an operation are those the gateway runs for it (``tokens.policies.walker``).
    """
    description = document_describe(document)
    per_operation: list[tuple[tuple[str, str], list[tuple[PolicyVisit, PolicyKind]]]] = []
    for operation in description.operations:
        runs = [
            (visit, kind)
            for visit in assembly_walk(description.assembly, operation=operation, catches=False)
            if (kind := policy_kind(visit.kind)) is not None
        ]
        per_operation.append(((operation.verb, operation.path), runs))
    expected: dict[str, str] = {}
    for _, runs in per_operation:
        for visit, kind in runs:
            for claim, pattern in kind.claim_patterns(visit.config):
                if _LITERAL_PATTERN.match(pattern):
                    expected.setdefault(claim, pattern)
    result: list[OperationForTest] = []
    for (verb, path), runs in per_operation:
        headers: dict[str, str] = {}
        token_header = ""
        makes_token = False
        for visit, kind in runs:
            if kind.makes_token:
                makes_token = True
                for claim, variable in kind.claim_variables(visit.config):
                    name = _header_name(variable)
                    if name:
                        headers.setdefault(name, expected.get(claim, ""))
            elif (name := _header_name(kind.token_variable(visit.config))) is not None:
                token_header = token_header or name
                headers.setdefault(name, "")
        result.append(OperationForTest(verb, path, tuple(headers.items()), token_header, makes_token))
    return result


def gateway_path(publication: Publication) -> str:
    """``/{org}/{catalog}{base path}``: where the gateway serves a publication (same origin as the console)."""
    return f"/{publication.catalog.organization.slug}/{publication.catalog.slug}{publication.base_path}"


def gateway_url(request: HttpRequest, publication: Publication) -> str:
    """The absolute URL of a publication on the gateway: on the first of ``PORTAL_GATEWAY_HOSTS`` when set
    (same scheme and port as the console's request), else on the console's own origin."""
    path = gateway_path(publication)
    hosts = settings.PORTAL_GATEWAY_HOSTS
    if not hosts:
        return request.build_absolute_uri(path)
    port = split_domain_port(request.get_host())[1]
    return f"{request.scheme}://{hosts[0]}{':' + port if port else ''}{path}"


# -- the console home -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpiringItem:
    kind: str
    store: str
    organization: str
    subject: str
    not_after: Any
    days: int | None
    catalogs: list[str]
    urgent: bool  # within 30 days, or expired


@dataclass
class ConsoleHome:
    """What the console home shows; a section is None when the user may not view it."""

    expiring: list[ExpiringItem] | None = None
    crypto_objects: list[tuple[Catalog, list[CryptoObject]]] | None = None
    publications: list[tuple[Catalog, list[Publication]]] | None = None
    audit_events: list[AuditEvent] | None = None
    urgent_count: int = 0
    notice_count: int = 0
    warning_days: int = 30
    notice_days: int = 90
