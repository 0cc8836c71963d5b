"""The console's assembly editor: edits of an API document, addressed as the editor shows the assembly.

The document is the source of truth. Edits are plain functions on it (``policy_add``, ``policy_move``, ...):
a *list address* names a list of policies (``execute``, ``execute/0/case/1``, ``execute/0/otherwise``,
``catch/0``) and a *policy address* is a list address and an index in it (``execute/0/case/1/0``); the lists
a policy holds are the ones its kind declares (``PolicyKind.branches``). Two services apply them:
``api_document_edit`` (one edit to a stored API, under a row lock, saved through ``tokens.services.api_save``)
and ``api_create_from_spec`` (a new API from the create form). Publishing stays ``tokens.services.api_publish``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import transaction

from portal.models import Organization
from portal.services import Actor
from tokens.activity import ActivityLogSettings
from tokens.documents import CLIENT_ID_HEADER, CLIENT_SECRET_HEADER, Operation, document_describe
from tokens.errors import DocumentError
from tokens.models import Api
from tokens.policies import operation_switch, switch
from tokens.policies.base import POLICY_VERSION, Branch
from tokens.policies.registry import addable_kinds, policy_kind
from tokens.policies.walker import assembly_branches, assembly_walk, one_policy, policy_branches
from tokens.services import api_etag, api_save

T = TypeVar("T")

VERBS = ("get", "post", "put", "delete", "patch", "head", "options")


class EditorError(Exception):
    """An edit names a place the document does not have, or the document changed since the page was read."""


# -- addresses --------------------------------------------------------------------------------------------


def editable_assembly(document: dict[str, Any]) -> dict[str, Any]:
    """The document's assembly. Raises EditorError unless it is a mapping with an execute list."""
    configuration = document.get("x-ibm-configuration")
    assembly = configuration.get("assembly") if isinstance(configuration, dict) else None
    if not isinstance(assembly, dict) or not isinstance(assembly.get("execute"), list):
        raise EditorError("The document's x-ibm-configuration.assembly is not a mapping with an execute list.")
    return assembly


# A list index in a policy address: plain ASCII digits, and few of them (str.isdigit admits '²', and int() of
# thousands of digits raises).
_INDEX = re.compile(r"[0-9]{1,9}")


def _index(step: str, length: int, at: str) -> int:
    if not _INDEX.fullmatch(step) or int(step) >= length:
        raise EditorError(f"The assembly has no place '{at}' (reload the page: it may have changed).")
    return int(step)


def _policy_entry(entry: Any, at: str) -> tuple[str, dict[str, Any]]:
    if one_policy(entry) is None:
        raise EditorError(f"The entry at '{at}' is not one policy.")
    kind, config = next(iter(entry.items()))
    if not isinstance(config, dict):
        config = {}
        entry[kind] = config
    return str(kind), config


def _branch_at(branches: tuple[Branch, ...], steps: list[str]) -> tuple[Branch, list[str]] | None:
    """The branch whose address begins ``steps``, and the steps after it."""
    for branch in branches:
        length = branch.at.count("/") + 1
        if steps[:length] == branch.at.split("/"):
            return branch, steps[length:]
    return None


def _branch_list(branch: Branch, at: str) -> list[Any]:
    policies = branch.holder.setdefault(branch.key, [])
    if not isinstance(policies, list):
        raise EditorError(f"'{at}' is not a list of policies.")
    return policies


def policy_list(document: dict[str, Any], at: str) -> list[Any]:
    """The list of policies at a list address (created empty when the document lacks it, as for a switch
    without ``otherwise``). Raises EditorError when there is none."""
    steps = at.split("/")
    found = _branch_at(assembly_branches(editable_assembly(document)), steps)
    if found is None:
        raise EditorError(f"'{at}' is not a place in the assembly.")
    branch, rest = found
    current = _branch_list(branch, at)
    while rest:
        kind, config = _policy_entry(current[_index(rest[0], len(current), at)], at)
        found = _branch_at(policy_branches(kind, config), rest[1:])
        if found is None:
            raise EditorError(f"'{at}' does not name a branch of a policy that holds policies.")
        branch, rest = found
        current = _branch_list(branch, at)
    return current


def split_policy_address(at: str) -> tuple[str, int]:
    """(list address, index) of a policy address. Raises EditorError for a malformed one."""
    list_at, _, index = at.rpartition("/")
    if not list_at or not _INDEX.fullmatch(index):
        raise EditorError(f"'{at}' does not name a policy.")
    return list_at, int(index)


