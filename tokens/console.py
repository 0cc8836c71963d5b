"""The console's API editor, test page and home, over the API document (the source of truth).

Edits are plain functions on a document (``policy_add``, ``policy_move``, ...), addressed the way the editor
shows the assembly: a *list address* names a list of policies (``execute``, ``execute/0/case/1``,
``execute/0/otherwise``, ``catch/0``) and a *policy address* is a list address and an index in it
(``execute/0/case/1/0``). ``api_document_edit`` applies one edit to an API under a row lock and saves the
document through ``tokens.services.api_save``; publishing stays ``tokens.services.api_publish``.
The selectors at the end feed the test page and the console home; none returns key material.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.http.request import split_domain_port

from keyprofiles import keymaterial, selectors
from keyprofiles.conf import keyprofiles_settings
from keyprofiles.models import CryptoObject
from keyprofiles.sealing import SealingError
from portal.models import AuditEvent, Catalog, Organization
from portal.services import Actor
from tokens.documents import CLIENT_ID_HEADER, CLIENT_SECRET_HEADER, Operation, document_describe
from tokens.models import Api, ConsumerApp, Publication
from tokens.services import SANDBOX_TEST_APP, api_save

T = TypeVar("T")

# The policies the portal runs and the editor has a form for; others are shown, kept, and refused at publish.
EDITABLE_KINDS = ("jwt-generate", "jwt-validate", "set-variable", "throw", "gatewayscript")
RUN_KINDS = frozenset({"operation-switch", *EDITABLE_KINDS})
POLICY_VERSION = "2.0.0"  # what API Connect v10 writes for these policies
VERBS = ("get", "post", "put", "delete", "patch", "head", "options")
# Properties a new policy starts with: valid where a default is obvious, so the first publish names only
# what the operator still has to choose.
_NEW_POLICY_PROPERTIES: dict[str, dict[str, Any]] = {
    "jwt-generate": {"jwt": "", "exp-claim": 3600, "jti-claim": False, "jws-alg": "RS256"},
    "jwt-validate": {"jwt": "request.headers.authorization", "output-claims": "decoded.claims"},
    "set-variable": {"actions": []},
    "throw": {"name": "RuntimeError", "message": ""},
    "gatewayscript": {"source": ""},
}


class EditorError(Exception):
    """An edit names a place the document does not have, or the document changed since the page was read."""


# -- addresses --------------------------------------------------------------------------------------------


def _assembly(document: dict[str, Any]) -> dict[str, Any]:
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
    if not isinstance(entry, dict) or len(entry) != 1:
        raise EditorError(f"The entry at '{at}' is not one policy.")
    kind, config = next(iter(entry.items()))
    if not isinstance(config, dict):
        config = {}
        entry[kind] = config
    return str(kind), config


def policy_list(document: dict[str, Any], at: str) -> list[Any]:
    """The list of policies at a list address. Raises EditorError when there is none."""
    assembly = _assembly(document)
    steps = at.split("/")
    if steps[0] == "execute":
        current: list[Any] = assembly["execute"]
        rest = steps[1:]
    elif steps[0] == "catch" and len(steps) >= 2:
        catches = assembly.get("catch") or []
        entry = catches[_index(steps[1], len(catches), at)]
        if not isinstance(entry, dict):
            raise EditorError(f"The catch at '{at}' is not a mapping.")
        key = "default" if "default" in entry else "execute"
        current = entry.setdefault(key, [])
        rest = steps[2:]
    else:
        raise EditorError(f"'{at}' is not a place in the assembly.")
    while rest:
        kind, config = _policy_entry(current[_index(rest[0], len(current), at)], at)
        if kind != "operation-switch" or len(rest) < 2:
            raise EditorError(f"'{at}' does not name an operation-switch branch.")
        if rest[1] == "otherwise":
            current = config.setdefault("otherwise", [])
            rest = rest[2:]
        elif rest[1] == "case" and len(rest) >= 3:
            cases = config.get("case") or []
            case = cases[_index(rest[2], len(cases), at)]
            if not isinstance(case, dict):
                raise EditorError(f"The case at '{at}' is not a mapping.")
            current = case.setdefault("execute", [])
            rest = rest[3:]
        else:
            raise EditorError(f"'{at}' is not a place in the assembly.")
    if not isinstance(current, list):
        raise EditorError(f"'{at}' is not a list of policies.")
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


def _titles(policies: list[Any], found: set[str]) -> None:
    for entry in policies:
        if not isinstance(entry, dict) or len(entry) != 1:
            continue
        kind, config = next(iter(entry.items()))
        if not isinstance(config, dict):
            continue
        found.add(str(config.get("title") or kind))
        if kind == "operation-switch":
            for case in config.get("case") or []:
                if isinstance(case, dict) and isinstance(case.get("execute"), list):
                    _titles(case["execute"], found)
            if isinstance(config.get("otherwise"), list):
                _titles(config["otherwise"], found)


def assembly_titles(document: dict[str, Any]) -> set[str]:
    """Every policy title in the assembly, catches included."""
    assembly = _assembly(document)
    found: set[str] = set()
    _titles(assembly["execute"], found)
    for entry in assembly.get("catch") or []:
        if isinstance(entry, dict):
            for key in ("execute", "default"):
                if isinstance(entry.get(key), list):
                    _titles(entry[key], found)
    return found


def policy_add(document: dict[str, Any], *, at: str, kind: str) -> str:
    """Append a new policy of ``kind`` to the list at ``at``; returns its policy address.

    The title is the type, numbered when taken (publish errors name policies by title, so titles stay unique).
    """
    if kind not in EDITABLE_KINDS:
        raise EditorError(f"The editor adds {', '.join(EDITABLE_KINDS)} policies, not '{kind}'.")
    policies = policy_list(document, at)
    taken = assembly_titles(document)
    title, number = kind, 2
    while title in taken:
        title, number = f"{kind}-{number}", number + 1
    properties = copy.deepcopy(_NEW_POLICY_PROPERTIES[kind])
    policies.append({kind: {"version": POLICY_VERSION, "title": title, **properties}})
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
    catches = _assembly(document).setdefault("catch", [])
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
        for entry in _assembly(document).get("catch") or []
        if isinstance(entry, dict) and isinstance(entry.get("errors"), list)
        for error in entry["errors"]
        if isinstance(error, str)
    ]


def catch_remove(document: dict[str, Any], *, index: int) -> None:
    catches = _assembly(document).get("catch") or []
    del catches[_index(str(index), len(catches), f"catch/{index}")]


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
                    "operation-switch": {
                        "version": POLICY_VERSION,
                        "title": "operation-switch",
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
    """A short digest of the stored document: pages send it back so an edit never lands on a changed one."""
    return hashlib.sha256(api.document_text.encode()).hexdigest()[:16]


def api_create(*, organization: Organization, spec: NewApi, actor: Actor) -> Api:
    """Create an API from the console's form. Raises ValidationError when that name and version exist,
    DocumentError when the document would be malformed."""
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

    @property
    def dom_id(self) -> str:
        return "policy-" + self.at.replace("/", "-")


@dataclass(frozen=True)
class PolicyBranch:
    at: str  # list address
    label: str
    policies: tuple[PolicyItem, ...]

    @property
    def dom_id(self) -> str:
        return "branch-" + self.at.replace("/", "-")


@dataclass(frozen=True)
class CatchItem:
    index: int
    label: str
    branch: PolicyBranch


@dataclass(frozen=True)
class AssemblyOutline:
    execute: PolicyBranch
    catches: tuple[CatchItem, ...]


def _summary(kind: str, config: dict[str, Any]) -> str:
    if kind == "jwt-generate":
        key = config.get("jws-crypto") or (f"JWK in {config['jws-jwk']}" if config.get("jws-jwk") else "no key yet")
        target = config.get("jwt") or "Authorization header"
        return f"{config.get('jws-alg', '?')} with {key}; token to {target}"
    if kind == "jwt-validate":
        key = config.get("jws-crypto") or (f"JWK in {config['jws-jwk']}" if config.get("jws-jwk") else "no key yet")
        return f"token from {config.get('jwt') or 'request.headers.authorization'}, verified with {key}"
    if kind == "set-variable":
        actions = config.get("actions") or []
        parts = []
        for action in actions if isinstance(actions, list) else []:
            if isinstance(action, dict):
                verb = next((v for v in ("set", "add", "clear") if v in action), "?")
                value = "" if verb == "clear" else f" = {action.get('value')!s}"
                parts.append(f"{verb} {action.get(verb)}{value}")
        return "; ".join(parts) or "no actions yet"
    if kind == "throw":
        return f"throws {config.get('name') or '?'}"
    if kind == "operation-switch":
        return f"{len(config.get('case') or [])} case(s)"
    if kind == "gatewayscript":
        source = config.get("source")
        lines = len(source.splitlines()) if isinstance(source, str) else 0
        return f"JavaScript, {lines} line(s)" if lines else "no source yet"
    return "not run by the portal: kept in the document, and publishing refuses it"


def _operation_label(operation: Any) -> str:
    if isinstance(operation, dict):
        return f"{str(operation.get('verb', '?')).upper()} {operation.get('path', '?')}"
    return str(operation)


def _branch(policies: list[Any], at: str, label: str) -> PolicyBranch:
    items: list[PolicyItem] = []
    for index, entry in enumerate(policies):
        item_at = f"{at}/{index}"
        if not isinstance(entry, dict) or len(entry) != 1:
            items.append(PolicyItem(item_at, "?", "(not a policy)", False, False, repr(entry)[:80], index == 0, False))
            continue
        kind, config = next(iter(entry.items()))
        config = config if isinstance(config, dict) else {}
        branches: list[PolicyBranch] = []
        if kind == "operation-switch":
            for number, case in enumerate(config.get("case") or []):
                if isinstance(case, dict):
                    operations = case.get("operations") or []
                    label_text = "Case " + ", ".join(_operation_label(op) for op in operations)
                    execute = case.get("execute")
                    execute = execute if isinstance(execute, list) else []
                    branches.append(_branch(execute, f"{item_at}/case/{number}", label_text))
            otherwise = config.get("otherwise")
            otherwise = otherwise if isinstance(otherwise, list) else []
            branches.append(_branch(otherwise, f"{item_at}/otherwise", "Otherwise"))
        items.append(
            PolicyItem(
                at=item_at,
                kind=str(kind),
                title=str(config.get("title") or kind),
                runs=kind in RUN_KINDS,
                editable=kind in RUN_KINDS,
                summary=_summary(str(kind), config),
                first=index == 0,
                last=False,
                branches=tuple(branches),
            )
        )
    if items:
        items[-1] = replace(items[-1], last=True)
    return PolicyBranch(at=at, label=label, policies=tuple(items))


def assembly_outline(document: dict[str, Any]) -> AssemblyOutline:
    """The assembly as the editor shows it: policies in order, switch cases, catches."""
    assembly = _assembly(document)
    catches: list[CatchItem] = []
    for index, entry in enumerate(assembly.get("catch") or []):
        if not isinstance(entry, dict):
            continue
        if "default" in entry:
            label, policies = "Default (any other error)", entry.get("default")
        else:
            label, policies = "Catch " + ", ".join(str(e) for e in entry.get("errors") or []), entry.get("execute")
        listed: list[Any] = policies if isinstance(policies, list) else []
        catches.append(CatchItem(index, label, _branch(listed, f"catch/{index}", label)))
    return AssemblyOutline(execute=_branch(assembly["execute"], "execute", "Execute"), catches=tuple(catches))


# -- the test page ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OperationForTest:
    """One operation as the test page offers it: headers to prefill, and where a token goes."""

    verb: str
    path: str
    headers: tuple[tuple[str, str], ...]
    token_header: str = ""  # the request header a jwt-validate on this operation reads the token from
    makes_token: bool = False

    @property
    def label(self) -> str:
        return f"{self.verb} {self.path}"


_HEADER_VARIABLE = re.compile(r"^request\.headers\.([A-Za-z0-9!#$%&'*+.^_`|~-]+)$")
_LITERAL_PATTERN = re.compile(r"^[A-Za-z0-9 _:/@-]+$")
_CLAIMS = (("iss-claim", "iss"), ("sub-claim", "sub"), ("aud-claim", "aud"))


def _case_matches(case: dict[str, Any], operation: Operation) -> bool:
    for op in case.get("operations") or []:
        if isinstance(op, str) and op == operation.operation_id:
            return True
        if isinstance(op, dict) and (str(op.get("verb", "")).upper(), op.get("path")) == (
            operation.verb,
            operation.path,
        ):
            return True
    return False


def _walk(policies: Any, operation: Operation, out: list[tuple[str, dict[str, Any]]]) -> None:
    """The policies that would run for ``operation``, operation-switches resolved as the gateway does."""
    for entry in policies if isinstance(policies, list) else []:
        if not isinstance(entry, dict) or len(entry) != 1:
            continue
        kind, config = next(iter(entry.items()))
        if not isinstance(config, dict):
            continue
        if kind != "operation-switch":
            out.append((str(kind), config))
            continue
        case = next((c for c in config.get("case") or [] if isinstance(c, dict) and _case_matches(c, operation)), None)
        _walk(case.get("execute") if case is not None else config.get("otherwise"), operation, out)


def _header_name(variable: Any) -> str | None:
    match = _HEADER_VARIABLE.match(variable) if isinstance(variable, str) else None
    if match is None:
        return None
    name = match.group(1)
    return "Authorization" if name.lower() == "authorization" else name


def operations_for_test(document: dict[str, Any]) -> list[OperationForTest]:
    """The operations of a published document with the headers its jwt policies read, prefilled.

    A jwt-generate claim read from ``request.headers.X`` gets header X, valued with the literal pattern a
    jwt-validate in the same API expects for that claim (``apic``, ``id1`` in the demo), else empty.
    """
    description = document_describe(document)
    everything: list[tuple[str, dict[str, Any]]] = []
    per_operation: list[tuple[tuple[str, str], list[tuple[str, dict[str, Any]]]]] = []
    for operation in description.operations:
        found: list[tuple[str, dict[str, Any]]] = []
        _walk(description.assembly.get("execute"), operation, found)
        per_operation.append(((operation.verb, operation.path), found))
        everything.extend(found)
    expected: dict[str, str] = {}
    for kind, config in everything:
        if kind == "jwt-validate":
            for prop, claim in _CLAIMS:
                pattern = config.get(prop)
                if isinstance(pattern, str) and _LITERAL_PATTERN.match(pattern):
                    expected.setdefault(claim, pattern)
    result: list[OperationForTest] = []
    for (verb, path), policies in per_operation:
        headers: dict[str, str] = {}
        token_header = ""
        makes_token = False
        for kind, config in policies:
            if kind == "jwt-generate":
                makes_token = True
                for prop, claim in _CLAIMS:
                    name = _header_name(config.get(prop))
                    if name:
                        headers.setdefault(name, expected.get(claim, ""))
            elif kind == "jwt-validate":
                name = _header_name(config.get("jwt") or "request.headers.authorization")
                if name:
                    token_header = token_header or name
                    headers.setdefault(name, "")
        result.append(OperationForTest(verb, path, tuple(headers.items()), token_header, makes_token))
    return result


def client_id_for_test(publication: Publication) -> str:
    """The client id the test page fills in: the catalog's Sandbox Test App, else the first subscriber."""
    app = (
        ConsumerApp.objects.filter(catalog=publication.catalog, name=SANDBOX_TEST_APP).first()
        or publication.subscribers.order_by("created_at").first()
    )
    return app.client_id if app is not None else ""


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