def policy_get(document: dict[str, Any], at: str) -> tuple[str, dict[str, Any]]:
    """(type, properties) of the policy at a policy address; the properties are the document's own dict."""
    list_at, index = split_policy_address(at)
    policies = policy_list(document, list_at)
    return _policy_entry(policies[_index(str(index), len(policies), at)], at)


# -- edits ------------------------------------------------------------------------------------------------


def assembly_titles(document: dict[str, Any]) -> set[str]:
    """Every policy title in the assembly, at any depth, catches included."""
    return {visit.title for visit in assembly_walk(editable_assembly(document))}


def policy_add(document: dict[str, Any], *, at: str, kind: str) -> str:
    """Append a new policy of ``kind`` to the list at ``at``, with the properties its kind starts new ones
    with; returns its policy address.

    The title is the type, numbered when taken (publish errors name policies by title, so titles stay unique).
    """
    addable = addable_kinds()
    registered = policy_kind(kind)
    if registered is None or kind not in addable:
        raise EditorError(f"The editor adds {', '.join(addable)} policies, not '{kind}'.")
    policies = policy_list(document, at)
    taken = assembly_titles(document)
    title, number = kind, 2
    while title in taken:
        title, number = f"{kind}-{number}", number + 1
    policies.append({kind: {"version": POLICY_VERSION, "title": title, **registered.new_properties()}})
    return f"{at}/{len(policies) - 1}"


def policy_remove(document: dict[str, Any], *, at: str) -> str:
    """Remove the policy at ``at`` (with any branches it holds); returns its title."""
    kind, config = policy_get(document, at)
    list_at, index = split_policy_address(at)
    del policy_list(document, list_at)[index]
    return str(config.get("title") or kind)


def policy_move(document: dict[str, Any], *, at: str, offset: int) -> str:
    """Move the policy at ``at`` by ``offset`` places within its list (clamped); returns its new address."""
    policy_get(document, at)
    list_at, index = split_policy_address(at)
    policies = policy_list(document, list_at)
    target = min(max(index + offset, 0), len(policies) - 1)
    policies.insert(target, policies.pop(index))
    return f"{list_at}/{target}"


def policy_update(document: dict[str, Any], *, at: str, properties: dict[str, Any]) -> None:
    """Set the policy's properties from ``properties`` (APIC names); None or "" removes one.

    Properties the form does not know (``version``, ``custom-kid-value-jws``, ``leeway``...) are kept as they are.
    """
    _, config = policy_get(document, at)
    for name, value in properties.items():
        if value is None or value == "":
            config.pop(name, None)
        else:
            config[name] = value


def catch_add(document: dict[str, Any], *, error: str) -> str:
    """Add a catch for ``error`` (e.g. RuntimeError) before any default catch; returns its list address.

    Raises EditorError when a catch already names that error (the first catch that names it wins).
    """
    catches = editable_assembly(document).setdefault("catch", [])
    for entry in catches:
        if isinstance(entry, dict) and error in (entry.get("errors") or []):
            raise EditorError(f"A catch for {error} exists already; add policies to it instead.")
    position = next(
        (i for i, entry in enumerate(catches) if isinstance(entry, dict) and "default" in entry), len(catches)
    )
    catches.insert(position, {"errors": [error], "execute": []})
    return f"catch/{position}"


def caught_errors(document: dict[str, Any]) -> list[str]:
    """The error names the assembly's catches name, in order."""
    return [
        error
        for entry in editable_assembly(document).get("catch") or []
        if isinstance(entry, dict) and isinstance(entry.get("errors"), list)
        for error in entry["errors"]
        if isinstance(error, str)
    ]


def catch_remove(document: dict[str, Any], *, index: int) -> None:
    catches = editable_assembly(document).get("catch") or []
    del catches[_index(str(index), len(catches), f"catch/{index}")]


def catch_default_add(document: dict[str, Any]) -> str:
    """Add the default catch (APIC's ``- default: [...]``, run for any error no other catch names) after the
    others; returns its list address. Raises EditorError when the assembly has one already."""
    catches = editable_assembly(document).setdefault("catch", [])
    if not isinstance(catches, list):
        raise EditorError("The assembly's catch is not a list.")
    if any(isinstance(entry, dict) and "default" in entry for entry in catches):
        raise EditorError("The assembly has a default catch already; add policies to it instead.")
    catches.append({"default": []})
    return f"catch/{len(catches) - 1}"


# -- the cases of switch and operation-switch --------------------------------------------------------------

# The kinds whose cases the editor adds and removes. A switch's cases are conditions (its otherwise is a last
# case ``{otherwise: [...]}``, or the v5-compatible gateway's ``otherwise`` property); an operation-switch's are
# operations of the document, and its otherwise is always there.
CASE_KINDS = (switch.KIND, operation_switch.KIND)
_CASE_ADDRESS = re.compile(r"(?P<policy>.+)/(?P<branch>case/[0-9]{1,9}|otherwise)")


def _cases_of(document: dict[str, Any], at: str, *, create: bool = True) -> tuple[str, dict[str, Any], list[Any]]:
    """(kind, properties, case list) of the switch or operation-switch at the policy address ``at``; the list
    is the document's own, created empty when absent if ``create``."""
    kind, config = policy_get(document, at)
    if kind not in CASE_KINDS:
        raise EditorError(f"'{at}' is a {kind} policy; only {' and '.join(CASE_KINDS)} policies have cases.")
    cases = config.setdefault("case", []) if create else config.get("case", [])
    if not isinstance(cases, list):
        raise EditorError(f"The case property of '{config.get('title') or kind}' is not a list.")
    return kind, config, cases


def is_switch_otherwise(case: Any) -> bool:
    """Whether a switch case is its ``otherwise`` (as ``SwitchKind.branches`` reads it)."""
    return isinstance(case, dict) and "otherwise" in case and "condition" not in case


def document_operations(document: dict[str, Any]) -> tuple[Operation, ...]:
    """The document's operations; none when its structure is broken (the API page names the problem)."""
    try:
        return document_describe(document).operations
    except DocumentError:
        return ()


def operations_without_case(document: dict[str, Any], config: dict[str, Any]) -> list[Operation]:
    """The document's operations that no case of the operation-switch ``config`` names (they run its
    otherwise)."""
    cases = config.get("case")
    named = [case for case in cases if isinstance(case, dict)] if isinstance(cases, list) else []
    return [
        operation
        for operation in document_operations(document)
        if not any(operation_switch.case_names(case, operation) for case in named)
    ]


def switch_case_add(document: dict[str, Any], *, at: str, condition: str) -> str:
    """Add a case with ``condition`` and no policies to the switch at ``at``, after its other cases and before
    its otherwise; returns the case's list address. The caller checks the condition (``condition_compile``)."""
    kind, _, cases = _cases_of(document, at)
    if kind != switch.KIND:
        raise EditorError(f"An {kind} case names an operation, not a condition.")
    position = len(cases) - 1 if cases and is_switch_otherwise(cases[-1]) else len(cases)
    cases.insert(position, {"condition": condition, "execute": []})
    return f"{at}/case/{position}"


def operation_case_add(document: dict[str, Any], *, at: str, verb: str, path: str) -> str:
    """Add a case for the operation ``verb path`` (one of the document's, which no case names yet) to the
    operation-switch at ``at``; returns the case's list address."""
    kind, config, cases = _cases_of(document, at)
    if kind != operation_switch.KIND:
        raise EditorError(f"A {kind} case holds a condition, not an operation.")
    free = {(operation.verb, operation.path) for operation in operations_without_case(document, config)}
    if (verb.upper(), path) not in free:
        raise EditorError(
            f"{verb.upper()} {path} is not an operation of the API without a case; a case per operation is enough."
        )
    cases.append({"operations": [{"verb": verb.lower(), "path": path}], "execute": []})
    return f"{at}/case/{len(cases) - 1}"


def switch_otherwise_add(document: dict[str, Any], *, at: str) -> str:
    """Give the switch at ``at`` an otherwise (as its last case, where the API gateway writes it); returns its
    list address. Raises EditorError when it has one (an operation-switch always has one)."""
    kind, config, cases = _cases_of(document, at)
    if kind != switch.KIND:
        raise EditorError(f"An {kind} always has an otherwise.")
    if "otherwise" in config or any(is_switch_otherwise(case) for case in cases):
        raise EditorError(f"“{config.get('title') or kind}” has an otherwise already.")
    cases.append({"otherwise": []})
    return f"{at}/case/{len(cases) - 1}"


@dataclass(frozen=True)
class CaseRemoval:
    """What removing a case takes with it: the case's label, the switch's title and the count of policies it
    holds at any depth (what the confirmation names)."""

    label: str
    switch_title: str
    policies: int