def crypto_object_kids(*, catalog: Catalog) -> dict[str, list[dict[str, str]]]:
    """kid -> the crypto objects of a catalog with that key id (RFC 7638 thumbprint, as tokens carry it).

    Certificates give their public key's thumbprint; a shared secret its own thumbprint (unsealed through the
    per-process key cache; only the thumbprint leaves it). Objects whose key cannot be read are left out.
    """
    kids: dict[str, list[dict[str, str]]] = {}
    for crypto_object in selectors.crypto_object_list(organization=catalog.organization.slug, catalog=catalog.slug):
        certificate = crypto_object.certificate
        try:
            if certificate is not None:
                kid = keymaterial.jwk_thumbprint(
                    keymaterial.public_jwk(keymaterial.public_key_from_certificate_pem(certificate.certificate_pem))
                )
            else:
                kid = selectors.crypto_material(crypto_object).kid
        except (SealingError, keymaterial.KeyMaterialError, ValueError):
            continue
        kids.setdefault(kid, []).append({"name": crypto_object.name, "role": crypto_object.get_role_display()})
    return kids


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


RECENT_EVENTS = 10


class PermissionHolder(Protocol):
    def has_perm(self, perm: str, obj: Any = None) -> bool: ...


def console_home(*, user: PermissionHolder) -> ConsoleHome:
    """Certificates expiring within KEYPROFILES EXPIRY_NOTICE_DAYS (90; within EXPIRY_WARNING_DAYS, 30, they
    are urgent), crypto objects and publications per catalog, and the latest audit events, each only if the
    user may view that kind of object."""
    home = ConsoleHome(
        warning_days=keyprofiles_settings.EXPIRY_WARNING_DAYS, notice_days=keyprofiles_settings.EXPIRY_NOTICE_DAYS
    )
    if user.has_perm("keyprofiles.view_keystore") or user.has_perm("keyprofiles.view_truststore"):
        home.expiring = []
        for found in selectors.certificates_expiring(within_days=home.notice_days):
            days = found.certificate.days_to_expiry()
            urgent = days is None or days <= home.warning_days
            home.expiring.append(
                ExpiringItem(
                    kind=found.kind,
                    store=found.store,
                    organization=found.organization,
                    subject=found.certificate.subject,
                    not_after=found.certificate.not_after,
                    days=days,
                    catalogs=found.catalogs,
                    urgent=urgent,
                )
            )
        home.urgent_count = sum(1 for item in home.expiring if item.urgent)
        home.notice_count = len(home.expiring) - home.urgent_count
    if user.has_perm("keyprofiles.view_cryptoobject"):
        grouped: dict[int, tuple[Catalog, list[CryptoObject]]] = {}
        for crypto_object in selectors.crypto_object_list():
            catalog = crypto_object.binding.catalog
            grouped.setdefault(catalog.pk, (catalog, []))[1].append(crypto_object)
        home.crypto_objects = sorted(grouped.values(), key=lambda pair: str(pair[0]))
    if user.has_perm("tokens.view_publication"):
        by_catalog: dict[int, tuple[Catalog, list[Publication]]] = {}
        for publication in Publication.objects.select_related("api", "catalog__organization").order_by(
            "catalog__organization__slug", "catalog__slug", "base_path"
        ):
            by_catalog.setdefault(publication.catalog_id, (publication.catalog, []))[1].append(publication)
        home.publications = list(by_catalog.values())
    if user.has_perm("portal.view_auditevent"):
        home.audit_events = list(AuditEvent.objects.select_related("organization")[:RECENT_EVENTS])
    return home