def _policy_count(policies: list[Any]) -> int:
    count = 0
    for entry in policies:
        policy = one_policy(entry)
        if policy is not None:
            count += 1 + sum(_policy_count(branch.policies()) for branch in policy_branches(*policy))
    return count


def _case_at(document: dict[str, Any], at: str) -> tuple[str, dict[str, Any], Branch, str]:
    """(kind, properties, branch, branch address below the policy) of the case at the list address ``at``."""
    match = _CASE_ADDRESS.fullmatch(at)
    if match is None:
        raise EditorError(f"'{at}' does not name a case of a switch.")
    kind, config, _ = _cases_of(document, match["policy"], create=False)
    branch = next((b for b in policy_branches(kind, config) if b.at == match["branch"]), None)
    if branch is None:
        raise EditorError(f"The assembly has no case '{at}' (reload the page: it may have changed).")
    return kind, config, branch, match["branch"]


def case_removal(document: dict[str, Any], *, at: str) -> CaseRemoval:
    """What ``case_remove`` would take away. Raises EditorError as ``case_remove`` does."""
    kind, config, branch, below = _case_at(document, at)
    cases = config.get("case") or []
    if kind == operation_switch.KIND and below == "otherwise":
        raise EditorError("An operation-switch keeps its otherwise (operations no case names run it).")
    if below != "otherwise" and not is_switch_otherwise(cases[int(below.split("/")[1])]):
        remaining = [case for case in cases if not is_switch_otherwise(case)]
        if len(remaining) == 1:
            raise EditorError(
                f"“{config.get('title') or kind}” needs at least one case; remove the {kind} policy instead."
            )
    return CaseRemoval(branch.label, str(config.get("title") or kind), _policy_count(branch.policies()))


def case_remove(document: dict[str, Any], *, at: str) -> CaseRemoval:
    """Remove the case (or a switch's otherwise) at the list address ``at`` with the policies it holds;
    returns what went. Raises EditorError for a place that is no such case, for an operation-switch's otherwise
    and for the last case with a condition or operation (a switch needs one)."""
    removal = case_removal(document, at=at)
    _, config, _, below = _case_at(document, at)
    if below == "otherwise" and "otherwise" in config:
        del config["otherwise"]
    else:
        del config["case"][int(below.split("/")[1])]
    return removal


# -- API properties and activity logging --------------------------------------------------------------------


@dataclass(frozen=True)
class ApiProperty:
    """One of ``x-ibm-configuration.properties``: its name (``$(name)`` reads it), its default value and what
    it is for. Catalog values override the value (``tokens.properties``)."""

    name: str
    value: str
    description: str = ""


def _configuration(document: dict[str, Any]) -> dict[str, Any]:
    configuration = document.get("x-ibm-configuration")
    if not isinstance(configuration, dict):
        raise EditorError("The document has no x-ibm-configuration mapping.")
    return configuration


def api_properties(document: dict[str, Any]) -> list[ApiProperty]:
    """The document's declared properties in order; a value that is not text is shown as JSON."""
    declared = _configuration(document).get("properties")
    found: list[ApiProperty] = []
    for name, entry in (declared if isinstance(declared, dict) else {}).items():
        entry = entry if isinstance(entry, dict) else {}
        found.append(ApiProperty(str(name), _shown(entry.get("value", "")), str(entry.get("description") or "")))
    return found


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def api_activity_log(document: dict[str, Any]) -> ActivityLogSettings:
    """The document's ``activity-log`` settings (APIC's defaults where absent). Raises EditorError for a
    malformed entry."""
    try:
        return ActivityLogSettings.from_document(document)
    except ValueError as e:
        raise EditorError(f"{e}; fix it in the YAML (import the corrected document).") from e


def api_settings_update(
    document: dict[str, Any], *, properties: list[ApiProperty], activity_log: ActivityLogSettings
) -> None:
    """Set the document's properties, in the given order (other keys of a kept property's entry, such as
    ``encoded``, stay, and a value shown unchanged keeps its type), and its ``activity-log`` (left out while
    it is absent and the defaults are chosen)."""
    configuration = _configuration(document)
    before = configuration.get("properties")
    before = before if isinstance(before, dict) else {}
    declared: dict[str, Any] = {}
    for prop in properties:
        entry = dict(before[prop.name]) if isinstance(before.get(prop.name), dict) else {}
        if "value" not in entry or _shown(entry["value"]) != prop.value:  # an unchanged number stays a number
            entry["value"] = prop.value
        if prop.description:
            entry["description"] = prop.description
        else:
            entry.pop("description", None)
        declared[prop.name] = entry
    if declared:
        configuration["properties"] = declared
    else:
        configuration.pop("properties", None)
    if "activity-log" in configuration or activity_log != ActivityLogSettings():
        configuration["activity-log"] = {
            "enabled": activity_log.enabled,
            "success-content": activity_log.success_content,
            "error-content": activity_log.error_content,
        }


# -- a new API --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewApi:
    """What the create form collects. ``openapi_version`` is "2.0" or "3.0"; operations are (verb, path)."""

    title: str
    name: str
    version: str
    base_path: str
    openapi_version: str
    operations: tuple[tuple[str, str], ...]
    client_secret: bool = False


def document_new(spec: NewApi) -> dict[str, Any]:
    """An OpenAPI document shaped as API Connect v10 writes one (see tokens/demo_api.yaml), with an
    operation-switch holding one empty case per operation."""
    paths: dict[str, dict[str, Any]] = {}
    for verb, path in spec.operations:
        paths.setdefault(path, {})[verb.lower()] = {"responses": {"200": {"description": "success"}}}
    schemes: dict[str, Any] = {"clientID": {"type": "apiKey", "in": "header", "name": CLIENT_ID_HEADER}}
    requirement: dict[str, list[str]] = {"clientID": []}
    if spec.client_secret:
        schemes["clientSecret"] = {"type": "apiKey", "in": "header", "name": CLIENT_SECRET_HEADER}
        requirement["clientSecret"] = []
    document: dict[str, Any]
    info = {"title": spec.title, "x-ibm-name": spec.name, "version": spec.version}
    if spec.openapi_version == "2.0":
        document = {
            "swagger": "2.0",
            "info": info,
            "schemes": ["https"],
            "basePath": spec.base_path,
            "produces": ["application/json"],
            "securityDefinitions": schemes,
            "security": [requirement],
            "paths": paths,
        }
    else:
        document = {
            "openapi": "3.0.0",
            "info": info,
            "servers": [{"url": spec.base_path}],
            "security": [requirement],
            "paths": paths,
            "components": {"securitySchemes": schemes},
        }
    cases = [{"operations": [{"verb": verb.lower(), "path": path}], "execute": []} for verb, path in spec.operations]
    document["x-ibm-configuration"] = {
        "type": "rest",
        "phase": "realized",
        "enforced": True,
        "testable": True,
        "gateway": "datapower-api-gateway",
        "cors": {"enabled": True},
        "assembly": {
            "execute": [
                {
                    operation_switch.KIND: {
                        "version": POLICY_VERSION,
                        "title": operation_switch.KIND,
                        "case": cases,
                        "otherwise": [],
                    }
                }
            ]
        },
    }
    return document


# -- services ---------------------------------------------------------------------------------------------


def document_tag(api: Api) -> str:
    """The stored document's entity tag without its quotes: pages send it back in a form field so an edit
    never lands on a document that changed since the page was read."""
    return api_etag(api).strip('"')


def api_create_from_spec(*, organization: Organization, spec: NewApi, actor: Actor) -> Api:
    """Create an API from the console's create form. Raises ValidationError (on ``name``) when that name and
    version exist, DocumentError when the document would be malformed."""
    if Api.objects.filter(organization=organization, name=spec.name, version=spec.version).exists():
        raise ValidationError(
            {"name": f"An API {spec.name} {spec.version} exists already in {organization.slug}; open it instead."}
        )
    api, _ = api_save(organization=organization, document=document_new(spec), actor=actor)
    return api


@transaction.atomic
def api_document_edit(*, api: Api, edit: Callable[[dict[str, Any]], T], tag: str | None, actor: Actor) -> T:
    """Apply ``edit`` to the API's document and save it through ``api_save``, under a row lock.

    ``tag`` is the ``document_tag`` the page was rendered with (None skips the check). Raises EditorError
    when the document changed since, or the edit names a place it lacks; DocumentError when the edited
    document is malformed. Nothing is saved then. The edit may not change the API's name or version.
    """
    locked = Api.objects.select_for_update().get(pk=api.pk)
    if tag is not None and tag != document_tag(locked):
        raise EditorError("The API changed since this page was loaded; nothing was saved. Reload and try again.")
    document = locked.document
    result = edit(document)
    info = document.get("info") or {}
    if info.get("x-ibm-name") != locked.name or info.get("version") != locked.version:
        raise EditorError("An edit may not change the API's name or version; create a new version instead.")
    api_save(organization=locked.organization, document=document, actor=actor)
    return result
